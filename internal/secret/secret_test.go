package secret

import (
	"context"
	"errors"
	"runtime"
	"strings"
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

// holdSlot takes the hasher's only worker slot as a running hash would,
// and returns the function that gives it back.
func holdSlot(t *testing.T, h *Hasher) func() {
	t.Helper()
	if err := h.acquire(context.Background()); err != nil {
		t.Fatalf("taking the worker slot: %v", err)
	}
	return h.release
}

// waitDepth waits (bounded) until n callers are waiting or hashing.
func waitDepth(t *testing.T, h *Hasher, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.QueueDepth() != n {
		if time.Now().After(deadline) {
			t.Fatalf("queue depth %d, want %d", h.QueueDepth(), n)
		}
		runtime.Gosched()
	}
}

func TestHasherRefusesPastQueue(t *testing.T) {
	h, err := NewHasher(HasherOptions{Params: fastParams, Workers: 1, Queue: 2})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := HashPassword("pw", fastParams, nil)
	// The worker is busy; two callers fill the queue behind it.
	release := holdSlot(t, h)
	queued := make(chan error, 2)
	for range 2 {
		go func() { queued <- h.Verify(context.Background(), "pw", enc) }()
	}
	waitDepth(t, h, 3)
	// Everyone past the queue is refused at once, without waiting.
	for i := range 20 {
		if err := h.Verify(context.Background(), "pw", enc); !errors.Is(err, ErrBusy) {
			t.Fatalf("caller %d past a full queue: %v, want ErrBusy", i, err)
		}
		if _, err := h.Hash(context.Background(), "pw"); !errors.Is(err, ErrBusy) {
			t.Fatalf("Hash past a full queue: %v, want ErrBusy", err)
		}
	}
	// Once the worker is free, the queued callers are served.
	release()
	for range 2 {
		if err := <-queued; err != nil {
			t.Fatalf("queued caller: %v", err)
		}
	}
	if h.QueueDepth() != 0 {
		t.Fatalf("queue depth %d after all returned", h.QueueDepth())
	}
}

func TestHasherHonoursContext(t *testing.T) {
	h, err := NewHasher(HasherOptions{Params: fastParams, Workers: 1, Queue: 4})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := HashPassword("pw", fastParams, nil)
	release := holdSlot(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if err := h.Verify(ctx, "pw", enc); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded while waiting for a slot", err)
	}
	if h.QueueDepth() != 1 {
		t.Fatalf("queue depth %d after the caller gave up, want 1 (the held slot)", h.QueueDepth())
	}
	release()
	if err := h.Verify(context.Background(), "pw", enc); err != nil {
		t.Fatalf("after the slot is free: %v", err)
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
