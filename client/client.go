// Package client keeps a session with a token server alive: it logs in,
// refreshes the access token before it expires, logs in again when the
// refresh token has expired, and hands out a valid access token, an
// http.Client that sends it, or a golang.org/x/oauth2 TokenSource.
//
// It speaks tokengate's default OAuth 2.0 endpoints and the API contracts
// tokengate can serve (Spring Security OAuth2, Django OAuth Toolkit,
// Laravel Passport, FastAPI-style and datarhei Core logins), so it also
// works against the servers those contracts come from. It needs nothing
// of tokengate's server.
//
// A session can be exported (Client.Tokens, or every new pair through
// Config.OnTokens) and resumed later by passing the tokens back in
// Config, which saves a login round trip. FileStore keeps them in a file
// readable only by its owner, shared by processes through Config.Store.
//
// What the package guarantees (redirects, retries, caching, what is
// logged) is summed up in its README.md.
package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultRefreshMargin is how long before expiry an access token is
// renewed when Config.RefreshMargin is zero.
const DefaultRefreshMargin = 30 * time.Second

// renewTimeout bounds one renewal, which runs detached from the callers
// waiting on it (so that one caller giving up does not fail the others):
// room for a request and its one retry with the default 30 s timeout.
const renewTimeout = 75 * time.Second

