// Package adminapi is tokengate's administrative HTTP API under /admin/v1:
// users, clients, API keys and signing keys, JSON in and out, errors as
// RFC 9457 problem details. Every call but the OpenAPI document needs an
// access token issued by this tokengate whose scope includes
// tokengate:admin, checked by the core's introspection (signature,
// expiry, revocation, session state). The operations themselves are the
// admin package's, which the CLI shares.
package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/tokengate/tokengate/internal/admin"
	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/reqinfo"
)

// Prefix is where the API is mounted.
const Prefix = "/admin/v1"

// Scope is the scope an access token needs to call the API.
const Scope = "tokengate:admin"

// Options are what the API is built from.
type Options struct {
	Users   *admin.Users
	Clients *admin.Clients
	APIKeys *admin.APIKeys
	Keys    *admin.Keys
	// Introspect is the core's RFC 7662 introspection (oauth.Service.Introspect).
	Introspect func(ctx context.Context, raw string) (*oauth.Introspection, error)
	// Logger receives the audit lines.
	Logger *slog.Logger
	// OpenAPI is the JSON form of docs/admin-openapi.yaml, served at
	// /admin/v1/openapi.json.
	OpenAPI []byte
	// Allow applies the rate limit to a request; nil allows every request.
	Allow func(r *http.Request) bool
	// Guard, when set, is the brute-force guard of the token endpoint
	// applied to admin tokens per client IP: Check refuses while the IP is
	// locked out (an *oauth.Error with RetryAfter), Fail counts a refused
	// token.
	Guard *Guard
}

// Guard applies the brute-force guard to admin tokens.
type Guard struct {
	RemoteIP func(r *http.Request) string
	Check    func(ctx context.Context, ip string) error
	Fail     func(ctx context.Context, ip string)
}

// API is the admin HTTP handler.
type API struct {
	o      Options
	routes []route
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, c *call) error

type route struct {
	method   string
	segments []string // "{}" matches one path segment
	h        handlerFunc
}

// call is one authenticated request.
type call struct {
	clientID string
	params   []string
}

// New returns the API handler; it serves paths under Prefix.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{o: o}
	a.add("POST", "/users", a.createUser)
	a.add("GET", "/users", a.listUsers)
	a.add("GET", "/users/{}", a.getUser)
	a.add("PATCH", "/users/{}", a.patchUser)
	a.add("DELETE", "/users/{}", a.deleteUser)
	a.add("PUT", "/users/{}/password", a.setPassword)
	a.add("POST", "/users/{}/revoke-sessions", a.revokeSessions)
	a.add("POST", "/users/{}/api-keys", a.createAPIKey)
	a.add("GET", "/users/{}/api-keys", a.listAPIKeys)
	a.add("DELETE", "/api-keys/{}", a.revokeAPIKey)
	a.add("POST", "/clients", a.createClient)
	a.add("GET", "/clients", a.listClients)
	a.add("GET", "/clients/{}", a.getClient)
	a.add("PATCH", "/clients/{}", a.patchClient)
	a.add("DELETE", "/clients/{}", a.deleteClient)
	a.add("POST", "/clients/{}/rotate-secret", a.rotateSecret)
	a.add("POST", "/import/clients", a.importClients)
	a.add("POST", "/import/users", a.importUsers)
	a.add("GET", "/keys", a.listKeys)
	a.add("POST", "/keys/rotate", a.rotateKeys)
	return a
}

func (a *API) add(method, path string, h handlerFunc) {
	a.routes = append(a.routes, route{method: method, segments: strings.Split(strings.TrimPrefix(path, "/"), "/"), h: h})
}

// match finds the route of method and the path below Prefix; allowed
// lists the methods of the path when none matches the method.
func (a *API) match(method string, segs []string) (h handlerFunc, params []string, allowed []string) {
	for _, rt := range a.routes {
		if len(rt.segments) != len(segs) {
			continue
		}
		var ps []string
		ok := true
		for i, s := range rt.segments {
			if s == "{}" {
				if segs[i] == "" {
					ok = false
					break
				}
				ps = append(ps, segs[i])
			} else if s != segs[i] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if rt.method == method {
			return rt.h, ps, nil
		}
		allowed = append(allowed, rt.method)
	}
	return nil, nil, allowed
}

// ServeHTTP authenticates, rate-limits and routes a request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix+"/")
	if !ok {
		problem(w, http.StatusNotFound, "not_found", "no such endpoint", nil)
		return
	}
	if a.o.Allow != nil && !a.o.Allow(r) {
		w.Header().Set("Retry-After", "1")
		problem(w, http.StatusTooManyRequests, "rate_limited", "too many requests", nil)
		return
	}
	if rest == "openapi.json" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET")
			problem(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed", nil)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(a.o.OpenAPI)
		return
	}
	c, ok := a.authenticate(w, r)
	if !ok {
		return
	}
	h, params, allowed := a.match(r.Method, strings.Split(rest, "/"))
	if h == nil {
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			problem(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed", nil)
			return
		}
		problem(w, http.StatusNotFound, "not_found", "no such endpoint", nil)
		return
	}
	c.params = params
	if err := h(w, r, c); err != nil {
		a.fail(w, r, err)
	}
}

