package server_test

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/servertest"
	"github.com/tokengate/tokengate/internal/store"
)

// Imported hashes of "correct horse battery staple" made by the
// frameworks' own tools (internal/secret/testdata/vectors.jsonl cites
// them): PHP password_hash (Laravel's Hash::make) and Django's
// make_password (pbkdf2_sha256, 260,000 iterations).
const (
	timingPassword    = "correct horse battery staple"
	timingBcryptHash  = "$2y$10$xMYHaonppOzoCDS3xhGxLOfFqjx/yyi0HXMbvIlbX87lBXK5ZwPuW"
	timingDjangoPBKDF = "pbkdf2_sha256$260000$tl5ki4BbfOl92cMWU3Kwjz$OGUBrLEfTwzz1ms4ugMMFI+HminX0BnXFThR/RPPH44="
)

// rawDjangoPBKDF2 verifies a Django pbkdf2_sha256 hash with the library
// alone: what the format itself costs.
func rawDjangoPBKDF2(pw, h string) error {
	parts := strings.Split(h, "$")
	iter, _ := strconv.Atoi(parts[1])
	want, _ := base64.StdEncoding.DecodeString(parts[3])
	if subtle.ConstantTimeCompare(pbkdf2.Key([]byte(pw), []byte(parts[2]), iter, len(want), sha256.New), want) != 1 {
		return errors.New("mismatch")
	}
	return nil
}

// TestImportedHashLoginCostsTheFormatsOwn: a password login against an
// imported bcrypt or Django PBKDF2 hash takes no longer than verifying
// that hash with golang.org/x/crypto directly (the format's own cost):
// the median of wrong-password logins (verification only) is within
// 1.5 × the median raw verification plus 10 ms of HTTP and JSON, and at
// least half of it (the login does verify the imported hash). A right
// password also upgrades the hash to argon2id, whose cost (hashing with
// the server's parameters, measured alike) is added to the bound. Raw
// and login runs alternate (bracketed), so that machine load falls on
// both; a noisy attempt is taken again, up to three times.
func TestImportedHashLoginCostsTheFormatsOwn(t *testing.T) {
	if raceEnabled {
		t.Skip("timing is measured without the race detector (make test runs it in a separate pass)")
	}
	if testing.Short() {
		t.Skip("dozens of bcrypt, PBKDF2 and argon2id hashes")
	}
	s := servertest.Start(t, timingConfig, servertest.Options{Issuer: "http://tokengate.test"})
	ts := &testServer{Server: s.Server, srv: s.Srv}
	ctx := context.Background()
	argonRaw := func() error { _, err := secret.HashPassword(timingPassword, secret.DefaultParams, nil); return err }
	const runs = 9
	const slack = 10 * time.Millisecond
	users := 0
	for _, f := range []struct {
		name, hash string
		raw        func(pw, h string) error
	}{
		{"bcrypt", timingBcryptHash, func(pw, h string) error { return bcrypt.CompareHashAndPassword([]byte(h), []byte(pw)) }},
		{"django-pbkdf2_sha256", timingDjangoPBKDF, rawDjangoPBKDF2},
	} {
		t.Run(f.name, func(t *testing.T) {
			measure := func(fn func() error) time.Duration {
				start := time.Now()
				if err := fn(); err != nil {
					t.Fatal(err)
				}
				return time.Since(start)
			}
			login := func(user, pw string, want int) time.Duration {
				start := time.Now()
				a := ts.token(t, url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}}, basic("app", "app-secret"))
				d := time.Since(start)
				if a.status != want {
					t.Fatalf("login of %s: %d %s", user, a.status, a.raw)
				}
				return d
			}
			var msg string
			for attempt := 1; attempt <= 3; attempt++ {
				var raw, wrong, right, argon []time.Duration
				for range runs {
					users++
					name := fmt.Sprintf("imported%d", users)
					if err := s.Store.CreateUser(ctx, store.User{Username: name, PasswordHash: f.hash, CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
						t.Fatal(err)
					}
					raw = append(raw, measure(func() error { return f.raw(timingPassword, f.hash) }))
					wrong = append(wrong, login(name, timingPassword+"!", 400))
					raw = append(raw, measure(func() error { return f.raw(timingPassword, f.hash) }))
					right = append(right, login(name, timingPassword, 200))
					argon = append(argon, measure(argonRaw))
				}
				m := medians([][]time.Duration{raw, wrong, right, argon})
				msg = fmt.Sprintf("medians: raw %s verification %v, wrong-password login %v, first login (verify + argon2id upgrade) %v, argon2id hash %v", f.name, m[0], m[1], m[2], m[3])
				t.Logf("attempt %d: %s", attempt, msg)
				if m[1] < m[0]/2 {
					t.Fatalf("a wrong-password login costs less than half the format's own verification: it did not verify the imported hash (%s)", msg)
				}
				if m[1] <= time.Duration(1.5*float64(m[0]))+slack && m[2] <= time.Duration(1.5*float64(m[0]+m[3]))+slack {
					return
				}
			}
			t.Fatalf("a login with an imported hash costs more than the format's own verification (≤ 1.5× + %v; the upgrade's argon2id counted apart): %s", slack, msg)
		})
	}
}
