package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FileStore is the path of a JSON file holding a session's Tokens,
// written with 0600 permissions in a directory kept at 0700 (a directory
// that exists with another mode and belongs to the user is set to 0700;
// give each FileStore a directory of its own, not a shared one). It is a
// Store: with Config.Store set, processes that share the file refresh
// the session once between them, under an advisory lock (flock(2) on
// PATH.lock, on Unix; other systems get no cross-process lock):
//
//	c, err := client.New(ctx, client.Config{..., Store: client.FileStore(path)})
type FileStore string

// tempPrefix is the name prefix of f's temporary files.
func (f FileStore) tempPrefix() string { return "." + filepath.Base(string(f)) + ".tmp-" }

// staleTemp is the age beyond which a temporary file is a crash's leftover.
const staleTemp = time.Minute

// Lock implements Store: it takes an exclusive advisory lock on the file
// PATH.lock (created 0600 beside the tokens), waiting for another
// process that holds it, until ctx is done.
func (f FileStore) Lock(ctx context.Context) (func(), error) {
	dir := filepath.Dir(string(f))
	if err := ensureDir(dir); err != nil {
		return nil, fmt.Errorf("client: locking tokens: %w", err)
	}
	return lockFile(ctx, string(f)+".lock")
}

// ensureDir creates dir with 0700, or sets an existing one that belongs
// to the user (and is not the home directory) to 0700.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm() == 0o700 || !ownedByUser(fi) {
		return nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		if hi, err := os.Stat(home); err == nil && os.SameFile(hi, fi) {
			return nil
		}
	}
	return os.Chmod(dir, 0o700)
}

// removeStaleTemps removes f's temporary files that a crash left behind.
func (f FileStore) removeStaleTemps(now time.Time) {
	dir := filepath.Dir(string(f))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := f.tempPrefix()
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleTemp {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// DefaultCachePath is where the tokengate CLI keeps its session:
// tokengate/tokens.json under os.UserConfigDir.
func DefaultCachePath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("client: locating the config directory: %w", err)
	}
	return filepath.Join(dir, "tokengate", "tokens.json"), nil
}

// Load reads the saved tokens. A missing file is an error that wraps
// fs.ErrNotExist.
func (f FileStore) Load() (Tokens, error) {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return Tokens{}, fmt.Errorf("client: loading tokens: %w", err)
	}
	var t Tokens
	if err := json.Unmarshal(b, &t); err != nil {
		return Tokens{}, fmt.Errorf("client: loading tokens from %s: not a tokens file", string(f))
	}
	return t, nil
}

// Save writes t atomically (a temporary file renamed over the old one),
// readable and writable by the owner only, and removes temporary files
// older than a minute that a crash left behind.
func (f FileStore) Save(t Tokens) error {
	path := string(f)
	dir := filepath.Dir(path)
	if err := ensureDir(dir); err != nil {
		return fmt.Errorf("client: saving tokens: %w", err)
	}
	f.removeStaleTemps(time.Now())
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return fmt.Errorf("client: saving tokens: %w", err)
	}
	tmp, err := os.CreateTemp(dir, f.tempPrefix()+"*") // created 0600
	if err != nil {
		return fmt.Errorf("client: saving tokens: %w", err)
	}
	name := tmp.Name()
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("client: saving tokens: %w", err)
	}
	return nil
}

// Remove deletes the file; a missing file is not an error. The lock file
// stays: removing it could let two processes hold two locks.
func (f FileStore) Remove() error {
	if err := os.Remove(string(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("client: removing tokens: %w", err)
	}
	return nil
}

// Saver returns a Config.OnTokens callback that saves every new pair,
// ignoring errors (the session goes on in memory). Use Save directly to
// handle them.
func (f FileStore) Saver() func(Tokens) {
	return func(t Tokens) { _ = f.Save(t) }
}
