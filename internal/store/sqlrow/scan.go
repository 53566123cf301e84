package sqlrow

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

// Scanner is one result row: *sql.Row, *sql.Rows, pgx.Row and pgx.Rows
// all implement it.
type Scanner interface {
	Scan(dest ...any) error
}

// Rows is a result set being iterated: *sql.Rows and pgx.Rows implement
// it. Closing stays with the caller, whose drivers close differently.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Collect scans every remaining row of rows with scan, in order.
func Collect[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// UserColumns are the users columns that CreateUser writes, in the order
// of its values.
const UserColumns = `username, password_hash, disabled, scopes, created_at, updated_at`

// UserSelect is what ScanUser reads: UserColumns and the not-before time
// that only EndSessions writes.
const UserSelect = UserColumns + `, not_before`

// ScanUser reads a row of UserSelect.
func ScanUser(s Scanner) (store.User, error) {
	var (
		u                store.User
		scopes           string
		created, updated int64
		notBefore        int64
	)
	if err := s.Scan(&u.Username, &u.PasswordHash, &u.Disabled, &scopes, &created, &updated, &notBefore); err != nil {
		return store.User{}, err
	}
	u.Scopes = SplitList(scopes)
	u.CreatedAt, u.UpdatedAt = FromNanos(created), FromNanos(updated)
	u.NotBefore = FromNanos(notBefore)
	return u, nil
}

// ClientColumns are the clients columns, written by CreateClient and read
// by ScanClient in this order.
const ClientColumns = `id, secret_hash, public, grants, scopes, access_token_ttl, refresh_token_ttl, refresh_reuse_interval, created_at, no_introspect, resources, redirect_uris, third_party, origins` +
	`, legacy_secret_hash` // migration 0009

// ScanClient reads a row of ClientColumns.
func ScanClient(s Scanner) (store.Client, error) {
	var (
		c                         store.Client
		grants, scopes, resources string
		redirects, origins        string
		accessTTL, refreshTTL, ri int64
		created                   int64
	)
	if err := s.Scan(&c.ID, &c.SecretHash, &c.Public, &grants, &scopes, &accessTTL, &refreshTTL, &ri, &created, &c.NoIntrospect, &resources, &redirects, &c.ThirdParty, &origins,
		&c.LegacySecretHash); err != nil {
		return store.Client{}, err
	}
	c.Resources = SplitList(resources)
	c.RedirectURIs, c.Origins = SplitList(redirects), SplitList(origins)
	c.Grants, c.Scopes = SplitList(grants), SplitList(scopes)
	c.AccessTokenTTL, c.RefreshTokenTTL, c.RefreshReuseInterval = time.Duration(accessTTL), time.Duration(refreshTTL), time.Duration(ri)
	c.CreatedAt = FromNanos(created)
	return c, nil
}

// ClientArgs returns the values of c's ClientColumns, in their order,
// for an INSERT.
func ClientArgs(c store.Client) ([]any, error) {
	grants, scopes, resources, redirects, origins, err := ClientLists(c)
	if err != nil {
		return nil, err
	}
	return []any{c.ID, NullBytes(c.SecretHash), c.Public, grants, scopes,
		int64(c.AccessTokenTTL), int64(c.RefreshTokenTTL), int64(c.RefreshReuseInterval), Nanos(c.CreatedAt), c.NoIntrospect, resources,
		redirects, c.ThirdParty, origins,
		c.LegacySecretHash,
	}, nil
}

// Placeholders returns n bind parameters: "?, ?, …" or, with dollar,
// "$1, $2, …".
func Placeholders(n int, dollar bool) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		if dollar {
			b.WriteString("$" + strconv.Itoa(i+1))
		} else {
			b.WriteString("?")
		}
	}
	return b.String()
}

// APIKeyColumns are the api_keys columns, written by CreateAPIKey and
// read by ScanAPIKey in this order.
const APIKeyColumns = `id, hash, name, username, client_id, prefix, last4, scopes, created_at, expires_at, last_used_at, revoked_at`

// ScanAPIKey reads a row of APIKeyColumns.
func ScanAPIKey(s Scanner) (store.APIKey, error) {
	var (
		k                                 store.APIKey
		scopes                            string
		created, expires, used, revokedAt int64
	)
	if err := s.Scan(&k.ID, &k.Hash, &k.Name, &k.Username, &k.ClientID, &k.Prefix, &k.Last4, &scopes,
		&created, &expires, &used, &revokedAt); err != nil {
		return store.APIKey{}, err
	}
	k.Scopes = SplitList(scopes)
	k.CreatedAt, k.ExpiresAt, k.LastUsedAt, k.RevokedAt = FromNanos(created), FromNanos(expires), FromNanos(used), FromNanos(revokedAt)
	return k, nil
}

