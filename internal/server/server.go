// Package server wires tokengate together: it builds the core from the
// config, mounts the configured routes behind limits, logging, metrics and
// recovery, serves health and metrics, and shuts down gracefully.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tokengate/tokengate/docs"
	"github.com/tokengate/tokengate/internal/admin"
	"github.com/tokengate/tokengate/internal/adminapi"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/contract"
	"github.com/tokengate/tokengate/internal/devicepage"
	"github.com/tokengate/tokengate/internal/federation"
	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/reqinfo"
	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/token"
	"github.com/tokengate/tokengate/internal/web"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// Options are what a Server is built from.
type Options struct {
	Config config.Config // validated
	Store  store.Store
	Logger *slog.Logger
	// Registry receives the metrics; nil makes a private one.
	Registry *prometheus.Registry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// KeyReload is how often signing keys are re-read from the store, so
	// a rotation on another node is picked up. Default DefaultKeyReload.
	// Tokens that a key signed later than its retirement plus this are
	// refused, so every node of a cluster must use the same value.
	KeyReload time.Duration
	// CleanupEvery is how often expired rows are deleted. Default 10m.
	CleanupEvery time.Duration
	// DeviceSessions is the login session the device verification page
	// (oauth.VerificationPath, RFC 8628) signs users in with; nil means
	// the sign-in session of the web pages (tests put a stand-in here).
	DeviceSessions devicepage.Sessions
	// DeferIDTokenKey lets a first start (a store without an ID token
	// key) answer before the RS256 ID token key is generated: Run makes
	// it in the background, and an ID token asked for meanwhile waits for
	// it. Without Run (a handler served by hand) leave it false.
	DeferIDTokenKey bool
}

// Server is a ready tokengate server.
type Server struct {
	cfg     config.Config
	store   store.Store
	keys    *token.Manager
	svc     *oauth.Service
	hasher  *secret.Hasher
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *metrics
	handler http.Handler
	now     func() time.Time
	reload  time.Duration
	cleanup time.Duration
	ips     *ipResolver
	device  devicepage.Sessions
	// opsHandler serves metrics and health on metrics_addr; nil when
	// they share the main listener.
	opsHandler http.Handler
	// web serves the sign-in, consent and sign-out pages.
	web *web.Web

	// The readiness write probe's latest result, reused for
	// ReadyProbeInterval; readyMu also collapses concurrent probes into one.
	readyMu      sync.Mutex
	readyAt      time.Time
	readyErr     error
	readyChecked bool
}

// ReadyProbeInterval is how long /readyz reuses the result of its store
// write probe (a small committed write), so that readiness checks cost
// the store at most one write per interval; the ping runs every time.
const ReadyProbeInterval = time.Second

// DefaultKeyReload is how often a server re-reads the signing keys unless
// Options.KeyReload says otherwise.
const DefaultKeyReload = 5 * time.Second

// MaxTokenTTL is the longest lifetime of any signed token the config can
// produce; retired signing keys stay published that long (plus the key
// reload interval).
func MaxTokenTTL(cfg *config.Config) time.Duration {
	access, refresh := maxLifetimes(cfg)
	return max(access, refresh)
}

// maxLifetimes returns the longest access token and refresh token
// lifetimes the config can produce.
func maxLifetimes(cfg *config.Config) (access, refresh time.Duration) {
	access, refresh = cfg.AccessTokenTTL.D(), cfg.RefreshTokenTTL.D()
	for _, c := range cfg.Bootstrap.Clients {
		access, refresh = max(access, c.AccessTokenTTL.D()), max(refresh, c.RefreshTokenTTL.D())
	}
	return access, refresh
}

// NewKeyManager builds the signing key manager the config describes, for
// servers that re-read the keys every DefaultKeyReload.
func NewKeyManager(cfg *config.Config, st store.Store, now func() time.Time) (*token.Manager, error) {
	return newKeyManager(cfg, st, now, DefaultKeyReload, false)
}

