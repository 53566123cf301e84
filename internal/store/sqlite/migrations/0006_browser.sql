-- Browser sign-in (authorization code flow): clients' redirect URIs,
-- consent flag and CORS origins; authorization codes (stored by SHA-256,
-- single use, counted atomically); browser sessions (stored by SHA-256).
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN third_party INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN origins TEXT NOT NULL DEFAULT '';

CREATE TABLE auth_codes (
	hash         BLOB    PRIMARY KEY,
	client_id    TEXT    NOT NULL,
	redirect_uri TEXT    NOT NULL,
	challenge    TEXT    NOT NULL,
	username     TEXT    NOT NULL,
	scopes       TEXT    NOT NULL,
	nonce        TEXT    NOT NULL,
	auth_time    INTEGER NOT NULL,
	session_id   TEXT    NOT NULL,
	family_id    TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	purge_at     INTEGER NOT NULL,
	redemptions  INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX auth_codes_purge_at ON auth_codes (purge_at);

CREATE TABLE web_sessions (
	id_hash    BLOB    PRIMARY KEY,
	username   TEXT    NOT NULL REFERENCES users (username) ON DELETE CASCADE,
	auth_time  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX web_sessions_username ON web_sessions (username);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
