package federation_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/internal/federation"
	"github.com/tokengate/tokengate/internal/federation/fedtest"
	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/store"
)

const (
	invalidGrant = oauth.CodeInvalidGrant
	unavailable  = oauth.CodeTemporarilyUnavailable
)

func TestRS256AndES256TokensLogIn(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, nil)
	rs := f.idp.AddKey(t, jose.RS256)
	es := f.idp.AddKey(t, jose.ES256)
	for _, kid := range []string{rs, es} {
		sub := wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), "alice")
		if !slices.Equal(sub.Scopes, []string{"read", "write"}) {
			t.Fatalf("scopes %v, want the user's", sub.Scopes)
		}
		if sub.Refresh {
			t.Fatal("Authenticate must leave Refresh to the caller")
		}
	}
	if n := f.idp.JWKSRequests(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want once (cached)", n)
	}
	if n := f.idp.DiscoveryRequests(); n != 1 {
		t.Fatalf("discovery fetched %d times, want once", n)
	}
}

// noneToken is an unsigned JWT (alg none).
func noneToken(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

func TestBadTokensAreRejectedWithAClearError(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, nil)
	kid := f.idp.AddKey(t, jose.RS256)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := f.clk.Now()
	with := func(sub string, change map[string]any) string {
		c := f.claims(sub)
		for k, v := range change {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return f.idp.Sign(t, kid, c)
	}
	cases := []struct {
		name string
		tok  string
		desc string
	}{
		{"wrong issuer", with("alice", map[string]any{"iss": "https://evil.example/"}), "untrusted issuer"},
		{"no issuer", with("alice", map[string]any{"iss": nil}), "untrusted issuer"},
		{"wrong audience", with("alice", map[string]any{"aud": "https://other-api.example"}), "wrong audience"},
		{"expired", with("alice", map[string]any{"exp": now.Add(-time.Hour).Unix(), "iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix()}), "expired"},
		{"not yet valid", with("alice", map[string]any{"nbf": now.Add(time.Hour).Unix()}), "not yet valid"},
		{"issued in the future", with("alice", map[string]any{"iat": now.Add(time.Hour).Unix()}), "issued in the future"},
		{"no expiry", with("alice", map[string]any{"exp": nil}), "no expiry"},
		{"no subject", with("alice", map[string]any{"sub": nil}), "no subject"},
		{"alg none", noneToken(f.claims("alice")), "signing algorithm not allowed"},
		{"HS256 with the RSA public key as secret",
			fedtest.SignWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: f.idp.PublicKeyPEM(t, kid), KeyID: kid}}, f.claims("alice")),
			"signing algorithm not allowed"},
		{"forged signature under a published kid",
			fedtest.SignWith(t, jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: other, KeyID: kid}}, f.claims("alice")),
			"invalid signature"},
		{"subject not allowed", with("mallory", nil), "subject is not allowed to log in"},
		{"local user's name as the subject", with("local-bob", nil), "subject is not allowed to log in"},
		{"mapped user missing", with("ext-nobody", nil), "no local user"},
		{"mapped user disabled", with("ext-dave", nil), "local user is disabled"},
		{"malformed", "not.a.jwt", "malformed JWT"},
		{"too long", strings.Repeat("a", federation.MaxTokenLen+1), "too long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			authErr(t, f.auth, tc.tok, invalidGrant, http.StatusBadRequest, "external token: "+tc.desc)
		})
	}
	e := authErr(t, f.auth, with("alice", map[string]any{"exp": now.Add(-time.Hour).Unix()}), invalidGrant, 400, "expired")
	if e.Reason != oauth.ReasonTokenExpired {
		t.Fatalf("expired token reason %q", e.Reason)
	}
}

func TestClockSkewWithinLeewayIsAccepted(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, func(ti *federation.Issuer) { ti.Leeway = time.Minute })
	kid := f.idp.AddKey(t, jose.ES256)
	c := f.claims("alice")
	c["exp"] = f.clk.Now().Add(-30 * time.Second).Unix()
	c["nbf"] = f.clk.Now().Add(30 * time.Second).Unix()
	c["iat"] = c["nbf"]
	wantOK(t, f.auth, f.idp.Sign(t, kid, c), "alice")
}

