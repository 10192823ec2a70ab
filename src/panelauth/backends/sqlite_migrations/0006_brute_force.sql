-- Brute-force protection (w§19): failed attempts, blocks and locks, allow/deny lists, and the
-- addresses root logged in from. Keys are namespaced and hashed by core/hulk.py (BF-10).
-- IF NOT EXISTS: a store whose version row was lost can be migrated again.
CREATE TABLE IF NOT EXISTS hulk_failures (
    id                  INTEGER PRIMARY KEY,
    address_key         TEXT NOT NULL,
    address             TEXT NOT NULL,
    user_key            TEXT NOT NULL,
    user                TEXT NOT NULL,
    service             TEXT NOT NULL,
    method              TEXT NOT NULL,
    at                  REAL NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS hulk_failures_by_address ON hulk_failures (address_key, at);

CREATE INDEX IF NOT EXISTS hulk_failures_by_user ON hulk_failures (user_key, at);

CREATE INDEX IF NOT EXISTS hulk_failures_by_time ON hulk_failures (at);

CREATE TABLE IF NOT EXISTS hulk_blocks (
    kind                TEXT NOT NULL CHECK (kind IN ('address', 'user')),
    key                 TEXT NOT NULL,
    shown               TEXT NOT NULL,
    blocked_at          REAL NOT NULL,
    until               REAL NOT NULL,
    excessive           INTEGER NOT NULL,
    service             TEXT NOT NULL,
    method              TEXT NOT NULL,
    notes               TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) STRICT;

CREATE TABLE IF NOT EXISTS hulk_lists (
    list_name           TEXT NOT NULL CHECK (list_name IN ('white', 'black')),
    network             TEXT NOT NULL,
    comment             TEXT NOT NULL,
    created_at          REAL NOT NULL,
    PRIMARY KEY (list_name, network)
) STRICT;

CREATE TABLE IF NOT EXISTS hulk_root_addresses (
    address_key         TEXT PRIMARY KEY,
    seen_at             REAL NOT NULL
) STRICT;
