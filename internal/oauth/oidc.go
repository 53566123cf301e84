package oauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/reqinfo"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/token"
)

// OpenID Connect scopes (OIDC Core §3.1.2.1, §5.4).
const (
	// ScopeOpenID makes a request an OpenID Connect one: the token
	// response of the authorization code grant then carries an ID token.
	ScopeOpenID = "openid"
	// ScopeProfile adds preferred_username to the userinfo answer.
	ScopeProfile = "profile"
)

// IDTokenTTL is the longest lifetime of an ID token: it is proof of a
// login for the client to check at once, not a credential to keep. It is
// shortened to the server's access token lifetime when that is shorter.
const IDTokenTTL = 5 * time.Minute

// ID token claims the core sets beyond the registered ones.
const (
	ClaimAuthTime = "auth_time"
	ClaimNonce    = "nonce"
)

// FamilyIDToken is the key of store.Family.Extra that marks a session
// whose refreshes also return a fresh ID token (a login of the
// authorization code grant with the openid scope); its value is the
// client's ID token algorithm ("" allowed). Set it in the extra map given
// to the code grant's issue.
const FamilyIDToken = "id_token"

// IDTokenSigner signs OpenID Connect ID tokens; *token.Manager implements
// it.
type IDTokenSigner interface {
	// SignIDToken signs c with the key for alg ("" the ID token key),
	// adding at_hash of accessToken when it is not empty, and returns the
	// token and the algorithm used.
	SignIDToken(c token.Claims, alg, accessToken string) (string, string, error)
	// IDTokenAlgorithms lists the algorithms SignIDToken can use, the
	// default first.
	IDTokenAlgorithms() []string
}

// IDTokenRequest is what an ID token says (OIDC Core §2). The core
// fills iss, iat and exp.
type IDTokenRequest struct {
	// Subject is the user, as the access tokens name them (sub).
	Subject string
	// ClientID is the client the token is for: its only audience (aud).
	ClientID string
	// AuthTime is when the user authenticated (auth_time); zero leaves it out.
	AuthTime time.Time
	// Nonce is the authorization request's nonce, echoed; "" leaves it out
	// (as on refresh, OIDC Core §12.2).
	Nonce string
	// AccessToken, when set, is bound to the ID token by at_hash.
	AccessToken string
	// SessionID is the login session (sid), when there is one.
	SessionID string
	// Algorithm is the client's id_token_signed_response_alg; "" means
	// the ID token key's (RS256).
	Algorithm string
}

// errNoIDTokens means the service has no ID token signer.
var errNoIDTokens = errors.New("oauth: no ID token signer configured")

// IDTokenAlgorithms lists the algorithms ID tokens may be signed with,
// the default first; nil when the service issues no ID tokens.
func (s *Service) IDTokenAlgorithms() []string {
	if s.idSigner == nil {
		return nil
	}
	return s.idSigner.IDTokenAlgorithms()
}

// IssueIDToken mints an ID token (OIDC Core §2, §3.1.3.6) for r.
func (s *Service) IssueIDToken(_ context.Context, r IDTokenRequest) (string, error) {
	if s.idSigner == nil {
		return "", errNoIDTokens
	}
	if r.Subject == "" || r.ClientID == "" {
		return "", errors.New("oauth: an ID token needs a subject and a client")
	}
	now := s.now()
	ttl := min(IDTokenTTL, s.settings.AccessTokenTTL)
	c := token.Claims{
		Issuer: s.settings.Issuer, Subject: r.Subject, Audience: []string{r.ClientID},
		IssuedAt: now, ExpiresAt: now.Add(ttl),
	}
	extra := make(map[string]any, 3)
	if !r.AuthTime.IsZero() {
		extra[ClaimAuthTime] = r.AuthTime.Unix()
	}
	if r.Nonce != "" {
		extra[ClaimNonce] = r.Nonce
	}
	if r.SessionID != "" {
		extra[ClaimSession] = r.SessionID
	}
	if len(extra) > 0 {
		c.Extra = extra
	}
	raw, _, err := s.idSigner.SignIDToken(c, r.Algorithm, r.AccessToken)
	if err != nil {
		return "", fmt.Errorf("oauth: signing ID token: %w", err)
	}
	return raw, nil
}

