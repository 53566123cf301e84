// Package oauth is tokengate's core: it authenticates clients, runs the
// grants of the token endpoint (RFC 6749, RFC 8693), revokes (RFC 7009)
// and introspects (RFC 7662) tokens. It knows nothing of HTTP dialects:
// contracts parse requests into a TokenRequest and render its answers.
package oauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/internal/reqinfo"
	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/token"
)

// Grant type identifiers.
const (
	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	// GrantAPIKey exchanges a tokengate API key for an access token
	// (an RFC 6749 §4.5 extension grant).
	GrantAPIKey = "urn:tokengate:params:oauth:grant-type:api-key"
	// GrantTokenExchange is RFC 8693 token exchange.
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// GrantJWTBearer is the RFC 7523 JWT bearer grant.
	GrantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// TokenTypeAccessToken is RFC 8693's identifier of an access token.
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// TokenKind tells a Profile's ExtraClaims hook which token it is asked
// about.
type TokenKind int

// The kinds of signed token the core issues.
const (
	// KindAccess is an RFC 9068 access token.
	KindAccess TokenKind = iota + 1
	// KindRefresh is a refresh token in the JWT form.
	KindRefresh
)

// Signer issues and verifies JWTs; *token.Manager implements it.
// VerifyFresh re-reads the signing keys when a token names an unknown
// key, so that a key rotated in by another node verifies at once, and
// refuses a token whose key the store says is revoked.
type Signer interface {
	Sign(c token.Claims, typ string) (string, error)
	VerifyFresh(ctx context.Context, raw string, o token.VerifyOptions) (token.Claims, error)
	// VerifyFreshWith is VerifyFresh with the signing key's revocation
	// read by revoked, which folds it into the caller's own store read.
	VerifyFreshWith(ctx context.Context, raw string, o token.VerifyOptions, revoked func(ctx context.Context, c token.Claims, kid string) (bool, error)) (token.Claims, error)
	// NewRefresh makes an opaque refresh token stating c under the
	// active refresh-token MAC key; OpenRefresh verifies one (reading no
	// store) and returns what it states.
	NewRefresh(c token.RefreshClaims, rnd io.Reader) (string, error)
	OpenRefresh(raw string) (token.RefreshClaims, error)
}

// Settings are the server-wide defaults.
type Settings struct {
	Issuer string
	// Audience is the aud of access tokens that name no other; empty
	// means the issuer URL (RFC 9068 §2.2 requires an aud).
	Audience string
	// Targets are the audiences a token-exchange request may name
	// (RFC 8693 audience); Audience is always one of them.
	Targets         []string
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// DeviceCodeTTL is how long a device authorization lives (RFC 8628
	// expires_in); zero means DefaultDeviceCodeTTL.
	DeviceCodeTTL time.Duration
	// VerificationURI is where users enter device user codes; empty means
	// Issuer + VerificationPath.
	VerificationURI string
}

// Hooks let the server observe grants without the core knowing about
// metrics libraries.
type Hooks struct {
	// GrantDone is called once per token request with the grant type and
	// the error code ("" on success).
	GrantDone func(grant, code string)
}

// Service runs the grants. It is safe for concurrent use.
type Service struct {
	store    store.Store
	signer   Signer
	idSigner IDTokenSigner // nil: no ID tokens
	hasher   *secret.Hasher
	settings Settings
	log      *slog.Logger
	hooks    Hooks
	now      func() time.Time
	rand     io.Reader
	grants   map[string]grantFunc
	guard    *Guard
	external Federation
	clients  *clientCache // nil: every authentication reads the store
	// storageLogged is when a full store was last logged (unix nanos),
	// so that it is logged once per StorageLogInterval, not per request.
	storageLogged atomic.Int64
	// adminClients may carry admin scopes in users' tokens.
	adminClients []string
}

// StorageLogInterval is how often a store whose storage is full is logged
// while requests keep failing on it.
const StorageLogInterval = 30 * time.Second

// Federation authenticates JWTs of trusted external identity providers
// and maps them to local subjects. The federation package implements it.
type Federation interface {
	// Authenticate verifies raw and returns the local subject it maps to.
	// Errors are *Error values (invalid_grant for a bad or unmapped
	// token, temporarily_unavailable when the provider cannot be reached).
	Authenticate(ctx context.Context, raw string) (*Subject, error)
}

// Options configure a Service.
type Options struct {
	Store    store.Store
	Signer   Signer
	Hasher   *secret.Hasher
	Settings Settings
	Logger   *slog.Logger
	Hooks    Hooks
	Now      func() time.Time // default time.Now
	Rand     io.Reader        // default crypto/rand.Reader
	// Guard counts failed logins; nil disables brute-force protection.
	Guard *Guard
	// Federation verifies external identity providers' tokens; nil
	// disables external logins.
	Federation Federation
	// ClientCacheTTL, when positive, caches client records per node for
	// at most that long. The cache is invalidated whenever the store's
	// ClientsVersion changes, so changes to a client apply at once; the
	// TTL bounds how long an entry lives should the store's change feed
	// fail silently. Zero reads the store on every authentication.
	ClientCacheTTL time.Duration
	// AdminScopeClients may obtain admin scopes (IsAdminScope) in tokens
	// for users; other clients get them only through client_credentials.
	AdminScopeClients []string
	// IDTokens signs OpenID Connect ID tokens; nil means the Signer's own
	// when it implements IDTokenSigner (*token.Manager does), and no ID
	// tokens otherwise.
	IDTokens IDTokenSigner
}

// NewService returns a ready Service.
func NewService(o Options) (*Service, error) {
	if o.Store == nil || o.Signer == nil || o.Hasher == nil {
		return nil, errors.New("oauth: store, signer and hasher are required")
	}
	if o.Settings.Issuer == "" {
		return nil, errors.New("oauth: issuer is required")
	}
	if o.Settings.Audience == "" {
		o.Settings.Audience = o.Settings.Issuer
	}
	if o.Settings.AccessTokenTTL <= 0 {
		o.Settings.AccessTokenTTL = 15 * time.Minute
	}
	if o.Settings.RefreshTokenTTL <= 0 {
		o.Settings.RefreshTokenTTL = 30 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	s := &Service{
		store: o.Store, signer: o.Signer, hasher: o.Hasher, settings: o.Settings,
		log: o.Logger, hooks: o.Hooks, now: o.Now, rand: o.Rand, guard: o.Guard, external: o.Federation,
		adminClients: slices.Clone(o.AdminScopeClients), idSigner: o.IDTokens,
	}
	if s.idSigner == nil {
		s.idSigner, _ = o.Signer.(IDTokenSigner)
	}
	if o.ClientCacheTTL > 0 {
		s.clients = newClientCache(o.ClientCacheTTL, 10000, o.Now)
	}
	s.grants = map[string]grantFunc{
		GrantPassword:          s.grantPassword,
		GrantRefreshToken:      s.grantRefresh,
		GrantClientCredentials: s.grantClientCredentials,
		GrantAPIKey:            s.grantAPIKey,
		GrantDeviceCode:        s.grantDeviceCode,
		GrantAuthorizationCode: s.grantAuthorizationCode,
	}
	return s, nil
}

// ExternalLogin exchanges an external identity provider's JWT for local
// tokens, as a password login would issue them. Contracts whose login
// endpoints accept an external token as Bearer call it.
func (s *Service) ExternalLogin(ctx context.Context, c *Client, raw string, r *TokenRequest, p *Profile) (*TokenResponse, error) {
	if s.external == nil {
		return nil, errInvalidGrant("external identity tokens are not accepted here", ReasonBadCredentials)
	}
	if len(raw) > maxCredentialLen {
		return nil, errInvalidGrant("invalid external token", ReasonBadCredentials)
	}
	sub, err := s.external.Authenticate(ctx, raw)
	if err != nil {
		return nil, err
	}
	sub.Refresh = true
	return s.issueForSubject(ctx, &c.rec, sub, r, p)
}

// Settings returns the server-wide defaults the service runs with.
func (s *Service) Settings() Settings { return s.settings }

// SupportedGrants lists the grant types the service can run: the
// built-in ones first, then registered extension grants in name order.
func (s *Service) SupportedGrants() []string {
	builtin := []string{GrantAuthorizationCode, GrantPassword, GrantRefreshToken, GrantClientCredentials, GrantAPIKey, GrantDeviceCode}
	var ext []string
	for g := range s.grants {
		if !contains(builtin, g) {
			ext = append(ext, g)
		}
	}
	slices.Sort(ext)
	return append(builtin, ext...)
}

// RegisterGrant adds an extension grant (RFC 6749 §4.5). It must be
// called before the service handles requests.
func (s *Service) RegisterGrant(grantType string, fn func(ctx context.Context, c *Client, r *TokenRequest, p *Profile) (*Subject, error)) {
	s.grants[grantType] = func(ctx context.Context, c *store.Client, r *TokenRequest, p *Profile) (*TokenResponse, error) {
		sub, err := fn(ctx, &Client{rec: *c}, r, p)
		if err != nil {
			return nil, err
		}
		return s.issueForSubject(ctx, c, sub, r, p)
	}
}

// Profile is how one route issues and accepts tokens. The zero value is
// the OAuth 2.0 default: opaque rotating refresh tokens and RFC 9068
// access tokens.
type Profile struct {
	// NoRotation keeps a refresh token valid until it expires instead of
	// replacing it on every use.
	NoRotation bool
	// JWTRefresh issues refresh tokens as signed JWTs (typ JWT) that are
	// still tracked in the store, like opaque ones.
	JWTRefresh bool
	// ExtraClaims, when set, returns claims to add to a signed token of
	// the given kind and lifetime: how a contract adds the claims its
	// clients expect without the core knowing them. Registered claims
	// (iss, sub, aud, exp, iat, nbf, jti, client_id, scope, sid) cannot be
	// overridden; such keys are ignored.
	ExtraClaims func(kind TokenKind, ttl time.Duration) map[string]any
	// DefaultClient is the client a request without client credentials
	// acts as. It must be a public client.
	DefaultClient string
	// NoRefresh issues no refresh token from this route.
	NoRefresh bool
	// RefreshWithoutClientAuth lets RefreshAsBearer refresh, with the
	// token alone, the sessions of DefaultClient (a public client); it
	// refreshes nothing without it.
	RefreshWithoutClientAuth bool
}

// TokenRequest is a token endpoint request in the core's terms.
type TokenRequest struct {
	GrantType    string
	ClientID     string
	ClientSecret string
	Username     string
	Password     string
	RefreshToken string
	Scope        string
	ScopeGiven   bool
	APIKey       string
	// Token exchange (RFC 8693) and JWT bearer (RFC 7523) parameters.
	SubjectToken     string
	SubjectTokenType string
	Audience         string
	Assertion        string
	// DeviceCode is the RFC 8628 device_code being polled.
	DeviceCode string
	// Resource is the RFC 8707 resource indicator: the API the token is
	// for. It becomes the token's aud.
	Resource string
	// RemoteIP is the client's address, for brute-force accounting.
	RemoteIP string
	// Authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.5).
	Code         string
	RedirectURI  string
	CodeVerifier string
}

// TokenResponse is the result of a successful grant.
type TokenResponse struct {
	AccessToken  string
	TokenType    string
	ExpiresIn    int64
	RefreshToken string
	Scope        string
	ExpiresAt    time.Time
	// IssuedTokenType is set by token exchange (RFC 8693 §2.2.1).
	IssuedTokenType string
	// IDToken is the OpenID Connect ID token, when the grant signs a
	// user in with the openid scope (AttachIDToken).
	IDToken string
	// Code describes the authorization an authorization code grant
	// redeemed; nil for other grants.
	Code *CodeGrant
}

// Subject is who an extension grant authenticated.
type Subject struct {
	Name   string   // local username or client id
	Scopes []string // what this subject may be granted; nil means any the client may have
	// Refresh says whether a refresh token may accompany the access token.
	Refresh bool
}

type grantFunc func(ctx context.Context, c *store.Client, r *TokenRequest, p *Profile) (*TokenResponse, error)

// Token runs the token endpoint: it authenticates the client, checks the
// grant is allowed, and runs it.
func (s *Service) Token(ctx context.Context, r *TokenRequest, p *Profile) (resp *TokenResponse, err error) {
	defer func() {
		if s.hooks.GrantDone != nil {
			code := ""
			if err != nil {
				code = AsError(err).Code
			}
			s.hooks.GrantDone(grantLabel(r.GrantType, s.grants), code)
		}
	}()
	if p == nil {
		p = &Profile{}
	}
	if r.GrantType == "" {
		return nil, ErrMissing("grant_type")
	}
	if oerr := checkTokenRequest(r); oerr != nil {
		return nil, oerr
	}
	grant, ok := s.grants[r.GrantType]
	if !ok {
		return nil, &Error{Code: CodeUnsupportedGrantType, Description: "unsupported grant_type", Param: "grant_type"}
	}
	c, err := s.authenticateClient(ctx, r.ClientID, r.ClientSecret, r.RemoteIP, p)
	if err != nil {
		return nil, err
	}
	if !contains(c.Grants, r.GrantType) {
		return nil, errUnauthorizedClient("the client may not use this grant type")
	}
	if _, oerr := s.target(c, r); oerr != nil {
		return nil, oerr
	}
	return grant(ctx, c, r, p)
}

// grantLabel keeps metric label cardinality bounded: unknown grant types
// are counted together.
func grantLabel(g string, known map[string]grantFunc) string {
	if _, ok := known[g]; ok {
		return g
	}
	return "other"
}

// AuthenticateClient checks a client's credentials (RFC 6749 §2.3.1) and
// returns a handle on the authenticated client for the rest of the
// request. Without credentials, the profile's default client is used if
// it is public. Unknown clients and wrong secrets fail alike. ip is the
// request's client address, which the brute-force guard counts failures
// against when the client's secret is an imported hash
// (legacyClientSecret).
func (s *Service) AuthenticateClient(ctx context.Context, id, sec, ip string, p *Profile) (*Client, error) {
	c, err := s.authenticateClient(ctx, id, sec, ip, p)
	if err != nil {
		return nil, err
	}
	return &Client{rec: *c}, nil
}

func (s *Service) authenticateClient(ctx context.Context, id, sec, ip string, p *Profile) (*store.Client, error) {
	if !validIdentifier(id) {
		return nil, errBadIdentifier("client_id")
	}
	if !validText(sec) {
		return nil, errBadText("client_secret")
	}
	if id == "" {
		if sec != "" {
			return nil, ErrMissing("client_id")
		}
		if p == nil || p.DefaultClient == "" {
			return nil, errInvalidClient()
		}
		c, err := s.getClient(ctx, p.DefaultClient)
		if err != nil {
			return nil, s.storeErr(err, errInvalidClient())
		}
		if !c.Public {
			return nil, errInvalidClient()
		}
		reqinfo.SetClient(ctx, c.ID)
		return &c, nil
	}
	c, err := s.getClient(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			_ = secret.Equal(sec, nil) // same work as a real comparison
		}
		return nil, s.storeErr(err, errInvalidClient())
	}
	if c.Public {
		if sec != "" {
			return nil, errInvalidClient()
		}
		reqinfo.SetClient(ctx, c.ID)
		return &c, nil
	}
	if sec != "" && len(c.SecretHash) == 0 && c.LegacySecretHash != "" {
		if err := s.legacyClientSecret(ctx, &c, sec, ip); err != nil {
			return nil, err
		}
	} else if sec == "" || !secret.Equal(sec, c.SecretHash) {
		return nil, errInvalidClient()
	}
	reqinfo.SetClient(ctx, c.ID)
	return &c, nil
}

// Client reads a client, through the per-node cache when one is
// configured (the CORS check of the token endpoint's answer uses it).
func (s *Service) Client(ctx context.Context, id string) (store.Client, error) {
	return s.getClient(ctx, id)
}

// legacyClientSecret checks sec against the secret hash client c was
// imported with (bcrypt, Django's hashers: issue 15). That costs what a
// password costs, so it runs as a password check does: behind the
// brute-force guard (the client's id counted like a username, and the
// IP), through the bounded hashing queue. On a match the legacy hash is
// replaced by the secret's SHA-256 with a compare-and-set, so the next
// authentication is a SHA-256 comparison; when another authentication or
// an administrator changed the secret meanwhile, the result stands only
// if sec matches what is stored now.
func (s *Service) legacyClientSecret(ctx context.Context, c *store.Client, sec, ip string) error {
	if len(sec) > maxCredentialLen {
		return errInvalidClient() // bounded before any hashing, as passwords are
	}
	key := clientKey(c.ID)
	if err := s.guard.reserveKey(ctx, key, ip); err != nil {
		return err
	}
	old := c.LegacySecretHash
	if verr := s.hasher.Verify(ctx, sec, old); verr != nil {
		if errors.Is(verr, secret.ErrBusy) || errors.Is(verr, context.Canceled) || errors.Is(verr, context.DeadlineExceeded) {
			s.guard.releaseKey(ctx, key, ip)
			return errUnavailable(verr)
		}
		if !errors.Is(verr, secret.ErrMismatch) {
			s.log.Warn("stored client secret hash unusable", "client_id", c.ID, "err", verr)
		}
		return errInvalidClient() // the reserved attempt stays counted
	}
	sum := secret.Hash(sec)
	err := s.store.UpgradeClientSecret(ctx, c.ID, old, sum)
	switch {
	case err == nil:
		s.log.Info("imported client secret hash replaced by SHA-256", "client_id", c.ID)
		c.SecretHash, c.LegacySecretHash = sum, ""
	case errors.Is(err, store.ErrStale):
		cur, gerr := s.store.GetClient(ctx, c.ID)
		if gerr != nil {
			s.guard.releaseKey(ctx, key, ip)
			return s.storeErr(gerr, errInvalidClient())
		}
		if cur.Public || cur.LegacySecretHash != "" || !secret.Equal(sec, cur.SecretHash) {
			return errInvalidClient()
		}
		*c = cur
	case errors.Is(err, store.ErrNotFound):
		return errInvalidClient()
	default:
		s.guard.releaseKey(ctx, key, ip)
		return s.storeErr(err, errServer(err))
	}
	if s.clients != nil {
		s.clients.forget(c.ID)
	}
	s.guard.succeedKey(ctx, key, ip)
	return nil
}

// getClient reads a client, through the cache when one is configured.
func (s *Service) getClient(ctx context.Context, id string) (store.Client, error) {
	if s.clients != nil {
		return s.clients.get(ctx, s.store, id)
	}
	return s.store.GetClient(ctx, id)
}

// storeErr maps a store error: not found becomes notFound, unavailability
// becomes 503, anything else 500.
func (s *Service) storeErr(err error, notFound *Error) *Error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound
	case errors.Is(err, store.ErrStorageFull):
		s.logStorageFull(err)
		return errStorageUnavailable()
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return errUnavailable(err)
	default:
		return errServer(err)
	}
}

