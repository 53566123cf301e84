package client

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Contract names an API dialect a Client can speak (Config.Contract):
// a preset of endpoint paths and of how credentials are sent.
type Contract string

// The contracts. DefaultContract is used when Config.Contract is empty.
const (
	// ContractOAuth2 is tokengate's default: RFC 6749 at POST
	// /oauth/token, form body, client authenticated by HTTP Basic.
	ContractOAuth2 Contract = "oauth2"
	// ContractSpringOAuth2 is Spring Security OAuth2: POST
	// /auth/oauth/token, form body, HTTP Basic.
	ContractSpringOAuth2 Contract = "spring-oauth2"
	// ContractDjangoOAuthToolkit is Django OAuth Toolkit: POST
	// /oauth/token/, form body with client_id and client_secret in it.
	ContractDjangoOAuthToolkit Contract = "django-oauth-toolkit"
	// ContractLaravelPassport is Laravel Passport: POST /oauth/token with
	// a JSON body carrying the client credentials.
	ContractLaravelPassport Contract = "laravel-passport"
	// ContractFastAPI is a FastAPI-style API: POST /auth/access-token
	// (form username and password), POST /auth/refresh-token (JSON
	// {"refresh_token"}), GET /auth/access-token?key= for API keys.
	ContractFastAPI Contract = "fastapi"
	// ContractDatarheiCore is datarhei Core: POST /api/login (JSON
	// username and password, or an external IdP token as Bearer) and GET
	// /api/login/refresh with the refresh token as Bearer; refresh tokens
	// are not rotated.
	ContractDatarheiCore Contract = "datarhei-core"

	// DefaultContract is the contract of an empty Config.Contract.
	DefaultContract = ContractOAuth2
)

