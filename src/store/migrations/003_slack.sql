-- Slack: run messages kept up to date in place, and alert threads per integration.

-- A channel message that follows a run ("Sync staged: run #12" → running → summary).
CREATE TABLE slack_run_messages (
  channel    text NOT NULL,
  ts         text NOT NULL,
  run_id     bigint NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
  thread_ts  text,
  rendered   text,                          -- the run state last shown (status|child statuses)
  failures   integer NOT NULL DEFAULT 0,    -- failed updates in a row; given up at 10
  gone       boolean NOT NULL DEFAULT false, -- Slack says it can no longer be updated
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (channel, ts)
);
CREATE INDEX slack_run_messages_run_idx ON slack_run_messages (run_id);
CREATE INDEX slack_run_messages_open_idx ON slack_run_messages (created_at) WHERE NOT gone;

-- The last alert posted for an integration: its summary message is the thread
-- where per-person errors and, later, the resolution are posted.
CREATE TABLE slack_alert_threads (
  integration_id  text PRIMARY KEY,
  channel         text NOT NULL,
  ts              text NOT NULL,
  run_id          bigint NOT NULL,
  status          text NOT NULL,
  resolved_by_run bigint,
  resolved_at     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now()
);
