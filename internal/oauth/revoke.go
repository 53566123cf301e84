package oauth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/token"
)

// looksLikeJWT reports whether s has the three-part compact shape.
func looksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 }

// Revoke implements RFC 7009 for an authenticated client: a refresh token
// (the live one or any ancestor: each is verified before its family is
// read) revokes its whole family; an access token's jti is denied until it
// expires. Unknown tokens, and tokens of other clients, are ignored (the
// answer is the same 200), so revocation reveals nothing.
func (s *Service) Revoke(ctx context.Context, c *Client, raw string) error {
	if raw == "" {
		return ErrMissing("token")
	}
	if len(raw) > maxCredentialLen || !validText(raw) {
		return nil
	}
	pr, err := s.readRefresh(ctx, raw, &Profile{})
	switch {
	case err == nil:
		if pr.fam.ClientID != c.ID() {
			return nil
		}
		if err := s.store.RevokeFamily(ctx, pr.fam.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return s.storeErr(err, errServer(err))
		}
		return nil
	case !errors.Is(err, errNotRefresh):
		return s.storeErr(err, errServer(err))
	}
	if !looksLikeJWT(raw) {
		return nil
	}
	cl, err := s.signer.VerifyFresh(ctx, raw, token.VerifyOptions{Issuer: s.settings.Issuer, Type: token.TypeAccess, Now: s.now()})
	if err != nil || cl.ClientID != c.ID() || cl.ID == "" {
		return nil
	}
	if err := s.store.DenyAccessToken(ctx, cl.ID, cl.ExpiresAt); err != nil {
		return s.storeErr(err, errServer(err))
	}
	return nil
}

// CanIntrospect decides whether an authenticated client may introspect
// (RFC 7662 §2.1): never a public client, whose client_id is no
// credential (401 invalid_client, so that introspection is no token
// scanner), nor a confidential client whose introspect permission is off.
func (c *Client) CanIntrospect() error {
	if c.rec.Public {
		return errInvalidClient()
	}
	if c.rec.NoIntrospect {
		return &Error{Code: CodeUnauthorizedClient, Description: "the client may not introspect tokens", Reason: ReasonForbidden}
	}
	return nil
}

// Introspection is the answer of RFC 7662 §2.2.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
}

// Introspect implements RFC 7662 for an authenticated client. Revoked,
// expired, rotated and unknown tokens are inactive.
func (s *Service) Introspect(ctx context.Context, raw string) (*Introspection, error) {
	if raw == "" {
		return nil, ErrMissing("token")
	}
	inactive := &Introspection{}
	if len(raw) > maxCredentialLen || !validText(raw) {
		return inactive, nil
	}
	now := s.now()
	// A signed access token is checked first: it is never a stored
	// refresh token (JWT refresh tokens are typed JWT, not at+jwt), so
	// the refresh look-up's round trip is saved on the common case.
	if looksLikeJWT(raw) {
		if out, ok, err := s.introspectAccess(ctx, raw, now); ok || err != nil {
			return out, err
		}
	}
	pr, err := s.readRefresh(ctx, raw, &Profile{})
	switch {
	case err == nil:
		tok, fam := pr.tok, pr.fam
		if fam.Revoked || tok.Generation != fam.Generation || !now.Before(tok.ExpiresAt) || !fam.SubjectActive ||
			(!pr.stored && !hashEqual(tok.Hash, fam.Hash)) {
			return inactive, nil
		}
		if tok.IssuedAt.IsZero() {
			// A token of the current form carries no issue time; its
			// generation was issued when the family last rotated.
			tok.IssuedAt = fam.AuthTime
			if !fam.RotatedAt.IsZero() {
				tok.IssuedAt = fam.RotatedAt
			}
		}
		out := &Introspection{Active: true, Scope: joinScopes(fam.Scopes), ClientID: fam.ClientID, TokenType: "refresh_token",
			Exp: tok.ExpiresAt.Unix(), Iat: tok.IssuedAt.Unix(), Sub: fam.Subject, Iss: s.settings.Issuer}
		if fam.Subject != fam.ClientID {
			out.Username = fam.Subject
		}
		return out, nil
	case !errors.Is(err, errNotRefresh):
		return nil, s.storeErr(err, errServer(err))
	}
	return inactive, nil
}