// Back-off of background renewals that fail while the access token is
// still valid: the first retry after minBackoff, doubling up to
// maxBackoff.
const (
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

// Config says where to log in and with what.
//
// Credentials: give at most one way of logging in — Username and
// Password, APIKey, or ExternalToken — with ClientID and ClientSecret to
// authenticate the client application where the contract wants them;
// with none of the three, ClientID and ClientSecret log in alone
// (client_credentials). More than one of the three is an error from New
// (ErrConflictingCredentials), never a silent choice. Saved tokens
// (AccessToken, RefreshToken, or Store) are used first, and the
// credentials only once the session they hold has ended.
type Config struct {
	// BaseURL is the server's address, e.g. "https://auth.example.com".
	// Endpoint paths are appended to it (a path in it is kept:
	// "https://example.com/api" + "/oauth/token").
	BaseURL string
	// Contract is the API dialect (DefaultContract when empty); see
	// Contracts.
	Contract Contract
	// Endpoints override the contract's paths.
	Endpoints Endpoints

	// ClientID and ClientSecret authenticate the client application. With
	// no other credentials they log in alone (client_credentials), except
	// to replace a resumed session that has a refresh token: that was a
	// user's session, and ends with ErrSessionExpired instead.
	ClientID     string
	ClientSecret string
	// Username and Password log a user in (password grant).
	Username string
	Password string
	// APIKey is exchanged for an access token (tokengate's API key grant;
	// the FastAPI contract's GET ?key=).
	APIKey string
	// ExternalToken is an external identity provider's JWT (Auth0, Okta,
	// ...) exchanged for tokens: RFC 8693 token exchange with the OAuth
	// 2.0 contracts, a Bearer login with datarhei Core.
	ExternalToken string

	// AccessToken and RefreshToken resume a saved session: New then
	// makes no request. Give the credentials too, to log in again once
	// the refresh token has expired. A Username without Password resumes
	// too, and ends with ErrSessionExpired when the session does.
	AccessToken  string
	RefreshToken string
	// Expiry is when the resumed AccessToken expires (Tokens.Expiry);
	// zero reads it from the token's exp when it is a JWT, else the token
	// is used until the API refuses it.
	Expiry time.Time
	// Store, when set, is shared with other Clients, in this process or
	// others (FileStore is one). New resumes the session saved there when
	// Config has no tokens; every renewal holds the store's lock, re-reads
	// it first and uses the tokens another Client saved instead of
	// refreshing again (two refreshes of one token would look like a
	// replay to the server), and saves the new pair before releasing it.
	// A failed Save is returned by the renewal (Token, Refresh, New...);
	// the Client keeps the new pair in memory and goes on with it.
	Store Store

	// Scopes are requested at login; empty asks for the default scopes.
	Scopes []string
	// HTTPClient makes the token requests and carries the API requests of
	// HTTPClient and Transport. Nil means a client with a 30s timeout and
	// http.DefaultTransport. Its CheckRedirect is ignored for token
	// requests, which never follow a redirect (see Transport for API
	// requests). A refresh whose answer is lost is resent once at once:
	// the server's refresh_reuse_interval for this client must exceed
	// this timeout for the resend to be accepted.
	HTTPClient *http.Client
	// ForwardTokenOnRedirect lets Transport send the access token to
	// another origin (scheme, host or port) that an API response
	// redirects to. By default a cross-origin redirect is followed
	// without the token.
	ForwardTokenOnRedirect bool
	// RefreshMargin is how long before its expiry an access token is
	// renewed, capped at half the token's lifetime (so that a token of a
	// minute is used for at least thirty seconds). Zero means
	// DefaultRefreshMargin; negative means at expiry.
	RefreshMargin time.Duration
	// OnTokens, when set, is called with every new pair (after login,
	// after each refresh, and when a pair another Client saved in Store is
	// adopted), before the new access token is handed out, so
	// that the caller may persist the session. It runs on the goroutine
	// that renews: keep it short, and do not call the Client from it.
	OnTokens func(Tokens)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Store keeps a session's tokens for Clients that share them (see
// Config.Store). FileStore implements it.
type Store interface {
	// Load returns the saved tokens; an error wrapping fs.ErrNotExist
	// means none.
	Load() (Tokens, error)
	// Save replaces the saved tokens.
	Save(Tokens) error
	// Lock waits until the caller holds the store exclusively, across
	// processes, or ctx is done; unlock releases it.
	Lock(ctx context.Context) (unlock func(), err error)
}

// Tokens are a session's tokens, as exported by Client.Tokens and saved
// by FileStore.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	// Expiry is when the access token expires, zero when unknown.
	Expiry time.Time `json:"expiry,omitzero"`
}

// Errors of the session. Login and refresh failures the server answered
// are *Error values.
var (
	// ErrSessionExpired means the refresh token was rejected (expired or
	// revoked) and the Client has no credentials to log in again. It
	// wraps the server's *Error when there is one.
	ErrSessionExpired = errors.New("client: session expired and no credentials to log in again")
	// ErrNoCredentials means Config has neither credentials nor saved
	// tokens.
	ErrNoCredentials = errors.New("client: no credentials and no saved tokens")
)

// Error is a login or refresh the server refused, with the server's
// error code and description (RFC 6749 §5.2 {error, error_description};
// FastAPI's {detail}; datarhei's {message}), like golang.org/x/oauth2's
// RetrieveError. It never contains credentials or tokens. Code and
// Description are the server's words: untrusted text, each cut at 512
// bytes, with control characters replaced by U+FFFD so that printing
// them cannot forge log lines or drive a terminal.
type Error struct {
	// Op is "login" or "refresh".
	Op string
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the OAuth error code ("invalid_grant", "invalid_client",
	// ...), empty when the server did not give one.
	Code string
	// Description is the server's explanation, if any.
	Description string
}

// Error implements error: the operation, the server's code and
// description, and the HTTP status.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("client: ")
	b.WriteString(e.Op)
	b.WriteString(" refused: ")
	if e.Code != "" {
		b.WriteString(e.Code)
		if e.Description != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Description)
	if e.Code != "" || e.Description != "" {
		b.WriteString(" ")
	}
	fmt.Fprintf(&b, "(HTTP %d)", e.StatusCode)
	return b.String()
}

// Client holds one session. It is safe for concurrent use.
type Client struct {
	cfg      Config // credentials; the token fields are not used after New
	contract contract
	ep       Endpoints // resolved to absolute URLs
	cred     credential
	hc       *http.Client // token requests: never follows redirects
	now      func() time.Time
	margin   time.Duration

	mu       sync.Mutex
	tok      Tokens
	lifetime time.Duration // of tok.AccessToken, 0 when unknown
	rejected string        // an access token the API answered 401 to
	after401 bool          // tok was obtained by a renewal after a 401, and no API has accepted it since
	flight   *flight       // the renewal in progress
	// storeSeen is the pair this Client last read from or wrote to
	// Config.Store; only renewals (one at a time) use it.
	storeSeen Tokens
	failures  int       // background renewals failed in a row
	nextTry   time.Time // no background renewal before
}

// flight is one renewal that concurrent callers share.
type flight struct {
	done chan struct{}
	tok  Tokens
	err  error
}

// New returns a Client with a session: it logs in, unless saved tokens
// are given, in which case it makes no request. A refused login is an
// *Error.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	ct := c.contract
	if cfg.Store != nil && cfg.AccessToken == "" && cfg.RefreshToken == "" {
		saved, err := cfg.Store.Load()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		cfg.AccessToken, cfg.RefreshToken, cfg.Expiry = saved.AccessToken, saved.RefreshToken, saved.Expiry
		c.cfg = cfg
		c.storeSeen = saved
	}
	resumed := cfg.AccessToken != "" || cfg.RefreshToken != ""
	if c.cred, err = loginCredential(&cfg); err != nil {
		return nil, err
	}
	if c.cred == credPassword && (cfg.Username == "" || cfg.Password == "") {
		if cfg.Password != "" || !resumed {
			return nil, errors.New("client: give both Username and Password")
		}
		// A user's saved session without the password: resume it, and
		// end with ErrSessionExpired when it ends.
		c.cred = credNone
	}
	if c.cred == credClient && cfg.RefreshToken != "" {
		// client_credentials issues no refresh token, so a saved one
		// belongs to a user's session, which the client's credentials
		// alone must not silently replace with the client's own.
		c.cred = credNone
	}
	if c.cred != credNone && !ct.supports(c.cred) {
		return nil, fmt.Errorf("client: contract %s cannot log in with %s", ct.name, c.cred)
	}
	if resumed {
		c.tok, c.lifetime = resume(Tokens{AccessToken: cfg.AccessToken, RefreshToken: cfg.RefreshToken, Expiry: cfg.Expiry})
		return c, nil
	}
	if c.cred == credNone {
		return nil, ErrNoCredentials
	}
	if _, err := c.tokens(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// newClient checks cfg and returns a Client without a session: the
// contract, endpoints, HTTP client and clock set.
func newClient(cfg Config) (*Client, error) {
	ct, err := findContract(cfg.Contract)
	if err != nil {
		return nil, err
	}
	var base *url.URL
	if cfg.BaseURL != "" {
		base, err = url.Parse(cfg.BaseURL)
		if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
			return nil, fmt.Errorf("client: BaseURL %q is not an http(s) URL", cfg.BaseURL)
		}
		base.RawQuery, base.Fragment = "", ""
	}
	c := &Client{cfg: cfg, contract: ct, hc: cfg.HTTPClient, now: cfg.Now}
	if c.now == nil {
		c.now = time.Now
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 30 * time.Second}
	}
	c.hc = noRedirects(c.hc)
	switch {
	case cfg.RefreshMargin == 0:
		c.margin = DefaultRefreshMargin
	case cfg.RefreshMargin > 0:
		c.margin = cfg.RefreshMargin
	}
	if c.ep, err = resolveEndpoints(base, cfg.Endpoints, ct.endpoints); err != nil {
		return nil, err
	}
	return c, nil
}

