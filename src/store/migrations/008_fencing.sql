-- Fencing: a run commits only while it still owns its row (status running, its
-- worker). The applying transaction records the database session it ran in,
-- for whoever has to find out what became of a run declared dead.
ALTER TABLE sync_runs ADD COLUMN backend_pid integer, ADD COLUMN backend_start timestamptz;
