package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseFullConfig(t *testing.T) {
	data := `
issuer: https://auth.example.com
audience: api
access_token_ttl: 24h
refresh_token_ttl: 30d
signing_alg: ES256
routes:
  - path: /auth/oauth/token
    endpoint: token
    rotate_refresh_tokens: false
    claims: [exi, usefor]
bootstrap:
  users:
    - username: demo-user
      password: demo-password
      scopes: profile email
  clients:
    - id: demo-client
      secret: demo-secret
      grants: [password, refresh_token]
      scopes: [profile]
      access_token_ttl: 10h
`
	cfg, err := Parse("t.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.AccessTokenTTL.D() != 24*time.Hour || cfg.RefreshTokenTTL.D() != 30*24*time.Hour {
		t.Fatalf("ttls %v %v", cfg.AccessTokenTTL.D(), cfg.RefreshTokenTTL.D())
	}
	if got := cfg.Bootstrap.Users[0].Scopes; len(got) != 2 || got[1] != "email" {
		t.Fatalf("space-separated scopes parsed as %v", got)
	}
	if r := cfg.Routes[0]; r.RotateRefreshTokens == nil || *r.RotateRefreshTokens || len(r.Claims) != 2 {
		t.Fatalf("route options %+v", r)
	}
	if cfg.Bootstrap.Clients[0].AccessTokenTTL.D() != 10*time.Hour {
		t.Fatal("client ttl")
	}
}

func TestIssuerDefaultsToListenAddress(t *testing.T) {
	cfg := Default()
	cfg.Addr = "127.0.0.1:9123"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer != "http://127.0.0.1:9123" {
		t.Fatalf("issuer %q", cfg.Issuer)
	}
}

func TestMistakesNameFileLineAndKey(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "issuer: http://x\nbogus: 1\n", []string{"t.yaml:2", `unknown key "bogus"`}},
		{"unknown nested key", "routes:\n  - path: /t\n    endpoint: token\n    colour: red\n", []string{"t.yaml:4", `unknown key "colour"`}},
		{"bad duration", "access_token_ttl: 15 minutes\n", []string{"t.yaml:1", "access_token_ttl", "invalid duration"}},
		{"bad alg", "signing_alg: HS256\n", []string{"t.yaml:1", "signing_alg", "HS256"}},
		{"wrong type", "access_token_ttl: [1]\n", []string{"t.yaml:1", "access_token_ttl"}},
		{"bad route path", "routes:\n  - path: token\n    endpoint: token\n", []string{"t.yaml:2", "routes[0].path"}},
		{"client cache too long", "client_cache_ttl: 5m\n", []string{"t.yaml:1", "client_cache_ttl"}},
		{"unknown claim", "routes:\n  - path: /t\n    endpoint: token\n    claims: [foo]\n", []string{"t.yaml:4", "routes[0].claims[0]", "foo"}},
		{"unknown body", "routes:\n  - path: /t\n    endpoint: token\n    body: json\n", []string{"t.yaml:4", "routes[0].body", "json"}},
		{"client without secret", "bootstrap:\n  clients:\n    - id: c\n      grants: [password]\n", []string{"t.yaml:3", "bootstrap.clients[0]", "secret"}},
		{"both password forms", "bootstrap:\n  users:\n    - username: u\n      password: p\n      password_hash: $argon2id$x\n", []string{"t.yaml:3", "not both"}},
		{"malformed yaml", "routes: [\n", []string{"t.yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("t.yaml", []byte(tc.yaml))
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestEnvOverridesFile(t *testing.T) {
	env := map[string]string{"TOKENGATE_ADDR": "127.0.0.1:1", "TOKENGATE_DB": "sqlite:/tmp/x.db", "TOKENGATE_MASTER_KEY": "mk"}
	cfg, err := LoadFromEnv("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:1" || cfg.DB != "sqlite:/tmp/x.db" || cfg.MasterKey != "mk" {
		t.Fatalf("env not applied: %+v", cfg)
	}
}

func TestParseDurationDays(t *testing.T) {
	d, err := ParseDuration("90d")
	if err != nil || d != 90*24*time.Hour {
		t.Fatalf("90d = %v, %v", d, err)
	}
	if _, err := ParseDuration("-5m"); err == nil {
		t.Fatal("negative duration accepted")
	}
	var ce *Error
	_, err = Parse("f.yaml", []byte("refresh_token_ttl: 3x\n"))
	if !errors.As(err, &ce) || ce.Line != 1 || ce.Key != "refresh_token_ttl" {
		t.Fatalf("got %#v", err)
	}
}

func TestMasterKeyFromAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(f, []byte("  key-from-file-0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TOKENGATE_MASTER_KEY_FILE": f}
	cfg, err := LoadFromEnv("", func(k string) string { return env[k] })
	if err != nil || cfg.MasterKey != "key-from-file-0123456789abcdef0123" {
		t.Fatalf("master key from file: %q, %v", cfg.MasterKey, err)
	}
	env["TOKENGATE_MASTER_KEY"] = "other"
	if _, err := LoadFromEnv("", func(k string) string { return env[k] }); err == nil {
		t.Fatal("both TOKENGATE_MASTER_KEY and TOKENGATE_MASTER_KEY_FILE accepted")
	}
	delete(env, "TOKENGATE_MASTER_KEY")
	env["TOKENGATE_MASTER_KEY_FILE"] = f + ".missing"
	if _, err := LoadFromEnv("", func(k string) string { return env[k] }); err == nil {
		t.Fatal("a missing key file accepted")
	}
}

func TestTLSNeedsBothFilesAndMakesTheIssuerHTTPS(t *testing.T) {
	cfg, err := Parse("f.yaml", []byte("addr: 127.0.0.1:8443\ntls_cert: c.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	var ce *Error
	if err := cfg.Validate(); !errors.As(err, &ce) || ce.Key != "tls_key" {
		t.Fatalf("tls_cert without tls_key: %v", err)
	}
	cfg, _ = Parse("f.yaml", []byte("addr: 127.0.0.1:8443\ntls_cert: c.pem\ntls_key: k.pem\n"))
	if err := cfg.Validate(); err != nil || cfg.Issuer != "https://127.0.0.1:8443" {
		t.Fatalf("issuer %q, %v; want https://127.0.0.1:8443", cfg.Issuer, err)
	}
}

func TestShortMasterKeyIsRefused(t *testing.T) {
	cfg, _ := Parse("f.yaml", []byte("master_key: too-short-a-key\n"))
	var ce *Error
	if err := cfg.Validate(); !errors.As(err, &ce) || ce.Key != "master_key" || !strings.Contains(err.Error(), "32 bytes") {
		t.Fatalf("short master key: %v", err)
	}
	cfg, _ = Parse("f.yaml", []byte("master_key: "+strings.Repeat("k", 32)+"\n"))
	if err := cfg.Validate(); err != nil {
		t.Fatalf("32-byte master key: %v", err)
	}
}
