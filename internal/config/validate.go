package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/admin"
	"github.com/tokengate/tokengate/internal/store"
)

// MinMasterKeyLen is the shortest master key accepted, in bytes.
const MinMasterKeyLen = 32

// MaxRefreshReuseInterval bounds a client's refresh_reuse_interval.
const MaxRefreshReuseInterval = store.MaxRefreshReuseInterval

// ApplyEnv overlays TOKENGATE_* environment variables read through getenv.
func (c *Config) ApplyEnv(getenv func(string) string) {
	if v := getenv("TOKENGATE_ADDR"); v != "" {
		c.Addr = v
	}
	if v := getenv("TOKENGATE_METRICS_ADDR"); v != "" {
		c.MetricsAddr = v
	}
	if v := getenv("TOKENGATE_DB"); v != "" {
		c.DB = v
	}
	if v := getenv("TOKENGATE_ISSUER"); v != "" {
		c.Issuer = v
	}
	if v := getenv("TOKENGATE_MASTER_KEY"); v != "" {
		c.MasterKey = v
	}
	if v := getenv("TOKENGATE_LOG_FORMAT"); v != "" {
		c.Log.Format = v
	}
}

// LoadFromEnv is Load with the file named by flag or TOKENGATE_CONFIG,
// then the environment overlaid.
func LoadFromEnv(file string, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if file == "" {
		file = getenv("TOKENGATE_CONFIG")
	}
	cfg, err := Load(file)
	if err != nil {
		return cfg, err
	}
	cfg.ApplyEnv(getenv)
	if f := getenv("TOKENGATE_MASTER_KEY_FILE"); f != "" {
		if getenv("TOKENGATE_MASTER_KEY") != "" {
			return cfg, fmt.Errorf("set TOKENGATE_MASTER_KEY or TOKENGATE_MASTER_KEY_FILE, not both")
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return cfg, fmt.Errorf("TOKENGATE_MASTER_KEY_FILE: %w", err)
		}
		key := strings.TrimSpace(string(b))
		if key == "" {
			return cfg, fmt.Errorf("TOKENGATE_MASTER_KEY_FILE %s is empty", f)
		}
		cfg.MasterKey = key
	}
	return cfg, nil
}

