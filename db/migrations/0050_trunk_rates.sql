-- Call history with costs (issue 14): what each trunk charges, and the indexes the
-- history (GET /api/calls/history) needs over the AI calls and Kamailio's records.
--
-- A call's billable time is its duration raised to minimum_billable_seconds, then
-- rounded up to a whole number of billing_increment_seconds (e.g. 60/60 bills whole
-- minutes, 6/30 bills six-second steps after the first 30 s); its cost estimate is
-- billable minutes × rate_per_minute in the trunk's currency. Calls that were not
-- answered bill nothing.
ALTER TABLE trunks
    ADD COLUMN rate_per_minute NUMERIC(12, 6) NOT NULL DEFAULT 0 CHECK (rate_per_minute >= 0),
    ADD COLUMN billing_increment_seconds INTEGER NOT NULL DEFAULT 60
        CHECK (billing_increment_seconds BETWEEN 1 AND 3600),
    ADD COLUMN minimum_billable_seconds INTEGER NOT NULL DEFAULT 0
        CHECK (minimum_billable_seconds BETWEEN 0 AND 3600),
    -- ISO 4217 code.
    ADD COLUMN currency CHAR(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$');

-- The history reads the newest rows first, by party and by trunk: failed call
-- attempts (missed_calls) had only a Call-ID index, AI calls none by party.
CREATE INDEX missed_calls_time_idx ON missed_calls (time);
CREATE INDEX missed_calls_src_user_idx ON missed_calls (src_user);
CREATE INDEX missed_calls_dst_user_idx ON missed_calls (dst_user);
CREATE INDEX missed_calls_trunk_id_time_idx ON missed_calls (trunk_id, time);
CREATE INDEX calls_from_number_idx ON calls (from_number);
CREATE INDEX calls_to_number_idx ON calls (to_number);
