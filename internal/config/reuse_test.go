package config

import (
	"strings"
	"testing"
	"time"
)

func TestRefreshReuseIntervalIsBounded(t *testing.T) {
	const tmpl = `
bootstrap:
  clients:
    - id: spa
      public: true
      grants: [password, refresh_token]
      refresh_reuse_interval: %s
`
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{"0s", true},
		{"10s", true},
		{"5m", true},
		{"5m1s", false},
		{"1h", false},
	} {
		t.Run(tc.value, func(t *testing.T) {
			cfg, err := Parse("t.yaml", []byte(strings.Replace(tmpl, "%s", tc.value, 1)))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if d, _ := ParseDuration(tc.value); cfg.Bootstrap.Clients[0].RefreshReuseInterval.D() != d {
					t.Fatalf("parsed as %v", cfg.Bootstrap.Clients[0].RefreshReuseInterval.D())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "t.yaml:7: bootstrap.clients[0].refresh_reuse_interval: must be at most 5m0s") {
				t.Fatalf("Validate = %v", err)
			}
		})
	}
	if MaxRefreshReuseInterval != 5*time.Minute {
		t.Fatalf("MaxRefreshReuseInterval = %v; SECURITY.md says 5m", MaxRefreshReuseInterval)
	}
}
