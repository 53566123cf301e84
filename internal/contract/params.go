// Package contract holds tokengate's HTTP dialects: the default OAuth 2.0
// endpoints and the documented API contracts it can serve. A contract
// parses its dialect into the core's requests and renders the core's
// answers; it never decides who may log in.
package contract

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tokengate/tokengate/internal/oauth"
)

// maxParams bounds how many parameters one request may carry.
const maxParams = 64

// errTooLarge marks a body over the server's limit; it renders as 413.
var errTooLarge = &oauth.Error{Code: oauth.CodeInvalidRequest, Description: "request body too large", Reason: oauth.ReasonTooLarge}

// errNUL refuses a parameter with a NUL byte before any work: no store
// can take one, and no legitimate value holds one.
var errNUL = oauth.ErrInvalidRequest("parameters must not contain NUL characters")

// Params are a request's body parameters, each given at most once.
type Params map[string]string

// Get returns the value of key, "" when absent.
func (p Params) Get(key string) string { return p[key] }

// Has reports whether key was given (possibly empty).
func (p Params) Has(key string) bool { _, ok := p[key]; return ok }

// BodyKind is how a request's body is encoded.
type BodyKind int

// Body encodings.
const (
	BodyNone BodyKind = iota
	BodyForm
	BodyJSON
)

// BodyKindOf returns the body encoding named by the Content-Type header.
func BodyKindOf(r *http.Request) (BodyKind, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return BodyNone, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return BodyNone, fmt.Errorf("malformed Content-Type")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return BodyNone, fmt.Errorf("unsupported charset %.40q", cs)
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		return BodyForm, nil
	case "application/json":
		return BodyJSON, nil
	}
	return BodyNone, fmt.Errorf("unsupported Content-Type %.60q: send application/x-www-form-urlencoded or application/json", mt)
}

// readBody reads the whole (already size-limited) body.
func readBody(r *http.Request) ([]byte, *oauth.Error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return nil, oauth.ErrInvalidRequest("could not read the request body")
	}
	return b, nil
}

// ReadParams reads the body as a form or a flat JSON object. allowed
// lists the encodings the endpoint accepts. A repeated parameter, a
// non-string JSON value, invalid UTF-8 or another content type is
// invalid_request.
func ReadParams(r *http.Request, allowed ...BodyKind) (Params, *oauth.Error) {
	kind, err := BodyKindOf(r)
	if err != nil {
		return nil, oauth.ErrInvalidRequest(err.Error())
	}
	body, oerr := readBody(r)
	if oerr != nil {
		return nil, oerr
	}
	if kind == BodyNone {
		if len(body) > 0 {
			return nil, oauth.ErrInvalidRequest("missing Content-Type: send application/x-www-form-urlencoded")
		}
		return Params{}, nil
	}
	ok := false
	for _, a := range allowed {
		ok = ok || a == kind
	}
	if !ok {
		return nil, oauth.ErrInvalidRequest("unsupported Content-Type for this endpoint")
	}
	if kind == BodyForm {
		return parseForm(body)
	}
	return parseJSON(body)
}

func parseForm(body []byte) (Params, *oauth.Error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, oauth.ErrInvalidRequest("malformed form body")
	}
	if len(vals) > maxParams {
		return nil, oauth.ErrInvalidRequest("too many parameters")
	}
	p := make(Params, len(vals))
	for k, v := range vals {
		if len(v) > 1 {
			return nil, oauth.ErrRepeated(k)
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v[0]) {
			return nil, oauth.ErrInvalidRequest("parameters must be valid UTF-8")
		}
		if strings.ContainsRune(k, 0) || strings.ContainsRune(v[0], 0) {
			return nil, errNUL
		}
		p[k] = v[0]
	}
	return p, nil
}

// parseJSON reads a flat JSON object of strings (numbers and booleans are
// taken as their text), refusing duplicate keys, which encoding/json
// would silently merge.
func parseJSON(body []byte) (Params, *oauth.Error) {
	if !utf8.Valid(body) {
		return nil, oauth.ErrInvalidRequest("body must be valid UTF-8")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil || t != json.Delim('{') {
		return nil, oauth.ErrInvalidRequest("body must be a JSON object")
	}
	p := Params{}
	// seen holds every key, null ones too: {"scope":null,"scope":"x"}
	// repeats scope as much as two strings do.
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, oauth.ErrInvalidRequest("malformed JSON body")
		}
		k, _ := kt.(string)
		vt, err := dec.Token()
		if err != nil {
			return nil, oauth.ErrInvalidRequest("malformed JSON body")
		}
		var v string
		switch x := vt.(type) {
		case string:
			v = x
		case json.Number:
			v = x.String()
		case bool:
			v = strconv.FormatBool(x)
		case nil:
		default:
			return nil, oauth.ErrInvalidRequest("parameter " + k + " must be a string")
		}
		if strings.ContainsRune(k, 0) || strings.ContainsRune(v, 0) {
			return nil, errNUL
		}
		if seen[k] {
			return nil, oauth.ErrRepeated(k)
		}
		if len(seen) >= maxParams {
			return nil, oauth.ErrInvalidRequest("too many parameters")
		}
		seen[k] = true
		if vt != nil { // null: as if absent
			p[k] = v
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, oauth.ErrInvalidRequest("malformed JSON body")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, oauth.ErrInvalidRequest("trailing data after the JSON object")
	}
	return p, nil
}

// ParseBasic decodes an Authorization: Basic header per RFC 6749 §2.3.1:
// base64 of form-urlencoded id ":" form-urlencoded secret. ok is false
// when there is no Basic header; err is set when there is a malformed one.
func ParseBasic(h string) (id, sec string, ok bool, err error) {
	if h == "" {
		return "", "", false, nil
	}
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, nil
	}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if derr != nil {
		return "", "", true, errors.New("malformed Basic credentials")
	}
	u, p, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", true, errors.New("malformed Basic credentials")
	}
	if id, err = url.QueryUnescape(u); err != nil {
		return "", "", true, errors.New("malformed Basic credentials")
	}
	if sec, err = url.QueryUnescape(p); err != nil {
		return "", "", true, errors.New("malformed Basic credentials")
	}
	if !utf8.ValidString(id) || !utf8.ValidString(sec) {
		return "", "", true, errors.New("malformed Basic credentials")
	}
	return id, sec, true, nil
}

// ClientCredentials takes the client's id and secret from a Basic header
// or the body; using both methods at once is invalid_request.
func ClientCredentials(r *http.Request, p Params) (id, sec string, oerr *oauth.Error) {
	id, sec, basic, err := ParseBasic(r.Header.Get("Authorization"))
	if err != nil {
		return "", "", &oauth.Error{Code: oauth.CodeInvalidClient, Description: err.Error()}
	}
	if basic {
		if p.Has("client_secret") {
			return "", "", oauth.ErrInvalidRequest("client credentials given both in the Authorization header and in the body")
		}
		if p.Has("client_id") && p.Get("client_id") != id {
			return "", "", oauth.ErrInvalidRequest("client_id in the body differs from the Authorization header")
		}
		return id, sec, nil
	}
	return p.Get("client_id"), p.Get("client_secret"), nil
}