// newKeyManager builds the key manager: a JWT lives at most as long as the
// config's longest lifetime of its kind (access tokens are at+jwt; the
// other JWTs tokengate signs are refresh tokens).
func newKeyManager(cfg *config.Config, st store.Store, now func() time.Time, reload time.Duration, deferID bool) (*token.Manager, error) {
	var mk []byte
	if cfg.MasterKey != "" {
		mk = token.DeriveMasterKey(cfg.MasterKey)
	}
	access, refresh := maxLifetimes(cfg)
	return token.NewManager(st, token.Options{
		Algorithm: cfg.SigningAlg, MasterKey: mk, MaxTokenTTL: max(access, refresh), Now: now,
		// OpenID Connect is always on: ID tokens are signed by an RS256
		// key of their own (OIDC Core §15.1), published beside the
		// default key and rotated with it.
		IDTokenAlgorithm: token.AlgRS256,
		DeferIDTokenKey:  deferID,
		MaxLifetimes:     map[string]time.Duration{token.TypeAccess: access, token.TypeJWT: refresh},
		ReloadInterval:   reload,
	})
}

// NewHasher builds the password hasher the config describes.
func NewHasher(cfg *config.Config) (*secret.Hasher, error) {
	p := secret.DefaultParams
	ph := cfg.PasswordHashing
	if ph.MemoryKiB > 0 {
		p.Memory = ph.MemoryKiB
	}
	if ph.Time > 0 {
		p.Time = ph.Time
	}
	if ph.Threads > 0 {
		p.Threads = ph.Threads
	}
	workers := ph.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return secret.NewHasher(secret.HasherOptions{Params: p, Workers: workers, Queue: ph.Queue})
}

// New builds a server: signing keys loaded (or made), bootstrap records
// created, routes validated and mounted.
func New(ctx context.Context, o Options) (*Server, error) {
	cfg := o.Config
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if o.KeyReload <= 0 {
		o.KeyReload = DefaultKeyReload
	}
	if o.CleanupEvery <= 0 {
		o.CleanupEvery = 10 * time.Minute
	}
	s := &Server{cfg: cfg, store: o.Store, log: o.Logger, reg: o.Registry, now: o.Now, reload: o.KeyReload, cleanup: o.CleanupEvery, device: o.DeviceSessions}
	var err error
	if s.keys, err = newKeyManager(&cfg, o.Store, o.Now, o.KeyReload, o.DeferIDTokenKey); err != nil {
		return nil, err
	}
	if err := s.keys.Init(ctx); err != nil {
		return nil, fmt.Errorf("loading signing keys: %w", err)
	}
	if cfg.MasterKey == "" {
		o.Logger.Warn("private signing keys are stored unencrypted: anyone who can read the database can sign tokens; set TOKENGATE_MASTER_KEY to encrypt them")
	}
	if s.hasher, err = NewHasher(&cfg); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(o.Registry, func() float64 { return float64(s.hasher.QueueDepth()) })
	var guard *oauth.Guard
	if !cfg.BruteForce.Disabled {
		bf := cfg.BruteForce
		guard = oauth.NewGuard(o.Store, oauth.GuardOptions{Threshold: bf.Threshold, IPThreshold: bf.IPThreshold, Window: bf.Window.D(), BaseBackoff: bf.BaseBackoff.D(), MaxBackoff: bf.MaxBackoff.D()}, o.Now, o.Logger)
	}
	var fed *federation.Authenticator
	var ext oauth.Federation // stays nil (not a typed nil) without trusted issuers
	if len(cfg.TrustedIssuers) > 0 {
		// Loopback http passes config validation deliberately (a local IdP, tests).
		if fed, err = federation.New(trustedIssuers(&cfg), federation.Options{Store: o.Store, Now: o.Now, Logger: o.Logger, AllowInsecureLoopback: true}); err != nil {
			return nil, err
		}
		ext = fed
	}
	s.svc, err = oauth.NewService(oauth.Options{
		Store: o.Store, Signer: s.keys, Hasher: s.hasher, Logger: o.Logger, Now: o.Now, Guard: guard,
		ClientCacheTTL: cfg.ClientCacheTTL.D(), Federation: ext, AdminScopeClients: cfg.AdminScopeClients,
		Settings: oauth.Settings{Issuer: cfg.Issuer, Audience: cfg.Audience, Targets: cfg.ExchangeAudiences, AccessTokenTTL: cfg.AccessTokenTTL.D(), RefreshTokenTTL: cfg.RefreshTokenTTL.D(),
			DeviceCodeTTL: cfg.DeviceCodeTTL.D()},
		Hooks: oauth.Hooks{GrantDone: s.metrics.grantDone},
	})
	if err != nil {
		return nil, err
	}
	if fed != nil {
		fed.RegisterGrants(s.svc)
	}
	if err := admin.Bootstrap(ctx, o.Store, Seed(cfg.Bootstrap), s.hasher.Hash, nil, o.Now(), o.Logger); err != nil {
		return nil, err
	}
	if err := s.mount(); err != nil {
		return nil, err
	}
	return s, nil
}

