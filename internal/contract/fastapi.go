package contract

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/tokengate/tokengate/internal/oauth"
)

// The FastAPI dialect (seed 001): validation errors are 422 with
// Pydantic's {"detail":[{type, loc, msg}]} body, other errors are
// {"detail": "..."} with 400 (or 404 for a refresh token that never
// existed), and token_type is lower-case "bearer".

// fastAPIIssue is one Pydantic validation error.
type fastAPIIssue struct {
	Type  string `json:"type"`
	Loc   []any  `json:"loc"`
	Msg   string `json:"msg"`
	Input any    `json:"input"`
}

func writeFastAPIValidation(w http.ResponseWriter, issues ...fastAPIIssue) {
	WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": issues})
}

func missingField(where, name string) fastAPIIssue {
	return fastAPIIssue{Type: "missing", Loc: []any{where, name}, Msg: "Field required"}
}

func writeFastAPIDetail(w http.ResponseWriter, status int, detail string) {
	WriteJSON(w, status, map[string]string{"detail": detail})
}

// writeFastAPIError renders a core error in the FastAPI dialect.
func writeFastAPIError(env *Env, w http.ResponseWriter, r *http.Request, e *oauth.Error, where string) {
	logCause(env.Log, r, e)
	retryAfter(w, e.RetryAfter)
	switch status := HTTPStatus(e); {
	case status == http.StatusRequestEntityTooLarge || status == http.StatusTooManyRequests || status >= 500:
		writeFastAPIDetail(w, status, e.Description)
	case e.Code == oauth.CodeInvalidRequest:
		loc := []any{where}
		if e.Param != "" {
			loc = append(loc, e.Param)
		}
		typ := "value_error"
		if e.Reason == oauth.ReasonMissing {
			typ = "missing"
		}
		writeFastAPIValidation(w, fastAPIIssue{Type: typ, Loc: loc, Msg: e.Description})
	case e.Reason == oauth.ReasonUnknownToken:
		writeFastAPIDetail(w, http.StatusNotFound, "Refresh token does not exist")
	case e.Reason == oauth.ReasonTokenExpired || e.Reason == oauth.ReasonTokenReused || e.Reason == oauth.ReasonTokenRevoked:
		writeFastAPIDetail(w, http.StatusBadRequest, "Refresh token expired or is already used")
	case e.Code == oauth.CodeInvalidScope:
		writeFastAPIDetail(w, http.StatusBadRequest, e.Description)
	default:
		writeFastAPIDetail(w, http.StatusBadRequest, "Incorrect username or password")
	}
}

type fastAPITokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type"`
}

// fastAPILogin serves POST /auth/access-token: an OAuth2-compatible form
// login whose client credentials are optional and checked when given.
func fastAPILogin(env *Env, prof oauth.Profile) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, kerr := BodyKindOf(r)
		if kerr != nil || kind == BodyJSON {
			// FastAPI reads form fields only: anything else has none.
			if _, err := readBody(r); err != nil {
				writeFastAPIError(env, w, r, err, "body")
				return
			}
			writeFastAPIValidation(w, missingField("body", "username"), missingField("body", "password"))
			return
		}
		p, oerr := ReadParams(r, BodyForm)
		if oerr != nil {
			writeFastAPIError(env, w, r, oerr, "body")
			return
		}
		var issues []fastAPIIssue
		for _, f := range [...]string{"username", "password"} {
			if !p.Has(f) {
				issues = append(issues, missingField("body", f))
			}
		}
		if gt := p.Get("grant_type"); p.Has("grant_type") && gt != "password" {
			issues = append(issues, fastAPIIssue{Type: "string_pattern_mismatch", Loc: []any{"body", "grant_type"}, Msg: "String should match pattern '^password$'", Input: gt})
		}
		if len(issues) > 0 {
			writeFastAPIValidation(w, issues...)
			return
		}
		id, sec, oerr := ClientCredentials(r, p)
		if oerr != nil {
			writeFastAPIError(env, w, r, oerr, "body")
			return
		}
		tr := &oauth.TokenRequest{GrantType: oauth.GrantPassword, ClientID: id, ClientSecret: sec,
			Username: p.Get("username"), Password: p.Get("password"), Scope: p.Get("scope"), ScopeGiven: p.Has("scope"), RemoteIP: env.RemoteIP(r)}
		resp, err := env.Service.Token(r.Context(), tr, &prof)
		if err != nil {
			writeFastAPIError(env, w, r, oauth.AsError(err), "body")
			return
		}
		WriteJSON(w, http.StatusOK, fastAPITokens{resp.AccessToken, resp.RefreshToken, "bearer"})
	})
}

