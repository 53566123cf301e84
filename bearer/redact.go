package bearer

import (
	"fmt"
	"log/slog"
)

// Config and Verifier hold the introspection client's secret: they print
// and log it as "[N bytes redacted]" (fmt's %v, %+v, %#v and %s call
// String or GoString; log/slog's handlers call LogValue).

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return fmt.Sprintf("[%d bytes redacted]", len(s))
}

// String shows the configuration with ClientSecret redacted.
func (c Config) String() string {
	return fmt.Sprintf("bearer.Config{Issuer: %q, JWKSURL: %q, StaticKeys: %d, Audience: %q, SkipIssuerCheck: %t, SkipAudienceCheck: %t, IntrospectionURL: %q, ClientID: %q, ClientSecret: %s}",
		c.Issuer, c.JWKSURL, len(c.StaticKeys), c.Audience, c.SkipIssuerCheck, c.SkipAudienceCheck, c.IntrospectionURL, c.ClientID, redacted(c.ClientSecret))
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer: the configuration, ClientSecret
// redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("issuer", c.Issuer), slog.String("jwks_url", c.JWKSURL), slog.Int("static_keys", len(c.StaticKeys)),
		slog.String("audience", c.Audience), slog.Bool("skip_issuer_check", c.SkipIssuerCheck), slog.Bool("skip_audience_check", c.SkipAudienceCheck),
		slog.String("introspection_url", c.IntrospectionURL), slog.String("client_id", c.ClientID),
		slog.String("client_secret", redacted(c.ClientSecret)))
}

// String shows what the Verifier checks, without its secret.
func (v *Verifier) String() string {
	intro := ""
	if v.intro != nil {
		intro = v.intro.url
	}
	return fmt.Sprintf("bearer.Verifier{Issuer: %q, Audience: %q, Introspection: %q}", v.issuer, v.audience, intro)
}

// GoString is String, for %#v.
func (v *Verifier) GoString() string { return v.String() }

// LogValue implements slog.LogValuer.
func (v *Verifier) LogValue() slog.Value { return slog.StringValue(v.String()) }
