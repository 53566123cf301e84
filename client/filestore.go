package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// FileStore is the path of a JSON file holding a session's Tokens,
// written with 0600 permissions in a directory made with 0700:
//
//	store := client.FileStore(path)
//	saved, _ := store.Load()
//	c, err := client.New(ctx, client.Config{..., AccessToken: saved.AccessToken,
//		RefreshToken: saved.RefreshToken, OnTokens: store.Saver()})
type FileStore string

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
// readable and writable by the owner only.
func (f FileStore) Save(t Tokens) error {
	path := string(f)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("client: saving tokens: %w", err)
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return fmt.Errorf("client: saving tokens: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".tokens-*.json") // created 0600
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

// Remove deletes the file; a missing file is not an error.
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
