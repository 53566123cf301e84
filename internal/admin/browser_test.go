package admin

import (
	"errors"
	"testing"
)

func TestRedirectURIRegistration(t *testing.T) {
	ok := []string{"https://app.example/cb", "https://app.example/cb?x=1", "http://127.0.0.1/cb", "http://[::1]:8080/cb", "com.example.app:/oauth2redirect"}
	bad := []string{"", "/cb", "app.example/cb", "https://app.example/cb#frag", "http://app.example/cb", "http://localhost/cb",
		"javascript:alert(1)", "data:text/html,x", "https://user:pw@app.example/cb", "https://app.example/c b", "HTTPS://app.example/cb", "https:///cb"}
	for _, u := range ok {
		if msg := redirectURIProblem(u); msg != "" {
			t.Errorf("%q refused: %s", u, msg)
		}
	}
	for _, u := range bad {
		if redirectURIProblem(u) == "" {
			t.Errorf("%q accepted", u)
		}
	}
}

func TestAuthorizationCodeNeedsRedirectURI(t *testing.T) {
	var ie *InvalidError
	if err := CheckBrowserClient([]string{"authorization_code", "refresh_token"}, nil, nil); !errors.As(err, &ie) {
		t.Fatalf("client with authorization_code and no redirect URI: %v, want refused", err)
	}
	if err := CheckBrowserClient([]string{"authorization_code"}, []string{"https://app.example/cb"}, []string{"https://app.example"}); err != nil {
		t.Fatal(err)
	}
}

func TestOriginRegistration(t *testing.T) {
	for _, o := range []string{"https://app.example", "https://app.example:8443", "http://localhost:3000", "http://127.0.0.1:5173"} {
		if !OriginOK(o) {
			t.Errorf("%q refused", o)
		}
	}
	for _, o := range []string{"", "*", "null", "https://app.example/", "https://app.example/x", "http://app.example", "app.example", "https://app.example?x", "https://u@app.example"} {
		if OriginOK(o) {
			t.Errorf("%q accepted", o)
		}
	}
}