// logStorageFull logs a full store at most once per StorageLogInterval.
func (s *Service) logStorageFull(err error) {
	now := s.now().UnixNano()
	last := s.storageLogged.Load()
	if last != 0 && now-last < int64(StorageLogInterval) && now >= last {
		return
	}
	if s.storageLogged.CompareAndSwap(last, now) {
		s.log.Error("storage is full: tokens cannot be issued, rotated or revoked until room is made", "err", err)
	}
}

func (s *Service) accessTTL(c *store.Client) time.Duration {
	if c.AccessTokenTTL > 0 {
		return c.AccessTokenTTL
	}
	return s.settings.AccessTokenTTL
}

func (s *Service) refreshTTL(c *store.Client) time.Duration {
	if c.RefreshTokenTTL > 0 {
		return c.RefreshTokenTTL
	}
	return s.settings.RefreshTokenTTL
}

// ClaimSession is the access token claim that names the refresh family
// (the session) a token was issued from, so that revoking the family makes
// the token inactive at introspection at once.
const ClaimSession = "sid"

// signAccess makes an RFC 9068 access token; sid is the family it was
// issued from ("" for none).
func (s *Service) signAccess(c *store.Client, subject string, scopes []string, aud, sid string, now time.Time, p *Profile) (string, time.Time, error) {
	ttl := s.accessTTL(c)
	exp := now.Add(ttl)
	jti, err := secret.RandomString(s.rand, 22)
	if err != nil {
		return "", time.Time{}, err
	}
	if aud == "" {
		aud = s.settings.Audience
	}
	cl := token.Claims{
		Issuer: s.settings.Issuer, Subject: subject, ExpiresAt: exp, IssuedAt: now, NotBefore: now,
		ID: jti, ClientID: c.ID, Scope: strings.Join(scopes, " "),
	}
	if aud != "" {
		cl.Audience = []string{aud}
	}
	if sid != "" || p.ExtraClaims != nil {
		cl.Extra = extraClaims(p, KindAccess, ttl)
		if sid != "" {
			cl.Extra[ClaimSession] = sid
		}
	}
	tok, err := s.signer.Sign(cl, token.TypeAccess)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing access token: %w", err)
	}
	return tok, exp, nil
}

