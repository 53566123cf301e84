package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/store/sqlite"
)

// TestCLIClientIntrospectAndResourcesAndKeyScopes: `client add
// --no-introspect --resources` store the client's permissions, a bad
// resource is refused, and `apikey create` refuses scopes the user lacks.
func TestCLIClientIntrospectAndResourcesAndKeyScopes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tg.db")
	db := "sqlite:" + path
	if _, e, code := cli(t, "", "client", "add", "rs", "--grants", "client_credentials", "--no-introspect", "--resources", "https://a.example urn:b", "--db", db); code != 0 {
		t.Fatalf("client add: %s", e)
	}
	if _, e, code := cli(t, "", "client", "add", "bad", "--grants", "client_credentials", "--resources", "not-a-uri", "--db", db); code == 0 || !strings.Contains(e, "--resources") {
		t.Fatalf("client add with a bad resource: %d %s", code, e)
	}
	if _, e, code := cli(t, "pw-of-carol\n", "user", "add", "carol", "--scopes", "read", "--db", db); code != 0 {
		t.Fatalf("user add: %s", e)
	}
	if _, e, code := cli(t, "", "apikey", "create", "--user", "carol", "--scope", "read write admin", "--db", db); code == 0 || !strings.Contains(e, `"write admin"`) {
		t.Fatalf("apikey create beyond the user: %d %s", code, e)
	}
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.GetClient(context.Background(), "rs")
	if err != nil {
		t.Fatal(err)
	}
	if !c.NoIntrospect || !slices.Equal(c.Resources, []string{"https://a.example", "urn:b"}) {
		t.Fatalf("stored client: %+v", c)
	}
	if keys, _ := st.ListAPIKeys(context.Background()); len(keys) != 0 {
		t.Fatalf("a refused key was stored: %+v", keys)
	}
}
