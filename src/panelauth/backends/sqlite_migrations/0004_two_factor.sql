-- Two-factor: encrypted secrets, used time steps (replay), wrong-code history, policy, issuers.
CREATE TABLE tfa_configs (
    user                TEXT PRIMARY KEY,
    sealed_secret       BLOB NOT NULL,
    created_at          REAL NOT NULL
) STRICT;

CREATE TABLE tfa_used_steps (
    user                TEXT NOT NULL,
    step                INTEGER NOT NULL,
    context             TEXT NOT NULL CHECK (context IN ('session', 'enrol', 'header')),
    address             TEXT NOT NULL,
    used_at             REAL NOT NULL,
    PRIMARY KEY (user, step)
) STRICT;

CREATE TABLE tfa_failures (
    user                TEXT NOT NULL,
    failed_at           REAL NOT NULL
) STRICT;

CREATE INDEX tfa_failures_by_user ON tfa_failures (user, failed_at);

CREATE TABLE tfa_issuers (
    owner               TEXT PRIMARY KEY,
    issuer              TEXT NOT NULL
) STRICT;

CREATE TABLE settings (
    key                 TEXT PRIMARY KEY,
    value               TEXT NOT NULL
) STRICT;
