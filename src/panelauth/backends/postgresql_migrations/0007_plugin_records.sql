-- Plugins' own records (extension/storage.py): JSON text by namespace, collection and key, and
-- each namespace's schema version, moved by the plugin's migrations with a compare-and-set.
-- `text`, not `jsonb`: a value is given back exactly as it was put. COLLATE "C": keys are
-- ordered by code point, as SQLite's are.
CREATE TABLE IF NOT EXISTS plugin_records (
    namespace           text COLLATE "C" NOT NULL,
    collection          text COLLATE "C" NOT NULL,
    key                 text COLLATE "C" NOT NULL,
    value               text NOT NULL,
    PRIMARY KEY (namespace, collection, key)
);

CREATE TABLE IF NOT EXISTS plugin_versions (
    namespace           text COLLATE "C" PRIMARY KEY,
    version             integer NOT NULL
);

CREATE OR REPLACE TRIGGER plugin_records_changed AFTER INSERT OR UPDATE OR DELETE ON plugin_records
    FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
CREATE OR REPLACE TRIGGER plugin_versions_changed AFTER INSERT OR UPDATE OR DELETE
    ON plugin_versions FOR EACH ROW EXECUTE FUNCTION panelauth_changed();
