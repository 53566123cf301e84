package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
)

// Clients is the administration of OAuth clients, shared by the CLI and
// the admin API. Secrets are generated here, returned once, and only
// their SHA-256 is stored.
type Clients struct {
	Store store.Store
	// Rand is the source of secrets; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewClient describes a client to create.
type NewClient struct {
	ID     string
	Public bool
	// Secret, when set, is imported instead of a generated one.
	Secret               string
	Grants               []string
	Scopes               []string
	AccessTokenTTL       time.Duration
	RefreshTokenTTL      time.Duration
	RefreshReuseInterval time.Duration
	// NoIntrospect withholds token introspection from a confidential
	// client (resource servers need it; most clients do not).
	NoIntrospect bool
	// Resources are the audiences (RFC 8707) the client may ask tokens
	// for; empty means the configured audience and exchange audiences.
	Resources []string
	// RedirectURIs are the client's registered redirection endpoints
	// (authorization code flow); required with that grant.
	RedirectURIs []string
	// ThirdParty clients get the user's consent screen.
	ThirdParty bool
	// Origins are the browser origins allowed CORS at the token and
	// revocation endpoints.
	Origins []string
}

// ClientChange is a partial update of a client: nil fields stay.
type ClientChange struct {
	Grants               *[]string
	Scopes               *[]string
	AccessTokenTTL       *time.Duration
	RefreshTokenTTL      *time.Duration
	RefreshReuseInterval *time.Duration
	RedirectURIs         *[]string
	ThirdParty           *bool
	Origins              *[]string
}

func (a *Clients) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func checkClient(f *fields, c store.Client) {
	checkGrants(f, "grants", c.Grants)
	checkScopes(f, "scopes", c.Scopes)
	checkLifetime(f, "access_token_ttl", c.AccessTokenTTL)
	checkLifetime(f, "refresh_token_ttl", c.RefreshTokenTTL)
	if d := c.RefreshReuseInterval; d < 0 || d > store.MaxRefreshReuseInterval {
		f.add("refresh_reuse_interval", "must be between 0 and %d seconds", int64(store.MaxRefreshReuseInterval/time.Second))
	}
	checkBrowser(f, c)
}

// Add creates a client. A confidential client without an imported secret
// gets a generated one, which Add returns (shown once); otherwise the
// returned secret is empty.
func (a *Clients) Add(ctx context.Context, n NewClient) (store.Client, string, error) {
	c := store.Client{ID: n.ID, Public: n.Public, Grants: n.Grants, Scopes: n.Scopes, AccessTokenTTL: n.AccessTokenTTL,
		RefreshTokenTTL: n.RefreshTokenTTL, RefreshReuseInterval: n.RefreshReuseInterval, CreatedAt: a.now(),
		NoIntrospect: n.NoIntrospect, Resources: n.Resources, RedirectURIs: n.RedirectURIs, ThirdParty: n.ThirdParty, Origins: n.Origins}
	var f fields
	if !nameOK(n.ID) {
		f.add("client_id", "must be 1 to %d characters of letters, digits and . _ @ + - :", MaxNameLen)
	}
	checkClient(&f, c)
	if n.Public && n.Secret != "" {
		f.add("secret", "a public client has no secret")
	}
	if n.Public && slices.Contains(n.Grants, "client_credentials") {
		f.add("grants", "a public client may not use client_credentials")
	}
	if err := f.err(); err != nil {
		return store.Client{}, "", err
	}
	if reason, err := clientNameClash(ctx, a.Store, n.ID); err != nil {
		return store.Client{}, "", err
	} else if reason != "" {
		f.add("client_id", "%s", reason)
		return store.Client{}, "", f.err()
	}
	sec, generated := n.Secret, false
	if !n.Public && sec == "" {
		var err error
		if sec, err = NewClientSecret(a.Rand); err != nil {
			return store.Client{}, "", err
		}
		generated = true
	}
	if sec != "" {
		c.SecretHash = secret.Hash(sec)
	}
	if err := a.Store.CreateClient(ctx, c); err != nil {
		return store.Client{}, "", fmt.Errorf("client %q: %w", n.ID, err)
	}
	if !generated {
		sec = ""
	}
	return c, sec, nil
}

// Get returns one client.
func (a *Clients) Get(ctx context.Context, id string) (store.Client, error) {
	c, err := a.Store.GetClient(ctx, id)
	if err != nil {
		return store.Client{}, fmt.Errorf("client %q: %w", id, err)
	}
	return c, nil
}

// List returns every client, ordered by id.
func (a *Clients) List(ctx context.Context) ([]store.Client, error) {
	cs, err := a.Store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing clients: %w", err)
	}
	slices.SortFunc(cs, func(x, y store.Client) int { return cmpStr(x.ID, y.ID) })
	return cs, nil
}

