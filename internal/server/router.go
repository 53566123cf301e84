package server

import (
	"net/http"
	"sort"
	"strings"

	"github.com/tokengate/tokengate/internal/contract"
)

// router matches exact paths, then methods. Unlike http.ServeMux it
// answers a wrong method with a JSON 405 and an Allow header, and does no
// redirects: the contracts need their paths served exactly as written.
type router struct {
	routes   map[string]map[string]http.Handler
	notFound http.Handler
	// prefixed serves every path under prefix (the admin API) when set.
	prefix   string
	prefixed http.Handler
	// preflight answers CORS preflight requests (OPTIONS with
	// Access-Control-Request-Method) per path; other OPTIONS requests
	// are answered like any unlisted method.
	preflight map[string]http.Handler
}

func newRouter() *router {
	return &router{routes: map[string]map[string]http.Handler{}, preflight: map[string]http.Handler{}}
}

// handleSafe routes a GET whose handler changes nothing, and HEAD to the
// same handler (net/http drops the body). Other GET routes answer HEAD
// with 405: a HEAD must not issue a code or a token.
func (rt *router) handleSafe(path string, h http.Handler) {
	rt.handle(http.MethodGet, path, h)
	rt.handle(http.MethodHead, path, h)
}

func (rt *router) handle(method, path string, h http.Handler) {
	m := rt.routes[path]
	if m == nil {
		m = map[string]http.Handler{}
		rt.routes[path] = m
	}
	m[method] = h
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m, ok := rt.routes[r.URL.Path]
	if !ok && rt.prefixed != nil && strings.HasPrefix(r.URL.Path, rt.prefix) {
		rt.prefixed.ServeHTTP(w, r)
		return
	}
	if !ok {
		rt.notFound.ServeHTTP(w, r)
		return
	}
	if pf := rt.preflight[r.URL.Path]; pf != nil && r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		pf.ServeHTTP(w, r)
		return
	}
	h, ok := m[r.Method]
	if !ok {
		allow := make([]string, 0, len(m))
		for meth := range m {
			allow = append(allow, meth)
		}
		sort.Strings(allow)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		contract.WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "method not allowed"})
		return
	}
	h.ServeHTTP(w, r)
}
