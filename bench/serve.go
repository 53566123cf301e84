package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/tokengate/tokengate/bearer"
)

// serveHello runs the baseline: a minimal net/http hello-world handler.
// With issuer set, the same handler sits behind the bearer middleware.
func serveHello(addr, issuer string) error {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("hello\n"))
	})
	var h http.Handler = hello
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if issuer != "" {
		v, err := bearer.NewVerifier(ctx, bearer.Config{Issuer: issuer, Audience: benchAudience})
		if err != nil {
			return fmt.Errorf("verifier: %w", err)
		}
		h = v.Require()(hello)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}
