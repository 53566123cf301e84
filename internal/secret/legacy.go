package secret

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/bits"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"
)

// This file verifies the password hashes of other systems, so that users
// moved to tokengate keep their passwords (issue 15): bcrypt, PHP's
// argon2i/argon2id, Django's, Spring Security's DelegatingPasswordEncoder,
// passlib's and Werkzeug's formats. Every primitive is golang.org/x/crypto's
// or the standard library's; every comparison is constant-time; every cost
// parameter is bounded by Limits before any work is done.

// Format names a password hash scheme.
type Format string

// The formats Identify recognises.
const (
	FormatArgon2id       Format = "argon2id"        // PHC $argon2id$ (tokengate's own, PHP, Spring {argon2})
	FormatArgon2i        Format = "argon2i"         // PHC $argon2i$ (PHP PASSWORD_ARGON2I)
	FormatBcrypt         Format = "bcrypt"          // $2a$ $2b$ $2y$
	FormatDjangoPBKDF2   Format = "django-pbkdf2"   // pbkdf2_sha256$ pbkdf2_sha1$
	FormatDjangoArgon2   Format = "django-argon2"   // argon2$argon2id$ argon2$argon2i$
	FormatDjangoBcrypt   Format = "django-bcrypt"   // bcrypt_sha256$ bcrypt$
	FormatDjangoScrypt   Format = "django-scrypt"   // scrypt$
	FormatSpringPBKDF2   Format = "spring-pbkdf2"   // {pbkdf2} {pbkdf2@SpringSecurity_v5_8}
	FormatSpringScrypt   Format = "spring-scrypt"   // {scrypt} {scrypt@SpringSecurity_v5_8}
	FormatPasslibPBKDF2  Format = "passlib-pbkdf2"  // $pbkdf2-sha256$ $pbkdf2-sha512$ $pbkdf2$
	FormatWerkzeugPBKDF2 Format = "werkzeug-pbkdf2" // pbkdf2:sha256:ITER$ pbkdf2:sha1:ITER$ pbkdf2:sha512:ITER$
	FormatWerkzeugScrypt Format = "werkzeug-scrypt" // scrypt:N:r:p$
	FormatWeakMD5        Format = "unsalted-md5"    // 32 hex digits, or Django unsalted_md5$$
	FormatWeakSHA1       Format = "unsalted-sha1"   // 40 hex digits, or Django unsalted_sha1$$
	FormatPlaintext      Format = "plaintext"       // Spring {noop}: import only, never stored
	formatUnknown        Format = ""                // not recognised
)

// springPrefixV58 marks Spring's encoders with 5.8 defaults.
const springPrefixV58 = "@SpringSecurity_v5_8"

// ErrWeakHash means a hash is of a weak unsalted format that an import
// accepts only when told to.
var ErrWeakHash = errors.New("weak unsalted hash (MD5/SHA-1) refused without an explicit allowance")

// Limits bound the cost of verifying a stored hash, so that an imported
// (or tampered) hash cannot make one login take minutes or gigabytes.
type Limits struct {
	MaxBcryptCost   int    // default 16
	MaxPBKDF2Iter   int    // default 5,000,000
	MaxMemoryKiB    uint32 // argon2 m, scrypt 128·N·r bytes; default 128 MiB (Django argon2 uses 100)
	MaxParallelism  int    // argon2 p, scrypt p; default 16
	MaxArgon2Passes uint32 // argon2 t; default 64
}

// DefaultLimits are the bounds applied when a field of Limits is zero.
var DefaultLimits = Limits{MaxBcryptCost: 16, MaxPBKDF2Iter: 5_000_000, MaxMemoryKiB: 128 * 1024, MaxParallelism: 16, MaxArgon2Passes: maxTime}

func (l Limits) withDefaults() Limits {
	if l.MaxBcryptCost <= 0 {
		l.MaxBcryptCost = DefaultLimits.MaxBcryptCost
	}
	if l.MaxPBKDF2Iter <= 0 {
		l.MaxPBKDF2Iter = DefaultLimits.MaxPBKDF2Iter
	}
	if l.MaxMemoryKiB == 0 {
		l.MaxMemoryKiB = DefaultLimits.MaxMemoryKiB
	}
	if l.MaxParallelism <= 0 {
		l.MaxParallelism = DefaultLimits.MaxParallelism
	}
	if l.MaxArgon2Passes == 0 {
		l.MaxArgon2Passes = DefaultLimits.MaxArgon2Passes
	}
	return l
}

