package client

import (
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Transport returns an http.RoundTripper that sends each request with
// "Authorization: Bearer" and the session's access token. When the API
// answers 401 with a challenge whose error is invalid_token (or that
// names no error), the token is renewed and the request sent once more,
// if its body can be sent again (no body, or GetBody set, as
// http.NewRequest does for bytes and strings readers); otherwise the 401
// is returned. A 401 never renews for insufficient_scope or another
// error code, and a token obtained by such a renewal is not renewed again
// for a 401 until an API has accepted it, so an API that refuses every
// token costs one renewal, not one per call (it is renewed again once an
// API has accepted it). Requests go through
// Config.HTTPClient's transport.
//
// The token is sent to whatever host a request names: use it only for the
// API the token is meant for. When a response redirects to another origin
// (scheme, host or port) than the request's, the redirected request is
// sent without the token, unless Config.ForwardTokenOnRedirect is set.
func (c *Client) Transport() http.RoundTripper {
	base := http.DefaultTransport
	if c.cfg.HTTPClient != nil && c.cfg.HTTPClient.Transport != nil {
		base = c.cfg.HTTPClient.Transport
	}
	return &transport{c: c, base: base}
}

// HTTPClient returns an *http.Client whose requests carry the session's
// access token (see Transport). Its timeout, cookie jar and redirect
// policy are Config.HTTPClient's.
func (c *Client) HTTPClient() *http.Client {
	hc := &http.Client{Transport: c.Transport()}
	if b := c.cfg.HTTPClient; b != nil {
		hc.Timeout, hc.Jar, hc.CheckRedirect = b.Timeout, b.Jar, b.CheckRedirect
	}
	return hc
}

type transport struct {
	c    *Client
	base http.RoundTripper
}

// RoundTrip implements http.RoundTripper. It does not modify req.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if req.Response != nil && !t.c.cfg.ForwardTokenOnRedirect && !sameOrigin(req.URL, firstRequest(req).URL) {
		// A redirect to another origin: the token stays home.
		out := req.Clone(ctx)
		out.Header.Del("Authorization")
		return t.base.RoundTrip(out)
	}
	tok, err := t.c.Token(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	first := req.Clone(ctx)
	first.Header.Set("Authorization", "Bearer "+tok)
	resp, err := t.base.RoundTrip(first)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.c.markAccepted(tok)
		return resp, nil
	}
	if !t.c.mayRenewAfter401(tok, challengeError(resp.Header)) {
		return resp, nil
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !replayable {
		// The next request gets a new token.
		t.c.markRejected(tok)
		return resp, nil
	}
	fresh, err := t.c.renewAfter401(ctx, tok)
	if err != nil {
		drain(resp)
		return nil, err
	}
	if fresh == tok {
		return resp, nil
	}
	retry := req.Clone(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		if retry.Body, err = req.GetBody(); err != nil {
			drain(resp)
			return nil, err
		}
	}
	drain(resp)
	retry.Header.Set("Authorization", "Bearer "+fresh)
	resp, err = t.base.RoundTrip(retry)
	if err == nil && resp.StatusCode != http.StatusUnauthorized {
		t.c.markAccepted(fresh)
	}
	return resp, err
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// drain reads a little of a discarded response, so that its connection
// can be reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}

// firstRequest returns the request that started req's redirect chain.
func firstRequest(req *http.Request) *http.Request {
	for req.Response != nil && req.Response.Request != nil {
		req = req.Response.Request
	}
	return req
}

// sameOrigin reports whether a and b have the same scheme, host and port
// (RFC 6454), default ports made explicit.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// challengeError returns the error code of the Bearer challenge in a 401's
// WWW-Authenticate headers (RFC 6750 §3), "" when it names none.
func challengeError(h http.Header) string {
	for _, v := range h.Values("WWW-Authenticate") {
		lower := strings.ToLower(v)
		i := strings.Index(lower, "error=")
		for i > 0 && lower[i-1] != ' ' && lower[i-1] != ',' {
			// e.g. error_description=: look further.
			j := strings.Index(lower[i+1:], "error=")
			if j < 0 {
				i = -1
				break
			}
			i += 1 + j
		}
		if i < 0 {
			continue
		}
		rest := strings.TrimPrefix(v[i+len("error="):], `"`)
		if end := strings.IndexAny(rest, `", `); end >= 0 {
			rest = rest[:end]
		}
		return rest
	}
	return ""
}
