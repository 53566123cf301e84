package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/client"
)

// printed returns v as every formatting verb and slog handler shows it.
func printed(v any) map[string]string {
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("msg", "value", v)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("msg", "value", v)
	out["slog text"], out["slog JSON"] = text.String(), js.String()
	return out
}

func TestNothingPrintsASecret(t *testing.T) {
	tg := startTokengate(t, baseConfig, nil, nil)
	cfg := client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw",
		APIKey: "the-api-key", ExternalToken: "the-external-jwt"}
	pw := cfg
	pw.APIKey, pw.ExternalToken = "", ""
	c, err := client.New(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	tok := c.Tokens()
	resumed := cfg
	resumed.AccessToken, resumed.RefreshToken = tok.AccessToken, tok.RefreshToken
	secrets := []string{"app-secret", "alice-pw", "the-api-key", "the-external-jwt", tok.AccessToken, tok.RefreshToken,
		tok.AccessToken[len(tok.AccessToken)-20:], tok.RefreshToken[len(tok.RefreshToken)-12:]}
	for name, v := range map[string]any{"Config": cfg, "*Config": &resumed, "*Client": c, "Tokens": tok, "*Tokens": &tok} {
		for how, s := range printed(v) {
			for _, secret := range secrets {
				if strings.Contains(s, secret) {
					t.Errorf("%s as %s shows a secret: %s", name, how, s)
				}
			}
			if !strings.Contains(s, "redacted") {
				t.Errorf("%s as %s says nothing of what it hides: %s", name, how, s)
			}
		}
	}
}

func TestServerTextInErrorsIsBounded(t *testing.T) {
	long := strings.Repeat("x", 10000)
	s := newStub(t, map[string]func() (int, string){"POST /oauth/token": func() (int, string) {
		return 400, `{"error":"invalid_grant","error_description":"\u001b[31mred\u001b[0m\r\nX-Injected: 1 ` + long + `"}`
	}})
	_, err := client.New(context.Background(), client.Config{BaseURL: s.URL, Username: "u", Password: "p"})
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatal(err)
	}
	msg := err.Error()
	if len(msg) > 700 || strings.ContainsAny(msg, "\x1b\r\n") {
		t.Fatalf("server text not bounded or not cleaned (%d bytes): %q", len(msg), msg[:min(len(msg), 80)])
	}
}
