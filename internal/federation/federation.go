// Package federation lets users of external identity providers (Auth0,
// Okta, Keycloak, Google, Entra ID, another tokengate) log in with the
// providers' JWTs. It keeps each provider's keys in a jwks.KeySet (found
// by discovery or a configured JWKS URL, cached, refetched on unknown
// kids), verifies tokens with go-jose, and
// finds the local user of the verified identity. The oauth core calls it
// through oauth.Federation; RegisterGrants adds the RFC 8693 token
// exchange and RFC 7523 JWT bearer grants.
package federation

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/jwks"
)

// Defaults for a trusted issuer's settings left at zero.
const (
	DefaultMinRefetchInterval = time.Minute
	DefaultKeyCacheTTL        = time.Hour
	DefaultTimeout            = 5 * time.Second
	DefaultLeeway             = 30 * time.Second
)

// MaxTokenLen bounds an external token before any work is done on it.
const MaxTokenLen = 16 << 10

// maxSubjectLen bounds an external subject kept in an identity link.
const maxSubjectLen = 256

// Options configure an Authenticator.
type Options struct {
	// HTTPClient fetches discovery documents and JWKS; nil means a
	// client of its own. Redirects are followed only to URLs keys may
	// be fetched from.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives key fetch failures and provisioning; nil discards.
	Logger *slog.Logger
	// Store looks up local users and identity links, and with
	// auto_provision creates users with their links.
	Store Store
	// AllowInsecureLoopback permits plain http to loopback hosts
	// (127.0.0.1, [::1], localhost). Everything else must be https.
	AllowInsecureLoopback bool
}

// Store is the part of the store federation needs.
type Store interface {
	GetUser(ctx context.Context, username string) (store.User, error)
	store.Identities
}

// Authenticator verifies trusted issuers' JWTs and finds the local user
// of each external identity. It implements oauth.Federation and is safe
// for concurrent use.
type Authenticator struct {
	issuers map[string]*issuer
	algs    []jose.SignatureAlgorithm // every issuer's, for parsing
	users   Store
	now     func() time.Time
	log     *slog.Logger
}

var _ oauth.Federation = (*Authenticator)(nil)

// issuer is one trusted issuer, ready to verify.
type issuer struct {
	name          string
	iss           string
	audiences     []string
	algs          map[string]bool
	subjectClaim  string
	allowed       map[string]bool
	users         map[string]string
	autoProvision bool
	scopes        []string
	leeway        time.Duration
	keys          *jwks.KeySet
}

// Issuer is an external identity provider whose JWTs may be exchanged
// for tokengate tokens (Auth0, Okta, Keycloak, Google, Entra ID, another
// tokengate). The server builds it from the config's trusted_issuers;
// zero durations take the defaults.
type Issuer struct {
	// Name labels the issuer in logs; default the issuer URL.
	Name string
	// Issuer is the exact iss value, e.g. https://TENANT.auth0.com/.
	// It must be https (plain http only on a loopback host).
	Issuer string
	// Audiences lists accepted aud values (for Auth0: the API identifier).
	// At least one is required: a token minted for another API must not
	// log in here.
	Audiences []string
	// JWKSURL, when set, is used instead of discovery. Without it the keys
	// are found through <issuer>/.well-known/openid-configuration, falling
	// back to the RFC 8414 /.well-known/oauth-authorization-server document.
	JWKSURL string
	// Algorithms lists accepted signing algorithms; default RS256 and ES256.
	// Only asymmetric algorithms are allowed (never none, never HS*).
	Algorithms []string
	// SubjectClaim is what the keys of Users are: sub (default), or email,
	// whose tokens must then carry email_verified true. An email is only
	// ever looked up in Users (OIDC Core §5.7: it is no unique
	// identifier); an identity is always (issuer, sub).
	SubjectClaim string
	// AllowedSubjects, when set, limits AutoProvision to these sub values.
	AllowedSubjects []string
	// Users maps external subjects (or verified emails) to pre-existing
	// local usernames: the only way an external identity reaches a local
	// account.
	Users map[string]string
	// AutoProvision gives every identity of this issuer that Users does
	// not map a user of its own, created on its first login: no password,
	// this issuer's scopes, a name in the ext: namespace that no local
	// user can have, linked to (issuer, sub). Off by default: unmapped
	// identities are refused.
	AutoProvision bool
	// Scopes is the most this issuer's identities may be granted, mapped
	// or provisioned; none configured grants none.
	Scopes []string
	// MinRefetchInterval limits JWKS refetches on an unknown kid; default 1m.
	MinRefetchInterval time.Duration
	// KeyCacheTTL is how long fetched keys are used before they are
	// fetched again, so a key the provider dropped stops being trusted;
	// default 1h.
	KeyCacheTTL time.Duration
	// Timeout bounds every key refresh (discovery and JWKS together);
	// default 5s.
	Timeout time.Duration
	// Leeway is the clock skew allowed on exp, nbf and iat; default 30s.
	Leeway time.Duration
}

