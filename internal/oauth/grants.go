package oauth

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/token"
)

// maxCredentialLen bounds usernames, passwords and tokens before any work
// is done on them.
const maxCredentialLen = 4096

var errBadCredentials = &Error{Code: CodeInvalidGrant, Description: "invalid username or password", Status: http.StatusBadRequest, Reason: ReasonBadCredentials}

// grantPassword is the resource owner password credentials grant
// (RFC 6749 §4.3). Unknown users, disabled users and wrong passwords all
// cost one verification (argon2id; for a user imported with another
// system's hash, that format's until the first login) and get the same
// answer.
func (s *Service) grantPassword(ctx context.Context, c *store.Client, r *TokenRequest, p *Profile) (*TokenResponse, error) {
	if r.Username == "" {
		return nil, ErrMissing("username")
	}
	if r.Password == "" {
		return nil, ErrMissing("password")
	}
	if len(r.Username) > maxCredentialLen || len(r.Password) > maxCredentialLen {
		return nil, errBadCredentials
	}
	u, err := s.CheckPassword(ctx, r.Username, r.Password, r.RemoteIP)
	if err != nil {
		return nil, err
	}
	scopes, oerr := resolveScopes(r.Scope, r.ScopeGiven, c.Scopes, nilIfEmpty(u.Scopes))
	if oerr == nil {
		scopes, oerr = s.limitAdmin(c, scopes, r.ScopeGiven && strings.TrimSpace(r.Scope) != "")
	}
	if oerr != nil {
		return nil, oerr
	}
	return s.issue(ctx, c, u.Username, scopes, contains(c.Grants, GrantRefreshToken), p, audExtra(r))
}

// SignIn checks a username and password as the password grant does (the
// same bounds, brute-force guard, hashing limit and unknown-user timing),
// for the browser sign-in page. Any failure is an *Error.
func (s *Service) SignIn(ctx context.Context, username, password, ip string) (*store.User, error) {
	if username == "" || password == "" || len(username) > maxCredentialLen || len(password) > maxCredentialLen {
		return nil, errBadCredentials
	}
	return s.CheckPassword(ctx, username, password, ip)
}

// CheckPassword verifies a user's password behind the brute-force guard
// and the hashing limit. Contracts with their own login endpoints call it
// through Login.
func (s *Service) CheckPassword(ctx context.Context, username, password, ip string) (*store.User, error) {
	if !validIdentifier(username) {
		return nil, errBadIdentifier("username")
	}
	if !validText(password) {
		return nil, errBadText("password")
	}
	// The attempt is counted before the password is hashed (SECURITY.md,
	// brute force): concurrency cannot outrun the threshold.
	if err := s.guard.reserve(ctx, username, ip); err != nil {
		return nil, err
	}
	u, err := s.store.GetUser(ctx, username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.guard.release(ctx, username, ip)
		return nil, s.storeErr(err, errServer(err))
	}
	hash := u.PasswordHash
	if err != nil || u.Disabled {
		hash = "" // verify against the dummy: same work, same answer
	}
	for attempt := 0; ; attempt++ {
		if verr := s.hasher.Verify(ctx, password, hash); verr != nil {
			if errors.Is(verr, secret.ErrBusy) || errors.Is(verr, context.Canceled) || errors.Is(verr, context.DeadlineExceeded) {
				// Nothing was checked: the attempt is taken back.
				s.guard.release(ctx, username, ip)
				return nil, errUnavailable(verr)
			}
			if !errors.Is(verr, secret.ErrMismatch) {
				s.log.Warn("stored password hash unusable", "user", username, "err", verr)
			}
			// The reserved attempt stays counted as this failure.
			return nil, errBadCredentials
		}
		if attempt > 0 || !s.hasher.NeedsRehash(hash) {
			break
		}
		// An imported hash (or argon2id of other parameters) that just
		// verified is replaced by argon2id, only if it is still the hash
		// verified (compare-and-set): a password changed meanwhile is
		// never overwritten.
		cur, changed, oerr := s.upgradeHash(ctx, username, password, hash)
		if oerr != nil {
			s.guard.release(ctx, username, ip)
			return nil, oerr
		}
		if !changed {
			break
		}
		// The hash changed between reading and upgrading: the login
		// stands only if the password matches the stored hash now.
		u = cur
		hash = u.PasswordHash
		if u.Disabled {
			hash = ""
		}
	}
	s.guard.succeed(ctx, username, ip)
	return &u, nil
}