// Service returns the core, for extensions that register grants.
func (s *Server) Service() *oauth.Service { return s.svc }

// Hasher returns the password hasher.
func (s *Server) Hasher() *secret.Hasher { return s.hasher }

// Web returns the browser pages, whose session manager other pages (the
// device page) share.
func (s *Server) Web() *web.Web { return s.web }

// Keys returns the signing key manager.
func (s *Server) Keys() *token.Manager { return s.keys }

// Handler returns the root HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) mount() error {
	ips := newIPResolver(s.cfg.RateLimit.TrustedProxies)
	s.ips = ips
	env := &contract.Env{Service: s.svc, Log: s.log, RemoteIP: ips.clientIP, JWKS: s.keys.JWKS}
	pages, err := web.New(webOptions(&s.cfg, s.svc, s.store, ips.clientIP, s.now, s.log))
	if err != nil {
		return err
	}
	s.web = pages
	env.Authorize = pages.Authorize()
	built, err := BuildRoutes(&s.cfg, env)
	if err != nil {
		return err
	}
	meta := s.metadataDoc(built)
	env.Metadata = func() []byte { return meta }
	oidc := s.oidcDiscoveryDoc(built)
	env.OIDCDiscovery = func() []byte { return oidc }

	var lim *limiter
	if rl := s.cfg.RateLimit; rl.PerSecond > 0 {
		lim = newLimiter(rl.PerSecond, rl.Burst, rl.MaxTrackedIPs, rl.ExemptLoopback)
	}
	rt := newRouter()
	cr := &cors{clients: s.svc.Client, list: s.store.ListClients, now: s.now}
	limit := func(h http.Handler) http.Handler {
		if lim != nil {
			return rateLimited(lim, ips, h)
		}
		return h
	}
	for _, b := range built {
		h := b.Handler
		if b.Kind.CORS {
			h = cr.wrap(h)
			if rt.preflight[b.Route.Path] == nil {
				rt.preflight[b.Route.Path] = s.instrument(b.Route.Path, limit(cr.preflight(append([]string{b.Kind.Method}, b.Kind.AlsoMethods...))))
			}
		}
		if b.Kind.RateLimited {
			h = limit(h)
		}
		h = s.instrument(b.Route.Path, h)
		if b.Kind.Safe && b.Method == http.MethodGet {
			rt.handleSafe(b.Route.Path, h)
		} else {
			rt.handle(b.Method, b.Route.Path, h)
		}
	}
	// The sign-in pages, at fixed paths, behind the rate limit like the
	// token endpoint whose password check they share.
	login := s.instrument(web.LoginPath, limit(pages.Login()))
	logout := s.instrument(web.LogoutPath, limit(pages.Logout()))
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		rt.handle(m, web.LoginPath, login)
		rt.handle(m, web.LogoutPath, logout)
	}
	rt.handleSafe(web.CSSPath, s.instrument(web.CSSPath, pages.Stylesheet()))
	if err := s.mountDevicePage(rt, lim, built); err != nil {
		return err
	}
	notFound := s.instrument("unmatched", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		contract.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "error_description": "no such endpoint"})
	}))
	rt.notFound = notFound
	ops := rt
	if s.cfg.MetricsAddr != "" {
		ops = newRouter()
		ops.notFound = notFound
	}
	switch s.cfg.AdminAPI {
	case "", "main":
		if err := s.mountAdmin(rt, lim); err != nil {
			return err
		}
	case "metrics":
		if s.cfg.MetricsAddr == "" {
			return s.cfg.KeyError("admin_api", "admin_api: metrics needs metrics_addr, the listener it is served on")
		}
		if err := s.mountAdmin(ops, lim); err != nil {
			return err
		}
	case "off":
	default:
		return s.cfg.KeyError("admin_api", "admin_api must be main, metrics or off, not %q", s.cfg.AdminAPI)
	}
	healthz := s.instrument("/healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		contract.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	readyz := s.instrument("/readyz", http.HandlerFunc(s.ready))
	rt.handleSafe("/healthz", healthz)
	rt.handleSafe("/readyz", readyz)
	if ops != rt {
		ops.handleSafe("/healthz", healthz)
		ops.handleSafe("/readyz", readyz)
	}
	ops.handleSafe("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	s.handler = recoverer(s.log, limitBody(rt))
	if ops != rt {
		s.opsHandler = recoverer(s.log, limitBody(ops))
	}
	return nil
}

// mountAdmin mounts the admin API under adminapi.Prefix, behind the rate
// limit; its password hashing goes through the server's bounded hasher.
func (s *Server) mountAdmin(rt *router, lim *limiter) error {
	doc, err := adminapi.OpenAPIJSON(docs.AdminOpenAPI())
	if err != nil {
		return err
	}
	o := adminapi.Options{
		Users:      &admin.Users{Store: s.store, Hash: s.hasher.Hash, Now: s.now},
		Clients:    &admin.Clients{Store: s.store, Now: s.now},
		APIKeys:    &admin.APIKeys{Store: s.store, Now: s.now},
		Keys:       &admin.Keys{Manager: s.keys},
		Introspect: s.svc.Introspect,
		Logger:     s.log,
		OpenAPI:    doc,
	}
	if lim != nil {
		o.Allow = func(r *http.Request) bool { return lim.allow(s.ips.clientIP(r)) }
	}
	if !s.cfg.BruteForce.Disabled {
		o.Guard = &adminapi.Guard{RemoteIP: s.ips.clientIP, Check: s.svc.CheckBearerAttempt, Fail: s.svc.RecordBearerFailure}
	}
	rt.prefix = adminapi.Prefix + "/"
	rt.prefixed = s.instrument(adminapi.Prefix, adminapi.New(o))
	return nil
}

// mountDevicePage serves the RFC 8628 verification page (GET shows the
// form, POST enters a code and decides) behind the rate limit, when a
// login session is wired.
func (s *Server) mountDevicePage(rt *router, lim *limiter, built []contract.Built) error {
	if s.device == nil && s.web != nil {
		s.device = webDeviceSessions{s.web.Sessions()}
	}
	if s.device == nil {
		for _, b := range built {
			if b.Kind.Role == "device_authorization" {
				s.log.Warn("the device authorization endpoint is served but no login session is configured: the verification page is not mounted and device codes cannot be approved", "path", b.Route.Path)
				break
			}
		}
		return nil
	}
	for i, b := range built {
		if b.Route.Path == oauth.VerificationPath {
			return s.cfg.KeyError(fmt.Sprintf("routes[%d].path", i), "%s is the device verification page", oauth.VerificationPath)
		}
	}
	page, err := devicepage.New(devicepage.Options{Devices: s.svc, Sessions: s.device, RemoteIP: s.ips.clientIP, Logger: s.log})
	if err != nil {
		return err
	}
	var h http.Handler = page
	if lim != nil {
		h = rateLimited(lim, s.ips, h)
	}
	h = s.instrument(oauth.VerificationPath, h)
	rt.handle(http.MethodGet, oauth.VerificationPath, h)
	rt.handle(http.MethodPost, oauth.VerificationPath, h)
	return nil
}

// OpsHandler returns the handler of the metrics_addr listener (/metrics,
// and /healthz and /readyz as on the main listener), or nil when
// metrics_addr is not configured and the main handler serves /metrics.
func (s *Server) OpsHandler() http.Handler { return s.opsHandler }

// ready answers /readyz: ready while the store answers and can write (a
// full disk or a read-only database is not ready).
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if err := s.probeStore(r.Context()); err != nil {
		contract.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	contract.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// probeStore pings the store on every call (cheap, and an outage shows
// at once) and commits a small write at most once per
// ReadyProbeInterval, returning the latest write result in between.
func (s *Server) probeStore(ctx context.Context) error {
	// A caller that goes away must not cache its cancellation.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		return err
	}
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	now := s.now()
	if s.readyChecked && !now.Before(s.readyAt) && now.Sub(s.readyAt) < ReadyProbeInterval {
		return s.readyErr
	}
	err := s.store.ProbeWrite(ctx)
	if err != nil {
		s.log.Warn("readiness check failed: the store cannot write", "err", err)
	}
	s.readyAt, s.readyErr, s.readyChecked = now, err, true
	return err
}

// metadataDoc builds the RFC 8414 document from the mounted routes.
func (s *Server) metadataDoc(built []contract.Built) []byte {
	doc := map[string]any{
		"issuer":                                s.cfg.Issuer,
		"grant_types_supported":                 s.svc.SupportedGrants(),
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
		"response_types_supported":              []string{},
	}
	hasAuthorize := false
	base := s.cfg.Issuer
	for _, b := range built {
		var key string
		switch b.Kind.Role {
		case "token":
			key = "token_endpoint"
		case "revocation":
			key = "revocation_endpoint"
		case "introspection":
			key = "introspection_endpoint"
		case "jwks":
			key = "jwks_uri"
		case "authorization":
			key, hasAuthorize = "authorization_endpoint", true
		case "device_authorization":
			key = "device_authorization_endpoint" // RFC 8628 §4
		default:
			continue
		}
		if _, done := doc[key]; !done {
			doc[key] = base + b.Route.Path
		}
	}
	if hasAuthorize {
		doc["response_types_supported"] = []string{"code"}
		doc["response_modes_supported"] = []string{"query"}
		doc["code_challenge_methods_supported"] = []string{"S256"}
		doc["authorization_response_iss_parameter_supported"] = true
	}
	if _, ok := doc["revocation_endpoint"]; ok {
		doc["revocation_endpoint_auth_methods_supported"] = []string{"client_secret_basic", "client_secret_post"}
	}
	if _, ok := doc["introspection_endpoint"]; ok {
		doc["introspection_endpoint_auth_methods_supported"] = []string{"client_secret_basic", "client_secret_post"}
	}
	b, _ := json.Marshal(doc)
	return b
}

// Run serves on ln until ctx is cancelled, then stops accepting, lets
// in-flight requests finish (up to 15s) and returns. Background work
// (key reload, clean-up) runs while it serves.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	return s.RunWithOps(ctx, ln, nil)
}

