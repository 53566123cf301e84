package bearer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// Claims are the claims of a verified access token (RFC 9068 §2.2). Each
// Verify call and each request through Require gets its own copy.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub: the user, or the client for client_credentials
	Audience  []string  // aud
	ExpiresAt time.Time // exp
	IssuedAt  time.Time // iat; zero when absent
	NotBefore time.Time // nbf; zero when absent
	ID        string    // jti
	ClientID  string    // client_id
	// Scopes are the space-separated values of the scope claim.
	Scopes []string
	// Extra holds the other claims (e.g. "usefor", "exi"), decoded as
	// encoding/json decodes into an any (numbers are float64); nil when
	// there are none.
	Extra map[string]any
}

// clone returns a deep copy of c, so that a handler that modifies its
// claims does not modify the cached ones.
func (c *Claims) clone() *Claims {
	if c == nil {
		return nil
	}
	cp := *c
	cp.Audience = slices.Clone(c.Audience)
	cp.Scopes = slices.Clone(c.Scopes)
	if c.Extra != nil {
		cp.Extra = cloneJSON(c.Extra).(map[string]any)
	}
	return &cp
}

// cloneJSON deep-copies a value decoded by encoding/json into an any.
func cloneJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = cloneJSON(x)
		}
		return m
	case []any:
		a := make([]any, len(v))
		for i, x := range v {
			a[i] = cloneJSON(x)
		}
		return a
	}
	return v
}

// HasScope reports whether the token grants scope.
func (c *Claims) HasScope(scope string) bool {
	for _, s := range c.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// missingScope returns the first of want the token lacks, or "".
func (c *Claims) missingScope(want []string) (string, bool) {
	for _, w := range want {
		if !c.HasScope(w) {
			return w, true
		}
	}
	return "", false
}

// claimsKey is the context key of the verified claims.
type claimsKey struct{}

// ClaimsFrom returns the claims the middleware verified for this request,
// or nil when the request did not pass through Require.
func ClaimsFrom(ctx context.Context) *Claims {
	c, _ := ctx.Value(claimsKey{}).(*Claims)
	return c
}

// WithClaims returns a copy of ctx carrying c, as Require does. Tests of
// handlers use it to fake an authenticated request.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// decodeClaims decodes the claims of a verified token: the registered
// ones with go-jose's jwt package (strictly typed: a string iss, aud a
// string or an array of strings, NumericDates), client_id and scope as
// strings, the rest into Extra. exp is required.
func decodeClaims(tok *jwt.JSONWebToken) (*Claims, error) {
	var (
		reg struct {
			jwt.Claims
			ClientID string `json:"client_id"`
			Scope    string `json:"scope"`
		}
		m map[string]any
	)
	if err := tok.UnsafeClaimsWithoutVerification(&m, &reg); err != nil || m == nil {
		if m == nil {
			return nil, errors.New("claims are not a JSON object")
		}
		return nil, fmt.Errorf("registered claims: %w", err)
	}
	if reg.Expiry == nil {
		return nil, errors.New("no exp claim")
	}
	c := &Claims{
		Issuer: reg.Issuer, Subject: reg.Subject, Audience: []string(reg.Audience), ID: reg.ID,
		ClientID: reg.ClientID, Scopes: strings.Fields(reg.Scope), ExpiresAt: reg.Expiry.Time(),
	}
	if reg.IssuedAt != nil {
		c.IssuedAt = reg.IssuedAt.Time()
	}
	if reg.NotBefore != nil {
		c.NotBefore = reg.NotBefore.Time()
	}
	for _, name := range [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope"} {
		delete(m, name)
	}
	if len(m) > 0 {
		c.Extra = m
	}
	return c, nil
}
