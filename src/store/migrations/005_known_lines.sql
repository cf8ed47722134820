-- Recognising source lines without parsing them.
--
-- A row read from an NDJSON line is fingerprinted by the line's own text (and
-- the integration's mapping), so staging can tell a line it applied before by
-- hashing it, without parsing it: such a row is staged `unparsed`, with the
-- payload and the link's entity and external id, and nothing else.
ALTER TABLE snapshot_rows ADD COLUMN unparsed boolean NOT NULL DEFAULT false;

-- The references of the row a link was last applied from, in the order plan.ts
-- checks them (org units: parent, manager; employees: manager, org unit;
-- employments: employee, org unit). Planning checks an unparsed row's references
-- with these: they are the line's, since the line is the same. NULL on links
-- recorded before this column: staging does not recognise lines by those.
ALTER TABLE record_links ADD COLUMN refs text[];
