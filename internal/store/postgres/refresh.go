package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"tokengate/internal/store"
	"tokengate/internal/store/codec"
)

var (
	// getRefreshSQL finds a token and its family in one query.
	getRefreshSQL = `SELECT t.family_id, t.generation, t.issued_at, t.expires_at,
		f.subject, f.client_id, f.scopes, f.auth_time, f.generation, f.rotated_at, f.revoked, f.expires_at, f.extra,
		EXISTS (SELECT 1 FROM users u WHERE u.username = f.subject AND NOT u.disabled)
		FROM refresh_tokens t JOIN families f ON f.id = t.family_id
		WHERE t.hash = $1`

	// rotateSQL is the whole successful rotation in one statement: the
	// UPDATE is the compare-and-swap on the family (PostgreSQL re-checks
	// its condition against the newest row version when it waited for a
	// concurrent rotation), and the new token is inserted only when it
	// succeeded. A duplicate new hash fails the statement and so undoes
	// the swap. Parameters: $1 old hash, $2 new hash, $3 now, $4 new
	// expiry, $5 reuse interval.
	rotateSQL = `WITH t AS (
			SELECT family_id, generation, expires_at FROM refresh_tokens WHERE hash = $1
		), rotated AS (
			UPDATE families fam SET generation = fam.generation + 1, rotated_at = $3::bigint, expires_at = $4::bigint
			FROM t
			WHERE fam.id = t.family_id AND ` + live("$3", "$5") + `
			RETURNING fam.id, fam.subject, fam.client_id, fam.scopes, fam.auth_time, fam.generation, fam.extra
		), inserted AS (
			INSERT INTO refresh_tokens (hash, family_id, generation, issued_at, expires_at)
			SELECT $2::bytea, id, generation, $3::bigint, $4::bigint FROM rotated
		)
		SELECT id, subject, client_id, scopes, auth_time, generation, extra FROM rotated`

	// rotateFailedSQL runs after rotateSQL changed nothing. It reads the
	// token's expiry and its family's state and, when the token is
	// unexpired and its family not revoked but the token may not rotate,
	// revokes the family: that token was reused. A rotation that failed
	// never becomes possible later (generations only grow, revocation is
	// final, now is fixed), so the two statements need no common
	// transaction. Parameters: $1 old hash, $2 now, $3 reuse interval.
	rotateFailedSQL = `WITH t AS (
			SELECT family_id, generation, expires_at FROM refresh_tokens WHERE hash = $1
		), reused AS (
			UPDATE families fam SET revoked = true
			FROM t
			WHERE fam.id = t.family_id AND NOT fam.revoked AND $2::bigint < t.expires_at AND NOT ` + live("$2", "$3") + `
			RETURNING fam.id
		)
		SELECT t.expires_at, fam.revoked, EXISTS (SELECT 1 FROM reused), ` + live("$2", "$3") + `
		FROM t JOIN families fam ON fam.id = t.family_id`

	revokeSubjectFamiliesSQL = `UPDATE families SET revoked = true WHERE subject = $1 AND NOT revoked`
)

// live is the condition under which token t may rotate family fam at now,
// reuse being the reuse interval in nanoseconds (both SQL parameters): the
// family is not revoked, the token has not expired, and it is the live
// token or the one before it presented within the reuse interval after the
// latest rotation. The subtraction cannot overflow where an addition could.
func live(now, reuse string) string {
	return `(NOT fam.revoked AND ` + now + `::bigint < t.expires_at
		AND (t.generation = fam.generation
			OR (t.generation = fam.generation - 1 AND ` + reuse + `::bigint > 0 AND fam.rotated_at > ` + now + `::bigint - ` + reuse + `::bigint)))`
}

// decodeExtra decodes a family's Extra column.
func decodeExtra(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode family extra: %w", err)
	}
	return m, nil
}

// scanRefresh reads a row of getRefreshSQL.
func scanRefresh(r pgx.Row, hash []byte) (store.RefreshToken, store.Family, error) {
	var (
		t                                 store.RefreshToken
		f                                 store.Family
		issued, texp, auth, rotated, fexp int64
		scopes, extra                     string
	)
	if err := r.Scan(&t.FamilyID, &t.Generation, &issued, &texp,
		&f.Subject, &f.ClientID, &scopes, &auth, &f.Generation, &rotated, &f.Revoked, &fexp, &extra, &f.SubjectActive); err != nil {
		return store.RefreshToken{}, store.Family{}, err
	}
	t.Hash = append([]byte(nil), hash...)
	t.IssuedAt, t.ExpiresAt = codec.FromNanos(issued), codec.FromNanos(texp)
	f.ID = t.FamilyID
	f.Scopes = codec.SplitList(scopes)
	f.AuthTime, f.RotatedAt, f.ExpiresAt = codec.FromNanos(auth), codec.FromNanos(rotated), codec.FromNanos(fexp)
	var err error
	if f.Extra, err = decodeExtra(extra); err != nil {
		return store.RefreshToken{}, store.Family{}, err
	}
	return t, f, nil
}