func TestEdDSAWhenConfigured(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, func(ti *federation.Issuer) { ti.Algorithms = []string{"EdDSA"} })
	kid := f.idp.AddKey(t, jose.EdDSA)
	wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), "alice")
}

func TestAlgorithmsOutsideTheIssuersListAreRejected(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, func(ti *federation.Issuer) { ti.Algorithms = []string{"RS256"} })
	rs := f.idp.AddKey(t, jose.RS256)
	es := f.idp.AddKey(t, jose.ES256)
	wantOK(t, f.auth, f.idp.Sign(t, rs, f.claims("alice")), "alice")
	authErr(t, f.auth, f.idp.Sign(t, es, f.claims("alice")), invalidGrant, 400, "signing algorithm not allowed")
}

func TestSymmetricAlgorithmsCannotBeConfigured(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, nil)
	for _, alg := range []string{"HS256", "none", ""} {
		ti := f.ti
		ti.Algorithms = []string{alg}
		if _, err := federation.New([]federation.Issuer{ti}, federation.Options{Store: f.st, AllowInsecureLoopback: true}); err == nil {
			t.Fatalf("algorithm %q accepted", alg)
		}
	}
}

func TestEmailSubjectNeedsEmailVerified(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, func(ti *federation.Issuer) {
		ti.SubjectClaim = "email"
		ti.Users = map[string]string{"alice@example.com": "alice"}
	})
	kid := f.idp.AddKey(t, jose.RS256)
	tok := func(email string, verified any) string {
		c := f.claims("auth0|123")
		c["email"] = email
		if verified != nil {
			c["email_verified"] = verified
		}
		return f.idp.Sign(t, kid, c)
	}
	authErr(t, f.auth, tok("alice@example.com", nil), invalidGrant, 400, "email is not verified")
	authErr(t, f.auth, tok("alice@example.com", false), invalidGrant, 400, "email is not verified")
	authErr(t, f.auth, tok("alice@example.com", "yes"), invalidGrant, 400, "email is not verified")
	wantOK(t, f.auth, tok("alice@example.com", true), "alice")
	wantOK(t, f.auth, tok("alice@example.com", "true"), "alice")
	authErr(t, f.auth, f.idp.Sign(t, kid, f.claims("auth0|123")), invalidGrant, 400, "no subject claim")
	// A verified email reaches a local user only through the mapping,
	// never by being the user's name (OIDC Core §5.7).
	authErr(t, f.auth, tok("local-bob", true), invalidGrant, 400, "not allowed")
}

func TestSubjectsMapToLocalUsers(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, nil)
	kid := f.idp.AddKey(t, jose.RS256)
	sub := wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("ext-bob")), "local-bob")
	if !slices.Equal(sub.Scopes, []string{"read"}) {
		t.Fatalf("scopes %v: want the issuer's scopes within the user's", sub.Scopes)
	}
	sub = wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), "alice")
	if !slices.Equal(sub.Scopes, []string{"read", "write"}) {
		t.Fatalf("scopes %v", sub.Scopes)
	}
	// A local user named like a subject is not reachable by that name:
	// only the mapping counts.
	authErr(t, f.auth, f.idp.Sign(t, kid, f.claims("local-bob")), invalidGrant, 400, "not allowed")
	// A mapped user must exist and be enabled; it is never created.
	authErr(t, f.auth, f.idp.Sign(t, kid, f.claims("ext-nobody")), invalidGrant, 400, "no local user")
	authErr(t, f.auth, f.idp.Sign(t, kid, f.claims("ext-dave")), invalidGrant, 400, "disabled")
	if _, err := f.st.GetUser(context.Background(), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("mapped user created: %v", err)
	}
}

func TestIssuerWithoutScopesGrantsNone(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, func(ti *federation.Issuer) { ti.Scopes = nil })
	kid := f.idp.AddKey(t, jose.RS256)
	// alice has read and write; the issuer grants none of them, and
	// says so with an empty list, not nil ("any the client may have").
	sub := wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), "alice")
	if sub.Scopes == nil || len(sub.Scopes) != 0 {
		t.Fatalf("scopes %#v: want an empty, non-nil list", sub.Scopes)
	}
}

// provisioning is an issuer that provisions users with scope read and
// maps nobody.
func provisioning(ti *federation.Issuer) {
	ti.Users = nil
	ti.AutoProvision = true
	ti.Scopes = []string{"read"}
}

