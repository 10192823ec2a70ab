-- Browser sessions: typed columns, one record per session, only a hash of the secret (CV-2).
-- The sweep finds expired sessions by expiry: an index, so it never scans a large store.
CREATE TABLE IF NOT EXISTS sessions (
    session_id          text COLLATE "C" PRIMARY KEY,
    secret_hash         text NOT NULL,
    user_name           text COLLATE "C" NOT NULL,
    account             text COLLATE "C",
    service             text NOT NULL CHECK (service IN ('cpaneld', 'whostmgrd', 'webmaild')),
    kind                text NOT NULL
                        CHECK (kind IN ('password', 'sso', 'transfer', 'webmail_handoff')),
    state               text NOT NULL CHECK (state IN ('pending_2fa', 'unused', 'active')),
    security_token      text NOT NULL,
    creator             text NOT NULL,
    possessor           text,
    method              text NOT NULL,
    bound_address       text,
    created_at          double precision NOT NULL,
    last_seen           double precision NOT NULL,
    expires_at          double precision NOT NULL,
    wrong_tokens        bigint NOT NULL DEFAULT 0,
    credential_version  bigint NOT NULL DEFAULT 0,
    user_agent          text NOT NULL DEFAULT ''
);

CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_name);
CREATE INDEX IF NOT EXISTS sessions_by_account ON sessions (account);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);

CREATE OR REPLACE TRIGGER sessions_changed AFTER INSERT OR UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
