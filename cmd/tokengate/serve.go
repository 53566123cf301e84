package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/tokengate/tokengate/internal/admin"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/store"
)

func (m *Main) serve(ctx context.Context, args []string) error {
	fs := m.newCmd("serve", "")
	var c common
	c.register(fs.FlagSet)
	addr := fs.String("addr", "", "listen address HOST:PORT (env TOKENGATE_ADDR; default 127.0.0.1:8080)")
	dev := fs.Bool("dev", false, "development mode: create a client and a user and print their credentials once; no rate limit for loopback")
	logFormat := fs.String("log-format", "", "log format: text or json")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn, error")
	tlsCert := fs.String("tls-cert", "", "PEM certificate (chain): serve HTTPS (with --tls-key); re-read on change or SIGHUP")
	tlsKey := fs.String("tls-key", "", "PEM private key of --tls-cert")
	if _, err := fs.parse(args); err != nil {
		return err
	}
	start := time.Now()
	cfg, err := m.loadConfig(c, func(cfg *config.Config) {
		if *addr != "" {
			cfg.Addr = *addr
		}
		if *logFormat != "" {
			cfg.Log.Format = *logFormat
		}
		if *logLevel != "" {
			cfg.Log.Level = *logLevel
		}
		if *tlsCert != "" {
			cfg.TLSCert = *tlsCert
		}
		if *tlsKey != "" {
			cfg.TLSKey = *tlsKey
		}
		if *dev {
			// Development runs clients, tests and load on this machine.
			cfg.RateLimit.ExemptLoopback = true
		}
	})
	if err != nil {
		return err
	}
	log := newLogger(m.Stderr, cfg.Log.Format, cfg.Log.Level)
	// Listen before the database is created or migrated: a wrong or busy
	// address should not leave a new database behind.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	if cfg.TLSCert != "" {
		certs, err := server.NewCertReloader(cfg.TLSCert, cfg.TLSKey, log)
		if err != nil {
			return err
		}
		ln = tls.NewListener(ln, certs.TLSConfig())
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					if err := certs.Reload(); err != nil {
						log.Error("SIGHUP: TLS certificate does not load; serving the previous one", "err", err)
					} else {
						log.Info("SIGHUP: TLS certificate reloaded", "cert", cfg.TLSCert)
					}
				}
			}
		}()
	}
	var opsLn net.Listener
	if cfg.MetricsAddr != "" {
		if opsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return fmt.Errorf("listening on metrics_addr %s: %w", cfg.MetricsAddr, err)
		}
		defer opsLn.Close()
	}
	st, err := openStore(ctx, cfg.DB, log)
	if err != nil {
		return err
	}
	defer st.Close()
	srv, err := server.New(ctx, server.Options{Config: cfg, Store: st, Logger: log, DeferIDTokenKey: true})
	if err != nil {
		return err
	}
	if *dev {
		if err := m.devCredentials(ctx, st, srv, cfg); err != nil {
			return err
		}
	}
	// Start-up hashed passwords (the dummy hash for unknown users, the
	// bootstrap users): once they are done, hand those argon2id matrices
	// back to the system rather than idling on them.
	go func() {
		<-srv.Hasher().Ready()
		debug.FreeOSMemory()
	}()
	attrs := []any{"addr", ln.Addr().String(), "issuer", cfg.Issuer, "db", redactDSN(cfg.DB), "startup_ms", time.Since(start).Milliseconds()}
	if opsLn != nil {
		attrs = append(attrs, "metrics_addr", opsLn.Addr().String())
	}
	log.Info("tokengate listening", attrs...)
	if err := srv.RunWithOps(ctx, ln, opsLn); err != nil {
		return err
	}
	log.Info("tokengate stopped")
	return nil
}

// devCredentials creates a development client and user when absent and
// prints their credentials once; afterwards they exist and only their
// names are printed.
func (m *Main) devCredentials(ctx context.Context, st store.Store, srv *server.Server, cfg config.Config) error {
	const clientID, username = "dev-client", "dev"
	clients := &admin.Clients{Store: st}
	users := &admin.Users{Store: st, Hash: srv.Hasher().Hash}
	_, cerr := clients.Get(ctx, clientID)
	_, uerr := users.Get(ctx, username)
	if cerr == nil && uerr == nil {
		fmt.Fprintf(m.Stdout, "development client %q and user %q exist; their secrets were printed on first start\n", clientID, username)
		return nil
	}
	if !errors.Is(cerr, store.ErrNotFound) && cerr != nil {
		return cerr
	}
	if !errors.Is(uerr, store.ErrNotFound) && uerr != nil {
		return uerr
	}
	fmt.Fprintln(m.Stdout, "# DEVELOPMENT CREDENTIALS (shown once; only hashes are stored). Paste these lines into your shell:")
	if cerr != nil {
		_, sec, err := clients.Add(ctx, admin.NewClient{ID: clientID, Scopes: []string{"read", "write"},
			Grants: []string{"password", "refresh_token", "client_credentials", "urn:tokengate:params:oauth:grant-type:api-key"}})
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "export CLIENT_ID=%s CLIENT_SECRET=%s\n", clientID, sec)
	}
	if uerr != nil {
		pw, err := secret.RandomString(nil, 20)
		if err != nil {
			return err
		}
		if err := users.Add(ctx, username, pw, nil); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "export USERNAME=%s PASSWORD=%s\n", username, pw)
	}
	fmt.Fprintf(m.Stdout, "# token endpoint: %s/oauth/token\n", cfg.Issuer)
	return nil
}
