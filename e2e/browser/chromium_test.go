package browser

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// testBudget bounds each browser test; stepTimeout bounds one browser step.
const (
	testBudget  = 60 * time.Second
	stepTimeout = 15 * time.Second
)

// sessionCookie is the login session cookie of the HTML contract.
const sessionCookie = "__Host-tokengate-session"

// chromiumPath is Debian's chromium, or TOKENGATE_CHROMIUM.
func chromiumPath() string {
	if p := os.Getenv("TOKENGATE_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// browser is a headless Chromium with a fresh profile, driven by chromedp.
// It records what its pages logged (CSP violations among them) and the
// URLs its main frame committed, for the tests' assertions and messages.
type browser struct {
	ctx context.Context // bounded by testBudget

	// csp receives each logged message that names the Content Security
	// Policy (those beyond its buffer stay in logs).
	csp chan string

	mu   sync.Mutex
	logs []string
	urls []string
}

// newBrowser starts Chromium for the test, or skips the test (fails under
// TOKENGATE_TEST_BROWSER=1) when there is none.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath()
	if _, err := os.Stat(path); err != nil {
		skipOrFail(t, "no Chromium at %s (run `make test`, or `bash scripts/with-chromium.sh go test ./e2e/browser/`, which installs Debian's chromium)", path)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(820, 720),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelRoot()
		cancelAlloc()
	})
	// The first Run starts the browser and binds it to root, which has no
	// deadline; the test's budget applies to the contexts derived below.
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("starting Chromium at %s: %v", path, err)
	}
	ctx, cancel := context.WithTimeout(root, testBudget)
	t.Cleanup(cancel)
	b := &browser{ctx: ctx, csp: make(chan string, 64)}
	if err := chromedp.Listen(root, b.record); err != nil {
		t.Fatal(err)
	}
	return b
}

// record keeps the log entries, console messages, exceptions and main-frame
// navigations of the page.
func (b *browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *log.EventEntryAdded:
		line := fmt.Sprintf("[%s %s] %s %s", e.Entry.Source, e.Entry.Level, e.Entry.Text, e.Entry.URL)
		b.logs = append(b.logs, line)
		if strings.Contains(line, "Content Security Policy") {
			select {
			case b.csp <- line:
			default:
			}
		}
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range e.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, string(a.Value))
			}
		}
		b.logs = append(b.logs, fmt.Sprintf("[console %s] %s", e.Type, strings.Join(parts, " ")))
	case *runtime.EventExceptionThrown:
		b.logs = append(b.logs, fmt.Sprintf("[exception] %s", e.ExceptionDetails.Text))
	case *page.EventFrameNavigated:
		if e.Frame.ParentID == "" {
			b.urls = append(b.urls, e.Frame.URL)
		}
	}
}

// navigations returns the main-frame URLs committed since mark (see mark).
func (b *browser) navigations(mark int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.urls[mark:]...)
}

// mark is the number of main-frame navigations so far.
func (b *browser) mark() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.urls)
}

// cspViolations are the logged messages that name the Content Security
// Policy.
func (b *browser) cspViolations() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range b.logs {
		if strings.Contains(l, "Content Security Policy") {
			out = append(out, l)
		}
	}
	return out
}

// state describes where the browser is and what it logged, for failure
// messages.
func (b *browser) state() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		loc = "(unknown: " + err.Error() + ")"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("browser at %s\nnavigations: %s\npage log:\n  %s", loc, strings.Join(b.urls, " -> "), strings.Join(b.logs, "\n  "))
}

// do runs browser steps with a step timeout, failing the test with the
// browser's state.
func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, b.state())
	}
}

// run is do for one action that returns a value.
func run[T any](t *testing.T, b *browser, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, b.state())
	}
	return v
}

// navigate opens u and returns the response of the document the
// navigation ends on (after the server's redirects).
func (b *browser) navigate(t *testing.T, u string) *network.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(u))
	if err != nil {
		t.Fatalf("navigate %s: %v\n%s", u, err, b.state())
	}
	return resp
}

// location is the URL of the page shown.
func (b *browser) location(t *testing.T) *url.URL {
	t.Helper()
	loc := run(t, b, "location", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("location %q: %v", loc, err)
	}
	return u
}

// signIn fills the login page shown and submits it.
func (b *browser) signIn(t *testing.T, username, password string) {
	t.Helper()
	b.do(t, "filling the login page",
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), username),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#sign-in")),
	)
}

// cookie returns the browser's cookie name for the URL, or nil.
func (b *browser) cookie(t *testing.T, u, name string) *network.Cookie {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		t.Fatalf("reading cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// waitCallback waits for the client app to receive an authorization
// response. When it never comes, the browser's state says why: a redirect
// that the Content-Security-Policy blocked shows in its log.
func waitCallback(t *testing.T, b *browser, app *clientApp, what string) url.Values {
	t.Helper()
	q, err := awaitCallback(b, app, stepTimeout)
	if err != nil {
		t.Fatalf("%s: %v (a redirect blocked by the server's Content-Security-Policy, such as form-action 'self' on a form whose answer redirects to the client, ends here)\nCSP messages: %v\n%s",
			what, err, b.cspViolations(), b.state())
	}
	return q
}

// awaitCallback returns the next authorization response the client app
// receives, or an error after d.
func awaitCallback(b *browser, app *clientApp, d time.Duration) (url.Values, error) {
	select {
	case q := <-app.got:
		return q, nil
	case <-time.After(d):
		return nil, fmt.Errorf("the client app received no authorization response within %v", d)
	case <-b.ctx.Done():
		return nil, fmt.Errorf("test budget spent: %w", b.ctx.Err())
	}
}

// pkce is a PKCE verifier and its S256 challenge (RFC 7636).
type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := base64.RawURLEncoding.EncodeToString(randomBytes(32))
	sum := sha256.Sum256([]byte(v))
	return pkce{verifier: v, challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// randomState is a fresh state or nonce value.
func randomState() string { return base64.RawURLEncoding.EncodeToString(randomBytes(16)) }

// authorizeURL is the authorization request of the HTML contract.
func authorizeURL(base, clientID, redirectURI, scope, state, nonce string, p pkce) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {redirectURI},
		"code_challenge":        {p.challenge},
		"code_challenge_method": {"S256"},
		"state":                 {state},
		"scope":                 {scope},
	}
	if nonce != "" {
		q.Set("nonce", nonce)
	}
	return base + "/oauth/authorize?" + q.Encode()
}

// header returns a response header of the browser's document response.
func header(r *network.Response, name string) string {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// stepContext is a context for one browser step.
func stepContext(b *browser) (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, stepTimeout)
}
