// Package admin is a Go client of tokengate's admin API (/admin/v1): typed
// requests, responses and errors for users, clients, API keys and signing
// keys. Its HTTP client carries the admin access token; NewWithCredentials
// obtains and renews one through the client package (client_credentials
// with the tokengate:admin scope). docs/admin-openapi.yaml is the
// reference of every call.
package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/client"
)

// Scope is the scope the admin API requires.
const Scope = "tokengate:admin"

// maxResponse bounds the answers read.
const maxResponse = 4 << 20

// Client calls the admin API. It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
}

// New returns a Client for the server at baseURL (e.g.
// "https://auth.example.com") whose hc adds the admin access token to
// every request (for example client.Client.HTTPClient).
func New(baseURL string, hc *http.Client) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/") + "/admin/v1", hc: hc}
}

// NewWithCredentials logs in with client_credentials as clientID and
// returns a Client whose admin token is renewed as it expires.
func NewWithCredentials(ctx context.Context, baseURL, clientID, clientSecret string) (*Client, error) {
	tc, err := client.New(ctx, client.Config{BaseURL: baseURL, ClientID: clientID, ClientSecret: clientSecret, Scopes: []string{Scope}})
	if err != nil {
		return nil, fmt.Errorf("admin: obtaining an admin token: %w", err)
	}
	return New(baseURL, tc.HTTPClient()), nil
}

// FieldError names one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an answer of the API other than success: an RFC 9457 problem
// with a stable Code (not_found, conflict, invalid_fields, ...).
type Error struct {
	Status  int          `json:"status"`
	Code    string       `json:"error"`
	Message string       `json:"message"`
	Fields  []FieldError `json:"fields,omitempty"`
}

func (e *Error) Error() string {
	s := fmt.Sprintf("admin API: %d %s: %s", e.Status, e.Code, e.Message)
	for _, f := range e.Fields {
		s += "; " + f.Field + ": " + f.Message
	}
	return s
}

// IsNotFound reports whether err is the API's 404.
func IsNotFound(err error) bool { return hasCode(err, "not_found") }

// IsConflict reports whether err is the API's 409 (the record exists).
func IsConflict(err error) bool { return hasCode(err, "conflict") }

func hasCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// do sends one request; out, when not nil, receives the JSON answer.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("admin: encoding the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("admin: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		e := &Error{}
		if json.Unmarshal(b, e) != nil || e.Code == "" {
			e = &Error{Code: "http_error", Message: http.StatusText(resp.StatusCode)}
		}
		e.Status = resp.StatusCode
		return e
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("admin: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

func seg(s string) string { return url.PathEscape(s) }

// Page is one page of a list; NextCursor is nil on the last page.
type Page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// ListOptions page a list: Limit 0 means the server's default (100).
type ListOptions struct {
	Limit  int
	Cursor string
}

func (o ListOptions) query() string {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// User is a user as the API shows it (never its password or hash).
type User struct {
	Username        string     `json:"username"`
	Scopes          []string   `json:"scopes"`
	Disabled        bool       `json:"disabled"`
	HasPassword     bool       `json:"has_password"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	SessionsEndedAt *time.Time `json:"sessions_ended_at"`
}

// NewUser is a user to create; an empty Password means no password login.
type NewUser struct {
	Username string   `json:"username"`
	Password string   `json:"password,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	Disabled bool     `json:"disabled,omitempty"`
}

// UserChange is a partial update; nil fields stay.
type UserChange struct {
	Scopes   *[]string `json:"scopes,omitempty"`
	Disabled *bool     `json:"disabled,omitempty"`
}

// CreateUser creates a user.
func (c *Client) CreateUser(ctx context.Context, u NewUser) (*User, error) {
	var out User
	return &out, c.do(ctx, "POST", "/users", u, &out)
}

// ListUsers returns a page of users, ordered by name.
func (c *Client) ListUsers(ctx context.Context, o ListOptions) (*Page[User], error) {
	var out Page[User]
	return &out, c.do(ctx, "GET", "/users"+o.query(), nil, &out)
}

// GetUser returns one user.
func (c *Client) GetUser(ctx context.Context, username string) (*User, error) {
	var out User
	return &out, c.do(ctx, "GET", "/users/"+seg(username), nil, &out)
}

// UpdateUser changes a user's scopes or disabled flag; disabling ends
// every session of the user.
func (c *Client) UpdateUser(ctx context.Context, username string, ch UserChange) (*User, error) {
	var out User
	return &out, c.do(ctx, "PATCH", "/users/"+seg(username), ch, &out)
}

// SetPassword sets a user's password and returns how many sessions ended
// (none with keepSessions).
func (c *Client) SetPassword(ctx context.Context, username, password string, keepSessions bool) (int, error) {
	var out struct {
		N int `json:"sessions_ended"`
	}
	in := struct {
		Password     string `json:"password"`
		KeepSessions bool   `json:"keep_sessions,omitempty"`
	}{password, keepSessions}
	err := c.do(ctx, "PUT", "/users/"+seg(username)+"/password", in, &out)
	return out.N, err
}

// RevokeSessions ends every session of a user and returns how many.
func (c *Client) RevokeSessions(ctx context.Context, username string) (int, error) {
	var out struct {
		N int `json:"sessions_ended"`
	}
	err := c.do(ctx, "POST", "/users/"+seg(username)+"/revoke-sessions", nil, &out)
	return out.N, err
}

// DeleteUser deletes a user, its API keys and its sessions.
func (c *Client) DeleteUser(ctx context.Context, username string) error {
	return c.do(ctx, "DELETE", "/users/"+seg(username), nil, nil)
}

// APIKey is an API key as listed (never the key itself).
type APIKey struct {
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

// NewAPIKey is a key to create; ExpiresIn zero means it never expires
// (whole seconds are sent).
type NewAPIKey struct {
	Name      string
	Scopes    []string
	ExpiresIn time.Duration
}

// CreateAPIKey creates a key for a user and returns it: the key is shown
// this once.
func (c *Client) CreateAPIKey(ctx context.Context, username string, k NewAPIKey) (key string, rec *APIKey, err error) {
	in := struct {
		Name      string   `json:"name,omitempty"`
		Scopes    []string `json:"scopes,omitempty"`
		ExpiresIn int64    `json:"expires_in,omitempty"`
	}{k.Name, k.Scopes, int64(k.ExpiresIn / time.Second)}
	var out struct {
		APIKey
		Key string `json:"key"`
	}
	if err := c.do(ctx, "POST", "/users/"+seg(username)+"/api-keys", in, &out); err != nil {
		return "", nil, err
	}
	return out.Key, &out.APIKey, nil
}

// ListAPIKeys returns a page of a user's keys, ordered by id.
func (c *Client) ListAPIKeys(ctx context.Context, username string, o ListOptions) (*Page[APIKey], error) {
	var out Page[APIKey]
	return &out, c.do(ctx, "GET", "/users/"+seg(username)+"/api-keys"+o.query(), nil, &out)
}

// RevokeAPIKey revokes a key by id.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/api-keys/"+seg(id), nil, nil)
}

// OAuthClient is an OAuth client as the API shows it; lifetimes are whole
// seconds, zero meaning the server default.
type OAuthClient struct {
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

// NewOAuthClient is a client to create.
type NewOAuthClient struct {
	ClientID             string   `json:"client_id"`
	Public               bool     `json:"public,omitempty"`
	Grants               []string `json:"grants"`
	Scopes               []string `json:"scopes,omitempty"`
	AccessTokenTTL       int64    `json:"access_token_ttl,omitempty"`
	RefreshTokenTTL      int64    `json:"refresh_token_ttl,omitempty"`
	RefreshReuseInterval int64    `json:"refresh_reuse_interval,omitempty"`
	RedirectURIs         []string `json:"redirect_uris,omitempty"`
	ThirdParty           bool     `json:"third_party,omitempty"`
	Origins              []string `json:"origins,omitempty"`
}

// OAuthClientChange is a partial update; nil fields stay.
type OAuthClientChange struct {
	Grants               *[]string `json:"grants,omitempty"`
	Scopes               *[]string `json:"scopes,omitempty"`
	AccessTokenTTL       *int64    `json:"access_token_ttl,omitempty"`
	RefreshTokenTTL      *int64    `json:"refresh_token_ttl,omitempty"`
	RefreshReuseInterval *int64    `json:"refresh_reuse_interval,omitempty"`
	RedirectURIs         *[]string `json:"redirect_uris,omitempty"`
	ThirdParty           *bool     `json:"third_party,omitempty"`
	Origins              *[]string `json:"origins,omitempty"`
}

// CreateClient creates a client and returns it with its generated secret
// ("" for a public client), shown this once.
func (c *Client) CreateClient(ctx context.Context, n NewOAuthClient) (*OAuthClient, string, error) {
	var out struct {
		OAuthClient
		Secret string `json:"client_secret"`
	}
	if err := c.do(ctx, "POST", "/clients", n, &out); err != nil {
		return nil, "", err
	}
	return &out.OAuthClient, out.Secret, nil
}

// ListClients returns a page of clients, ordered by id.
func (c *Client) ListClients(ctx context.Context, o ListOptions) (*Page[OAuthClient], error) {
	var out Page[OAuthClient]
	return &out, c.do(ctx, "GET", "/clients"+o.query(), nil, &out)
}

// GetClient returns one client.
func (c *Client) GetClient(ctx context.Context, id string) (*OAuthClient, error) {
	var out OAuthClient
	return &out, c.do(ctx, "GET", "/clients/"+seg(id), nil, &out)
}

// UpdateClient changes a client's grants, scopes, lifetimes or reuse interval.
func (c *Client) UpdateClient(ctx context.Context, id string, ch OAuthClientChange) (*OAuthClient, error) {
	var out OAuthClient
	return &out, c.do(ctx, "PATCH", "/clients/"+seg(id), ch, &out)
}

// DeleteClient deletes a client, its API keys and its sessions.
func (c *Client) DeleteClient(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/clients/"+seg(id), nil, nil)
}

// RotateClientSecret replaces a confidential client's secret and returns
// the new one, shown this once.
func (c *Client) RotateClientSecret(ctx context.Context, id string) (string, error) {
	var out struct {
		Secret string `json:"client_secret"`
	}
	err := c.do(ctx, "POST", "/clients/"+seg(id)+"/rotate-secret", nil, &out)
	return out.Secret, err
}

// ClientImport is part of a client export (tokengate client import;
// docs/migrate/) to import: JSON Lines or CSV text of at most what one
// request body may hold (64 KiB).
type ClientImport struct {
	Format          string `json:"format,omitempty"` // "jsonl", "csv" or "" (detected)
	Data            string `json:"data"`
	AllowWeakHashes bool   `json:"allow_weak_hashes,omitempty"`
}

// UserImport is part of a user export (tokengate user import;
// docs/migrate/) to import: JSON Lines or CSV text of at most what one
// request body may hold (64 KiB).
type UserImport struct {
	Format          string `json:"format,omitempty"` // "jsonl", "csv" or "" (detected)
	Data            string `json:"data"`
	AllowWeakHashes bool   `json:"allow_weak_hashes,omitempty"`
}

// ImportReport is what an import did. Refused records never show a
// secret or hash.
type ImportReport struct {
	Created   int             `json:"created"`
	Unchanged int             `json:"unchanged"`
	Refused   []ImportRefusal `json:"refused"`
}

// ImportRefusal is one record an import did not take.
type ImportRefusal struct {
	Line     int    `json:"line"`               // in Data
	ClientID string `json:"client_id"`          // client imports
	Username string `json:"username,omitempty"` // user imports
	Reason   string `json:"reason"`
}

// ImportClients imports clients; run twice, the second run creates
// nothing and counts every client unchanged.
func (c *Client) ImportClients(ctx context.Context, in ClientImport) (*ImportReport, error) {
	var out ImportReport
	if err := c.do(ctx, "POST", "/import/clients", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ImportUsers imports users; run twice, the second run creates nothing
// and counts every user unchanged. An imported foreign hash is upgraded
// to argon2id at the user's first login.
func (c *Client) ImportUsers(ctx context.Context, in UserImport) (*ImportReport, error) {
	var out ImportReport
	if err := c.do(ctx, "POST", "/import/users", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SigningKey describes a signing key.
type SigningKey struct {
	KID       string `json:"kid"`
	Algorithm string `json:"alg"`
	// Purpose is "" for the keys of access and refresh tokens and
	// "id_token" for the RS256 keys that sign only OpenID Connect ID
	// tokens; each purpose has one active key.
	Purpose   string     `json:"purpose,omitempty"`
	Active    bool       `json:"active"`
	Encrypted bool       `json:"encrypted"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// ListKeys returns the signing keys, newest first.
func (c *Client) ListKeys(ctx context.Context) ([]SigningKey, error) {
	var out Page[SigningKey]
	err := c.do(ctx, "GET", "/keys", nil, &out)
	return out.Items, err
}

// RotateKeys makes a new active signing key and returns it.
func (c *Client) RotateKeys(ctx context.Context) (*SigningKey, error) {
	var out SigningKey
	return &out, c.do(ctx, "POST", "/keys/rotate", nil, &out)
}
