-- AI calls handled by the media gateways: one row per call, what the AI said (and
-- what the caller pressed) as events, and where the recording is.
CREATE TABLE calls (
    id SERIAL PRIMARY KEY NOT NULL,
    call_id VARCHAR(64) NOT NULL,
    sip_call_id VARCHAR(255) NOT NULL,
    direction VARCHAR(8) NOT NULL DEFAULT 'inbound' CHECK (direction IN ('inbound', 'outbound')),
    from_number VARCHAR(128) NOT NULL DEFAULT '',
    to_number VARCHAR(128) NOT NULL DEFAULT '',
    -- What Kamailio routed the call as (X-Route): 'ai|15557770001', 'ivr|main', ...
    route VARCHAR(160) NOT NULL DEFAULT '',
    ai_dialect VARCHAR(8) DEFAULT NULL,
    ai_url VARCHAR(1024) DEFAULT NULL,
    codec VARCHAR(8) DEFAULT NULL,
    state VARCHAR(12) NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'ended')),
    gateway VARCHAR(128) NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at TIMESTAMPTZ DEFAULT NULL,
    end_reason VARCHAR(128) DEFAULT NULL,
    ended_by VARCHAR(16) DEFAULT NULL,
    recording_path VARCHAR(1024) DEFAULT NULL,
    recording_bytes BIGINT DEFAULT NULL,
    stats JSONB DEFAULT NULL,
    CONSTRAINT calls_call_id_idx UNIQUE (call_id)
);
CREATE INDEX calls_state_idx ON calls (state);
CREATE INDEX calls_started_at_idx ON calls (started_at);
CREATE INDEX calls_sip_call_id_idx ON calls (sip_call_id);

CREATE TABLE call_events (
    id BIGSERIAL PRIMARY KEY NOT NULL,
    call_id VARCHAR(64) NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- 'transcript' (data: {speaker, text, final}), 'dtmf', 'hold', 'resume',
    -- 'ai_reconnecting', 'ai_reconnected', 'transfer', 'hangup_request', ...
    type VARCHAR(32) NOT NULL,
    data JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX call_events_call_id_idx ON call_events (call_id, id);