// registered are the claims the core sets itself; a profile's hook may
// not replace them.
var registered = map[string]bool{"iss": true, "sub": true, "aud": true, "exp": true, "iat": true, "nbf": true,
	"jti": true, "client_id": true, "scope": true, ClaimSession: true, ClaimGeneration: true}

// extraClaims asks the profile's hook for a token's extra claims and
// returns a fresh map (with room for sid) without registered claims.
func extraClaims(p *Profile, kind TokenKind, ttl time.Duration) map[string]any {
	var add map[string]any
	if p.ExtraClaims != nil {
		add = p.ExtraClaims(kind, ttl)
	}
	out := make(map[string]any, len(add)+1)
	for k, v := range add {
		if !registered[k] {
			out[k] = v
		}
	}
	return out
}

// newRefreshValue makes the refresh token of generation gen of family
// famID: opaque (under the refresh-token MAC), or a JWT stating family
// and generation in sid and gen when the family's format is jwt.
func (s *Service) newRefreshValue(c *store.Client, subject, famID string, gen int64, now, exp time.Time, jwtForm bool, p *Profile) (string, error) {
	if !jwtForm {
		return s.signer.NewRefresh(token.RefreshClaims{Family: famID, Generation: gen, ExpiresAt: exp}, s.rand)
	}
	jti, err := secret.RandomString(s.rand, 22)
	if err != nil {
		return "", err
	}
	cl := token.Claims{
		Issuer: s.settings.Issuer, Subject: subject, ExpiresAt: exp, IssuedAt: now, NotBefore: now,
		ID: jti, ClientID: c.ID,
	}
	if p.ExtraClaims != nil {
		cl.Extra = extraClaims(p, KindRefresh, exp.Sub(now))
	} else {
		cl.Extra = make(map[string]any, 2)
	}
	cl.Extra[ClaimSession], cl.Extra[ClaimGeneration] = famID, gen
	return s.signer.Sign(cl, token.TypeJWT)
}

