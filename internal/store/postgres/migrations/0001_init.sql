-- Initial schema, mirroring the SQLite backend's. Times are unix
-- nanoseconds (0 = zero time), durations are nanoseconds, lists (scopes,
-- grants) are space-separated tokens. Identifiers compare bytewise
-- (COLLATE "C"), as in SQLite, whatever the database's locale.

CREATE TABLE users (
	username      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	password_hash TEXT    NOT NULL DEFAULT '',
	disabled      BOOLEAN NOT NULL DEFAULT false,
	scopes        TEXT    NOT NULL DEFAULT '',
	created_at    BIGINT  NOT NULL,
	updated_at    BIGINT  NOT NULL
);

CREATE TABLE clients (
	id                     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	secret_hash            BYTEA,
	public                 BOOLEAN NOT NULL DEFAULT false,
	grants                 TEXT    NOT NULL DEFAULT '',
	scopes                 TEXT    NOT NULL DEFAULT '',
	access_token_ttl       BIGINT  NOT NULL DEFAULT 0,
	refresh_token_ttl      BIGINT  NOT NULL DEFAULT 0,
	refresh_reuse_interval BIGINT  NOT NULL DEFAULT 0,
	created_at             BIGINT  NOT NULL
);

CREATE TABLE api_keys (
	id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	hash         BYTEA  NOT NULL UNIQUE,
	name         TEXT   NOT NULL DEFAULT '',
	username     TEXT COLLATE "C" NOT NULL DEFAULT '',
	client_id    TEXT COLLATE "C" NOT NULL DEFAULT '',
	prefix       TEXT   NOT NULL DEFAULT '',
	last4        TEXT   NOT NULL DEFAULT '',
	scopes       TEXT   NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL DEFAULT 0,
	last_used_at BIGINT NOT NULL DEFAULT 0,
	revoked_at   BIGINT NOT NULL DEFAULT 0
);

-- Deleting a user or client deletes its keys.
CREATE INDEX api_keys_username ON api_keys (username) WHERE username <> '';
CREATE INDEX api_keys_client_id ON api_keys (client_id) WHERE client_id <> '';

-- A family is one login session; generation is the generation of its only
-- live token and expires_at that token's expiry. Every rotation updates the
-- row, so no index covers a column that rotation changes (generation,
-- rotated_at, expires_at) and pages keep free space: the updates stay HOT
-- (heap-only, no index writes, no index bloat). DeleteExpired walks the
-- primary key to find expired families instead of an expires_at index.
CREATE TABLE families (
	id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	subject    TEXT COLLATE "C" NOT NULL,
	client_id  TEXT COLLATE "C" NOT NULL,
	scopes     TEXT    NOT NULL DEFAULT '',
	auth_time  BIGINT  NOT NULL,
	generation BIGINT  NOT NULL,
	rotated_at BIGINT  NOT NULL DEFAULT 0,
	revoked    BOOLEAN NOT NULL DEFAULT false,
	expires_at BIGINT  NOT NULL,
	extra      TEXT    NOT NULL DEFAULT ''
) WITH (fillfactor = 80);

CREATE INDEX families_subject ON families (subject);
CREATE INDEX families_client_id ON families (client_id);

-- Every refresh token ever issued, live or rotated, until it expires: a
-- rotated token is kept so that presenting it again is detected as reuse.
-- family_id has no foreign key (unlike SQLite's schema): its check on every
-- rotation cost a fifth of the rotation's time. The store keeps the
-- invariant itself: a token is inserted only by the statement that creates
-- or rotates its family (holding the family row), and DeleteExpired
-- deletes a family's tokens before the family. A token whose family is gone
-- would be harmless anyway: lookups join the family and find nothing.
CREATE TABLE refresh_tokens (
	hash       BYTEA  NOT NULL PRIMARY KEY,
	family_id  TEXT COLLATE "C" NOT NULL,
	generation BIGINT NOT NULL,
	issued_at  BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE denylist (
	jti        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	expires_at BIGINT NOT NULL
);

CREATE INDEX denylist_expires_at ON denylist (expires_at);

-- The active key is the one with retired_at = 0; the partial unique index
-- makes "at most one active key" a database invariant, which is what the
-- compare-and-swap of AddSigningKey rests on.
CREATE TABLE signing_keys (
	kid        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	algorithm  TEXT    NOT NULL,
	private    BYTEA   NOT NULL,
	encrypted  BOOLEAN NOT NULL DEFAULT false,
	created_at BIGINT  NOT NULL,
	retired_at BIGINT  NOT NULL DEFAULT 0,
	expires_at BIGINT  NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at = 0;

-- Failed login counters, one fixed window per key. window_len is the length
-- of the window last used, so that DeleteExpired can tell stale rows.
CREATE TABLE attempts (
	key          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	count        BIGINT NOT NULL,
	window_start BIGINT NOT NULL,
	window_len   BIGINT NOT NULL,
	last_at      BIGINT NOT NULL
);
