package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
)

// GrantAuthorizationCode is RFC 6749 §4.1 with PKCE (RFC 7636) required.
const GrantAuthorizationCode = "authorization_code"

// CodeTTL is how long an authorization code may be redeemed (RFC 6749
// §4.1.2 recommends at most 10 minutes; OAuth 2.1 practice is seconds).
const CodeTTL = 60 * time.Second

// codeRetention is how long a code's record outlives its validity, so
// that a late second use is still recognised and revokes what the first
// issued (RFC 6749 §4.1.2).
const codeRetention = 10 * time.Minute

// maxAuthorizeParam bounds state, nonce and the other free-text
// parameters of an authorization request.
const maxAuthorizeParam = 2048

// AuthorizeRequest is an authorization request (RFC 6749 §4.1.1) in the
// core's terms. The page that receives it refuses repeated parameters.
type AuthorizeRequest struct {
	ClientID            string
	RedirectURI         string
	ResponseType        string
	Scope               string
	ScopeGiven          bool
	State               string
	CodeChallenge       string
	CodeChallengeMethod string
	Nonce               string
	Prompt              string
	MaxAge              string
	MaxAgeGiven         bool
}

// Authorization is a validated authorization request.
type Authorization struct {
	Client      *store.Client
	RedirectURI string // the verified redirection endpoint
	State       string
	// Scopes are the scopes requested within the client's; the user's
	// limits apply when the code is issued (ScopesFor).
	Scopes     []string
	scope      string
	scopeGiven bool
	Challenge  string
	Nonce      string
	// Prompt holds the prompt values given (none, login, consent).
	Prompt []string
	// MaxAge is the max_age parameter; negative when absent.
	MaxAge time.Duration
}

// HasPrompt reports whether the request carried prompt value v.
func (a *Authorization) HasPrompt(v string) bool { return contains(a.Prompt, v) }

// Authorize validates an authorization request. Until the client and its
// redirect URI are verified, it returns a nil Authorization with the
// error: the page shows it and never redirects (RFC 6749 §4.1.2.1). After
// that, an error comes with the Authorization, whose RedirectURI and
// State the page sends it to.
func (s *Service) Authorize(ctx context.Context, r *AuthorizeRequest) (*Authorization, error) {
	if r.ClientID == "" {
		return nil, ErrMissing("client_id")
	}
	if !validIdentifier(r.ClientID) || len(r.ClientID) > maxCredentialLen {
		return nil, errBadIdentifier("client_id")
	}
	c, err := s.getClient(ctx, r.ClientID)
	if err != nil {
		return nil, s.storeErr(err, errInvalidParam("client_id", "unknown client"))
	}
	if r.RedirectURI == "" {
		return nil, ErrMissing("redirect_uri")
	}
	if !validText(r.RedirectURI) || !MatchRedirectURI(c.RedirectURIs, r.RedirectURI) {
		return nil, errInvalidParam("redirect_uri", "redirect_uri is not registered for this client")
	}
	a := &Authorization{Client: &c, RedirectURI: r.RedirectURI, MaxAge: -1}
	if len(r.State) <= maxAuthorizeParam && validText(r.State) {
		a.State = r.State
	} else {
		return a, errInvalidParam("state", "state is too long or not valid UTF-8")
	}
	if !contains(c.Grants, GrantAuthorizationCode) {
		return a, errUnauthorizedClient("the client may not use the authorization code grant")
	}
	switch r.ResponseType {
	case "":
		return a, ErrMissing("response_type")
	case "code":
	default:
		return a, errUnsupportedResponseType()
	}
	switch {
	case r.CodeChallenge == "":
		return a, errInvalidParam("code_challenge", "code_challenge is required (PKCE, RFC 7636)")
	case r.CodeChallengeMethod != "S256":
		return a, errInvalidParam("code_challenge_method", "code_challenge_method must be S256")
	case !validChallenge(r.CodeChallenge):
		return a, errInvalidParam("code_challenge", "code_challenge must be the 43-character BASE64URL of a SHA-256")
	}
	a.Challenge = r.CodeChallenge
	for _, f := range [...]struct{ name, v string }{{"nonce", r.Nonce}, {"prompt", r.Prompt}, {"scope", r.Scope}, {"max_age", r.MaxAge}} {
		if len(f.v) > maxAuthorizeParam || !validText(f.v) {
			return a, errInvalidParam(f.name, f.name+" is too long or not valid UTF-8")
		}
	}
	a.Nonce = r.Nonce
	if a.Prompt, err = parsePrompt(r.Prompt); err != nil {
		return a, err
	}
	if r.MaxAgeGiven {
		n, perr := strconv.ParseInt(r.MaxAge, 10, 64)
		if perr != nil || n < 0 || n > 10*365*86400 {
			return a, errInvalidParam("max_age", "max_age must be a non-negative number of seconds")
		}
		a.MaxAge = time.Duration(n) * time.Second
	}
	scopes, oerr := resolveScopes(r.Scope, r.ScopeGiven, c.Scopes, nil)
	if oerr == nil {
		scopes, oerr = s.limitAdmin(&c, scopes, r.ScopeGiven && strings.TrimSpace(r.Scope) != "")
	}
	if oerr != nil {
		return a, oerr
	}
	a.Scopes, a.scope, a.scopeGiven = scopes, r.Scope, r.ScopeGiven
	return a, nil
}

