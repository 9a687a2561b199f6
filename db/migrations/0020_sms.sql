-- SMS over SIP MESSAGE (RFC 3428): every message, in and out, is a row here first and
-- only then acknowledged or sent. The same table is the durable work queue: rows that
-- are due (status 'queued' outbound, 'received' inbound, next_attempt_at <= now()) are
-- claimed with FOR UPDATE SKIP LOCKED by any control-plane replica.
--
-- Outbound: queued → sending → sent → delivered | undelivered     (failed after the last attempt)
-- Inbound:  received → delivering → delivered                     (failed after the last attempt)
--           'partial': one part of a concatenated message, waiting for its siblings.

-- Per-trunk SMS settings: a send rate (MESSAGEs per second, 0 = no limit) and whether
-- the provider wants one MESSAGE per 3GPP segment (with X-SMS-Part) instead of the
-- whole text in one MESSAGE.
ALTER TABLE trunks ADD COLUMN sms_rate_limit INTEGER NOT NULL DEFAULT 0 CHECK (sms_rate_limit BETWEEN 0 AND 100000);
ALTER TABLE trunks ADD COLUMN sms_split_segments BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE sms_messages (
    id BIGSERIAL PRIMARY KEY NOT NULL,
    message_id VARCHAR(40) NOT NULL,
    direction VARCHAR(8) NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- E.164 numbers, or a SIP user name for messages from/to registered users.
    from_number VARCHAR(64) NOT NULL,
    to_number VARCHAR(64) NOT NULL,
    body TEXT NOT NULL,
    encoding VARCHAR(4) NOT NULL CHECK (encoding IN ('gsm7', 'ucs2')),
    segments SMALLINT NOT NULL CHECK (segments >= 1),
    status VARCHAR(12) NOT NULL CHECK (status IN (
        'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'received', 'delivering', 'partial')),
    -- Who handed it to us: 'api', 'ai' (an AI reply), 'trunk' (a provider), 'user' (a registered user).
    source VARCHAR(8) NOT NULL CHECK (source IN ('api', 'ai', 'trunk', 'user')),
    -- Where it goes: 'trunk' (a provider), 'user' (a registered user), 'ai' (the number's agent).
    destination VARCHAR(8) NOT NULL CHECK (destination IN ('trunk', 'user', 'ai')),
    -- destination 'user': the SIP user name.
    target_user VARCHAR(64) DEFAULT NULL,
    -- The trunk it came in on (inbound) or went out through (outbound, last attempt).
    trunk_id VARCHAR(48) DEFAULT NULL,
    -- source 'user': the authenticated SIP user who sent it.
    sender_user VARCHAR(64) DEFAULT NULL,
    in_reply_to VARCHAR(40) DEFAULT NULL,
    idempotency_key VARCHAR(255) DEFAULT NULL,
    -- sha256 of the request that used the key: a reused key with another body is refused.
    request_hash VARCHAR(64) DEFAULT NULL,
    -- Inbound: the provider's Call-ID and CSeq (a retransmission in a new transaction is
    -- recognised); outbound: ours (stable over attempts; CSeq = attempt).
    sip_call_id VARCHAR(255) DEFAULT NULL,
    sip_cseq INTEGER DEFAULT NULL,
    -- Inbound concatenated part (X-SMS-Part): reference, sequence, total.
    part_ref INTEGER DEFAULT NULL,
    part_seq SMALLINT DEFAULT NULL,
    part_total SMALLINT DEFAULT NULL,
    -- The whole message this part was reassembled into.
    parent_id VARCHAR(40) DEFAULT NULL,
    attempts SMALLINT NOT NULL DEFAULT 0,
    -- Split sends: how many parts of the current text the provider already accepted.
    parts_sent SMALLINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ DEFAULT NULL,
    -- The worker (sms_workers.id) sending/delivering it right now.
    claimed_by INTEGER DEFAULT NULL,
    last_sip_status SMALLINT DEFAULT NULL,
    last_error VARCHAR(255) DEFAULT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at TIMESTAMPTZ DEFAULT NULL,
    delivered_at TIMESTAMPTZ DEFAULT NULL,
    CONSTRAINT sms_messages_message_id_idx UNIQUE (message_id)
);
CREATE UNIQUE INDEX sms_messages_idempotency_idx ON sms_messages (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX sms_messages_inbound_sip_idx ON sms_messages (sip_call_id, sip_cseq) WHERE direction = 'inbound' AND sip_call_id IS NOT NULL;
CREATE INDEX sms_messages_outbound_sip_idx ON sms_messages (sip_call_id) WHERE direction = 'outbound';
CREATE INDEX sms_messages_due_idx ON sms_messages (next_attempt_at) WHERE status IN ('queued', 'received');
CREATE INDEX sms_messages_claimed_idx ON sms_messages (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX sms_messages_created_idx ON sms_messages (created_at, id);
CREATE INDEX sms_messages_from_idx ON sms_messages (from_number, created_at);
CREATE INDEX sms_messages_to_idx ON sms_messages (to_number, created_at);
CREATE INDEX sms_messages_target_user_idx ON sms_messages (target_user) WHERE status = 'received';
CREATE INDEX sms_messages_parts_idx ON sms_messages (from_number, to_number, part_ref) WHERE status = 'partial';

-- Every status a message went through, with the SIP answer that moved it.
CREATE TABLE sms_events (
    id BIGSERIAL PRIMARY KEY NOT NULL,
    message_id VARCHAR(40) NOT NULL REFERENCES sms_messages (message_id) ON DELETE CASCADE,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    status VARCHAR(12) NOT NULL,
    attempt SMALLINT NOT NULL DEFAULT 0,
    sip_status SMALLINT DEFAULT NULL,
    trunk_id VARCHAR(48) DEFAULT NULL,
    detail VARCHAR(255) DEFAULT NULL
);
CREATE INDEX sms_events_message_id_idx ON sms_events (message_id, id);

-- Queue workers. A worker holds the session advisory lock (SMS_WORKER_LOCK, id) while it
-- lives; a row claimed by a worker whose lock anyone can take is an orphan of a crash
-- and is taken over (re-sent with the same SIP transaction identifiers).
CREATE TABLE sms_workers (
    id SERIAL PRIMARY KEY NOT NULL,
    name VARCHAR(128) NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
