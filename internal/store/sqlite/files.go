package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// File modes of the store: the database holds hashes of every secret and,
// without a master key, the private signing keys.
const (
	fileMode = 0o600
	dirMode  = 0o700
)

// prepareFiles creates the database's directory (0700) when it is missing
// and the database file (0600) when it does not exist, so that SQLite,
// which gives the -wal and -shm files the database file's mode, never
// creates a readable file; then it tightens existing files.
func prepareFiles(path string, log *slog.Logger) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, dirMode); err != nil {
			return fmt.Errorf("creating the database directory: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return fmt.Errorf("creating the database file: %w", err)
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("creating the database file: %w", err)
	}
	return tightenModes(path, log)
}

// tightenModes removes group and other permissions from the database file
// and its -wal and -shm files, logging each file it changes.
func tightenModes(path string, log *slog.Logger) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("restricting %s to its owner: %w", p, err)
		}
		log.Warn("store file was readable by other users; restricted it to its owner", "file", p,
			"was", fmt.Sprintf("%#o", fi.Mode().Perm()), "now", fmt.Sprintf("%#o", fi.Mode().Perm()&0o700))
	}
	return nil
}
