package server_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/memory"
)

// TestRunMakesTheDeferredIDTokenKey: with DeferIDTokenKey, New on an
// empty store stores only the default key; Run makes the ID token key in
// the background, and returns only once that background work has ended
// (the store may be closed right after).
func TestRunMakesTheDeferredIDTokenKey(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(""))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Issuer = "http://tokengate.test"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st := memory.New()
	ctx := context.Background()
	srv, err := server.New(ctx, server.Options{Config: cfg, Store: st, DeferIDTokenKey: true})
	if err != nil {
		t.Fatal(err)
	}
	purposes := func() map[string]int {
		keys, err := st.ListSigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, k := range keys {
			out[k.Purpose]++
		}
		return out
	}
	if p := purposes(); p[""] != 1 || p[store.PurposeIDToken] != 0 {
		t.Fatalf("keys after New: %v, want only the default key", p)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx, ln) }()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Keys().IDTokenKeyID() == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no ID token key loaded 10 s after Run; stored: %v", purposes())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p := purposes(); p[store.PurposeIDToken] != 1 {
		t.Fatalf("keys after Run made the ID token key: %v, want one of each purpose", p)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
