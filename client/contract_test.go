package client_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/client"
)

// seen is one request a stub token server received.
type seen struct {
	Method, Path, Query, ContentType, Auth string
	Params                                 map[string]string
}

// stub is a token server that records requests and answers each path
// with a canned status and body.
type stub struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []seen
	answers map[string]func() (int, string)
}

func newStub(t *testing.T, answers map[string]func() (int, string)) *stub {
	s := &stub{answers: answers}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec := seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, ContentType: r.Header.Get("Content-Type"), Auth: r.Header.Get("Authorization"), Params: map[string]string{}}
		if strings.HasPrefix(rec.ContentType, "application/json") {
			_ = json.Unmarshal(b, &rec.Params)
		} else if v, err := url.ParseQuery(string(b)); err == nil {
			for k := range v {
				rec.Params[k] = v.Get(k)
			}
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, rec)
		s.mu.Unlock()
		answer, ok := s.answers[r.Method+" "+r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		status, body := answer()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *stub) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// fakeJWT is an unsigned JWT whose payload says when it expires: enough
// for the client, which reads exp without verifying.
func fakeJWT(name string, exp time.Time) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT"}`)) + "." +
		enc.EncodeToString([]byte(fmt.Sprintf(`{"sub":%q,"iat":%d,"exp":%d}`, name, exp.Add(-10*time.Minute).Unix(), exp.Unix()))) + ".c2ln"
}

const oauthAnswer = `{"access_token":"AT%d","token_type":"Bearer","expires_in":60,"refresh_token":"RT%d"}`

// counter answers a fresh pair each time.
func counter(format string) func() (int, string) {
	var mu sync.Mutex
	n := 0
	return func() (int, string) {
		mu.Lock()
		defer mu.Unlock()
		n++
		return 200, fmt.Sprintf(format, n, n)
	}
}