// AttachIDToken adds an ID token to resp when the granted scope contains
// openid: the hook of the grants that sign users in with OpenID Connect
// (the authorization code grant, and refreshes of its sessions).
func (s *Service) AttachIDToken(ctx context.Context, resp *TokenResponse, r IDTokenRequest) error {
	if !contains(ParseScope(resp.Scope), ScopeOpenID) {
		return nil
	}
	r.AccessToken = resp.AccessToken
	raw, err := s.IssueIDToken(ctx, r)
	if err != nil {
		return errServer(err)
	}
	resp.IDToken = raw
	return nil
}

// codeIDToken is the OpenID Connect hook of the authorization code grant
// (OIDC Core §3.1.3.3): with the openid scope, the token response gets an
// ID token for the redeemed authorization, with its nonce, auth_time and
// session, bound to the access token by at_hash.
func (s *Service) codeIDToken(ctx context.Context, c *store.Client, resp *TokenResponse) error {
	g := resp.Code
	if g == nil {
		return nil
	}
	return s.AttachIDToken(ctx, resp, IDTokenRequest{Subject: g.Subject, ClientID: c.ID, AuthTime: g.AuthTime, Nonce: g.Nonce, SessionID: g.SessionID})
}

// markIDTokenFamily marks the family of an OpenID Connect login
// (FamilyIDToken), so that its refreshes return fresh ID tokens too.
func markIDTokenFamily(extra map[string]string, scopes []string) map[string]string {
	if !contains(scopes, ScopeOpenID) {
		return extra
	}
	out := make(map[string]string, len(extra)+1)
	for k, v := range extra {
		out[k] = v
	}
	out[FamilyIDToken] = ""
	return out
}

// refreshIDToken adds a fresh ID token to the answer of a refresh of an
// OpenID Connect login (OIDC Core §12.2): same subject, audience and
// auth_time, no nonce, bound to the new access token. A refresh that
// narrowed the scope without openid gets none.
func (s *Service) refreshIDToken(ctx context.Context, c *store.Client, fam store.Family, resp *TokenResponse) error {
	if _, ok := fam.Extra[FamilyIDToken]; !ok {
		return nil
	}
	return s.AttachIDToken(ctx, resp, IDTokenRequest{Subject: fam.Subject, ClientID: c.ID, AuthTime: fam.AuthTime, Algorithm: fam.Extra[FamilyIDToken]})
}

// UserInfo is the answer of the userinfo endpoint (OIDC Core §5.3): the
// subject, and preferred_username with the profile scope. Nothing else is
// claimed: tokengate knows no names, emails or pictures.
type UserInfo struct {
	Subject           string `json:"sub"`
	PreferredUsername string `json:"preferred_username,omitempty"`
}

// UserInfo answers the userinfo endpoint for a bearer access token
// (RFC 6750): the token must verify (signature, issuer, expiry), be
// active as introspection decides (not revoked, its session alive, its
// user existing, enabled and not signed out since), name a user rather
// than a client, and carry the openid scope. Errors are invalid_token,
// insufficient_scope, or 5xx when the store fails.
func (s *Service) UserInfo(ctx context.Context, raw string) (*UserInfo, error) {
	if raw == "" || len(raw) > maxCredentialLen || !validText(raw) || !looksLikeJWT(raw) {
		return nil, errInvalidToken("the access token is invalid")
	}
	st, stErr := store.AccessState{}, error(nil)
	cl, err := s.signer.VerifyFreshWith(ctx, raw, token.VerifyOptions{Issuer: s.settings.Issuer, Type: token.TypeAccess, Now: s.now()}, s.readAccessState(&st, &stErr))
	switch {
	case stErr != nil:
		return nil, s.storeErr(stErr, errServer(stErr))
	case errors.Is(err, token.ErrExpired):
		return nil, errInvalidToken("the access token has expired")
	case err != nil:
		return nil, errInvalidToken("the access token is invalid")
	}
	if !accessActive(cl, st) {
		return nil, errInvalidToken("the access token has been revoked")
	}
	// The token's client, for the access log and for CORS: a browser
	// client reads the answer from the origins it registered.
	reqinfo.SetClient(ctx, cl.ClientID)
	if cl.Subject == cl.ClientID || !st.UserExists {
		return nil, errInvalidToken("the access token does not identify a user")
	}
	scopes := strings.Fields(cl.Scope)
	if !contains(scopes, ScopeOpenID) {
		return nil, errInsufficientScope(ScopeOpenID)
	}
	out := &UserInfo{Subject: cl.Subject}
	if contains(scopes, ScopeProfile) {
		out.PreferredUsername = cl.Subject
	}
	return out, nil
}
