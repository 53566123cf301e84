-- A compromised signing key is revoked (tokengate keys revoke): its tokens are void.
ALTER TABLE signing_keys ADD COLUMN revoked_at BIGINT NOT NULL DEFAULT 0;