// Each contract puts credentials on the wire as its servers expect.
func TestContractsWireFormat(t *testing.T) {
	exp := time.Now().Add(10 * time.Minute)
	form, js := "application/x-www-form-urlencoded", "application/json"
	cases := []struct {
		name    string
		cfg     client.Config
		answers map[string]func() (int, string)
		want    []seen // login, then refresh
		rotates bool
	}{
		{
			name:    "oauth2 password",
			cfg:     client.Config{ClientID: "id", ClientSecret: "s&c:ret", Username: "u", Password: "p", Scopes: []string{"read", "write"}},
			answers: map[string]func() (int, string){"POST /oauth/token": counter(oauthAnswer)},
			want: []seen{
				{Method: "POST", Path: "/oauth/token", ContentType: form, Auth: basicAuth("id", "s&c:ret"), Params: map[string]string{"grant_type": "password", "username": "u", "password": "p", "scope": "read write"}},
				{Method: "POST", Path: "/oauth/token", ContentType: form, Auth: basicAuth("id", "s&c:ret"), Params: map[string]string{"grant_type": "refresh_token", "refresh_token": "RT1"}},
			},
			rotates: true,
		},
		{
			name:    "oauth2 API key, public client",
			cfg:     client.Config{ClientID: "spa", APIKey: "K"},
			answers: map[string]func() (int, string){"POST /oauth/token": counter(oauthAnswer)},
			want: []seen{
				{Method: "POST", Path: "/oauth/token", ContentType: form, Params: map[string]string{"grant_type": client.GrantAPIKey, "api_key": "K", "client_id": "spa"}},
				{Method: "POST", Path: "/oauth/token", ContentType: form, Params: map[string]string{"grant_type": "refresh_token", "refresh_token": "RT1", "client_id": "spa"}},
			},
			rotates: true,
		},
		{
			name:    "oauth2 external token exchange",
			cfg:     client.Config{ClientID: "id", ClientSecret: "sec", ExternalToken: "EXT"},
			answers: map[string]func() (int, string){"POST /oauth/token": counter(oauthAnswer)},
			want: []seen{
				{Method: "POST", Path: "/oauth/token", ContentType: form, Auth: basicAuth("id", "sec"), Params: map[string]string{"grant_type": client.GrantTokenExchange, "subject_token": "EXT", "subject_token_type": client.TokenTypeJWT}},
				{Method: "POST", Path: "/oauth/token", ContentType: form, Auth: basicAuth("id", "sec"), Params: map[string]string{"grant_type": "refresh_token", "refresh_token": "RT1"}},
			},
			rotates: true,
		},
		{
			name:    "spring-oauth2",
			cfg:     client.Config{Contract: client.ContractSpringOAuth2, ClientID: "id", ClientSecret: "sec", Username: "u", Password: "p", Scopes: []string{"profile"}},
			answers: map[string]func() (int, string){"POST /auth/oauth/token": counter(oauthAnswer)},
			want: []seen{
				{Method: "POST", Path: "/auth/oauth/token", ContentType: form, Auth: basicAuth("id", "sec"), Params: map[string]string{"grant_type": "password", "username": "u", "password": "p", "scope": "profile"}},
				{Method: "POST", Path: "/auth/oauth/token", ContentType: form, Auth: basicAuth("id", "sec"), Params: map[string]string{"grant_type": "refresh_token", "refresh_token": "RT1"}},
			},
			rotates: true,
		},
		{
			name:    "django-oauth-toolkit",
			cfg:     client.Config{Contract: client.ContractDjangoOAuthToolkit, ClientID: "id", ClientSecret: "sec", Username: "u", Password: "p"},
			answers: map[string]func() (int, string){"POST /oauth/token/": counter(oauthAnswer)},
			want: []seen{
				{Method: "POST", Path: "/oauth/token/", ContentType: form, Params: map[string]string{"grant_type": "password", "username": "u", "password": "p", "client_id": "id", "client_secret": "sec"}},
				{Method: "POST", Path: "/oauth/token/", ContentType: form, Params: map[string]string{"grant_type": "refresh_token", "refresh_token": "RT1", "client_id": "id", "client_secret": "sec"}},
			},
			rotates: true,
		},
		{
			name:    "laravel-passport",
			cfg:     client.Config{Contract: client.ContractLaravelPassport, ClientID: "id", ClientSecret: "sec", Username: "u", Password: "p"},
			answers: map[string]func() (int, string){"POST /oauth/token": counter(oauthAnswer)},
			want: []seen{
				{Method: "POST", Path: "/oauth/token", ContentType: js, Params: map[string]string{"grant_type": "password", "username": "u", "password": "p", "client_id": "id", "client_secret": "sec"}},
				{Method: "POST", Path: "/oauth/token", ContentType: js, Params: map[string]string{"grant_type": "refresh_token", "refresh_token": "RT1", "client_id": "id", "client_secret": "sec"}},
			},
			rotates: true,
		},
		{
			name: "fastapi password",
			cfg:  client.Config{Contract: client.ContractFastAPI, ClientID: "id", ClientSecret: "sec", Username: "u", Password: "p"},
			answers: func() map[string]func() (int, string) {
				next := counter(`{"access_token":"AT%d","refresh_token":"RT%d","token_type":"bearer"}`)
				return map[string]func() (int, string){"POST /auth/access-token": next, "POST /auth/refresh-token": next}
			}(),
			want: []seen{
				{Method: "POST", Path: "/auth/access-token", ContentType: form, Params: map[string]string{"grant_type": "password", "username": "u", "password": "p", "client_id": "id", "client_secret": "sec"}},
				{Method: "POST", Path: "/auth/refresh-token", ContentType: js, Params: map[string]string{"refresh_token": "RT1"}},
			},
			rotates: true,
		},
		{
			name: "fastapi API key",
			cfg:  client.Config{Contract: client.ContractFastAPI, APIKey: "K&1"},
			answers: func() map[string]func() (int, string) {
				next := counter(`{"access_token":"AT%d","token_type":"bearer","expires_in":60,"n":%d}`)
				return map[string]func() (int, string){"GET /auth/access-token": next}
			}(),
			want: []seen{
				{Method: "GET", Path: "/auth/access-token", Query: "key=K%261", Params: map[string]string{}},
				{Method: "GET", Path: "/auth/access-token", Query: "key=K%261", Params: map[string]string{}},
			},
		},
		{
			name: "datarhei-core password",
			cfg:  client.Config{Contract: client.ContractDatarheiCore, Username: "u", Password: "p"},
			answers: map[string]func() (int, string){
				"POST /api/login": func() (int, string) {
					return 200, `{"access_token":"AT1","refresh_token":"` + fakeJWT("rt", exp) + `"}`
				},
				"GET /api/login/refresh": func() (int, string) { return 200, `{"access_token":"AT2"}` },
			},
			want: []seen{
				{Method: "POST", Path: "/api/login", ContentType: js, Params: map[string]string{"username": "u", "password": "p"}},
				{Method: "GET", Path: "/api/login/refresh", Auth: "Bearer " + fakeJWT("rt", exp), Params: map[string]string{}},
			},
		},
		{
			name: "datarhei-core external token",
			cfg:  client.Config{Contract: client.ContractDatarheiCore, ExternalToken: "EXT"},
			answers: map[string]func() (int, string){
				"POST /api/login": func() (int, string) {
					return 200, `{"access_token":"AT1","refresh_token":"` + fakeJWT("rt", exp) + `"}`
				},
				"GET /api/login/refresh": func() (int, string) { return 200, `{"access_token":"AT2"}` },
			},
			want: []seen{
				{Method: "POST", Path: "/api/login", Auth: "Bearer EXT", Params: map[string]string{}},
				{Method: "GET", Path: "/api/login/refresh", Auth: "Bearer " + fakeJWT("rt", exp), Params: map[string]string{}},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStub(t, tc.answers)
			tc.cfg.BaseURL = s.URL
			c := newClient(t, tc.cfg)
			first := c.Tokens()
			second, err := c.Refresh(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got := s.requests()
			if len(got) != 2 {
				t.Fatalf("%d requests, want 2: %+v", len(got), got)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tc.want[i]) {
					t.Errorf("request %d:\n got %+v\nwant %+v", i, got[i], tc.want[i])
				}
			}
			if first.AccessToken != "AT1" || second != "AT2" {
				t.Fatalf("tokens %q then %q", first.AccessToken, second)
			}
			now := c.Tokens()
			switch {
			case tc.rotates && now.RefreshToken != "RT2":
				t.Fatalf("rotated refresh token not kept: %q", now.RefreshToken)
			case !tc.rotates && now.RefreshToken != first.RefreshToken:
				t.Fatal("a refresh token that does not rotate was dropped")
			}
		})
	}
}

