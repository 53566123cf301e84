package contract

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/oauth"
)

// WriteJSON writes v as JSON with status and the no-store headers every
// answer carrying or about tokens needs (RFC 6749 §5.1).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// retryAfter sets Retry-After in whole seconds, at least 1.
func retryAfter(w http.ResponseWriter, d time.Duration) {
	if d <= 0 {
		return
	}
	secs := int64((d + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
}

// HTTPStatus maps a core error to its HTTP status: RFC 6749 §5.2 (400,
// and 401 for invalid_client), RFC 6750 §3.1 (401 for invalid_token or
// without credentials, 403 for insufficient_scope or without the
// permission), RFC 6585 (429 while locked out), 413 for
// an oversized body, 500 and 503 for the server's own failures. It is the
// one place where the core's errors meet HTTP; dialects start from it.
func HTTPStatus(e *oauth.Error) int {
	switch e.Reason {
	case oauth.ReasonTooLarge:
		return http.StatusRequestEntityTooLarge
	case oauth.ReasonLocked:
		return http.StatusTooManyRequests
	case oauth.ReasonForbidden:
		return http.StatusForbidden
	case oauth.ReasonNoCredentials:
		return http.StatusUnauthorized
	}
	switch e.Code {
	case oauth.CodeInvalidClient, oauth.CodeInvalidToken:
		return http.StatusUnauthorized
	case oauth.CodeInsufficientScope:
		return http.StatusForbidden
	case oauth.CodeServerError:
		return http.StatusInternalServerError
	case oauth.CodeTemporarilyUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// usedBasic tells whether the request carried HTTP Basic credentials; a
// 401 then names the Basic scheme (RFC 6749 §5.2).
func usedBasic(r *http.Request) bool {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "Basic")
}

// logCause logs the internal cause of 5xx answers; clients never see it.
func logCause(log *slog.Logger, r *http.Request, e *oauth.Error) {
	if HTTPStatus(e) >= 500 && e.Cause != nil {
		log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("path", r.URL.Path), slog.String("code", e.Code), slog.String("err", e.Cause.Error()))
	}
}

// WriteOAuthError renders e as RFC 6749 §5.2 JSON.
func WriteOAuthError(w http.ResponseWriter, log *slog.Logger, r *http.Request, e *oauth.Error) {
	logCause(log, r, e)
	status := HTTPStatus(e)
	if status == http.StatusUnauthorized && usedBasic(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="tokengate", charset="UTF-8"`)
	}
	retryAfter(w, e.RetryAfter)
	body := struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description}
	WriteJSON(w, status, body)
}

// tokenBody is the RFC 6749 §5.1 success body.
type tokenBody struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	// IssuedTokenType answers token exchange (RFC 8693 §2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	// IDToken is the OpenID Connect ID token (OIDC Core §3.1.3.3).
	IDToken string `json:"id_token,omitempty"`
}

func writeToken(w http.ResponseWriter, t *oauth.TokenResponse) {
	WriteJSON(w, http.StatusOK, tokenBody{t.AccessToken, t.TokenType, t.ExpiresIn, t.RefreshToken, t.Scope, t.IssuedTokenType, t.IDToken})
}
