package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/store/sqlite"
)

// buildInfo describes this binary: the module version (a tag when built
// from a module download, "(devel)" from a checkout), the VCS revision and
// time stamped by `go build`, and the Go version.
type buildInfo struct {
	Version, Commit, Time, Modified, GoVersion string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Commit: "unknown", GoVersion: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.GoVersion = bi.GoVersion
	if v := bi.Main.Version; v != "" {
		b.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				b.Modified = " (modified)"
			}
		}
	}
	return b
}

func (m *Main) version(args []string) error {
	fs := m.newFlags("version")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: tokengate version\n\nprints the version, commit and Go version of this binary")
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintf(m.Stderr, "tokengate version: unexpected argument %q\n", pos[0])
		return errUsage
	}
	b := readBuildInfo()
	fmt.Fprintf(m.Stdout, "tokengate %s\ncommit %s%s", b.Version, b.Commit, b.Modified)
	if b.Time != "" {
		fmt.Fprintf(m.Stdout, " (%s)", b.Time)
	}
	fmt.Fprintf(m.Stdout, "\n%s\n", b.GoVersion)
	return nil
}

// backup copies an SQLite store while the server runs.
func (m *Main) backup(ctx context.Context, args []string) error {
	fs := m.newFlags("backup")
	var c common
	c.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: tokengate backup [--db DSN] [--config FILE] FILE\n\nwrites a consistent copy of the SQLite store to the new file FILE (mode 0600) while the server runs;\nfor PostgreSQL use pg_dump (docs/deploy.md)")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(m.Stderr, "tokengate backup: want exactly one argument, the file to write")
		return errUsage
	}
	cfg, err := m.loadConfig(c, nil)
	if err != nil {
		return err
	}
	dsn := cfg.DB
	if strings.Contains(dsn, "://") {
		return fmt.Errorf("%s is not an SQLite store: back PostgreSQL up with pg_dump (see docs/deploy.md)", redactDSN(dsn))
	}
	src := strings.TrimPrefix(dsn, "sqlite:")
	start := time.Now()
	if err := sqlite.Backup(ctx, src, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(m.Stderr, "backed up %s to %s in %s\n", src, pos[0], time.Since(start).Round(time.Millisecond))
	return nil
}

// healthcheck asks a running server's /readyz; the container image has no
// curl, so its HEALTHCHECK runs this.
func (m *Main) healthcheck(ctx context.Context, args []string) error {
	fs := m.newFlags("healthcheck")
	var c common
	fs.StringVar(&c.config, "config", "", "YAML config file (env TOKENGATE_CONFIG): its addr and TLS settings say where to ask")
	url := fs.String("url", "", "readiness URL (default http(s)://ADDR/readyz with ADDR from the config, TOKENGATE_ADDR or 127.0.0.1:8080; https when tls_cert is set)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: tokengate healthcheck [--url URL] [--timeout D]\n\nexits 0 when the server answers its readiness check with 200")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintf(m.Stderr, "tokengate healthcheck: unexpected argument %q\n", pos[0])
		return errUsage
	}
	u := *url
	tlsOn := false
	if u == "" {
		cfg, err := m.loadConfig(c, nil)
		if err != nil {
			return err
		}
		host, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return fmt.Errorf("listen address %q: %w", cfg.Addr, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		scheme := "http"
		if cfg.TLSCert != "" {
			scheme, tlsOn = "https", true
		}
		u = scheme + "://" + net.JoinHostPort(host, port) + "/readyz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("healthcheck URL: %w", err)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if tlsOn {
		// The probe asks this machine's own server by its loopback address,
		// which its certificate (made for the public name) does not name;
		// it sends nothing secret and only reads a status code.
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} // #nosec G402 -- loopback liveness probe
	}
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s: no answer within %s", u, *timeout)
		}
		return fmt.Errorf("%s: %w", u, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: not ready (%s)", u, resp.Status)
	}
	return nil
}