// verifier is a parsed hash: its format and a function that reports, in
// constant time, whether a password matches.
type verifier struct {
	format Format
	// argon holds the parameters of an argon2id hash, to decide whether
	// it is weaker than the hasher's.
	argon Params
	match func(password []byte) (bool, error)
}

// Identify parses encoded, checks its parameters against l and reports its
// format. It does no hashing. Unknown and malformed hashes are ErrBadHash
// (wrapped with the reason); weak unsalted ones are reported with their
// format and ErrWeakHash, so that a caller may accept them on purpose. A
// Spring {noop} password is reported as FormatPlaintext.
func Identify(encoded string, l Limits) (Format, error) {
	v, err := parseAny(encoded, l.withDefaults())
	if err != nil {
		return formatUnknown, err
	}
	if v.format == FormatWeakMD5 || v.format == FormatWeakSHA1 {
		return v.format, ErrWeakHash
	}
	return v.format, nil
}

// Plaintext returns the password of a Spring {noop} entry and true, or ""
// and false for any other string.
func Plaintext(encoded string) (string, bool) {
	pw, ok := strings.CutPrefix(encoded, "{noop}")
	return pw, ok
}

// VerifyAny checks password against a hash of any format Identify accepts
// (weak unsalted ones included: an import lets them in only when told to).
// It returns nil on a match, ErrMismatch otherwise, ErrBadHash for an
// unusable hash. A {noop} entry is never a stored hash and is refused.
func VerifyAny(password, encoded string, l Limits) error {
	v, err := parseAny(encoded, l.withDefaults())
	if err != nil {
		return err
	}
	if v.format == FormatPlaintext {
		return fmt.Errorf("%w: plaintext is never stored", ErrBadHash)
	}
	ok, err := v.match([]byte(password))
	if err != nil {
		return err
	}
	if !ok {
		return ErrMismatch
	}
	return nil
}

// hashError is why a hash is refused. Its text names the format and the
// reason, never the hash's salt or digest; it matches ErrBadHash.
type hashError struct{ reason string }

func (e *hashError) Error() string { return "unusable password hash: " + e.reason }
func (e *hashError) Unwrap() error { return ErrBadHash }

// Reason returns why err refused a hash ("bcrypt: cost 17 beyond the
// limit 16"), or err's text when it is not a refused hash.
func Reason(err error) string {
	var he *hashError
	if errors.As(err, &he) {
		return he.reason
	}
	return err.Error()
}

func bad(format string, a ...any) error {
	return &hashError{reason: fmt.Sprintf(format, a...)}
}