func TestAutoProvisionCreatesALinkedUserOfItsOwn(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, provisioning)
	ctx := context.Background()
	kid := f.idp.AddKey(t, jose.RS256)
	name := federation.ProvisionedUsername(f.idp.Issuer, "auth0|new-user")
	if !strings.HasPrefix(name, store.ExternalUserPrefix) || name != federation.ProvisionedUsername(f.idp.Issuer, "auth0|new-user") {
		t.Fatalf("provisioned name %q", name)
	}
	sub := wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("auth0|new-user")), name)
	if !slices.Equal(sub.Scopes, []string{"read"}) {
		t.Fatalf("scopes %v, want the issuer's", sub.Scopes)
	}
	u, err := f.st.GetUser(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash != "" || !slices.Equal(u.Scopes, []string{"read"}) {
		t.Fatalf("provisioned user %+v: want no password and the issuer's scopes", u)
	}
	l, err := f.st.GetIdentityLink(ctx, f.idp.Issuer, "auth0|new-user")
	if err != nil || l.Username != name {
		t.Fatalf("link %+v, %v", l, err)
	}
	wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("auth0|new-user")), name)
	// A disabled provisioned user stays disabled.
	u.Disabled = true
	if err := f.st.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	authErr(t, f.auth, f.idp.Sign(t, kid, f.claims("auth0|new-user")), invalidGrant, 400, "disabled")
	authErr(t, f.auth, f.idp.Sign(t, kid, f.claims("bad\x00name")), invalidGrant, 400, "not allowed")
	authErr(t, f.auth, f.idp.Sign(t, kid, f.claims(strings.Repeat("x", 257))), invalidGrant, 400, "not allowed")
	// Deleting the user deletes its link: the identity's next login gets
	// a fresh user, without the old one's state.
	if err := f.st.DeleteUser(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.GetIdentityLink(ctx, f.idp.Issuer, "auth0|new-user"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("link after delete: %v", err)
	}
	wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("auth0|new-user")), name)
}

func TestAutoProvisionNeverReachesALocalUser(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, provisioning)
	kid := f.idp.AddKey(t, jose.RS256)
	// alice is a local user with read and write; sub alice is not her.
	sub := wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), federation.ProvisionedUsername(f.idp.Issuer, "alice"))
	if !slices.Equal(sub.Scopes, []string{"read"}) {
		t.Fatalf("scopes %v", sub.Scopes)
	}
	// Nor is a verified email alice@example.com the local user of that
	// name: the identity is (issuer, sub).
	fe := newFixture(t, fedtest.Options{}, func(ti *federation.Issuer) { provisioning(ti); ti.SubjectClaim = "email" })
	ekid := fe.idp.AddKey(t, jose.RS256)
	c := fe.claims("auth0|999")
	c["email"], c["email_verified"] = "alice@example.com", true
	wantOK(t, fe.auth, fe.idp.Sign(t, ekid, c), federation.ProvisionedUsername(fe.idp.Issuer, "auth0|999"))
	// The same sub at two issuers is two identities, two users.
	if federation.ProvisionedUsername(f.idp.Issuer, "alice") == federation.ProvisionedUsername(fe.idp.Issuer, "alice") {
		t.Fatal("two issuers' subjects share a provisioned name")
	}
}

func TestConcurrentFirstLoginsProvisionOneUser(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, provisioning)
	kid := f.idp.AddKey(t, jose.RS256)
	tok := f.idp.Sign(t, kid, f.claims("auth0|racer"))
	wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("warm-up")), federation.ProvisionedUsername(f.idp.Issuer, "warm-up")) // keys cached
	const n = 20
	start := make(chan struct{})
	names := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			sub, err := f.auth.Authenticate(context.Background(), tok)
			if err == nil {
				names[i] = sub.Name
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	want := federation.ProvisionedUsername(f.idp.Issuer, "auth0|racer")
	for i := range n {
		if errs[i] != nil || names[i] != want {
			t.Fatalf("login %d: %q, %v; want %q", i, names[i], errs[i], want)
		}
	}
	users, err := f.st.ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ext := 0
	for _, u := range users {
		if store.IsExternalUsername(u.Username) {
			ext++
		}
	}
	if ext != 2 {
		t.Fatalf("%d provisioned users, want 2 (warm-up and racer)", ext)
	}
}

