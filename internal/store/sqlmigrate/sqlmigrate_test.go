package sqlmigrate

import (
	"testing"
	"testing/fstest"
)

func TestLoadOrdersAndChecksNames(t *testing.T) {
	fsys := fstest.MapFS{
		"migrations/0002_b.sql": {Data: []byte("B")},
		"migrations/0001_a.sql": {Data: []byte("A")},
	}
	ms, err := Load(fsys)
	if err != nil || len(ms) != 2 || ms[0].Version != 1 || ms[1].SQL != "B" {
		t.Fatalf("%+v %v", ms, err)
	}
	for name, bad := range map[string]fstest.MapFS{
		"no number":   {"migrations/init.sql": {}},
		"same number": {"migrations/0001_a.sql": {}, "migrations/1_b.sql": {}},
	} {
		if _, err := Load(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
