package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
)

// GrantDeviceCode is the RFC 8628 device authorization grant.
const GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// Device flow parameters.
const (
	// DefaultDeviceCodeTTL is how long a device code and its user code
	// live unless Settings.DeviceCodeTTL says otherwise.
	DefaultDeviceCodeTTL = 10 * time.Minute
	// DeviceInterval is the polling interval a client is given; each
	// slow_down adds DeviceSlowDown to it (RFC 8628 §3.5).
	DeviceInterval = 5 * time.Second
	DeviceSlowDown = 5 * time.Second
	// UserCodeAlphabet has no vowels (no words) and no look-alike
	// characters (RFC 8628 §6.1): 20 letters, so an 8-letter code is one
	// of 20^8 ≈ 2.6·10^10.
	UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	// UserCodeLen is the number of letters of a user code.
	UserCodeLen = 8
	// VerificationPath is appended to the issuer for the verification URI.
	VerificationPath = "/device"
)

// User code guessing limits (RFC 8628 §5.1): wrong user codes are counted
// per client IP, per session and per user in the store (so across nodes),
// each reserved before the code is looked up; past the limit within
// UserCodeWindow every entry is refused until the window has passed.
const (
	UserCodeAttempts   = 20
	UserCodeIPAttempts = 100
	UserCodeWindow     = 15 * time.Minute
)

// DeviceRequest is a device authorization request (RFC 8628 §3.1).
type DeviceRequest struct {
	ClientID     string
	ClientSecret string
	BasicAuth    bool
	Scope        string
	ScopeGiven   bool
}

// DeviceResponse is the device authorization response (RFC 8628 §3.2).
type DeviceResponse struct {
	DeviceCode              string
	UserCode                string // formatted XXXX-XXXX
	VerificationURI         string
	VerificationURIComplete string
	ExpiresIn               int64 // seconds
	Interval                int64 // seconds
}

// verificationURI is the page where users enter user codes.
func (s *Service) verificationURI() string {
	if s.settings.VerificationURI != "" {
		return s.settings.VerificationURI
	}
	return strings.TrimSuffix(s.settings.Issuer, "/") + VerificationPath
}

func (s *Service) deviceTTL() time.Duration {
	if s.settings.DeviceCodeTTL > 0 {
		return s.settings.DeviceCodeTTL
	}
	return DefaultDeviceCodeTTL
}

// DeviceAuthorize runs the device authorization endpoint: it
// authenticates the client as the token endpoint does, checks it may use
// the device grant, resolves the scopes and stores a new authorization.
func (s *Service) DeviceAuthorize(ctx context.Context, r *DeviceRequest, p *Profile) (*DeviceResponse, error) {
	if p == nil {
		p = &Profile{}
	}
	if !validText(r.Scope) {
		return nil, errBadText("scope")
	}
	c, err := s.AuthenticateClient(ctx, r.ClientID, r.ClientSecret, r.BasicAuth, p)
	if err != nil {
		return nil, err
	}
	if !contains(c.Grants, GrantDeviceCode) {
		return nil, errUnauthorizedClient("the client may not use the device authorization grant")
	}
	scopes, oerr := resolveScopes(r.Scope, r.ScopeGiven, c.Scopes, nil)
	if oerr == nil {
		scopes, oerr = s.limitAdmin(c, scopes, r.ScopeGiven && strings.TrimSpace(r.Scope) != "")
	}
	if oerr != nil {
		return nil, oerr
	}
	now := s.now()
	ttl := s.deviceTTL()
	// A user code collides with a live one rarely (20^8 codes); a few
	// fresh draws make a collision a non-event.
	for range 5 {
		dc, err := secret.NewToken(s.rand, "tgd_")
		if err != nil {
			return nil, errServer(err)
		}
		uc, err := newUserCode(s.rand)
		if err != nil {
			return nil, errServer(err)
		}
		d := store.DeviceAuthorization{
			DeviceCodeHash: secret.Hash(dc), UserCodeHash: secret.Hash(uc), ClientID: c.ID, Scopes: scopes,
			CreatedAt: now, ExpiresAt: now.Add(ttl), Interval: DeviceInterval, Status: store.DevicePending,
		}
		err = s.store.CreateDeviceAuthorization(ctx, d)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, s.storeErr(err, errServer(err))
		}
		shown := FormatUserCode(uc)
		uri := s.verificationURI()
		return &DeviceResponse{
			DeviceCode: dc, UserCode: shown, VerificationURI: uri,
			VerificationURIComplete: uri + "?user_code=" + url.QueryEscape(shown),
			ExpiresIn:               int64(ttl / time.Second), Interval: int64(DeviceInterval / time.Second),
		}, nil
	}
	return nil, errServer(errors.New("device authorization: no free user code after 5 draws"))
}

