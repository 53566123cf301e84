// Package secret hashes and verifies passwords (argon2id, behind a
// concurrency limit), makes random high-entropy secrets, and hashes those
// with SHA-256 for storage.
package secret

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Errors returned by the password functions.
var (
	// ErrMismatch means the password does not match the hash.
	ErrMismatch = errors.New("password does not match")
	// ErrBusy means the hashing queue is full; the caller should answer
	// 503 with Retry-After.
	ErrBusy = errors.New("password hashing queue is full")
	// ErrBadHash means a stored hash is not a PHC argon2id string we accept.
	ErrBadHash = errors.New("malformed argon2id hash")
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams follow the OWASP minimum for argon2id: m=19 MiB, t=2, p=1.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on parameters read from stored hashes, so a hostile or corrupt
// hash cannot make one verification allocate gigabytes.
const (
	maxMemory  = 1 << 20 // 1 GiB in KiB
	maxTime    = 64
	maxThreads = 16
	maxKeyLen  = 128
	maxSaltLen = 64
)

// HashPassword returns the PHC string of password under p, with a salt read
// from r (crypto/rand.Reader when nil). It does not pass through a limit;
// Hasher does.
func HashPassword(password string, p Params, r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	salt := make([]byte, p.SaltLen)
	if _, err := io.ReadFull(r, salt); err != nil {
		return "", fmt.Errorf("reading salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// parsed is a decoded PHC string.
type parsed struct {
	p    Params
	salt []byte
	key  []byte
}

// ParseHash decodes a PHC argon2id string and checks its parameters are in
// bounds.
func ParseHash(encoded string) (Params, error) {
	ph, err := parse(encoded)
	return ph.p, err
}

func parse(encoded string) (parsed, error) {
	var ph parsed
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return ph, ErrBadHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return ph, fmt.Errorf("%w: unsupported version", ErrBadHash)
	}
	var m, t, p uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return ph, ErrBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return ph, ErrBadHash
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		default:
			return ph, ErrBadHash
		}
	}
	if m < 8 || m > maxMemory || t < 1 || t > maxTime || p < 1 || p > maxThreads {
		return ph, fmt.Errorf("%w: parameters out of bounds", ErrBadHash)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > maxSaltLen {
		return ph, fmt.Errorf("%w: bad salt", ErrBadHash)
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return ph, fmt.Errorf("%w: bad key", ErrBadHash)
	}
	ph.p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	ph.salt, ph.key = salt, key
	return ph, nil
}

// VerifyPassword checks password against a PHC argon2id string in
// constant time. It returns nil on a match, ErrMismatch otherwise.
func VerifyPassword(password, encoded string) error {
	ph, err := parse(encoded)
	if err != nil {
		return err
	}
	key := argon2.IDKey([]byte(password), ph.salt, ph.p.Time, ph.p.Memory, ph.p.Threads, ph.p.KeyLen)
	if subtle.ConstantTimeCompare(key, ph.key) != 1 {
		return ErrMismatch
	}
	return nil
}

// Hasher runs argon2id behind a concurrency limit with a bounded wait
// queue: at most Workers hashes run at once, at most Queue callers wait,
// and anyone past that gets ErrBusy at once. Memory stays bounded at
// Workers × Params.Memory whatever the load.
type Hasher struct {
	params  Params
	slots   chan struct{}
	waiting chan struct{}
	rand    io.Reader
	// dummy is the hash unknown users are verified against; it is made
	// in the background so that it does not delay start-up, and ready is
	// closed once it is set.
	dummy string
	ready chan struct{}
	// limits bound the cost of verifying stored hashes of other formats.
	limits Limits
}

// HasherOptions configure a Hasher.
type HasherOptions struct {
	Params  Params
	Workers int       // concurrent hashes; default 1
	Queue   int       // callers allowed to wait; default 64
	Rand    io.Reader // default crypto/rand.Reader
	// Limits bound the cost of verifying a stored hash (foreign formats
	// and argon2id alike); zero fields take DefaultLimits.
	Limits Limits
}

// NewHasher returns a Hasher. It hashes one random password, in the
// background, to make the dummy hash that unknown users are verified
// against, so that an unknown user costs the same as a wrong password.
func NewHasher(o HasherOptions) (*Hasher, error) {
	if o.Params == (Params{}) {
		o.Params = DefaultParams
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if o.Queue <= 0 {
		o.Queue = 64
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	h := &Hasher{
		params:  o.Params,
		slots:   make(chan struct{}, o.Workers),
		waiting: make(chan struct{}, o.Queue+o.Workers),
		rand:    o.Rand,
		ready:   make(chan struct{}),
		limits:  o.Limits.withDefaults(),
	}
	// The hasher's own hashes always verify, whatever the limits on
	// imported ones.
	h.limits.MaxMemoryKiB = max(h.limits.MaxMemoryKiB, o.Params.Memory)
	h.limits.MaxArgon2Passes = max(h.limits.MaxArgon2Passes, o.Params.Time)
	h.limits.MaxParallelism = max(h.limits.MaxParallelism, int(o.Params.Threads))
	pw, err := RandomString(o.Rand, 24)
	if err != nil {
		return nil, err
	}
	salt := make([]byte, o.Params.SaltLen)
	if _, err := io.ReadFull(o.Rand, salt); err != nil {
		return nil, fmt.Errorf("reading salt: %w", err)
	}
	go func() {
		h.dummy, _ = HashPassword(pw, o.Params, bytes.NewReader(salt)) // cannot fail: the salt is read
		close(h.ready)
	}()
	return h, nil
}

// Ready is closed once the dummy hash for unknown users exists.
func (h *Hasher) Ready() <-chan struct{} { return h.ready }

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// QueueDepth returns how many callers are waiting or hashing now.
func (h *Hasher) QueueDepth() int { return len(h.waiting) }

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.waiting <- struct{}{}:
	default:
		return ErrBusy
	}
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		<-h.waiting
		return ctx.Err()
	}
}

func (h *Hasher) release() {
	<-h.slots
	<-h.waiting
}

// Hash returns the PHC string of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return HashPassword(password, h.params, h.rand)
}

// Verify checks password against encoded, in any format VerifyAny
// accepts, through the same queue as Hash. An empty encoded (unknown user,
// or a user without a password) is verified against the argon2id dummy
// hash and always reports ErrMismatch, after the same work as a real
// verification.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) error {
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	if encoded == "" {
		select {
		case <-h.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
		_ = VerifyPassword(password, h.dummy)
		return ErrMismatch
	}
	return VerifyAny(password, encoded, h.limits)
}

// Limits returns the bounds on verifying stored hashes.
func (h *Hasher) Limits() Limits { return h.limits }

// NeedsRehash reports whether a stored hash that just verified should be
// replaced by an argon2id hash of the hasher's parameters: any format but
// a bare PHC argon2id string, and argon2id with other parameters than the
// hasher's (as passlib's needs_update decides).
func (h *Hasher) NeedsRehash(encoded string) bool {
	if !strings.HasPrefix(encoded, "$argon2id$") {
		return true
	}
	v, err := parseAny(encoded, h.limits)
	if err != nil {
		return true
	}
	a, p := v.argon, h.params
	return a.Memory != p.Memory || a.Time != p.Time || a.Threads != p.Threads || a.KeyLen != p.KeyLen
}
