package browser

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestHarnessCatchesARedirectBlockedByCSP is the control of the CSP check
// in TestBrowserAuthorizationCodeFlow: it shows, without tokengate, that
// Chromium silently drops the redirect to another origin that answers a
// form POST when the page's policy says form-action 'self', and that the
// harness notices (the client app gets nothing, the log names the
// policy), while a policy that allows the client's origin lets it through.
// Without it the browser tests could pass for a reason other than the one
// they claim.
func TestHarnessCatchesARedirectBlockedByCSP(t *testing.T) {
	app := startClientApp(t)
	b := newBrowser(t)
	for _, tc := range []struct {
		formAction string
		blocked    bool
	}{
		{"'self'", true},
		{"'self' " + app.base, false},
	} {
		csp := "default-src 'none'; form-action " + tc.formAction + "; frame-ancestors 'none'"
		mux := http.NewServeMux()
		mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", csp)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, `<!doctype html><form method="post" action="/form"><button id="go" type="submit">go</button></form>`)
		})
		mux.HandleFunc("POST /form", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, app.redirectURI()+"?code=c&state=s", http.StatusSeeOther)
		})
		site := httptest.NewServer(mux)
		t.Cleanup(site.Close)

		b.navigate(t, site.URL+"/form")
		b.do(t, "posting the form", chromedp.Click(chromedp.CSS("#go")))
		if !tc.blocked {
			if _, err := awaitCallback(b, app, stepTimeout); err != nil {
				t.Fatalf("form-action %s: %v\n%s", tc.formAction, err, b.state())
			}
			continue
		}
		// The violation report is the signal that the browser is done with
		// the redirect; only then is the absence of a callback meaningful.
		select {
		case v := <-b.csp:
			if !strings.Contains(v, "form-action") {
				t.Fatalf("form-action %s: Chromium reported %q; want a form-action violation", tc.formAction, v)
			}
			t.Logf("form-action %s: %s", tc.formAction, v)
		case <-time.After(stepTimeout):
			t.Fatalf("form-action %s: Chromium reported no CSP violation\n%s", tc.formAction, b.state())
		}
		app.noCallback(t, fmt.Sprintf("form-action %s", tc.formAction))
	}
}
