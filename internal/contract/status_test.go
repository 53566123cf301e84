package contract

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokengate/tokengate/internal/oauth"
)

// TestHTTPStatusMapsCoreErrors checks the one mapping from core errors to
// HTTP: the core says what went wrong, the edge picks the status.
func TestHTTPStatusMapsCoreErrors(t *testing.T) {
	cases := []struct {
		e    oauth.Error
		want int
	}{
		{oauth.Error{Code: oauth.CodeInvalidRequest}, http.StatusBadRequest},
		{oauth.Error{Code: oauth.CodeInvalidGrant, Reason: oauth.ReasonTokenReused}, http.StatusBadRequest},
		{oauth.Error{Code: oauth.CodeInvalidScope}, http.StatusBadRequest},
		{oauth.Error{Code: oauth.CodeUnauthorizedClient}, http.StatusBadRequest},
		{oauth.Error{Code: oauth.CodeUnauthorizedClient, Reason: oauth.ReasonForbidden}, http.StatusForbidden},
		{oauth.Error{Code: oauth.CodeInvalidClient}, http.StatusUnauthorized},
		{oauth.Error{Code: oauth.CodeInvalidRequest, Reason: oauth.ReasonNoCredentials}, http.StatusUnauthorized},
		{oauth.Error{Code: oauth.CodeInvalidRequest, Reason: oauth.ReasonLocked}, http.StatusTooManyRequests},
		{oauth.Error{Code: oauth.CodeInvalidRequest, Reason: oauth.ReasonTooLarge}, http.StatusRequestEntityTooLarge},
		{oauth.Error{Code: oauth.CodeInvalidToken}, http.StatusUnauthorized},
		{oauth.Error{Code: oauth.CodeInsufficientScope}, http.StatusForbidden},
		{oauth.Error{Code: oauth.CodeServerError}, http.StatusInternalServerError},
		{oauth.Error{Code: oauth.CodeTemporarilyUnavailable}, http.StatusServiceUnavailable},
		{*oauth.AsError(http.ErrAbortHandler), http.StatusInternalServerError},
	}
	for _, tc := range cases {
		if got := HTTPStatus(&tc.e); got != tc.want {
			t.Errorf("%s/%s: %d, want %d", tc.e.Code, tc.e.Reason, got, tc.want)
		}
	}
}

// TestBasicChallengeOnlyForBasicClients checks RFC 6749 §5.2: a 401 names
// the Basic scheme when the client used it, and only then.
func TestBasicChallengeOnlyForBasicClients(t *testing.T) {
	e := &oauth.Error{Code: oauth.CodeInvalidClient, Description: "client authentication failed"}
	for _, tc := range []struct {
		auth string
		want bool
	}{{"Basic Zm9vOmJhcg==", true}, {"basic Zm9vOmJhcg==", true}, {"Bearer x", false}, {"", false}} {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		WriteOAuthError(w, slog.New(slog.DiscardHandler), r, e)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", w.Code)
		}
		if got := w.Header().Get("WWW-Authenticate") != ""; got != tc.want {
			t.Errorf("Authorization %q: WWW-Authenticate present = %v, want %v", tc.auth, got, tc.want)
		}
	}
}
