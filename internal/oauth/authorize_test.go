package oauth

import "testing"

func TestMatchRedirectURI(t *testing.T) {
	reg := []string{"https://app.example/cb", "http://127.0.0.1/callback", "http://[::1]/cb?x=1", "com.example.app:/oauth2"}
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		{"https://app.example/cb", true},
		{"https://app.example/cb/", false},
		{"https://app.example/CB", false},
		{"https://app.example/cb?extra=1", false},
		{"https://app.example:443/cb", false},
		{"https://app.example/cb#frag", false},
		{"http://127.0.0.1/callback", true},
		{"http://127.0.0.1:49152/callback", true},
		{"http://127.0.0.1:49152/callback/x", false},
		{"http://127.0.0.1:49152/callback?x=1", false},
		{"https://127.0.0.1:49152/callback", false},
		{"http://localhost:49152/callback", false},
		{"http://127.0.0.2:49152/callback", false},
		{"http://user@127.0.0.1:49152/callback", false},
		{"http://[::1]:8080/cb?x=1", true},
		{"http://[::1]:8080/cb", false},
		{"com.example.app:/oauth2", true},
		{"com.example.app:/oauth2/x", false},
		{"", false},
	} {
		if got := MatchRedirectURI(reg, tc.uri); got != tc.want {
			t.Errorf("MatchRedirectURI(%q) = %v, want %v", tc.uri, got, tc.want)
		}
	}
}

func TestPKCEValues(t *testing.T) {
	// RFC 7636 Appendix B.
	if got := S256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Fatalf("S256 = %q", got)
	}
	if !validChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM") || validChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c") || validChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM") {
		t.Fatal("validChallenge")
	}
	long := make([]byte, 129)
	for i := range long {
		long[i] = 'a'
	}
	for v, want := range map[string]bool{
		"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk": true, string(long[:128]): true, string(long): false,
		string(long[:42]): false, string(long[:42]) + "~": true, string(long[:42]) + "+": false, string(long[:42]) + " ": false,
	} {
		if validVerifier(v) != want {
			t.Errorf("validVerifier(%q) = %v", v, !want)
		}
	}
}