// newUserCode draws UserCodeLen letters of UserCodeAlphabet uniformly.
func newUserCode(r io.Reader) (string, error) {
	out := make([]byte, 0, UserCodeLen)
	buf := make([]byte, 2*UserCodeLen)
	for len(out) < UserCodeLen {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("reading random bytes: %w", err)
		}
		for _, b := range buf {
			// Rejection sampling: 240 = 12×20 keeps the draw uniform.
			if b >= 240 || len(out) == UserCodeLen {
				continue
			}
			out = append(out, UserCodeAlphabet[b%20])
		}
	}
	return string(out), nil
}

// FormatUserCode shows a normalised user code as XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != UserCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// NormalizeUserCode turns what a person typed into the stored form:
// upper case, without dashes and white space. ok is false when the result
// cannot be a user code.
func NormalizeUserCode(in string) (string, bool) {
	if len(in) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range in {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\u00a0':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if r > 0x7f || !strings.ContainsRune(UserCodeAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != UserCodeLen {
		return "", false
	}
	return b.String(), true
}

// DevicePollOutcome is what a device code poll does, as DecideDevicePoll
// decides it.
type DevicePollOutcome int

// The outcomes of a poll.
const (
	// DeviceWrongClient: the code was issued to another client; answered
	// as an unknown code, nothing changes.
	DeviceWrongClient DevicePollOutcome = iota + 1
	// DeviceExpired: expired_token.
	DeviceExpired
	// DeviceUsed: the tokens were collected already: invalid_grant.
	DeviceUsed
	// DeviceDeniedByUser: access_denied.
	DeviceDeniedByUser
	// DeviceTooFast: slow_down; the interval grows by DeviceSlowDown.
	DeviceTooFast
	// DeviceStillPending: authorization_pending.
	DeviceStillPending
	// DeviceRedeem: approved; this poll collects the tokens.
	DeviceRedeem
)

// DecideDevicePoll decides a poll of authorization d by client clientID
// at now. Expiry is inclusive.
func DecideDevicePoll(d store.DeviceAuthorization, clientID string, now time.Time) DevicePollOutcome {
	switch {
	case d.ClientID != clientID:
		return DeviceWrongClient
	case d.Status == store.DeviceRedeemed:
		return DeviceUsed
	case !now.Before(d.ExpiresAt):
		return DeviceExpired
	case d.Status == store.DeviceDenied:
		return DeviceDeniedByUser
	case d.Status == store.DeviceApproved:
		return DeviceRedeem
	case !d.LastPollAt.IsZero() && now.Sub(d.LastPollAt) < d.Interval:
		return DeviceTooFast
	}
	return DeviceStillPending
}

var errUnknownDeviceCode = errInvalidGrant("device code is invalid", ReasonUnknownToken)

// maxDeviceAttempts bounds how often one poll decides again after losing
// a compare-and-set to a concurrent poll or decision.
const maxDeviceAttempts = 3

