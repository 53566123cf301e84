package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxResponseSize bounds a token endpoint's answer.
const maxResponseSize = 1 << 20

// maxDescription bounds the server text kept in an Error.
const maxDescription = 512

// call is one request to a token endpoint.
type call struct {
	op     string // "login" or "refresh", for errors
	method string
	url    string
	query  url.Values        // added to url (FastAPI's API key)
	form   url.Values        // a form body
	json   map[string]string // a JSON body
	bearer string            // Authorization: Bearer
	basic  bool              // Authorization: Basic with the client's credentials
}

// login exchanges the credentials for tokens.
func (c *Client) login(ctx context.Context) (Tokens, time.Duration, error) {
	cfg := &c.cfg
	scope := strings.Join(cfg.Scopes, " ")
	switch c.contract.style {
	case styleFastAPI:
		if c.cred == credAPIKey {
			return c.exchange(ctx, call{op: "login", method: http.MethodGet, url: c.ep.APIKey, query: url.Values{"key": {cfg.APIKey}}})
		}
		form := url.Values{"grant_type": {"password"}, "username": {cfg.Username}, "password": {cfg.Password}}
		if scope != "" {
			form.Set("scope", scope)
		}
		if cfg.ClientID != "" {
			form.Set("client_id", cfg.ClientID)
			if cfg.ClientSecret != "" {
				form.Set("client_secret", cfg.ClientSecret)
			}
		}
		return c.exchange(ctx, call{op: "login", method: http.MethodPost, url: c.ep.Login, form: form})
	case styleDatarhei:
		if c.cred == credExternal {
			return c.exchange(ctx, call{op: "login", method: http.MethodPost, url: c.ep.Login, bearer: cfg.ExternalToken})
		}
		return c.exchange(ctx, call{op: "login", method: http.MethodPost, url: c.ep.Login, json: map[string]string{"username": cfg.Username, "password": cfg.Password}})
	}
	p := map[string]string{}
	switch c.cred {
	case credPassword:
		p["grant_type"], p["username"], p["password"] = "password", cfg.Username, cfg.Password
	case credAPIKey:
		p["grant_type"], p["api_key"] = GrantAPIKey, cfg.APIKey
	case credExternal:
		p["grant_type"], p["subject_token"], p["subject_token_type"] = GrantTokenExchange, cfg.ExternalToken, TokenTypeJWT
	case credClient:
		p["grant_type"] = "client_credentials"
	}
	if scope != "" {
		p["scope"] = scope
	}
	return c.exchange(ctx, c.oauth2Call("login", c.ep.Login, p))
}

// refresh exchanges a refresh token.
func (c *Client) refresh(ctx context.Context, rt string) (Tokens, time.Duration, error) {
	switch c.contract.style {
	case styleFastAPI:
		return c.exchange(ctx, call{op: "refresh", method: http.MethodPost, url: c.ep.Refresh, json: map[string]string{"refresh_token": rt}})
	case styleDatarhei:
		return c.exchange(ctx, call{op: "refresh", method: http.MethodGet, url: c.ep.Refresh, bearer: rt})
	}
	return c.exchange(ctx, c.oauth2Call("refresh", c.ep.Refresh, map[string]string{"grant_type": "refresh_token", "refresh_token": rt}))
}

// oauth2Call builds an RFC 6749 token request with the contract's body
// encoding and client authentication.
func (c *Client) oauth2Call(op, u string, p map[string]string) call {
	k := call{op: op, method: http.MethodPost, url: u}
	if id := c.cfg.ClientID; id != "" {
		if c.contract.bodyClient || c.cfg.ClientSecret == "" {
			p["client_id"] = id
			if c.cfg.ClientSecret != "" {
				p["client_secret"] = c.cfg.ClientSecret
			}
		} else {
			k.basic = true
		}
	}
	if c.contract.jsonBody {
		k.json = p
		return k
	}
	k.form = make(url.Values, len(p))
	for name, v := range p {
		k.form.Set(name, v)
	}
	return k
}

// tokenResponse is a token endpoint's success body (RFC 6749 §5.1 and
// the contracts' subsets of it).
type tokenResponse struct {
	AccessToken  string      `json:"access_token"`
	TokenType    string      `json:"token_type"`
	RefreshToken string      `json:"refresh_token"`
	ExpiresIn    json.Number `json:"expires_in"`
}