func TestAutoProvisionWithAListProvisionsOnlyListedSubjects(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, func(ti *federation.Issuer) {
		ti.AutoProvision = true
		ti.AllowedSubjects = []string{"ghost"}
		ti.Users = map[string]string{"ext-bob": "local-bob"}
	})
	kid := f.idp.AddKey(t, jose.RS256)
	wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("ghost")), federation.ProvisionedUsername(f.idp.Issuer, "ghost"))
	wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("ext-bob")), "local-bob")
	authErr(t, f.auth, f.idp.Sign(t, kid, f.claims("stranger")), invalidGrant, 400, "not allowed")
	if _, err := f.st.GetIdentityLink(context.Background(), f.idp.Issuer, "stranger"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unlisted subject provisioned: %v", err)
	}
}

func TestMappingsThatCouldTakeOverAreRefused(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, nil)
	for name, mod := range map[string]func(*federation.Issuer){
		"allowed_subjects without auto_provision": func(ti *federation.Issuer) { ti.AllowedSubjects = []string{"alice"} },
		"mapping to a provisioned user":           func(ti *federation.Issuer) { ti.Users = map[string]string{"x": store.ExternalUserPrefix + "abc"} },
		"nobody could log in":                     func(ti *federation.Issuer) { ti.Users = nil },
	} {
		ti := baseIssuer(f.idp)
		mod(&ti)
		if _, err := federation.New([]federation.Issuer{ti}, federation.Options{Store: f.st, AllowInsecureLoopback: true}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestUnknownKidIsRefetchedOnceThenRejected(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, nil)
	kid := f.idp.AddKey(t, jose.RS256)
	wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), "alice")
	// The initial fetch counts toward the refetch interval.
	f.clk.Advance(2 * time.Minute)
	unknown := f.idp.AddUnpublishedKey(t, jose.RS256)
	tok := f.idp.Sign(t, unknown, f.claims("alice"))
	authErr(t, f.auth, tok, invalidGrant, 400, "unknown signing key")
	if n := f.idp.JWKSRequests(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2 (initial, refetch on the unknown kid)", n)
	}
	authErr(t, f.auth, tok, invalidGrant, 400, "unknown signing key")
	if n := f.idp.JWKSRequests(); n != 2 {
		t.Fatalf("JWKS fetched %d times within the refetch interval", n)
	}
}

func TestRefetchesAreRateLimitedAndCollapsed(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, func(ti *federation.Issuer) { ti.MinRefetchInterval = time.Minute })
	kid := f.idp.AddKey(t, jose.RS256)
	wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), "alice")
	// The IdP is slow, so concurrent requests overlap the one fetch.
	f.idp.SetDelay(50 * time.Millisecond)
	var toks []string
	for range 4 {
		toks = append(toks, f.idp.Sign(t, f.idp.AddUnpublishedKey(t, jose.ES256), f.claims("alice")))
	}
	burst := func() {
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				_, err := f.auth.Authenticate(context.Background(), toks[i%len(toks)])
				if oe := oauth.AsError(err); err == nil || !strings.Contains(oe.Description, "unknown signing key") {
					t.Errorf("unknown kid: got %v", err)
				}
			})
		}
		wg.Wait()
	}
	burst()
	if n := f.idp.JWKSRequests(); n != 1 {
		t.Fatalf("unknown kids within the interval of the initial fetch fetched again (%d)", n)
	}
	f.clk.Advance(61 * time.Second)
	burst()
	if n := f.idp.JWKSRequests(); n != 2 {
		t.Fatalf("40 unknown-kid tokens caused %d JWKS fetches, want 1 (plus the initial one)", n-1)
	}
	burst()
	if n := f.idp.JWKSRequests(); n != 2 {
		t.Fatalf("a second burst within the interval fetched again (%d)", n)
	}
	f.clk.Advance(61 * time.Second)
	burst()
	if n := f.idp.JWKSRequests(); n != 3 {
		t.Fatalf("after another interval: %d fetches, want 3", n)
	}
}