// parseAny dispatches on the hash's prefix.
func parseAny(s string, l Limits) (verifier, error) {
	if len(s) > 1024 {
		return verifier{}, bad("hash longer than 1024 bytes")
	}
	switch {
	case s == "":
		return verifier{}, bad("empty hash")
	case strings.HasPrefix(s, "!"):
		return verifier{}, bad("unusable password (Django's \"!\" marker): the user has no password to keep")
	case strings.HasPrefix(s, "$argon2id$"), strings.HasPrefix(s, "$argon2i$"):
		return parseArgon2(s, l, "")
	case strings.HasPrefix(s, "$argon2d$"):
		return verifier{}, bad("argon2d is not supported")
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		return parseBcrypt(s, l, FormatBcrypt, false)
	case strings.HasPrefix(s, "$pbkdf2"):
		return parsePasslib(s, l)
	case strings.HasPrefix(s, "pbkdf2_sha256$"), strings.HasPrefix(s, "pbkdf2_sha1$"):
		return parseDjangoPBKDF2(s, l)
	case strings.HasPrefix(s, "argon2$"):
		return parseArgon2(strings.TrimPrefix(s, "argon2"), l, FormatDjangoArgon2)
	case strings.HasPrefix(s, "bcrypt_sha256$"):
		return parseBcrypt(strings.TrimPrefix(s, "bcrypt_sha256$"), l, FormatDjangoBcrypt, true)
	case strings.HasPrefix(s, "bcrypt$"):
		return parseBcrypt(strings.TrimPrefix(s, "bcrypt$"), l, FormatDjangoBcrypt, false)
	case strings.HasPrefix(s, "scrypt$"):
		return parseDjangoScrypt(s, l)
	case strings.HasPrefix(s, "pbkdf2:"):
		return parseWerkzeugPBKDF2(s, l)
	case strings.HasPrefix(s, "scrypt:"):
		return parseWerkzeugScrypt(s, l)
	case strings.HasPrefix(s, "{"):
		return parseSpring(s, l)
	case strings.HasPrefix(s, "md5$$"):
		return parseUnsalted(strings.TrimPrefix(s, "md5$$"), FormatWeakMD5)
	case strings.HasPrefix(s, "sha1$$"):
		return parseUnsalted(strings.TrimPrefix(s, "sha1$$"), FormatWeakSHA1)
	case len(s) == 32 && isHex(s):
		return parseUnsalted(s, FormatWeakMD5)
	case len(s) == 40 && isHex(s):
		return parseUnsalted(s, FormatWeakSHA1)
	}
	return verifier{}, bad("unknown hash format")
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// parseArgon2 reads a PHC argon2id or argon2i string (as PHP,
// argon2-cffi, Django after its "argon2" prefix, and Spring write them).
func parseArgon2(s string, l Limits, as Format) (verifier, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return verifier{}, bad("argon2: want $argon2id$v=19$m=..,t=..,p=..$salt$hash")
	}
	variant := parts[1]
	if variant != "argon2id" && variant != "argon2i" {
		return verifier{}, bad("argon2: unsupported variant %q", variant)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return verifier{}, bad("argon2: only version 19 is supported")
	}
	var m, t, p uint64
	seen := 0
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return verifier{}, bad("argon2: bad parameter %q", kv)
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		default:
			return verifier{}, bad("argon2: unknown parameter %q", k)
		}
		seen++
	}
	if seen != 3 || m < 8 || t < 1 || p < 1 {
		return verifier{}, bad("argon2: parameters m, t and p are required")
	}
	if m > uint64(l.MaxMemoryKiB) || t > uint64(l.MaxArgon2Passes) || p > uint64(l.MaxParallelism) {
		return verifier{}, bad("argon2: parameters beyond the limit (m ≤ %d KiB, t ≤ %d, p ≤ %d)", l.MaxMemoryKiB, l.MaxArgon2Passes, l.MaxParallelism)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > maxSaltLen {
		return verifier{}, bad("argon2: bad salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return verifier{}, bad("argon2: bad hash")
	}
	f := Format(variant)
	if as != "" {
		f = as
	}
	kdf := argon2.IDKey
	if variant == "argon2i" {
		kdf = argon2.Key
	}
	v := verifier{format: f, match: func(pw []byte) (bool, error) {
		got := kdf(pw, salt, uint32(t), uint32(m), uint8(p), uint32(len(key)))
		return subtle.ConstantTimeCompare(got, key) == 1, nil
	}}
	if variant == "argon2id" && as == "" {
		v.argon = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	}
	return v, nil
}

// parseBcrypt reads a modular-crypt bcrypt string. prehash is Django's
// bcrypt_sha256: the password is first turned into the hex SHA-256.
func parseBcrypt(s string, l Limits, f Format, prehash bool) (verifier, error) {
	if len(s) != 60 || !(strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")) || s[6] != '$' {
		return verifier{}, bad("bcrypt: want $2a$/$2b$/$2y$, a two-digit cost and 53 characters")
	}
	cost, err := strconv.Atoi(s[4:6])
	if err != nil || cost < bcrypt.MinCost {
		return verifier{}, bad("bcrypt: bad cost")
	}
	if cost > l.MaxBcryptCost {
		return verifier{}, bad("bcrypt: cost %d beyond the limit %d", cost, l.MaxBcryptCost)
	}
	if _, err := bcrypt.Cost([]byte(s)); err != nil {
		return verifier{}, bad("bcrypt: %v", err)
	}
	hashed := []byte(s)
	return verifier{format: f, match: func(pw []byte) (bool, error) {
		if prehash {
			d := sha256.Sum256(pw)
			pw = []byte(hex.EncodeToString(d[:]))
		}
		err := bcrypt.CompareHashAndPassword(hashed, pw)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, nil
		}
		return false, bad("bcrypt: %v", err)
	}}, nil
}