// parsePrompt reads the prompt parameter (OpenID Connect Core §3.1.2.1):
// none, login and consent; none only alone.
func parsePrompt(v string) ([]string, error) {
	vals := ParseScope(v)
	for _, p := range vals {
		if p != "none" && p != "login" && p != "consent" {
			return nil, errInvalidParam("prompt", "prompt must be none, login or consent")
		}
	}
	if contains(vals, "none") && len(vals) > 1 {
		return nil, errInvalidParam("prompt", "prompt=none cannot be combined with other values")
	}
	return vals, nil
}

// validChallenge reports whether v is an S256 code challenge: the
// unpadded BASE64URL of 32 bytes.
func validChallenge(v string) bool {
	if len(v) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}

// validVerifier reports whether v is an RFC 7636 §4.1 code_verifier: 43
// to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// S256 is the RFC 7636 §4.2 S256 transformation of a code verifier.
func S256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// MatchRedirectURI reports whether uri is one of the registered redirect
// URIs, compared as exact strings (RFC 9700 §2.1), except that a
// registered loopback http URI (http://127.0.0.1 or http://[::1], RFC 8252
// §7.3) matches uri with any port, everything else equal. "localhost" is
// not a loopback address here (RFC 8252 §8.3).
func MatchRedirectURI(registered []string, uri string) bool {
	if uri == "" || strings.Contains(uri, "#") {
		return false
	}
	for _, r := range registered {
		if r == uri {
			return true
		}
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || !IsLoopbackIP(u.Hostname()) || u.User != nil {
		return false
	}
	for _, r := range registered {
		ru, err := url.Parse(r)
		if err != nil || ru.Scheme != "http" || !IsLoopbackIP(ru.Hostname()) {
			continue
		}
		if ru.Hostname() == u.Hostname() && ru.EscapedPath() == u.EscapedPath() && ru.RawQuery == u.RawQuery && !u.ForceQuery && !ru.ForceQuery {
			return true
		}
	}
	return false
}

// IsLoopbackIP reports whether host is the literal 127.0.0.1 or ::1.
func IsLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback() && (host == "127.0.0.1" || host == "::1")
}

// ScopesFor returns the scopes an authorization grants to user username:
// those requested (or the client's defaults) within the user's scopes.
func (s *Service) ScopesFor(ctx context.Context, a *Authorization, username string) ([]string, error) {
	u, err := s.store.GetUser(ctx, username)
	if err != nil {
		return nil, s.storeErr(err, ErrAccessDenied("the user may not sign in"))
	}
	if u.Disabled {
		return nil, ErrAccessDenied("the user may not sign in")
	}
	scopes, oerr := resolveScopes(a.scope, a.scopeGiven, a.Client.Scopes, nilIfEmpty(u.Scopes))
	if oerr == nil {
		scopes, oerr = s.limitAdmin(a.Client, scopes, a.scopeGiven && strings.TrimSpace(a.scope) != "")
	}
	if oerr != nil {
		return nil, oerr
	}
	return scopes, nil
}

// Grantor is who approves an authorization: the signed-in user.
type Grantor struct {
	Username  string
	AuthTime  time.Time
	SessionID string
}

// IssueCode issues an authorization code for a, approved by g. The code
// is random, stored only as its SHA-256, valid for CodeTTL, and bound to
// the client, redirect URI, code challenge, user, scopes, nonce, sign-in
// time and session.
func (s *Service) IssueCode(ctx context.Context, a *Authorization, g Grantor) (string, error) {
	scopes, err := s.ScopesFor(ctx, a, g.Username)
	if err != nil {
		return "", err
	}
	code, err := secret.NewToken(s.rand, "tgc_")
	if err != nil {
		return "", errServer(err)
	}
	famID, err := secret.RandomString(s.rand, 22)
	if err != nil {
		return "", errServer(err)
	}
	now := s.now()
	rec := store.AuthCode{
		Hash: secret.Hash(code), ClientID: a.Client.ID, RedirectURI: a.RedirectURI, Challenge: a.Challenge,
		Username: g.Username, Scopes: scopes, Nonce: a.Nonce, AuthTime: g.AuthTime, SessionID: g.SessionID,
		FamilyID: famID, CreatedAt: now, ExpiresAt: now.Add(CodeTTL), PurgeAt: now.Add(CodeTTL + codeRetention),
	}
	if err := s.store.CreateAuthCode(ctx, rec); err != nil {
		return "", s.storeErr(err, errServer(err))
	}
	return code, nil
}

// CodeGrant describes the authorization a code redemption issued tokens
// for, for what is added to the answer (an OpenID Connect ID token).
type CodeGrant struct {
	Subject   string
	Scopes    []string
	Nonce     string
	AuthTime  time.Time
	SessionID string
}

