package adminapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tokengate/tokengate/internal/admin"
	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/token"
)

// Page sizes of the list endpoints.
const (
	DefaultLimit = 100
	MaxLimit     = 500
)

// errBadJSON is a body that is not one JSON object of the expected shape.
type errBadJSON struct{ msg string }

func (e *errBadJSON) Error() string { return e.msg }

// errTooLarge is a body over the server's limit.
var errTooLarge = errors.New("request body too large")

// decode reads one JSON object into dst, refusing unknown fields and
// trailing data.
func decode(r *http.Request, dst any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var mbe *http.MaxBytesError
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return errTooLarge
		case errors.Is(err, io.EOF):
			return &errBadJSON{"the request body is empty; a JSON object is expected"}
		case errors.As(err, &ute):
			return &admin.InvalidError{Fields: []admin.FieldError{{Field: ute.Field, Message: "must be a JSON " + jsonKind(ute.Type.Kind().String())}}}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return &errBadJSON{"unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")}
		}
		return &errBadJSON{"malformed JSON"}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
		return &errBadJSON{"trailing data after the JSON object"}
	}
	return nil
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		return "number"
	case k == "slice":
		return "array"
	case k == "struct", k == "map", k == "ptr":
		return "object"
	}
	return k
}

// fail answers an error of a handler.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var inv *admin.InvalidError
	var bad *errBadJSON
	var nf *notFound
	switch {
	case errors.As(err, &inv):
		problem(w, http.StatusUnprocessableEntity, "invalid_fields", "some fields are invalid", inv.Fields)
	case errors.As(err, &bad):
		problem(w, http.StatusBadRequest, "malformed_request", bad.msg, nil)
	case errors.Is(err, errTooLarge):
		problem(w, http.StatusRequestEntityTooLarge, "too_large", "request body too large", nil)
	case errors.As(err, &nf):
		problem(w, http.StatusNotFound, "not_found", nf.what+" not found", nil)
	case errors.Is(err, store.ErrNotFound):
		problem(w, http.StatusNotFound, "not_found", "not found", nil)
	case errors.Is(err, store.ErrConflict):
		problem(w, http.StatusConflict, "conflict", conflictMessage(err), nil)
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, secret.ErrBusy), errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", "1")
		problem(w, http.StatusServiceUnavailable, "unavailable", "the server is busy or its store is unavailable; retry", nil)
	default:
		a.o.Logger.Error("admin: request failed", "path", r.URL.Path, "err", err)
		problem(w, http.StatusInternalServerError, "server_error", "internal error", nil)
	}
}

// conflictMessage says what already exists without echoing internals.
func conflictMessage(err error) string {
	var c *conflict
	if errors.As(err, &c) {
		return c.msg
	}
	return "the record already exists"
}

// notFound names the missing record.
type notFound struct {
	what string
	err  error
}

func (e *notFound) Error() string { return e.what + ": " + e.err.Error() }
func (e *notFound) Unwrap() error { return e.err }

type conflict struct {
	msg string
	err error
}

func (e *conflict) Error() string { return e.msg }
func (e *conflict) Unwrap() error { return e.err }

// named labels store errors with the kind of record they concern.
func named(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return &notFound{what: what, err: err}
	case errors.Is(err, store.ErrConflict):
		return &conflict{msg: "the " + what + " already exists", err: err}
	}
	return err
}

// pageParams reads ?limit= and ?cursor=.
func pageParams(q url.Values) (int, string, error) {
	var fe []admin.FieldError
	limit := DefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			fe = append(fe, admin.FieldError{Field: "limit", Message: fmt.Sprintf("must be an integer from 1 to %d", MaxLimit)})
		} else {
			limit = n
		}
	}
	var after string
	if v := q.Get("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		// The cursor goes to the store's query: one that no record name
		// could be (NUL, invalid UTF-8) is refused here, not by the store.
		if err != nil || len(b) == 0 || len(b) > 256 || !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
			fe = append(fe, admin.FieldError{Field: "cursor", Message: "must be a next_cursor value from a previous page"})
		} else {
			after = string(b)
		}
	}
	if fe != nil {
		return 0, "", &admin.InvalidError{Fields: fe}
	}
	return limit, after, nil
}