// resume completes saved tokens: the expiry and lifetime of a JWT access
// token when t does not say.
func resume(t Tokens) (Tokens, time.Duration) {
	var lifetime time.Duration
	if exp, iat, ok := jwtTimes(t.AccessToken); ok {
		if t.Expiry.IsZero() {
			t.Expiry = exp
		}
		if !iat.IsZero() && exp.After(iat) {
			lifetime = exp.Sub(iat)
		}
	}
	return t, lifetime
}

// Token returns a valid access token. Within the refresh margin before
// its expiry, the token is still handed out while a renewal runs in the
// background (retried with back-off when it fails); once it has expired,
// callers wait for a renewal, shared by all of them. When the refresh
// token is refused it logs in again with the credentials, or fails with
// ErrSessionExpired when it has none.
func (c *Client) Token(ctx context.Context) (string, error) {
	t, err := c.tokens(ctx)
	return t.AccessToken, err
}

// Tokens returns the current tokens, to save and resume the session
// later. It makes no request: the access token may be expired.
func (c *Client) Tokens() Tokens {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tok
}

// Refresh renews the access token now, even if it is still valid (with
// the refresh token, or by logging in again), and returns the new one.
// A renewal already in progress is joined instead.
func (c *Client) Refresh(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.mu.Lock()
	f := c.flight
	if f == nil {
		f = c.startLocked(ctx, false)
	}
	c.mu.Unlock()
	t, err := c.wait(ctx, f)
	return t.AccessToken, err
}

