package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/memory"
)

func newImportClients(st store.Store) *Clients {
	return &Clients{Store: st, Now: func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }}
}

// A client export as Laravel Passport (bcrypt secret), Django OAuth
// Toolkit 2.x (Django hash) and 1.x (plaintext) give it, with records
// that must be refused.
const plainSecret = "dot17-plaintext-secret-0123456789"

var clientExport = `{"id":"passport","secret_hash":"` + laravelHash + `","grants":["password","refresh_token"],"scopes":["read"]}
{"id":"dot2","secret_hash":"` + djangoHash + `","grants":["client_credentials"]}
{"id":"dot17","secret":"` + plainSecret + `","grants":["client_credentials","password"],"scopes":["read","write"]}
{"id":"ours","secret_hash":"` + fmt.Sprintf("%x", secret.Hash("ours-secret")) + `","grants":["client_credentials"]}
{"id":"spa","public":true,"grants":["password","refresh_token"]}

{"id":"pubsecret","public":true,"secret":"x-secret-that-must-not-show","grants":["password"]}
{"id":"nosecret","grants":["client_credentials"]}
{"id":"both","secret":"x-secret-that-must-not-show","secret_hash":"` + djangoHash + `","grants":["password"]}
{"id":"odd","secret_hash":"$1$abcdefgh$secretdigestpart","grants":["password"]}
{"id":"slow","secret_hash":"$2y$17$xMYHaonppOzoCDS3xhGxLOfFqjx/yyi0HXMbvIlbX87lBXK5ZwPuW","grants":["password"]}
{"id":"badgrant","secret":"x-secret-that-must-not-show","grants":["implicit"]}
{"id":"passport","secret_hash":"` + djangoHash + `","grants":["password"]}
{"id":"web","secret":"x-secret-that-must-not-show","grants":["authorization_code"],"redirect_uris":["http://app.example/cb"]}
{"id":"typo","secret":"x-secret-that-must-not-show","grants":["password"],"scope":["admin"]}
{"id":"weak","secret_hash":"` + md5Hash + `","grants":["password"]}
not json x-secret-that-must-not-show
`

// TestImportClients: every accepted format is created as it must be
// stored (a foreign hash as the legacy hash, a plaintext secret as its
// SHA-256 only), every bad record is refused with its line and reason and
// without a secret or hash in the report; a second run creates nothing and
// reports every client unchanged.
func TestImportClients(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	a := newImportClients(st)
	rep, err := a.ImportClients(ctx, strings.NewReader(clientExport), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 5 || rep.Unchanged != 0 || len(rep.Refused) != 11 {
		t.Fatalf("report = %+v", rep)
	}
	want := map[int]string{
		7: "public client has no secret", 8: "needs secret or secret_hash", 9: "not both",
		10: "secret_hash: ", 11: "bcrypt: cost 17", 12: "unknown grant type", 13: "given twice (first on line 1)",
		14: "redirect_uris", 15: `unknown field "scope"`, 16: "weak unsalted", 17: "invalid JSON",
	}
	got := map[int]string{}
	for _, r := range rep.Refused {
		got[r.Line] = r.Reason
		for _, s := range []string{"x-secret", laravelHash, djangoHash, md5Hash, "$1$abcdefgh", "$2y$17"} {
			if strings.Contains(r.Reason, s) || strings.Contains(r.ClientID, s) {
				t.Errorf("line %d: refusal shows a secret or hash: %+v", r.Line, r)
			}
		}
	}
	for line, sub := range want {
		if !strings.Contains(got[line], sub) {
			t.Errorf("line %d: reason %q, want it to contain %q", line, got[line], sub)
		}
	}
	c, err := st.GetClient(ctx, "passport")
	if err != nil || c.LegacySecretHash != laravelHash || c.SecretHash != nil || strings.Join(c.Scopes, " ") != "read" {
		t.Fatalf("passport = %+v, %v", c, err)
	}
	if c, _ := st.GetClient(ctx, "dot2"); c.LegacySecretHash != djangoHash {
		t.Fatalf("dot2 = %+v", c)
	}
	if c, _ := st.GetClient(ctx, "dot17"); c.LegacySecretHash != "" || !secret.Equal(plainSecret, c.SecretHash) {
		t.Fatalf("dot17 = %+v: want the SHA-256 of the plaintext secret only", c)
	}
	if c, _ := st.GetClient(ctx, "ours"); !secret.Equal("ours-secret", c.SecretHash) {
		t.Fatalf("ours = %+v", c)
	}
	if c, _ := st.GetClient(ctx, "spa"); !c.Public || c.SecretHash != nil || c.LegacySecretHash != "" {
		t.Fatalf("spa = %+v", c)
	}
	for _, id := range []string{"pubsecret", "nosecret", "both", "odd", "slow", "badgrant", "web", "typo", "weak"} {
		if _, err := st.GetClient(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("refused client %s was created", id)
		}
	}
	before, _ := st.ListClients(ctx)
	rep, err = a.ImportClients(ctx, strings.NewReader(clientExport), ImportOptions{})
	if err != nil || rep.Created != 0 || rep.Unchanged != 5 || len(rep.Refused) != 11 {
		t.Fatalf("second run: %+v, %v", rep, err)
	}
	after, _ := st.ListClients(ctx)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatal("the second run changed the store")
	}
	// A weak hash is taken only when asked for; and an existing client
	// with other settings, or another plaintext secret, is refused.
	rep, err = a.ImportClients(ctx, strings.NewReader(`{"id":"weak","secret_hash":"`+md5Hash+`","grants":["password"]}
{"id":"dot17","secret":"another-secret-0123456789","grants":["client_credentials","password"],"scopes":["read","write"]}
{"id":"dot2","secret_hash":"`+djangoHash+`","grants":["client_credentials"],"scopes":["admin"]}
`), ImportOptions{AllowWeak: true})
	if err != nil || rep.Created != 1 || len(rep.Refused) != 2 || !strings.Contains(rep.Refused[0].Reason, "never overwrites") {
		t.Fatalf("third run: %+v, %v", rep, err)
	}
}

