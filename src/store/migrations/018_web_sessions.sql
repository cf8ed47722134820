-- The admins' web window (/ui): who is signed in, and the one-time links `people-sync web-login`
-- prints. Only hashes of the secrets are stored: a copy of this table signs no one in.
CREATE TABLE web_sessions (
  id_hash     text PRIMARY KEY,              -- sha256 (hex) of the session cookie's value
  user_id     text NOT NULL,                 -- a Slack user id, or "cli:<os user>" for a local sign-in
  name        text,                          -- what the page calls them
  local_admin boolean NOT NULL DEFAULT false, -- signed in through the CLI where no Slack admins are configured
  csrf        text NOT NULL,                 -- the token every form of this session posts back
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

CREATE TABLE web_login_tokens (
  token_hash  text PRIMARY KEY,              -- sha256 (hex) of the link's token
  user_id     text NOT NULL,
  name        text,
  local_admin boolean NOT NULL DEFAULT false,
  created_by  text NOT NULL,                 -- who ran web-login (the OS user)
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz                    -- single use: set when the link is followed
);