// tokens returns valid tokens, renewing when needed.
func (c *Client) tokens(ctx context.Context) (Tokens, error) {
	if err := ctx.Err(); err != nil {
		return Tokens{}, err
	}
	c.mu.Lock()
	if c.usableLocked() {
		t := c.tok
		if !c.freshLocked() && c.flight == nil && !c.now().Before(c.nextTry) {
			c.startLocked(ctx, false) // early renewal, in the background
		}
		c.mu.Unlock()
		return t, nil
	}
	f := c.flight
	if f == nil {
		// A token an API refused (markRejected) is renewed as after a
		// 401, so that its successor is not renewed for a 401 again
		// before an API accepts it.
		f = c.startLocked(ctx, c.tok.AccessToken != "" && c.tok.AccessToken == c.rejected)
	}
	c.mu.Unlock()
	return c.wait(ctx, f)
}

// mayRenewAfter401 reports whether a 401 to used, with the challenge's
// error code, calls for a renewal: only for invalid_token or no error
// code (never insufficient_scope), and never for a token that a renewal
// after a 401 has just obtained and that no API has accepted since, so
// that an API that refuses every token costs one renewal, not one per
// call. (A token another caller replaced already is not renewed again:
// the request is retried with the new one.)
func (c *Client) mayRenewAfter401(used, code string) bool {
	if code != "" && code != "invalid_token" {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tok.AccessToken != used || !c.after401
}

// renewAfter401 is called when the API refused used: unless another
// caller has renewed already, the token is renewed. It returns the new
// access token.
func (c *Client) renewAfter401(ctx context.Context, used string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.tok.AccessToken != used {
		c.mu.Unlock()
		return c.Token(ctx) // renewed by another caller
	}
	c.rejected = used
	f := c.flight
	if f == nil {
		f = c.startLocked(ctx, true)
	}
	c.mu.Unlock()
	t, err := c.wait(ctx, f)
	return t.AccessToken, err
}

// markAccepted records that an API accepted used: a later 401 to it
// means it was revoked, and may renew it.
func (c *Client) markAccepted(used string) {
	c.mu.Lock()
	if c.after401 && c.tok.AccessToken == used {
		c.after401 = false
	}
	c.mu.Unlock()
}

// markRejected records that the API refused used, so that it is renewed
// before it is handed out again.
func (c *Client) markRejected(used string) {
	c.mu.Lock()
	if c.tok.AccessToken == used {
		c.rejected = used
	}
	c.mu.Unlock()
}

// usableLocked reports whether the access token may be handed out: it
// has not expired and the API has not refused it.
func (c *Client) usableLocked() bool {
	return usable(c.tok, c.rejected, c.now())
}

func usable(t Tokens, rejected string, now time.Time) bool {
	if t.AccessToken == "" || t.AccessToken == rejected {
		return false
	}
	return t.Expiry.IsZero() || now.Before(t.Expiry)
}

// freshLocked reports whether the access token is outside the refresh
// margin before its expiry.
func (c *Client) freshLocked() bool {
	return c.fresh(c.tok, c.lifetime)
}

func (c *Client) fresh(t Tokens, lifetime time.Duration) bool {
	if t.Expiry.IsZero() {
		return true // unknown lifetime: used until the API refuses it
	}
	margin := c.margin
	if lifetime > 0 && margin > lifetime/2 {
		margin = lifetime / 2
	}
	return c.now().Before(t.Expiry.Add(-margin))
}

// startLocked starts a renewal. The caller holds c.mu. after401 marks
// the tokens it obtains as obtained because the API refused a token.
func (c *Client) startLocked(ctx context.Context, after401 bool) *flight {
	f := &flight{done: make(chan struct{})}
	c.flight = f
	held := c.tok
	go func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), renewTimeout)
		defer cancel()
		tok, lifetime, err := c.renewShared(rctx, held)
		// A pair the store could not save is still the session's: the
		// server has rotated the refresh token it replaces.
		var se *saveError
		renewed := err == nil || errors.As(err, &se)
		c.mu.Lock()
		if renewed {
			c.tok, c.lifetime, c.rejected, c.after401 = tok, lifetime, "", after401
			c.failures, c.nextTry = 0, time.Time{}
		} else {
			c.failures++
			c.nextTry = c.now().Add(min(minBackoff<<min(c.failures-1, 10), maxBackoff))
		}
		c.mu.Unlock()
		if renewed && c.cfg.OnTokens != nil {
			c.cfg.OnTokens(tok)
		}
		f.tok, f.err = tok, err
		if err != nil {
			f.tok = Tokens{}
		}
		c.mu.Lock()
		c.flight = nil
		c.mu.Unlock()
		close(f.done)
	}()
	return f
}

