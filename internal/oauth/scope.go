package oauth

import (
	"slices"
	"strings"

	"github.com/tokengate/tokengate/internal/store"
)

// maxScopeLen bounds the scope parameter so parsing stays cheap.
const maxScopeLen = 2048

// ParseScope splits a space-delimited scope string (RFC 6749 §3.3) into
// its distinct tokens, in order.
func ParseScope(s string) []string {
	if s == "" {
		return nil
	}
	fields := strings.Fields(s)
	out := fields[:0]
	for _, f := range fields {
		if !contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// resolveScopes decides the granted scopes. The client's scopes bound the
// request; a subject's scopes, when not nil, bound it further. Omitted
// scope gives the client's scopes within the subject's.
func resolveScopes(requested string, given bool, client, subject []string) ([]string, *Error) {
	allowed := client
	if subject != nil {
		allowed = intersect(client, subject)
	}
	if !given || strings.TrimSpace(requested) == "" {
		return allowed, nil
	}
	if len(requested) > maxScopeLen {
		return nil, errInvalidScope("scope is too long")
	}
	req := ParseScope(requested)
	for _, sc := range req {
		if !validScopeToken(sc) {
			return nil, errInvalidScope("scope contains invalid characters")
		}
		if !contains(allowed, sc) {
			return nil, errInvalidScope("requested scope is not allowed: " + sc)
		}
	}
	return req, nil
}

// narrowScopes checks a refresh request's scope is within the original.
func narrowScopes(requested string, given bool, original []string) ([]string, *Error) {
	return resolveScopes(requested, given, original, nil)
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		if contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// validScopeToken enforces RFC 6749 §3.3's scope-token syntax:
// %x21 / %x23-5B / %x5D-7E.
func validScopeToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

// AdminScope is the scope of the admin API; "tokengate:admin:" followed by
// more is a finer admin scope.
const AdminScope = "tokengate:admin"

// IsAdminScope reports whether s is an admin API scope.
func IsAdminScope(s string) bool {
	return s == AdminScope || strings.HasPrefix(s, AdminScope+":")
}

// limitAdmin keeps admin scopes out of tokens issued to a user (password,
// API key, external identity, token exchange) unless the operator allows
// it for client c (admin_scope_clients): an admin scope requested
// explicitly is invalid_scope; one that would come by default is dropped.
func (s *Service) limitAdmin(c *store.Client, scopes []string, given bool) ([]string, *Error) {
	if !slices.ContainsFunc(scopes, IsAdminScope) || slices.Contains(s.adminClients, c.ID) {
		return scopes, nil
	}
	if given {
		return nil, errInvalidScope("admin scopes are granted only through client_credentials")
	}
	return slices.DeleteFunc(slices.Clone(scopes), IsAdminScope), nil
}
