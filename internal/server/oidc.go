package server

import (
	"encoding/json"

	"github.com/tokengate/tokengate/internal/contract"
	"github.com/tokengate/tokengate/internal/oauth"
)

// endpointsByRole maps each discovery role (contract.Kind.Role) to the
// URL of the first mounted route that plays it.
func endpointsByRole(base string, built []contract.Built) map[string]string {
	out := map[string]string{}
	for _, b := range built {
		if b.Kind.Role == "" {
			continue
		}
		if _, done := out[b.Kind.Role]; !done {
			out[b.Kind.Role] = base + b.Route.Path
		}
	}
	return out
}

// oidcClaimsSupported are the claims tokengate's ID tokens and userinfo
// answers may carry (README, OpenID Connect).
var oidcClaimsSupported = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "preferred_username"}

// oidcDiscoveryDoc builds the OpenID Connect Discovery 1.0 document from
// the mounted routes: every endpoint is named by the role of the route
// that serves it, so a configured path (or a new endpoint kind with a
// known role, such as the authorize endpoint's "authorization") shows up
// without a change here. The authorization code parameters
// (response_types, PKCE, RFC 9207 iss) are announced only when an
// authorization endpoint is mounted.
func (s *Server) oidcDiscoveryDoc(built []contract.Built) []byte {
	ep := endpointsByRole(s.cfg.Issuer, built)
	algs := s.svc.IDTokenAlgorithms()
	if len(algs) > 0 {
		// Only the ID token key's algorithm: no client can ask for
		// another one (id_token_signed_response_alg is not stored).
		algs = algs[:1]
	}
	doc := map[string]any{
		"issuer":                                s.cfg.Issuer,
		"response_types_supported":              []string{},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": algs,
		"scopes_supported":                      []string{oauth.ScopeOpenID, oauth.ScopeProfile},
		"claims_supported":                      oidcClaimsSupported,
		"grant_types_supported":                 s.svc.SupportedGrants(),
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
		// OIDC Discovery §3: omitted means true; tokengate reads no
		// request objects, by value or by reference.
		"request_parameter_supported":     false,
		"request_uri_parameter_supported": false,
		"claims_parameter_supported":      false,
	}
	for role, key := range map[string]string{
		"authorization": "authorization_endpoint",
		"token":         "token_endpoint",
		"userinfo":      "userinfo_endpoint",
		"jwks":          "jwks_uri",
		"revocation":    "revocation_endpoint",
		"introspection": "introspection_endpoint",
	} {
		if u, ok := ep[role]; ok {
			doc[key] = u
		}
	}
	if _, ok := ep["authorization"]; ok {
		doc["response_types_supported"] = []string{"code"}
		doc["response_modes_supported"] = []string{"query"}
		doc["code_challenge_methods_supported"] = []string{"S256"}
		doc["authorization_response_iss_parameter_supported"] = true
	}
	b, _ := json.Marshal(doc)
	return b
}