// upgradeHash replaces the verified hash old of username by an argon2id
// hash of password. It reports changed (with the user as stored now)
// when the stored hash was no longer old. A full hashing queue skips the
// upgrade (the next login tries again); a store failure is an error.
func (s *Service) upgradeHash(ctx context.Context, username, password, old string) (store.User, bool, error) {
	nh, err := s.hasher.Hash(ctx, password)
	if err != nil {
		if errors.Is(err, secret.ErrBusy) {
			s.log.Warn("password hash upgrade skipped: hashing queue full", "user", username)
			return store.User{}, false, nil
		}
		return store.User{}, false, errUnavailable(err)
	}
	err = s.store.ReplacePasswordHash(ctx, username, old, nh, s.now())
	if err == nil {
		s.log.Info("password hash upgraded to argon2id", "user", username)
		return store.User{}, false, nil
	}
	if !errors.Is(err, store.ErrStale) && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, false, s.storeErr(err, errServer(err))
	}
	cur, gerr := s.store.GetUser(ctx, username)
	switch {
	case errors.Is(gerr, store.ErrNotFound):
		return store.User{Username: username, Disabled: true}, true, nil // deleted meanwhile: fails as unknown
	case gerr != nil:
		return store.User{}, false, s.storeErr(gerr, errServer(gerr))
	}
	return cur, true, nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// grantClientCredentials is RFC 6749 §4.4: a confidential client acts on
// its own behalf. No refresh token is issued (§4.4.3).
func (s *Service) grantClientCredentials(ctx context.Context, c *store.Client, r *TokenRequest, p *Profile) (*TokenResponse, error) {
	if c.Public {
		return nil, errUnauthorizedClient("public clients may not use client_credentials")
	}
	scopes, err := resolveScopes(r.Scope, r.ScopeGiven, c.Scopes, nil)
	if err != nil {
		return nil, err
	}
	return s.issue(ctx, c, c.ID, scopes, false, p, audExtra(r))
}

// grantRefresh is RFC 6749 §6 with rotation and reuse detection
// (RFC 9700 §4.14.2).
func (s *Service) grantRefresh(ctx context.Context, c *store.Client, r *TokenRequest, p *Profile) (*TokenResponse, error) {
	if r.RefreshToken == "" {
		return nil, ErrMissing("refresh_token")
	}
	return s.Refresh(ctx, c, r.RefreshToken, r.Scope, r.ScopeGiven, p)
}

var (
	errUnknownRefresh = errInvalidGrant("refresh token is invalid", ReasonUnknownToken)
	errExpiredRefresh = errInvalidGrant("refresh token has expired", ReasonTokenExpired)
	errReusedRefresh  = errInvalidGrant("refresh token was already used; the session is revoked", ReasonTokenReused)
	errRevokedRefresh = errInvalidGrant("refresh token has been revoked", ReasonTokenRevoked)
)

// Refresh exchanges a refresh token of client c for new tokens.
func (s *Service) Refresh(ctx context.Context, c *store.Client, raw, scope string, scopeGiven bool, p *Profile) (*TokenResponse, error) {
	tok, fam, err := s.loadRefresh(ctx, raw, p)
	if err != nil {
		return nil, err
	}
	return s.refreshLoaded(ctx, c, tok, fam, scope, scopeGiven, p)
}

// loadRefresh reads a presented refresh token and its family (one round
// trip). A token of a JWT family must also prove it was issued here and
// for refresh.
func (s *Service) loadRefresh(ctx context.Context, raw string, p *Profile) (store.RefreshToken, store.Family, error) {
	if len(raw) > maxCredentialLen || !validText(raw) {
		return store.RefreshToken{}, store.Family{}, errUnknownRefresh
	}
	tok, fam, err := s.store.GetRefresh(ctx, secret.Hash(raw))
	if err != nil {
		return store.RefreshToken{}, store.Family{}, s.storeErr(err, errUnknownRefresh)
	}
	if familyJWT(fam, p) {
		if _, err := s.signer.VerifyFresh(ctx, raw, token.VerifyOptions{Issuer: s.settings.Issuer, Type: token.TypeJWT, Now: s.now()}); err != nil {
			if errors.Is(err, token.ErrExpired) {
				return store.RefreshToken{}, store.Family{}, errExpiredRefresh
			}
			return store.RefreshToken{}, store.Family{}, errUnknownRefresh
		}
	}
	return tok, fam, nil
}

// maxRefreshAttempts bounds how often one refresh request decides again
// after losing a compare-and-set. A loss means the family moved on, so the
// second decision is almost always final (reuse or revoked).
const maxRefreshAttempts = 3

// errRefreshOutcomeUnknown answers a refresh whose rotation storage did
// not confirm either way (SECURITY.md, "Refresh under faults").
var errRefreshOutcomeUnknown = &Error{Code: CodeTemporarilyUnavailable, Status: http.StatusServiceUnavailable,
	Description: "storage did not confirm the refresh, which may have taken effect: retry once with the same refresh token", RetryAfter: time.Second}

