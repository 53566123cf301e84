package sqlite

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

// withUmask runs the test under umask 022, the usual default, under which
// files are created 0644 unless the code asks otherwise.
func withUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
}

func perm(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestStoreFilesAreOwnerOnly: the database, its -wal and -shm files are
// created 0600 and a missing directory 0700, so that no other local user
// can copy the hashes or (without a master key) the signing keys.
func TestStoreFilesAreOwnerOnly(t *testing.T) {
	withUmask(t)
	dir := filepath.Join(t.TempDir(), "data", "tg")
	path := filepath.Join(dir, "tokengate.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Unix(1700000000, 0)
	if err := db.CreateUser(t.Context(), store.User{Username: "alice", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if got := perm(t, dir); got != 0o700 {
		t.Errorf("directory mode %#o, want 0700", got)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if got := perm(t, p); got != 0o600 {
			t.Errorf("%s: mode %#o, want 0600", filepath.Base(p), got)
		}
	}
}

// TestExistingReadableStoreFilesAreTightenedWithALogLine: files left
// readable by an older version are restricted at start, and it is logged.
func TestExistingReadableStoreFilesAreTightenedWithALogLine(t *testing.T) {
	withUmask(t)
	path := filepath.Join(t.TempDir(), "tokengate.db")
	for _, p := range []string{path, path + "-wal"} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	db, err := OpenWithOptions(t.Context(), path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if got := perm(t, p); got != 0o600 {
			t.Errorf("%s: mode %#o, want 0600", filepath.Base(p), got)
		}
	}
	if n := strings.Count(logs.String(), "restricted it to its owner"); n != 2 || !strings.Contains(logs.String(), "was=0644") {
		t.Errorf("want one line per tightened file (2), got:\n%s", logs.String())
	}
}
