// Package sqlrow is the row mapping the SQL backends share, so that a
// record reads back the same from SQLite and PostgreSQL: the encodings
// (times as unix nanoseconds, 0 for the zero time; lists of tokens
// space-separated; empty byte slices as NULL), the column lists of each
// table, and the functions that scan a row into a store record through
// the Scanner that both drivers' rows implement.
package sqlrow

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// maxNanoSec bounds the seconds representable in unix nanoseconds.
const maxNanoSec = math.MaxInt64 / int64(time.Second)

// Nanos encodes t as unix nanoseconds, the zero time as 0. Times beyond
// what int64 nanoseconds hold (before 1678, after 2262) are clamped, so a
// "never" expiry in year 9999 stays effectively never.
func Nanos(t time.Time) int64 {
	switch s := t.Unix(); {
	case t.IsZero():
		return 0
	case s >= maxNanoSec:
		return math.MaxInt64
	case s <= -maxNanoSec:
		return math.MinInt64 + 1
	}
	return t.UnixNano()
}

// FromNanos decodes Nanos: 0 is the zero time, others are UTC.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// JoinList encodes a list of tokens (scopes, grant types) space-separated.
// Tokens must be non-empty and free of whitespace, as RFC 6749 requires of
// scopes, so that the encoding is lossless.
func JoinList(field string, l []string) (string, error) {
	for _, s := range l {
		if s == "" || strings.ContainsAny(s, " \t\r\n\f\v") {
			return "", fmt.Errorf("invalid %s token %q", field, s)
		}
	}
	return strings.Join(l, " "), nil
}

// SplitList decodes JoinList; "" gives nil.
func SplitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}

// NullBytes stores an empty byte slice as NULL.
func NullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
