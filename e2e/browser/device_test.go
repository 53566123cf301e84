package browser

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// deviceFeature names what the device flow test needs.
const deviceFeature = "the device authorization grant with its /device page (issue 16 item 3, branch device)"

// deviceGrant is the grant type of RFC 8628 §3.4.
const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// TestBrowserDeviceFlow runs RFC 8628 with a person in Chromium: the test,
// as the device, asks for a device code and polls the token endpoint while
// the browser opens the verification URI, signs in, enters the user code
// and approves; the polling then gets the tokens. A second device code is
// denied in the same (signed-in) browser, without a password, and its
// polling ends with access_denied; the first user code, used once, is not
// accepted again.
func TestBrowserDeviceFlow(t *testing.T) {
	s := startServer(t, "")
	s.requireEndpoint(t, deviceFeature, http.MethodPost, "/oauth/device_authorization")
	s.requireEndpoint(t, deviceFeature, http.MethodGet, "/device")
	s.addUser(t, "alice", "alice-password-1", "read")
	s.addClient(t, deviceFeature, "tv", "--grants", deviceGrant, "--scopes", "read", "--public")
	b := newBrowser(t)
	token := s.base + "/oauth/token"

	da := deviceAuthorization(t, s, "tv")
	if da.verificationURI != s.base+"/device" {
		t.Errorf("verification_uri %q; want %s/device", da.verificationURI, s.base)
	}
	// Before anyone approves: authorization_pending.
	st, body := tokenRequest(t, token, url.Values{"grant_type": {deviceGrant}, "device_code": {da.deviceCode}}, "tv", "")
	if st != http.StatusBadRequest || str(body, "error") != "authorization_pending" {
		t.Fatalf("polling before approval: %d %v; want 400 authorization_pending", st, body)
	}
	polled := pollDevice(b.ctx, token, "tv", da)

	resp := b.navigate(t, da.verificationURI)
	if u, _ := url.Parse(resp.URL); u == nil || u.Path != "/login" {
		t.Fatalf("the verification URI without a session ended on %s; want the login page\n%s", resp.URL, b.state())
	}
	checkPageHeaders(t, "login page (device)", resp)
	b.signIn(t, "alice", "alice-password-1")
	b.do(t, "entering the user code",
		chromedp.WaitVisible(chromedp.CSS("#user_code")),
		chromedp.SendKeys(chromedp.CSS("#user_code"), da.userCode),
		chromedp.Click(chromedp.CSS("#device-submit")),
		chromedp.WaitVisible(chromedp.CSS("#approve")),
		chromedp.Click(chromedp.CSS("#approve")),
	)
	r := <-polled
	if r.err != nil || r.status != http.StatusOK || str(r.body, "access_token") == "" {
		t.Fatalf("polling after approval: %d %v %v (after %d authorization_pending, %d slow_down)\n%s", r.status, r.body, r.err, r.pending, r.slowDown, b.state())
	}
	if sc := str(r.body, "scope"); sc != "" && sc != "read" {
		t.Errorf("device flow granted scope %q; want read", sc)
	}

	// A second device, denied by the signed-in user: no password asked.
	da2 := deviceAuthorization(t, s, "tv")
	polled = pollDevice(b.ctx, token, "tv", da2)
	mark := b.mark()
	checkPageHeaders(t, "device page", b.navigate(t, da2.verificationURI))
	b.do(t, "entering the second user code",
		chromedp.WaitVisible(chromedp.CSS("#user_code")),
		chromedp.SendKeys(chromedp.CSS("#user_code"), da2.userCode),
		chromedp.Click(chromedp.CSS("#device-submit")),
		chromedp.WaitVisible(chromedp.CSS("#deny")),
		chromedp.Click(chromedp.CSS("#deny")),
	)
	for _, u := range b.navigations(mark) {
		if p, _ := url.Parse(u); p != nil && p.Path == "/login" {
			t.Errorf("the signed-in user was asked to log in again (%s)", u)
		}
	}
	r = <-polled
	if r.err != nil || r.status != http.StatusBadRequest || str(r.body, "error") != "access_denied" {
		t.Fatalf("polling after denial: %d %v %v; want 400 access_denied", r.status, r.body, r.err)
	}

	// The first user code was used: the page does not offer it again.
	b.navigate(t, s.base+"/device")
	b.do(t, "entering the used user code", chromedp.WaitVisible(chromedp.CSS("#user_code")), chromedp.SendKeys(chromedp.CSS("#user_code"), da.userCode))
	ctx, cancel := stepContext(b)
	_, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#device-submit")))
	cancel()
	if err != nil {
		t.Fatalf("submitting the used user code: %v\n%s", err, b.state())
	}
	if offered := run(t, b, "looking for #approve", chromedp.Evaluate[bool](`!!document.querySelector('#approve')`)); offered {
		t.Errorf("a used user code is offered for approval again\n%s", b.state())
	}
	if v := b.cspViolations(); len(v) > 0 {
		t.Errorf("Chromium reported Content-Security-Policy violations on the device pages:\n%s", strings.Join(v, "\n"))
	}
}

// deviceAuthz is a device authorization response (RFC 8628 §3.2).
type deviceAuthz struct {
	deviceCode, userCode, verificationURI string
	interval                              time.Duration
}

