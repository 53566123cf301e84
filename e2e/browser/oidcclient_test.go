package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// oidcFeature names what the strict OpenID Connect client needs besides
// the authorization code flow.
const oidcFeature = "OpenID Connect: discovery, the ID token with RS256, userinfo (issue 16 item 4, branch oidc)"

// nodeModules is the node_modules directory that holds oauth4webapi:
// TOKENGATE_TEST_NODE_MODULES (set by scripts/with-chromium.sh), or
// testdata/oidcclient/node_modules after a manual `npm ci` there.
func nodeModules(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TOKENGATE_TEST_NODE_MODULES")
	if dir == "" {
		dir, _ = filepath.Abs(filepath.Join("testdata", "oidcclient", "node_modules"))
	}
	if _, err := os.Stat(filepath.Join(dir, "oauth4webapi", "package.json")); err != nil {
		skipOrFail(t, "oauth4webapi is not installed in %s (run `make test`, or `bash scripts/with-chromium.sh go test ./e2e/browser/`, which installs it)", dir)
	}
	return dir
}

// TestOAuth4WebAPIClient has a strict third-party OpenID Connect client,
// oauth4webapi run with Node.js (testdata/oidcclient/client.mjs), sign a
// user in with the real binary: discovery, the authorization code flow
// with PKCE S256, state, nonce and max_age, the login page and the consent
// screen played over HTTP with a cookie jar, the iss authorization
// response parameter, the code exchange, the ID token's claims and RS256
// signature against the JWKS, at_hash, userinfo and a refresh. The library
// rejects any deviation from the specifications, so the test passing means
// a standard client works with tokengate unchanged.
func TestOAuth4WebAPIClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node not found: the strict OpenID Connect client runs with Node.js")
	}
	modules := nodeModules(t)
	s := startServer(t, "")
	s.requireEndpoint(t, authcodeFeature, http.MethodGet, "/oauth/authorize")
	s.requireEndpoint(t, oidcFeature, http.MethodGet, "/.well-known/openid-configuration")
	app := startClientApp(t) // registered, never visited: the client stops at the redirect
	s.addUser(t, "carol", "carol-password-1", "openid read")
	secret := s.addClient(t, authcodeFeature, "relying-party", "--grants", "authorization_code,refresh_token",
		"--redirect-uris", app.redirectURI(), "--scopes", "openid read", "--third-party")

	// The script next to a link to node_modules, so that Node resolves the
	// package from wherever the test command installed it.
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "oidcclient", "client.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "client.mjs"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "client.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"ISSUER="+s.base, "CLIENT_ID=relying-party", "CLIENT_SECRET="+secret, "REDIRECT_URI="+app.redirectURI(),
		"USERNAME=carol", "PASSWORD=carol-password-1", "SCOPE=openid read")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("oauth4webapi client: %v\n%s%s", err, stderr.String(), stdout.String())
	}
	var got struct {
		Iss                   string   `json:"iss"`
		Sub                   string   `json:"sub"`
		Aud                   any      `json:"aud"`
		AuthTime              *float64 `json:"auth_time"`
		Alg                   string   `json:"alg"`
		Scope                 string   `json:"scope"`
		UserinfoSub           string   `json:"userinfo_sub"`
		Refreshed             bool     `json:"refreshed"`
		IssParameterSupported bool     `json:"iss_parameter_supported"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("oauth4webapi client output %q: %v", stdout.String(), err)
	}
	t.Logf("oauth4webapi: %s", bytes.TrimSpace(stdout.Bytes()))
	if got.Iss != s.base || got.Sub == "" || got.UserinfoSub != got.Sub || got.Alg != "RS256" || got.AuthTime == nil {
		t.Errorf("ID token iss=%q sub=%q alg=%q auth_time=%v, userinfo sub=%q; want iss %s, a sub equal in both, RS256, an auth_time",
			got.Iss, got.Sub, got.Alg, got.AuthTime, got.UserinfoSub, s.base)
	}
	if aud, ok := got.Aud.(string); !ok || aud != "relying-party" {
		if list, ok := got.Aud.([]any); !ok || len(list) != 1 || list[0] != "relying-party" {
			t.Errorf("ID token aud %v; want relying-party", got.Aud)
		}
	}
	if !got.IssParameterSupported {
		t.Errorf("discovery lacks authorization_response_iss_parameter_supported: true (RFC 9207)")
	}
	if !got.Refreshed {
		t.Errorf("the refresh token of the code flow did not refresh and rotate")
	}
}
