package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tokengate/tokengate/internal/admin"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/contract"
	"github.com/tokengate/tokengate/internal/federation"
	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/web"
)

// This file is where the configuration becomes the option structs of the
// packages below the server, which do not import internal/config: the
// YAML's routes become contract.Route, its trusted_issuers
// federation.Issuer, its bootstrap section admin.Seed, and the errors those packages report about them are
// mapped back to the file, line and key at fault.

// contractRoutes translates the config's routes, or the default routes
// when it declares none.
func contractRoutes(cfg *config.Config) []contract.Route {
	if len(cfg.Routes) == 0 {
		return contract.DefaultRoutes()
	}
	out := make([]contract.Route, len(cfg.Routes))
	for i, r := range cfg.Routes {
		out[i] = contract.Route{
			Path: r.Path, Method: r.Method, Endpoint: r.Endpoint,
			RotateRefreshTokens: r.RotateRefreshTokens, RefreshTokenFormat: r.RefreshTokenFormat,
			Claims: r.Claims, DefaultClient: r.DefaultClient, RefreshClientAuth: r.RefreshClientAuth,
			Response: r.Response, Body: r.Body,
		}
	}
	return out
}

// BuildRoutes builds the handlers of the config's routes (the default
// routes when it declares none); a route the endpoint kinds refuse is a
// *config.Error naming its file, line and key.
func BuildRoutes(cfg *config.Config, env *contract.Env) ([]contract.Built, error) {
	built, err := contract.Build(env, contractRoutes(cfg))
	var re *contract.RouteError
	if errors.As(err, &re) {
		return nil, cfg.KeyError(fmt.Sprintf("routes[%d].%s", re.Index, re.Key), "%s", re.Msg)
	}
	return built, err
}

// trustedIssuers translates the config's trusted_issuers.
func trustedIssuers(cfg *config.Config) []federation.Issuer {
	out := make([]federation.Issuer, len(cfg.TrustedIssuers))
	for i, ti := range cfg.TrustedIssuers {
		out[i] = federation.Issuer{
			Name: ti.Name, Issuer: ti.Issuer, Audiences: ti.Audiences, JWKSURL: ti.JWKSURL,
			Algorithms: ti.Algorithms, SubjectClaim: ti.SubjectClaim, AllowedSubjects: ti.AllowedSubjects,
			Users: ti.Users, AutoProvision: ti.AutoProvision, Scopes: ti.Scopes,
			MinRefetchInterval: ti.MinRefetchInterval.D(), KeyCacheTTL: ti.KeyCacheTTL.D(),
			Timeout: ti.Timeout.D(), Leeway: ti.Leeway.D(),
		}
	}
	return out
}

// Seed translates the config's bootstrap section into what
// admin.Bootstrap creates.
func Seed(b config.Bootstrap) admin.Seed {
	var s admin.Seed
	for _, u := range b.Users {
		s.Users = append(s.Users, admin.SeedUser{
			Username: u.Username, Password: u.Password, PasswordHash: u.PasswordHash, Scopes: u.Scopes, Disabled: u.Disabled,
		})
	}
	for _, c := range b.Clients {
		s.Clients = append(s.Clients, admin.SeedClient{
			ID: c.ID, Secret: c.Secret, SecretHash: c.SecretHash, Public: c.Public, Grants: c.Grants, Scopes: c.Scopes,
			AccessTokenTTL: c.AccessTokenTTL.D(), RefreshTokenTTL: c.RefreshTokenTTL.D(), RefreshReuseInterval: c.RefreshReuseInterval.D(),
			Introspect: c.Introspect, Resources: c.Resources,
			RedirectURIs: c.RedirectURIs, ThirdParty: c.ThirdParty, Origins: c.Origins,
		})
	}
	for _, k := range b.APIKeys {
		s.APIKeys = append(s.APIKeys, admin.SeedAPIKey{
			Name: k.Name, Key: k.Key, KeyHash: k.KeyHash, User: k.User, Client: k.Client, Scopes: k.Scopes, ExpiresIn: k.ExpireIn.D(),
		})
	}
	return s
}

// webOptions translates the config's web section into the pages' options.
func webOptions(cfg *config.Config, svc *oauth.Service, st store.Store, ip func(*http.Request) string, now func() time.Time, log *slog.Logger) web.Options {
	return web.Options{
		Service: svc, Store: st, Title: cfg.Web.Title, LogoURL: cfg.Web.LogoURL, TemplatesDir: cfg.Web.TemplatesDir,
		SessionTTL: cfg.Web.SessionTTL.D(), RemoteIP: ip, Now: now, Logger: log,
	}
}
