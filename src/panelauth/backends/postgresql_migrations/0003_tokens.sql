-- API tokens (WHM and cPanel) and WHM access hashes, stored only as SHA-512 hex digests.
CREATE TABLE IF NOT EXISTS api_tokens (
    owner               text COLLATE "C" NOT NULL
                        REFERENCES accounts (user_name) ON DELETE CASCADE ON UPDATE CASCADE,
    kind                text NOT NULL CHECK (kind IN ('whm', 'cpanel')),
    name                text COLLATE "C" NOT NULL,
    digest              text COLLATE "C" NOT NULL,
    created_at          bigint NOT NULL,
    expires_at          bigint,
    acls                text,
    whitelist_ips       text,
    PRIMARY KEY (owner, kind, name)
);

CREATE UNIQUE INDEX IF NOT EXISTS api_tokens_by_digest ON api_tokens (owner, kind, digest);

CREATE TABLE IF NOT EXISTS access_hashes (
    user_name           text COLLATE "C" PRIMARY KEY
                        REFERENCES accounts (user_name) ON DELETE CASCADE ON UPDATE CASCADE,
    digest              text NOT NULL,
    created_at          bigint NOT NULL
);

CREATE OR REPLACE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
CREATE OR REPLACE TRIGGER access_hashes_changed AFTER INSERT OR UPDATE OR DELETE ON access_hashes
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
