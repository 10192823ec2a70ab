-- Brute-force protection (w§19): failed attempts, blocks and locks, allow/deny lists, and the
-- addresses root logged in from. Keys are namespaced and hashed by core/hulk.py (BF-10).
CREATE TABLE IF NOT EXISTS hulk_failures (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address_key         text COLLATE "C" NOT NULL,
    address             text NOT NULL,
    user_key            text COLLATE "C" NOT NULL,
    user_name           text NOT NULL,
    service             text NOT NULL,
    method              text NOT NULL,
    at                  double precision NOT NULL
);

CREATE INDEX IF NOT EXISTS hulk_failures_by_address ON hulk_failures (address_key, at);
CREATE INDEX IF NOT EXISTS hulk_failures_by_user ON hulk_failures (user_key, at);
CREATE INDEX IF NOT EXISTS hulk_failures_by_time ON hulk_failures (at);

CREATE TABLE IF NOT EXISTS hulk_blocks (
    kind                text COLLATE "C" NOT NULL CHECK (kind IN ('address', 'user')),
    key                 text COLLATE "C" NOT NULL,
    shown               text COLLATE "C" NOT NULL,
    blocked_at          double precision NOT NULL,
    until               double precision NOT NULL,
    excessive           boolean NOT NULL,
    service             text NOT NULL,
    method              text NOT NULL,
    notes               text NOT NULL,
    PRIMARY KEY (kind, key)
);

CREATE TABLE IF NOT EXISTS hulk_lists (
    list_name           text COLLATE "C" NOT NULL CHECK (list_name IN ('white', 'black')),
    network             text COLLATE "C" NOT NULL,
    comment             text NOT NULL,
    created_at          double precision NOT NULL,
    PRIMARY KEY (list_name, network)
);

CREATE TABLE IF NOT EXISTS hulk_root_addresses (
    address_key         text COLLATE "C" PRIMARY KEY,
    seen_at             double precision NOT NULL
);

CREATE OR REPLACE TRIGGER hulk_failures_changed AFTER INSERT OR UPDATE OR DELETE ON hulk_failures
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
CREATE OR REPLACE TRIGGER hulk_blocks_changed AFTER INSERT OR UPDATE OR DELETE ON hulk_blocks
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
CREATE OR REPLACE TRIGGER hulk_lists_changed AFTER INSERT OR UPDATE OR DELETE ON hulk_lists
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
CREATE OR REPLACE TRIGGER hulk_root_addresses_changed AFTER INSERT OR UPDATE OR DELETE
    ON hulk_root_addresses FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
