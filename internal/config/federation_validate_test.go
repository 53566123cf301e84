package config

import (
	"strings"
	"testing"
	"time"
)

func TestTrustedIssuersParseAndValidate(t *testing.T) {
	data := `
trusted_issuers:
  - name: auth0
    issuer: https://tenant.auth0.com/
    audiences: [https://api.example.com]
    algorithms: [RS256]
    allowed_subjects: ["auth0|123"]
    users: {"google-oauth2|42": alice}
    auto_provision: true
    scopes: read write
    min_refetch_interval: 30s
    key_cache_ttl: 2h
    timeout: 3s
    leeway: 1m
  - issuer: http://127.0.0.1:9000
    jwks_url: http://localhost:9000/.well-known/jwks.json
    audiences: [tokengate]
    subject_claim: email
    auto_provision: true
`
	cfg, err := Parse("t.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ti := cfg.TrustedIssuers[0]
	if ti.Users["google-oauth2|42"] != "alice" || len(ti.Scopes) != 2 || ti.KeyCacheTTL.D() != 2*time.Hour || ti.Leeway.D() != time.Minute {
		t.Fatalf("parsed %+v", ti)
	}
}

func TestTrustedIssuerMistakes(t *testing.T) {
	cases := []struct {
		name, yaml, key, msg string
	}{
		{"missing issuer", `{audiences: [a], auto_provision: true}`, "trusted_issuers[0].issuer", "missing issuer"},
		{"plain http", `{issuer: "http://idp.example.com/", audiences: [a], auto_provision: true}`, "trusted_issuers[0].issuer", "https"},
		{"relative", `{issuer: "idp.example.com", audiences: [a], auto_provision: true}`, "trusted_issuers[0].issuer", "absolute URL"},
		{"http jwks_url", `{issuer: "https://idp.example.com/", jwks_url: "http://idp.example.com/keys", audiences: [a], auto_provision: true}`, "trusted_issuers[0].jwks_url", "https"},
		{"no audience", `{issuer: "https://idp.example.com/", auto_provision: true}`, "trusted_issuers[0].audiences", "audience"},
		{"HS256", `{issuer: "https://idp.example.com/", audiences: [a], algorithms: [HS256], auto_provision: true}`, "trusted_issuers[0].algorithms[0]", "never none or HS*"},
		{"none", `{issuer: "https://idp.example.com/", audiences: [a], algorithms: [none], auto_provision: true}`, "trusted_issuers[0].algorithms[0]", "not allowed"},
		{"subject claim", `{issuer: "https://idp.example.com/", audiences: [a], subject_claim: name, auto_provision: true}`, "trusted_issuers[0].subject_claim", "sub or email"},
		{"nobody may log in", `{issuer: "https://idp.example.com/", audiences: [a]}`, "trusted_issuers[0]", "nobody could log in"},
		{"allowed_subjects alone", `{issuer: "https://idp.example.com/", audiences: [a], allowed_subjects: [admin]}`, "trusted_issuers[0].allowed_subjects", "only through users"},
		{"allowed_subjects with email", `{issuer: "https://idp.example.com/", audiences: [a], subject_claim: email, auto_provision: true, allowed_subjects: [a@b.c]}`, "trusted_issuers[0].allowed_subjects", "map verified emails in users"},
		{"mapping to a provisioned user", `{issuer: "https://idp.example.com/", audiences: [a], users: {"x": "ext:abc"}}`, "trusted_issuers[0].users.x", "namespace of provisioned users"},
		{"timeout too long", `{issuer: "https://idp.example.com/", audiences: [a], auto_provision: true, timeout: 5m}`, "trusted_issuers[0].timeout", "at most 1m"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("t.yaml", []byte("trusted_issuers:\n  - "+tc.yaml+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.key+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %s: …%s…", err, tc.key, tc.msg)
			}
		})
	}
	cfg, err := Parse("t.yaml", []byte("trusted_issuers:\n  - {issuer: \"https://a.example/\", audiences: [a], auto_provision: true}\n  - {issuer: \"https://a.example/\", audiences: [b], auto_provision: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "declared twice") {
		t.Fatalf("duplicate issuer: %v", err)
	}
}

func TestBootstrapUsersCannotTakeTheProvisionedNamespace(t *testing.T) {
	cfg, err := Parse("t.yaml", []byte("bootstrap:\n  users:\n    - {username: \"ext:abc\", password: x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "t.yaml:3: bootstrap.users[0].username: ") || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("got %v", err)
	}
}
