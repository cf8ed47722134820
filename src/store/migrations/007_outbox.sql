-- Side effects leave through an outbox: a row written in the same transaction
-- that finishes a run (or whatever else causes the effect), delivered later by
-- whichever process can deliver that topic, exactly once at a time across
-- processes (claimed with FOR UPDATE SKIP LOCKED and a lease).
CREATE TABLE outbox (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic           text NOT NULL,                      -- e.g. 'run.finished'
  payload         jsonb NOT NULL DEFAULT '{}',
  status          text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'delivered', 'failed', 'expired', 'ignored')),
  attempts        integer NOT NULL DEFAULT 0,
  last_error      text,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  locked_by       text,                               -- the process holding the lease
  locked_until    timestamptz,
  expires_at      timestamptz NOT NULL DEFAULT now() + interval '24 hours',
  created_at      timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz
);
CREATE INDEX outbox_due_idx ON outbox (topic, next_attempt_at) WHERE status = 'pending';
