-- Several control-plane replicas on one database.

-- Per-trunk SMS budget shared by every replica: a token bucket (sms_rate_limit tokens
-- a second, burst a tenth of that, at least one) that each replica draws from with one
-- atomic UPDATE, so N replicas send at the trunk's rate, not N times it.
CREATE TABLE sms_rate_buckets (
    trunk_id VARCHAR(48) PRIMARY KEY REFERENCES trunks (trunk_id) ON DELETE CASCADE ON UPDATE CASCADE,
    tokens DOUBLE PRECISION NOT NULL,
    refilled_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    -- What the last draw granted (RETURNING cannot see the row before the update).
    granted INTEGER NOT NULL DEFAULT 0
);

-- Call recordings kept in the database (RECORDINGS_STORAGE=postgres), so any
-- control-plane replica serves what any gateway replica recorded. Chunked so a
-- download streams one row at a time instead of holding the file in memory.
CREATE TABLE recordings (
    call_id VARCHAR(64) PRIMARY KEY,
    bytes BIGINT NOT NULL,
    chunk_bytes INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE recording_chunks (
    call_id VARCHAR(64) NOT NULL REFERENCES recordings (call_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (call_id, seq)
);
-- WAV audio does not compress well enough for pglz to be worth its CPU.
ALTER TABLE recording_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
