package server_test

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tokengate/tokengate/internal/servertest"
)

const codeFlowConfig = `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users:
    - {username: alice, password: alice-pw}
  clients:
    - {id: rp, secret: rp-secret, grants: [authorization_code, refresh_token], scopes: [openid, profile, read],
       redirect_uris: ["http://127.0.0.1:9/cb"]}
    - {id: rp2, secret: rp2-secret, grants: [authorization_code], scopes: [openid], redirect_uris: ["http://127.0.0.1:9/cb"]}
`

// oidcBrowser is a minimal browser for the sign-in pages: it keeps cookies by
// name (the __Host- session cookie is Secure, which net/http/cookiejar
// never sends over http, even on loopback as browsers do) and stops at
// the client's redirect URI.
type oidcBrowser struct {
	t       *testing.T
	mu      sync.Mutex
	cookies map[string]string
	hc      *http.Client
	base    http.RoundTripper
	landed  *url.URL
}

func newOIDCBrowser(t *testing.T, base *http.Client) *oidcBrowser {
	b := &oidcBrowser{t: t, cookies: map[string]string{}}
	b.hc = &http.Client{Transport: b, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), "http://127.0.0.1:9/cb") {
			b.landed = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	b.base = base.Transport
	return b
}

// base is the transport to the test server.
func (b *oidcBrowser) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	for k, v := range b.cookies {
		r.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	b.mu.Unlock()
	resp, err := b.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	b.mu.Unlock()
	return resp, nil
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// authorize opens authURL, signs in on the sign-in page when it comes,
// and returns the parameters the client's redirect URI received.
func (b *oidcBrowser) authorize(authURL, user, password string) url.Values {
	b.t.Helper()
	b.landed = nil
	resp, err := b.hc.Get(authURL)
	if err != nil {
		b.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if b.landed == nil {
		form := url.Values{"username": {user}, "password": {password}}
		for _, m := range hiddenField.FindAllStringSubmatch(string(page), -1) {
			form.Set(m[1], html.UnescapeString(m[2]))
		}
		if form.Get("csrf_token") == "" {
			b.t.Fatalf("no sign-in form: %d %s", resp.StatusCode, page)
		}
		resp, err = b.hc.PostForm(resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+"/login", form)
		if err != nil {
			b.t.Fatal(err)
		}
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if b.landed == nil {
		b.t.Fatalf("the flow did not reach the redirect URI: %d %s", resp.StatusCode, page)
	}
	return b.landed.Query()
}

// TestOIDCCodeFlowWithGoOIDC: a relying party built from golang.org/x/oauth2
// and github.com/coreos/go-oidc, unchanged, signs a user in through the
// authorization endpoint found by discovery, with PKCE and a nonce; the
// ID token verifies (signature, iss, aud, exp), carries the nonce and
// auth_time, and its at_hash binds the access token; userinfo answers;
// a refresh returns a fresh ID token without nonce.
func TestOIDCCodeFlowWithGoOIDC(t *testing.T) {
	s := servertest.Start(t, codeFlowConfig, servertest.Options{})
	ctx := oidc.ClientContext(context.Background(), s.Client())
	provider, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var meta struct {
		Authorization string   `json:"authorization_endpoint"`
		Responses     []string `json:"response_types_supported"`
		PKCE          []string `json:"code_challenge_methods_supported"`
		Iss           bool     `json:"authorization_response_iss_parameter_supported"`
	}
	if err := provider.Claims(&meta); err != nil || meta.Authorization != s.URL+"/oauth/authorize" ||
		strings.Join(meta.Responses, " ") != "code" || strings.Join(meta.PKCE, " ") != "S256" || !meta.Iss {
		t.Fatalf("discovery of the code flow: %+v %v", meta, err)
	}
	conf := oauth2.Config{ClientID: "rp", ClientSecret: "rp-secret", Endpoint: provider.Endpoint(),
		RedirectURL: "http://127.0.0.1:9/cb", Scopes: []string{oidc.ScopeOpenID, "profile"}}
	verifier := oauth2.GenerateVerifier()
	b := newOIDCBrowser(t, s.Client())
	authTime := time.Now().Truncate(time.Second)
	got := b.authorize(conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-1")), "alice", "alice-pw")
	if got.Get("state") != "st-1" || got.Get("iss") != s.URL || got.Get("code") == "" {
		t.Fatalf("authorization response: %v", got)
	}
	tok, err := conf.Exchange(ctx, got.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		t.Fatal("no id_token in the token response")
	}
	idv := provider.Verifier(&oidc.Config{ClientID: "rp"})
	idt, err := idv.Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc refuses the ID token: %v", err)
	}
	if idt.Subject != "alice" || idt.Nonce != "nonce-1" {
		t.Fatalf("ID token sub %q nonce %q", idt.Subject, idt.Nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	var c struct {
		AuthTime int64  `json:"auth_time"`
		SID      string `json:"sid"`
	}
	if err := idt.Claims(&c); err != nil || c.AuthTime < authTime.Unix() || c.AuthTime > time.Now().Unix() || c.SID == "" {
		t.Fatalf("auth_time %d (signed in at %d), sid %q: %v", c.AuthTime, authTime.Unix(), c.SID, err)
	}
	// Another relying party does not accept it.
	if _, err := provider.Verifier(&oidc.Config{ClientID: "rp2"}).Verify(ctx, rawID); err == nil {
		t.Fatal("rp's ID token accepted by rp2")
	}
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != idt.Subject {
		t.Fatalf("userinfo: %+v %v", ui, err)
	}
	var prof struct {
		PreferredUsername string `json:"preferred_username"`
	}
	if err := ui.Claims(&prof); err != nil || prof.PreferredUsername != "alice" {
		t.Fatalf("userinfo claims: %+v %v", prof, err)
	}

	// A refresh returns a fresh ID token: same subject and auth_time, no
	// nonce, bound to the new access token (OIDC Core §12.2).
	old := *tok
	old.Expiry = time.Now().Add(-time.Minute)
	fresh, err := conf.TokenSource(ctx, &old).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	rawID2, _ := fresh.Extra("id_token").(string)
	idt2, err := idv.Verify(ctx, rawID2)
	if err != nil {
		t.Fatalf("refreshed ID token: %v", err)
	}
	var c2 struct {
		AuthTime int64 `json:"auth_time"`
	}
	if err := idt2.Claims(&c2); err != nil || idt2.Subject != "alice" || idt2.Nonce != "" || c2.AuthTime != c.AuthTime {
		t.Fatalf("refreshed ID token: sub %q nonce %q auth_time %d (want %d)", idt2.Subject, idt2.Nonce, c2.AuthTime, c.AuthTime)
	}
	if err := idt2.VerifyAccessToken(fresh.AccessToken); err != nil || fresh.AccessToken == tok.AccessToken {
		t.Fatalf("refreshed at_hash: %v", err)
	}

	// A second authorization in the same browser session, and a code
	// flow without openid: an access token and no ID token.
	conf.Scopes = []string{"read"}
	verifier = oauth2.GenerateVerifier()
	got = b.authorize(conf.AuthCodeURL("st-2", oauth2.S256ChallengeOption(verifier)), "alice", "alice-pw")
	tok, err = conf.Exchange(ctx, got.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange without openid: %v", err)
	}
	if tok.Extra("id_token") != nil {
		t.Fatalf("ID token without the openid scope: %v", tok.Extra("id_token"))
	}
	if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("userinfo answered a token without openid")
	}
}

// TestOIDCCodeReplayGivesNoSecondIDToken: the nonce is echoed once, in the
// answer to the first redemption; a replayed code gets no tokens at all.
func TestOIDCCodeReplayGivesNoSecondIDToken(t *testing.T) {
	s := servertest.Start(t, codeFlowConfig, servertest.Options{})
	ctx := oidc.ClientContext(context.Background(), s.Client())
	provider, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: "rp", ClientSecret: "rp-secret", Endpoint: provider.Endpoint(),
		RedirectURL: "http://127.0.0.1:9/cb", Scopes: []string{oidc.ScopeOpenID}}
	verifier := oauth2.GenerateVerifier()
	got := newOIDCBrowser(t, s.Client()).authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n")), "alice", "alice-pw")
	if _, err := conf.Exchange(ctx, got.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}
	_, err = conf.Exchange(ctx, got.Get("code"), oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || strings.Contains(string(re.Body), "id_token") {
		t.Fatalf("replayed code: %v", err)
	}
}
