package secret

import (
	"hash/crc32"
	"io"
	"strings"
)

// APIKeyPrefix starts every API key tokengate makes, so that secret
// scanners can recognise a leaked one.
const APIKeyPrefix = "tg_"

const checksumLen = 6 // base62 digits of a CRC-32 (62^6 > 2^32)

// NewAPIKey returns a key of the form tg_<43 base62>_<crc32 in base62>.
// The checksum lets a mistyped key be refused without a store lookup.
func NewAPIKey(r io.Reader) (string, error) {
	body, err := RandomString(r, TokenLen)
	if err != nil {
		return "", err
	}
	return APIKeyPrefix + body + "_" + checksum(body), nil
}

func checksum(body string) string {
	n := crc32.ChecksumIEEE([]byte(body))
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return string(out[:])
}

// APIKeyPlausible reports whether key may be valid. A key in tokengate's
// own format must carry a correct checksum; any other string (a key
// imported from a system a team migrates from) is left to the store.
func APIKeyPlausible(key string) bool {
	if !strings.HasPrefix(key, APIKeyPrefix) {
		return true
	}
	rest := key[len(APIKeyPrefix):]
	i := strings.LastIndexByte(rest, '_')
	if i != TokenLen || len(rest)-i-1 != checksumLen {
		return false
	}
	return checksum(rest[:i]) == rest[i+1:]
}
