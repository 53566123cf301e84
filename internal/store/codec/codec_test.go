package codec

import (
	"testing"
	"testing/fstest"
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

func TestLoadMigrationsOrdersAndChecksNames(t *testing.T) {
	fsys := fstest.MapFS{
		"migrations/0002_b.sql": {Data: []byte("B")},
		"migrations/0001_a.sql": {Data: []byte("A")},
	}
	ms, err := LoadMigrations(fsys)
	if err != nil || len(ms) != 2 || ms[0].Version != 1 || ms[1].SQL != "B" {
		t.Fatalf("%+v %v", ms, err)
	}
	for name, bad := range map[string]fstest.MapFS{
		"no number":   {"migrations/init.sql": {}},
		"same number": {"migrations/0001_a.sql": {}, "migrations/1_b.sql": {}},
	} {
		if _, err := LoadMigrations(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
