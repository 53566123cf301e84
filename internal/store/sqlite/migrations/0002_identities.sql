-- External identities, keyed by (issuer, subject), each linked to the
-- local user it logs in as. A link goes with its user.
CREATE TABLE identity_links (
	issuer     TEXT    NOT NULL,
	subject    TEXT    NOT NULL,
	username   TEXT    NOT NULL REFERENCES users (username) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (issuer, subject)
) STRICT;

CREATE INDEX identity_links_username ON identity_links (username);
