-- Call webhooks: a durable outbox (docs/webhooks.md). The transaction that changes a
-- call's state inserts the event here, so an event exists exactly when the change it
-- reports was committed; every control-plane replica delivers from this table.
CREATE TABLE webhook_outbox (
    id BIGSERIAL PRIMARY KEY NOT NULL,
    call_id VARCHAR(64) NOT NULL,
    -- 1, 2, 3, ... per call, in the order the call's transactions committed; events of a
    -- call are delivered in this order, each only after the one before it was delivered
    -- or failed for good.
    seq INTEGER NOT NULL CHECK (seq > 0),
    url VARCHAR(2048) NOT NULL,
    event VARCHAR(16) NOT NULL,
    -- The JSON object POSTed: {id, event, call_id, sequence, occurred_at, data}.
    body JSONB NOT NULL,
    state VARCHAR(10) NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    -- Attempts started so far (a claim counts one before the request goes out).
    attempts INTEGER NOT NULL DEFAULT 0,
    -- Pending: when the next attempt may start. While an attempt is in flight, the end of
    -- its claim: a replica that dies mid-attempt leaves the event to the others after it.
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_status INTEGER DEFAULT NULL,
    last_error VARCHAR(512) DEFAULT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at TIMESTAMPTZ DEFAULT NULL,
    CONSTRAINT webhook_outbox_call_seq_key UNIQUE (call_id, seq)
);
-- The deliverers' claim: due pending events, oldest first.
CREATE INDEX webhook_outbox_due_idx ON webhook_outbox (next_attempt_at, id) WHERE state = 'pending';