// refreshLoaded runs the refresh grant on a token and family already read:
// DecideRefresh decides, the store persists the outcome with a
// compare-and-set on the generation read, and a lost compare-and-set
// reads again and decides again.
func (s *Service) refreshLoaded(ctx context.Context, c *store.Client, tok store.RefreshToken, fam store.Family, scope string, scopeGiven bool, p *Profile) (*TokenResponse, error) {
	for attempt := 1; ; attempt++ {
		now := s.now()
		out := DecideRefresh(RefreshInput{Token: tok, Family: fam, ClientID: c.ID, ReuseInterval: c.RefreshReuseInterval, Rotate: FamilyRotates(fam, p), Now: now})
		switch out {
		case RefreshWrongClient:
			// Not this client's token (RFC 6749 §6): answer as for an unknown one.
			return nil, errUnknownRefresh
		case RefreshRevoked:
			return nil, errRevokedRefresh
		case RefreshExpired:
			return nil, errExpiredRefresh
		case RefreshUserInactive:
			return nil, errInvalidGrant("the user may no longer log in", ReasonTokenRevoked)
		case RefreshReuse:
			if err := s.store.RevokeFamily(context.WithoutCancel(ctx), fam.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, s.storeErr(err, errServer(err))
			}
			s.log.Warn("refresh token reuse detected; family revoked", "client_id", c.ID, "family", fam.ID)
			return nil, errReusedRefresh
		}
		scopes, oerr := narrowScopes(scope, scopeGiven, fam.Scopes)
		if oerr != nil {
			return nil, oerr
		}
		// Everything that can fail is done before the commit, so that a
		// committed rotation is always answered with its tokens.
		at, exp, err := s.signAccess(c, fam.Subject, scopes, fam.Extra["aud"], fam.ID, now, p)
		if err != nil {
			return nil, errServer(err)
		}
		resp := &TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(exp.Sub(now) / time.Second), Scope: joinScopes(scopes), ExpiresAt: exp}
		if err := s.refreshIDToken(ctx, c, fam, resp); err != nil {
			return nil, err
		}
		if out == RefreshKeep {
			return resp, nil
		}
		if p.NoRefresh {
			// This route cannot hand out the new refresh token: rotating
			// here would strand the client with a dead one.
			return nil, errInvalidGrant("this session's refresh tokens rotate; refresh at an endpoint that returns a new refresh token", ReasonNone)
		}
		rexp := now.Add(s.refreshTTL(c))
		newRT, err := s.newRefreshValue(c, fam.Subject, now, rexp, familyJWT(fam, p), p)
		if err != nil {
			return nil, errServer(err)
		}
		newHash := secret.Hash(newRT)
		// The write is not abandoned when the client goes away: the
		// store bounds it with its own timeout.
		err = s.store.AdvanceFamily(context.WithoutCancel(ctx), store.Advance{FamilyID: fam.ID, Generation: fam.Generation, NewHash: newHash, Now: now, ExpiresAt: rexp})
		switch {
		case err == nil:
			resp.RefreshToken = newRT
			return resp, nil
		case errors.Is(err, store.ErrStale) && attempt < maxRefreshAttempts:
			if tok, fam, err = s.store.GetRefresh(ctx, tok.Hash); err != nil {
				return nil, s.storeErr(err, errUnknownRefresh)
			}
			continue
		case errors.Is(err, store.ErrStale):
			return nil, errUnavailable(err)
		case errors.Is(err, store.ErrConflict):
			return nil, errServer(err)
		}
		// The outcome is unknown (a timeout, a lost connection): ask the
		// store whether the new token landed. If it did, the rotation
		// committed and is answered as a success, however late.
		if t2, _, gerr := s.store.GetRefresh(context.WithoutCancel(ctx), newHash); gerr == nil && t2.FamilyID == fam.ID {
			s.log.Warn("refresh committed although storage reported an error", "client_id", c.ID, "family", fam.ID, "err", err)
			resp.RefreshToken = newRT
			return resp, nil
		}
		s.log.Warn("refresh outcome unknown", "client_id", c.ID, "family", fam.ID, "err", err)
		e := *errRefreshOutcomeUnknown
		e.Cause = err
		return nil, &e
	}
}