// introspectAccess introspects raw as a signed access token; ok is false
// when it does not verify as one.
func (s *Service) introspectAccess(ctx context.Context, raw string, now time.Time) (*Introspection, bool, error) {
	st, stErr := store.AccessState{}, error(nil)
	cl, err := s.signer.VerifyFreshWith(ctx, raw, token.VerifyOptions{Issuer: s.settings.Issuer, Type: token.TypeAccess, Now: now}, s.readAccessState(&st, &stErr))
	if stErr != nil {
		return nil, true, s.storeErr(stErr, errServer(stErr))
	}
	if errors.Is(err, token.ErrUnknownKey) && st.KeyRevoked {
		// Signed by a revoked key: an access token, inactive.
		return &Introspection{}, true, nil
	}
	if err != nil {
		return nil, false, nil
	}
	if !accessActive(cl, st) {
		return &Introspection{}, true, nil
	}
	out := &Introspection{Active: true, Scope: cl.Scope, ClientID: cl.ClientID, TokenType: "Bearer",
		Exp: cl.ExpiresAt.Unix(), Iat: cl.IssuedAt.Unix(), Sub: cl.Subject, Aud: cl.Audience, Iss: cl.Issuer, Jti: cl.ID}
	if !cl.NotBefore.IsZero() {
		out.Nbf = cl.NotBefore.Unix()
	}
	if cl.Subject != cl.ClientID {
		out.Username = cl.Subject
	}
	return out, true, nil
}

// readAccessState is the key-revocation check of VerifyFreshWith for an
// access token: it reads, in one statement, the signing key's revocation
// with everything accessActive decides on, into st (a store error into
// stErr).
func (s *Service) readAccessState(st *store.AccessState, stErr *error) func(context.Context, token.Claims, string) (bool, error) {
	return func(ctx context.Context, cl token.Claims, kid string) (bool, error) {
		sid, _ := cl.Extra[ClaimSession].(string)
		*st, *stErr = s.store.AccessState(ctx, store.AccessQuery{JTI: cl.ID, FamilyID: sid, Subject: cl.Subject, ClientID: cl.ClientID, KeyID: kid})
		return st.KeyRevoked, *stErr
	}
}

// accessActive decides whether a verified, unexpired access token is still
// active: not denied, its family (sid) not revoked, the client it was
// issued to still exists and was created before the token (a token of a
// deleted client does not come back with a new client of the same id),
// and, for a user's token, the user exists, is enabled, and ended no
// sessions after the token was issued. iat has whole seconds, so a token
// is compared with the second the user's sessions ended or the client was
// created: one issued within that same second stays active unless its
// family was revoked (SECURITY.md).
func accessActive(cl token.Claims, st store.AccessState) bool {
	if st.Denied || st.FamilyRevoked {
		return false
	}
	iat := cl.IssuedAt
	if !st.TokenClientExists || iat.Before(st.TokenClientCreatedAt.Truncate(time.Second)) {
		// Deleting a compromised client ends what was issued to it.
		return false
	}
	if cl.Subject == cl.ClientID && !st.UserExists {
		// A client's own token. When a user has the client's name too
		// (made before such overlaps were refused), the token is judged
		// as that user's: fail closed.
		return true
	}
	if !st.UserExists {
		// A deleted user's tokens die with it; a subject that is a client
		// (a client's API key exchanged by another client) is not a user.
		return st.ClientExists
	}
	if st.UserDisabled {
		return false
	}
	return !iat.Before(st.UserNotBefore.Truncate(time.Second)) && !iat.Before(st.UserCreatedAt.Truncate(time.Second))
}
