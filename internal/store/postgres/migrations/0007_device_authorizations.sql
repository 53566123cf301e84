-- RFC 8628 device authorizations. Both codes are stored as SHA-256
-- hashes; a user code is unique among live authorizations (an expired one
-- is replaced by the insert of a new one with the same code). version is
-- the compare-and-set counter of every update.
CREATE TABLE device_authorizations (
	device_code_hash BYTEA   NOT NULL PRIMARY KEY,
	user_code_hash   BYTEA   NOT NULL UNIQUE,
	client_id        TEXT COLLATE "C" NOT NULL,
	scopes           TEXT    NOT NULL DEFAULT '',
	created_at       BIGINT  NOT NULL,
	expires_at       BIGINT  NOT NULL,
	poll_interval    BIGINT  NOT NULL,
	last_poll_at     BIGINT  NOT NULL DEFAULT 0,
	status           TEXT    NOT NULL,
	username         TEXT COLLATE "C" NOT NULL DEFAULT '',
	auth_time        BIGINT  NOT NULL DEFAULT 0,
	version          BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX device_authorizations_expires_at ON device_authorizations (expires_at);
