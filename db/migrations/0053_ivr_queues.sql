-- IVR menus, call queues, AI routes and concurrency limits (docs/ivr-and-queues.md).

-- A named AI: where it lives, how it speaks, how many calls it takes at once.
CREATE TABLE ai_routes (
  name VARCHAR(64) PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  agent_url VARCHAR(1024) DEFAULT NULL,        -- NULL: the platform's default AI (AI_WS_URL)
  dialect VARCHAR(8) NOT NULL DEFAULT 'olib' CHECK (dialect IN ('olib','twilio','binary')),
  options JSONB NOT NULL DEFAULT '{}',         -- handed to the AI as custom parameters
  max_concurrent_calls INTEGER DEFAULT NULL CHECK (max_concurrent_calls > 0),  -- NULL: no limit
  -- Callers over the limit wait in this queue; NULL: they get busy.
  queue VARCHAR(64) DEFAULT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Menus: the definition is JSON checked by the API when saved (common/src/ivr/menu.ts).
CREATE TABLE ivr_menus (
  name VARCHAR(64) PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  description VARCHAR(255) DEFAULT NULL,
  definition JSONB NOT NULL,
  -- Bumped on every update: a gateway's cached copy (and its rendered prompt) is keyed by it.
  version INTEGER NOT NULL DEFAULT 1,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Uploaded prompts (WAV), read by every gateway replica from here.
CREATE TABLE ivr_prompts (
  name VARCHAR(64) PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
  audio BYTEA NOT NULL,
  sha256 CHAR(64) NOT NULL,
  duration_ms INTEGER NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE queues (
  name VARCHAR(64) PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  description VARCHAR(255) DEFAULT NULL,
  strategy VARCHAR(16) NOT NULL DEFAULT 'ring_all' CHECK (strategy IN ('ring_all','round_robin','least_recent')),
  ring_timeout_seconds INTEGER NOT NULL DEFAULT 20 CHECK (ring_timeout_seconds BETWEEN 1 AND 300),
  wrap_up_seconds INTEGER NOT NULL DEFAULT 0 CHECK (wrap_up_seconds BETWEEN 0 AND 3600),
  max_wait_seconds INTEGER DEFAULT NULL CHECK (max_wait_seconds > 0),
  max_wait_action JSONB DEFAULT NULL,          -- an overflow action (common/src/ivr/menu.ts); NULL: busy
  max_length INTEGER DEFAULT NULL CHECK (max_length > 0),
  max_length_action JSONB DEFAULT NULL,        -- NULL: busy
  hold_music VARCHAR(255) DEFAULT NULL,        -- a file under HOLD_MUSIC_DIR; NULL: the default tune
  announce_position BOOLEAN NOT NULL DEFAULT false,
  announce_wait BOOLEAN NOT NULL DEFAULT false,
  announce_interval_seconds INTEGER NOT NULL DEFAULT 30 CHECK (announce_interval_seconds BETWEEN 5 AND 3600),
  leave_digit VARCHAR(1) DEFAULT NULL CHECK (leave_digit ~ '^[0-9*#]$'),
  leave_action JSONB DEFAULT NULL,
  service_level_seconds INTEGER NOT NULL DEFAULT 20 CHECK (service_level_seconds > 0),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE queue_agents (
  id SERIAL PRIMARY KEY,
  queue VARCHAR(64) NOT NULL REFERENCES queues (name) ON DELETE CASCADE ON UPDATE CASCADE,
  kind VARCHAR(8) NOT NULL CHECK (kind IN ('sip_user','ai')),
  username VARCHAR(64) DEFAULT NULL,
  ai_route VARCHAR(64) DEFAULT NULL REFERENCES ai_routes (name) ON DELETE CASCADE ON UPDATE CASCADE,
  -- An AI agent's cap in this queue; NULL: the AI route's max_concurrent_calls (or none).
  max_concurrent_calls INTEGER DEFAULT NULL CHECK (max_concurrent_calls > 0),
  position INTEGER NOT NULL DEFAULT 0,         -- round-robin order
  paused BOOLEAN NOT NULL DEFAULT false,
  last_offered_at TIMESTAMPTZ DEFAULT NULL,    -- round robin: who rang last
  last_ended_at TIMESTAMPTZ DEFAULT NULL,      -- least recent, and wrap-up
  calls_answered INTEGER NOT NULL DEFAULT 0,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT queue_agents_kind_fields CHECK (
    (kind = 'sip_user' AND username IS NOT NULL AND ai_route IS NULL)
    OR (kind = 'ai' AND ai_route IS NOT NULL AND username IS NULL)),
  UNIQUE (queue, username),
  UNIQUE (queue, ai_route)
);

-- Callers whose number gets a priority in a queue.
CREATE TABLE queue_vips (
  queue VARCHAR(64) NOT NULL REFERENCES queues (name) ON DELETE CASCADE ON UPDATE CASCADE,
  number VARCHAR(16) NOT NULL CHECK (number ~ '^\+[1-9][0-9]{1,14}$'),
  priority INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 100),
  PRIMARY KEY (queue, number)
);

-- One row per caller per queue visit. Order: priority DESC, position_at, id.
CREATE TABLE queue_entries (
  id BIGSERIAL PRIMARY KEY,
  queue VARCHAR(64) NOT NULL,
  call_id UUID NOT NULL,
  gateway VARCHAR(128) NOT NULL,               -- the gateway holding the caller's media
  caller VARCHAR(64) NOT NULL,
  called VARCHAR(64) NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 100),
  priority_source VARCHAR(8) NOT NULL DEFAULT 'none' CHECK (priority_source IN ('none','number','menu','vip','api')),
  enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  -- Where the caller stands within its priority: enqueued_at, earlier when an operator moves it to the front.
  position_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  state VARCHAR(10) NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting','offered','connected','done')),
  agent_id INTEGER DEFAULT NULL,               -- queue_agents.id while offered / connected
  agent VARCHAR(80) DEFAULT NULL,              -- 'sip_user:<name>' or 'ai:<route>'
  offered_at TIMESTAMPTZ DEFAULT NULL,
  answered_at TIMESTAMPTZ DEFAULT NULL,
  ended_at TIMESTAMPTZ DEFAULT NULL,
  outcome VARCHAR(10) DEFAULT NULL CHECK (outcome IN ('answered','abandoned','overflow','left','moved','lost')),
  CONSTRAINT queue_entries_done_has_outcome CHECK ((state = 'done') = (outcome IS NOT NULL))
);
CREATE UNIQUE INDEX queue_entries_live_call_idx ON queue_entries (call_id) WHERE state <> 'done';
CREATE INDEX queue_entries_waiting_idx ON queue_entries (queue, priority DESC, position_at, id) WHERE state = 'waiting';
CREATE INDEX queue_entries_stats_idx ON queue_entries (queue, ended_at);

-- Concurrency: one row per live call holding a seat of a limited scope
-- ('number:+E164', 'ai_route:<name>'); counted under an advisory lock on the scope.
CREATE TABLE call_seats (
  scope VARCHAR(80) NOT NULL,
  call_id UUID NOT NULL,
  gateway VARCHAR(128) NOT NULL,
  acquired_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, call_id)
);
CREATE INDEX call_seats_gateway_idx ON call_seats (gateway);

ALTER TABLE numbers
  ADD COLUMN max_concurrent_calls INTEGER DEFAULT NULL CHECK (max_concurrent_calls > 0),
  -- Callers over max_concurrent_calls wait here; NULL: busy (486).
  ADD COLUMN queue VARCHAR(64) DEFAULT NULL,
  -- The priority a caller of this number gets in a queue.
  ADD COLUMN queue_priority INTEGER NOT NULL DEFAULT 0 CHECK (queue_priority BETWEEN 0 AND 100);