// Validate checks every value and fills the derived ones (the issuer).
// It reports every mistake it finds, each with file:line: key, one a
// line (errors.Join); checks that depend on an earlier one (the parts of
// one route, client or trusted issuer) stop at that record's first.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		add(c.KeyError("addr", "invalid listen address %q: want HOST:PORT", c.Addr))
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			add(c.KeyError("metrics_addr", "invalid listen address %q: want HOST:PORT", c.MetricsAddr))
		} else if c.MetricsAddr == c.Addr {
			add(c.KeyError("metrics_addr", "metrics_addr must differ from addr"))
		}
	}
	if c.MasterKey != "" && len(c.MasterKey) < MinMasterKeyLen {
		add(c.KeyError("master_key", "the master key must be at least %d bytes (for example: head -c 32 /dev/urandom | base64)", MinMasterKeyLen))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		if c.TLSCert == "" {
			add(c.KeyError("tls_cert", "tls_key is set but tls_cert is not: set both or neither"))
		} else {
			add(c.KeyError("tls_key", "tls_cert is set but tls_key is not: set both or neither"))
		}
	}
	if c.Issuer == "" && c.TLSCert != "" {
		c.Issuer = "https://" + c.Addr
	} else if c.Issuer == "" {
		c.Issuer = "http://" + c.Addr
	} else if u, err := url.Parse(c.Issuer); err != nil || u.Scheme == "" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		add(c.KeyError("issuer", "issuer must be an absolute URL without query or fragment"))
	}
	if c.AccessTokenTTL.D() < time.Second {
		add(c.KeyError("access_token_ttl", "must be at least 1s"))
	}
	if c.RefreshTokenTTL.D() < time.Second {
		add(c.KeyError("refresh_token_ttl", "must be at least 1s"))
	}
	if d := c.DeviceCodeTTL.D(); d != 0 && (d < 30*time.Second || d > time.Hour) {
		// A user code lives this long: long enough to type it, short
		// enough to keep the guessable space thin (RFC 8628 §5.1).
		add(c.KeyError("device_code_ttl", "must be between 30s and 1h"))
	}
	if c.ClientCacheTTL.D() > time.Minute {
		add(c.KeyError("client_cache_ttl", "must be at most 1m: client changes must apply soon"))
	}
	switch c.SigningAlg {
	case "EdDSA", "ES256", "RS256":
	default:
		add(c.KeyError("signing_alg", "unsupported algorithm %q: use EdDSA, ES256 or RS256", c.SigningAlg))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add(c.KeyError("log.format", "must be text or json, not %q", c.Log.Format))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add(c.KeyError("log.level", "must be debug, info, warn or error, not %q", c.Log.Level))
	}
	ph := c.PasswordHashing
	if ph.MemoryKiB != 0 && (ph.MemoryKiB < 1024 || ph.MemoryKiB > 1<<20) {
		add(c.KeyError("password_hashing.memory_kib", "must be between 1024 and 1048576"))
	}
	if ph.Time > 64 {
		add(c.KeyError("password_hashing.time", "must be at most 64"))
	}
	if ph.Threads > 16 {
		add(c.KeyError("password_hashing.threads", "must be at most 16"))
	}
	if ph.Workers < 0 || ph.Queue < 0 {
		add(c.KeyError("password_hashing", "workers and queue must not be negative"))
	}
	if c.RateLimit.PerSecond < 0 || c.RateLimit.Burst < 0 || c.RateLimit.MaxTrackedIPs < 0 {
		add(c.KeyError("rate_limit", "values must not be negative"))
	}
	for i, p := range c.RateLimit.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			add(c.KeyError(fmt.Sprintf("rate_limit.trusted_proxies[%d]", i), "not an IP address or CIDR: %q", p))
		}
	}
	for i, r := range c.Routes {
		add(c.validateRoute(i, r))
	}
	errs = append(errs, c.validateFederation()...)
	add(c.validateWeb())
	errs = append(errs, c.validateBootstrap()...)
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// validateRoute checks routes[i] and returns its first mistake.
func (c *Config) validateRoute(i int, r Route) error {
	key := fmt.Sprintf("routes[%d]", i)
	if r.Path == "" || !strings.HasPrefix(r.Path, "/") {
		return c.KeyError(key+".path", "path must start with /")
	}
	if strings.ContainsAny(r.Path, " {}?#") {
		return c.KeyError(key+".path", "path %q must be a plain path", r.Path)
	}
	if r.Endpoint == "" {
		return c.KeyError(key+".endpoint", "missing endpoint")
	}
	switch r.Method {
	case "", "GET", "POST":
	default:
		return c.KeyError(key+".method", "method must be GET or POST, not %q", r.Method)
	}
	switch r.RefreshTokenFormat {
	case "", "opaque", "jwt":
	default:
		return c.KeyError(key+".refresh_token_format", "must be opaque or jwt, not %q", r.RefreshTokenFormat)
	}
	for j, cl := range r.Claims {
		if cl != "exi" && cl != "usefor" {
			return c.KeyError(fmt.Sprintf("%s.claims[%d]", key, j), "unknown claim %q: supported are exi and usefor", cl)
		}
	}
	if r.RefreshClientAuth != "" && r.RefreshClientAuth != "none" {
		return c.KeyError(key+".refresh_client_auth", "the only value is none (the route refreshes with the token alone), not %q", r.RefreshClientAuth)
	}
	switch r.Response {
	case "", "json", "empty_html":
	default:
		return c.KeyError(key+".response", "must be json or empty_html, not %q", r.Response)
	}
	if r.Body != "" && r.Body != "form" {
		return c.KeyError(key+".body", "must be form (or absent: form and JSON), not %q", r.Body)
	}
	return nil
}

