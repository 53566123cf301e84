package oauth

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/memory"
)

// foreignVector is one hash made by a real tool or a framework's own test
// suite (internal/secret/testdata, where each line cites its source).
type foreignVector struct {
	Format, Password, Hash string
}

// oneVectorPerFormat reads the secret package's committed vectors.
func oneVectorPerFormat(t *testing.T) []foreignVector {
	t.Helper()
	var out []foreignVector
	seen := map[string]bool{}
	for _, name := range []string{"../secret/testdata/vectors.jsonl", "../secret/testdata/vectors-published.jsonl"} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var v foreignVector
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatal(err)
			}
			if !seen[v.Format] {
				seen[v.Format] = true
				out = append(out, v)
			}
		}
		f.Close()
	}
	return out
}

// TestCheckPasswordUpgradesForeignHashes: for every imported format, a
// wrong password is refused and changes nothing; the right one logs in
// and the stored hash becomes the hasher's argon2id (the old one is gone);
// the next login verifies that argon2id hash and writes nothing.
func TestCheckPasswordUpgradesForeignHashes(t *testing.T) {
	ctx := context.Background()
	for _, v := range oneVectorPerFormat(t) {
		t.Run(v.Format, func(t *testing.T) {
			st := memory.New()
			fx := newCoreFixture(t, st)
			if err := st.CreateUser(ctx, store.User{Username: "imported", PasswordHash: v.Hash, CreatedAt: fx.now, UpdatedAt: fx.now}); err != nil {
				t.Fatal(err)
			}
			if _, err := fx.svc.CheckPassword(ctx, "imported", v.Password+"!", ""); !isBadCredentials(err) {
				t.Fatalf("wrong password: %v", err)
			}
			if u, _ := st.GetUser(ctx, "imported"); u.PasswordHash != v.Hash {
				t.Fatal("a failed login changed the stored hash")
			}
			if _, err := fx.svc.CheckPassword(ctx, "imported", v.Password, ""); err != nil {
				t.Fatalf("right password: %v", err)
			}
			u, _ := st.GetUser(ctx, "imported")
			if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(u.PasswordHash, v.Hash) {
				t.Fatalf("stored hash after first login = %q, want the hasher's argon2id", u.PasswordHash)
			}
			if err := secret.VerifyPassword(v.Password, u.PasswordHash); err != nil {
				t.Fatalf("upgraded hash does not verify: %v", err)
			}
			upgraded := u.PasswordHash
			if _, err := fx.svc.CheckPassword(ctx, "imported", v.Password, ""); err != nil {
				t.Fatalf("second login: %v", err)
			}
			if u, _ := st.GetUser(ctx, "imported"); u.PasswordHash != upgraded {
				t.Fatal("the second login rewrote an argon2id hash of the hasher's parameters")
			}
			if _, err := fx.svc.CheckPassword(ctx, "imported", v.Password+"!", ""); !isBadCredentials(err) {
				t.Fatalf("wrong password after upgrade: %v", err)
			}
		})
	}
}

func isBadCredentials(err error) bool {
	var oe *Error
	return errors.As(err, &oe) && oe.Reason == ReasonBadCredentials
}

// changedBeforeUpgrade lets another writer replace the user's hash just
// before the login's compare-and-set, as an administrator resetting the
// password (or a concurrent login upgrading it) on another node would.
type changedBeforeUpgrade struct {
	store.Store
	set func(ctx context.Context)
}

func (c *changedBeforeUpgrade) ReplacePasswordHash(ctx context.Context, username, oldHash, newHash string, at time.Time) error {
	c.set(ctx)
	return c.Store.ReplacePasswordHash(ctx, username, oldHash, newHash, at)
}

// TestCheckPasswordUpgradeNeverOverwritesAChangedPassword: the upgrade is
// a compare-and-set. A password reset between the login's read and its
// write wins, and the login with the old password fails; a concurrent
// upgrade of the same password lets the login stand on the new hash.
func TestCheckPasswordUpgradeNeverOverwritesAChangedPassword(t *testing.T) {
	ctx := context.Background()
	const bcryptHash = "{bcrypt}$2a$10$dXJ3SW6G7P50lGmMkkmwe.20cQQubK3.HZWzG3YB1tlRy.fqvM/BG" // "password", Spring's PasswordEncoderFactoriesTests
	for _, tc := range []struct {
		name      string
		newPW     string
		wantLogin bool
	}{
		{"reset by an administrator", "another password", false},
		{"upgraded by a concurrent login", "password", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.New()
			wrapped := &changedBeforeUpgrade{Store: mem}
			fx := newCoreFixture(t, wrapped)
			var setHash string
			wrapped.set = func(ctx context.Context) {
				if setHash != "" {
					return
				}
				setHash, _ = secret.HashPassword(tc.newPW, secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, nil)
				u, _ := mem.GetUser(ctx, "imported")
				u.PasswordHash = setHash
				if err := mem.UpdateUser(ctx, u); err != nil {
					t.Error(err)
				}
			}
			if err := mem.CreateUser(ctx, store.User{Username: "imported", PasswordHash: bcryptHash, CreatedAt: fx.now, UpdatedAt: fx.now}); err != nil {
				t.Fatal(err)
			}
			_, err := fx.svc.CheckPassword(ctx, "imported", "password", "")
			if tc.wantLogin && err != nil {
				t.Fatalf("login = %v, want success", err)
			}
			if !tc.wantLogin && !isBadCredentials(err) {
				t.Fatalf("login = %v, want invalid credentials", err)
			}
			if u, _ := mem.GetUser(ctx, "imported"); u.PasswordHash != setHash {
				t.Fatalf("stored hash = %q, want the one written meanwhile", u.PasswordHash)
			}
		})
	}
}
