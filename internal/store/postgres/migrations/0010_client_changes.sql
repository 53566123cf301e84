-- Every change to a client notifies the channel tokengate_clients when its
-- transaction commits, so that every node's client cache drops what it
-- holds (each node LISTENs on it). The payload is the schema, so that
-- deployments sharing a database in different schemas can tell theirs.
CREATE FUNCTION tokengate_clients_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tokengate_clients', COALESCE(current_schema(), ''));
    RETURN NULL;
END
$$;
CREATE TRIGGER clients_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION tokengate_clients_changed();
