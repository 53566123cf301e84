// Package config loads tokengate's YAML configuration, merges environment
// variables and flags over it, and validates the result. Every mistake is
// reported with the file, line and key at fault.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole, validated configuration.
type Config struct {
	// Issuer is the iss of every token. Empty means "http://" + Addr.
	Issuer   string `yaml:"issuer"`
	Audience string `yaml:"audience"`
	// ExchangeAudiences lists further audiences a token-exchange request
	// may ask for (RFC 8693 audience parameter); any other is refused.
	ExchangeAudiences []string `yaml:"exchange_audiences"`
	Addr              string   `yaml:"addr"`
	// MetricsAddr, when set, is a second listener that serves /metrics
	// (which then leaves the main listener, so that it need not face the
	// internet) and /healthz and /readyz (which stay on both).
	MetricsAddr string `yaml:"metrics_addr"`
	// AdminAPI says where the admin API (/admin/v1) is served: "main"
	// (the default: the main listener), "metrics" (only on the
	// metrics_addr listener, off the internet) or "off".
	AdminAPI string `yaml:"admin_api"`
	DB       string `yaml:"db"`
	// TLSCert and TLSKey are PEM files; with both set the main listener
	// serves HTTPS, re-reading them when they change or on SIGHUP.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`

	AccessTokenTTL  Duration `yaml:"access_token_ttl"`
	RefreshTokenTTL Duration `yaml:"refresh_token_ttl"`
	// DeviceCodeTTL is how long an RFC 8628 device code and its user code
	// may be used (expires_in); 0 means 10 minutes.
	DeviceCodeTTL Duration `yaml:"device_code_ttl"`
	SigningAlg    string   `yaml:"signing_alg"`
	// ClientCacheTTL caches client records per node for this long (0, the
	// default, reads the store on every request). With several nodes on
	// PostgreSQL a second saves a round trip per token request; a deleted
	// client or changed secret then takes up to that long to apply.
	ClientCacheTTL Duration `yaml:"client_cache_ttl"`
	// AdminScopeClients are the clients whose tokens for users (password,
	// API key, external identity, token exchange) may carry the admin
	// API's scopes (tokengate:admin...). Without it only client_credentials
	// tokens carry them.
	AdminScopeClients []string `yaml:"admin_scope_clients"`
	// MasterKey encrypts private signing keys at rest. Prefer the
	// TOKENGATE_MASTER_KEY environment variable to writing it here.
	MasterKey string `yaml:"master_key"`

	PasswordHashing PasswordHashing `yaml:"password_hashing"`
	BruteForce      BruteForce      `yaml:"brute_force"`
	RateLimit       RateLimit       `yaml:"rate_limit"`
	Log             Log             `yaml:"log"`
	Routes          []Route         `yaml:"routes"`
	Bootstrap       Bootstrap       `yaml:"bootstrap"`
	// TrustedIssuers are external identity providers whose tokens may be
	// exchanged for ours.
	TrustedIssuers []TrustedIssuer `yaml:"trusted_issuers"`
	// Web configures the browser pages (sign-in, consent).
	Web Web `yaml:"web"`

	// File is the path the config was read from ("" for none).
	File string `yaml:"-"`
	// lines maps dotted key paths to their line in File, for messages.
	lines map[string]int
}

// PasswordHashing tunes argon2id and the hashing queue.
type PasswordHashing struct {
	MemoryKiB uint32 `yaml:"memory_kib"`
	Time      uint32 `yaml:"time"`
	Threads   uint8  `yaml:"threads"`
	Workers   int    `yaml:"workers"` // concurrent hashes; default: CPUs
	Queue     int    `yaml:"queue"`   // waiting logins before 503; default 64
}

// BruteForce tunes failed-login lock-outs.
type BruteForce struct {
	Disabled    bool     `yaml:"disabled"`
	Threshold   int      `yaml:"threshold"`
	IPThreshold int      `yaml:"ip_threshold"`
	Window      Duration `yaml:"window"`
	BaseBackoff Duration `yaml:"base_backoff"`
	MaxBackoff  Duration `yaml:"max_backoff"`
}

// RateLimit bounds requests per client IP on the token endpoints.
type RateLimit struct {
	// PerSecond is the sustained rate; 0 disables the limit.
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
	// ExemptLoopback lifts the limit for 127.0.0.0/8 and ::1.
	ExemptLoopback bool `yaml:"exempt_loopback"`
	// TrustedProxies are addresses or CIDRs whose X-Forwarded-For is
	// believed for the client IP.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MaxTrackedIPs bounds the limiter's memory.
	MaxTrackedIPs int `yaml:"max_tracked_ips"`
}