// RunWithOps is Run with the metrics_addr listener opsLn serving
// OpsHandler beside the main one; opsLn must be non-nil exactly when
// metrics_addr is configured.
func (s *Server) RunWithOps(ctx context.Context, ln, opsLn net.Listener) error {
	if (opsLn != nil) != (s.opsHandler != nil) {
		return errors.New("server: a metrics listener is required exactly when metrics_addr is set")
	}
	newHTTP := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    32 << 10,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
	}
	servers := []*http.Server{newHTTP(s.handler)}
	listeners := []net.Listener{ln}
	if opsLn != nil {
		servers = append(servers, newHTTP(s.opsHandler))
		listeners = append(listeners, opsLn)
	}
	bg, stopBG := context.WithCancel(ctx)
	var bgDone sync.WaitGroup
	defer bgDone.Wait() // the store may be closed once Run returns
	defer stopBG()
	bgDone.Go(func() { s.background(bg) })
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() { errc <- hs.Serve(listeners[i]) }()
	}
	var first error
	pending := len(servers)
	select {
	case first = <-errc:
		pending--
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, hs := range servers {
		if err := hs.Shutdown(sctx); err != nil && first == nil {
			first = fmt.Errorf("shutdown: %w", err)
		}
	}
	for range pending {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && first == nil {
			first = err
		}
	}
	if errors.Is(first, http.ErrServerClosed) {
		first = nil
	}
	return first
}

