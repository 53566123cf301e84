package contract

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/oauth"
)

// Env is what endpoints are built from.
type Env struct {
	Service *oauth.Service
	Log     *slog.Logger
	// RemoteIP resolves the client's address (honouring trusted proxies).
	RemoteIP RemoteIP
	// JWKS returns the current JSON Web Key Set document.
	JWKS func() []byte
	// Metadata returns the RFC 8414 document.
	Metadata func() []byte
	// OIDCDiscovery returns the OpenID Connect Discovery 1.0 document.
	OIDCDiscovery func() []byte
	// Authorize serves the authorization endpoint (GET, and POST for the
	// consent form); nil answers 404.
	Authorize http.Handler
}

// Option names a route option, for validation.
type Option string

// Route options an endpoint kind may accept.
const (
	OptRotate        Option = "rotate_refresh_tokens"
	OptRefreshFormat Option = "refresh_token_format"
	OptClaims        Option = "claims"
	OptDefaultClient Option = "default_client"
	OptResponse      Option = "response"
	// OptRefreshClientAuth is refresh_client_auth: none, required by the
	// refresh endpoints that carry no client credentials.
	OptRefreshClientAuth Option = "refresh_client_auth"
)

// OptBody is body: form, a route that reads requests as oauthlib does
// (Django OAuth Toolkit): only form bodies carry parameters, a request
// without grant_type is unsupported_grant_type, and revocation asks for
// the token before it authenticates the client.
const OptBody Option = "body"

// Kind is one endpoint kind a route may name.
type Kind struct {
	// Method is the HTTP method the endpoint answers.
	Method string
	// AlsoMethods are further methods the same handler answers on the
	// same path when the route names no method (the authorization
	// endpoint's consent form is a POST; userinfo answers GET and POST).
	AlsoMethods []string
	// Options lists the route options it accepts.
	Options []Option
	// Role is the RFC 8414 (or OpenID Connect Discovery) role the
	// endpoint plays, if any ("token", "revocation", "introspection",
	// "jwks", "authorization", "device_authorization", "userinfo"): the
	// discovery documents name endpoints by it.
	Role string
	// RateLimited puts the endpoint behind the per-IP rate limit when
	// one is configured: every endpoint that takes a credential or a
	// token is, so that none can be used to scan tokens or secrets.
	// The public, cacheable documents (metadata, JWKS) are not.
	RateLimited bool
	// CORS lets browser clients call the endpoint from the origins their
	// client registration lists.
	CORS bool
	// Safe marks an endpoint whose GET changes nothing and reads no
	// credential (a public document): only such an endpoint answers HEAD
	// as it answers GET.
	Safe  bool
	build func(env *Env, r Route, prof oauth.Profile) http.Handler
}

var issuing = []Option{OptRotate, OptRefreshFormat, OptClaims, OptDefaultClient}

// tokenOnlyRefresh are the options of refresh endpoints whose only
// credential is the refresh token.
var tokenOnlyRefresh = append(slices.Clip(issuing), OptRefreshClientAuth)

