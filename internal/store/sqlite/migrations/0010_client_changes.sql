-- A counter that every change to a client bumps in the same transaction,
-- so that a client cache can tell (through PRAGMA data_version and this
-- row) that another connection or process changed a client.
CREATE TABLE client_changes (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO client_changes (id, version) VALUES (1, 0);
CREATE TRIGGER clients_changed_insert AFTER INSERT ON clients
BEGIN
    UPDATE client_changes SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER clients_changed_update AFTER UPDATE ON clients
BEGIN
    UPDATE client_changes SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER clients_changed_delete AFTER DELETE ON clients
BEGIN
    UPDATE client_changes SET version = version + 1 WHERE id = 1;
END;