// background makes a deferred ID token key, reloads signing keys and
// deletes expired rows.
func (s *Server) background(ctx context.Context) {
	ensureID := func() {
		if err := s.keys.EnsureIDTokenKey(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("making the ID token key (retried at the next key reload)", "err", err)
		}
	}
	ensureID()
	reload := time.NewTicker(s.reload)
	defer reload.Stop()
	clean := time.NewTicker(s.cleanup)
	defer clean.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload.C:
			ensureID()
			if err := s.keys.Reload(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("reloading signing keys", "err", err)
			}
		case <-clean.C:
			n, err := s.store.DeleteExpired(ctx, s.now())
			if err != nil && ctx.Err() == nil {
				s.log.Warn("deleting expired rows", "err", err)
			} else if n > 0 {
				s.log.Info("deleted expired rows", "rows", n)
			}
		}
	}
}

// statusWriter records the status code for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// instrument logs and measures one route, and gives every answer an
// X-Request-Id (the caller's, when it sent a plausible one). The access
// log line names the route (the configured path, never the query string:
// query strings and bodies may carry secrets), the status, the duration in
// milliseconds, the client IP, the authenticated client_id and the request
// id. It is written at info level, and at error level for 5xx answers
// other than 503.
func (s *Server) instrument(route string, h http.Handler) http.Handler {
	lat := s.metrics.latency.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		var info reqinfo.Info
		h.ServeHTTP(sw, r.WithContext(reqinfo.With(r.Context(), &info)))
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		d := time.Since(start)
		lat.Observe(d.Seconds())
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		// A 503 (overload, storage unavailable) is expected under those
		// conditions, whose cause is logged once per interval elsewhere:
		// it stays at info, so a flood does not flood the error log.
		level := slog.LevelInfo
		if sw.status >= 500 && sw.status != http.StatusServiceUnavailable {
			level = slog.LevelError
		}
		if s.log.Enabled(r.Context(), level) {
			attrs := [...]slog.Attr{
				slog.String("method", r.Method), slog.String("route", route), slog.Int("status", sw.status),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("ip", s.ips.clientIP(r)),
				slog.String("client_id", info.ClientID), slog.String("request_id", id),
			}
			s.log.LogAttrs(r.Context(), level, "request", attrs[:]...)
		}
	})
}