func hashFunc(name string) (func() hash.Hash, int, bool) {
	switch name {
	case "sha1":
		return sha1.New, sha1.Size, true
	case "sha256":
		return sha256.New, sha256.Size, true
	case "sha512":
		return sha512.New, sha512.Size, true
	}
	return nil, 0, false
}

// pbkdf2Verifier checks iterations and key length, then compares in
// constant time.
func pbkdf2Verifier(f Format, l Limits, iter int, salt, key []byte, h func() hash.Hash) (verifier, error) {
	if iter < 1 {
		return verifier{}, bad("pbkdf2: bad iteration count")
	}
	if iter > l.MaxPBKDF2Iter {
		return verifier{}, bad("pbkdf2: %d iterations beyond the limit %d", iter, l.MaxPBKDF2Iter)
	}
	if len(key) < 16 || len(key) > 64 {
		return verifier{}, bad("pbkdf2: derived key of %d bytes (want 16 to 64)", len(key))
	}
	if len(salt) == 0 || len(salt) > 128 {
		return verifier{}, bad("pbkdf2: bad salt")
	}
	return verifier{format: f, match: func(pw []byte) (bool, error) {
		got := pbkdf2.Key(pw, salt, iter, len(key), h)
		return subtle.ConstantTimeCompare(got, key) == 1, nil
	}}, nil
}

// parseDjangoPBKDF2 reads pbkdf2_sha256$ITER$SALT$B64 (and pbkdf2_sha1).
// The salt is used as its text; the hash is standard base64.
func parseDjangoPBKDF2(s string, l Limits) (verifier, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 {
		return verifier{}, bad("django pbkdf2: want ALGORITHM$ITERATIONS$SALT$HASH")
	}
	h, size, _ := hashFunc(strings.TrimPrefix(parts[0], "pbkdf2_"))
	iter, err := strconv.Atoi(parts[1])
	if err != nil {
		return verifier{}, bad("django pbkdf2: bad iteration count")
	}
	key, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(key) != size {
		return verifier{}, bad("django pbkdf2: bad hash")
	}
	return pbkdf2Verifier(FormatDjangoPBKDF2, l, iter, []byte(parts[2]), key, h)
}

// ab64 is passlib's adapted base64: "." for "+", no padding.
func ab64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.ReplaceAll(s, ".", "+"))
}

// parsePasslib reads passlib's $pbkdf2-sha256$ITER$SALT$HASH (and
// -sha512, and $pbkdf2$ for SHA-1), salt and hash in adapted base64.
func parsePasslib(s string, l Limits) (verifier, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 5 || parts[0] != "" {
		return verifier{}, bad("passlib pbkdf2: want $pbkdf2-sha256$ITERATIONS$SALT$HASH")
	}
	name := strings.TrimPrefix(strings.TrimPrefix(parts[1], "pbkdf2"), "-")
	if name == "" {
		name = "sha1"
	}
	h, size, ok := hashFunc(name)
	if !ok {
		return verifier{}, bad("passlib pbkdf2: unsupported digest %q", name)
	}
	iter, err := strconv.Atoi(parts[2])
	if err != nil {
		return verifier{}, bad("passlib pbkdf2: bad iteration count")
	}
	salt, err := ab64(parts[3])
	if err != nil {
		return verifier{}, bad("passlib pbkdf2: bad salt")
	}
	key, err := ab64(parts[4])
	if err != nil || len(key) != size {
		return verifier{}, bad("passlib pbkdf2: bad hash")
	}
	return pbkdf2Verifier(FormatPasslibPBKDF2, l, iter, salt, key, h)
}

