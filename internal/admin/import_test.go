package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/memory"
)

// Hashes made by the real tools (internal/secret/testdata/vectors.jsonl
// cites each): Laravel/PHP password_hash bcrypt and Django's default.
const (
	laravelHash = "$2y$10$xMYHaonppOzoCDS3xhGxLOfFqjx/yyi0HXMbvIlbX87lBXK5ZwPuW"                             // "correct horse battery staple"
	djangoHash  = "pbkdf2_sha256$260000$tl5ki4BbfOl92cMWU3Kwjz$OGUBrLEfTwzz1ms4ugMMFI+HminX0BnXFThR/RPPH44=" // same password
	md5Hash     = "9cc2ae8a1ba7a93da39b46fc1019c481"
)

func newImportUsers(t *testing.T, st store.Store) *Users {
	t.Helper()
	h, err := secret.NewHasher(secret.HasherOptions{Params: secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	return &Users{Store: st, Hash: h.Hash, Now: func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }}
}

const jsonlExport = `{"username":"taylor","password_hash":"` + laravelHash + `","scopes":["read","write"]}
{"username":"django","password_hash":"` + djangoHash + `","disabled":true}
{"username":"spring","password_hash":"{noop}plain-pw"}

{"username":"weak","password_hash":"` + md5Hash + `"}
{"username":"odd","password_hash":"$1$abcdefgh$secretdigestpart"}
{"username":"slow","password_hash":"$2y$17$xMYHaonppOzoCDS3xhGxLOfFqjx/yyi0HXMbvIlbX87lBXK5ZwPuW"}
{"username":"typo","password_hash":"` + djangoHash + `","scope":["admin"]}
{"username":"taylor","password_hash":"` + djangoHash + `"}
{"username":"ext:github:1","password_hash":"` + djangoHash + `"}
not json ` + laravelHash + `
`

func reasons(rep ImportReport) map[int]string {
	m := map[int]string{}
	for _, r := range rep.Refused {
		m[r.Line] = r.Reason
	}
	return m
}

func TestImportUsersJSONLines(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	a := newImportUsers(t, st)
	rep, err := a.ImportUsers(ctx, strings.NewReader(jsonlExport), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 3 || rep.Unchanged != 0 || len(rep.Refused) != 7 {
		t.Fatalf("report = %+v", rep)
	}
	want := map[int]string{
		5:  "weak unsalted",
		6:  "unknown hash format",
		7:  "cost 17 beyond the limit 16",
		8:  "unknown field",
		9:  "given twice (first on line 1)",
		10: "reserved for users provisioned for external identities",
		11: "invalid JSON",
	}
	got := reasons(rep)
	for line, w := range want {
		if !strings.Contains(got[line], w) {
			t.Errorf("line %d: reason %q, want it to say %q", line, got[line], w)
		}
	}
	for _, r := range rep.Refused {
		for _, secretPart := range []string{"xMYHaonpp", "OGUBrLEf", md5Hash, "secretdigestpart", "plain-pw"} {
			if strings.Contains(r.Reason, secretPart) || strings.Contains(r.Username, secretPart) {
				t.Errorf("line %d: refusal %q shows a hash", r.Line, r.Reason)
			}
		}
	}
	u, err := st.GetUser(ctx, "taylor")
	if err != nil || u.PasswordHash != laravelHash || strings.Join(u.Scopes, " ") != "read write" {
		t.Fatalf("taylor = %+v, %v", u, err)
	}
	if u, _ := st.GetUser(ctx, "django"); !u.Disabled || u.PasswordHash != djangoHash {
		t.Fatalf("django = %+v", u)
	}
	// {noop}: hashed at once, the plaintext never stored.
	u, _ = st.GetUser(ctx, "spring")
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$") || secret.VerifyPassword("plain-pw", u.PasswordHash) != nil {
		t.Fatalf("{noop} user stored %q", u.PasswordHash)
	}
	for _, name := range []string{"weak", "odd", "slow", "typo", "ext:github:1"} {
		if _, err := st.GetUser(ctx, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("refused user %s was created", name)
		}
	}

	// Idempotent: a second run creates nothing and changes nothing.
	before, _ := st.ListUsers(ctx)
	rep2, err := a.ImportUsers(ctx, strings.NewReader(jsonlExport), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Created != 0 || rep2.Unchanged != 3 || len(rep2.Refused) != 7 {
		t.Fatalf("second run = %+v", rep2)
	}
	after, _ := st.ListUsers(ctx)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatal("the second run changed the store")
	}

	// An existing user that differs is refused, never overwritten.
	rep3, err := a.ImportUsers(ctx, strings.NewReader(`{"username":"taylor","password_hash":"`+djangoHash+`","scopes":["admin"]}`), ImportOptions{})
	if err != nil || len(rep3.Refused) != 1 || !strings.Contains(rep3.Refused[0].Reason, "never overwrites") {
		t.Fatalf("differing user: %+v, %v", rep3, err)
	}
	if u, _ := st.GetUser(ctx, "taylor"); u.PasswordHash != laravelHash {
		t.Fatal("an import overwrote an existing user")
	}
}

func TestImportUsersWeakOnlyWhenAllowed(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	a := newImportUsers(t, st)
	in := `{"username":"old","password_hash":"` + md5Hash + `"}`
	rep, err := a.ImportUsers(ctx, strings.NewReader(in), ImportOptions{AllowWeak: true})
	if err != nil || rep.Created != 1 || len(rep.Refused) != 0 {
		t.Fatalf("report = %+v, %v", rep, err)
	}
}

func TestImportUsersCSV(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	a := newImportUsers(t, st)
	in := "username,password_hash,scopes,disabled\n" +
		"taylor," + laravelHash + ",read write,false\n" +
		"django,\"" + djangoHash + "\",,1\n" +
		"bad,nothing-known,,\n" +
		"short\n"
	rep, err := a.ImportUsers(ctx, strings.NewReader(in), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 2 || len(rep.Refused) != 2 {
		t.Fatalf("report = %+v", rep)
	}
	got := reasons(rep)
	if !strings.Contains(got[4], "unknown hash format") || !strings.Contains(got[5], "wrong number of fields") {
		t.Fatalf("refusals = %v", got)
	}
	if u, _ := st.GetUser(ctx, "django"); !u.Disabled || u.PasswordHash != djangoHash {
		t.Fatalf("django = %+v", u)
	}
	// Columns swapped: the refusal does not show the hash as a username.
	rep, err = a.ImportUsers(ctx, strings.NewReader("password_hash,username\nbob,"+laravelHash+"\n"), ImportOptions{})
	if err != nil || len(rep.Refused) != 1 || rep.Refused[0].Username != "" {
		t.Fatalf("swapped columns: %+v, %v", rep, err)
	}
	if _, err := a.ImportUsers(ctx, strings.NewReader("user,hash\nx,y\n"), ImportOptions{Format: ImportCSV}); err == nil {
		t.Fatal("a CSV without the known header was accepted")
	}
}

// conflictingStore creates one user of a batch just before the batch is
// written, as a concurrent writer would.
type conflictingStore struct {
	store.Store
	calls int
}

func (c *conflictingStore) CreateUsers(ctx context.Context, us []store.User) error {
	c.calls++
	if c.calls == 2 {
		_ = c.Store.CreateUser(ctx, us[len(us)-1])
	}
	return c.Store.CreateUsers(ctx, us)
}

// TestImportUsersBatchIsAllOrNothing: a batch that cannot be written
// whole is not written at all; the batches before it stay.
func TestImportUsersBatchIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	a := newImportUsers(t, &conflictingStore{Store: mem})
	var in strings.Builder
	for i := range 4 {
		fmt.Fprintf(&in, `{"username":"u%d","password_hash":"%s"}`+"\n", i, laravelHash)
	}
	rep, err := a.ImportUsers(ctx, strings.NewReader(in.String()), ImportOptions{BatchSize: 2})
	if !errors.Is(err, store.ErrConflict) || rep.Created != 2 {
		t.Fatalf("report = %+v, err = %v", rep, err)
	}
	if _, err := mem.GetUser(ctx, "u2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("part of a failed batch was written")
	}
}