// Refusals in each dialect become *client.Error.
func TestErrorBodiesOfEachDialect(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		code   string
		desc   string
	}{
		{"RFC 6749", 400, `{"error":"invalid_grant","error_description":"invalid username or password"}`, "invalid_grant", "invalid username or password"},
		{"FastAPI detail", 400, `{"detail":"Incorrect username or password"}`, "", "Incorrect username or password"},
		{"FastAPI validation", 422, `{"detail":[{"type":"missing","loc":["body","username"],"msg":"Field required","input":"hunter2"},{"type":"missing","loc":["body","password"],"msg":"Field required"}]}`, "", "Field required; Field required"},
		{"datarhei message", 401, `{"code":401,"message":"invalid credentials"}`, "", "invalid credentials"},
		{"prose in error", 403, `{"error":"Your account is locked until tomorrow"}`, "", "Your account is locked until tomorrow"},
		{"not JSON", 502, `<html>Bad Gateway</html>`, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStub(t, map[string]func() (int, string){"POST /oauth/token": func() (int, string) { return tc.status, tc.body }})
			_, err := client.New(context.Background(), client.Config{BaseURL: s.URL, Username: "u", Password: "hunter2"})
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v", err)
			}
			if e.StatusCode != tc.status || e.Code != tc.code || e.Description != tc.desc {
				t.Fatalf("got %#v", e)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatal("the error repeats the password")
			}
		})
	}
}

// A 5xx on refresh is not a refusal: the client reports it and keeps the
// session (no login, refresh token kept) for the next try.
func TestServerErrorOnRefreshKeepsTheSession(t *testing.T) {
	fail := true
	var mu sync.Mutex
	s := newStub(t, map[string]func() (int, string){"POST /oauth/token": func() (int, string) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return 503, `{"error":"temporarily_unavailable"}`
		}
		return 200, `{"access_token":"AT2","token_type":"Bearer","expires_in":60}`
	}})
	c := newClient(t, client.Config{BaseURL: s.URL, Username: "u", Password: "p", AccessToken: "AT1", RefreshToken: "RT1"})
	_, err := c.Refresh(context.Background())
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 503 {
		t.Fatalf("got %v", err)
	}
	if got := s.requests(); len(got) != 1 || got[0].Params["grant_type"] != "refresh_token" {
		t.Fatalf("requests %+v: a 503 must not trigger a login", got)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	tok, err := c.Refresh(context.Background())
	if err != nil || tok != "AT2" || c.Tokens().RefreshToken != "RT1" {
		t.Fatalf("retry: %v %q %q", err, tok, c.Tokens().RefreshToken)
	}
}

// A datarhei refresh token whose exp has passed is not sent: the client
// logs in again at once.
func TestExpiredJWTRefreshTokenIsNotSent(t *testing.T) {
	now := time.Now()
	s := newStub(t, map[string]func() (int, string){
		"POST /api/login": func() (int, string) {
			return 200, `{"access_token":"AT","refresh_token":"` + fakeJWT("rt", now.Add(time.Hour)) + `"}`
		},
	})
	c := newClient(t, client.Config{BaseURL: s.URL, Contract: client.ContractDatarheiCore, Username: "u", Password: "p",
		AccessToken: fakeJWT("at", now.Add(-time.Minute)), RefreshToken: fakeJWT("rt", now.Add(-time.Second))})
	if tok, err := c.Token(context.Background()); err != nil || tok != "AT" {
		t.Fatalf("%v %q", err, tok)
	}
	if got := s.requests(); len(got) != 1 || got[0].Path != "/api/login" {
		t.Fatalf("requests %+v", got)
	}
}

func TestExplicitEndpoints(t *testing.T) {
	s := newStub(t, map[string]func() (int, string){"POST /v2/token": counter(oauthAnswer)})
	c := newClient(t, client.Config{BaseURL: s.URL + "/v2/", Endpoints: client.Endpoints{Login: "token", Refresh: s.URL + "/v2/token"}, ClientID: "svc", ClientSecret: "x"})
	if _, err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.requests(); len(got) != 2 || got[0].Params["grant_type"] != "client_credentials" {
		t.Fatalf("requests %+v", got)
	}
}
