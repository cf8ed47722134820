-- Room on each page for the next version of its rows. A sync rewrites a changed person, their
-- employment and their link (its fingerprint and the record version it left); on a full page
-- that new version goes to another page and every index of the table gets an entry for it, while
-- with room on the page it stays there (a heap-only update) and no index is touched when no indexed
-- column changed: a title, a location, a fingerprint. At 1,000,000 people a delta of 1,000 changes
-- wrote ~4 pages per changed person and read index pages the cache no longer held.
--
-- Applies to pages written from now on; a store loaded before keeps its full pages until rows move
-- or an administrator rewrites the table (VACUUM FULL, which locks it).
ALTER TABLE employees SET (fillfactor = 90);
ALTER TABLE employments SET (fillfactor = 90);
ALTER TABLE org_units SET (fillfactor = 90);
ALTER TABLE record_links SET (fillfactor = 90);
