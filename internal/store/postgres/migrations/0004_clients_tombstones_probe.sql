-- Per-client introspection permission and allowed resources (RFC 8707);
-- tombstones of deleted users and clients, so that bootstrap does not
-- re-create them; a table the readiness probe writes to.

ALTER TABLE clients ADD COLUMN no_introspect BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '';

-- kind is 'user' or 'client'. Triggers keep it in step with every delete
-- and insert, in the same transaction, whatever the code path.
CREATE TABLE tombstones (
	kind       TEXT COLLATE "C" NOT NULL,
	name       TEXT COLLATE "C" NOT NULL,
	deleted_at BIGINT NOT NULL,
	PRIMARY KEY (kind, name)
);

CREATE FUNCTION tokengate_user_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		INSERT INTO tombstones (kind, name, deleted_at) VALUES ('user', OLD.username, extract(epoch FROM now())::BIGINT)
			ON CONFLICT (kind, name) DO UPDATE SET deleted_at = EXCLUDED.deleted_at;
		RETURN OLD;
	END IF;
	DELETE FROM tombstones WHERE kind = 'user' AND name = NEW.username;
	RETURN NEW;
END;
$$;

CREATE FUNCTION tokengate_client_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		INSERT INTO tombstones (kind, name, deleted_at) VALUES ('client', OLD.id, extract(epoch FROM now())::BIGINT)
			ON CONFLICT (kind, name) DO UPDATE SET deleted_at = EXCLUDED.deleted_at;
		RETURN OLD;
	END IF;
	DELETE FROM tombstones WHERE kind = 'client' AND name = NEW.id;
	RETURN NEW;
END;
$$;

CREATE TRIGGER users_tombstone AFTER INSERT OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION tokengate_user_tombstone();
CREATE TRIGGER clients_tombstone AFTER INSERT OR DELETE ON clients FOR EACH ROW EXECUTE FUNCTION tokengate_client_tombstone();

CREATE TABLE write_probe (
	id  INTEGER NOT NULL PRIMARY KEY,
	pad BYTEA   NOT NULL
);