func TestKeyRotationAtTheIdP(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, func(ti *federation.Issuer) {
		ti.MinRefetchInterval = time.Minute
		ti.KeyCacheTTL = time.Hour
	})
	old := f.idp.AddKey(t, jose.RS256)
	wantOK(t, f.auth, f.idp.Sign(t, old, f.claims("alice")), "alice")

	// A new key appears; tokens signed with it work after one refetch.
	f.clk.Advance(2 * time.Minute)
	next := f.idp.AddKey(t, jose.ES256)
	wantOK(t, f.auth, f.idp.Sign(t, next, f.claims("alice")), "alice")
	if n := f.idp.JWKSRequests(); n != 2 {
		t.Fatalf("JWKS fetches %d, want 2", n)
	}
	// Old tokens keep working while the old key is published.
	wantOK(t, f.auth, f.idp.Sign(t, old, f.claims("alice")), "alice")

	// The IdP drops the old key: once the cached set is refreshed, old
	// tokens are refused and new ones still work.
	f.idp.Drop(old)
	f.clk.Advance(61 * time.Minute)
	authErr(t, f.auth, f.idp.Sign(t, old, f.claims("alice")), invalidGrant, 400, "unknown signing key")
	wantOK(t, f.auth, f.idp.Sign(t, next, f.claims("alice")), "alice")
	if n := f.idp.JWKSRequests(); n != 3 {
		t.Fatalf("JWKS fetches %d, want 3", n)
	}
}

func TestIdPDownAnswers503(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, nil)
	kid := f.idp.AddKey(t, jose.RS256)
	tok := f.idp.Sign(t, kid, f.claims("alice"))
	f.idp.Close()
	e := authErr(t, f.auth, tok, unavailable, http.StatusServiceUnavailable, "identity provider unavailable")
	if e.RetryAfter <= 0 || e.Cause == nil {
		t.Fatalf("503 without Retry-After or cause: %+v", e)
	}
}

func TestFailingJWKSIsNotRetriedPerRequest(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, nil)
	kid := f.idp.AddKey(t, jose.RS256)
	f.idp.FailJWKS(http.StatusInternalServerError)
	for range 10 {
		authErr(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), unavailable, 503, "identity provider unavailable")
	}
	if n := f.idp.JWKSRequests(); n != 1 {
		t.Fatalf("a failing IdP was asked %d times, want once per back-off", n)
	}
	f.idp.FailJWKS(0)
	f.clk.Advance(6 * time.Second)
	wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), "alice")
}

func TestStaleKeysServeWhileTheIdPIsDown(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, nil)
	kid := f.idp.AddKey(t, jose.RS256)
	wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), "alice")
	f.idp.FailJWKS(http.StatusBadGateway)
	f.clk.Advance(2 * time.Hour)
	wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), "alice")
	if n := f.idp.JWKSRequests(); n != 2 {
		t.Fatalf("stale keys were not refreshed: %d fetches", n)
	}
}

func TestSlowIdPIsABoundedWait(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, func(ti *federation.Issuer) { ti.Timeout = 200 * time.Millisecond })
	kid := f.idp.AddKey(t, jose.RS256)
	f.idp.SetDelay(10 * time.Second)
	start := time.Now()
	authErr(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), unavailable, 503, "identity provider unavailable")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("waited %v for a slow IdP; the timeout is 200ms", d)
	}
}

func TestCallerDeadlineBoundsTheWait(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, nil) // default timeout 5s
	kid := f.idp.AddKey(t, jose.RS256)
	f.idp.SetDelay(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.auth.Authenticate(ctx, f.idp.Sign(t, kid, f.claims("alice")))
	wantErr(t, err, unavailable, 503, "identity provider unavailable", "")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("waited %v past the caller's deadline", d)
	}
}

