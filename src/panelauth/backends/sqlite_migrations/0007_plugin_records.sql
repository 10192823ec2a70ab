-- Plugins' own records (extension/storage.py): JSON text by namespace, collection and key, and
-- each namespace's schema version, moved by the plugin's migrations with a compare-and-set.
-- IF NOT EXISTS: a store whose version row was lost can be migrated again.
CREATE TABLE IF NOT EXISTS plugin_records (
    namespace           TEXT NOT NULL,
    collection          TEXT NOT NULL,
    key                 TEXT NOT NULL,
    value               TEXT NOT NULL,
    PRIMARY KEY (namespace, collection, key)
) STRICT;

CREATE TABLE IF NOT EXISTS plugin_versions (
    namespace           TEXT PRIMARY KEY,
    version             INTEGER NOT NULL
) STRICT;
