-- Recognising source lines without parsing them.
--
-- A row read from an NDJSON line is fingerprinted by the line's own text (and
-- the integration's mapping), so staging can tell a line it applied before by
-- hashing it, without parsing it: such a row is staged `unparsed`, with the
-- payload and the link's entity and external id, and nothing else.
ALTER TABLE snapshot_rows ADD COLUMN unparsed boolean NOT NULL DEFAULT false;
-- The mapping (a hash of it) those lines were recognised under: parsing them later
-- (a dry run applied, a held run confirmed) needs the same one.
ALTER TABLE snapshots ADD COLUMN mapping_key text;

-- A fingerprint is now recorded only for a record whose references each
-- resolved through one of the integration's links, checked when it is applied,
-- so planning no longer resolves the references of a fingerprinted row (an
-- unparsed row has none at hand). That holds while links are not re-pointed or
-- removed, which the engine never does; doing it by hand clears the
-- integration's fingerprints, and its next run compares every row in full.
CREATE FUNCTION record_links_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE record_links SET fp = NULL, synced_xmin = NULL
  WHERE fp IS NOT NULL AND integration_id IN (SELECT integration_id FROM moved);
  RETURN NULL;
END $$;
CREATE TRIGGER record_links_deleted AFTER DELETE ON record_links
  REFERENCING OLD TABLE AS moved FOR EACH STATEMENT EXECUTE FUNCTION record_links_moved();

CREATE FUNCTION record_links_repointed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE record_links SET fp = NULL, synced_xmin = NULL
  WHERE fp IS NOT NULL AND integration_id IN (OLD.integration_id, NEW.integration_id);
  RETURN NULL;
END $$;
CREATE TRIGGER record_links_repointed AFTER UPDATE ON record_links FOR EACH ROW
  WHEN ((OLD.integration_id, OLD.entity, OLD.external_id, OLD.record_id) IS DISTINCT FROM (NEW.integration_id, NEW.entity, NEW.external_id, NEW.record_id))
  EXECUTE FUNCTION record_links_repointed();

-- Fingerprints recorded before were trusted only after planning resolved their
-- references again; they are dropped, and recorded anew by the next runs.
UPDATE record_links SET fp = NULL, synced_xmin = NULL WHERE fp IS NOT NULL;