// New builds an Authenticator for the trusted issuers. It does no I/O:
// keys are fetched when the first token of an issuer arrives.
func New(issuers []Issuer, o Options) (*Authenticator, error) {
	if o.Store == nil {
		return nil, errors.New("federation: a user store is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	urlOK := func(u string) error { return checkURL(u, o.AllowInsecureLoopback) }
	client := httpClient(o.HTTPClient, urlOK)
	a := &Authenticator{issuers: make(map[string]*issuer, len(issuers)), users: o.Store, now: o.Now, log: o.Logger}
	union := map[string]bool{}
	for i, ti := range issuers {
		is, err := newIssuer(ti, client, urlOK, o)
		if err != nil {
			return nil, fmt.Errorf("federation: trusted issuer %d (%s): %w", i, ti.Issuer, err)
		}
		if _, dup := a.issuers[is.iss]; dup {
			return nil, fmt.Errorf("federation: issuer %s declared twice", is.iss)
		}
		a.issuers[is.iss] = is
		for alg := range is.algs {
			if !union[alg] {
				union[alg] = true
				a.algs = append(a.algs, jose.SignatureAlgorithm(alg))
			}
		}
	}
	return a, nil
}

func newIssuer(ti Issuer, client *http.Client, urlOK func(string) error, o Options) (*issuer, error) {
	if ti.Issuer == "" {
		return nil, errors.New("missing issuer")
	}
	if ti.JWKSURL != "" {
		if err := urlOK(ti.JWKSURL); err != nil {
			return nil, fmt.Errorf("jwks_url: %w", err)
		}
	} else if err := urlOK(ti.Issuer); err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	if len(ti.Audiences) == 0 {
		return nil, errors.New("no accepted audiences")
	}
	is := &issuer{
		name: ti.Name, iss: ti.Issuer, audiences: ti.Audiences, algs: map[string]bool{},
		subjectClaim: ti.SubjectClaim, allowed: map[string]bool{}, users: ti.Users,
		autoProvision: ti.AutoProvision, scopes: ti.Scopes, leeway: orDefault(ti.Leeway, DefaultLeeway),
	}
	if is.name == "" {
		is.name = ti.Issuer
	}
	algs := ti.Algorithms
	if len(algs) == 0 {
		algs = []string{string(jose.RS256), string(jose.ES256)}
	}
	for _, alg := range algs {
		if !asymmetric(alg) {
			return nil, fmt.Errorf("algorithm %q not allowed", alg)
		}
		is.algs[alg] = true
	}
	switch is.subjectClaim {
	case "":
		is.subjectClaim = "sub"
	case "sub", "email":
	default:
		return nil, fmt.Errorf("subject_claim must be sub or email, not %q", is.subjectClaim)
	}
	for _, s := range ti.AllowedSubjects {
		is.allowed[s] = true
	}
	if len(is.allowed) > 0 && !is.autoProvision {
		return nil, errors.New("allowed_subjects limits auto_provision, which is off: map subjects to local users in users")
	}
	if len(is.users) == 0 && !is.autoProvision {
		return nil, errors.New("nobody could log in: map subjects in users, or set auto_provision")
	}
	for ext, local := range is.users {
		if ext == "" || local == "" || store.IsExternalUsername(local) {
			return nil, fmt.Errorf("users: %q may not be mapped to %q", ext, local)
		}
	}
	// A login waits for a stale key set to be fetched again (up to the
	// timeout), so that a key the provider withdrew stops at once; the
	// keys at hand serve while the provider is down.
	timeout := orDefault(ti.Timeout, DefaultTimeout)
	log, name := o.Logger, is.name
	ks, err := jwks.NewRemote(jwks.Options{
		Issuer: ti.Issuer, URL: ti.JWKSURL, HTTPClient: client, Algorithms: algs,
		MinRefetchInterval: orDefault(ti.MinRefetchInterval, DefaultMinRefetchInterval),
		MaxAge:             orDefault(ti.KeyCacheTTL, DefaultKeyCacheTTL),
		StaleWait:          timeout, FetchTimeout: timeout, Now: o.Now,
		OnFetchError: func(err error) {
			log.Warn("fetching identity provider keys failed", "issuer", name, "err", err)
		},
	})
	if err != nil {
		return nil, err
	}
	is.keys = ks
	return is, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// asymmetric reports whether alg is an asymmetric JWS algorithm: never
// none, never HS*, so a provider's public key can never serve as an HMAC
// secret.
func asymmetric(alg string) bool {
	switch jose.SignatureAlgorithm(alg) {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512, jose.EdDSA:
		return true
	}
	return false
}

// checkURL enforces where keys may come from: https, or plain http to a
// loopback host when allowed.
func checkURL(raw string, allowLoopback bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && allowLoopback && jwks.IsLoopback(u.Hostname()):
		return nil
	case u.Scheme == "http" && jwks.IsLoopback(u.Hostname()):
		return fmt.Errorf("%q: plain http is not allowed (loopback http is not enabled)", raw)
	}
	return fmt.Errorf("%q: keys are fetched over https only", raw)
}

// httpClient returns a copy of c (or a new client) whose redirects obey
// the same URL policy as the configured URLs.
func httpClient(c *http.Client, urlOK func(string) error) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	} else {
		out.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	prev := out.CheckRedirect
	out.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		if err := urlOK(req.URL.String()); err != nil {
			return fmt.Errorf("redirect: %w", err)
		}
		if prev != nil {
			return prev(req, via)
		}
		return nil
	}
	return &out
}

