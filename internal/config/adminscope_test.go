package config

import (
	"slices"
	"testing"
)

func TestAdminScopeClientsParse(t *testing.T) {
	c, err := Parse("t.yaml", []byte("admin_scope_clients: [app, web]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.AdminScopeClients, []string{"app", "web"}) {
		t.Fatalf("admin_scope_clients = %v", c.AdminScopeClients)
	}
}