// parseWerkzeugPBKDF2 reads pbkdf2:sha256:ITER$SALT$HEX. The salt is used
// as its text. A method without iterations is refused: its count depends
// on the Werkzeug version that wrote it.
func parseWerkzeugPBKDF2(s string, l Limits) (verifier, error) {
	method, rest, _ := strings.Cut(s, "$")
	salt, hexKey, ok := strings.Cut(rest, "$")
	m := strings.Split(method, ":")
	if !ok || len(m) != 3 || strings.Contains(hexKey, "$") {
		return verifier{}, bad("werkzeug pbkdf2: want pbkdf2:sha256:ITERATIONS$SALT$HASH")
	}
	h, size, ok := hashFunc(m[1])
	if !ok {
		return verifier{}, bad("werkzeug pbkdf2: unsupported digest %q", m[1])
	}
	iter, err := strconv.Atoi(m[2])
	if err != nil {
		return verifier{}, bad("werkzeug pbkdf2: bad iteration count")
	}
	key, err := hex.DecodeString(hexKey)
	if err != nil || len(key) != size {
		return verifier{}, bad("werkzeug pbkdf2: bad hash")
	}
	return pbkdf2Verifier(FormatWerkzeugPBKDF2, l, iter, []byte(salt), key, h)
}

// scryptVerifier checks N, r, p against the limits, then compares in
// constant time.
func scryptVerifier(f Format, l Limits, n, r, p int, salt, key []byte) (verifier, error) {
	if n < 2 || n&(n-1) != 0 || r < 1 || p < 1 {
		return verifier{}, bad("scrypt: bad parameters")
	}
	// 128·N·r bytes ≤ the limit, written so that it cannot overflow.
	if p > l.MaxParallelism || r > 1<<16 || uint64(n) > uint64(l.MaxMemoryKiB)*1024/(128*uint64(r)) {
		return verifier{}, bad("scrypt: parameters beyond the limit (128·N·r ≤ %d KiB, p ≤ %d)", l.MaxMemoryKiB, l.MaxParallelism)
	}
	if len(key) < 16 || len(key) > 128 || len(salt) == 0 || len(salt) > 128 {
		return verifier{}, bad("scrypt: bad salt or hash length")
	}
	return verifier{format: f, match: func(pw []byte) (bool, error) {
		got, err := scrypt.Key(pw, salt, n, r, p, len(key))
		if err != nil {
			return false, bad("scrypt: %v", err)
		}
		return subtle.ConstantTimeCompare(got, key) == 1, nil
	}}, nil
}

// parseDjangoScrypt reads scrypt$N$SALT$R$P$B64 (salt as text, 64-byte key).
func parseDjangoScrypt(s string, l Limits) (verifier, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 {
		return verifier{}, bad("django scrypt: want scrypt$N$SALT$R$P$HASH")
	}
	n, err1 := strconv.Atoi(parts[1])
	r, err2 := strconv.Atoi(parts[3])
	p, err3 := strconv.Atoi(parts[4])
	key, err4 := base64.StdEncoding.DecodeString(parts[5])
	if err := errors.Join(err1, err2, err3); err != nil {
		return verifier{}, bad("django scrypt: bad parameters")
	}
	if err4 != nil {
		return verifier{}, bad("django scrypt: bad hash")
	}
	return scryptVerifier(FormatDjangoScrypt, l, n, r, p, []byte(parts[2]), key)
}

// parseWerkzeugScrypt reads scrypt:N:r:p$SALT$HEX (salt as text).
func parseWerkzeugScrypt(s string, l Limits) (verifier, error) {
	method, rest, _ := strings.Cut(s, "$")
	salt, hexKey, ok := strings.Cut(rest, "$")
	m := strings.Split(method, ":")
	if !ok || len(m) != 4 || strings.Contains(hexKey, "$") {
		return verifier{}, bad("werkzeug scrypt: want scrypt:N:R:P$SALT$HASH")
	}
	n, err1 := strconv.Atoi(m[1])
	r, err2 := strconv.Atoi(m[2])
	p, err3 := strconv.Atoi(m[3])
	if err := errors.Join(err1, err2, err3); err != nil {
		return verifier{}, bad("werkzeug scrypt: bad parameters")
	}
	key, err := hex.DecodeString(hexKey)
	if err != nil {
		return verifier{}, bad("werkzeug scrypt: bad hash")
	}
	return scryptVerifier(FormatWerkzeugScrypt, l, n, r, p, []byte(salt), key)
}

