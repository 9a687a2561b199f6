-- Listen-only forks: calls between people (user to user, trunk to user) that match a
-- rule are copied, both parties on labelled tracks, to an AI platform that only listens.
CREATE TABLE listen_forks (
  id BIGSERIAL PRIMARY KEY,
  scope VARCHAR(8) NOT NULL CHECK (scope IN ('user','number','trunk')),
  -- a SIP username, an E.164 number or a trunk_id, as the scope says
  value VARCHAR(64) NOT NULL,
  ai_url VARCHAR(2048) DEFAULT NULL,          -- NULL: the platform's default AI URL
  ai_dialect VARCHAR(8) NOT NULL DEFAULT 'olib' CHECK (ai_dialect IN ('olib','twilio','binary')),
  custom_parameters JSONB NOT NULL DEFAULT '{}',
  enabled BOOLEAN NOT NULL DEFAULT true,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (scope, value)
);
-- One fork (and one unfork) per SIP call, whichever control-plane replica saw the
-- dialog event first: the others' inserts conflict and do nothing.
CREATE UNIQUE INDEX call_commands_fork_once_idx ON call_commands (call_id, command) WHERE command IN ('fork','unfork');
