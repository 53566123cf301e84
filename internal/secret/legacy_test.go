package secret

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// vector is one line of testdata/vectors*.jsonl: a hash made by a real
// tool (vectors.jsonl, by testdata/gen-vectors.sh) or published in a
// framework's own test suite (vectors-published.jsonl); source cites it.
type vector struct {
	Format   string `json:"format"`
	Password string `json:"password"`
	Hash     string `json:"hash"`
	Source   string `json:"source"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	var vs []vector
	for _, name := range []string{"testdata/vectors.jsonl", "testdata/vectors-published.jsonl"} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var v vector
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			vs = append(vs, v)
		}
		f.Close()
	}
	return vs
}

// TestForeignVectors verifies every real-tool and published vector with
// its right password and refuses a wrong one.
func TestForeignVectors(t *testing.T) {
	vs := loadVectors(t)
	seen := map[string]bool{}
	for _, v := range vs {
		seen[v.Format] = true
		t.Run(v.Format, func(t *testing.T) {
			f, err := Identify(v.Hash, Limits{})
			weak := strings.Contains(v.Format, "unsalted")
			if weak != errors.Is(err, ErrWeakHash) || (!weak && err != nil) {
				t.Fatalf("Identify(%s) = %q, %v", v.Source, f, err)
			}
			if err := VerifyAny(v.Password, v.Hash, Limits{}); err != nil {
				t.Fatalf("right password (%s): %v", v.Source, err)
			}
			if err := VerifyAny(v.Password+"x", v.Hash, Limits{}); !errors.Is(err, ErrMismatch) {
				t.Fatalf("wrong password (%s) = %v, want ErrMismatch", v.Source, err)
			}
		})
	}
	for _, want := range []string{
		"bcrypt", "php-PASSWORD_BCRYPT", "php-PASSWORD_ARGON2I", "php-PASSWORD_ARGON2ID",
		"django-pbkdf2_sha256", "django-pbkdf2_sha1", "django-argon2", "django-bcrypt_sha256", "django-scrypt",
		"spring-bcrypt", "spring-pbkdf2", "spring-pbkdf2@5.8", "spring-argon2", "spring-scrypt",
		"passlib-pbkdf2_sha256", "werkzeug-pbkdf2:sha256", "django-unsalted_md5", "django-unsalted_sha1",
	} {
		if !seen[want] {
			t.Errorf("no vector for %s", want)
		}
	}
}

// TestHasherUpgradesForeignVectors runs every vector through the Hasher
// (the queue the server uses): it verifies and NeedsRehash asks for
// argon2id; a hash of the hasher's own parameters needs nothing more.
// (Wrong passwords: TestForeignVectors.)
func TestHasherUpgradesForeignVectors(t *testing.T) {
	h, err := NewHasher(HasherOptions{Params: fastParams})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done := map[string]bool{}
	for _, v := range loadVectors(t) {
		if done[v.Format] {
			continue // one of each format is enough here
		}
		done[v.Format] = true
		if err := h.Verify(ctx, v.Password, v.Hash); err != nil {
			t.Fatalf("%s: Verify: %v", v.Format, err)
		}
		if !h.NeedsRehash(v.Hash) {
			t.Fatalf("%s: NeedsRehash = false", v.Format)
		}
	}
	nh, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if h.NeedsRehash(nh) {
		t.Fatal("a hash of the hasher's own parameters needs a rehash")
	}
}

func TestIdentifyRefusesWithReason(t *testing.T) {
	cases := map[string]struct{ hash, reason string }{
		"unknown":         {"whatever$1$2", "unknown hash format"},
		"bcrypt cost 17":  {"$2y$17$uAJgtvGin01ih.ihGWv11emXqbBagr9nkLj5QsfJKoliGDsmLXwcK", "cost 17 beyond the limit 16"},
		"bcrypt short":    {"$2y$10$uAJgtvGin01ih", "bcrypt: want"},
		"pbkdf2 iter":     {"pbkdf2_sha256$5000001$seasalt$8xBlGd3jVgvJ+92hWPxi5ww0uuAuAnKgC45eudxro7c=", "5000001 iterations beyond the limit"},
		"pbkdf2 b64":      {"pbkdf2_sha256$1000$seasalt$!!!", "bad hash"},
		"argon2 memory":   {"$argon2id$v=19$m=1048576,t=1,p=1$QUFBQUFBQUFBQUFBQUFBQQ$hmmTNyJlwbb6HAvFoHFWF+u03fdb0F2qA+39oPlcAqo", "beyond the limit"},
		"argon2d":         {"{argon2}$argon2d$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$Li5eBf5XrCz0cuzQRe9oflYqmA/VAzmzichw4ZYrvEU", "unsupported variant"},
		"argon2 v16":      {"argon2$argon2i$m=8,t=1,p=1$c29tZXNhbHQ$gwQOXSNhxiOxPOA0+PY10P9QFO4NAYysnqRt1GSQLE55m+2GYDt9FEjPMHhP2Cuf0nOEXXMocVrsJAtNSsKyfg", "want $argon2id"},
		"scrypt memory":   {"scrypt$4194304$seasalt$8$1$Qj3+9PPyRjSJIebHnG81TMjsqtaIGxNQG/aEB/NYafTJ7tibgfYz71m0ldQESkXFRkdVCBhhY8mx7rQwite/Pw==", "beyond the limit"},
		"scrypt overflow": {"scrypt$288230376151711744$seasalt$1$1$Qj3+9PPyRjSJIebHnG81TMjsqtaIGxNQG/aEB/NYafTJ7tibgfYz71m0ldQESkXFRkdVCBhhY8mx7rQwite/Pw==", "beyond the limit"},
		"scrypt N":        {"scrypt$1000$seasalt$8$1$Qj3+9PPyRjSJIebHnG81TMjsqtaIGxNQG/aEB/NYafTJ7tibgfYz71m0ldQESkXFRkdVCBhhY8mx7rQwite/Pw==", "bad parameters"},
		"spring sha256":   {"{sha256}97cde38028ad898ebc02e690819fa220e88c62e0699403e94fff291cfffaf8410849f27605abcbc0", "unsupported encoder {sha256}"},
		"werkzeug noit":   {"pbkdf2:sha256$salt$a4839e25a6f0a971c5233686f57293b6f4d78ece087de631a43bb6aa545b62a7", "werkzeug pbkdf2: want"},
		"django unusable": {"!Cmtbn6cAsL6rE4Hd2VnvfsutfgXtOeBNx1qHXE1g", "unusable password"},
		"empty":           {"", "empty hash"},
	}
	for name, c := range cases {
		_, err := Identify(c.hash, Limits{})
		if !errors.Is(err, ErrBadHash) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: Identify = %v, want ErrBadHash with %q", name, err, c.reason)
		}
		// Verification refuses the same hashes before any work.
		if err := VerifyAny("pw", c.hash, Limits{}); !errors.Is(err, ErrBadHash) {
			t.Errorf("%s: VerifyAny = %v, want ErrBadHash", name, err)
		}
	}
	// A lower configured limit applies.
	if _, err := Identify("$2y$10$uAJgtvGin01ih.ihGWv11emXqbBagr9nkLj5QsfJKoliGDsmLXwcK", Limits{MaxBcryptCost: 8}); !errors.Is(err, ErrBadHash) {
		t.Errorf("bcrypt cost 10 under a limit of 8: %v", err)
	}
}

func TestPlaintextIsNeverAStoredHash(t *testing.T) {
	f, err := Identify("{noop}password", Limits{})
	if err != nil || f != FormatPlaintext {
		t.Fatalf("Identify({noop}) = %q, %v", f, err)
	}
	if pw, ok := Plaintext("{noop}password"); !ok || pw != "password" {
		t.Fatalf("Plaintext = %q, %v", pw, ok)
	}
	if err := VerifyAny("password", "{noop}password", Limits{}); !errors.Is(err, ErrBadHash) {
		t.Fatalf("VerifyAny({noop}) = %v, want ErrBadHash", err)
	}
}

// TestHasherVerifiesForeignThroughQueue shows a foreign verification takes
// a slot of the same bounded queue as argon2id: with the only slot and
// queue place taken, it is ErrBusy at once.
func TestHasherVerifiesForeignThroughQueue(t *testing.T) {
	h, err := NewHasher(HasherOptions{Params: fastParams, Workers: 1, Queue: 1})
	if err != nil {
		t.Fatal(err)
	}
	h.waiting <- struct{}{}
	h.waiting <- struct{}{}
	defer func() { <-h.waiting; <-h.waiting }()
	if err := h.Verify(context.Background(), "password", "{bcrypt}$2a$10$dXJ3SW6G7P50lGmMkkmwe.20cQQubK3.HZWzG3YB1tlRy.fqvM/BG"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify with a full queue = %v, want ErrBusy", err)
	}
}

// TestHasherOwnHashesPassItsLimits: limits on imported hashes never lock
// out the hasher's own argon2id, whatever its parameters.
func TestHasherOwnHashesPassItsLimits(t *testing.T) {
	h, err := NewHasher(HasherOptions{Params: fastParams, Limits: Limits{MaxMemoryKiB: 32}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Verify(ctx, "pw", enc); err != nil {
		t.Fatalf("own hash with m=64 under a 32 KiB limit: %v", err)
	}
	// An imported argon2id of more memory than the limit is refused.
	if err := h.Verify(ctx, "sometestpassword", "{argon2}$argon2id$v=19$m=4096,t=3,p=1$QUFBQUFBQUFBQUFBQUFBQQ$hmmTNyJlwbb6HAvFoHFWF+u03fdb0F2qA+39oPlcAqo"); !errors.Is(err, ErrBadHash) {
		t.Fatalf("imported hash over the limit = %v, want ErrBadHash", err)
	}
}
