-- Two-factor: encrypted secrets, used time steps (replay), wrong-code history, policy, issuers.
CREATE TABLE IF NOT EXISTS tfa_configs (
    user_name           text COLLATE "C" PRIMARY KEY,
    sealed_secret       bytea NOT NULL,
    created_at          double precision NOT NULL
);

CREATE TABLE IF NOT EXISTS tfa_used_steps (
    user_name           text COLLATE "C" NOT NULL,
    step                bigint NOT NULL,
    context             text NOT NULL CHECK (context IN ('session', 'enrol', 'header')),
    address             text NOT NULL,
    used_at             double precision NOT NULL,
    PRIMARY KEY (user_name, step)
);

CREATE TABLE IF NOT EXISTS tfa_failures (
    user_name           text COLLATE "C" NOT NULL,
    failed_at           double precision NOT NULL
);

CREATE INDEX IF NOT EXISTS tfa_failures_by_user ON tfa_failures (user_name, failed_at);

CREATE TABLE IF NOT EXISTS tfa_issuers (
    owner               text COLLATE "C" PRIMARY KEY,
    issuer              text NOT NULL
);

CREATE TABLE IF NOT EXISTS settings (
    key                 text COLLATE "C" PRIMARY KEY,
    value               text NOT NULL
);

CREATE OR REPLACE TRIGGER tfa_configs_changed AFTER INSERT OR UPDATE OR DELETE ON tfa_configs
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
CREATE OR REPLACE TRIGGER tfa_used_steps_changed AFTER INSERT OR UPDATE OR DELETE ON tfa_used_steps
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
CREATE OR REPLACE TRIGGER tfa_failures_changed AFTER INSERT OR UPDATE OR DELETE ON tfa_failures
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
CREATE OR REPLACE TRIGGER tfa_issuers_changed AFTER INSERT OR UPDATE OR DELETE ON tfa_issuers
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
CREATE OR REPLACE TRIGGER settings_changed AFTER INSERT OR UPDATE OR DELETE ON settings
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