// CreateFamily stores f and its first token t in one statement. The
// token's FamilyID and Generation are taken from f; a zero f.ExpiresAt
// defaults to t.ExpiresAt. ErrConflict when the family id or token hash
// exists.
func (db *DB) CreateFamily(ctx context.Context, f store.Family, t store.RefreshToken) error {
	const op = "create family"
	if len(t.Hash) == 0 {
		return fmt.Errorf("postgres: %s: empty token hash", op)
	}
	scopes, err := codec.JoinList("scope", f.Scopes)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	var extra string
	if len(f.Extra) > 0 {
		b, err := json.Marshal(f.Extra)
		if err != nil {
			return fmt.Errorf("postgres: %s: encode extra: %w", op, err)
		}
		extra = string(b)
	}
	if f.ExpiresAt.IsZero() {
		f.ExpiresAt = t.ExpiresAt
	}
	_, err = db.exec(ctx, `WITH fam AS (
			INSERT INTO families (id, subject, client_id, scopes, auth_time, generation, rotated_at, revoked, expires_at, extra)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			RETURNING id, generation
		)
		INSERT INTO refresh_tokens (hash, family_id, generation, issued_at, expires_at)
		SELECT $11, id, generation, $12, $13 FROM fam`,
		f.ID, f.Subject, f.ClientID, scopes, codec.Nanos(f.AuthTime), f.Generation, codec.Nanos(f.RotatedAt),
		f.Revoked, codec.Nanos(f.ExpiresAt), extra,
		t.Hash, codec.Nanos(t.IssuedAt), codec.Nanos(t.ExpiresAt))
	return wrapErr(op, err)
}

// GetRefresh returns the token whose hash is hash and its family, whatever
// their state; ErrNotFound when the hash is unknown.
func (db *DB) GetRefresh(ctx context.Context, hash []byte) (store.RefreshToken, store.Family, error) {
	var (
		t store.RefreshToken
		f store.Family
	)
	err := db.queryRow(ctx, func(r pgx.Row) (err error) { t, f, err = scanRefresh(r, hash); return err }, getRefreshSQL, hash)
	return t, f, wrapErr("get refresh token", err)
}

// errUnexpectedState reports a rotation that failed although the token
// could rotate; it cannot happen while rotations only move generations
// forward, and guards against that invariant breaking.
var errUnexpectedState = errors.New("rotation failed although the token is live")

// RotateRefresh implements store.Refresh.RotateRefresh: one statement
// (rotateSQL) when the token may rotate; otherwise a second one
// (rotateFailedSQL) that tells why not and revokes the family of a reused
// token before ErrTokenReused is returned.
func (db *DB) RotateRefresh(ctx context.Context, r store.Rotation) (store.Family, error) {
	const op = "rotate refresh token"
	if len(r.NewHash) == 0 {
		return store.Family{}, fmt.Errorf("postgres: %s: empty new token hash", op)
	}
	ctx, cancel := db.bound(ctx)
	defer cancel()

	var (
		f             store.Family
		scopes, extra string
		auth          int64
	)
	err := db.pool.QueryRow(ctx, rotateSQL, r.OldHash, r.NewHash, codec.Nanos(r.Now), codec.Nanos(r.ExpiresAt), int64(r.ReuseInterval)).
		Scan(&f.ID, &f.Subject, &f.ClientID, &scopes, &auth, &f.Generation, &extra)
	switch {
	case err == nil:
		f.Scopes = codec.SplitList(scopes)
		f.AuthTime = codec.FromNanos(auth)
		f.RotatedAt = codec.FromNanos(codec.Nanos(r.Now))
		f.ExpiresAt = codec.FromNanos(codec.Nanos(r.ExpiresAt))
		if f.Extra, err = decodeExtra(extra); err != nil {
			return store.Family{}, fmt.Errorf("postgres: %s: %w", op, err)
		}
		return f, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return store.Family{}, wrapErr(op, err)
	}

	// Nothing rotated: find out why.
	var (
		texp                  int64
		revoked, reused, live bool
	)
	err = db.pool.QueryRow(ctx, rotateFailedSQL, r.OldHash, codec.Nanos(r.Now), int64(r.ReuseInterval)).
		Scan(&texp, &revoked, &reused, &live)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Family{}, fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	case err != nil:
		return store.Family{}, wrapErr(op, err)
	case reused:
		return store.Family{}, fmt.Errorf("postgres: %s: %w", op, store.ErrTokenReused)
	case revoked:
		return store.Family{}, fmt.Errorf("postgres: %s: %w", op, store.ErrTokenRevoked)
	case codec.Nanos(r.Now) >= texp:
		return store.Family{}, fmt.Errorf("postgres: %s: %w", op, store.ErrTokenExpired)
	case live:
		return store.Family{}, fmt.Errorf("postgres: %s: %w", op, errUnexpectedState)
	default:
		// Not live, and a concurrent call revoked the family after this
		// statement's snapshot: that call saw the same reuse.
		return store.Family{}, fmt.Errorf("postgres: %s: %w", op, store.ErrTokenReused)
	}
}

// RevokeFamily revokes one family; revoking twice is not an error.
// ErrNotFound when the family does not exist.
func (db *DB) RevokeFamily(ctx context.Context, familyID string) error {
	err := db.execOne(ctx, `UPDATE families SET revoked = true WHERE id = $1`, familyID)
	return wrapErr("revoke family", err)
}

// RevokeSubjectFamilies revokes every live family of subject and returns
// how many it revoked.
func (db *DB) RevokeSubjectFamilies(ctx context.Context, subject string) (int, error) {
	tag, err := db.exec(ctx, revokeSubjectFamiliesSQL, subject)
	if err != nil {
		return 0, wrapErr("revoke subject families", err)
	}
	return int(tag.RowsAffected()), nil
}
