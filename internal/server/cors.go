package server

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tokengate/tokengate/internal/reqinfo"
	"github.com/tokengate/tokengate/internal/store"
)

// corsOriginsTTL is how long the union of all clients' origins, which
// answers preflight requests, is kept per node.
const corsOriginsTTL = 10 * time.Second

// cors answers CORS for the token, revocation and userinfo endpoints: only origins
// a client registered (store.Client.Origins) get Access-Control-Allow-*
// headers, nothing by default. A preflight, which carries no client, is
// allowed for an origin that some client registered; the actual answer
// is readable only when the authenticated client registered the origin.
type cors struct {
	clients func(ctx context.Context, id string) (store.Client, error)
	list    func(ctx context.Context) ([]store.Client, error)
	now     func() time.Time

	mu      sync.Mutex
	origins []string
	at      time.Time
}

// anyClientAllows reports whether some client registered origin.
func (c *cors) anyClientAllows(ctx context.Context, origin string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.at.IsZero() || now.Sub(c.at) >= corsOriginsTTL || now.Before(c.at) {
		cs, err := c.list(ctx)
		if err != nil {
			return false // fail closed
		}
		var all []string
		for _, cl := range cs {
			all = append(all, cl.Origins...)
		}
		slices.Sort(all)
		c.origins, c.at = slices.Compact(all), now
	}
	_, ok := slices.BinarySearch(c.origins, origin)
	return ok
}

// preflight answers OPTIONS for a CORS endpoint that answers methods.
func (c *cors) preflight(methods []string) http.Handler {
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		origin := r.Header.Get("Origin")
		if origin != "" && slices.Contains(methods, r.Header.Get("Access-Control-Request-Method")) && c.anyClientAllows(r.Context(), origin) {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", allow)
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
			h.Set("Access-Control-Max-Age", "600")
		}
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}

// wrap adds the CORS headers to an endpoint's answers: Vary: Origin
// always, and Access-Control-Allow-Origin when the client that
// authenticated registered the request's Origin.
func (c *cors) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(&corsWriter{ResponseWriter: w, c: c, r: r, origin: origin}, r)
	})
}

// corsWriter decides the CORS headers when the answer is written, once
// the endpoint has authenticated the client.
type corsWriter struct {
	http.ResponseWriter
	c       *cors
	r       *http.Request
	origin  string
	decided bool
}

func (w *corsWriter) decide() {
	if w.decided {
		return
	}
	w.decided = true
	id := reqinfo.Client(w.r.Context())
	if id == "" {
		return
	}
	cl, err := w.c.clients(w.r.Context(), id)
	if err != nil || !slices.Contains(cl.Origins, w.origin) {
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", w.origin)
	w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate, Retry-After, DPoP-Nonce")
}

func (w *corsWriter) WriteHeader(code int) {
	w.decide()
	w.ResponseWriter.WriteHeader(code)
}

func (w *corsWriter) Write(b []byte) (int, error) {
	w.decide()
	return w.ResponseWriter.Write(b)
}
