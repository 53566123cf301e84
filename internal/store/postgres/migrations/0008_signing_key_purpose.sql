-- OpenID Connect: an RS256 key that signs only ID tokens, beside the key that
-- signs access and refresh tokens. Each purpose ('' or 'id_token') has its own
-- active key: "at most one active key per purpose" is the database invariant
-- the compare-and-swap of AddSigningKey rests on.
ALTER TABLE signing_keys ADD COLUMN purpose TEXT NOT NULL DEFAULT '';
DROP INDEX signing_keys_one_active;
CREATE UNIQUE INDEX signing_keys_one_active_per_purpose ON signing_keys (purpose) WHERE retired_at = 0;
