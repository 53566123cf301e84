package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Device flow polling (RFC 8628 §3.5): the interval when the server
// names none, and what each slow_down adds to it.
const (
	DefaultDeviceInterval = 5 * time.Second
	deviceSlowDown        = 5 * time.Second
)

// deviceAuthorization is the RFC 8628 §3.2 answer.
type deviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// DeviceLogin signs a person in with the device authorization grant
// (RFC 8628), for programs that cannot show a browser or should not take
// a password: it asks the server for a user code, calls prompt with the
// verification URI and the code (show both to the person, who opens the
// URI on any device, signs in and enters the code), and polls the token
// endpoint, honouring the server's interval and slow_down, until the
// person approves. It returns a Client holding the session, which
// refreshes like any other and ends with ErrSessionExpired (there is no
// credential to log in again with). With Config.Store the new tokens are
// saved there first.
//
// Config needs ClientID (and ClientSecret for a confidential client) and
// no user credentials. A denied, expired or refused authorization is an
// *Error with Op "device" and the server's code (access_denied,
// expired_token, ...). The contract must have a device authorization
// endpoint (ContractOAuth2 has; set Endpoints.DeviceAuthorization for
// others).
func DeviceLogin(ctx context.Context, cfg Config, prompt func(verificationURI, userCode string)) (*Client, error) {
	return deviceLogin(ctx, cfg, prompt, sleep)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func deviceLogin(ctx context.Context, cfg Config, prompt func(string, string), wait func(context.Context, time.Duration) error) (*Client, error) {
	if cfg.Username != "" || cfg.Password != "" || cfg.APIKey != "" || cfg.ExternalToken != "" {
		return nil, fmt.Errorf("%w: DeviceLogin signs a person in itself; give no user credentials", ErrConflictingCredentials)
	}
	if cfg.ClientID == "" {
		return nil, errors.New("client: DeviceLogin needs ClientID")
	}
	if prompt == nil {
		return nil, errors.New("client: DeviceLogin needs a prompt")
	}
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	if c.contract.style != styleOAuth2 || c.ep.DeviceAuthorization == "" {
		return nil, fmt.Errorf("client: contract %s has no device authorization endpoint (set Endpoints.DeviceAuthorization)", c.contract.name)
	}
	p := map[string]string{}
	if len(cfg.Scopes) > 0 {
		p["scope"] = strings.Join(cfg.Scopes, " ")
	}
	da, err := c.deviceAuthorize(ctx, c.oauth2Call("device", c.ep.DeviceAuthorization, p))
	if err != nil {
		return nil, err
	}
	prompt(cleanServerText(da.VerificationURI), cleanServerText(da.UserCode))
	interval := time.Duration(da.Interval) * time.Second
	if interval <= 0 {
		interval = DefaultDeviceInterval
	}
	deadline := c.now().Add(time.Duration(da.ExpiresIn) * time.Second)
	for {
		if err := wait(ctx, interval); err != nil {
			return nil, fmt.Errorf("client: device: %w", err)
		}
		tok, _, err := c.exchange(ctx, c.oauth2Call("device", c.ep.Login, map[string]string{"grant_type": GrantDeviceCode, "device_code": da.DeviceCode}))
		var e *Error
		var lost *lostAnswer
		switch {
		case err == nil:
			return c.adopt(ctx, cfg, tok)
		case errors.As(err, &e) && e.Code == "authorization_pending":
		case errors.As(err, &e) && e.Code == "slow_down":
			interval += deviceSlowDown
		case errors.As(err, &e) && (e.StatusCode == http.StatusServiceUnavailable || e.StatusCode == http.StatusTooManyRequests):
			// Busy: keep polling at the interval, as the person may be
			// approving right now.
		case errors.As(err, &lost) && ctx.Err() == nil:
		default:
			return nil, err
		}
		if da.ExpiresIn > 0 && !c.now().Before(deadline) {
			return nil, &Error{Op: "device", StatusCode: http.StatusBadRequest, Code: "expired_token", Description: "the user code expired before it was approved"}
		}
	}
}

// adopt makes the tokens a device login got the session of a new Client,
// saving them in cfg.Store first.
func (c *Client) adopt(ctx context.Context, cfg Config, tok Tokens) (*Client, error) {
	if st := cfg.Store; st != nil {
		unlock, err := st.Lock(ctx)
		if err != nil {
			return nil, fmt.Errorf("client: locking the token store: %w", err)
		}
		err = st.Save(tok)
		unlock()
		if err != nil {
			return nil, fmt.Errorf("client: saving the new tokens: %w", err)
		}
	}
	cfg.AccessToken, cfg.RefreshToken, cfg.Expiry = tok.AccessToken, tok.RefreshToken, tok.Expiry
	if cfg.RefreshToken == "" {
		// Without a refresh token the session ends with the access
		// token; New must not fall back to client_credentials then.
		cfg.ClientSecret = ""
	}
	return New(ctx, cfg)
}

// deviceAuthorize asks the device authorization endpoint for codes.
func (c *Client) deviceAuthorize(ctx context.Context, k call) (*deviceAuthorization, error) {
	form := k.form
	if form == nil { // RFC 8628 §3.1 is a form, whatever the token endpoint takes
		form = url.Values{}
		for name, v := range k.json {
			form.Set(name, v)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.url, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("client: device: %w", redact(err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if k.basic {
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: device: %w", redact(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		return nil, fmt.Errorf("client: device: the server redirected to %s (HTTP %d); token requests do not follow redirects", redirectTarget(resp), resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize))
	if err != nil {
		return nil, fmt.Errorf("client: device: reading the answer: %w", redact(err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, parseError("device", resp.StatusCode, b)
	}
	var da deviceAuthorization
	if err := json.Unmarshal(b, &da); err != nil || da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return nil, fmt.Errorf("client: device: answer is not a device authorization response (HTTP %d)", resp.StatusCode)
	}
	return &da, nil
}