// renewShared renews held. With a Store, it does so under the store's
// lock, first adopting the tokens another Client saved when they are
// fresh (no request then).
func (c *Client) renewShared(ctx context.Context, held Tokens) (Tokens, time.Duration, error) {
	st := c.cfg.Store
	if st == nil {
		return c.renew(ctx, held.RefreshToken)
	}
	unlock, err := st.Lock(ctx)
	if err != nil {
		return Tokens{}, 0, fmt.Errorf("client: locking the token store: %w", err)
	}
	defer unlock()
	rt := held.RefreshToken
	// The store's tokens count only when another Client saved them since
	// this one last read or wrote it: after a failed save, the store
	// holds an older pair whose refresh token the server has rotated.
	if saved, err := st.Load(); err == nil && saved.AccessToken != "" && saved.AccessToken != held.AccessToken && !sameTokens(saved, c.storeSeen) {
		c.storeSeen = saved
		saved, lifetime := resume(saved)
		if usable(saved, "", c.now()) && c.fresh(saved, lifetime) {
			return saved, lifetime, nil // renewed by another Client
		}
		if saved.RefreshToken != "" {
			rt = saved.RefreshToken // ours was rotated by another Client
		}
	}
	tok, lifetime, err := c.renew(ctx, rt)
	if err != nil {
		return Tokens{}, 0, err
	}
	if err := st.Save(tok); err != nil {
		return tok, lifetime, &saveError{err}
	}
	c.storeSeen = tok
	return tok, lifetime, nil
}

// saveError is a renewal whose new tokens Store.Save refused: the
// renewal's callers get the error, and the Client keeps the tokens.
type saveError struct{ err error }

func (e *saveError) Error() string { return "client: saving the new tokens: " + e.err.Error() }
func (e *saveError) Unwrap() error { return e.err }

// sameTokens reports whether a and b are the same pair.
func sameTokens(a, b Tokens) bool {
	return a.AccessToken == b.AccessToken && a.RefreshToken == b.RefreshToken
}

// wait waits for f or for ctx.
func (c *Client) wait(ctx context.Context, f *flight) (Tokens, error) {
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return Tokens{}, ctx.Err()
	}
}

// renew gets new tokens: by refresh when there is a refresh token that
// has not visibly expired, else (or when the server refuses it) by
// logging in with the credentials.
func (c *Client) renew(ctx context.Context, rt string) (Tokens, time.Duration, error) {
	var refused error
	if rt != "" {
		if exp, _, ok := jwtTimes(rt); ok && !c.now().Before(exp) {
			refused = errors.New("client: the refresh token has expired")
		} else {
			tok, lifetime, err := c.refresh(ctx, rt)
			var lost *lostAnswer
			if errors.As(err, &lost) && ctx.Err() == nil {
				// The server may have rotated rt and its answer been
				// lost: resend the same token at once, which the
				// server's refresh_reuse_interval accepts once.
				tok, lifetime, err = c.refresh(ctx, rt)
			}
			if err == nil {
				if tok.RefreshToken == "" {
					tok.RefreshToken = rt // not rotated: keep it
				}
				return tok, lifetime, nil
			}
			if !isRefusal(err) {
				return Tokens{}, 0, err
			}
			refused = err
		}
	}
	if c.cred == credNone {
		if refused != nil {
			return Tokens{}, 0, fmt.Errorf("%w: %w", ErrSessionExpired, refused)
		}
		return Tokens{}, 0, ErrSessionExpired
	}
	return c.login(ctx)
}

// isRefusal reports whether err is the server refusing the request (a 4xx
// other than 408 and 429), as opposed to a failure worth retrying later.
func isRefusal(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode >= 400 && e.StatusCode < 500 &&
		e.StatusCode != http.StatusRequestTimeout && e.StatusCode != http.StatusTooManyRequests
}

// noRedirects returns a copy of hc that does not follow redirects: a
// token request answered with a redirect would otherwise send the
// credentials it carries (password, client secret, API key, refresh
// token) to wherever the server points, and Basic credentials in clear to
// an http:// target.
func noRedirects(hc *http.Client) *http.Client {
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// redirectTarget is a redirect's Location without its query and
// fragment, for error messages.
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