// Web configures the browser pages: the sign-in and consent pages'
// branding and the sign-in session.
type Web struct {
	// Title is shown in the pages' heading and title; default "tokengate".
	Title string `yaml:"title"`
	// LogoURL is an https image shown above the forms; empty for none.
	LogoURL string `yaml:"logo_url"`
	// TemplatesDir holds templates that replace the built-in ones of
	// the same name (login.html, consent.html, logout.html, error.html,
	// layout.html); empty for the built-in ones.
	TemplatesDir string `yaml:"templates_dir"`
	// SessionTTL is how long a sign-in lasts; default 12h.
	SessionTTL Duration `yaml:"session_ttl"`
}

// Log configures logging.
type Log struct {
	Format string `yaml:"format"` // text or json
	Level  string `yaml:"level"`  // debug, info, warn, error
}

// Route maps a URL path to an endpoint, with the options of the contract
// it serves.
type Route struct {
	Path     string `yaml:"path"`
	Method   string `yaml:"method"` // default depends on the endpoint
	Endpoint string `yaml:"endpoint"`

	// Options of token-issuing endpoints.
	RotateRefreshTokens *bool    `yaml:"rotate_refresh_tokens"`
	RefreshTokenFormat  string   `yaml:"refresh_token_format"` // opaque (default) or jwt
	Claims              []string `yaml:"claims"`               // extra claims: exi, usefor
	DefaultClient       string   `yaml:"default_client"`       // public client for requests without credentials
	// RefreshClientAuth "none" declares that a refresh route takes the
	// refresh token as its only credential (a contract whose clients send
	// nothing else); only default_client's sessions refresh there.
	RefreshClientAuth string `yaml:"refresh_client_auth"`
	// Options of the revoke endpoint.
	Response string `yaml:"response"` // json (default) or empty_html
	// Body "form" (token, revoke and introspect endpoints) reads requests
	// as oauthlib does (Django OAuth Toolkit): form bodies only.
	Body string `yaml:"body"`
}

// Bootstrap declares records created at start when absent.
type Bootstrap struct {
	Users   []BootstrapUser   `yaml:"users"`
	Clients []BootstrapClient `yaml:"clients"`
	APIKeys []BootstrapAPIKey `yaml:"api_keys"`
}

// BootstrapUser is a user to create. Give Password (development) or
// PasswordHash (an argon2id PHC string) — not both.
type BootstrapUser struct {
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordHash string `yaml:"password_hash"`
	Scopes       Scopes `yaml:"scopes"`
	Disabled     bool   `yaml:"disabled"`
}

// BootstrapClient is a client to create. Confidential clients give Secret
// (development) or SecretHash (hex SHA-256) — not both.
type BootstrapClient struct {
	ID                   string   `yaml:"id"`
	Secret               string   `yaml:"secret"`
	SecretHash           string   `yaml:"secret_hash"`
	Public               bool     `yaml:"public"`
	Grants               []string `yaml:"grants"`
	Scopes               Scopes   `yaml:"scopes"`
	AccessTokenTTL       Duration `yaml:"access_token_ttl"`
	RefreshTokenTTL      Duration `yaml:"refresh_token_ttl"`
	RefreshReuseInterval Duration `yaml:"refresh_reuse_interval"`
	// Introspect allows RFC 7662 introspection; default true for
	// confidential clients. Public clients may never introspect.
	Introspect *bool `yaml:"introspect"`
	// Resources are the audiences (RFC 8707 resource) the client may ask
	// tokens for; default the audience and exchange_audiences.
	Resources []string `yaml:"resources"`
	// RedirectURIs are the client's redirect URIs (authorization code flow).
	RedirectURIs []string `yaml:"redirect_uris"`
	// ThirdParty clients get a consent screen.
	ThirdParty bool `yaml:"third_party"`
	// Origins are the browser origins allowed CORS at the token and
	// revocation endpoints.
	Origins []string `yaml:"origins"`
}

// BootstrapAPIKey imports an existing API key, as the literal key
// (development) or its hex SHA-256.
type BootstrapAPIKey struct {
	Name     string   `yaml:"name"`
	Key      string   `yaml:"key"`
	KeyHash  string   `yaml:"key_hash"`
	User     string   `yaml:"user"`
	Client   string   `yaml:"client"`
	Scopes   Scopes   `yaml:"scopes"`
	ExpireIn Duration `yaml:"expires_in"`
}

