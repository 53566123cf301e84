-- RFC 8628 device authorizations. Both codes are stored as SHA-256
-- hashes; a user code is unique among live authorizations (an expired one
-- is replaced by the insert of a new one with the same code). version is
-- the compare-and-set counter of every update.
CREATE TABLE device_authorizations (
	device_code_hash BLOB    NOT NULL PRIMARY KEY,
	user_code_hash   BLOB    NOT NULL UNIQUE,
	client_id        TEXT    NOT NULL,
	scopes           TEXT    NOT NULL DEFAULT '',
	created_at       INTEGER NOT NULL,
	expires_at       INTEGER NOT NULL,
	poll_interval    INTEGER NOT NULL,
	last_poll_at     INTEGER NOT NULL DEFAULT 0,
	status           TEXT    NOT NULL,
	username         TEXT    NOT NULL DEFAULT '',
	auth_time        INTEGER NOT NULL DEFAULT 0,
	version          INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX device_authorizations_expires_at ON device_authorizations (expires_at);
