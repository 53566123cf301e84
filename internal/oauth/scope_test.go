package oauth

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/memory"
)

// TestResolveScopes is the table of scope resolution: granted = request ∩
// client ∩ subject, the default when scope is omitted, and refusals.
func TestResolveScopes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		requested string
		given     bool
		client    []string
		subject   []string // nil: unbounded
		want      []string
		wantErr   bool
	}{
		{name: "omitted: the client's scopes", client: []string{"read", "write"}, want: []string{"read", "write"}},
		{name: "omitted: within the subject's", client: []string{"read", "write"}, subject: []string{"write", "admin"}, want: []string{"write"}},
		{name: "blank counts as omitted", requested: "  ", given: true, client: []string{"read"}, want: []string{"read"}},
		{name: "narrower request", requested: "read", given: true, client: []string{"read", "write"}, want: []string{"read"}},
		{name: "duplicates collapse", requested: "read read", given: true, client: []string{"read"}, want: []string{"read"}},
		{name: "beyond the client", requested: "admin", given: true, client: []string{"read"}, wantErr: true},
		{name: "beyond the subject", requested: "write", given: true, client: []string{"read", "write"}, subject: []string{"read"}, wantErr: true},
		{name: "subject with no scopes gets none", client: []string{"read"}, subject: []string{}, want: []string{}},
		{name: "invalid characters", requested: `re"ad`, given: true, client: []string{`re"ad`}, wantErr: true},
		{name: "too long", requested: strings.Repeat("a", maxScopeLen+1), given: true, client: []string{"a"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveScopes(tc.requested, tc.given, tc.client, tc.subject)
			if tc.wantErr {
				if err == nil || err.Code != CodeInvalidScope {
					t.Fatalf("resolveScopes = %v, %v; want invalid_scope", got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("resolveScopes = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	// A refresh may narrow the original scopes, never widen them.
	if got, err := narrowScopes("read", true, []string{"read", "write"}); err != nil || !slices.Equal(got, []string{"read"}) {
		t.Errorf("narrowing: %v %v", got, err)
	}
	if _, err := narrowScopes("admin", true, []string{"read"}); err == nil {
		t.Error("a refresh widened its scopes")
	}
}

// An extension grant (external identities, token exchange) issues through
// issueForSubject: admin scopes stay out unless the client is allowed.
func TestAdminScopesStayOutOfExtensionGrants(t *testing.T) {
	fx := newCoreFixture(t, memory.New())
	ctx := context.Background()
	c := &store.Client{ID: "fed", Grants: []string{"urn:test"}, Scopes: []string{"read", AdminScope, AdminScope + ":users"}}
	sub := &Subject{Name: "alice"}
	resp, err := fx.svc.issueForSubject(ctx, c, sub, &TokenRequest{GrantType: "urn:test"}, &Profile{})
	if err != nil || resp.Scope != "read" {
		t.Fatalf("implied admin scopes: %v %v", resp, err)
	}
	_, err = fx.svc.issueForSubject(ctx, c, sub, &TokenRequest{GrantType: "urn:test", Scope: "read " + AdminScope, ScopeGiven: true}, &Profile{})
	if AsError(err).Code != "invalid_scope" {
		t.Fatalf("requested admin scope: %v", err)
	}
	fx.svc.adminClients = []string{"fed"}
	resp, err = fx.svc.issueForSubject(ctx, c, sub, &TokenRequest{GrantType: "urn:test", Scope: AdminScope, ScopeGiven: true}, &Profile{})
	if err != nil || resp.Scope != AdminScope {
		t.Fatalf("allowed client: %v %v", resp, err)
	}
}
