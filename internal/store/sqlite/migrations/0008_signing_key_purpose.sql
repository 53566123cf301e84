-- OpenID Connect: an RS256 key that signs only ID tokens, beside the key that
-- signs access and refresh tokens. Each purpose ('' or 'id_token') has its own
-- active key (retired_at = 0).
ALTER TABLE signing_keys ADD COLUMN purpose TEXT NOT NULL DEFAULT '';