// cut returns the first limit items and, when more follow, the cursor of
// the next page (the key of the page's last item).
func cut[T any](items []T, key func(T) string, limit int) ([]T, *string) {
	if len(items) <= limit {
		return items, nil
	}
	next := base64.RawURLEncoding.EncodeToString([]byte(key(items[limit-1])))
	return items[:limit], &next
}

// list is a page of a list endpoint.
type list[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ---- users ----

type userJSON struct {
	Username        string     `json:"username"`
	Scopes          []string   `json:"scopes"`
	Disabled        bool       `json:"disabled"`
	HasPassword     bool       `json:"has_password"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	SessionsEndedAt *time.Time `json:"sessions_ended_at"`
}

func userOut(u store.User) userJSON {
	return userJSON{Username: u.Username, Scopes: nonNil(u.Scopes), Disabled: u.Disabled, HasPassword: u.PasswordHash != "",
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), SessionsEndedAt: optTime(u.NotBefore)}
}

type sessionsJSON struct {
	SessionsEnded int `json:"sessions_ended"`
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		Username string   `json:"username"`
		Password string   `json:"password"`
		Scopes   []string `json:"scopes"`
		Disabled bool     `json:"disabled"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := a.o.Users.Create(r.Context(), admin.NewUser{Username: in.Username, Password: in.Password, Scopes: in.Scopes, Disabled: in.Disabled})
	if err != nil {
		return named("user", err)
	}
	a.audit(w, r, c, "user.create", u.Username)
	w.Header().Set("Location", Prefix+"/users/"+url.PathEscape(u.Username))
	writeJSON(w, http.StatusCreated, userOut(u))
	return nil
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, c *call) error {
	limit, after, err := pageParams(r.URL.Query())
	if err != nil {
		return err
	}
	// One more than the page tells whether another page follows.
	us, err := a.o.Users.Page(r.Context(), after, limit+1)
	if err != nil {
		return err
	}
	items, next := cut(us, func(u store.User) string { return u.Username }, limit)
	out := list[userJSON]{Items: make([]userJSON, 0, len(items)), NextCursor: next}
	for _, u := range items {
		out.Items = append(out.Items, userOut(u))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := a.o.Users.Get(r.Context(), c.params[0])
	if err != nil {
		return named("user", err)
	}
	writeJSON(w, http.StatusOK, userOut(u))
	return nil
}

func (a *API) patchUser(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		Scopes   *[]string `json:"scopes"`
		Disabled *bool     `json:"disabled"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	name := c.params[0]
	if _, err := a.o.Users.Get(r.Context(), name); err != nil {
		return named("user", err)
	}
	if in.Scopes != nil {
		if err := a.o.Users.SetScopes(r.Context(), name, *in.Scopes); err != nil {
			return named("user", err)
		}
		a.audit(w, r, c, "user.set_scopes", name)
	}
	if in.Disabled != nil {
		if _, err := a.o.Users.SetDisabled(r.Context(), name, *in.Disabled); err != nil {
			return named("user", err)
		}
		if *in.Disabled {
			a.audit(w, r, c, "user.disable", name)
		} else {
			a.audit(w, r, c, "user.enable", name)
		}
	}
	u, err := a.o.Users.Get(r.Context(), name)
	if err != nil {
		return named("user", err)
	}
	writeJSON(w, http.StatusOK, userOut(u))
	return nil
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := a.o.Users.Delete(r.Context(), c.params[0]); err != nil {
		return named("user", err)
	}
	a.audit(w, r, c, "user.delete", c.params[0])
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) setPassword(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		Password     string `json:"password"`
		KeepSessions bool   `json:"keep_sessions"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	n, err := a.o.Users.SetPassword(r.Context(), c.params[0], in.Password, in.KeepSessions)
	if err != nil {
		return named("user", err)
	}
	a.audit(w, r, c, "user.set_password", c.params[0])
	writeJSON(w, http.StatusOK, sessionsJSON{n})
	return nil
}

func (a *API) revokeSessions(w http.ResponseWriter, r *http.Request, c *call) error {
	n, err := a.o.Users.EndSessions(r.Context(), c.params[0])
	if err != nil {
		return named("user", err)
	}
	a.audit(w, r, c, "user.revoke_sessions", c.params[0])
	writeJSON(w, http.StatusOK, sessionsJSON{n})
	return nil
}

// ---- API keys ----

type apiKeyJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Username   string     `json:"username,omitempty"`
	ClientID   string     `json:"client_id,omitempty"`
	Prefix     string     `json:"prefix"`
	Last4      string     `json:"last4"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func apiKeyOut(k store.APIKey) apiKeyJSON {
	return apiKeyJSON{ID: k.ID, Name: k.Name, Username: k.Username, ClientID: k.ClientID, Prefix: k.Prefix, Last4: k.Last4, Scopes: nonNil(k.Scopes),
		CreatedAt: k.CreatedAt.UTC(), LastUsedAt: optTime(k.LastUsedAt), ExpiresAt: optTime(k.ExpiresAt), RevokedAt: optTime(k.RevokedAt)}
}

func (a *API) createAPIKey(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		Name      string   `json:"name"`
		Scopes    []string `json:"scopes"`
		ExpiresIn int64    `json:"expires_in"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	key, rec, err := a.o.APIKeys.Create(r.Context(), admin.NewKey{Username: c.params[0], Name: in.Name, Scopes: in.Scopes, ExpiresIn: *seconds(&in.ExpiresIn)})
	if err != nil {
		return named("user", err)
	}
	a.audit(w, r, c, "api_key.create", rec.ID+" user:"+rec.Username)
	out := struct {
		apiKeyJSON
		Key string `json:"key"`
	}{apiKeyOut(rec), key}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *API) listAPIKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	limit, after, err := pageParams(r.URL.Query())
	if err != nil {
		return err
	}
	keys, err := a.o.APIKeys.Page(r.Context(), c.params[0], after, limit+1)
	if err != nil {
		return named("user", err)
	}
	items, next := cut(keys, func(k store.APIKey) string { return k.ID }, limit)
	out := list[apiKeyJSON]{Items: make([]apiKeyJSON, 0, len(items)), NextCursor: next}
	for _, k := range items {
		out.Items = append(out.Items, apiKeyOut(k))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) revokeAPIKey(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := a.o.APIKeys.Revoke(r.Context(), c.params[0]); err != nil {
		return named("API key", err)
	}
	a.audit(w, r, c, "api_key.revoke", c.params[0])
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- clients ----

type clientJSON struct {
	ClientID             string    `json:"client_id"`
	Public               bool      `json:"public"`
	Grants               []string  `json:"grants"`
	Scopes               []string  `json:"scopes"`
	AccessTokenTTL       int64     `json:"access_token_ttl"`
	RefreshTokenTTL      int64     `json:"refresh_token_ttl"`
	RefreshReuseInterval int64     `json:"refresh_reuse_interval"`
	RedirectURIs         []string  `json:"redirect_uris"`
	ThirdParty           bool      `json:"third_party"`
	Origins              []string  `json:"origins"`
	CreatedAt            time.Time `json:"created_at"`
}

func clientOut(cl store.Client) clientJSON {
	return clientJSON{ClientID: cl.ID, Public: cl.Public, Grants: nonNil(cl.Grants), Scopes: nonNil(cl.Scopes),
		AccessTokenTTL: int64(cl.AccessTokenTTL / time.Second), RefreshTokenTTL: int64(cl.RefreshTokenTTL / time.Second),
		RefreshReuseInterval: int64(cl.RefreshReuseInterval / time.Second), CreatedAt: cl.CreatedAt.UTC(),
		RedirectURIs: nonNil(cl.RedirectURIs), ThirdParty: cl.ThirdParty, Origins: nonNil(cl.Origins)}
}

// seconds converts a lifetime in seconds; out-of-range values stay out of
// range (clamped to avoid overflow) for the admin package to name.
func seconds(s *int64) *time.Duration {
	if s == nil {
		return nil
	}
	v := max(min(*s, int64(admin.MaxLifetime/time.Second)+1), -1)
	d := time.Duration(v) * time.Second
	return &d
}

func orZero(d *time.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return *d
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		ClientID             string   `json:"client_id"`
		Public               bool     `json:"public"`
		Grants               []string `json:"grants"`
		Scopes               []string `json:"scopes"`
		AccessTokenTTL       *int64   `json:"access_token_ttl"`
		RefreshTokenTTL      *int64   `json:"refresh_token_ttl"`
		RefreshReuseInterval *int64   `json:"refresh_reuse_interval"`
		RedirectURIs         []string `json:"redirect_uris"`
		ThirdParty           bool     `json:"third_party"`
		Origins              []string `json:"origins"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	n := admin.NewClient{ID: in.ClientID, Public: in.Public, Grants: in.Grants, Scopes: in.Scopes,
		AccessTokenTTL: orZero(seconds(in.AccessTokenTTL)), RefreshTokenTTL: orZero(seconds(in.RefreshTokenTTL)),
		RefreshReuseInterval: orZero(seconds(in.RefreshReuseInterval)),
		RedirectURIs:         in.RedirectURIs, ThirdParty: in.ThirdParty, Origins: in.Origins}
	cl, sec, err := a.o.Clients.Add(r.Context(), n)
	if err != nil {
		return named("client", err)
	}
	a.audit(w, r, c, "client.create", cl.ID)
	w.Header().Set("Location", Prefix+"/clients/"+url.PathEscape(cl.ID))
	out := struct {
		clientJSON
		ClientSecret string `json:"client_secret,omitempty"`
	}{clientOut(cl), sec}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *API) listClients(w http.ResponseWriter, r *http.Request, c *call) error {
	limit, after, err := pageParams(r.URL.Query())
	if err != nil {
		return err
	}
	cls, err := a.o.Clients.Page(r.Context(), after, limit+1)
	if err != nil {
		return err
	}
	items, next := cut(cls, func(cl store.Client) string { return cl.ID }, limit)
	out := list[clientJSON]{Items: make([]clientJSON, 0, len(items)), NextCursor: next}
	for _, cl := range items {
		out.Items = append(out.Items, clientOut(cl))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request, c *call) error {
	cl, err := a.o.Clients.Get(r.Context(), c.params[0])
	if err != nil {
		return named("client", err)
	}
	writeJSON(w, http.StatusOK, clientOut(cl))
	return nil
}

func (a *API) patchClient(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		Grants               *[]string `json:"grants"`
		Scopes               *[]string `json:"scopes"`
		AccessTokenTTL       *int64    `json:"access_token_ttl"`
		RefreshTokenTTL      *int64    `json:"refresh_token_ttl"`
		RefreshReuseInterval *int64    `json:"refresh_reuse_interval"`
		RedirectURIs         *[]string `json:"redirect_uris"`
		ThirdParty           *bool     `json:"third_party"`
		Origins              *[]string `json:"origins"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	ch := admin.ClientChange{Grants: in.Grants, Scopes: in.Scopes, AccessTokenTTL: seconds(in.AccessTokenTTL),
		RefreshTokenTTL: seconds(in.RefreshTokenTTL), RefreshReuseInterval: seconds(in.RefreshReuseInterval),
		RedirectURIs: in.RedirectURIs, ThirdParty: in.ThirdParty, Origins: in.Origins}
	cl, err := a.o.Clients.Update(r.Context(), c.params[0], ch)
	if err != nil {
		return named("client", err)
	}
	a.audit(w, r, c, "client.update", cl.ID)
	writeJSON(w, http.StatusOK, clientOut(cl))
	return nil
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := a.o.Clients.Delete(r.Context(), c.params[0]); err != nil {
		return named("client", err)
	}
	a.audit(w, r, c, "client.delete", c.params[0])
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request, c *call) error {
	sec, err := a.o.Clients.RotateSecret(r.Context(), c.params[0])
	if err != nil {
		return named("client", err)
	}
	a.audit(w, r, c, "client.rotate_secret", c.params[0])
	writeJSON(w, http.StatusOK, struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}{c.params[0], sec})
	return nil
}

// importRequest is the body of an import: the export's text, as much of
// a file as MaxBodyBytes allows (the remote CLI sends a larger file in
// parts).
type importRequest struct {
	Format          string `json:"format"`
	Data            string `json:"data"`
	AllowWeakHashes bool   `json:"allow_weak_hashes"`
}

// decodeImport reads an importRequest and checks its format.
func decodeImport(r *http.Request) (importRequest, error) {
	var in importRequest
	if err := decode(r, &in); err != nil {
		return in, err
	}
	switch in.Format {
	case "", string(admin.ImportJSONLines), string(admin.ImportCSV):
	default:
		return in, &admin.InvalidError{Fields: []admin.FieldError{{Field: "format", Message: "must be jsonl or csv"}}}
	}
	return in, nil
}

// importOptions are the admin.ImportOptions of in.
func (in importRequest) importOptions() admin.ImportOptions {
	return admin.ImportOptions{Format: admin.ImportFormat(in.Format), AllowWeak: in.AllowWeakHashes}
}

// importClients runs a client import (admin.ImportClients) on the export
// in the body: a request holds as much of a file as MaxBodyBytes allows,
// and the remote CLI sends a larger file in parts. The answer counts what
// was done and names each refused record by line and reason, never by
// its secret or hash; run twice, the second run creates nothing.
func (a *API) importClients(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := decodeImport(r)
	if err != nil {
		return err
	}
	rep, err := a.o.Clients.ImportClients(r.Context(), strings.NewReader(in.Data), in.importOptions())
	if err != nil {
		return err
	}
	a.audit(w, r, c, "client.import", strconv.Itoa(rep.Created)+" created")
	type refusal struct {
		Line     int    `json:"line"`
		ClientID string `json:"client_id"`
		Reason   string `json:"reason"`
	}
	out := struct {
		Created   int       `json:"created"`
		Unchanged int       `json:"unchanged"`
		Refused   []refusal `json:"refused"`
	}{rep.Created, rep.Unchanged, make([]refusal, 0, len(rep.Refused))}
	for _, f := range rep.Refused {
		out.Refused = append(out.Refused, refusal{f.Line, f.ClientID, f.Reason})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// importUsers runs a user import (admin.ImportUsers) on the export in the
// body, as importClients does for clients: password hashes go through the
// server's bounded hasher, and the answer names each refused record by
// line, username and reason, never by its hash; run twice, the second run
// creates nothing.
func (a *API) importUsers(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := decodeImport(r)
	if err != nil {
		return err
	}
	rep, err := a.o.Users.ImportUsers(r.Context(), strings.NewReader(in.Data), in.importOptions())
	if err != nil {
		return err
	}
	a.audit(w, r, c, "user.import", strconv.Itoa(rep.Created)+" created")
	type refusal struct {
		Line     int    `json:"line"`
		Username string `json:"username"`
		Reason   string `json:"reason"`
	}
	out := struct {
		Created   int       `json:"created"`
		Unchanged int       `json:"unchanged"`
		Refused   []refusal `json:"refused"`
	}{rep.Created, rep.Unchanged, make([]refusal, 0, len(rep.Refused))}
	for _, f := range rep.Refused {
		out.Refused = append(out.Refused, refusal{f.Line, f.Username, f.Reason})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ---- signing keys ----

type keyJSON struct {
	KID       string     `json:"kid"`
	Algorithm string     `json:"alg"`
	Purpose   string     `json:"purpose,omitempty"` // id_token: signs only OpenID Connect ID tokens
	Active    bool       `json:"active"`
	Encrypted bool       `json:"encrypted"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func keyOut(k token.KeyInfo) keyJSON {
	return keyJSON{KID: k.ID, Algorithm: k.Algorithm, Purpose: k.Purpose, Active: k.Active, Encrypted: k.Encrypted,
		CreatedAt: k.CreatedAt.UTC(), RetiredAt: optTime(k.RetiredAt), ExpiresAt: optTime(k.ExpiresAt)}
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	infos, err := a.o.Keys.List(r.Context())
	if err != nil {
		return err
	}
	out := list[keyJSON]{Items: make([]keyJSON, 0, len(infos))}
	for _, k := range infos {
		out.Items = append(out.Items, keyOut(k))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) rotateKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	k, err := a.o.Keys.Rotate(r.Context())
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &conflict{msg: "another node rotated the signing keys at the same moment; the keys are reloaded", err: err}
		}
		return err
	}
	a.audit(w, r, c, "keys.rotate", k.ID)
	writeJSON(w, http.StatusCreated, keyJSON{KID: k.ID, Algorithm: k.Algorithm, Active: true, Encrypted: k.Encrypted, CreatedAt: k.CreatedAt.UTC()})
	return nil
}
