package client

import (
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Transport returns an http.RoundTripper that sends each request with
// "Authorization: Bearer" and the session's access token. When the API
// answers 401, the token is renewed and the request sent once more, if
// its body can be sent again (no body, or GetBody set, as
// http.NewRequest does for bytes and strings readers); otherwise the 401
// is returned. Requests go through Config.HTTPClient's transport.
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
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
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
	return t.base.RoundTrip(retry)
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
