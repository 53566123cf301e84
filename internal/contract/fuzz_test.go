package contract

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tokengate/tokengate/internal/oauth"
)

// The fuzz tests below run their seed corpora (testdata/fuzz/FuzzX) under
// plain `go test`; `go test -run=NONE -fuzz=FuzzX` explores further. Each
// checks the parser against a small independent model of what it should
// accept, so a crash is not the only failure it can find.

// serverBodyLimit mirrors server.MaxBodyBytes (the server package imports
// this one, so it cannot be referenced here).
const serverBodyLimit = 64 << 10

// fuzzRemoteIP stands in for the server's client-IP resolver.
func fuzzRemoteIP(*http.Request) string { return "192.0.2.1" }

// fuzzKinds turns a fuzzed bit set into the encodings an endpoint allows:
// bit 0 form, bit 1 JSON.
func fuzzKinds(bits uint8) []BodyKind {
	var out []BodyKind
	if bits&1 != 0 {
		out = append(out, BodyForm)
	}
	if bits&2 != 0 {
		out = append(out, BodyJSON)
	}
	return out
}

// FuzzReadParams drives the token request parser as an endpoint does: a
// POST with a fuzzed Content-Type, body, Authorization header and body
// limit goes through ReadParams and, when that succeeds, through
// tokenRequest (which reads the client credentials). Besides not
// panicking it checks:
//
//   - a successful parse equals an independent model of the body: no
//     parameter given twice (JSON nulls included), valid UTF-8 only, at
//     most maxParams parameters, exactly the values sent;
//   - whatever the model accepts is accepted (no spurious refusals);
//   - a refusal is invalid_request with 400, or 413 for a body over the
//     limit, with a description;
//   - the token request carries the parameters unchanged, and client
//     credentials come from Basic or the body, never both.
func FuzzReadParams(f *testing.F) {
	f.Fuzz(func(t *testing.T, contentType string, body []byte, authorization string, limit uint16, allowed uint8) {
		lim := int64(serverBodyLimit)
		if limit > 0 {
			lim = int64(limit)
		}
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", bytes.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, lim)
		kinds := fuzzKinds(allowed)

		p, oerr := ReadParams(r, kinds...)
		want, wantOK, tooLarge := modelParams(contentType, body, lim, kinds)
		if oerr != nil {
			if oerr.Code != oauth.CodeInvalidRequest || oerr.Description == "" {
				t.Fatalf("refusal is not a described invalid_request: %+v", oerr)
			}
			switch {
			case tooLarge && HTTPStatus(oerr) != http.StatusRequestEntityTooLarge:
				t.Fatalf("body of %d bytes over a %d limit: status %d, want 413", len(body), lim, HTTPStatus(oerr))
			case !tooLarge && HTTPStatus(oerr) != http.StatusBadRequest:
				t.Fatalf("refusal with status %d, want 400: %v", HTTPStatus(oerr), oerr)
			}
			if wantOK {
				t.Fatalf("refused a request the model accepts (%v): ct=%q body=%q", oerr, contentType, body)
			}
			return
		}
		// The invariants, stated on their own.
		if len(p) > maxParams {
			t.Fatalf("%d parameters accepted, limit %d", len(p), maxParams)
		}
		for k, v := range p {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				t.Fatalf("invalid UTF-8 accepted: %q=%q", k, v)
			}
		}
		if !wantOK {
			t.Fatalf("accepted a request the model refuses: ct=%q body=%q params=%q", contentType, body, p)
		}
		if !maps.Equal(p, want) {
			t.Fatalf("parsed %q, want %q (body %q)", p, want, body)
		}

		tr, oerr := tokenRequest(r, p, fuzzRemoteIP)
		checkTokenRequest(t, authorization, p, tr, oerr)
	})
}

// modelParams is what ReadParams should return for a body: the
// parameters and whether the request is acceptable, and whether a refusal
// must be 413.
func modelParams(contentType string, body []byte, limit int64, allowed []BodyKind) (Params, bool, bool) {
	kind := BodyNone
	if contentType != "" {
		mt, params, err := mime.ParseMediaType(contentType)
		if err != nil {
			return nil, false, false
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return nil, false, false
		}
		switch mt {
		case "application/x-www-form-urlencoded":
			kind = BodyForm
		case "application/json":
			kind = BodyJSON
		default:
			return nil, false, false
		}
	}
	if int64(len(body)) > limit {
		return nil, false, true
	}
	if kind == BodyNone {
		return Params{}, len(body) == 0, false
	}
	ok := false
	for _, a := range allowed {
		ok = ok || a == kind
	}
	if !ok {
		return nil, false, false
	}
	if kind == BodyForm {
		p, ok := modelForm(string(body))
		return p, ok, false
	}
	p, ok := modelJSON(body)
	return p, ok, false
}

