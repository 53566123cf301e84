package sqlrow

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// fakeRows serves rows of already-typed values, as a driver would.
type fakeRows struct {
	rows [][]any
	i    int
	err  error
}

func (r *fakeRows) Next() bool { r.i++; return r.i <= len(r.rows) }
func (r *fakeRows) Err() error { return r.err }
func (r *fakeRows) Scan(dest ...any) error {
	row := r.rows[r.i-1]
	if len(dest) != len(row) {
		return errors.New("column count mismatch")
	}
	for i, d := range dest {
		reflect.ValueOf(d).Elem().Set(reflect.ValueOf(row[i]))
	}
	return nil
}

func TestScanUserDecodesColumns(t *testing.T) {
	at := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	rows := &fakeRows{rows: [][]any{
		{"ada", "hash", false, "read write", Nanos(at), Nanos(at), int64(0)},
		{"bob", "", true, "", int64(0), int64(0), Nanos(at)},
	}}
	us, err := Collect(rows, ScanUser)
	if err != nil || len(us) != 2 {
		t.Fatalf("%v %v", us, err)
	}
	if us[0].Username != "ada" || len(us[0].Scopes) != 2 || !us[0].CreatedAt.Equal(at) || !us[0].NotBefore.IsZero() {
		t.Errorf("first row %+v", us[0])
	}
	if !us[1].Disabled || us[1].Scopes != nil || !us[1].NotBefore.Equal(at) {
		t.Errorf("second row %+v", us[1])
	}
}

func TestCollectStopsAtScanAndRowsErrors(t *testing.T) {
	bad := &fakeRows{rows: [][]any{{"too", "few"}}}
	if _, err := Collect(bad, ScanUser); err == nil {
		t.Error("scan error swallowed")
	}
	boom := errors.New("connection lost")
	if _, err := Collect(&fakeRows{err: boom}, ScanUser); !errors.Is(err, boom) {
		t.Errorf("rows error: %v", err)
	}
}

func TestScanRefreshRejectsBadExtra(t *testing.T) {
	row := func(extra string) []any {
		return []any{"fam", int64(1), int64(0), int64(0), "fam", "ada", "cli", "read", int64(0), int64(1), int64(0), false, int64(0), extra, "", "",
			[]byte{2}, []byte(nil), true}
	}
	rows := &fakeRows{rows: [][]any{row("{not json"), row(`{"aud":"x"}`)}}
	rows.Next()
	if _, _, err := ScanRefresh(rows, []byte{1}); err == nil {
		t.Fatal("corrupt extra accepted")
	}
	rows.Next()
	tok, f, err := ScanRefresh(rows, []byte{1})
	if err != nil || f.Extra["aud"] != "x" || tok.Generation != 1 || len(f.Hash) != 1 || f.PrevHash != nil {
		t.Fatalf("good row: %+v %+v %v", tok, f, err)
	}
}
