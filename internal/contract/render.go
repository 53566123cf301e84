package contract

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
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

// logCause logs the internal cause of 5xx answers; clients never see it.
func logCause(log *slog.Logger, r *http.Request, e *oauth.Error) {
	if e.Status >= 500 && e.Cause != nil {
		log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("path", r.URL.Path), slog.String("code", e.Code), slog.String("err", e.Cause.Error()))
	}
}

// WriteOAuthError renders e as RFC 6749 §5.2 JSON.
func WriteOAuthError(w http.ResponseWriter, log *slog.Logger, r *http.Request, e *oauth.Error) {
	logCause(log, r, e)
	if e.Status == http.StatusUnauthorized && e.BasicAuth {
		w.Header().Set("WWW-Authenticate", `Basic realm="tokengate", charset="UTF-8"`)
	}
	retryAfter(w, e.RetryAfter)
	body := struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description}
	WriteJSON(w, e.Status, body)
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
