-- Effective dates: an employee whose start date is ahead is stored `pending` (a pre-hire) and
-- becomes active on that date; an `effective` run applies the transitions that came due.
ALTER TABLE employees DROP CONSTRAINT employees_status_check;
ALTER TABLE employees ADD CONSTRAINT employees_status_check CHECK (status IN ('pending', 'active', 'terminated'));

ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_mode_check;
ALTER TABLE sync_runs ADD CONSTRAINT sync_runs_mode_check CHECK (mode IN ('full', 'recent', 'user', 'effective'));

-- The due transitions and the upcoming calendar read these, not every employee.
CREATE INDEX employees_starting_idx ON employees (start_date) WHERE status = 'pending';
CREATE INDEX employees_ending_idx ON employees (end_date) WHERE status <> 'terminated' AND end_date IS NOT NULL;
