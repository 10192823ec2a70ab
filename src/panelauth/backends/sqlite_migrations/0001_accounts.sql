-- Accounts (root and cPanel accounts, resellers among them), mailboxes, feature lists.
CREATE TABLE accounts (
    user                TEXT PRIMARY KEY,
    domain              TEXT NOT NULL UNIQUE,
    owner               TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    plan                TEXT NOT NULL DEFAULT 'default',
    feature_list        TEXT NOT NULL DEFAULT 'default',
    contact_email       TEXT NOT NULL DEFAULT '',
    suspended           INTEGER NOT NULL DEFAULT 0 CHECK (suspended IN (0, 1)),
    suspend_reason      TEXT NOT NULL DEFAULT '',
    is_reseller         INTEGER NOT NULL DEFAULT 0 CHECK (is_reseller IN (0, 1)),
    acls                TEXT NOT NULL DEFAULT '[]',
    created_at          REAL NOT NULL,
    credential_version  INTEGER NOT NULL DEFAULT 1
) STRICT;

CREATE INDEX accounts_by_owner ON accounts (owner);

CREATE TABLE mailboxes (
    address             TEXT PRIMARY KEY,
    account             TEXT NOT NULL REFERENCES accounts (user) ON DELETE CASCADE,
    password_hash       TEXT NOT NULL,
    quota_mb            INTEGER NOT NULL DEFAULT 0,
    suspended_login     INTEGER NOT NULL DEFAULT 0 CHECK (suspended_login IN (0, 1)),
    created_at          REAL NOT NULL,
    credential_version  INTEGER NOT NULL DEFAULT 1
) STRICT;

CREATE INDEX mailboxes_by_account ON mailboxes (account);

CREATE TABLE feature_lists (
    name                TEXT NOT NULL,
    feature             TEXT NOT NULL,
    enabled             INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    PRIMARY KEY (name, feature)
) STRICT;

CREATE TABLE feature_list_names (
    name                TEXT PRIMARY KEY
) STRICT;

INSERT INTO feature_list_names (name) VALUES ('default');
