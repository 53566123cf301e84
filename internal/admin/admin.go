// Package admin holds the administrative operations on the store that the
// CLI and the config's bootstrap section share: creating users, clients
// and API keys with their secrets hashed.
package admin

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
)

// knownGrant reports whether g is a grant type a client may be allowed.
func knownGrant(g string) bool {
	switch g {
	case "authorization_code", "password", "refresh_token", "client_credentials",
		"urn:tokengate:params:oauth:grant-type:api-key",
		"urn:ietf:params:oauth:grant-type:token-exchange",
		"urn:ietf:params:oauth:grant-type:jwt-bearer",
		"urn:ietf:params:oauth:grant-type:device_code":
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

// CheckKeyScopes checks that the owner of k exists and has every scope k
// names (a user without a scope list may have any). A key never grants more
// than its owner has at the time of use either; refusing at creation says
// so at once instead of storing a key that claims more.
func CheckKeyScopes(ctx context.Context, st store.Store, k store.APIKey) error {
	var have []string
	owner := ""
	if k.Username != "" {
		u, err := st.GetUser(ctx, k.Username)
		if err != nil {
			return fmt.Errorf("user %q: %w", k.Username, err)
		}
		if len(u.Scopes) == 0 {
			return nil
		}
		have, owner = u.Scopes, "user "+strconv.Quote(k.Username)
	} else {
		c, err := st.GetClient(ctx, k.ClientID)
		if err != nil {
			return fmt.Errorf("client %q: %w", k.ClientID, err)
		}
		have, owner = c.Scopes, "client "+strconv.Quote(k.ClientID)
	}
	var missing []string
	for _, sc := range k.Scopes {
		if !slices.Contains(have, sc) {
			missing = append(missing, sc)
		}
	}
	if len(missing) > 0 {
		// A field error: the CLI prints it, the admin API answers 422.
		return &InvalidError{Fields: []FieldError{{Field: "scopes", Message: fmt.Sprintf("%s does not have the scopes %q: an API key cannot grant more than its owner has", owner, strings.Join(missing, " "))}}}
	}
	return nil
}

// NewAPIKey creates an API key for a user or a client, stores its hash and
// returns the key, which is shown once and never again.
func NewAPIKey(ctx context.Context, st store.Store, r io.Reader, k store.APIKey) (string, store.APIKey, error) {
	if (k.Username == "") == (k.ClientID == "") {
		return "", k, errors.New("an API key belongs to exactly one user or client")
	}
	if err := CheckKeyScopes(ctx, st, k); err != nil {
		return "", k, err
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

// Seed is the users, clients and API keys that Bootstrap creates when
// absent; the server builds it from the config's bootstrap section, whose
// keys the fields mirror.
type Seed struct {
	Users   []SeedUser
	Clients []SeedClient
	APIKeys []SeedAPIKey
}

// SeedUser is a user to create, with Password (hashed here) or
// PasswordHash (an argon2id PHC string).
type SeedUser struct {
	Username     string
	Password     string
	PasswordHash string
	Scopes       []string
	Disabled     bool
}

// SeedClient is a client to create; a confidential one has Secret (hashed
// here) or SecretHash (hex SHA-256).
type SeedClient struct {
	ID                   string
	Secret               string
	SecretHash           string
	Public               bool
	Grants               []string
	Scopes               []string
	AccessTokenTTL       time.Duration
	RefreshTokenTTL      time.Duration
	RefreshReuseInterval time.Duration
	// Introspect false forbids RFC 7662 introspection; nil allows it.
	Introspect   *bool
	Resources    []string
	RedirectURIs []string
	ThirdParty   bool
	Origins      []string
}

// SeedAPIKey is an API key to import: Key (hashed here) or KeyHash (hex
// SHA-256), owned by User through Client.
type SeedAPIKey struct {
	Name      string
	Key       string
	KeyHash   string
	User      string
	Client    string
	Scopes    []string
	ExpiresIn time.Duration // 0: never
}

// Bootstrap creates the users, clients and API keys the config declares,
// skipping those that already exist (so a restart never overwrites a
// password changed through the CLI) and those an administrator deleted
// (their tombstones are kept), with a line for each skip that is not an
// exact match. Of several nodes starting together, the one whose insert
// wins creates and logs a record; the others say nothing.
func Bootstrap(ctx context.Context, st store.Store, b Seed, hash func(ctx context.Context, pw string) (string, error), r io.Reader, now time.Time, log *slog.Logger) error {
	for _, u := range b.Users {
		if store.IsExternalUsername(u.Username) {
			return fmt.Errorf("bootstrap user %q: names starting with %q are reserved for users provisioned for external identities", u.Username, store.ExternalUserPrefix)
		}
		skip, err := bootstrapSkip(ctx, st, store.KindUser, u.Username, func() (bool, error) {
			have, err := st.GetUser(ctx, u.Username)
			if err == nil && userDiffers(have, u) {
				log.Info("bootstrap: user exists and differs from the config; keeping the stored one", "user", u.Username)
			}
			return err == nil, err
		}, func() {
			log.Info("bootstrap: user was deleted by an administrator; not re-creating it", "user", u.Username)
		})
		if err != nil {
			return fmt.Errorf("bootstrap user %q: %w", u.Username, err)
		}
		if skip {
			continue
		}
		if reason, err := userNameClash(ctx, st, u.Username); err != nil || reason != "" {
			return fmt.Errorf("bootstrap user %q: %w", u.Username, cmp.Or(err, errors.New(reason)))
		}
		ph := u.PasswordHash
		if u.Password != "" {
			var err error
			if ph, err = hash(ctx, u.Password); err != nil {
				return fmt.Errorf("bootstrap user %q: hashing password: %w", u.Username, err)
			}
		}
		err = st.CreateUser(ctx, store.User{Username: u.Username, PasswordHash: ph, Scopes: u.Scopes, Disabled: u.Disabled, CreatedAt: now, UpdatedAt: now})
		if errors.Is(err, store.ErrConflict) {
			continue // another node created it, and logs it
		}
		if err != nil {
			return fmt.Errorf("bootstrap user %q: %w", u.Username, err)
		}
		log.Info("bootstrap: created user", "user", u.Username)
	}
	for _, c := range b.Clients {
		if err := CheckGrants(c.Grants); err != nil {
			return fmt.Errorf("bootstrap client %q: %w", c.ID, err)
		}
		if err := CheckBrowserClient(c.Grants, c.RedirectURIs, c.Origins); err != nil {
			return fmt.Errorf("bootstrap client %q: %w", c.ID, err)
		}
		want := bootstrapClient(c, now)
		skip, err := bootstrapSkip(ctx, st, store.KindClient, c.ID, func() (bool, error) {
			have, err := st.GetClient(ctx, c.ID)
			if err == nil && clientDiffers(have, want, c.Secret != "" || c.SecretHash != "") {
				log.Info("bootstrap: client exists and differs from the config; keeping the stored one", "client_id", c.ID)
			}
			return err == nil, err
		}, func() {
			log.Info("bootstrap: client was deleted by an administrator; not re-creating it", "client_id", c.ID)
		})
		if err != nil {
			return fmt.Errorf("bootstrap client %q: %w", c.ID, err)
		}
		if skip {
			continue
		}
		if reason, err := clientNameClash(ctx, st, c.ID); err != nil || reason != "" {
			return fmt.Errorf("bootstrap client %q: %w", c.ID, cmp.Or(err, errors.New(reason)))
		}
		err = st.CreateClient(ctx, want)
		if errors.Is(err, store.ErrConflict) {
			continue // another node created it, and logs it
		}
		if err != nil {
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
		rec := store.APIKey{Hash: h, Name: k.Name, Username: k.User, ClientID: k.Client, Scopes: k.Scopes, CreatedAt: now}
		if err := CheckKeyScopes(ctx, st, rec); errors.Is(err, store.ErrNotFound) {
			// Its owner was deleted (and stays so): the key goes with it.
			log.Info("bootstrap: API key's owner does not exist; not importing it", "name", k.Name)
			continue
		} else if err != nil {
			return fmt.Errorf("bootstrap API key %q: %w", k.Name, err)
		}
		id, err := secret.RandomString(r, 12)
		if err != nil {
			return err
		}
		rec.ID = "key_" + id
		if k.Key != "" {
			rec.Prefix = k.Key[:min(4, len(k.Key))]
			rec.Last4 = k.Key[max(0, len(k.Key)-4):]
		}
		if k.ExpiresIn > 0 {
			rec.ExpiresAt = now.Add(k.ExpiresIn)
		}
		err = st.CreateAPIKey(ctx, rec)
		if errors.Is(err, store.ErrConflict) {
			continue // another node imported it, and logs it
		}
		if err != nil {
			return fmt.Errorf("bootstrap API key %q: %w", k.Name, err)
		}
		log.Info("bootstrap: imported API key", "name", k.Name)
	}
	return nil
}

// bootstrapSkip reports whether a bootstrap record must not be created:
// exists (which may log a difference) says it is stored, and a tombstone
// says an administrator deleted it (deleted logs that).
func bootstrapSkip(ctx context.Context, st store.Store, kind, name string, exists func() (bool, error), deleted func()) (bool, error) {
	ok, err := exists()
	if ok {
		return true, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	gone, err := st.Deleted(ctx, kind, name)
	if err != nil {
		return false, err
	}
	if gone {
		deleted()
	}
	return gone, nil
}

// bootstrapClient is the client record a config entry describes.
func bootstrapClient(c SeedClient, now time.Time) store.Client {
	var sh []byte
	switch {
	case c.Secret != "":
		sh = secret.Hash(c.Secret)
	case c.SecretHash != "":
		sh, _ = hex.DecodeString(c.SecretHash) // validated by config
	}
	return store.Client{
		ID: c.ID, SecretHash: sh, Public: c.Public, Grants: c.Grants, Scopes: c.Scopes,
		AccessTokenTTL: c.AccessTokenTTL, RefreshTokenTTL: c.RefreshTokenTTL,
		RefreshReuseInterval: c.RefreshReuseInterval, CreatedAt: now,
		NoIntrospect: c.Introspect != nil && !*c.Introspect, Resources: c.Resources,
		RedirectURIs: c.RedirectURIs, ThirdParty: c.ThirdParty, Origins: c.Origins,
	}
}

// sameSet reports whether a and b hold the same tokens, in any order.
func sameSet(a, b []string) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(x string) bool { return !slices.Contains(b, x) })
}

// userDiffers compares what the config can state of a user. A plaintext
// password is not compared: that would cost an argon2id per user per start.
func userDiffers(have store.User, want SeedUser) bool {
	return have.Disabled != want.Disabled || !sameSet(have.Scopes, want.Scopes) ||
		(want.PasswordHash != "" && have.PasswordHash != want.PasswordHash)
}

// clientDiffers compares a stored client with the config's.
func clientDiffers(have, want store.Client, hasSecret bool) bool {
	return have.Public != want.Public || !sameSet(have.Grants, want.Grants) || !sameSet(have.Scopes, want.Scopes) ||
		have.AccessTokenTTL != want.AccessTokenTTL || have.RefreshTokenTTL != want.RefreshTokenTTL ||
		have.RefreshReuseInterval != want.RefreshReuseInterval || have.NoIntrospect != want.NoIntrospect ||
		!sameSet(have.Resources, want.Resources) || !sameSet(have.RedirectURIs, want.RedirectURIs) ||
		have.ThirdParty != want.ThirdParty || !sameSet(have.Origins, want.Origins) || (hasSecret && subtle.ConstantTimeCompare(have.SecretHash, want.SecretHash) != 1)
}