// Kinds returns every endpoint kind by name. New contracts add entries here.
func Kinds() map[string]Kind {
	return map[string]Kind{
		"token": {RateLimited: true, CORS: true, Method: http.MethodPost, Options: append(slices.Clip(issuing), OptBody), Role: "token",
			build: func(env *Env, r Route, p oauth.Profile) http.Handler {
				return tokenEndpoint(env, p, r.Body == "form")
			}},
		"revoke": {RateLimited: true, CORS: true, Method: http.MethodPost, Options: []Option{OptResponse, OptDefaultClient, OptBody}, Role: "revocation",
			build: func(env *Env, r Route, p oauth.Profile) http.Handler {
				return revokeEndpoint(env, p, r.Response == "empty_html", r.Body == "form")
			}},
		"introspect": {RateLimited: true, Method: http.MethodPost, Options: []Option{OptBody}, Role: "introspection",
			build: func(env *Env, r Route, p oauth.Profile) http.Handler {
				return introspectEndpoint(env, p, r.Body == "form")
			}},
		"authorize": {RateLimited: true, Method: http.MethodGet, AlsoMethods: []string{http.MethodPost}, Role: "authorization",
			build: func(env *Env, _ Route, _ oauth.Profile) http.Handler {
				if env.Authorize == nil {
					return http.NotFoundHandler()
				}
				return env.Authorize
			}},
		"jwks": {Method: http.MethodGet, Safe: true, Role: "jwks",
			build: func(env *Env, _ Route, _ oauth.Profile) http.Handler {
				return staticJSON(func() []byte { return env.JWKS() }, "public, max-age=300")
			}},
		"fastapi.login": {RateLimited: true, Method: http.MethodPost, Options: issuing,
			build: func(env *Env, _ Route, p oauth.Profile) http.Handler { return fastAPILogin(env, p) }},
		"fastapi.refresh": {RateLimited: true, Method: http.MethodPost, Options: tokenOnlyRefresh,
			build: func(env *Env, _ Route, p oauth.Profile) http.Handler { return fastAPIRefresh(env, p) }},
		"fastapi.api_key": {RateLimited: true, Method: http.MethodGet, Options: issuing,
			build: func(env *Env, _ Route, p oauth.Profile) http.Handler { return fastAPIKeyLogin(env, p) }},
		"datarhei.login": {RateLimited: true, Method: http.MethodPost, Options: issuing,
			build: func(env *Env, _ Route, p oauth.Profile) http.Handler { return datarheiLogin(env, p) }},
		"datarhei.refresh": {RateLimited: true, Method: http.MethodGet, Options: tokenOnlyRefresh,
			build: func(env *Env, _ Route, p oauth.Profile) http.Handler { return datarheiRefresh(env, p) }},
		"device_authorization": {RateLimited: true, Method: http.MethodPost, Options: []Option{OptDefaultClient}, Role: "device_authorization",
			build: func(env *Env, _ Route, p oauth.Profile) http.Handler { return deviceAuthorizationEndpoint(env, p) }},
		"metadata": {Method: http.MethodGet, Safe: true,
			build: func(env *Env, _ Route, _ oauth.Profile) http.Handler {
				return staticJSON(func() []byte { return env.Metadata() }, "public, max-age=3600")
			}},
		"oidc_discovery": {Method: http.MethodGet, Safe: true,
			build: func(env *Env, _ Route, _ oauth.Profile) http.Handler {
				return staticJSON(func() []byte { return env.OIDCDiscovery() }, "public, max-age=3600")
			}},
		"userinfo": {RateLimited: true, CORS: true, Method: http.MethodGet, AlsoMethods: []string{http.MethodPost}, Role: "userinfo",
			build: func(env *Env, _ Route, _ oauth.Profile) http.Handler { return userinfoEndpoint(env) }},
	}
}

// DefaultRoutes are served when the config declares none.
func DefaultRoutes() []Route {
	return []Route{
		{Path: "/oauth/token", Endpoint: "token"},
		{Path: "/oauth/authorize", Endpoint: "authorize"},
		{Path: "/oauth/revoke", Endpoint: "revoke"},
		{Path: "/oauth/introspect", Endpoint: "introspect"},
		{Path: "/oauth/device_authorization", Endpoint: "device_authorization"},
		{Path: "/.well-known/oauth-authorization-server", Endpoint: "metadata"},
		{Path: "/.well-known/jwks.json", Endpoint: "jwks"},
		{Path: "/.well-known/openid-configuration", Endpoint: "oidc_discovery"},
		{Path: "/oauth/userinfo", Endpoint: "userinfo"},
	}
}

// ProfileOf turns a route's options into the core's issuing profile.
func ProfileOf(r Route) oauth.Profile {
	return oauth.Profile{
		NoRotation:    r.RotateRefreshTokens != nil && !*r.RotateRefreshTokens,
		JWTRefresh:    r.RefreshTokenFormat == "jwt",
		ExtraClaims:   extraClaims(r.Claims),
		DefaultClient: r.DefaultClient,
		// Only routes that require the option reach the core with it.
		RefreshWithoutClientAuth: r.RefreshClientAuth == "none",
	}
}

// extraClaims is the claims hook of a route's `claims` option: the
// datarhei contract's "usefor" (what a token is for: access or refresh)
// and "exi" (seconds until expiry at issue). Nil when the route asks for
// none, so the core adds nothing.
func extraClaims(names []string) func(oauth.TokenKind, time.Duration) map[string]any {
	usefor, exi := slices.Contains(names, "usefor"), slices.Contains(names, "exi")
	if !usefor && !exi {
		return nil
	}
	return func(kind oauth.TokenKind, ttl time.Duration) map[string]any {
		m := make(map[string]any, 2)
		if usefor {
			if kind == oauth.KindRefresh {
				m["usefor"] = "refresh"
			} else {
				m["usefor"] = "access"
			}
		}
		if exi {
			m["exi"] = int64(ttl / time.Second)
		}
		return m
	}
}

