-- The change signal (postgresql_base.py): a trigger on every table calls this for each row
-- changed, inside the writer's transaction; PostgreSQL sends the notice at commit (once per
-- transaction, duplicates are merged). The channel is named for the schema; the payload is
-- the writer's origin (`panelauth.origin`, set on each of a store's connections; empty for
-- any other writer, psql included), so a store can tell its own writes from others'.
-- Every script may run again over what it made (IF NOT EXISTS, OR REPLACE): a store whose
-- version rows were lost can be migrated again. OR REPLACE TRIGGER needs PostgreSQL 14.
CREATE OR REPLACE FUNCTION panelauth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        'panelauth_' || TG_TABLE_SCHEMA,
        coalesce(current_setting('panelauth.origin', true), '')
    );
    RETURN NULL;
END
$$;