// SigningKeyColumns are the signing_keys columns that ScanSigningKey
// reads, in its order.
const SigningKeyColumns = `kid, algorithm, private, encrypted, created_at, retired_at, expires_at, revoked_at, purpose`

// ScanSigningKey reads a row of SigningKeyColumns.
func ScanSigningKey(s Scanner) (store.SigningKey, error) {
	var (
		k                                  store.SigningKey
		created, retired, expires, revoked int64
	)
	if err := s.Scan(&k.ID, &k.Algorithm, &k.Private, &k.Encrypted, &created, &retired, &expires, &revoked, &k.Purpose); err != nil {
		return store.SigningKey{}, err
	}
	k.CreatedAt, k.RetiredAt, k.ExpiresAt = FromNanos(created), FromNanos(retired), FromNanos(expires)
	k.RevokedAt = FromNanos(revoked)
	return k, nil
}

// RefreshColumns are the columns of a refresh token t joined with its
// family f that ScanRefresh reads first; the backend's query appends one
// boolean, whether the family's subject is an enabled user (each dialect
// writes that test its own way).
const RefreshColumns = `t.family_id, t.generation, t.issued_at, t.expires_at, ` + FamilyColumns

// FamilyColumns are the columns of a family f that ScanFamily reads
// first; the backend's query appends the subject-active flag as for
// RefreshColumns.
const FamilyColumns = `f.id, f.subject, f.client_id, f.scopes, f.auth_time, f.generation, f.rotated_at, f.revoked, f.expires_at, f.extra,
		f.rotation, f.format, f.hash, f.prev_hash`

// ScanRefresh reads a row of RefreshColumns plus the subject-active flag;
// hash is the token's hash, which the query was keyed by.
func ScanRefresh(s Scanner, hash []byte) (store.RefreshToken, store.Family, error) {
	var (
		t                                 store.RefreshToken
		f                                 store.Family
		issued, texp, auth, rotated, fexp int64
		scopes, extra                     string
	)
	dest := []any{&t.FamilyID, &t.Generation, &issued, &texp,
		&f.ID, &f.Subject, &f.ClientID, &scopes, &auth, &f.Generation, &rotated, &f.Revoked, &fexp, &extra, &f.Rotation, &f.Format,
		&f.Hash, &f.PrevHash, &f.SubjectActive}
	if err := s.Scan(dest...); err != nil {
		return store.RefreshToken{}, store.Family{}, err
	}
	t.Hash = append([]byte(nil), hash...)
	t.IssuedAt, t.ExpiresAt = FromNanos(issued), FromNanos(texp)
	if err := fillFamily(&f, scopes, extra, auth, rotated, fexp); err != nil {
		return store.RefreshToken{}, store.Family{}, err
	}
	return t, f, nil
}

// AuthCodeColumns are the auth_codes columns, written by CreateAuthCode
// and read by ScanAuthCode in this order.
const AuthCodeColumns = `hash, client_id, redirect_uri, challenge, username, scopes, nonce, auth_time, session_id, family_id, created_at, expires_at, purge_at, redemptions`

// ScanAuthCode reads a row of AuthCodeColumns.
func ScanAuthCode(s Scanner) (store.AuthCode, error) {
	var (
		c                             store.AuthCode
		scopes                        string
		auth, created, expires, purge int64
	)
	if err := s.Scan(&c.Hash, &c.ClientID, &c.RedirectURI, &c.Challenge, &c.Username, &scopes, &c.Nonce, &auth,
		&c.SessionID, &c.FamilyID, &created, &expires, &purge, &c.Redemptions); err != nil {
		return store.AuthCode{}, err
	}
	c.Scopes = SplitList(scopes)
	c.AuthTime, c.CreatedAt, c.ExpiresAt, c.PurgeAt = FromNanos(auth), FromNanos(created), FromNanos(expires), FromNanos(purge)
	return c, nil
}

// AuthCodeValues are the values of AuthCodeColumns for c.
func AuthCodeValues(c store.AuthCode) ([]any, error) {
	scopes, err := JoinList("scope", c.Scopes)
	if err != nil {
		return nil, err
	}
	return []any{c.Hash, c.ClientID, c.RedirectURI, c.Challenge, c.Username, scopes, c.Nonce, Nanos(c.AuthTime),
		c.SessionID, c.FamilyID, Nanos(c.CreatedAt), Nanos(c.ExpiresAt), Nanos(c.PurgeAt), c.Redemptions}, nil
}

// WebSessionColumns are the web_sessions columns, in the order
// ScanWebSession reads them.
const WebSessionColumns = `id_hash, username, auth_time, expires_at`

