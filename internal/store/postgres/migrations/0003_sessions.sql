-- Sessions: the refresh policy is fixed at login and stored with the
-- family ('' for families created before: the route's policy applies), and
-- each user has a not-before time (unix nanoseconds, 0 = never) before
-- which every token issued to the user is inactive.
ALTER TABLE families ADD COLUMN rotation TEXT NOT NULL DEFAULT '';
ALTER TABLE families ADD COLUMN format TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN not_before BIGINT NOT NULL DEFAULT 0;
