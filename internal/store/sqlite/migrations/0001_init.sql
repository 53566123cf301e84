-- Initial schema. Times are unix nanoseconds (0 = zero time), durations are
-- nanoseconds, lists (scopes, grants) are space-separated tokens.

CREATE TABLE users (
	username      TEXT    NOT NULL PRIMARY KEY,
	password_hash TEXT    NOT NULL DEFAULT '',
	disabled      INTEGER NOT NULL DEFAULT 0,
	scopes        TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE clients (
	id                     TEXT    NOT NULL PRIMARY KEY,
	secret_hash            BLOB,
	public                 INTEGER NOT NULL DEFAULT 0,
	grants                 TEXT    NOT NULL DEFAULT '',
	scopes                 TEXT    NOT NULL DEFAULT '',
	access_token_ttl       INTEGER NOT NULL DEFAULT 0,
	refresh_token_ttl      INTEGER NOT NULL DEFAULT 0,
	refresh_reuse_interval INTEGER NOT NULL DEFAULT 0,
	created_at             INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
	id           TEXT    NOT NULL PRIMARY KEY,
	hash         BLOB    NOT NULL UNIQUE,
	name         TEXT    NOT NULL DEFAULT '',
	username     TEXT    NOT NULL DEFAULT '',
	client_id    TEXT    NOT NULL DEFAULT '',
	prefix       TEXT    NOT NULL DEFAULT '',
	last4        TEXT    NOT NULL DEFAULT '',
	scopes       TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL DEFAULT 0,
	last_used_at INTEGER NOT NULL DEFAULT 0,
	revoked_at   INTEGER NOT NULL DEFAULT 0
) STRICT;

-- A family is one login session; generation is the generation of its only
-- live token and expires_at that token's expiry.
CREATE TABLE families (
	id         TEXT    NOT NULL PRIMARY KEY,
	subject    TEXT    NOT NULL,
	client_id  TEXT    NOT NULL,
	scopes     TEXT    NOT NULL DEFAULT '',
	auth_time  INTEGER NOT NULL,
	generation INTEGER NOT NULL,
	rotated_at INTEGER NOT NULL DEFAULT 0,
	revoked    INTEGER NOT NULL DEFAULT 0,
	expires_at INTEGER NOT NULL,
	extra      TEXT    NOT NULL DEFAULT ''
) STRICT, WITHOUT ROWID;

CREATE INDEX families_subject ON families (subject);
CREATE INDEX families_client_id ON families (client_id);
CREATE INDEX families_expires_at ON families (expires_at);

-- Every refresh token ever issued, live or rotated, until it expires: a
-- rotated token is kept so that presenting it again is detected as reuse.
CREATE TABLE refresh_tokens (
	hash       BLOB    NOT NULL PRIMARY KEY,
	family_id  TEXT    NOT NULL REFERENCES families (id) ON DELETE CASCADE,
	generation INTEGER NOT NULL,
	issued_at  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE denylist (
	jti        TEXT    NOT NULL PRIMARY KEY,
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX denylist_expires_at ON denylist (expires_at);

-- The active key is the one with retired_at = 0.
CREATE TABLE signing_keys (
	kid        TEXT    NOT NULL PRIMARY KEY,
	algorithm  TEXT    NOT NULL,
	private    BLOB    NOT NULL,
	encrypted  INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	retired_at INTEGER NOT NULL DEFAULT 0,
	expires_at INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Failed login counters, one fixed window per key. window_len is the length
-- of the window last used, so that DeleteExpired can tell stale rows.
CREATE TABLE attempts (
	key          TEXT    NOT NULL PRIMARY KEY,
	count        INTEGER NOT NULL,
	window_start INTEGER NOT NULL,
	window_len   INTEGER NOT NULL,
	last_at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
