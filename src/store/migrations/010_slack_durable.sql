-- Slack alerts leave through the outbox ('run.finished' rows). What a delivery
-- has already posted is recorded after each message, so an attempt that stops
-- part-way (Slack error, restart, lost process) is continued by the next one
-- instead of posting the same messages again.
CREATE TABLE slack_alert_deliveries (
  outbox_id     bigint PRIMARY KEY REFERENCES outbox (id) ON DELETE CASCADE,
  run_id        bigint NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('alert', 'resolved')),
  channel       text,                            -- alert: the summary's channel; resolved: the thread's
  ts            text,                            -- alert: the summary message; resolved: the thread answered
  thread_run_id bigint,                          -- resolved: the run the thread was opened for
  replies       integer NOT NULL DEFAULT 0,      -- thread replies posted (resolved: 1 once answered)
  csv_done      boolean NOT NULL DEFAULT false,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Signed Slack requests already taken, by signature (an HMAC of timestamp and
-- body): the same signed request sent again is acknowledged and not processed,
-- whichever process receives it. Kept well past Slack's 5-minute window.
CREATE TABLE slack_requests_seen (
  key     text PRIMARY KEY,
  seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slack_requests_seen_at_idx ON slack_requests_seen (seen_at);

-- The alerts' ordering check looks up finished-run rows by run.
CREATE INDEX outbox_run_finished_run_idx ON outbox ((payload->>'run_id')) WHERE topic = 'run.finished';