// issue makes an access token and, when withRefresh, a new refresh family
// whose rotation policy and token form are the route's, fixed from now on.
func (s *Service) issue(ctx context.Context, c *store.Client, subject string, scopes []string, withRefresh bool, p *Profile, extra map[string]string) (*TokenResponse, error) {
	return s.issueFamily(ctx, c, subject, scopes, withRefresh, p, extra, "", time.Time{})
}

// issueFamily is issue with the family's id (famID, "" for a new random
// one) and sign-in time (authTime, zero for now) chosen by the caller: an
// authorization code names the family its redemption creates.
func (s *Service) issueFamily(ctx context.Context, c *store.Client, subject string, scopes []string, withRefresh bool, p *Profile, extra map[string]string, famID string, authTime time.Time) (*TokenResponse, error) {
	now := s.now()
	if authTime.IsZero() {
		authTime = now
	}
	resp, nf, err := s.mint(c, subject, scopes, withRefresh, p, extra, now, authTime, famID)
	if err != nil || nf == nil {
		return resp, err
	}
	if err := s.store.CreateFamily(ctx, nf.Family, nf.Token); err != nil {
		return nil, s.storeErr(err, errServer(err))
	}
	return resp, nil
}

// mint makes the tokens issueFamily hands out without storing anything:
// an access token and, when withRefresh (and the route allows it), the
// refresh token with the new family (named famID, or a random id when it
// is "") that the caller must store before answering (nil without one).
// authTime is when the subject authenticated.
func (s *Service) mint(c *store.Client, subject string, scopes []string, withRefresh bool, p *Profile, extra map[string]string, now, authTime time.Time, famID string) (*TokenResponse, *store.NewFamily, error) {
	withRefresh = withRefresh && !p.NoRefresh
	if !withRefresh {
		famID = ""
	} else if famID == "" {
		var err error
		if famID, err = secret.RandomString(s.rand, 22); err != nil {
			return nil, nil, errServer(err)
		}
	}
	at, exp, err := s.signAccess(c, subject, scopes, extra["aud"], famID, now, p)
	if err != nil {
		return nil, nil, errServer(err)
	}
	resp := &TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(exp.Sub(now) / time.Second), Scope: strings.Join(scopes, " "), ExpiresAt: exp}
	if !withRefresh {
		return resp, nil, nil
	}
	rotation, format := policyOf(p)
	rexp := now.Add(s.refreshTTL(c))
	rt, err := s.newRefreshValue(c, subject, famID, 0, now, rexp, format == FormatJWT, p)
	if err != nil {
		return nil, nil, errServer(err)
	}
	fam := store.Family{ID: famID, Subject: subject, ClientID: c.ID, Scopes: scopes, AuthTime: authTime, ExpiresAt: rexp, Extra: extra,
		Rotation: rotation, Format: format}
	resp.RefreshToken = rt
	return resp, &store.NewFamily{Family: fam, Token: store.RefreshToken{Hash: secret.Hash(rt), FamilyID: famID, IssuedAt: now, ExpiresAt: rexp}}, nil
}