// modelForm splits an application/x-www-form-urlencoded body by hand.
func modelForm(body string) (Params, bool) {
	if strings.Count(body, "&") >= 10000 {
		// net/url's own cap on the number of pairs (GODEBUG
		// urlmaxqueryparams); far beyond maxParams anyway.
		return nil, false
	}
	p := Params{}
	for _, pair := range strings.Split(body, "&") {
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return nil, false
		}
		rk, rv, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(rk)
		if err != nil {
			return nil, false
		}
		v, err := url.QueryUnescape(rv)
		if err != nil {
			return nil, false
		}
		if _, dup := p[k]; dup {
			return nil, false
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, false
		}
		p[k] = v
	}
	if len(p) > maxParams {
		return nil, false
	}
	return p, true
}

// modelJSON accepts a valid UTF-8 JSON object whose values are all
// scalars and whose keys are all distinct, at most maxParams of them. A
// null value counts as given (for repetition and the limit) but is left
// out of the parameters. The values are cross-checked against
// encoding/json's own decoding.
func modelJSON(body []byte) (Params, bool) {
	if !utf8.Valid(body) || !json.Valid(body) {
		return nil, false
	}
	var whole any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&whole); err != nil {
		return nil, false
	}
	obj, ok := whole.(map[string]any)
	if !ok {
		return nil, false
	}
	// Repetitions are invisible in the decoded map: count the keys in the
	// token stream.
	dec = json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, false
		}
		k := kt.(string)
		if seen[k] {
			return nil, false
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, false
		}
	}
	if len(seen) > maxParams {
		return nil, false
	}
	p := Params{}
	for k, v := range obj {
		switch x := v.(type) {
		case nil:
		case string:
			p[k] = x
		case json.Number:
			p[k] = x.String()
		case bool:
			p[k] = strconv.FormatBool(x)
		default:
			return nil, false
		}
	}
	return p, true
}

// checkTokenRequest checks tokenRequest's output against the parameters
// and the Authorization header it was given.
func checkTokenRequest(t *testing.T, authorization string, p Params, tr *oauth.TokenRequest, oerr *oauth.Error) {
	t.Helper()
	id, sec, basic, berr := ParseBasic(authorization)
	switch {
	case berr != nil:
		if oerr == nil || oerr.Code != oauth.CodeInvalidClient || HTTPStatus(oerr) != http.StatusUnauthorized {
			t.Fatalf("malformed Basic header %q: got %+v, want invalid_client 401", authorization, oerr)
		}
		return
	case basic && p.Has("client_secret"):
		if oerr == nil || oerr.Code != oauth.CodeInvalidRequest {
			t.Fatalf("credentials in Basic and body accepted: %+v", tr)
		}
		return
	case basic && p.Has("client_id") && p.Get("client_id") != id:
		if oerr == nil || oerr.Code != oauth.CodeInvalidRequest {
			t.Fatalf("client_id in body differing from Basic accepted: %+v", tr)
		}
		return
	}
	if oerr != nil {
		t.Fatalf("tokenRequest refused parsed parameters: %v", oerr)
	}
	if !basic {
		id, sec = p.Get("client_id"), p.Get("client_secret")
	}
	if tr.ClientID != id || tr.ClientSecret != sec {
		t.Fatalf("client credentials %q/%q, want %q/%q (basic=%v)", tr.ClientID, tr.ClientSecret, id, sec, basic)
	}
	for name, got := range map[string]string{
		"grant_type": tr.GrantType, "username": tr.Username, "password": tr.Password,
		"refresh_token": tr.RefreshToken, "scope": tr.Scope, "api_key": tr.APIKey,
		"subject_token": tr.SubjectToken, "subject_token_type": tr.SubjectTokenType,
		"audience": tr.Audience, "assertion": tr.Assertion,
	} {
		if got != p.Get(name) {
			t.Fatalf("%s = %q, sent %q", name, got, p.Get(name))
		}
	}
	if tr.ScopeGiven != p.Has("scope") {
		t.Fatalf("ScopeGiven = %v with scope given %v", tr.ScopeGiven, p.Has("scope"))
	}
	if tr.RemoteIP != "192.0.2.1" {
		t.Fatalf("RemoteIP %q", tr.RemoteIP)
	}
}

