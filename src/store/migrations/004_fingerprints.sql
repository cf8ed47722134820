-- Faster full syncs.
--
-- 1. Staging: snapshot_rows is written 200,000 rows at a time. Its per-row
--    foreign key to snapshots cost about 1 s of such a COPY, and parsing each
--    source record and its attributes as jsonb about as much again. Rows now
--    go with their snapshot through a statement-level trigger, and `payload` and
--    `attributes` are kept as the JSON text the engine wrote (read back with
--    `::jsonb`).
ALTER TABLE snapshot_rows DROP CONSTRAINT snapshot_rows_snapshot_id_fkey;
-- Snapshot rows are a working copy of what a source sent: a pull can be
-- fetched again, and a pushed body is kept, durably, in `deliveries`. Writing
-- them to the WAL cost ~0.7 s of every 200,000-row COPY (and as much WAL for
-- every replica and backup) for data that is re-created on demand, so the table
-- is unlogged. After a crash of the database it is empty: a held or dry run
-- whose rows are gone fails with that reason, and a new sync re-creates them.
ALTER TABLE snapshot_rows SET UNLOGGED;
ALTER TABLE snapshot_rows ALTER COLUMN payload TYPE text USING payload::text;
-- Likewise `attributes`: planning parses it (`::jsonb`) only for the rows it compares in full.
ALTER TABLE snapshot_rows ALTER COLUMN attributes TYPE text USING attributes::text;

-- Planning needs to know how many rows a snapshot has (see execute.ts); a small
-- sample finds that out, so the statistics of these two columns are cheap.
ALTER TABLE snapshot_rows ALTER COLUMN snapshot_id SET STATISTICS 10, ALTER COLUMN entity SET STATISTICS 10;

CREATE FUNCTION snapshots_delete_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM snapshot_rows r USING gone g WHERE r.snapshot_id = g.id;
  RETURN NULL;
END $$;
CREATE TRIGGER snapshots_delete_rows AFTER DELETE ON snapshots
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION snapshots_delete_rows();

-- Whether two rows of the snapshot share an external id (counted while staging;
-- NULL: not known). Planning looks for duplicates only when there are some.
ALTER TABLE snapshots ADD COLUMN duplicate_ids boolean;

-- 2. Fingerprints: `fp` is a hash of a row's canonical fields and references
--    (computed when it is staged). A link remembers the fingerprint of the row
--    it last applied and the version of the stored record that left
--    (`synced_xmin`). While both still hold, the record is exactly what that
--    row makes of it, so planning takes it as unchanged without resolving
--    references or comparing fields. Any write to the record, by a sync or
--    anyone else, gives it a new xmin and so sends it back to the full
--    comparison.
ALTER TABLE snapshot_rows ADD COLUMN fp uuid;
ALTER TABLE record_links ADD COLUMN fp uuid, ADD COLUMN synced_xmin xid;
