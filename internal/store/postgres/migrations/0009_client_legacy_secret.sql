-- A client secret hash imported from another system (bcrypt, Django's hashers),
-- verified through the hashing queue and replaced by secret_hash at the first
-- successful authentication (tokengate client import, issue 15).
ALTER TABLE clients ADD COLUMN legacy_secret_hash TEXT NOT NULL DEFAULT '';
