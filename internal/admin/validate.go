package admin

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tokengate/tokengate/internal/store"
)

// Limits on the fields an administrator sets.
const (
	// MaxNameLen bounds usernames, client ids and API key names.
	MaxNameLen = 128
	// MaxPasswordLen bounds passwords (the token endpoint refuses longer
	// ones before any work is done).
	MaxPasswordLen = 1024
	// MaxScopes bounds the scopes of one record.
	MaxScopes = 64
	// MaxScopeLen bounds one scope.
	MaxScopeLen = 128
	// MaxLifetime bounds token lifetimes and API key expiries.
	MaxLifetime = 10 * 365 * 24 * time.Hour
)

// FieldError is one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// InvalidError lists the invalid fields of a request. Callers test for it
// with errors.As; the admin API answers it with 422.
type InvalidError struct {
	Fields []FieldError
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid " + strings.Join(parts, "; ")
}

// fields collects field errors.
type fields struct{ list []FieldError }

func (f *fields) add(field, format string, args ...any) {
	f.list = append(f.list, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (f *fields) err() error {
	if len(f.list) == 0 {
		return nil
	}
	return &InvalidError{Fields: f.list}
}

// nameOK reports whether s is a plausible username or client id: 1 to
// MaxNameLen characters of letters, digits and . _ @ + - :.
func nameOK(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._@+-:", c) >= 0) {
			return false
		}
	}
	return true
}

// CheckUsername reports why name cannot be a local user's name, or nil.
func CheckUsername(name string) error {
	var f fields
	checkUsername(&f, "username", name)
	return f.err()
}

func checkUsername(f *fields, field, name string) {
	switch {
	case !nameOK(name):
		f.add(field, "must be 1 to %d characters of letters, digits and . _ @ + - :", MaxNameLen)
	case store.IsExternalUsername(name):
		f.add(field, "names starting with %q are reserved for users provisioned for external identities", store.ExternalUserPrefix)
	}
}

// CheckClientID reports why id cannot be a client id, or nil.
func CheckClientID(id string) error {
	var f fields
	if !nameOK(id) {
		f.add("client_id", "must be 1 to %d characters of letters, digits and . _ @ + - :", MaxNameLen)
	}
	return f.err()
}

func checkPassword(f *fields, field, pw string) {
	// A NUL byte is refused at login (no store can hold it in text), so
	// a password holding one could never be used.
	if pw == "" || len(pw) > MaxPasswordLen || !utf8.ValidString(pw) || strings.ContainsRune(pw, 0) {
		f.add(field, "must be 1 to %d bytes of UTF-8 without NUL characters", MaxPasswordLen)
	}
}

func checkScopes(f *fields, field string, scopes []string) {
	if len(scopes) > MaxScopes {
		f.add(field, "at most %d scopes", MaxScopes)
		return
	}
	for _, s := range scopes {
		if !scopeOK(s) {
			f.add(field, "scope %q is not a valid scope token (RFC 6749 §3.3)", truncate(s))
			return
		}
	}
}

// scopeOK is RFC 6749's scope-token: %x21 / %x23-5B / %x5D-7E.
func scopeOK(s string) bool {
	if s == "" || len(s) > MaxScopeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

func checkGrants(f *fields, field string, grants []string) {
	if len(grants) == 0 {
		f.add(field, "at least one grant type is required")
		return
	}
	if len(grants) > 16 {
		f.add(field, "too many grant types")
		return
	}
	for _, g := range grants {
		if !knownGrant(g) {
			f.add(field, "unknown grant type %q", truncate(g))
			return
		}
	}
}

func checkLifetime(f *fields, field string, d time.Duration) {
	if d < 0 || d > MaxLifetime {
		f.add(field, "must be between 0 and %d seconds", int64(MaxLifetime/time.Second))
	}
}