// issueForSubject issues tokens for a subject an extension grant has
// authenticated, applying the same scope rules as the built-in grants.
func (s *Service) issueForSubject(ctx context.Context, c *store.Client, sub *Subject, r *TokenRequest, p *Profile) (*TokenResponse, error) {
	scopes, err := resolveScopes(r.Scope, r.ScopeGiven, c.Scopes, sub.Scopes)
	if err == nil {
		scopes, err = s.limitAdmin(c, scopes, r.ScopeGiven && strings.TrimSpace(r.Scope) != "")
	}
	if err != nil {
		return nil, err
	}
	extra, oerr := s.target(c, r)
	if oerr != nil {
		return nil, oerr
	}
	resp, ierr := s.issue(ctx, c, sub.Name, scopes, sub.Refresh && contains(c.Grants, GrantRefreshToken), p, extra)
	if ierr == nil && r.GrantType == GrantTokenExchange {
		resp.IssuedTokenType = TokenTypeAccessToken
	}
	return resp, ierr
}

// CodeInvalidTarget is RFC 8707 §2 / RFC 8693 §2.2.2 invalid_target.
const CodeInvalidTarget = "invalid_target"

func errInvalidTarget(param, desc string) *Error {
	return &Error{Code: CodeInvalidTarget, Description: desc, Param: param}
}

