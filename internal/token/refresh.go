package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// RefreshPrefix starts every opaque refresh token tokengate issues. A
// token of the current form continues with six dot-separated fields (five dots) (see
// SealRefresh); one without dots is of the earlier, stored form.
const RefreshPrefix = "tgr_"

// refreshRandLen is the length of a refresh token's random part in bytes.
const refreshRandLen = 32

// maxFamilyIDLen bounds the family id a refresh token may name.
const maxFamilyIDLen = 64

// RefreshClaims is what an opaque refresh token of the current form
// states, under a MAC: the family (login session) it belongs to, its
// generation in that family, and its expiry.
type RefreshClaims struct {
	Family     string
	Generation int64
	ExpiresAt  time.Time
}

// IsMACRefresh reports whether raw has the shape of a MAC'd opaque
// refresh token (and so names its family), as opposed to an earlier
// stored one or a JWT.
func IsMACRefresh(raw string) bool {
	return strings.HasPrefix(raw, RefreshPrefix) && strings.Count(raw, ".") == 5
}

// refreshMACKey derives the refresh-token MAC key of a signing key from
// its (decrypted) private key: HMAC-SHA-256 under a fixed label over the
// kid and the PKCS#8 DER, so it is as secret as the private key, lives
// and dies with it (rotation, retirement, revocation), is stored
// encrypted whenever the signing key is, and is the same on every node.
// The id that tokens carry is a fingerprint of the MAC key, short and
// free of separators whatever the kid looks like.
func refreshMACKey(kid string, der []byte) (id string, key []byte) {
	h := hmac.New(sha256.New, []byte("tokengate refresh-token MAC key v1"))
	h.Write([]byte(kid))
	h.Write([]byte{0})
	h.Write(der)
	key = h.Sum(nil)
	fp := sha256.Sum256(append([]byte("tokengate refresh-token MAC key id v1\x00"), key...))
	return base64.RawURLEncoding.EncodeToString(fp[:6]), key
}

// SealRefresh makes a refresh token stating c under the MAC key key
// (named id): "tgr_" id "." family "." generation "." expiry "." random
// "." MAC, where generation and expiry (Unix nanoseconds) are base 36,
// random is 32 bytes from rnd and MAC is HMAC-SHA-256 over everything
// before it, both base64url. The Manager's NewRefresh calls it with the
// active key; it is exported for tests that need tokens without keys.
func SealRefresh(id string, key []byte, c RefreshClaims, rnd io.Reader) (string, error) {
	if !validFamilyID(c.Family) || c.Generation < 0 || c.ExpiresAt.IsZero() || id == "" || strings.Contains(id, ".") {
		return "", errors.New("token: seal refresh: bad claims or key id")
	}
	r := make([]byte, refreshRandLen)
	if _, err := io.ReadFull(rnd, r); err != nil {
		return "", fmt.Errorf("token: seal refresh: reading random bytes: %w", err)
	}
	var b strings.Builder
	b.Grow(160)
	b.WriteString(RefreshPrefix)
	b.WriteString(id)
	b.WriteByte('.')
	b.WriteString(c.Family)
	b.WriteByte('.')
	b.WriteString(strconv.FormatInt(c.Generation, 36))
	b.WriteByte('.')
	b.WriteString(strconv.FormatInt(c.ExpiresAt.UnixNano(), 36))
	b.WriteByte('.')
	b.WriteString(base64.RawURLEncoding.EncodeToString(r))
	signed := b.String()
	return signed + "." + base64.RawURLEncoding.EncodeToString(refreshMAC(key, signed)), nil
}

func refreshMAC(key []byte, signed string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(signed))
	return h.Sum(nil)
}

// OpenRefresh checks a token made by SealRefresh and returns what it
// states. keyOf returns the MAC key of an id (nil when unknown). The MAC
// is checked, in constant time, before any field is trusted. Errors wrap
// ErrMalformed, ErrUnknownKey or ErrSignature and never contain the token.
func OpenRefresh(raw string, keyOf func(id string) []byte) (RefreshClaims, error) {
	if len(raw) > MaxTokenSize || !IsMACRefresh(raw) {
		return RefreshClaims{}, fmt.Errorf("token: refresh: %w", ErrMalformed)
	}
	cut := strings.LastIndexByte(raw, '.')
	signed, macText := raw[:cut], raw[cut+1:]
	f := strings.Split(strings.TrimPrefix(signed, RefreshPrefix), ".")
	if len(f) != 5 {
		return RefreshClaims{}, fmt.Errorf("token: refresh: %w", ErrMalformed)
	}
	mac, err := base64.RawURLEncoding.DecodeString(macText)
	if err != nil || len(mac) != sha256.Size {
		return RefreshClaims{}, fmt.Errorf("token: refresh: %w", ErrMalformed)
	}
	key := keyOf(f[0])
	if key == nil {
		return RefreshClaims{}, fmt.Errorf("token: refresh: %w", ErrUnknownKey)
	}
	if subtle.ConstantTimeCompare(mac, refreshMAC(key, signed)) != 1 {
		return RefreshClaims{}, fmt.Errorf("token: refresh: %w", ErrSignature)
	}
	// Authentic from here on; the checks below only guard against a
	// token this code could not have made.
	gen, err1 := strconv.ParseInt(f[2], 36, 64)
	exp, err2 := strconv.ParseInt(f[3], 36, 64)
	if err1 != nil || err2 != nil || gen < 0 || !validFamilyID(f[1]) {
		return RefreshClaims{}, fmt.Errorf("token: refresh: %w", ErrMalformed)
	}
	return RefreshClaims{Family: f[1], Generation: gen, ExpiresAt: time.Unix(0, exp).UTC()}, nil
}

// validFamilyID reports whether id can stand in a token: non-empty,
// bounded, letters, digits, '-' and '_' only.
func validFamilyID(id string) bool {
	if id == "" || len(id) > maxFamilyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// NewRefresh makes an opaque refresh token stating c under the MAC key
// derived from the active signing key (see SealRefresh).
func (m *Manager) NewRefresh(c RefreshClaims, rnd io.Reader) (string, error) {
	s := m.snap.Load()
	if s == nil {
		return "", fmt.Errorf("token: new refresh: %w", ErrNotInitialized)
	}
	if rnd == nil {
		rnd = m.rand
	}
	return SealRefresh(s.active.macID, s.active.macKey, c, rnd)
}

// OpenRefresh checks an opaque refresh token against the MAC keys of the
// published signing keys (the active one and the retired ones whose
// tokens may still live; a revoked key's tokens fail) and returns what it
// states. It reads no store. Errors wrap ErrMalformed, ErrUnknownKey or
// ErrSignature (or ErrNotInitialized).
func (m *Manager) OpenRefresh(raw string) (RefreshClaims, error) {
	s := m.snap.Load()
	if s == nil {
		return RefreshClaims{}, fmt.Errorf("token: open refresh: %w", ErrNotInitialized)
	}
	return OpenRefresh(raw, func(id string) []byte { return s.macKeys[id] })
}