// fastAPIRefresh serves POST /auth/refresh-token with a JSON body
// {"refresh_token": "..."}; the refresh token is the only credential.
func fastAPIRefresh(env *Env, prof oauth.Profile) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, oerr := readBody(r)
		if oerr != nil {
			writeFastAPIError(env, w, r, oerr, "body")
			return
		}
		if !utf8.Valid(body) {
			// As FastAPI: a body that is not UTF-8 fails before it is
			// parsed as JSON (encoding/json would turn it into U+FFFD).
			writeFastAPIDetail(w, http.StatusBadRequest, "There was an error parsing the body")
			return
		}
		if len(body) == 0 {
			// As FastAPI: no body at all is the body missing.
			writeFastAPIValidation(w, fastAPIIssue{Type: "missing", Loc: []any{"body"}, Msg: "Field required"})
			return
		}
		if !fastAPIJSON(r) {
			// As FastAPI: a body of another type is not decoded, so it
			// is not an object.
			writeFastAPIValidation(w, fastAPIIssue{Type: "model_attributes_type", Loc: []any{"body"}, Msg: "Input should be a valid dictionary or object to extract fields from"})
			return
		}
		var req map[string]json.RawMessage
		if err := json.Unmarshal(body, &req); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				// As FastAPI: the location names the character where
				// decoding failed.
				writeFastAPIValidation(w, fastAPIIssue{Type: "json_invalid", Loc: []any{"body", jsonErrorPos(body, se)}, Msg: "JSON decode error"})
				return
			}
			req = nil // valid JSON, but not an object
		}
		if req == nil {
			if strings.TrimSpace(string(body)) == "null" {
				writeFastAPIValidation(w, fastAPIIssue{Type: "missing", Loc: []any{"body"}, Msg: "Field required"})
				return
			}
			writeFastAPIValidation(w, fastAPIIssue{Type: "model_attributes_type", Loc: []any{"body"}, Msg: "Input should be a valid dictionary or object to extract fields from"})
			return
		}
		raw, ok := req["refresh_token"]
		if !ok {
			writeFastAPIValidation(w, missingField("body", "refresh_token"))
			return
		}
		var rt string
		if err := json.Unmarshal(raw, &rt); err != nil {
			writeFastAPIValidation(w, fastAPIIssue{Type: "string_type", Loc: []any{"body", "refresh_token"}, Msg: "Input should be a valid string"})
			return
		}
		resp, err := env.Service.RefreshAsBearer(r.Context(), rt, "", false, &prof)
		if err != nil {
			if e := oauth.AsError(err); e.Code == oauth.CodeInvalidClient {
				// A session of a confidential client: it must refresh
				// with its credentials, which this route cannot take.
				writeFastAPIDetail(w, http.StatusUnauthorized, "client authentication is required to refresh this session")
				return
			}
			writeFastAPIError(env, w, r, oauth.AsError(err), "body")
			return
		}
		WriteJSON(w, http.StatusOK, fastAPITokens{resp.AccessToken, resp.RefreshToken, "bearer"})
	})
}

// fastAPIJSON reports whether FastAPI decodes the request's body as JSON:
// with no Content-Type, application/json or application/*+json.
func fastAPIJSON(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && (sub == "json" || strings.HasSuffix(sub, "+json"))
}

// jsonErrorPos is the character index at which a JSON decode error
// occurred, as Python's json module reports it: the offending character,
// or the end of the input.
func jsonErrorPos(body []byte, se *json.SyntaxError) int {
	off := int(se.Offset)
	if off > 0 && off <= len(body) && !strings.HasPrefix(se.Error(), "unexpected end") {
		off-- // encoding/json counts the offending byte as read
	}
	return utf8.RuneCount(body[:min(max(off, 0), len(body))])
}

// fastAPIKeyLogin serves GET /auth/access-token?key=KEY.
func fastAPIKeyLogin(env *Env, prof oauth.Profile) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		q := r.URL.Query()
		keys, ok := q["key"]
		if !ok {
			writeFastAPIValidation(w, missingField("query", "key"))
			return
		}
		tr := &oauth.TokenRequest{GrantType: oauth.GrantAPIKey, APIKey: keys[len(keys)-1], RemoteIP: env.RemoteIP(r)}
		resp, err := env.Service.Token(r.Context(), tr, &prof)
		if err != nil {
			e := oauth.AsError(err)
			if e.Code == oauth.CodeInvalidClient || e.Code == oauth.CodeUnauthorizedClient {
				// A route without a usable default client is a
				// configuration error, not the caller's.
				e = &oauth.Error{Code: oauth.CodeServerError, Description: "API key login is not configured", Cause: errors.New("fastapi.api_key route needs a public default_client allowed the api-key grant")}
			}
			if e.Code == oauth.CodeInvalidGrant {
				writeFastAPIDetail(w, http.StatusBadRequest, "Invalid API key")
				return
			}
			writeFastAPIError(env, w, r, e, "query")
			return
		}
		WriteJSON(w, http.StatusOK, fastAPITokens{AccessToken: resp.AccessToken, TokenType: "bearer"})
	})
}