// exchange makes the request and reads tokens from the answer. The
// returned duration is the access token's lifetime, 0 when unknown.
func (c *Client) exchange(ctx context.Context, k call) (Tokens, time.Duration, error) {
	var body io.Reader
	var ctype string
	switch {
	case k.json != nil:
		b, err := json.Marshal(k.json)
		if err != nil {
			return Tokens{}, 0, fmt.Errorf("client: %s: encoding the request: %w", k.op, err)
		}
		body, ctype = bytes.NewReader(b), "application/json"
	case k.form != nil:
		body, ctype = strings.NewReader(k.form.Encode()), "application/x-www-form-urlencoded"
	}
	u := k.url
	if k.query != nil {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + k.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, k.method, u, body)
	if err != nil {
		return Tokens{}, 0, fmt.Errorf("client: %s: %w", k.op, redact(err))
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	if k.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+k.bearer)
	}
	if k.basic {
		// RFC 6749 §2.3.1: form-encode the id and secret before Basic.
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	}
	start := c.now()
	resp, err := c.hc.Do(req)
	if err != nil {
		err = fmt.Errorf("client: %s: %w", k.op, redact(err))
		if ctx.Err() == nil {
			err = &lostAnswer{err}
		}
		return Tokens{}, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		return Tokens{}, 0, fmt.Errorf("client: %s: the server redirected to %s (HTTP %d); token requests do not follow redirects: fix BaseURL or Endpoints", k.op, redirectTarget(resp), resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize))
	if err != nil {
		return Tokens{}, 0, &lostAnswer{fmt.Errorf("client: %s: reading the answer: %w", k.op, redact(err))}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Tokens{}, 0, parseError(k.op, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			return Tokens{}, 0, fmt.Errorf("client: %s: answer is %s, not JSON (HTTP %d)", k.op, mt, resp.StatusCode)
		}
	}
	var tr tokenResponse
	if err := json.Unmarshal(b, &tr); err != nil {
		return Tokens{}, 0, fmt.Errorf("client: %s: answer is not a token response (HTTP %d)", k.op, resp.StatusCode)
	}
	if tr.AccessToken == "" {
		return Tokens{}, 0, fmt.Errorf("client: %s: answer has no access_token (HTTP %d)", k.op, resp.StatusCode)
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return Tokens{}, 0, fmt.Errorf("client: %s: token_type %.20q is not Bearer", k.op, tr.TokenType)
	}
	t := Tokens{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken}
	var lifetime time.Duration
	if secs, err := strconv.ParseFloat(tr.ExpiresIn.String(), 64); err == nil && secs > 0 {
		lifetime = time.Duration(secs * float64(time.Second))
	} else if exp, iat, ok := jwtTimes(tr.AccessToken); ok && !iat.IsZero() && exp.After(iat) {
		// The token's own lifetime, counted on our clock: immune to a
		// skew between the server's clock and ours.
		lifetime = exp.Sub(iat)
	} else if ok {
		t.Expiry = exp
	}
	if lifetime > 0 {
		t.Expiry = start.Add(lifetime)
	}
	return t, lifetime, nil
}

// lostAnswer is a request whose outcome is unknown: it may have reached
// the server, which may have acted on it, but no answer came back (a
// timeout, a reset connection).
type lostAnswer struct{ err error }

func (e *lostAnswer) Error() string { return e.err.Error() }
func (e *lostAnswer) Unwrap() error { return e.err }

// redact strips the URL from a *url.Error: a query string may carry an
// API key.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		u := ue.URL
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			u = u[:i]
		}
		return fmt.Errorf("%s %s: %w", ue.Op, u, ue.Err)
	}
	return err
}

// parseError reads a refusal in any of the dialects:
// {"error", "error_description"} (RFC 6749), {"detail": "..."} or
// {"detail": [{"msg": "..."}]} (FastAPI), {"message": "..."} (datarhei,
// echo).
func parseError(op string, status int, b []byte) *Error {
	e := &Error{Op: op, StatusCode: status}
	var body struct {
		Error       json.RawMessage `json:"error"`
		Description string          `json:"error_description"`
		Detail      json.RawMessage `json:"detail"`
		Message     string          `json:"message"`
	}
	if json.Unmarshal(b, &body) != nil {
		return e
	}
	var code string
	if json.Unmarshal(body.Error, &code) == nil {
		e.Code = code
	}
	e.Description = body.Description
	if e.Description == "" && len(body.Detail) > 0 {
		var s string
		var list []struct {
			Msg string `json:"msg"`
		}
		switch {
		case json.Unmarshal(body.Detail, &s) == nil:
			e.Description = s
		case json.Unmarshal(body.Detail, &list) == nil:
			msgs := make([]string, 0, len(list))
			for _, d := range list {
				if d.Msg != "" {
					msgs = append(msgs, d.Msg)
				}
			}
			e.Description = strings.Join(msgs, "; ")
		}
	}
	if e.Description == "" {
		e.Description = body.Message
	}
	if e.Code == "" && e.Description == "" {
		// {"error": "message"} of APIs that put prose there.
		var s string
		if json.Unmarshal(body.Error, &s) == nil {
			e.Description = s
		}
	}
	if len(e.Code) > 64 || strings.ContainsAny(e.Code, " \t\n") {
		e.Description, e.Code = e.Code, ""
	}
	e.Code, e.Description = cleanServerText(e.Code), cleanServerText(e.Description)
	return e
}

// maxDate is 9999-12-31T23:59:59Z, the largest NumericDate read.
const maxDate = 253402300799

// jwtTimes reads exp and iat from a JWT's payload without verifying it:
// the client only wants to know when to renew, and the server verifies.
// ok is false when tok is not a JWT with an exp.
func jwtTimes(tok string) (exp, iat time.Time, ok bool) {
	first := strings.IndexByte(tok, '.')
	if first < 0 {
		return
	}
	rest := tok[first+1:]
	second := strings.IndexByte(rest, '.')
	if second < 0 || strings.IndexByte(rest[second+1:], '.') >= 0 {
		return
	}
	p, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(rest[:second], "="))
	if err != nil {
		return
	}
	var claims struct {
		Exp *float64 `json:"exp"`
		Iat *float64 `json:"iat"`
	}
	if json.Unmarshal(p, &claims) != nil || claims.Exp == nil || *claims.Exp <= 0 || *claims.Exp > maxDate {
		return
	}
	exp = time.Unix(0, int64(*claims.Exp*1e9))
	if claims.Iat != nil && *claims.Iat > 0 && *claims.Iat <= maxDate {
		iat = time.Unix(0, int64(*claims.Iat*1e9))
	}
	return exp, iat, true
}