// target decides the audience a request asks for (RFC 8707 resource, or
// RFC 8693 audience): nil when it names none (the default audience
// applies), else {"aud": value} to carry into the token and its family. A
// client may not mint tokens for any API it names: only those it is
// allowed, its own Resources or else the configured audience and
// exchange audiences.
func (s *Service) target(c *store.Client, r *TokenRequest) (map[string]string, *Error) {
	aud, param := r.Audience, "audience"
	if r.Resource != "" {
		if !absoluteURI(r.Resource) {
			return nil, errInvalidTarget("resource", "resource must be an absolute URI without a fragment")
		}
		if aud != "" && aud != r.Resource {
			return nil, errInvalidTarget("resource", "resource and audience name different targets")
		}
		aud, param = r.Resource, "resource"
	}
	if aud == "" {
		return nil, nil
	}
	if r.GrantType == GrantRefreshToken {
		// The session keeps the audience of its login.
		return nil, errInvalidTarget(param, "the audience of a session is chosen at login, not at refresh")
	}
	allowed := c.Resources
	if len(allowed) == 0 {
		allowed = append([]string{s.settings.Audience}, s.settings.Targets...)
	}
	if !contains(allowed, aud) {
		return nil, errInvalidTarget(param, "the requested "+param+" is not accepted for this client")
	}
	return map[string]string{"aud": aud}, nil
}

// absoluteURI reports whether v is an absolute URI without a fragment
// (RFC 8707 §2).
func absoluteURI(v string) bool {
	if len(v) > 2048 || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) || strings.Contains(v, "#") {
		return false
	}
	u, err := url.Parse(v)
	return err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "")
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
