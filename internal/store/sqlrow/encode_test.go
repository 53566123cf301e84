package sqlrow

import (
	"testing"
	"time"
)

func TestNanosRoundTripAndClamp(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 123, time.UTC)
	if got := FromNanos(Nanos(now)); !got.Equal(now) {
		t.Fatalf("round trip %v -> %v", now, got)
	}
	if Nanos(time.Time{}) != 0 || !FromNanos(0).IsZero() {
		t.Fatal("zero time must encode as 0 and back")
	}
	never := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := FromNanos(Nanos(never)); got.Year() != 2262 {
		t.Fatalf("year 9999 should clamp to the largest time, got %v", got)
	}
}

func TestJoinListIsLossless(t *testing.T) {
	s, err := JoinList("scope", []string{"read", "write"})
	if err != nil || s != "read write" {
		t.Fatalf("%q %v", s, err)
	}
	if got := SplitList(s); len(got) != 2 || got[1] != "write" {
		t.Fatalf("split %v", got)
	}
	if SplitList("") != nil {
		t.Fatal(`"" must split to nil`)
	}
	for _, bad := range [][]string{{""}, {"a b"}, {"tab\t"}} {
		if _, err := JoinList("scope", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if NullBytes(nil) != nil || NullBytes([]byte{}) != nil || NullBytes([]byte{1}) == nil {
		t.Fatal("NullBytes")
	}
}
