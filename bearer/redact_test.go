package bearer_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/bearer"
)

func TestNothingPrintsTheIntrospectionSecret(t *testing.T) {
	tg := startTokengate(t, baseConfig, nil)
	cfg := bearer.Config{Issuer: tg.URL, Audience: "api://orders", IntrospectionURL: tg.URL + "/oauth/introspect", ClientID: "rs", ClientSecret: "rs-secret"}
	v := newVerifier(t, cfg)
	for name, val := range map[string]any{"Config": cfg, "*Config": &cfg, "*Verifier": v} {
		out := map[string]string{}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out[verb] = fmt.Sprintf(verb, val)
		}
		var text, js bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("msg", "value", val)
		slog.New(slog.NewJSONHandler(&js, nil)).Info("msg", "value", val)
		out["slog text"], out["slog JSON"] = text.String(), js.String()
		for how, s := range out {
			if strings.Contains(s, "rs-secret") {
				t.Errorf("%s as %s shows the secret: %s", name, how, s)
			}
			if name != "*Verifier" && !strings.Contains(s, "redacted") {
				t.Errorf("%s as %s does not say it hides the secret: %s", name, how, s)
			}
		}
	}
}
