-- Call control (issue 14): outbound calls exist before a gateway answers or places
-- them, and any control-plane replica can send a command to the gateway that owns a
-- live call.

-- calls: outbound calls exist before they are answered
ALTER TABLE calls DROP CONSTRAINT calls_state_check;
ALTER TABLE calls ADD CONSTRAINT calls_state_check CHECK (state IN ('initiated','ringing','active','ended'));
ALTER TABLE calls ALTER COLUMN gateway DROP NOT NULL;   -- NULL until a gateway claims an originate
ALTER TABLE calls ADD COLUMN answered_at TIMESTAMPTZ DEFAULT NULL,
  ADD COLUMN sip_status INTEGER DEFAULT NULL,             -- final SIP status of an outbound call
  ADD COLUMN disposition VARCHAR(16) DEFAULT NULL,       -- answered | busy | no_answer | failed | cancelled
  ADD COLUMN webhook_url VARCHAR(2048) DEFAULT NULL,
  ADD COLUMN on_hold BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN trunk_id VARCHAR(48) DEFAULT NULL;

-- The lost-gateway sweep also ends the calls a gateway was still placing.
DROP INDEX calls_active_gateway_idx;
CREATE INDEX calls_live_gateway_idx ON calls (gateway) WHERE state IN ('initiated', 'ringing', 'active');

-- One row per command to a live call: written by a control-plane replica (INSERT +
-- NOTIFY call_commands), claimed by the gateway that owns the call (or by any gateway
-- when `gateway` is NULL), completed with a result (NOTIFY call_command_done).
CREATE TABLE call_commands (
  id BIGSERIAL PRIMARY KEY,
  call_id VARCHAR(64) NOT NULL,
  gateway VARCHAR(128) DEFAULT NULL,   -- the owner; NULL: any gateway may claim it (originate, fork)
  command VARCHAR(16) NOT NULL CHECK (command IN ('originate','hangup','transfer','hold','resume','fork','unfork')),
  args JSONB NOT NULL DEFAULT '{}',
  state VARCHAR(10) NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','claimed','done','failed','expired')),
  result JSONB DEFAULT NULL,
  claimed_by VARCHAR(128) DEFAULT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  claimed_at TIMESTAMPTZ DEFAULT NULL,
  completed_at TIMESTAMPTZ DEFAULT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);
-- What a gateway claims: the pending commands, its own or nobody's, oldest first.
CREATE INDEX call_commands_pending_idx ON call_commands (gateway, id) WHERE state = 'pending';
-- What the lost-gateway sweep fails: the open commands of a gateway.
CREATE INDEX call_commands_claimed_idx ON call_commands (claimed_by) WHERE state = 'claimed';
CREATE INDEX call_commands_call_id_idx ON call_commands (call_id);