// requestID returns the caller's X-Request-Id when it is a plausible id
// (1 to 64 characters of letters, digits, '-', '_', '.', ':'), so that a
// proxy's id follows the request through; otherwise a new random one.
func requestID(given string) string {
	if n := len(given); n > 0 && n <= 64 {
		ok := true
		for i := 0; i < n && ok; i++ {
			c := given[i]
			ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':'
		}
		if ok {
			return given
		}
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// limitBody caps request bodies at MaxBodyBytes; reading past it fails
// and the endpoints answer 413. A declared oversize length is refused
// before reading, except under the admin API, which authenticates first
// and answers 413 in its own (problem details) form.
func limitBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes && !strings.HasPrefix(r.URL.Path, adminapi.Prefix+"/") {
			contract.WriteJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "invalid_request", "error_description": "request body too large"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		h.ServeHTTP(w, r)
	})
}

// recoverer turns a panic into a 500 without echoing anything of the
// request, and logs it without the request's body or headers.
func recoverer(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				buf := make([]byte, 4096)
				buf = buf[:runtime.Stack(buf, false)]
				log.Error("panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(buf))
				contract.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// rateLimited answers 429 when ip exceeds its rate.
func rateLimited(l *limiter, ips *ipResolver, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.allow(ips.clientIP(r)) {
			w.Header().Set("Retry-After", "1")
			contract.WriteJSON(w, http.StatusTooManyRequests, map[string]string{"error": "slow_down", "error_description": "too many requests"})
			return
		}
		h.ServeHTTP(w, r)
	})
}