// deviceAuthorization asks for a device code for the public client.
func deviceAuthorization(t *testing.T, s *server, clientID string) deviceAuthz {
	t.Helper()
	st, body := tokenRequest(t, s.base+"/oauth/device_authorization", url.Values{"scope": {"read"}}, clientID, "")
	if st != http.StatusOK {
		t.Fatalf("device authorization: %d %v", st, body)
	}
	da := deviceAuthz{deviceCode: str(body, "device_code"), userCode: str(body, "user_code"), verificationURI: str(body, "verification_uri"), interval: 5 * time.Second}
	if v, ok := body["interval"].(float64); ok && v > 0 {
		da.interval = time.Duration(v) * time.Second
	}
	if exp, _ := body["expires_in"].(float64); da.deviceCode == "" || da.userCode == "" || da.verificationURI == "" || exp <= 0 {
		t.Fatalf("device authorization response %v lacks device_code, user_code, verification_uri or expires_in", body)
	}
	if strings.Contains(da.userCode, da.deviceCode) || len(da.userCode) > 12 {
		t.Errorf("user code %q: want short and unrelated to the device code", da.userCode)
	}
	return da
}

// pollResult is the end of a device's polling.
type pollResult struct {
	status            int
	body              map[string]any
	err               error
	pending, slowDown int
}

// pollDevice polls the token endpoint as a device does (RFC 8628 §3.4,
// §3.5): every interval, five seconds more after each slow_down, until an
// answer other than authorization_pending or slow_down, or ctx ends.
func pollDevice(ctx context.Context, token, clientID string, da deviceAuthz) <-chan pollResult {
	out := make(chan pollResult, 1)
	go func() {
		var r pollResult
		interval := da.interval
		for {
			select {
			case <-ctx.Done():
				r.err = fmt.Errorf("polling stopped: %w", ctx.Err())
				out <- r
				return
			case <-time.After(interval):
			}
			r.status, r.body, r.err = postForm(ctx, token, url.Values{"grant_type": {deviceGrant}, "device_code": {da.deviceCode}}, clientID, "")
			if r.err != nil {
				out <- r
				return
			}
			switch str(r.body, "error") {
			case "authorization_pending":
				r.pending++
			case "slow_down":
				r.slowDown++
				interval += 5 * time.Second
			default:
				out <- r
				return
			}
		}
	}()
	return out
}

// TestBrowserTokenDevice runs `tokengate token --device`, the CLI a
// person uses to get a token without typing a password into a terminal:
// it prints the verification URI and the user code, the person enters the
// code in Chromium (signing in there) and approves, and the command prints
// an access token. A second run answers from its cache, asking nothing.
func TestBrowserTokenDevice(t *testing.T) {
	s := startServer(t, "")
	s.requireEndpoint(t, deviceFeature, http.MethodPost, "/oauth/device_authorization")
	s.requireEndpoint(t, deviceFeature, http.MethodGet, "/device")
	s.addUser(t, "alice", "alice-password-1", "read")
	s.addClient(t, deviceFeature, "cli", "--grants", deviceGrant+",refresh_token", "--scopes", "read", "--public")
	b := newBrowser(t)
	cache := filepath.Join(t.TempDir(), "tokens.json")
	args := []string{"token", "--device", "--url", s.base, "--client-id", "cli", "--scope", "read", "--cache", cache}

	cmd := exec.CommandContext(b.ctx, binPath, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	prompt := make(chan [2]string, 1)
	var errText syncBuffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(&errText, line)
			if rest, ok := strings.CutPrefix(line, "To sign in, open "); ok {
				if uri, code, ok := strings.Cut(rest, " and enter the code "); ok {
					prompt <- [2]string{uri, code}
				}
			}
		}
	}()
	var p [2]string
	select {
	case p = <-prompt:
	case <-time.After(stepTimeout):
		t.Fatalf("tokengate token --device printed no verification URI and code:\n%s", errText.String())
	}
	b.navigate(t, p[0])
	b.signIn(t, "alice", "alice-password-1")
	b.do(t, "entering the CLI's user code",
		chromedp.WaitVisible(chromedp.CSS("#user_code")),
		chromedp.SendKeys(chromedp.CSS("#user_code"), p[1]),
		chromedp.Click(chromedp.CSS("#device-submit")),
		chromedp.WaitVisible(chromedp.CSS("#approve")),
		chromedp.Click(chromedp.CSS("#approve")),
	)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tokengate token --device: %v\n%s\n%s", err, stdout.String(), errText.String())
	}
	tok := strings.TrimSpace(stdout.String())
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("tokengate token --device printed %q; want an access token (JWT)", tok)
	}

	// Again: the cached session answers, nothing to approve.
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	again := exec.CommandContext(ctx, binPath, args...)
	again.Env = cmd.Env
	var out2, err2 bytes.Buffer
	again.Stdout, again.Stderr = &out2, &err2
	if err := again.Run(); err != nil || strings.Count(strings.TrimSpace(out2.String()), ".") != 2 || strings.Contains(err2.String(), "To sign in") {
		t.Fatalf("second tokengate token --device: %v, stdout %q, stderr %q; want a token from the cache without a prompt", err, out2.String(), err2.String())
	}
}
