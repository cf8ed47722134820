-- Quarantine: an integration whose runs fail again and again stops being scheduled, and is
-- retried with a growing pause until a run succeeds or an admin resumes it.
ALTER TABLE integration_state
  ADD COLUMN failures           integer NOT NULL DEFAULT 0,   -- runs in a row that failed
  ADD COLUMN quarantined_at     timestamptz,
  ADD COLUMN quarantine_reason  text,
  ADD COLUMN quarantine_retries integer NOT NULL DEFAULT 0,
  ADD COLUMN retry_at           timestamptz;                  -- when a scheduled run may try again