// ScanWebSession reads a row of WebSessionColumns.
func ScanWebSession(s Scanner) (store.WebSession, error) {
	var (
		w             store.WebSession
		auth, expires int64
	)
	if err := s.Scan(&w.IDHash, &w.Username, &auth, &expires); err != nil {
		return store.WebSession{}, err
	}
	w.AuthTime, w.ExpiresAt = FromNanos(auth), FromNanos(expires)
	return w, nil
}

// ClientLists encodes a client's list fields (grants, scopes, resources,
// redirect URIs, origins) for its columns.
func ClientLists(c store.Client) (grants, scopes, resources, redirects, origins string, err error) {
	if grants, err = JoinList("grant type", c.Grants); err != nil {
		return
	}
	if scopes, err = JoinList("scope", c.Scopes); err != nil {
		return
	}
	if resources, err = JoinList("resource", c.Resources); err != nil {
		return
	}
	if redirects, err = JoinList("redirect URI", c.RedirectURIs); err != nil {
		return
	}
	origins, err = JoinList("origin", c.Origins)
	return
}

// ScanFamily reads a row of FamilyColumns plus the subject-active flag.
func ScanFamily(s Scanner) (store.Family, error) {
	var (
		f                   store.Family
		auth, rotated, fexp int64
		scopes, extra       string
	)
	if err := s.Scan(&f.ID, &f.Subject, &f.ClientID, &scopes, &auth, &f.Generation, &rotated, &f.Revoked, &fexp, &extra,
		&f.Rotation, &f.Format, &f.Hash, &f.PrevHash, &f.SubjectActive); err != nil {
		return store.Family{}, err
	}
	if err := fillFamily(&f, scopes, extra, auth, rotated, fexp); err != nil {
		return store.Family{}, err
	}
	return f, nil
}

// fillFamily decodes the family columns that need it.
func fillFamily(f *store.Family, scopes, extra string, auth, rotated, fexp int64) error {
	f.Scopes = SplitList(scopes)
	f.AuthTime, f.RotatedAt, f.ExpiresAt = FromNanos(auth), FromNanos(rotated), FromNanos(fexp)
	if len(f.Hash) == 0 {
		f.Hash = nil
	}
	if len(f.PrevHash) == 0 {
		f.PrevHash = nil
	}
	if extra != "" {
		if err := json.Unmarshal([]byte(extra), &f.Extra); err != nil {
			return fmt.Errorf("decode family extra: %w", err)
		}
	}
	return nil
}

// DeviceColumns are the device_authorizations columns ScanDevice reads, in
// order.
const DeviceColumns = `device_code_hash, user_code_hash, client_id, scopes, created_at, expires_at,
	poll_interval, last_poll_at, status, username, auth_time, version`

// ScanDevice reads a row of DeviceColumns.
func ScanDevice(s Scanner) (store.DeviceAuthorization, error) {
	var d store.DeviceAuthorization
	var scopes string
	var created, expires, interval, lastPoll, authTime int64
	if err := s.Scan(&d.DeviceCodeHash, &d.UserCodeHash, &d.ClientID, &scopes, &created, &expires,
		&interval, &lastPoll, &d.Status, &d.Username, &authTime, &d.Version); err != nil {
		return store.DeviceAuthorization{}, err
	}
	d.Scopes = SplitList(scopes)
	d.CreatedAt, d.ExpiresAt = FromNanos(created), FromNanos(expires)
	d.Interval, d.LastPollAt, d.AuthTime = time.Duration(interval), FromNanos(lastPoll), FromNanos(authTime)
	return d, nil
}

// NewFamilyColumns are the columns a new family is inserted with, in the
// order of NewFamilyArgs.
const NewFamilyColumns = `id, subject, client_id, scopes, auth_time, generation, rotated_at, revoked, expires_at, extra, rotation, format, hash`

// NewFamilyArgs are the values of NewFamilyColumns for family f created
// with its first refresh token t: the family keeps the token's hash (no
// token row, since migration 0011), and a zero f.ExpiresAt defaults to
// t.ExpiresAt.
func NewFamilyArgs(f store.Family, t store.RefreshToken) ([]any, error) {
	if len(t.Hash) == 0 {
		return nil, errors.New("empty token hash")
	}
	scopes, err := JoinList("scope", f.Scopes)
	if err != nil {
		return nil, err
	}
	var extra string
	if len(f.Extra) > 0 {
		b, err := json.Marshal(f.Extra)
		if err != nil {
			return nil, fmt.Errorf("encode extra: %w", err)
		}
		extra = string(b)
	}
	if f.ExpiresAt.IsZero() {
		f.ExpiresAt = t.ExpiresAt
	}
	return []any{f.ID, f.Subject, f.ClientID, scopes, Nanos(f.AuthTime), f.Generation, Nanos(f.RotatedAt),
		f.Revoked, Nanos(f.ExpiresAt), extra, f.Rotation, f.Format, t.Hash}, nil
}
