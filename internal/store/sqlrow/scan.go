package sqlrow

import (
	"encoding/json"
	"fmt"
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
const ClientColumns = `id, secret_hash, public, grants, scopes, access_token_ttl, refresh_token_ttl, refresh_reuse_interval, created_at, no_introspect, resources, redirect_uris, third_party, origins`

// ScanClient reads a row of ClientColumns.
func ScanClient(s Scanner) (store.Client, error) {
	var (
		c                         store.Client
		grants, scopes, resources string
		redirects, origins        string
		accessTTL, refreshTTL, ri int64
		created                   int64
	)
	if err := s.Scan(&c.ID, &c.SecretHash, &c.Public, &grants, &scopes, &accessTTL, &refreshTTL, &ri, &created, &c.NoIntrospect, &resources, &redirects, &c.ThirdParty, &origins); err != nil {
		return store.Client{}, err
	}
	c.Resources = SplitList(resources)
	c.RedirectURIs, c.Origins = SplitList(redirects), SplitList(origins)
	c.Grants, c.Scopes = SplitList(grants), SplitList(scopes)
	c.AccessTokenTTL, c.RefreshTokenTTL, c.RefreshReuseInterval = time.Duration(accessTTL), time.Duration(refreshTTL), time.Duration(ri)
	c.CreatedAt = FromNanos(created)
	return c, nil
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
const RefreshColumns = `t.family_id, t.generation, t.issued_at, t.expires_at,
		f.subject, f.client_id, f.scopes, f.auth_time, f.generation, f.rotated_at, f.revoked, f.expires_at, f.extra,
		f.rotation, f.format`

// ScanRefresh reads a row of RefreshColumns plus the subject-active flag;
// hash is the token's hash, which the query was keyed by.
func ScanRefresh(s Scanner, hash []byte) (store.RefreshToken, store.Family, error) {
	var (
		t                                 store.RefreshToken
		f                                 store.Family
		issued, texp, auth, rotated, fexp int64
		scopes, extra                     string
	)
	if err := s.Scan(&t.FamilyID, &t.Generation, &issued, &texp,
		&f.Subject, &f.ClientID, &scopes, &auth, &f.Generation, &rotated, &f.Revoked, &fexp, &extra, &f.Rotation, &f.Format, &f.SubjectActive); err != nil {
		return store.RefreshToken{}, store.Family{}, err
	}
	t.Hash = append([]byte(nil), hash...)
	t.IssuedAt, t.ExpiresAt = FromNanos(issued), FromNanos(texp)
	f.ID = t.FamilyID
	f.Scopes = SplitList(scopes)
	f.AuthTime, f.RotatedAt, f.ExpiresAt = FromNanos(auth), FromNanos(rotated), FromNanos(fexp)
	if extra != "" {
		if err := json.Unmarshal([]byte(extra), &f.Extra); err != nil {
			return store.RefreshToken{}, store.Family{}, fmt.Errorf("decode family extra: %w", err)
		}
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