// validateBootstrap returns the first mistake of each bootstrap record.
func (c *Config) validateBootstrap() []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	users := map[string]bool{}
	for i, u := range c.Bootstrap.Users {
		add(func() error {
			key := fmt.Sprintf("bootstrap.users[%d]", i)
			if u.Username == "" {
				return c.KeyError(key+".username", "missing username")
			}
			if users[u.Username] {
				return c.KeyError(key+".username", "user %q declared twice", u.Username)
			}
			if store.IsExternalUsername(u.Username) {
				return c.KeyError(key+".username", "names starting with %q are reserved for users provisioned for external identities", store.ExternalUserPrefix)
			}
			users[u.Username] = true
			if u.Password != "" && u.PasswordHash != "" {
				return c.KeyError(key, "give password or password_hash, not both")
			}
			if u.PasswordHash != "" && !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
				return c.KeyError(key+".password_hash", "must be an argon2id PHC string ($argon2id$...)")
			}
			return nil
		}())
	}
	clients := map[string]bool{}
	for i, cl := range c.Bootstrap.Clients {
		add(func() error {
			key := fmt.Sprintf("bootstrap.clients[%d]", i)
			if cl.ID == "" {
				return c.KeyError(key+".id", "missing id")
			}
			if clients[cl.ID] {
				return c.KeyError(key+".id", "client %q declared twice", cl.ID)
			}
			clients[cl.ID] = true
			if cl.Public && (cl.Secret != "" || cl.SecretHash != "") {
				return c.KeyError(key, "a public client has no secret")
			}
			if !cl.Public && cl.Secret == "" && cl.SecretHash == "" {
				return c.KeyError(key, "a confidential client needs secret or secret_hash")
			}
			if cl.Secret != "" && cl.SecretHash != "" {
				return c.KeyError(key, "give secret or secret_hash, not both")
			}
			if cl.SecretHash != "" {
				if b, err := hex.DecodeString(cl.SecretHash); err != nil || len(b) != 32 {
					return c.KeyError(key+".secret_hash", "must be 64 hex digits (SHA-256)")
				}
			}
			if cl.Public && cl.Introspect != nil && *cl.Introspect {
				return c.KeyError(key+".introspect", "a public client may not introspect (RFC 7662 §2.1 asks for client authentication)")
			}
			for j, r := range cl.Resources {
				if !AbsoluteURI(r) {
					return c.KeyError(fmt.Sprintf("%s.resources[%d]", key, j), "must be an absolute URI without a fragment (RFC 8707), not %q", r)
				}
			}
			if len(cl.Grants) == 0 {
				return c.KeyError(key+".grants", "list at least one grant type")
			}
			var ie *admin.InvalidError
			if err := admin.CheckBrowserClient(cl.Grants, cl.RedirectURIs, cl.Origins); errors.As(err, &ie) {
				return c.KeyError(key+"."+ie.Fields[0].Field, "%s", ie.Fields[0].Message)
			}
			if cl.RefreshReuseInterval.D() > MaxRefreshReuseInterval {
				// The grace is for a retried request or two tabs waking up
				// together; a long one would switch reuse detection off.
				return c.KeyError(key+".refresh_reuse_interval", "must be at most %v (seconds are what a retry needs)", MaxRefreshReuseInterval)
			}
			return nil
		}())
	}
	for i, k := range c.Bootstrap.APIKeys {
		add(func() error {
			key := fmt.Sprintf("bootstrap.api_keys[%d]", i)
			if (k.Key == "") == (k.KeyHash == "") {
				return c.KeyError(key, "give key or key_hash (exactly one)")
			}
			if k.KeyHash != "" {
				if b, err := hex.DecodeString(k.KeyHash); err != nil || len(b) != 32 {
					return c.KeyError(key+".key_hash", "must be 64 hex digits (SHA-256)")
				}
			}
			if (k.User == "") == (k.Client == "") {
				return c.KeyError(key, "name the owner: user or client (exactly one)")
			}
			if k.Name == "" {
				return c.KeyError(key+".name", "missing name")
			}
			return nil
		}())
	}
	return errs
}

// AbsoluteURI reports whether s is an absolute URI without a fragment and
// without whitespace or control characters, as RFC 8707 asks of a resource.
func AbsoluteURI(s string) bool {
	if s == "" || len(s) > 2048 || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && u.Fragment == "" && !strings.Contains(s, "#")
}

// validateWeb checks the web section.
func (c *Config) validateWeb() error {
	w := c.Web
	if len(w.Title) > 200 {
		return c.KeyError("web.title", "at most 200 characters")
	}
	if w.LogoURL != "" {
		u, err := url.Parse(w.LogoURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || strings.ContainsAny(w.LogoURL, " '\"#;") {
			return c.KeyError("web.logo_url", "must be an https URL (it is named in the pages' Content-Security-Policy), not %q", w.LogoURL)
		}
	}
	if d := w.SessionTTL.D(); d < time.Minute || d > 30*24*time.Hour {
		return c.KeyError("web.session_ttl", "must be between 1m and 720h")
	}
	if w.TemplatesDir != "" {
		if st, err := os.Stat(w.TemplatesDir); err != nil || !st.IsDir() {
			return c.KeyError("web.templates_dir", "not a readable directory: %q", w.TemplatesDir)
		}
	}
	return nil
}