// RefreshAsBearer refreshes with the refresh token as the only
// credential. Contracts whose refresh endpoints carry no client
// authentication (a JSON body or an Authorization: Bearer header with the
// refresh token alone) use it, on routes that declare it (p.RefreshWithoutClientAuth)
// and only for sessions of the route's public default client: a
// confidential client's session needs that client's credentials
// (RFC 6749 §6), so it is invalid_client here.
func (s *Service) RefreshAsBearer(ctx context.Context, raw, scope string, scopeGiven bool, p *Profile) (*TokenResponse, error) {
	if raw == "" {
		return nil, ErrMissing("refresh_token")
	}
	if !p.RefreshWithoutClientAuth || p.DefaultClient == "" {
		return nil, errInvalidClient(false)
	}
	tok, fam, err := s.loadRefresh(ctx, raw, p)
	if err != nil {
		return nil, err
	}
	if fam.ClientID != p.DefaultClient {
		return nil, errInvalidClient(false)
	}
	c, err := s.getClient(ctx, fam.ClientID)
	if err != nil {
		return nil, s.storeErr(err, errRevokedRefresh)
	}
	if !c.Public {
		return nil, errInvalidClient(false)
	}
	if !contains(c.Grants, GrantRefreshToken) {
		return nil, errUnauthorizedClient("the client may not use this grant type")
	}
	return s.refreshLoaded(ctx, &c, tok, fam, scope, scopeGiven, p)
}

// grantAPIKey exchanges an API key for an access token with the key's
// scopes. No refresh token: the key itself is the long-lived credential.
func (s *Service) grantAPIKey(ctx context.Context, c *store.Client, r *TokenRequest, p *Profile) (*TokenResponse, error) {
	if r.APIKey == "" {
		return nil, ErrMissing("api_key")
	}
	sub, scopes, err := s.CheckAPIKey(ctx, r.APIKey, r.RemoteIP)
	if err != nil {
		return nil, err
	}
	// key ∩ owner (CheckAPIKey) ∩ client ∩ request: a key never widens
	// what its owner or the exchanging client may have; admin scopes only
	// for clients allowed them.
	granted, oerr := resolveScopes(r.Scope, r.ScopeGiven, c.Scopes, scopes)
	if oerr == nil {
		granted, oerr = s.limitAdmin(c, granted, r.ScopeGiven && strings.TrimSpace(r.Scope) != "")
	}
	if oerr != nil {
		return nil, oerr
	}
	return s.issue(ctx, c, sub, granted, false, p, audExtra(r))
}

var errBadKey = &Error{Code: CodeInvalidGrant, Description: "invalid API key", Status: http.StatusBadRequest, Reason: ReasonBadCredentials}

// CheckAPIKey authenticates an API key and returns its owner and the
// scopes it may grant now: the key's, within its owner's current scopes
// (a user's, when the user has a list; the owning client's). The result
// is never nil. Unknown, revoked, expired and malformed keys fail alike.
func (s *Service) CheckAPIKey(ctx context.Context, key, ip string) (string, []string, error) {
	if len(key) > maxCredentialLen || key == "" || !validText(key) || !secret.APIKeyPlausible(key) {
		return "", nil, errBadKey
	}
	if err := s.guard.check(ctx, "", ip); err != nil {
		return "", nil, err
	}
	k, err := s.store.GetAPIKeyByHash(ctx, secret.Hash(key))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.guard.fail(ctx, "", ip)
		}
		return "", nil, s.storeErr(err, errBadKey)
	}
	now := s.now()
	if !k.RevokedAt.IsZero() || (!k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)) {
		s.guard.fail(ctx, "", ip)
		return "", nil, errBadKey
	}
	subject := k.ClientID
	scopes := append([]string{}, k.Scopes...)
	if k.Username != "" {
		u, err := s.store.GetUser(ctx, k.Username)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", nil, s.storeErr(err, errServer(err))
		}
		if err != nil || u.Disabled {
			return "", nil, errBadKey
		}
		subject = u.Username
		if len(u.Scopes) > 0 {
			scopes = intersect(scopes, u.Scopes)
		}
	} else {
		owner, err := s.getClient(ctx, k.ClientID)
		if err != nil {
			return "", nil, s.storeErr(err, errBadKey)
		}
		scopes = intersect(scopes, owner.Scopes)
	}
	// Last use is recorded at minute precision: one write per key per
	// minute, not one per exchange.
	if now.Sub(k.LastUsedAt) >= time.Minute {
		if err := s.store.TouchAPIKey(ctx, k.ID, now); err != nil {
			s.log.Warn("recording API key use failed", "key_id", k.ID, "err", err)
		}
	}
	return subject, scopes, nil
}

func joinScopes(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	n := len(s) - 1
	for _, x := range s {
		n += len(x)
	}
	b := make([]byte, 0, n)
	for i, x := range s {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, x...)
	}
	return string(b)
}

// audExtra carries the audience a request asked for (already checked by
// Service.target in Token) into the token and its family.
func audExtra(r *TokenRequest) map[string]string {
	if aud := cmp.Or(r.Resource, r.Audience); aud != "" {
		return map[string]string{"aud": aud}
	}
	return nil
}