// Grant types and token types the OAuth 2.0 contracts send.
const (
	// GrantAPIKey exchanges a tokengate API key for an access token.
	GrantAPIKey = "urn:tokengate:params:oauth:grant-type:api-key"
	// GrantTokenExchange is RFC 8693 token exchange, used for
	// ExternalToken.
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypeJWT is the subject_token_type of an external JWT.
	TokenTypeJWT = "urn:ietf:params:oauth:token-type:jwt"
	// GrantDeviceCode is the RFC 8628 device authorization grant, used
	// by DeviceLogin.
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// Endpoints are a contract's endpoints: paths relative to Config.BaseURL
// ("/oauth/token") or absolute URLs. Empty fields take the contract's
// defaults.
type Endpoints struct {
	// Login is where credentials are exchanged for tokens (the token
	// endpoint of the OAuth 2.0 contracts).
	Login string
	// Refresh is where a refresh token is exchanged for an access token
	// (for the OAuth 2.0 contracts, the token endpoint again).
	Refresh string
	// APIKey is where an API key is exchanged, for contracts that have a
	// separate endpoint for it (FastAPI).
	APIKey string
	// DeviceAuthorization is the RFC 8628 device authorization endpoint
	// that DeviceLogin asks for a user code (tokengate's
	// /oauth/device_authorization with the OAuth 2.0 contract).
	DeviceAuthorization string
}

// style is how a contract puts credentials on the wire.
type style int

const (
	styleOAuth2 style = iota // RFC 6749 grants
	styleFastAPI
	styleDatarhei
)

// contract is a preset.
type contract struct {
	name      Contract
	style     style
	endpoints Endpoints
	// Of the OAuth 2.0 style:
	jsonBody   bool // a JSON body instead of a form
	bodyClient bool // client_id and client_secret in the body, not Basic
}

var contracts = []contract{
	{name: ContractOAuth2, endpoints: Endpoints{Login: "/oauth/token", Refresh: "/oauth/token", DeviceAuthorization: "/oauth/device_authorization"}},
	{name: ContractSpringOAuth2, endpoints: Endpoints{Login: "/auth/oauth/token", Refresh: "/auth/oauth/token"}},
	{name: ContractDjangoOAuthToolkit, endpoints: Endpoints{Login: "/oauth/token/", Refresh: "/oauth/token/"}, bodyClient: true},
	{name: ContractLaravelPassport, endpoints: Endpoints{Login: "/oauth/token", Refresh: "/oauth/token"}, jsonBody: true, bodyClient: true},
	{name: ContractFastAPI, style: styleFastAPI, endpoints: Endpoints{Login: "/auth/access-token", Refresh: "/auth/refresh-token", APIKey: "/auth/access-token"}},
	{name: ContractDatarheiCore, style: styleDatarhei, endpoints: Endpoints{Login: "/api/login", Refresh: "/api/login/refresh"}},
}

// Contracts lists the contracts Config.Contract accepts, DefaultContract
// first.
func Contracts() []Contract {
	out := make([]Contract, len(contracts))
	for i, c := range contracts {
		out[i] = c.name
	}
	return out
}

func findContract(name Contract) (contract, error) {
	if name == "" {
		name = DefaultContract
	}
	for _, c := range contracts {
		if c.name == name {
			return c, nil
		}
	}
	known := make([]string, len(contracts))
	for i, c := range contracts {
		known[i] = string(c.name)
	}
	return contract{}, fmt.Errorf("client: unknown contract %q (known: %s)", name, strings.Join(known, ", "))
}

// credential is the kind of login a Client performs.
type credential int

const (
	credNone credential = iota
	credPassword
	credAPIKey
	credExternal
	credClient // client_credentials
)

func (k credential) String() string {
	return [...]string{"no credentials", "a username and password", "an API key", "an external token", "client credentials alone"}[k]
}

// ErrConflictingCredentials means Config gives more than one way of
// logging in (a user name or password, an API key, an external token):
// New refuses to choose one.
var ErrConflictingCredentials = errors.New("client: conflicting credentials")

// loginCredential returns what the Client logs in with: the one of a
// user (Username, Password), an API key and an external token that is
// given, else the client's own credentials. More than one is
// ErrConflictingCredentials.
func loginCredential(cfg *Config) (credential, error) {
	var given []string
	if cfg.Username != "" || cfg.Password != "" {
		given = append(given, "Username/Password")
	}
	if cfg.APIKey != "" {
		given = append(given, "APIKey")
	}
	if cfg.ExternalToken != "" {
		given = append(given, "ExternalToken")
	}
	if len(given) > 1 {
		return credNone, fmt.Errorf("%w: %s given; give one", ErrConflictingCredentials, strings.Join(given, " and "))
	}
	switch {
	case cfg.Username != "" || cfg.Password != "":
		return credPassword, nil
	case cfg.APIKey != "":
		return credAPIKey, nil
	case cfg.ExternalToken != "":
		return credExternal, nil
	case cfg.ClientID != "" && cfg.ClientSecret != "":
		return credClient, nil
	}
	return credNone, nil
}

// supports reports whether the contract can log in with k.
func (c contract) supports(k credential) bool {
	switch c.style {
	case styleFastAPI:
		return slices.Contains([]credential{credPassword, credAPIKey}, k)
	case styleDatarhei:
		return slices.Contains([]credential{credPassword, credExternal}, k)
	}
	return true
}

// resolve turns a path into a URL against base; absolute URLs stay.
func resolve(base *url.URL, p string) (string, error) {
	if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		if _, err := url.Parse(p); err != nil {
			return "", fmt.Errorf("client: endpoint %q: %w", p, err)
		}
		return p, nil
	}
	if base == nil {
		return "", fmt.Errorf("client: endpoint %q is relative and BaseURL is empty", p)
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + p
	u.RawPath = ""
	return u.String(), nil
}

// resolveEndpoints fills the endpoints not set with the contract's and
// resolves them all against base.
func resolveEndpoints(base *url.URL, set, defaults Endpoints) (Endpoints, error) {
	var out Endpoints
	for _, f := range []struct {
		dst       *string
		set, dflt string
	}{
		{&out.Login, set.Login, defaults.Login},
		{&out.Refresh, set.Refresh, defaults.Refresh},
		{&out.APIKey, set.APIKey, defaults.APIKey},
		{&out.DeviceAuthorization, set.DeviceAuthorization, defaults.DeviceAuthorization},
	} {
		p := cmp.Or(f.set, f.dflt)
		if p == "" {
			continue
		}
		u, err := resolve(base, p)
		if err != nil {
			return Endpoints{}, err
		}
		*f.dst = u
	}
	return out, nil
}
