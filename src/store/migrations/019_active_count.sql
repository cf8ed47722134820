-- The guards' denominator, an integration's active people, is counted as its employee links less
-- the terminated people among them (src/engine/plan.ts): an index-only count of links and one probe
-- per leaver, where joining every link to its person cost ~1 s at 1,000,000 people. Leavers are
-- found through this index (people are never deleted, so every employee link names a person).
CREATE INDEX employees_terminated_idx ON employees (id) WHERE status = 'terminated';
