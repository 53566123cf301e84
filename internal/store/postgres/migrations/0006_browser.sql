-- Browser sign-in (authorization code flow): clients' redirect URIs,
-- consent flag and CORS origins; authorization codes (stored by SHA-256,
-- single use, counted atomically); browser sessions (stored by SHA-256).
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN third_party BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN origins TEXT NOT NULL DEFAULT '';

CREATE TABLE auth_codes (
	hash         BYTEA  PRIMARY KEY,
	client_id    TEXT COLLATE "C" NOT NULL,
	redirect_uri TEXT COLLATE "C" NOT NULL,
	challenge    TEXT COLLATE "C" NOT NULL,
	username     TEXT COLLATE "C" NOT NULL,
	scopes       TEXT   NOT NULL,
	nonce        TEXT   NOT NULL,
	auth_time    BIGINT NOT NULL,
	session_id   TEXT   NOT NULL,
	family_id    TEXT COLLATE "C" NOT NULL,
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	purge_at     BIGINT NOT NULL,
	redemptions  BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX auth_codes_purge_at ON auth_codes (purge_at);

CREATE TABLE web_sessions (
	id_hash    BYTEA  PRIMARY KEY,
	username   TEXT COLLATE "C" NOT NULL REFERENCES users (username) ON DELETE CASCADE,
	auth_time  BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);

CREATE INDEX web_sessions_username ON web_sessions (username);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
