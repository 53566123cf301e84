package secret

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

var fastParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse", DefaultParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("unexpected PHC prefix: %s", h)
	}
	if err := VerifyPassword("correct horse", h); err != nil {
		t.Fatalf("verify right password: %v", err)
	}
	if err := VerifyPassword("correct horsE", h); !errors.Is(err, ErrMismatch) {
		t.Fatalf("verify wrong password = %v, want ErrMismatch", err)
	}
}

func TestParseHashRejectsHostileParameters(t *testing.T) {
	good, _ := HashPassword("x", fastParams, nil)
	parts := strings.Split(good, "$")
	for name, enc := range map[string]string{
		"bcrypt":        "$2a$10$abcdefghijklmnopqrstuv",
		"huge memory":   "$argon2id$v=19$m=4194304,t=1,p=1$" + parts[4] + "$" + parts[5],
		"huge time":     "$argon2id$v=19$m=64,t=1000,p=1$" + parts[4] + "$" + parts[5],
		"zero threads":  "$argon2id$v=19$m=64,t=1,p=0$" + parts[4] + "$" + parts[5],
		"argon2i":       "$argon2i$v=19$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"old version":   "$argon2id$v=16$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"bad salt":      "$argon2id$v=19$m=64,t=1,p=1$!!!$" + parts[5],
		"unknown param": "$argon2id$v=19$m=64,t=1,p=1,x=2$" + parts[4] + "$" + parts[5],
		"empty":         "",
	} {
		if err := VerifyPassword("x", enc); !errors.Is(err, ErrBadHash) {
			t.Errorf("%s: VerifyPassword = %v, want ErrBadHash", name, err)
		}
	}
}

func TestHasherUnknownUserCostsAHash(t *testing.T) {
	h, err := NewHasher(HasherOptions{Params: fastParams, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Verify(context.Background(), "anything", ""); !errors.Is(err, ErrMismatch) {
		t.Fatalf("empty hash: %v, want ErrMismatch", err)
	}
}

func TestHasherRefusesPastQueue(t *testing.T) {
	slow := Params{Memory: 8 * 1024, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}
	h, err := NewHasher(HasherOptions{Params: slow, Workers: 1, Queue: 2})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := HashPassword("pw", slow, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	busy, ok := 0, 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := h.Verify(context.Background(), "pw", enc)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrBusy):
				busy++
			case err == nil:
				ok++
			default:
				t.Errorf("unexpected error %v", err)
			}
		}()
	}
	wg.Wait()
	if busy == 0 || ok == 0 || ok > 20 {
		t.Fatalf("ok=%d busy=%d: want some refused with ErrBusy and some served", ok, busy)
	}
	if h.QueueDepth() != 0 {
		t.Fatalf("queue depth %d after all returned", h.QueueDepth())
	}
}

func TestHasherHonoursContext(t *testing.T) {
	slow := Params{Memory: 8 * 1024, Time: 20, Threads: 1, SaltLen: 16, KeyLen: 32}
	h, err := NewHasher(HasherOptions{Params: fastParams, Workers: 1, Queue: 4})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := HashPassword("pw", slow, nil)
	go func() { _ = h.Verify(context.Background(), "pw", enc) }()
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if err := h.Verify(ctx, "pw", enc); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded while waiting for a slot", err)
	}
}

func TestRandomStringIsBase62AndUnique(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		s, err := RandomString(nil, TokenLen)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != TokenLen || strings.Trim(s, base62) != "" {
			t.Fatalf("bad token %q", s)
		}
		if seen[s] {
			t.Fatal("duplicate random string")
		}
		seen[s] = true
	}
}

func TestAPIKeyChecksum(t *testing.T) {
	k, err := NewAPIKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k, APIKeyPrefix) || !APIKeyPlausible(k) {
		t.Fatalf("fresh key %q not plausible", k)
	}
	// One mistyped character in the body breaks the checksum.
	b := []byte(k)
	i := len(APIKeyPrefix) + 5
	if b[i] == 'a' {
		b[i] = 'b'
	} else {
		b[i] = 'a'
	}
	if APIKeyPlausible(string(b)) {
		t.Fatal("mistyped key passed the checksum")
	}
	if APIKeyPlausible(k[:len(k)-1]) {
		t.Fatal("truncated key passed")
	}
	if !APIKeyPlausible("key_example") {
		t.Fatal("an imported key of another format must be left to the store")
	}
}

func TestHashEqual(t *testing.T) {
	h := Hash("s3cret")
	if !Equal("s3cret", h) || Equal("s3creT", h) || Equal("s3cret", nil) || Equal("s3cret", h[:31]) {
		t.Fatal("Equal gave a wrong answer")
	}
}
