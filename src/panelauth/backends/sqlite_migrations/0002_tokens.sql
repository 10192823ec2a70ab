-- API tokens (WHM and cPanel) and WHM access hashes, stored only as SHA-512 hex digests.
CREATE TABLE api_tokens (
    owner               TEXT NOT NULL REFERENCES accounts (user) ON DELETE CASCADE ON UPDATE CASCADE,
    kind                TEXT NOT NULL CHECK (kind IN ('whm', 'cpanel')),
    name                TEXT NOT NULL,
    digest              TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER,
    acls                TEXT,
    whitelist_ips       TEXT,
    PRIMARY KEY (owner, kind, name)
) STRICT;

CREATE UNIQUE INDEX api_tokens_by_digest ON api_tokens (owner, kind, digest);

CREATE TABLE access_hashes (
    user                TEXT PRIMARY KEY REFERENCES accounts (user) ON DELETE CASCADE ON UPDATE CASCADE,
    digest              TEXT NOT NULL,
    created_at          INTEGER NOT NULL
) STRICT;
