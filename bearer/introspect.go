package bearer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokengate/tokengate/jwks"
)

// introspector calls an RFC 7662 endpoint.
type introspector struct {
	url          string
	clientID     string
	clientSecret string
	hc           *http.Client
}

// introspection is the RFC 7662 §2.2 answer.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope"`
	ClientID  string `json:"client_id"`
	TokenType string `json:"token_type"`
	// The registered claims, decoded by go-jose's jwt package.
	jwt.Claims
}

// introspect asks whether raw is an active access token and returns its
// claims as the endpoint describes them. Errors wrap ErrInactive (or
// ErrIssuer, ErrAudience, ErrExpired) for a token to reject, and
// ErrUnavailable when the endpoint gave no usable answer.
func (v *Verifier) introspect(ctx context.Context, raw string, now time.Time) (*Claims, error) {
	in := v.intro
	body := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: the id and secret are form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(in.clientID), url.QueryEscape(in.clientSecret))
	resp, err := in.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: introspection request failed: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		return nil, fmt.Errorf("%w: introspection endpoint redirected to %s (HTTP %d); redirects are not followed", ErrUnavailable, redirectTarget(resp), resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, jwks.MaxDocumentSize))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the introspection answer: %w", ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: introspection endpoint answered HTTP %d", ErrUnavailable, resp.StatusCode)
	}
	var ir introspection
	if err := json.Unmarshal(b, &ir); err != nil {
		return nil, fmt.Errorf("%w: introspection answer is not JSON", ErrUnavailable)
	}
	if !ir.Active {
		return nil, ErrInactive
	}
	switch strings.ToLower(ir.TokenType) {
	case "", "bearer", "access_token", "urn:ietf:params:oauth:token-type:access_token":
	default:
		return nil, fmt.Errorf("%w: token_type is not an access token", ErrInactive)
	}
	c := &Claims{
		Issuer: ir.Issuer, Subject: ir.Subject, ID: ir.ID, ClientID: ir.ClientID,
		Scopes:    strings.Fields(ir.Scope),
		Audience:  []string(ir.Audience),
		ExpiresAt: unixTime(ir.Expiry), IssuedAt: unixTime(ir.IssuedAt), NotBefore: unixTime(ir.NotBefore),
	}
	if err := v.checkTimes(c, now); err != nil {
		return nil, err
	}
	if v.issuer != "" && c.Issuer != v.issuer {
		return nil, ErrIssuer
	}
	if v.audience != "" && !slices.Contains(c.Audience, v.audience) {
		return nil, ErrAudience
	}
	return c, nil
}

// unixTime is d's time, zero when d is absent or not after the epoch.
func unixTime(d *jwt.NumericDate) time.Time {
	if d == nil || *d <= 0 {
		return time.Time{}
	}
	return d.Time()
}

// noRedirects returns a copy of hc that does not follow redirects: the
// introspection request carries the resource server's credentials and
// the token, and its answer must come from the configured endpoint.
func noRedirects(hc *http.Client) *http.Client {
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// redirectTarget is a redirect's Location without query and fragment,
// quoted and bounded, for error messages.
func redirectTarget(resp *http.Response) string {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "(no Location)"
	}
	if u, err := resp.Request.URL.Parse(loc); err == nil {
		u.RawQuery, u.Fragment, u.User = "", "", nil
		loc = u.String()
	} else if i := strings.IndexAny(loc, "?#"); i >= 0 {
		loc = loc[:i]
	}
	if len(loc) > 256 {
		loc = loc[:256] + "…"
	}
	return fmt.Sprintf("%q", loc)
}
