package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// errBadAuthorization is an Authorization header that claims to be Bearer
// but is malformed, or is given twice: invalid_request (RFC 6750 §3.1).
var errBadAuthorization = errors.New("bearer: malformed Authorization header")

// Require returns middleware that lets a request through only with a
// valid access token granting every one of scopes. The handler finds the
// token's claims with ClaimsFrom(r.Context()).
//
// Refusals follow RFC 6750 §3: no token (or another scheme) is 401 with a
// bare "WWW-Authenticate: Bearer" challenge; a token that fails
// verification is 401 error="invalid_token"; a valid token without the
// scopes is 403 error="insufficient_scope"; a malformed Authorization
// header is 400 error="invalid_request". A token that cannot be
// introspected because the endpoint is down is 503. Each answer has a
// JSON body {"error", "error_description"} that never echoes the token.
//
// Tokens are read from the Authorization header only, never from the
// query string or the body (RFC 6750 §2.2 and §2.3 are discouraged).
//
// Require panics if a scope is empty or contains a space, a quote or a
// backslash (RFC 6749 §3.3 scope-token syntax): that is a programming
// error, like a bad regexp in regexp.MustCompile.
func (v *Verifier) Require(scopes ...string) func(http.Handler) http.Handler {
	want := slices.Clone(scopes)
	for _, s := range want {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			panic("bearer: Require: invalid scope " + strconv.Quote(s))
		}
	}
	scopeAttr := strings.Join(want, " ")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, err := tokenFromRequest(r)
			if err != nil {
				v.reject(w, err)
				return
			}
			c, err := v.verify(r.Context(), raw)
			if err != nil {
				v.reject(w, err)
				return
			}
			if _, missing := c.missingScope(want); missing {
				v.challenge(w, http.StatusForbidden, "insufficient_scope", "the access token lacks a scope this resource requires", scopeAttr)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c.clone())))
		})
	}
}

// tokenFromRequest reads the token of an "Authorization: Bearer" header.
func tokenFromRequest(r *http.Request) (string, error) {
	vals := r.Header["Authorization"]
	switch len(vals) {
	case 0:
		return "", ErrMissingToken
	case 1:
	default:
		return "", errBadAuthorization
	}
	h := vals[0]
	const scheme = "Bearer"
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", ErrMissingToken // another scheme: no bearer credentials
	}
	rest := h[len(scheme):]
	if rest == "" {
		return "", errBadAuthorization
	}
	if rest[0] != ' ' {
		return "", ErrMissingToken // e.g. "Bearerx": not this scheme
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", errBadAuthorization
	}
	return tok, nil
}

// reject answers a request whose token is missing or refused.
func (v *Verifier) reject(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrMissingToken):
		v.challenge(w, http.StatusUnauthorized, "", "a bearer access token is required", "")
	case errors.Is(err, errBadAuthorization):
		v.challenge(w, http.StatusBadRequest, "invalid_request", "the Authorization header is malformed", "")
	case errors.Is(err, ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "temporarily_unavailable", Description: "the access token cannot be checked now"})
	default:
		v.challenge(w, http.StatusUnauthorized, "invalid_token", describe(err), "")
	}
}

// describe is the client-safe description of a verification failure.
func describe(err error) string {
	for _, d := range [...]struct {
		err  error
		desc string
	}{
		{ErrExpired, "the access token expired"},
		{ErrLifetime, "the access token's lifetime is too long"},
		{ErrNotYetValid, "the access token is not valid yet"},
		{ErrType, "the token is not an access token"},
		{ErrUse, "the token is not an access token"},
		{ErrIssuer, "the access token was issued by another issuer"},
		{ErrAudience, "the access token is not meant for this resource"},
		{ErrInactive, "the access token is not active"},
		{ErrUnknownKey, "the access token was signed by an unknown key"},
		{ErrAlgorithm, "the access token's algorithm is not accepted"},
		{ErrSignature, "the access token's signature is invalid"},
	} {
		if errors.Is(err, d.err) {
			return d.desc
		}
	}
	return "the access token is malformed"
}

// errorBody is the JSON body of a refusal.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Scope       string `json:"scope,omitempty"`
}

// challenge writes a WWW-Authenticate: Bearer challenge (RFC 6750 §3)
// and the JSON body. code "" means a bare challenge (no credentials
// were given).
func (v *Verifier) challenge(w http.ResponseWriter, status int, code, desc, scope string) {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	attr := func(k, val string) {
		b.WriteString(sep)
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(val)
		b.WriteByte('"')
		sep = ", "
	}
	if v.realm != "" {
		attr("realm", v.realm)
	}
	if code != "" {
		attr("error", code)
		attr("error_description", desc)
		if scope != "" {
			attr("scope", scope)
		}
	}
	w.Header().Set("WWW-Authenticate", b.String())
	body := errorBody{Error: code, Description: desc, Scope: scope}
	if code == "" {
		body.Error = "unauthorized"
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