// authenticate checks the bearer token: an active access token of this
// tokengate (RFC 6750) whose scope includes Scope.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request) (*call, bool) {
	auth := r.Header.Get("Authorization")
	scheme, raw, found := strings.Cut(auth, " ")
	if auth == "" || !found || !strings.EqualFold(scheme, "Bearer") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokengate-admin", scope="`+Scope+`"`)
		problem(w, http.StatusUnauthorized, "unauthorized", "an access token is required (Authorization: Bearer)", nil)
		return nil, false
	}
	raw = strings.TrimSpace(raw)
	var ip string
	if g := a.o.Guard; g != nil {
		ip = g.RemoteIP(r)
		if err := g.Check(r.Context(), ip); err != nil {
			var oe *oauth.Error
			if errors.As(err, &oe) && oe.Reason == oauth.ReasonLocked {
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int(oe.RetryAfter.Seconds()))))
				problem(w, http.StatusTooManyRequests, "too_many_attempts", "too many invalid tokens from this address; retry later", nil)
				return nil, false
			}
			w.Header().Set("Retry-After", "1")
			problem(w, http.StatusServiceUnavailable, "unavailable", "the token store is unavailable; retry", nil)
			return nil, false
		}
	}
	in, err := a.o.Introspect(r.Context(), raw)
	if err != nil && raw != "" {
		var oe *oauth.Error
		if errors.As(err, &oe) && oe.Code == oauth.CodeTemporarilyUnavailable {
			w.Header().Set("Retry-After", "1")
			problem(w, http.StatusServiceUnavailable, "unavailable", "the token store is unavailable; retry", nil)
			return nil, false
		}
		a.o.Logger.Error("admin: checking an access token", "err", err)
		problem(w, http.StatusInternalServerError, "server_error", "internal error", nil)
		return nil, false
	}
	if err != nil || in == nil || !in.Active || in.TokenType != "Bearer" {
		if g := a.o.Guard; g != nil {
			g.Fail(r.Context(), ip)
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokengate-admin", error="invalid_token", error_description="the access token is invalid, expired or revoked"`)
		problem(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked", nil)
		return nil, false
	}
	reqinfo.SetClient(r.Context(), in.ClientID)
	if !hasScope(in.Scope, Scope) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokengate-admin", error="insufficient_scope", scope="`+Scope+`"`)
		problem(w, http.StatusForbidden, "insufficient_scope", "the access token lacks the "+Scope+" scope", nil)
		return nil, false
	}
	return &call{clientID: in.ClientID}, true
}

func hasScope(scopes, want string) bool {
	for _, s := range strings.Fields(scopes) {
		if s == want {
			return true
		}
	}
	return false
}

// audit writes one audit line for a change: who (client_id), what
// (action) and which record; never a secret.
// The request id is the one the server's access log carries.
func (a *API) audit(w http.ResponseWriter, r *http.Request, c *call, action, record string) {
	a.o.Logger.LogAttrs(r.Context(), slog.LevelInfo, "admin audit",
		slog.String("client_id", c.clientID), slog.String("action", action), slog.String("record", record),
		slog.String("request_id", w.Header().Get("X-Request-Id")))
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		problem(w, http.StatusInternalServerError, "server_error", "internal error", nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Problem is an RFC 9457 problem details object with tokengate's stable
// error code and, for 422, the invalid fields.
type Problem struct {
	Type    string             `json:"type"`
	Title   string             `json:"title"`
	Status  int                `json:"status"`
	Error   string             `json:"error"`
	Message string             `json:"message"`
	Fields  []admin.FieldError `json:"fields,omitempty"`
}

func problem(w http.ResponseWriter, status int, code, message string, fields []admin.FieldError) {
	b, _ := json.Marshal(Problem{Type: "urn:tokengate:admin:" + code, Title: http.StatusText(status), Status: status, Error: code, Message: message, Fields: fields})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
