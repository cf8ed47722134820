-- Outbound events (Standard Webhooks). A run's end is made durable by its
-- 'run.finished' outbox row (007), written in the transaction that ends it;
-- the events deliverer reads those rows without taking them from the Slack
-- alerts (which own their status), turns each into events once, and fans
-- every event out to the subscriptions that want it: one delivery per
-- (event, subscription), with one webhook-id for all its attempts.

-- Outbox rows already turned into events (whether any subscription wanted them).
CREATE TABLE events_collected (
  outbox_id    bigint PRIMARY KEY REFERENCES outbox (id) ON DELETE CASCADE,
  collected_at timestamptz NOT NULL DEFAULT now()
);
-- What finished before this release is not announced.
INSERT INTO events_collected (outbox_id) SELECT id FROM outbox;
-- The collector reads the outbox rows of the last day it has not collected yet.
CREATE INDEX outbox_created_idx ON outbox (created_at);

-- A subscription (by URL) is announced what happens from when a process first had it configured.
CREATE TABLE event_subscriptions (
  url        text PRIMARY KEY,
  since      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key            text NOT NULL UNIQUE,            -- one event per fact: 'run.finished:42', 'people.changed:42:3'
  type           text NOT NULL,
  run_id         bigint,
  integration_id text,
  data           jsonb NOT NULL,                  -- the body's "data"
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_created_idx ON events (created_at);

CREATE TABLE event_deliveries (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id        bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
  url             text NOT NULL,
  webhook_id      text NOT NULL UNIQUE,           -- the same on every attempt: receivers deduplicate on it
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts        integer NOT NULL DEFAULT 0,
  last_status     integer,                        -- HTTP status of the last answer (null: none came)
  last_error      text,
  last_attempt_at timestamptz,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,           -- retried until then, then failed
  locked_by       text,                           -- the process sending it
  locked_until    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  UNIQUE (event_id, url)
);
CREATE INDEX event_deliveries_due_idx ON event_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX event_deliveries_status_idx ON event_deliveries (status, id);
CREATE INDEX event_deliveries_url_idx ON event_deliveries (url, id);