// grantDeviceCode is the token endpoint's side of RFC 8628 (§3.4, §3.5):
// the client polls with its device code until the user has decided.
func (s *Service) grantDeviceCode(ctx context.Context, c *store.Client, r *TokenRequest, p *Profile) (*TokenResponse, error) {
	if r.DeviceCode == "" {
		return nil, ErrMissing("device_code")
	}
	if len(r.DeviceCode) > maxCredentialLen {
		return nil, errUnknownDeviceCode
	}
	h := secret.Hash(r.DeviceCode)
	d, err := s.store.GetDeviceAuthorization(ctx, h)
	if err != nil {
		return nil, s.storeErr(err, errUnknownDeviceCode)
	}
	for attempt := 1; ; attempt++ {
		now := s.now()
		next := d
		var answer *Error
		switch DecideDevicePoll(d, c.ID, now) {
		case DeviceWrongClient:
			return nil, errUnknownDeviceCode
		case DeviceUsed:
			return nil, errInvalidGrant("device code was already used", ReasonTokenReused)
		case DeviceExpired:
			return nil, errExpiredToken()
		case DeviceDeniedByUser:
			return nil, errAccessDenied("the user denied the authorization")
		case DeviceRedeem:
			return s.redeemDevice(ctx, c, d, p, now)
		case DeviceTooFast:
			next.Interval += DeviceSlowDown
			answer = errSlowDown(next.Interval)
		case DeviceStillPending:
			answer = errAuthorizationPending()
		}
		next.LastPollAt = now
		err := s.store.UpdateDeviceAuthorization(ctx, next, nil)
		switch {
		case err == nil:
			return nil, answer
		case errors.Is(err, store.ErrStale) && attempt < maxDeviceAttempts:
			if d, err = s.store.GetDeviceAuthorization(ctx, h); err != nil {
				return nil, s.storeErr(err, errUnknownDeviceCode)
			}
			continue
		case errors.Is(err, store.ErrStale):
			return nil, errUnavailable(err)
		}
		return nil, s.storeErr(err, errUnknownDeviceCode)
	}
}

// redeemDevice issues the tokens of an approved authorization: the
// redemption and the new refresh family commit together, with a
// compare-and-set on the version read, so one poll gets them and every
// other one sees the code used.
func (s *Service) redeemDevice(ctx context.Context, c *store.Client, d store.DeviceAuthorization, p *Profile, now time.Time) (*TokenResponse, error) {
	u, err := s.store.GetUser(ctx, d.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, s.storeErr(err, errServer(err))
	}
	if err != nil || u.Disabled || (!u.NotBefore.IsZero() && d.AuthTime.Before(u.NotBefore)) {
		return nil, errInvalidGrant("the user may no longer log in", ReasonTokenRevoked)
	}
	scopes := d.Scopes
	if len(u.Scopes) > 0 {
		scopes = intersect(scopes, u.Scopes)
	}
	scopes, oerr := s.limitAdmin(c, scopes, false)
	if oerr != nil {
		return nil, oerr
	}
	resp, nf, err := s.mint(c, u.Username, scopes, contains(c.Grants, GrantRefreshToken), p, nil, now, d.AuthTime, "")
	if err != nil {
		return nil, err
	}
	next := d
	next.Status, next.LastPollAt = store.DeviceRedeemed, now
	err = s.store.UpdateDeviceAuthorization(context.WithoutCancel(ctx), next, nf)
	switch {
	case err == nil:
		return resp, nil
	case errors.Is(err, store.ErrStale):
		// Only a redemption changes an approved authorization: another
		// poll got the tokens first.
		return nil, errInvalidGrant("device code was already used", ReasonTokenReused)
	case errors.Is(err, store.ErrConflict):
		return nil, errServer(err)
	}
	// The outcome is unknown (a timeout, a lost connection): if the new
	// refresh token landed, the redemption committed and is answered.
	if nf != nil {
		if t, _, gerr := s.store.GetRefresh(context.WithoutCancel(ctx), nf.Token.Hash); gerr == nil && t.FamilyID == nf.Family.ID {
			return resp, nil
		}
	}
	return nil, s.storeErr(err, errServer(err))
}

// UserCodeAttempt says who enters a user code, for the guessing limits:
// the client IP, the session and the signed-in user.
type UserCodeAttempt struct {
	IP        string
	SessionID string
	Username  string
}

// DeviceInfo is what the verification page shows before the user
// decides: which client asks, for which scopes (RFC 8628 §5.4).
type DeviceInfo struct {
	ClientID  string
	Scopes    []string
	ExpiresAt time.Time
	// UserCode is the normalised code, formatted XXXX-XXXX.
	UserCode string
}

// ErrUserCode is the one answer to a user code that is wrong, expired,
// already decided or malformed: the page shows one generic message, so
// that it tells a guesser nothing about which codes exist.
var ErrUserCode = errors.New("the code is invalid or has expired")

// attemptKey is one guessing counter and its limit.
type attemptKey struct {
	key   string
	limit int
}

