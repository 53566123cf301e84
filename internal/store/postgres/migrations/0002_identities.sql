-- External identities, keyed by (issuer, subject), each linked to the
-- local user it logs in as. A link goes with its user.
CREATE TABLE identity_links (
	issuer     TEXT COLLATE "C" NOT NULL,
	subject    TEXT COLLATE "C" NOT NULL,
	username   TEXT COLLATE "C" NOT NULL REFERENCES users (username) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (issuer, subject)
);

CREATE INDEX identity_links_username ON identity_links (username);