// Duration is a time.Duration written as "15m", "24h" or "30d".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseDuration accepts Go durations plus a "d" (day) unit.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		// NaN fails every comparison: without its own test "NaNd" would
		// become the most negative Duration.
		if err != nil || math.IsNaN(days) || days < 0 || days > 36500 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 15m, 24h, 30d)", s)
	}
	return d, nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration such as 15m", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// Scopes accepts a YAML list or a space-separated string.
type Scopes []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Scopes) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = strings.Fields(n.Value)
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*s = l
		return nil
	}
	return fmt.Errorf("line %d: expected a list of scopes or a space-separated string", n.Line)
}

// Default returns the configuration used without a file.
func Default() Config {
	return Config{
		Addr:            "127.0.0.1:8080",
		DB:              "sqlite:data/tokengate.db",
		AccessTokenTTL:  Duration(15 * time.Minute),
		RefreshTokenTTL: Duration(30 * 24 * time.Hour),
		SigningAlg:      "EdDSA",
		Log:             Log{Format: "text", Level: "info"},
		RateLimit:       RateLimit{Burst: 20, MaxTrackedIPs: 100000},
		Web:             Web{SessionTTL: Duration(12 * time.Hour)},
	}
}

// Error is a configuration mistake with its location.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

// Error formats the mistake as FILE:LINE: KEY: message.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads file (when not empty) over the defaults.
func Load(file string) (Config, error) {
	cfg := Default()
	if file == "" {
		return cfg, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return cfg, fmt.Errorf("reading config: %w", err)
	}
	return Parse(file, data)
}

var lineRe = regexp.MustCompile(`line (\d+): (.*)`)
var unknownFieldRe = regexp.MustCompile(`field (\S+) not found in type`)

// Parse decodes YAML data over the defaults. file is used in messages.
func Parse(file string, data []byte) (Config, error) {
	cfg := Default()
	cfg.File = file
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return cfg, yamlError(file, nil, err)
	}
	cfg.lines = map[string]int{}
	if len(root.Content) > 0 {
		indexLines(root.Content[0], "", cfg.lines)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	lines := cfg.lines
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, yamlError(file, lines, err)
	}
	cfg.lines = lines
	cfg.File = file
	return cfg, nil
}

// indexLines records the line of every key, as a dotted path
// (routes[1].path).
func indexLines(n *yaml.Node, prefix string, out map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			path := k.Value
			if prefix != "" {
				path = prefix + "." + k.Value
			}
			out[path] = k.Line
			indexLines(n.Content[i+1], path, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			path := fmt.Sprintf("%s[%d]", prefix, i)
			out[path] = c.Line
			indexLines(c, path, out)
		}
	}
}

// keyAt finds the key path declared on line.
func keyAt(lines map[string]int, line int) string {
	best := ""
	for k, l := range lines {
		if l == line && !strings.HasSuffix(k, "]") && len(k) > len(best) {
			best = k
		}
	}
	return best
}

// yamlError turns a yaml.v3 error into an Error naming file, line and key.
func yamlError(file string, lines map[string]int, err error) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var out []string
	var first *Error
	for _, m := range msgs {
		e := &Error{File: file, Msg: strings.TrimPrefix(m, "yaml: ")}
		if sub := lineRe.FindStringSubmatch(m); sub != nil {
			e.Line, _ = strconv.Atoi(sub[1])
			e.Msg = sub[2]
			e.Key = keyAt(lines, e.Line)
			if f := unknownFieldRe.FindStringSubmatch(e.Msg); f != nil {
				e.Msg = "unknown key " + strconv.Quote(f[1])
			}
			// A nested unmarshaler may repeat the line prefix.
			if sub2 := lineRe.FindStringSubmatch(e.Msg); sub2 != nil {
				e.Msg = sub2[2]
			}
		}
		if first == nil {
			first = e
		}
		out = append(out, e.Error())
	}
	if len(out) == 1 {
		return first
	}
	return errors.New(strings.Join(out, "\n"))
}

// KeyError builds an Error for a dotted key path (routes[0].endpoint),
// with its line in the file when it was set there, else the line of the
// nearest enclosing key that was (a missing key is reported where its
// record is).
func (c *Config) KeyError(key, format string, args ...any) *Error {
	line := 0
	for k := key; k != "" && line == 0; {
		line = c.lines[k]
		if i := strings.LastIndexAny(k, ".["); i >= 0 {
			k = k[:i]
		} else {
			k = ""
		}
	}
	return &Error{File: c.File, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}
