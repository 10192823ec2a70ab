-- Browser sessions: typed columns, one record per session, only a hash of the secret (CV-2).
CREATE TABLE sessions (
    session_id          TEXT PRIMARY KEY,
    secret_hash         TEXT NOT NULL,
    user                TEXT NOT NULL,
    account             TEXT,
    service             TEXT NOT NULL CHECK (service IN ('cpaneld', 'whostmgrd', 'webmaild')),
    kind                TEXT NOT NULL CHECK (kind IN ('password', 'sso', 'transfer', 'webmail_handoff')),
    state               TEXT NOT NULL CHECK (state IN ('pending_2fa', 'unused', 'active')),
    security_token      TEXT NOT NULL,
    creator             TEXT NOT NULL,
    possessor           TEXT,
    method              TEXT NOT NULL,
    bound_address       TEXT,
    created_at          REAL NOT NULL,
    last_seen           REAL NOT NULL,
    expires_at          REAL NOT NULL,
    wrong_tokens        INTEGER NOT NULL DEFAULT 0,
    credential_version  INTEGER NOT NULL DEFAULT 0,
    user_agent          TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX sessions_by_user ON sessions (user);
CREATE INDEX sessions_by_account ON sessions (account);
