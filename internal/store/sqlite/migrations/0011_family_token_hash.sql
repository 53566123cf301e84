-- Storage that grows with sessions, not with rotations. A refresh token
-- now states its family and generation under a MAC (or, in JWT form,
-- under its signature), so a rotated token needs no row for its reuse to
-- be detected: a family keeps the SHA-256 of its live token (hash) and of
-- the one that token replaced (prev_hash, for the reuse interval's grace).
-- refresh_tokens keeps the rows of tokens issued before this migration:
-- they are looked up by hash as before, never written again, and leave
-- with DeleteExpired once expired. The backfill lets families of that
-- time rotate into the new form.
ALTER TABLE families ADD COLUMN hash BLOB;
ALTER TABLE families ADD COLUMN prev_hash BLOB;
UPDATE families SET
	hash = (SELECT t.hash FROM refresh_tokens t WHERE t.family_id = families.id AND t.generation = families.generation),
	prev_hash = (SELECT t.hash FROM refresh_tokens t WHERE t.family_id = families.id AND t.generation = families.generation - 1);
