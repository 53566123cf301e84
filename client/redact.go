package client

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
)

// Every type that holds a secret (a password, a client secret, an API
// key, an external token, an access or refresh token) prints and logs it
// as "[N bytes redacted]": fmt's %v, %+v, %#v and %s call String or
// GoString, and log/slog's handlers (text and JSON alike) call LogValue.

// redacted shows a secret's presence and length, never its value.
func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return fmt.Sprintf("[%d bytes redacted]", len(s))
}

// String shows the tokens' shapes, not their values, so that logging a
// Tokens by mistake does not leak the session.
func (t Tokens) String() string {
	return fmt.Sprintf("client.Tokens{AccessToken: %s, RefreshToken: %s, Expiry: %s}", redacted(t.AccessToken), redacted(t.RefreshToken), t.Expiry.Format(time.RFC3339))
}

// GoString is String, for %#v.
func (t Tokens) GoString() string { return t.String() }

// LogValue implements slog.LogValuer: the tokens redacted.
func (t Tokens) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_token", redacted(t.AccessToken)),
		slog.String("refresh_token", redacted(t.RefreshToken)),
		slog.Time("expiry", t.Expiry))
}

// String shows the configuration with every secret redacted.
func (c Config) String() string {
	return fmt.Sprintf("client.Config{BaseURL: %q, Contract: %q, ClientID: %q, ClientSecret: %s, Username: %q, Password: %s, APIKey: %s, ExternalToken: %s, AccessToken: %s, RefreshToken: %s, Scopes: %q, Store: %v}",
		c.BaseURL, c.Contract, c.ClientID, redacted(c.ClientSecret), c.Username, redacted(c.Password), redacted(c.APIKey),
		redacted(c.ExternalToken), redacted(c.AccessToken), redacted(c.RefreshToken), c.Scopes, c.Store != nil)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer: the configuration, secrets
// redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL), slog.String("contract", c.Contract),
		slog.String("client_id", c.ClientID), slog.String("client_secret", redacted(c.ClientSecret)),
		slog.String("username", c.Username), slog.String("password", redacted(c.Password)),
		slog.String("api_key", redacted(c.APIKey)), slog.String("external_token", redacted(c.ExternalToken)),
		slog.String("access_token", redacted(c.AccessToken)), slog.String("refresh_token", redacted(c.RefreshToken)),
		slog.Any("scopes", c.Scopes))
}

// String shows the session's server, identity and tokens, secrets
// redacted.
func (c *Client) String() string {
	t := c.Tokens()
	return fmt.Sprintf("client.Client{BaseURL: %q, Contract: %q, ClientID: %q, Username: %q, ClientSecret: %s, Password: %s, Tokens: %s}",
		c.cfg.BaseURL, c.contract.name, c.cfg.ClientID, c.cfg.Username, redacted(c.cfg.ClientSecret), redacted(c.cfg.Password), t)
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// LogValue implements slog.LogValuer: the session, secrets redacted.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.cfg.BaseURL), slog.String("contract", c.contract.name),
		slog.String("client_id", c.cfg.ClientID), slog.String("username", c.cfg.Username),
		slog.String("client_secret", redacted(c.cfg.ClientSecret)), slog.String("password", redacted(c.cfg.Password)),
		slog.Any("tokens", c.Tokens()))
}

// cleanServerText makes a server's text safe to print: control
// characters (terminal escapes, line breaks that would forge log lines)
// become U+FFFD, and it is cut at maxDescription bytes.
func cleanServerText(s string) string {
	if len(s) > maxDescription {
		s = s[:maxDescription] + "…"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return '\uFFFD'
		}
		return r
	}, s)
}