// externalClaims are the claims read beyond the registered ones.
type externalClaims struct {
	Email         string `json:"email"`
	EmailVerified any    `json:"email_verified"`
}

// Authenticate verifies raw, a JWT of a trusted issuer, and returns the
// local subject it maps to. Errors are *oauth.Error values: invalid_grant
// for a bad, untrusted or unmapped token, temporarily_unavailable when
// the issuer's keys cannot be fetched in time. Descriptions never contain
// the token.
func (a *Authenticator) Authenticate(ctx context.Context, raw string) (*oauth.Subject, error) {
	if len(raw) > MaxTokenLen {
		return nil, errTooLong()
	}
	tok, err := jwt.ParseSigned(raw, a.algs)
	if err != nil {
		if alg := peekAlg(raw); alg != "" && !a.parsesAlg(alg) {
			return nil, a.reject(ctx, "", errAlgorithm())
		}
		return nil, a.reject(ctx, "", errMalformed())
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, a.reject(ctx, "", errMalformed())
	}
	is := a.issuers[unverified.Issuer]
	if is == nil {
		return nil, a.reject(ctx, "", errUntrustedIssuer())
	}
	h := tok.Headers[0]
	if !is.algs[h.Algorithm] {
		return nil, a.reject(ctx, is.name, errAlgorithm())
	}
	keys, err := is.keys.Keys(ctx, h.KeyID, h.Algorithm)
	switch {
	case errors.Is(err, jwks.ErrUnknownKey):
		return nil, a.reject(ctx, is.name, errUnknownKey())
	case errors.Is(err, jwks.ErrAlgorithm):
		return nil, a.reject(ctx, is.name, errAlgorithm())
	case err != nil:
		// The keys could not be fetched in time (or the caller gave up).
		return nil, a.reject(ctx, is.name, errUnavailable(err))
	}
	var std jwt.Claims
	var ext externalClaims
	verified := false
	for _, k := range keys {
		if tok.Claims(k.Public, &std, &ext) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, a.reject(ctx, is.name, errSignature())
	}
	if oerr := is.validate(&std, a.now()); oerr != nil {
		return nil, a.reject(ctx, is.name, oerr)
	}
	mapKey, oerr := is.mappingKey(&std, &ext)
	if oerr != nil {
		return nil, a.reject(ctx, is.name, oerr)
	}
	sub, err := a.localSubject(ctx, is, mapKey, std.Subject)
	if err != nil {
		return nil, a.reject(ctx, is.name, oauth.AsError(err))
	}
	return sub, nil
}