// encodeBasic builds an Authorization header the way RFC 6749 §2.3.1
// asks clients to: each part form-urlencoded, then base64.
func encodeBasic(scheme, id, secret string) string {
	return scheme + " " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// FuzzParseBasic feeds arbitrary Authorization headers to ParseBasic.
// Another scheme (or none) is "no Basic header", never an error; a Basic
// header either fails or yields a valid UTF-8 id and secret that encode
// back to the same values.
func FuzzParseBasic(f *testing.F) {
	f.Fuzz(func(t *testing.T, h string) {
		id, sec, ok, err := ParseBasic(h)
		scheme, _, _ := strings.Cut(h, " ")
		isBasic := h != "" && strings.EqualFold(scheme, "Basic")
		if ok != isBasic {
			t.Fatalf("ok=%v for %q (Basic scheme: %v)", ok, h, isBasic)
		}
		if !ok {
			if err != nil || id != "" || sec != "" {
				t.Fatalf("not Basic, yet %q %q %v", id, sec, err)
			}
			return
		}
		if err != nil {
			if id != "" || sec != "" {
				t.Fatalf("error %v returned credentials %q %q", err, id, sec)
			}
			if err.Error() != "malformed Basic credentials" {
				t.Fatalf("error %q may echo the header", err)
			}
			return
		}
		if !utf8.ValidString(id) || !utf8.ValidString(sec) {
			t.Fatalf("invalid UTF-8 credentials %q %q", id, sec)
		}
		id2, sec2, ok2, err2 := ParseBasic(encodeBasic("Basic", id, sec))
		if !ok2 || err2 != nil || id2 != id || sec2 != sec {
			t.Fatalf("re-encoded %q/%q parse as %q/%q ok=%v err=%v", id, sec, id2, sec2, ok2, err2)
		}
	})
}

// FuzzBasicRoundTrip encodes an id and a secret as RFC 6749 §2.3.1 says
// (form-urlencoded, then base64), in a fuzzed spelling of the scheme and
// padding, and checks ParseBasic returns them unchanged, or refuses them
// exactly when either is not valid UTF-8. It also checks the common
// client shortcut of not form-urlencoding values that need no encoding.
func FuzzBasicRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, id, secret string, variant uint8) {
		scheme := [...]string{"Basic", "basic", "BASIC", "bAsIc"}[variant&3]
		h := encodeBasic(scheme, id, secret)
		if variant&4 != 0 {
			h = strings.Replace(h, " ", "   ", 1) + " \t"
		}
		gid, gsec, ok, err := ParseBasic(h)
		if !ok {
			t.Fatalf("%q not recognised as Basic", h)
		}
		valid := utf8.ValidString(id) && utf8.ValidString(secret)
		if !valid {
			if err == nil {
				t.Fatalf("invalid UTF-8 %q/%q accepted", id, secret)
			}
			return
		}
		if err != nil || gid != id || gsec != secret {
			t.Fatalf("encoded %q/%q, parsed %q/%q err=%v", id, secret, gid, gsec, err)
		}
		// Unencoded "id:secret", as many clients send it: identical when
		// neither part holds a character form-decoding changes, and the
		// id has no colon.
		if !strings.ContainsAny(id, ":%+") && !strings.ContainsAny(secret, "%+") {
			raw := "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
			gid, gsec, ok, err = ParseBasic(raw)
			if !ok || err != nil || gid != id || gsec != secret {
				t.Fatalf("unencoded %q/%q parsed as %q/%q ok=%v err=%v", id, secret, gid, gsec, ok, err)
			}
		}
	})
}

// TestReadParamsTooLarge checks the limit is reported as 413 whatever the
// encoding, since a fuzzer rarely builds bodies near the real limit.
func TestReadParamsTooLarge(t *testing.T) {
	big := bytes.Repeat([]byte("a"), serverBodyLimit+1)
	for _, ct := range []string{"", "application/x-www-form-urlencoded", "application/json"} {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", bytes.NewReader(big))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, serverBodyLimit)
		_, oerr := ReadParams(r, BodyForm, BodyJSON)
		if oerr == nil || HTTPStatus(oerr) != http.StatusRequestEntityTooLarge {
			t.Fatalf("%q: %+v, want 413", ct, oerr)
		}
	}
}

// errReader fails every read, as a connection reset mid-body does.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestReadParamsBodyError checks a failing body is a 400 that does not
// leak the transport error.
func TestReadParamsBodyError(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", io.NopCloser(errReader{}))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, oerr := ReadParams(r, BodyForm)
	if oerr == nil || HTTPStatus(oerr) != http.StatusBadRequest || strings.Contains(oerr.Description, "reset") {
		t.Fatalf("%+v", oerr)
	}
}