// parseSpring reads a DelegatingPasswordEncoder string: {id}encoded.
func parseSpring(s string, l Limits) (verifier, error) {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return verifier{}, bad("spring: unterminated {id}")
	}
	id, rest := s[1:end], s[end+1:]
	switch id {
	case "noop":
		return verifier{format: FormatPlaintext}, nil
	case "bcrypt":
		return parseBcrypt(rest, l, FormatBcrypt, false)
	case "argon2", "argon2" + springPrefixV58:
		return parseArgon2(rest, l, "")
	case "pbkdf2", "pbkdf2" + springPrefixV58:
		return parseSpringPBKDF2(rest, l, id != "pbkdf2")
	case "scrypt", "scrypt" + springPrefixV58:
		return parseSpringScrypt(rest, l)
	}
	if len(id) > 40 || strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_@.", r))
	}) {
		id = "…" // not an encoder id: never echo what may be a secret
	}
	return verifier{}, bad("spring: unsupported encoder {%s}", id)
}

// parseSpringPBKDF2 reads Pbkdf2PasswordEncoder's hex(salt ‖ hash) with an
// empty secret: the 256-bit hash is PBKDF2-HMAC-SHA1 with 185000
// iterations (Spring's default, salt of 8 bytes before 5.5 and 16 after),
// or PBKDF2-HMAC-SHA256 with 310000 iterations and a 16-byte salt for
// {pbkdf2@SpringSecurity_v5_8}.
func parseSpringPBKDF2(s string, l Limits, v58 bool) (verifier, error) {
	raw, err := hex.DecodeString(s)
	if err != nil {
		return verifier{}, bad("spring pbkdf2: not hexadecimal")
	}
	if v58 {
		if len(raw) != 16+32 {
			return verifier{}, bad("spring pbkdf2@5.8: want a 16-byte salt and a 32-byte hash")
		}
		return pbkdf2Verifier(FormatSpringPBKDF2, l, 310000, raw[:16], raw[16:], sha256.New)
	}
	if len(raw) != 8+32 && len(raw) != 16+32 {
		return verifier{}, bad("spring pbkdf2: want an 8- or 16-byte salt and a 32-byte hash")
	}
	n := len(raw) - 32
	return pbkdf2Verifier(FormatSpringPBKDF2, l, 185000, raw[:n], raw[n:], sha1.New)
}

// parseSpringScrypt reads SCryptPasswordEncoder's
// $HEXPARAMS$B64SALT$B64HASH, where params = log2(N)<<16 | r<<8 | p.
func parseSpringScrypt(s string, l Limits) (verifier, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != "" {
		return verifier{}, bad("spring scrypt: want $PARAMS$SALT$HASH")
	}
	params, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil {
		return verifier{}, bad("spring scrypt: bad parameters")
	}
	logN := params >> 16
	if logN < 1 || logN >= uint64(bits.UintSize-2) {
		return verifier{}, bad("spring scrypt: bad N")
	}
	n, r, p := 1<<logN, int(params>>8&0xff), int(params&0xff)
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	key, err2 := base64.StdEncoding.DecodeString(parts[3])
	if errors.Join(err1, err2) != nil {
		return verifier{}, bad("spring scrypt: bad salt or hash")
	}
	return scryptVerifier(FormatSpringScrypt, l, n, r, p, salt, key)
}

// parseUnsalted reads a hex MD5 or SHA-1 digest of the bare password.
func parseUnsalted(s string, f Format) (verifier, error) {
	want, err := hex.DecodeString(s)
	size := md5.Size
	if f == FormatWeakSHA1 {
		size = sha1.Size
	}
	if err != nil || len(want) != size {
		return verifier{}, bad("%s: want %d hex digits", f, 2*size)
	}
	return verifier{format: f, match: func(pw []byte) (bool, error) {
		var got []byte
		if f == FormatWeakMD5 {
			d := md5.Sum(pw)
			got = d[:]
		} else {
			d := sha1.Sum(pw)
			got = d[:]
		}
		return subtle.ConstantTimeCompare(got, want) == 1, nil
	}}, nil
}
