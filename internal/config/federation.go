package config

// TrustedIssuer is an external identity provider whose JWTs may be
// exchanged for tokengate tokens (Auth0, Okta, Keycloak, Google, Entra ID,
// another tokengate).
type TrustedIssuer struct {
	// Name labels the issuer in logs; default the issuer URL.
	Name string `yaml:"name"`
	// Issuer is the exact iss value, e.g. https://TENANT.auth0.com/.
	// It must be https (plain http only on a loopback host).
	Issuer string `yaml:"issuer"`
	// Audiences lists accepted aud values (for Auth0: the API identifier).
	// At least one is required: a token minted for another API must not
	// log in here.
	Audiences []string `yaml:"audiences"`
	// JWKSURL, when set, is used instead of discovery. Without it the keys
	// are found through <issuer>/.well-known/openid-configuration, falling
	// back to the RFC 8414 /.well-known/oauth-authorization-server document.
	JWKSURL string `yaml:"jwks_url"`
	// Algorithms lists accepted signing algorithms; default RS256 and ES256.
	// Only asymmetric algorithms are allowed (never none, never HS*).
	Algorithms []string `yaml:"algorithms"`
	// SubjectClaim is what the keys of Users are: sub (default), or email,
	// whose tokens must then carry email_verified true. An email is only
	// ever looked up in Users (OIDC Core §5.7: it is no unique
	// identifier); an identity is always (issuer, sub).
	SubjectClaim string `yaml:"subject_claim"`
	// AllowedSubjects, when set, limits AutoProvision to these sub values.
	AllowedSubjects []string `yaml:"allowed_subjects"`
	// Users maps external subjects (or verified emails) to pre-existing
	// local usernames: the only way an external identity reaches a local
	// account.
	Users map[string]string `yaml:"users"`
	// AutoProvision gives every identity of this issuer that Users does
	// not map a user of its own, created on its first login: no password,
	// this issuer's scopes, a name in the ext: namespace that no local
	// user can have, linked to (issuer, sub). Off by default: unmapped
	// identities are refused.
	AutoProvision bool `yaml:"auto_provision"`
	// Scopes is the most this issuer's identities may be granted, mapped
	// or provisioned; none configured grants none.
	Scopes Scopes `yaml:"scopes"`
	// MinRefetchInterval limits JWKS refetches on an unknown kid; default 1m.
	MinRefetchInterval Duration `yaml:"min_refetch_interval"`
	// KeyCacheTTL is how long fetched keys are used before they are
	// fetched again, so a key the provider dropped stops being trusted;
	// default 1h.
	KeyCacheTTL Duration `yaml:"key_cache_ttl"`
	// Timeout bounds every key refresh (discovery and JWKS together);
	// default 5s.
	Timeout Duration `yaml:"timeout"`
	// Leeway is the clock skew allowed on exp, nbf and iat; default 30s.
	Leeway Duration `yaml:"leeway"`
}
