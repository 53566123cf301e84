package bearer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// introspector calls an RFC 7662 endpoint.
type introspector struct {
	url          string
	clientID     string
	clientSecret string
	hc           *http.Client
}

// introspection is the RFC 7662 §2.2 answer.
type introspection struct {
	Active    bool    `json:"active"`
	Scope     string  `json:"scope"`
	ClientID  string  `json:"client_id"`
	TokenType string  `json:"token_type"`
	Exp       float64 `json:"exp"`
	Iat       float64 `json:"iat"`
	Nbf       float64 `json:"nbf"`
	Sub       string  `json:"sub"`
	Aud       any     `json:"aud"`
	Iss       string  `json:"iss"`
	Jti       string  `json:"jti"`
}

// introspect asks whether raw is an active access token and returns its
// claims as the endpoint describes them. Errors wrap ErrInactive (or
// ErrIssuer, ErrAudience, ErrExpired) for a token to reject, and
// ErrUnavailable when the endpoint gave no usable answer.
func (v *Verifier) introspect(ctx context.Context, raw string, now time.Time) (*Claims, error) {
	in := v.intro
	body := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: the id and secret are form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(in.clientID), url.QueryEscape(in.clientSecret))
	resp, err := in.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: introspection request failed: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the introspection answer: %w", ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: introspection endpoint answered HTTP %d", ErrUnavailable, resp.StatusCode)
	}
	var ir introspection
	if err := json.Unmarshal(b, &ir); err != nil {
		return nil, fmt.Errorf("%w: introspection answer is not JSON", ErrUnavailable)
	}
	if !ir.Active {
		return nil, ErrInactive
	}
	switch strings.ToLower(ir.TokenType) {
	case "", "bearer", "access_token", "urn:ietf:params:oauth:token-type:access_token":
	default:
		return nil, fmt.Errorf("%w: token_type is not an access token", ErrInactive)
	}
	c := &Claims{
		Issuer: ir.Iss, Subject: ir.Sub, ID: ir.Jti, ClientID: ir.ClientID,
		Scopes:    strings.Fields(ir.Scope),
		ExpiresAt: unixTime(ir.Exp), IssuedAt: unixTime(ir.Iat), NotBefore: unixTime(ir.Nbf),
	}
	if ir.Aud != nil {
		if c.Audience, err = decodeAudience(ir.Aud); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	if err := v.checkTimes(c, now); err != nil {
		return nil, err
	}
	if v.issuer != "" && c.Issuer != v.issuer {
		return nil, ErrIssuer
	}
	if v.audience != "" && !contains(c.Audience, v.audience) {
		return nil, ErrAudience
	}
	return c, nil
}

func unixTime(f float64) time.Time {
	if f <= 0 || f > maxDate {
		return time.Time{}
	}
	return time.Unix(int64(f), 0)
}