// reject logs why a token was refused (never the token) and returns e.
func (a *Authenticator) reject(ctx context.Context, issuer string, e *oauth.Error) *oauth.Error {
	a.log.LogAttrs(ctx, slog.LevelDebug, "external token rejected", slog.String("issuer", issuer), slog.String("reason", e.Description))
	return e
}

func (a *Authenticator) parsesAlg(alg string) bool {
	for _, x := range a.algs {
		if string(x) == alg {
			return true
		}
	}
	return false
}

// peekAlg reads the alg of a compact JWS header, to tell a refused
// algorithm (none, HS256) from a malformed token in the error.
func peekAlg(raw string) string {
	head, _, ok := strings.Cut(raw, ".")
	if !ok || len(head) > 1024 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.Alg
}

// validate checks the registered claims of a verified token.
func (is *issuer) validate(c *jwt.Claims, now time.Time) *oauth.Error {
	if c.Expiry == nil {
		return errNoExpiry()
	}
	err := c.ValidateWithLeeway(jwt.Expected{Issuer: is.iss, AnyAudience: is.audiences, Time: now}, is.leeway)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return errUntrustedIssuer()
	case errors.Is(err, jwt.ErrInvalidAudience):
		return errAudience()
	case errors.Is(err, jwt.ErrExpired):
		return errExpired()
	case errors.Is(err, jwt.ErrNotValidYet):
		return errNotYetValid()
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return errIssuedInFuture()
	}
	return errMalformed()
}

// mappingKey returns what the issuer's users mapping is looked up by:
// sub, or with subject_claim email the email, only when email_verified is
// true (OIDC Core §5.7: an email is no unique identifier, so it serves
// only to find an explicit mapping, never an account).
func (is *issuer) mappingKey(c *jwt.Claims, ext *externalClaims) (string, *oauth.Error) {
	if is.subjectClaim == "email" {
		if ext.Email == "" {
			return "", errNoSubject()
		}
		// Some providers send the flag as a string.
		if v, ok := ext.EmailVerified.(bool); !(ok && v) && ext.EmailVerified != "true" {
			return "", errEmailUnverified()
		}
		return ext.Email, nil
	}
	if c.Subject == "" {
		return "", errNoSubject()
	}
	return c.Subject, nil
}

