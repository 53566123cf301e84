// Package admin holds the administrative operations on the store that the
// CLI and the config's bootstrap section share: creating users, clients
// and API keys with their secrets hashed.
package admin

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"tokengate/internal/config"
	"tokengate/internal/secret"
	"tokengate/internal/store"
)

// knownGrant reports whether g is a grant type a client may be allowed.
func knownGrant(g string) bool {
	switch g {
	case "password", "refresh_token", "client_credentials",
		"urn:tokengate:params:oauth:grant-type:api-key",
		"urn:ietf:params:oauth:grant-type:token-exchange",
		"urn:ietf:params:oauth:grant-type:jwt-bearer":
		return true
	}
	return false
}

// CheckGrants reports an unknown grant type.
func CheckGrants(grants []string) error {
	for _, g := range grants {
		if !knownGrant(g) {
			return fmt.Errorf("unknown grant type %q", g)
		}
	}
	return nil
}

// NewClientSecret makes a client secret of 256 bits.
func NewClientSecret(r io.Reader) (string, error) { return secret.NewToken(r, "tgs_") }

// NewAPIKey creates an API key for a user or a client, stores its hash and
// returns the key, which is shown once and never again.
func NewAPIKey(ctx context.Context, st store.Store, r io.Reader, k store.APIKey) (string, store.APIKey, error) {
	if (k.Username == "") == (k.ClientID == "") {
		return "", k, errors.New("an API key belongs to exactly one user or client")
	}
	if k.Username != "" {
		if _, err := st.GetUser(ctx, k.Username); err != nil {
			return "", k, fmt.Errorf("user %q: %w", k.Username, err)
		}
	} else if _, err := st.GetClient(ctx, k.ClientID); err != nil {
		return "", k, fmt.Errorf("client %q: %w", k.ClientID, err)
	}
	key, err := secret.NewAPIKey(r)
	if err != nil {
		return "", k, err
	}
	id, err := secret.RandomString(r, 12)
	if err != nil {
		return "", k, err
	}
	k.ID = "key_" + id
	k.Hash = secret.Hash(key)
	k.Prefix = key[:len(secret.APIKeyPrefix)+4]
	k.Last4 = key[len(key)-4:]
	if err := st.CreateAPIKey(ctx, k); err != nil {
		return "", k, err
	}
	return key, k, nil
}

// Bootstrap creates the users, clients and API keys the config declares,
// skipping those that already exist (so a restart never overwrites a
// password changed through the CLI).
func Bootstrap(ctx context.Context, st store.Store, b config.Bootstrap, hash func(ctx context.Context, pw string) (string, error), r io.Reader, now time.Time, log *slog.Logger) error {
	for _, u := range b.Users {
		if store.IsExternalUsername(u.Username) {
			return fmt.Errorf("bootstrap user %q: names starting with %q are reserved for users provisioned for external identities", u.Username, store.ExternalUserPrefix)
		}
		if _, err := st.GetUser(ctx, u.Username); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("bootstrap user %q: %w", u.Username, err)
		}
		ph := u.PasswordHash
		if u.Password != "" {
			var err error
			if ph, err = hash(ctx, u.Password); err != nil {
				return fmt.Errorf("bootstrap user %q: hashing password: %w", u.Username, err)
			}
		}
		err := st.CreateUser(ctx, store.User{Username: u.Username, PasswordHash: ph, Scopes: u.Scopes, Disabled: u.Disabled, CreatedAt: now, UpdatedAt: now})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("bootstrap user %q: %w", u.Username, err)
		}
		log.Info("bootstrap: created user", "user", u.Username)
	}
	for _, c := range b.Clients {
		if err := CheckGrants(c.Grants); err != nil {
			return fmt.Errorf("bootstrap client %q: %w", c.ID, err)
		}
		if _, err := st.GetClient(ctx, c.ID); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("bootstrap client %q: %w", c.ID, err)
		}
		var sh []byte
		switch {
		case c.Secret != "":
			sh = secret.Hash(c.Secret)
		case c.SecretHash != "":
			sh, _ = hex.DecodeString(c.SecretHash) // validated by config
		}
		err := st.CreateClient(ctx, store.Client{
			ID: c.ID, SecretHash: sh, Public: c.Public, Grants: c.Grants, Scopes: c.Scopes,
			AccessTokenTTL: c.AccessTokenTTL.D(), RefreshTokenTTL: c.RefreshTokenTTL.D(),
			RefreshReuseInterval: c.RefreshReuseInterval.D(), CreatedAt: now,
		})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("bootstrap client %q: %w", c.ID, err)
		}
		log.Info("bootstrap: created client", "client_id", c.ID)
	}
	for _, k := range b.APIKeys {
		var h []byte
		if k.Key != "" {
			h = secret.Hash(k.Key)
		} else {
			h, _ = hex.DecodeString(k.KeyHash)
		}
		if _, err := st.GetAPIKeyByHash(ctx, h); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("bootstrap API key %q: %w", k.Name, err)
		}
		id, err := secret.RandomString(r, 12)
		if err != nil {
			return err
		}
		rec := store.APIKey{ID: "key_" + id, Hash: h, Name: k.Name, Username: k.User, ClientID: k.Client, Scopes: k.Scopes, CreatedAt: now}
		if k.Key != "" {
			rec.Prefix = k.Key[:min(4, len(k.Key))]
			rec.Last4 = k.Key[max(0, len(k.Key)-4):]
		}
		if k.ExpireIn > 0 {
			rec.ExpiresAt = now.Add(k.ExpireIn.D())
		}
		if err := st.CreateAPIKey(ctx, rec); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("bootstrap API key %q: %w", k.Name, err)
		}
		log.Info("bootstrap: imported API key", "name", k.Name)
	}
	return nil
}
