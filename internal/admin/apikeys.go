package admin

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

// APIKeys is the administration of API keys, shared by the CLI and the
// admin API. A key is returned once at creation; only its hash is stored.
type APIKeys struct {
	Store store.Store
	// Rand is the source of keys; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewKey describes an API key to create: exactly one of Username and
// ClientID owns it; ExpiresIn zero means it never expires.
type NewKey struct {
	Username  string
	ClientID  string
	Name      string
	Scopes    []string
	ExpiresIn time.Duration
}

func (a *APIKeys) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Create makes an API key and returns it with its stored record.
func (a *APIKeys) Create(ctx context.Context, n NewKey) (string, store.APIKey, error) {
	var f fields
	if len(n.Name) > MaxNameLen {
		f.add("name", "at most %d bytes", MaxNameLen)
	}
	checkScopes(&f, "scopes", n.Scopes)
	if n.ExpiresIn < 0 || n.ExpiresIn > MaxLifetime {
		f.add("expires_in", "must be between 0 and %d seconds", int64(MaxLifetime/time.Second))
	}
	if err := f.err(); err != nil {
		return "", store.APIKey{}, err
	}
	now := a.now()
	rec := store.APIKey{Name: n.Name, Username: n.Username, ClientID: n.ClientID, Scopes: n.Scopes, CreatedAt: now}
	if n.ExpiresIn > 0 {
		rec.ExpiresAt = now.Add(n.ExpiresIn)
	}
	return NewAPIKey(ctx, a.Store, a.Rand, rec)
}

// List returns the API keys, ordered by id; with username set, only that
// user's (ErrNotFound when the user does not exist).
func (a *APIKeys) List(ctx context.Context, username string) ([]store.APIKey, error) {
	if username != "" {
		if _, err := a.Store.GetUser(ctx, username); err != nil {
			return nil, fmt.Errorf("user %q: %w", username, err)
		}
	}
	keys, err := a.Store.ListAPIKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing API keys: %w", err)
	}
	if username != "" {
		keys = slices.DeleteFunc(keys, func(k store.APIKey) bool { return k.Username != username })
	}
	slices.SortFunc(keys, func(x, y store.APIKey) int { return cmpStr(x.ID, y.ID) })
	return keys, nil
}

// Page returns at most limit API keys whose ids sort after `after` (byte
// order), only username's when it is set (ErrNotFound when that user does
// not exist), reading no more than that from the store.
func (a *APIKeys) Page(ctx context.Context, username, after string, limit int) ([]store.APIKey, error) {
	if username != "" {
		if _, err := a.Store.GetUser(ctx, username); err != nil {
			return nil, fmt.Errorf("user %q: %w", username, err)
		}
	}
	keys, err := a.Store.ListAPIKeysAfter(ctx, username, after, limit)
	if err != nil {
		return nil, fmt.Errorf("listing API keys: %w", err)
	}
	return keys, nil
}

// Revoke revokes an API key: exchanging it fails from now on.
func (a *APIKeys) Revoke(ctx context.Context, id string) error {
	if err := a.Store.RevokeAPIKey(ctx, id, a.now()); err != nil {
		return fmt.Errorf("api key %q: %w", id, err)
	}
	return nil
}