// setOptions lists the options a route sets.
func setOptions(r Route) []Option {
	var out []Option
	if r.RotateRefreshTokens != nil {
		out = append(out, OptRotate)
	}
	if r.RefreshTokenFormat != "" {
		out = append(out, OptRefreshFormat)
	}
	if len(r.Claims) > 0 {
		out = append(out, OptClaims)
	}
	if r.DefaultClient != "" {
		out = append(out, OptDefaultClient)
	}
	if r.Response != "" {
		out = append(out, OptResponse)
	}
	if r.RefreshClientAuth != "" {
		out = append(out, OptRefreshClientAuth)
	}
	if r.Body != "" {
		out = append(out, OptBody)
	}
	return out
}

// Route maps a URL path to an endpoint kind, with the options of the
// contract it serves. The server builds it from the config's routes;
// each field is the config key of the same name.
type Route struct {
	Path     string
	Method   string // default: the kind's method
	Endpoint string

	// Options of token-issuing endpoints.
	RotateRefreshTokens *bool    // nil: the core's default (rotate)
	RefreshTokenFormat  string   // opaque (default) or jwt
	Claims              []string // extra claims: exi, usefor
	DefaultClient       string   // public client for requests without credentials
	// RefreshClientAuth "none" declares that a refresh route takes the
	// refresh token as its only credential; only DefaultClient's sessions
	// refresh there.
	RefreshClientAuth string
	// Response of the revoke endpoint: json (default) or empty_html.
	Response string
	// Body "form" reads requests as oauthlib does: form bodies only.
	Body string
}

// RouteError is a route that Build refuses: Key is the option at fault
// (endpoint, method, path or an option name) of routes[Index], so that
// the caller can point at it in the file the route came from.
type RouteError struct {
	Index int
	Key   string
	Msg   string
}

// Error implements error.
func (e *RouteError) Error() string {
	return fmt.Sprintf("routes[%d].%s: %s", e.Index, e.Key, e.Msg)
}

func routeError(i int, key, format string, args ...any) *RouteError {
	return &RouteError{Index: i, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Built is a route ready to mount.
type Built struct {
	Route   Route
	Method  string
	Kind    Kind
	Handler http.Handler
}

// Build validates routes against the kinds and builds their handlers.
// A refused route is a *RouteError.
func Build(env *Env, routes []Route) ([]Built, error) {
	kinds := Kinds()
	out := make([]Built, 0, len(routes))
	type pathMethod struct{ path, method string }
	seen := map[pathMethod]int{}
	for i, r := range routes {
		k, ok := kinds[r.Endpoint]
		if !ok {
			names := make([]string, 0, len(kinds))
			for n := range kinds {
				names = append(names, n)
			}
			slices.Sort(names)
			return nil, routeError(i, "endpoint", "unknown endpoint %q; known: %v", r.Endpoint, names)
		}
		for _, o := range setOptions(r) {
			if !slices.Contains(k.Options, o) {
				return nil, routeError(i, string(o), "option %s does not apply to endpoint %q", o, r.Endpoint)
			}
		}
		if slices.Contains(k.Options, OptRefreshClientAuth) {
			// This endpoint has no way to authenticate a client: it must
			// say so, and name the one public client it refreshes for.
			if r.RefreshClientAuth != "none" {
				return nil, routeError(i, "refresh_client_auth", "endpoint %q refreshes with the refresh token alone: set refresh_client_auth: none (and a public default_client) to accept that", r.Endpoint)
			}
			if r.DefaultClient == "" {
				return nil, routeError(i, "default_client", "endpoint %q with refresh_client_auth: none needs default_client: the public client whose sessions it refreshes", r.Endpoint)
			}
			if env.Log != nil {
				env.Log.Warn("route refreshes with the refresh token alone (refresh_client_auth: none); only sessions of its public default client are refreshed there",
					"path", r.Path, "endpoint", r.Endpoint, "default_client", r.DefaultClient)
			}
		}
		methods := append([]string{k.Method}, k.AlsoMethods...)
		if r.Method != "" {
			if !slices.Contains(methods, r.Method) {
				return nil, routeError(i, "method", "endpoint %q answers %s, not %s", r.Endpoint, strings.Join(methods, " and "), r.Method)
			}
			methods = []string{r.Method}
		}
		h := k.build(env, r, ProfileOf(r))
		for _, method := range methods {
			if j, dup := seen[pathMethod{r.Path, method}]; dup {
				return nil, routeError(i, "path", "%s %s is already served by routes[%d]", method, r.Path, j)
			}
			seen[pathMethod{r.Path, method}] = i
			out = append(out, Built{Route: r, Method: method, Kind: k, Handler: h})
		}
	}
	return out, nil
}
