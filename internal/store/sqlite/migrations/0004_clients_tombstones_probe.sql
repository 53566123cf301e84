-- Per-client introspection permission and allowed resources (RFC 8707);
-- tombstones of deleted users and clients, so that bootstrap does not
-- re-create them; a table the readiness probe writes to.

ALTER TABLE clients ADD COLUMN no_introspect INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '';

-- kind is 'user' or 'client'. Triggers keep it in step with every delete
-- and insert, in the same transaction, whatever the code path.
CREATE TABLE tombstones (
	kind       TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	deleted_at INTEGER NOT NULL,
	PRIMARY KEY (kind, name)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER users_tombstone AFTER DELETE ON users BEGIN
	INSERT OR REPLACE INTO tombstones (kind, name, deleted_at) VALUES ('user', OLD.username, unixepoch());
END;
CREATE TRIGGER users_untombstone AFTER INSERT ON users BEGIN
	DELETE FROM tombstones WHERE kind = 'user' AND name = NEW.username;
END;
CREATE TRIGGER clients_tombstone AFTER DELETE ON clients BEGIN
	INSERT OR REPLACE INTO tombstones (kind, name, deleted_at) VALUES ('client', OLD.id, unixepoch());
END;
CREATE TRIGGER clients_untombstone AFTER INSERT ON clients BEGIN
	DELETE FROM tombstones WHERE kind = 'client' AND name = NEW.id;
END;

CREATE TABLE write_probe (
	id  INTEGER NOT NULL PRIMARY KEY,
	pad BLOB    NOT NULL
) STRICT;
