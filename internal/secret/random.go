package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// RandomString returns n characters drawn uniformly from the base62
// alphabet, read from r (crypto/rand.Reader when nil). 43 characters carry
// just over 256 bits.
func RandomString(r io.Reader, n int) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	out := make([]byte, n)
	buf := make([]byte, n+n/2)
	i := 0
	for i < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("reading random bytes: %w", err)
		}
		for _, b := range buf {
			// Rejection sampling: 248 = 4×62 keeps the distribution uniform.
			if b >= 248 {
				continue
			}
			out[i] = base62[b%62]
			i++
			if i == n {
				break
			}
		}
	}
	return string(out), nil
}

// TokenLen is the length of the random part of server-made secrets:
// 43 base62 characters, 256 bits.
const TokenLen = 43

// NewToken returns prefix followed by TokenLen random base62 characters.
func NewToken(r io.Reader, prefix string) (string, error) {
	s, err := RandomString(r, TokenLen)
	if err != nil {
		return "", err
	}
	return prefix + s, nil
}

// Hash returns the SHA-256 of a high-entropy secret, the only form in which
// such secrets are stored.
func Hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// Equal reports whether the SHA-256 of s equals hash, in constant time.
func Equal(s string, hash []byte) bool {
	h := sha256.Sum256([]byte(s))
	return len(hash) == sha256.Size && subtle.ConstantTimeCompare(h[:], hash) == 1
}