// userCodeKeys are the counters an entry by a counts against.
func userCodeKeys(a UserCodeAttempt) []attemptKey {
	var out []attemptKey
	if a.IP != "" {
		out = append(out, attemptKey{"device-ip:" + a.IP, UserCodeIPAttempts})
	}
	if a.SessionID != "" {
		out = append(out, attemptKey{"device-session:" + a.SessionID, UserCodeAttempts})
	}
	if a.Username != "" {
		out = append(out, attemptKey{"device-user:" + a.Username, UserCodeAttempts})
	}
	return out
}

// reserveUserCode counts one user code entry against every counter of a,
// before the code is looked up, each in one atomic statement that
// succeeds only under the limit: however many entries arrive at once, on
// however many nodes, no counter passes its limit. Every entry counts,
// right or wrong (a right one taken back would let a guesser interleave
// its own valid code to reset the count). Past a limit it answers 429.
func (s *Service) reserveUserCode(ctx context.Context, a UserCodeAttempt) error {
	now := s.now()
	for _, k := range userCodeKeys(a) {
		_, ok, err := s.store.ReserveAttempt(ctx, k.key, now, UserCodeWindow, k.limit, time.Time{})
		if err != nil {
			return errUnavailable(err) // fail closed
		}
		if !ok {
			return errLocked(UserCodeWindow)
		}
	}
	return nil
}

// pendingByUserCode finds the live, undecided authorization of a typed
// user code, after counting the entry. Anything else is ErrUserCode.
func (s *Service) pendingByUserCode(ctx context.Context, code string, a UserCodeAttempt) (store.DeviceAuthorization, string, error) {
	uc, ok := NormalizeUserCode(code)
	if !ok {
		return store.DeviceAuthorization{}, "", ErrUserCode
	}
	if err := s.reserveUserCode(ctx, a); err != nil {
		return store.DeviceAuthorization{}, "", err
	}
	d, err := s.store.GetDeviceAuthorizationByUserCode(ctx, secret.Hash(uc))
	if errors.Is(err, store.ErrNotFound) {
		return store.DeviceAuthorization{}, "", ErrUserCode
	}
	if err != nil {
		return store.DeviceAuthorization{}, "", s.storeErr(err, errServer(err))
	}
	if d.Status != store.DevicePending || !s.now().Before(d.ExpiresAt) {
		return store.DeviceAuthorization{}, "", ErrUserCode
	}
	return d, uc, nil
}

// LookupUserCode returns what the verification page shows about the
// pending authorization of a typed user code. A wrong, expired or
// decided code is ErrUserCode; too many entries by a are a 429 *Error.
func (s *Service) LookupUserCode(ctx context.Context, code string, a UserCodeAttempt) (*DeviceInfo, error) {
	d, uc, err := s.pendingByUserCode(ctx, code, a)
	if err != nil {
		return nil, err
	}
	return &DeviceInfo{ClientID: d.ClientID, Scopes: d.Scopes, ExpiresAt: d.ExpiresAt, UserCode: FormatUserCode(uc)}, nil
}

// DecideUserCode records the signed-in user's decision on the pending
// authorization of a typed user code: approve binds a.Username (who
// authenticated at authTime) to it; deny refuses it. A code decided
// meanwhile is ErrUserCode: each code is decided once.
func (s *Service) DecideUserCode(ctx context.Context, code string, approve bool, a UserCodeAttempt, authTime time.Time) error {
	if a.Username == "" {
		return errors.New("oauth: a device decision needs a signed-in user")
	}
	d, _, err := s.pendingByUserCode(ctx, code, a)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		next := d
		next.Username, next.AuthTime = a.Username, authTime
		next.Status = store.DeviceDenied
		if approve {
			next.Status = store.DeviceApproved
		}
		err := s.store.UpdateDeviceAuthorization(ctx, next, nil)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, store.ErrStale) && attempt < maxDeviceAttempts:
			// A poll moved it on (its last poll time): read again.
			if d, err = s.store.GetDeviceAuthorization(ctx, d.DeviceCodeHash); errors.Is(err, store.ErrNotFound) {
				return ErrUserCode
			} else if err != nil {
				return s.storeErr(err, errServer(err))
			}
			if d.Status != store.DevicePending || !s.now().Before(d.ExpiresAt) {
				return ErrUserCode
			}
			continue
		case errors.Is(err, store.ErrStale):
			return errUnavailable(err)
		case errors.Is(err, store.ErrNotFound):
			return ErrUserCode
		}
		return s.storeErr(err, errServer(err))
	}
}
