package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"
)

// forgeryKey is one Manager and the private half of its active key.
type forgeryKey struct {
	m    *Manager
	kid  string
	alg  string
	priv crypto.Signer
	pem  []byte // the public key, as an attacker would find it
}

// FuzzVerifyForged lets the fuzzer write a token's header and claims as
// JSON text rather than base64, so that it explores what Verify does
// with the header fields (alg, kid, typ, crit, b64, jwk, duplicates)
// instead of mostly failing to decode. "$KID" in the header becomes the
// active kid; "$NOW", "$EXP" and "$ISS" in the claims become the current
// time, a time ten minutes ahead and the expected issuer.
//
// The seeds are in testdata/fuzz/FuzzVerifyForged. mode picks the key (bits 2-3: EdDSA, ES256, RS256) and the signature
// (bits 0-1):
//
//	0: the fuzzed bytes, as sent by someone without the key;
//	1: HS256 with the public key's PEM as the HMAC secret (algorithm
//	   confusion);
//	2: a real signature by the key over exactly this header and claims;
//	3: that real signature with the fuzzed bytes XORed in.
//
// Verify must never panic and must accept only a real signature over a
// header naming the key's own algorithm and the expected typ, returning
// exactly the signed claims.
func FuzzVerifyForged(f *testing.F) {
	clk := newClock()
	keys := make([]forgeryKey, 0, 3)
	for _, alg := range []string{AlgEdDSA, AlgES256, AlgRS256} {
		ks := &fakeKeys{}
		m := newManager(f, ks, clk, Options{Algorithm: alg})
		kid := m.ActiveKeyID()
		priv := privateOf(f, ks, kid)
		der, err := x509.MarshalPKIXPublicKey(priv.Public())
		if err != nil {
			f.Fatal(err)
		}
		keys = append(keys, forgeryKey{m, kid, alg, priv, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})})
	}
	now := clk.now()
	o := accessOpts()
	o.Now = now
	repl := strings.NewReplacer("$NOW", strconv.FormatInt(now.Unix(), 10), "$EXP", strconv.FormatInt(now.Add(10*time.Minute).Unix(), 10), "$ISS", issuer)
	f.Fuzz(func(t *testing.T, header, payload string, mode uint8, sig []byte) {
		k := keys[int(mode>>2&3)%len(keys)]
		header = strings.ReplaceAll(header, "$KID", k.kid)
		payload = repl.Replace(payload)
		input := b64(header) + "." + b64(payload)
		var s []byte
		mutated := false
		switch mode & 3 {
		case 0:
			s = sig
		case 1:
			mac := hmac.New(sha256.New, k.pem)
			mac.Write([]byte(input))
			s = mac.Sum(nil)
		case 2, 3:
			s = rawSign(t, k, []byte(input))
			if mode&3 == 3 && len(s) > 0 {
				for i, b := range sig {
					s[i%len(s)] ^= b
					mutated = mutated || b != 0
				}
			}
		}
		raw := input + "." + b64(string(s))
		c, err := k.m.Verify(raw, o)
		if err != nil {
			if strings.Contains(err.Error(), raw) && len(raw) > 8 {
				t.Fatalf("error contains the token: %v", err)
			}
			return
		}
		if mode&3 < 2 || mutated {
			t.Fatalf("accepted a token not signed by the key (mode %d): header %s", mode&3, header)
		}
		// The header as a plain JSON reader sees it must agree with what
		// was accepted: the key's algorithm and the expected typ.
		var h map[string]any
		if err := json.Unmarshal([]byte(header), &h); err != nil {
			t.Fatalf("accepted a header encoding/json cannot read: %s", header)
		}
		if h["alg"] != k.alg {
			t.Fatalf("accepted alg %v on a %s key: %s", h["alg"], k.alg, header)
		}
		if typ, _ := h["typ"].(string); !sameType(typ, o.Type) {
			t.Fatalf("accepted typ %q: %s", typ, header)
		}
		var want Claims
		hasExp, err := decodeClaims([]byte(payload), &want)
		if err != nil || !hasExp {
			t.Fatalf("accepted claims that do not decode: %s", payload)
		}
		if fmt.Sprint(c) != fmt.Sprint(want) {
			t.Fatalf("returned %+v, signed %+v", c, want)
		}
		if c.Issuer != issuer || !c.ExpiresAt.After(now) {
			t.Fatalf("accepted claims %+v", c)
		}
	})
}

// rawSign signs input with k's private key as JWS does (RFC 7518 §3,
// RFC 8037): the signature bytes, not a serialization.
func rawSign(t *testing.T, k forgeryKey, input []byte) []byte {
	t.Helper()
	switch key := k.priv.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(key, input)
	case *ecdsa.PrivateKey:
		d := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
		if err != nil {
			t.Fatal(err)
		}
		return append(fixed32(r), fixed32(s)...)
	case *rsa.PrivateKey:
		d := sha256.Sum256(input)
		out, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Fatalf("key type %T", k.priv)
	return nil
}

func fixed32(n *big.Int) []byte {
	b := n.Bytes()
	return append(bytes.Repeat([]byte{0}, 32-len(b)), b...)
}