// TestImportClientsCSV: the CSV layout, with space-separated lists.
func TestImportClientsCSV(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	in := "id,secret_hash,secret,grants,scopes,public\n" +
		"passport," + laravelHash + ",,password refresh_token,read write,false\n" +
		"dot17,," + plainSecret + ",client_credentials,,\n" +
		"spa,,,password,,true\n" +
		"bad,,,password,,maybe\n"
	rep, err := newImportClients(st).ImportClients(ctx, strings.NewReader(in), ImportOptions{})
	if err != nil || rep.Created != 3 || len(rep.Refused) != 1 || rep.Refused[0].Line != 5 {
		t.Fatalf("report = %+v, %v", rep, err)
	}
	if c, _ := st.GetClient(ctx, "passport"); c.LegacySecretHash != laravelHash || strings.Join(c.Grants, " ") != "password refresh_token" || strings.Join(c.Scopes, " ") != "read write" {
		t.Fatalf("passport = %+v", c)
	}
	if _, err := newImportClients(st).ImportClients(ctx, strings.NewReader("id,secret,grant\n"), ImportOptions{}); err == nil {
		t.Fatal("unknown CSV column accepted")
	}
}

// clientConflictStore creates one client of a batch just before the
// batch is written, as a concurrent writer would.
type clientConflictStore struct {
	store.Store
	calls int
}

func (c *clientConflictStore) CreateClients(ctx context.Context, cs []store.Client) error {
	c.calls++
	if c.calls == 2 {
		_ = c.Store.CreateClient(ctx, cs[len(cs)-1])
	}
	return c.Store.CreateClients(ctx, cs)
}

// TestImportClientsBatchIsAllOrNothing: a batch that cannot be written
// whole is not written at all; the batches before it stay.
func TestImportClientsBatchIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	var in strings.Builder
	for i := range 4 {
		fmt.Fprintf(&in, `{"id":"c%d","secret_hash":"%s","grants":["client_credentials"]}`+"\n", i, laravelHash)
	}
	rep, err := newImportClients(&clientConflictStore{Store: mem}).ImportClients(ctx, strings.NewReader(in.String()), ImportOptions{BatchSize: 2})
	if !errors.Is(err, store.ErrConflict) || rep.Created != 2 {
		t.Fatalf("report = %+v, err = %v", rep, err)
	}
	if _, err := mem.GetClient(ctx, "c2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("part of a failed batch was written")
	}
}

// TestRotateSecretDropsAnImportedHash: a rotated secret replaces an
// imported secret hash too, so the old secret no longer authenticates.
func TestRotateSecretDropsAnImportedHash(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	a := newImportClients(st)
	if _, err := a.ImportClients(ctx, strings.NewReader(`{"id":"p","secret_hash":"`+laravelHash+`","grants":["client_credentials"]}`), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	sec, err := a.RotateSecret(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := st.GetClient(ctx, "p"); c.LegacySecretHash != "" || !secret.Equal(sec, c.SecretHash) {
		t.Fatalf("after rotation: %+v", c)
	}
}

// TestImportClientsWithRedirectURIs: a browser client's redirect URIs are
// imported with it, and a second run counts it unchanged.
func TestImportClientsWithRedirectURIs(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	a := newImportClients(st)
	const line = `{"id":"spa","public":true,"grants":["authorization_code","refresh_token"],"redirect_uris":["https://app.example/cb","http://127.0.0.1/cb"]}` + "\n"
	for run, want := range []ImportReport{{Created: 1}, {Unchanged: 1}} {
		rep, err := a.ImportClients(ctx, strings.NewReader(line), ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Created != want.Created || rep.Unchanged != want.Unchanged || len(rep.Refused) != 0 {
			t.Fatalf("run %d: report = %+v", run+1, rep)
		}
	}
	c, err := st.GetClient(ctx, "spa")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.RedirectURIs, []string{"https://app.example/cb", "http://127.0.0.1/cb"}) {
		t.Fatalf("redirect URIs = %v", c.RedirectURIs)
	}
}
