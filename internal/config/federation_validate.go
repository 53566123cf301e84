package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

// federationAlg reports whether a trusted issuer may use alg: asymmetric
// algorithms only, so a provider's public key can never double as an
// HMAC secret.
func federationAlg(alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA":
		return true
	}
	return false
}

// validateFederation checks trusted_issuers: the first mistake of each.
func (c *Config) validateFederation() []error {
	var errs []error
	seen := map[string]bool{}
	for i, ti := range c.TrustedIssuers {
		if err := c.validateIssuer(i, ti, seen); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// validateIssuer checks trusted_issuers[i] and returns its first mistake;
// seen holds the issuers declared before it.
func (c *Config) validateIssuer(i int, ti TrustedIssuer, seen map[string]bool) error {
	key := fmt.Sprintf("trusted_issuers[%d]", i)
	if ti.Issuer == "" {
		return c.KeyError(key+".issuer", "missing issuer")
	}
	if msg := fetchableURL(ti.Issuer); msg != "" {
		return c.KeyError(key+".issuer", "%s", msg)
	}
	if seen[ti.Issuer] {
		return c.KeyError(key+".issuer", "issuer %q declared twice", ti.Issuer)
	}
	seen[ti.Issuer] = true
	if ti.JWKSURL != "" {
		if msg := fetchableURL(ti.JWKSURL); msg != "" {
			return c.KeyError(key+".jwks_url", "%s", msg)
		}
	}
	if len(ti.Audiences) == 0 {
		return c.KeyError(key+".audiences", "list at least one accepted audience (for Auth0: the API identifier)")
	}
	for j, a := range ti.Audiences {
		if a == "" {
			return c.KeyError(fmt.Sprintf("%s.audiences[%d]", key, j), "empty audience")
		}
	}
	for j, a := range ti.Algorithms {
		if !federationAlg(a) {
			return c.KeyError(fmt.Sprintf("%s.algorithms[%d]", key, j), "algorithm %q not allowed: use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA (never none or HS*)", a)
		}
	}
	switch ti.SubjectClaim {
	case "", "sub", "email":
	default:
		return c.KeyError(key+".subject_claim", "must be sub or email, not %q", ti.SubjectClaim)
	}
	if len(ti.AllowedSubjects) > 0 && !ti.AutoProvision {
		// Before, a listed subject logged in as the local user of the
		// same name: an account takeover. Say so rather than ignore it.
		return c.KeyError(key+".allowed_subjects", "only limits auto_provision, which is off: an external subject reaches a local user only through users (map it there)")
	}
	if len(ti.AllowedSubjects) > 0 && ti.SubjectClaim == "email" {
		return c.KeyError(key+".allowed_subjects", "lists sub values, and subject_claim is email: map verified emails in users instead")
	}
	if len(ti.Users) == 0 && !ti.AutoProvision {
		return c.KeyError(key, "nobody could log in: map external subjects to local users in users, or set auto_provision")
	}
	for j, s := range ti.AllowedSubjects {
		if s == "" {
			return c.KeyError(fmt.Sprintf("%s.allowed_subjects[%d]", key, j), "empty subject")
		}
	}
	for ext, local := range ti.Users {
		if ext == "" || local == "" {
			return c.KeyError(key+".users", "external subjects and local usernames must not be empty")
		}
		if store.IsExternalUsername(local) {
			return c.KeyError(key+".users."+ext, "%q is in the %s namespace of provisioned users; map to a local user", local, store.ExternalUserPrefix)
		}
	}
	if ti.MinRefetchInterval < 0 || ti.KeyCacheTTL < 0 || ti.Timeout < 0 || ti.Leeway < 0 {
		return c.KeyError(key, "durations must not be negative")
	}
	if ti.Timeout.D() > time.Minute {
		return c.KeyError(key+".timeout", "must be at most 1m: requests wait for it")
	}
	if ti.Leeway.D() > 5*time.Minute {
		return c.KeyError(key+".leeway", "must be at most 5m")
	}
	return nil
}

// fetchableURL explains why u may not be fetched from, or returns "".
// Keys travel over HTTPS; plain HTTP is accepted only on a loopback host
// (a provider on the same machine, or a test).
func fetchableURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || p.RawQuery != "" || p.Fragment != "" || p.User != nil {
		return fmt.Sprintf("%q must be an absolute URL without credentials, query or fragment", u)
	}
	switch {
	case p.Scheme == "https":
	case p.Scheme == "http" && isLoopbackHost(p.Hostname()):
	default:
		return fmt.Sprintf("%q must use https (plain http only on a loopback host)", u)
	}
	return ""
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
