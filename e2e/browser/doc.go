// Package browser holds the real-browser end-to-end tests of tokengate's
// sign-in flows (issue 16, item 6): the authorization code flow with PKCE,
// the login page, consent, the session and logout, and the device flow,
// driven in headless Chromium with chromedp against the real binary on
// 127.0.0.1; and a strict third-party OpenID Connect client (oauth4webapi,
// run with Node.js) that completes the code flow and validates the ID token.
//
// The package has no code of its own. `make test` runs the tests through
// scripts/with-chromium.sh, which installs Debian's chromium and the npm
// package when they are missing and sets TOKENGATE_TEST_BROWSER=1, so that
// the tests fail rather than skip; a plain `go test ./...` without Chromium
// skips them and says why.
package browser
