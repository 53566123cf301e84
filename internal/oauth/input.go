package oauth

import (
	"strings"
	"unicode/utf8"
)

// Input checks. Every dialect's request passes through the core, so the
// core refuses what no store should see: invalid UTF-8, NUL bytes
// anywhere (PostgreSQL cannot store them in text and answers an error),
// and control characters in identifiers (usernames, client ids), which no
// legitimate name contains. The answer is invalid_request on every store.

// validText reports whether s is valid UTF-8 without NUL bytes.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// validIdentifier reports whether s is valid text without control
// characters (C0, DEL, C1).
func validIdentifier(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return false
		}
	}
	return true
}

func errBadText(param string) *Error {
	return errInvalidRequest(param, "parameter "+param+" must be valid UTF-8 without NUL characters", ReasonMalformed)
}

func errBadIdentifier(param string) *Error {
	return errInvalidRequest(param, "parameter "+param+" must not contain control characters", ReasonMalformed)
}

// checkTokenRequest refuses a token request carrying invalid input.
func checkTokenRequest(r *TokenRequest) *Error {
	for _, f := range [...]struct{ name, v string }{{"client_id", r.ClientID}, {"username", r.Username}} {
		if !validIdentifier(f.v) {
			return errBadIdentifier(f.name)
		}
	}
	for _, f := range [...]struct{ name, v string }{
		{"grant_type", r.GrantType}, {"client_secret", r.ClientSecret}, {"password", r.Password},
		{"scope", r.Scope},
		{"subject_token", r.SubjectToken}, {"subject_token_type", r.SubjectTokenType},
		{"audience", r.Audience}, {"assertion", r.Assertion}, {"resource", r.Resource},
		{"device_code", r.DeviceCode},
		{"code", r.Code}, {"redirect_uri", r.RedirectURI}, {"code_verifier", r.CodeVerifier},
	} {
		if !validText(f.v) {
			return errBadText(f.name)
		}
	}
	return nil
}
