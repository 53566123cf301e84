package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/contract"
	"github.com/tokengate/tokengate/internal/server"
)

// TestBuildRoutesNamesFileLineAndKey checks that a route the endpoint
// kinds refuse (a contract.RouteError, which knows no file) is reported
// at its file, line and key.
func TestBuildRoutesNamesFileLineAndKey(t *testing.T) {
	for name, tc := range map[string]struct {
		yaml string
		line int
		key  string
	}{
		"unknown endpoint":    {"routes:\n  - path: /t\n    endpoint: token\n  - path: /x\n    endpoint: nope\n", 5, "routes[1].endpoint"},
		"option not accepted": {"routes:\n  - path: /j\n    endpoint: jwks\n    claims: [exi]\n", 4, "routes[0].claims"},
		"duplicate path":      {"routes:\n  - path: /t\n    endpoint: token\n  - path: /t\n    endpoint: token\n", 4, "routes[1].path"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Parse("t.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			_, err = server.BuildRoutes(&cfg, &contract.Env{})
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is no *config.Error", err, err)
			}
			if ce.File != "t.yaml" || ce.Line != tc.line || ce.Key != tc.key || ce.Msg == "" || strings.HasPrefix(ce.Msg, "routes[") {
				t.Fatalf("got %s:%d %s %q, want t.yaml:%d %s", ce.File, ce.Line, ce.Key, ce.Msg, tc.line, tc.key)
			}
		})
	}
}
