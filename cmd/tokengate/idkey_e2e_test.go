package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFirstStartMakesTheIDTokenKeyInTheBackground: `serve` on a new
// database is ready before its RS256 ID token key exists (RSA generation
// no longer delays a first start); discovery names RS256 from the first
// answer, the key is published shortly after, and it is stored once.
func TestFirstStartMakesTheIDTokenKeyInTheBackground(t *testing.T) {
	srv := startE2E(t)
	p, cfgPath, db := srv.proc, srv.cfgPath, srv.db

	getJSON := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(p.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var disc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	getJSON("/.well-known/openid-configuration", &disc)
	if !slices.Equal(disc.Algs, []string{"RS256"}) {
		t.Fatalf("discovery right after the first start: id_token_signing_alg_values_supported = %v, want [RS256]", disc.Algs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var set struct{ Keys []struct{ Kid, Alg string } }
		getJSON("/.well-known/jwks.json", &set)
		if slices.ContainsFunc(set.Keys, func(k struct{ Kid, Alg string }) bool { return k.Alg == "RS256" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no RS256 key published 10 s after the first start: %+v\n%s", set, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.stop(t)
	out, e, code := cli(t, "", "keys", "list", "--json", "--db", db, "--config", cfgPath)
	if code != 0 || strings.Count(out, `"Purpose": "id_token"`) != 1 || strings.Count(out, `"ID"`) != 2 {
		t.Fatalf("keys list after the first start: %d %s %s", code, out, e)
	}
}
