package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
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

// decodeClaims decodes a JSON claims object, strictly typed for the
// registered claims. exp is required.
func decodeClaims(p []byte) (*Claims, error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil || m == nil {
		return nil, errors.New("claims are not a JSON object")
	}
	c := &Claims{}
	var scope string
	for _, f := range [...]struct {
		name string
		dst  *string
	}{{"iss", &c.Issuer}, {"sub", &c.Subject}, {"jti", &c.ID}, {"client_id", &c.ClientID}, {"scope", &scope}} {
		if v, ok := m[f.name]; ok {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("claim %s is not a string", f.name)
			}
			*f.dst = s
			delete(m, f.name)
		}
	}
	c.Scopes = strings.Fields(scope)
	if v, ok := m["aud"]; ok {
		aud, err := decodeAudience(v)
		if err != nil {
			return nil, err
		}
		c.Audience = aud
		delete(m, "aud")
	}
	hasExp := false
	for _, f := range [...]struct {
		name string
		dst  *time.Time
	}{{"exp", &c.ExpiresAt}, {"nbf", &c.NotBefore}, {"iat", &c.IssuedAt}} {
		if v, ok := m[f.name]; ok {
			t, err := decodeDate(v)
			if err != nil {
				return nil, fmt.Errorf("claim %s: %w", f.name, err)
			}
			*f.dst = t
			hasExp = hasExp || f.name == "exp"
			delete(m, f.name)
		}
	}
	if !hasExp {
		return nil, errors.New("no exp claim")
	}
	if len(m) > 0 {
		c.Extra = m
	}
	return c, nil
}

var errAudience = errors.New("claim aud is not a string or an array of strings")

func decodeAudience(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		a := make([]string, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, errAudience
			}
			a[i] = s
		}
		return a, nil
	}
	return nil, errAudience
}

// maxDate is 9999-12-31T23:59:59Z, the largest NumericDate accepted.
const maxDate = 253402300799

// decodeDate decodes a NumericDate (RFC 7519 §2): seconds since the
// epoch, possibly fractional.
func decodeDate(v any) (time.Time, error) {
	f, ok := v.(float64)
	if !ok {
		return time.Time{}, errors.New("not a number")
	}
	if math.IsNaN(f) || f < 0 || f > maxDate {
		return time.Time{}, errors.New("date out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