func TestDiscovery(t *testing.T) {
	t.Run("Auth0-shaped issuer with a trailing slash", func(t *testing.T) {
		f := newFixture(t, fedtest.Options{TrailingSlash: true}, nil)
		kid := f.idp.AddKey(t, jose.RS256)
		wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), "alice")
	})
	t.Run("falls back to RFC 8414 metadata (another tokengate)", func(t *testing.T) {
		f := newFixture(t, fedtest.Options{Metadata: fedtest.OAuth}, nil)
		kid := f.idp.AddKey(t, jose.ES256)
		wantOK(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), "alice")
		if n := f.idp.DiscoveryRequests(); n != 2 {
			t.Fatalf("discovery requests %d, want 2 (openid-configuration 404, then RFC 8414)", n)
		}
	})
	t.Run("explicit jwks_url skips discovery", func(t *testing.T) {
		var f *fixture
		f = newFixture(t, fedtest.Options{Metadata: fedtest.None}, nil)
		f.ti.JWKSURL = f.idp.JWKSURL()
		a := f.newAuth(t, f.ti)
		kid := f.idp.AddKey(t, jose.RS256)
		wantOK(t, a, f.idp.Sign(t, kid, f.claims("alice")), "alice")
		if n := f.idp.DiscoveryRequests(); n != 0 {
			t.Fatalf("discovery requests %d with jwks_url set", n)
		}
	})
	t.Run("no discovery document is 503", func(t *testing.T) {
		f := newFixture(t, fedtest.Options{Metadata: fedtest.None}, nil)
		kid := f.idp.AddKey(t, jose.RS256)
		e := authErr(t, f.auth, f.idp.Sign(t, kid, f.claims("alice")), unavailable, 503, "unavailable")
		if !strings.Contains(e.Cause.Error(), "no discovery document") {
			t.Fatalf("cause %v", e.Cause)
		}
	})
	t.Run("discovery naming another issuer is refused", func(t *testing.T) {
		f := newFixture(t, fedtest.Options{}, nil)
		f.ti.Issuer = f.idp.Issuer + "/"
		a := f.newAuth(t, f.ti)
		kid := f.idp.AddKey(t, jose.RS256)
		c := f.claims("alice")
		c["iss"] = f.ti.Issuer
		e := authErr(t, a, f.idp.Sign(t, kid, c), unavailable, 503, "unavailable")
		if !strings.Contains(e.Cause.Error(), "names issuer") {
			t.Fatalf("cause %v", e.Cause)
		}
	})
}

func TestHTTPSIdP(t *testing.T) {
	f := newFixture(t, fedtest.Options{TLS: true}, nil)
	a, err := federation.New([]federation.Issuer{f.ti}, federation.Options{Store: f.st, Now: f.clk.Now, HTTPClient: f.idp.Client()})
	if err != nil {
		t.Fatal(err)
	}
	kid := f.idp.AddKey(t, jose.RS256)
	wantOK(t, a, f.idp.Sign(t, kid, f.claims("alice")), "alice")
}

func TestPlainHTTPIsOnlyForLoopback(t *testing.T) {
	st := newStore(t)
	ti := federation.Issuer{Issuer: "http://127.0.0.1:9/", Audiences: []string{"x"}, AutoProvision: true}
	if _, err := federation.New([]federation.Issuer{ti}, federation.Options{Store: st}); err == nil {
		t.Fatal("plain http accepted without AllowInsecureLoopback")
	}
	if _, err := federation.New([]federation.Issuer{ti}, federation.Options{Store: st, AllowInsecureLoopback: true}); err != nil {
		t.Fatalf("loopback http refused with AllowInsecureLoopback: %v", err)
	}
	for _, u := range []string{"http://idp.example.com/", "ftp://127.0.0.1/"} {
		ti.Issuer = u
		if _, err := federation.New([]federation.Issuer{ti}, federation.Options{Store: st, AllowInsecureLoopback: true}); err == nil {
			t.Fatalf("%s accepted", u)
		}
	}
	ti.Issuer = "https://idp.example.com/"
	ti.JWKSURL = "http://idp.example.com/jwks"
	if _, err := federation.New([]federation.Issuer{ti}, federation.Options{Store: st, AllowInsecureLoopback: true}); err == nil {
		t.Fatal("non-loopback http jwks_url accepted")
	}
}

func TestTwoIssuersAreToldApartByIss(t *testing.T) {
	f := newFixture(t, fedtest.Options{}, nil)
	other := fedtest.New(t, fedtest.Options{})
	ti2 := baseIssuer(other)
	ti2.Users = map[string]string{"alice": "local-bob"}
	a := f.newAuth(t, f.ti, ti2)
	k1 := f.idp.AddKey(t, jose.RS256)
	k2 := other.AddKey(t, jose.RS256)
	wantOK(t, a, f.idp.Sign(t, k1, f.claims("alice")), "alice")
	wantOK(t, a, other.Sign(t, k2, other.Claims("alice", audience, f.clk.Now())), "local-bob")
	// A token of one issuer claiming the other's iss fails its signature.
	c := f.claims("alice")
	c["iss"] = other.Issuer
	authErr(t, a, f.idp.Sign(t, k1, c), invalidGrant, 400, "unknown signing key")
}
