-- Accounts (root and cPanel accounts, resellers among them), mailboxes, feature lists.
-- Names, keys and addresses are COLLATE "C": they sort byte by byte, as SQLite's do.
-- `user_name`, not `user`: in PostgreSQL a bare `user` is the current role.
CREATE TABLE IF NOT EXISTS accounts (
    user_name           text COLLATE "C" PRIMARY KEY,
    domain              text COLLATE "C" NOT NULL UNIQUE,
    owner               text COLLATE "C" NOT NULL,
    password_hash       text NOT NULL,
    plan                text NOT NULL DEFAULT 'default',
    feature_list        text NOT NULL DEFAULT 'default',
    contact_email       text NOT NULL DEFAULT '',
    suspended           boolean NOT NULL DEFAULT false,
    suspend_reason      text NOT NULL DEFAULT '',
    is_reseller         boolean NOT NULL DEFAULT false,
    acls                text NOT NULL DEFAULT '[]',
    created_at          double precision NOT NULL,
    credential_version  bigint NOT NULL DEFAULT 1
);

CREATE INDEX IF NOT EXISTS accounts_by_owner ON accounts (owner);

CREATE TABLE IF NOT EXISTS mailboxes (
    address             text COLLATE "C" PRIMARY KEY,
    account             text COLLATE "C" NOT NULL
                        REFERENCES accounts (user_name) ON DELETE CASCADE,
    password_hash       text NOT NULL,
    quota_mb            bigint NOT NULL DEFAULT 0,
    suspended_login     boolean NOT NULL DEFAULT false,
    created_at          double precision NOT NULL,
    credential_version  bigint NOT NULL DEFAULT 1
);

CREATE INDEX IF NOT EXISTS mailboxes_by_account ON mailboxes (account);

CREATE TABLE IF NOT EXISTS feature_lists (
    name                text COLLATE "C" NOT NULL,
    feature             text COLLATE "C" NOT NULL,
    enabled             boolean NOT NULL,
    PRIMARY KEY (name, feature)
);

CREATE TABLE IF NOT EXISTS feature_list_names (
    name                text COLLATE "C" PRIMARY KEY
);

INSERT INTO feature_list_names (name) VALUES ('default') ON CONFLICT DO NOTHING;

CREATE OR REPLACE TRIGGER accounts_changed AFTER INSERT OR UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
CREATE OR REPLACE TRIGGER mailboxes_changed AFTER INSERT OR UPDATE OR DELETE ON mailboxes
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
CREATE OR REPLACE TRIGGER feature_lists_changed AFTER INSERT OR UPDATE OR DELETE ON feature_lists
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
CREATE OR REPLACE TRIGGER feature_list_names_changed AFTER INSERT OR UPDATE OR DELETE ON feature_list_names
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