// Page returns at most limit clients whose ids sort after `after` (byte
// order), reading no more than that from the store.
func (a *Clients) Page(ctx context.Context, after string, limit int) ([]store.Client, error) {
	cs, err := a.Store.ListClientsAfter(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("listing clients: %w", err)
	}
	return cs, nil
}

// Update applies ch to client id and returns the result. Every node's
// client cache is invalidated by the store's change feed
// (store.Clients.ClientsVersion), so the change applies within
// milliseconds everywhere.
func (a *Clients) Update(ctx context.Context, id string, ch ClientChange) (store.Client, error) {
	c, err := a.Get(ctx, id)
	if err != nil {
		return store.Client{}, err
	}
	if ch.Grants != nil {
		c.Grants = *ch.Grants
	}
	if ch.Scopes != nil {
		c.Scopes = *ch.Scopes
	}
	if ch.AccessTokenTTL != nil {
		c.AccessTokenTTL = *ch.AccessTokenTTL
	}
	if ch.RefreshTokenTTL != nil {
		c.RefreshTokenTTL = *ch.RefreshTokenTTL
	}
	if ch.RefreshReuseInterval != nil {
		c.RefreshReuseInterval = *ch.RefreshReuseInterval
	}
	if ch.RedirectURIs != nil {
		c.RedirectURIs = *ch.RedirectURIs
	}
	if ch.ThirdParty != nil {
		c.ThirdParty = *ch.ThirdParty
	}
	if ch.Origins != nil {
		c.Origins = *ch.Origins
	}
	var f fields
	checkClient(&f, c)
	if c.Public && slices.Contains(c.Grants, "client_credentials") {
		f.add("grants", "a public client may not use client_credentials")
	}
	if err := f.err(); err != nil {
		return store.Client{}, err
	}
	if err := a.Store.UpdateClient(ctx, c); err != nil {
		return store.Client{}, fmt.Errorf("client %q: %w", id, err)
	}
	return c, nil
}

// Delete removes a client, its API keys and its sessions.
func (a *Clients) Delete(ctx context.Context, id string) error {
	if err := a.Store.DeleteClient(ctx, id); err != nil {
		return fmt.Errorf("client %q: %w", id, err)
	}
	return nil
}

// ErrPublicClient is returned when a secret operation names a public client.
var ErrPublicClient = errors.New("a public client has no secret")

// RotateSecret replaces a confidential client's secret with a new
// generated one and returns it (shown once). The old secret fails at
// once on nodes without a client cache.
func (a *Clients) RotateSecret(ctx context.Context, id string) (string, error) {
	c, err := a.Get(ctx, id)
	if err != nil {
		return "", err
	}
	if c.Public {
		return "", &InvalidError{Fields: []FieldError{{Field: "client_id", Message: ErrPublicClient.Error()}}}
	}
	sec, err := NewClientSecret(a.Rand)
	if err != nil {
		return "", err
	}
	c.SecretHash = secret.Hash(sec)
	c.LegacySecretHash = "" // an imported secret hash is replaced too
	if err := a.Store.UpdateClient(ctx, c); err != nil {
		return "", fmt.Errorf("client %q: %w", id, err)
	}
	return sec, nil
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