// localSubject decides who an external identity logs in as. The
// identity is (issuer, sub); mapKey is its sub or verified email.
//
//   - An explicit mapping in the issuer's users names a pre-existing
//     local user: the only way to one.
//   - Otherwise, with auto_provision (and the sub in allowed_subjects
//     when that is set), the identity's linked user, provisioned on its
//     first login under a name in store.ExternalUserPrefix's namespace,
//     which no local user can have.
//   - Otherwise it is refused.
//
// The user must exist and be enabled. The scopes are the issuer's, within
// the user's; never nil, so never "any the client may have".
func (a *Authenticator) localSubject(ctx context.Context, is *issuer, mapKey, sub string) (*oauth.Subject, error) {
	var (
		u   store.User
		err error
	)
	if name, mapped := is.users[mapKey]; mapped {
		u, err = a.users.GetUser(ctx, name)
	} else {
		if !is.autoProvision || (len(is.allowed) > 0 && !is.allowed[sub]) {
			return nil, errSubjectNotAllowed()
		}
		if !validSubject(sub) {
			return nil, errSubjectNotAllowed()
		}
		u, err = a.linkedUser(ctx, is, sub)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errNoLocalUser()
	case err != nil:
		return nil, storeErr(err)
	case u.Disabled:
		return nil, errUserDisabled()
	}
	return &oauth.Subject{Name: u.Username, Scopes: grantable(is.scopes, u.Scopes)}, nil
}

// linkedUser returns the user linked to (is, sub), provisioning it on the
// identity's first login.
func (a *Authenticator) linkedUser(ctx context.Context, is *issuer, sub string) (store.User, error) {
	l, err := a.users.GetIdentityLink(ctx, is.iss, sub)
	if errors.Is(err, store.ErrNotFound) {
		l, err = a.provision(ctx, is, sub)
	}
	if err != nil {
		return store.User{}, err
	}
	return a.users.GetUser(ctx, l.Username)
}

// provision creates a user for an external identity, with its link: no
// password (it can log in only through its provider), the issuer's
// scopes (never nil: none configured is none), a name no local user can
// have.
func (a *Authenticator) provision(ctx context.Context, is *issuer, sub string) (store.IdentityLink, error) {
	now := a.now()
	name := ProvisionedUsername(is.iss, sub)
	scopes := append([]string{}, is.scopes...)
	l := store.IdentityLink{Issuer: is.iss, Subject: sub, Username: name, CreatedAt: now}
	err := a.users.ProvisionIdentity(ctx, store.User{Username: name, Scopes: scopes, CreatedAt: now, UpdatedAt: now}, l)
	if errors.Is(err, store.ErrConflict) {
		// Another login of the same identity provisioned it first: use
		// its link. With no link, the name is taken by a user no identity
		// owns (made outside tokengate's tools): refuse rather than share.
		return a.users.GetIdentityLink(ctx, is.iss, sub)
	}
	if err != nil {
		return store.IdentityLink{}, err
	}
	a.log.Info("provisioned user for external identity", "issuer", is.name, "subject", sub, "user", name)
	return l, nil
}

// ProvisionedUsername is the name of the user provisioned for the
// external identity (iss, sub): store.ExternalUserPrefix and 26 base32
// characters (130 bits) of SHA-256 over both, so identities never share
// a name, across issuers too, and the name is the same on every node.
func ProvisionedUsername(iss, sub string) string {
	h := sha256.Sum256([]byte(iss + "\x00" + sub))
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:])
	return store.ExternalUserPrefix + strings.ToLower(enc[:26])
}

// grantable is what an identity of the issuer may be granted: the
// issuer's scopes, within the user's when the user has any. It is never
// nil (oauth.Subject's "any the client may have"): an issuer with no
// scopes grants none.
func grantable(issuer, user []string) []string {
	out := []string{}
	for _, s := range issuer {
		if len(user) == 0 || slices.Contains(user, s) {
			out = append(out, s)
		}
	}
	return out
}

// validSubject accepts an external sub as the key of an identity link.
func validSubject(s string) bool {
	if s == "" || len(s) > maxSubjectLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