var (
	errBadCode      = errInvalidGrant("authorization code is invalid", ReasonUnknownToken)
	errExpiredCode  = errInvalidGrant("authorization code has expired", ReasonTokenExpired)
	errReusedCode   = errInvalidGrant("authorization code was already used; the tokens issued for it are revoked", ReasonTokenReused)
	errBadVerifier  = errInvalidGrant("code_verifier does not match the code_challenge", ReasonBadCredentials)
	errNoVerifier   = errInvalidGrant("code_verifier is required (PKCE, RFC 7636)", ReasonMissing)
	errCodeRedirect = errInvalidGrant("redirect_uri does not match the authorization request", ReasonNone)
)

// grantAuthorizationCode is RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6).
// The code is checked against everything it is bound to before it is
// spent, so that another client's or a forged request does not burn the
// rightful client's code; then its redemption is counted atomically, and
// only the first counted redemption issues tokens. A code presented again
// revokes the family its first use issued (RFC 6749 §4.1.2).
func (s *Service) grantAuthorizationCode(ctx context.Context, c *store.Client, r *TokenRequest, p *Profile) (*TokenResponse, error) {
	if r.Code == "" {
		return nil, ErrMissing("code")
	}
	if r.RedirectURI == "" {
		return nil, ErrMissing("redirect_uri")
	}
	if r.CodeVerifier == "" {
		return nil, errNoVerifier
	}
	if !validVerifier(r.CodeVerifier) {
		return nil, errInvalidParam("code_verifier", "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
	}
	if len(r.Code) > maxCredentialLen {
		return nil, errBadCode
	}
	h := secret.Hash(r.Code)
	code, err := s.store.GetAuthCode(ctx, h)
	if err != nil {
		return nil, s.storeErr(err, errBadCode)
	}
	if code.Redemptions > 0 {
		return nil, s.codeReused(ctx, c, code)
	}
	if code.ClientID != c.ID {
		return nil, errBadCode // another client's code: as unknown
	}
	if code.RedirectURI != r.RedirectURI {
		return nil, errCodeRedirect
	}
	now := s.now()
	if !now.Before(code.ExpiresAt) {
		return nil, errExpiredCode
	}
	if subtle.ConstantTimeCompare([]byte(S256(r.CodeVerifier)), []byte(code.Challenge)) != 1 {
		return nil, errBadVerifier
	}
	code, err = s.store.RedeemAuthCode(context.WithoutCancel(ctx), h)
	if err != nil {
		return nil, s.storeErr(err, errBadCode)
	}
	if code.Redemptions != 1 {
		// A concurrent redemption was counted first.
		return nil, s.codeReused(ctx, c, code)
	}
	u, err := s.store.GetUser(ctx, code.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, s.storeErr(err, errServer(err))
	}
	if err != nil || u.Disabled || u.CreatedAt.After(code.AuthTime) || u.NotBefore.After(code.AuthTime) {
		return nil, errInvalidGrant("the user may no longer sign in", ReasonTokenRevoked)
	}
	resp, err := s.issueFamily(ctx, c, code.Username, code.Scopes, contains(c.Grants, GrantRefreshToken), p, markIDTokenFamily(audExtra(r), code.Scopes), code.FamilyID, code.AuthTime)
	if err != nil {
		return nil, err
	}
	// A second use that came while the tokens were issued found no family
	// to revoke yet: look again, now that the family exists, and revoke
	// it. The answer stands, as if the uses had come one after the other:
	// this one first, with tokens that the next one revoked.
	if again, gerr := s.store.GetAuthCode(context.WithoutCancel(ctx), h); gerr == nil && again.Redemptions > 1 {
		_ = s.codeReused(ctx, c, again)
	}
	resp.Code = &CodeGrant{Subject: code.Username, Scopes: code.Scopes, Nonce: code.Nonce, AuthTime: code.AuthTime, SessionID: code.SessionID}
	if err := s.codeIDToken(ctx, c, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// codeReused answers a code presented again: the family its first use
// issued is revoked, whoever presents it (RFC 6749 §4.1.2, RFC 9700
// §4.5.3: a replayed code may be stolen).
func (s *Service) codeReused(ctx context.Context, c *store.Client, code store.AuthCode) error {
	if code.Redemptions < 2 {
		// Count this use too, so that a first redemption still issuing
		// sees it when it looks again.
		if _, err := s.store.RedeemAuthCode(context.WithoutCancel(ctx), code.Hash); err != nil && !errors.Is(err, store.ErrNotFound) {
			return s.storeErr(err, errServer(err))
		}
	}
	if err := s.store.RevokeFamily(context.WithoutCancel(ctx), code.FamilyID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return s.storeErr(err, errServer(err))
	}
	s.log.Warn("authorization code reuse detected; its tokens are revoked", "client_id", c.ID, "code_client_id", code.ClientID, "family", code.FamilyID)
	return errReusedCode
}
