-- Call forwarding with an AI fallback (issue 14).
--
-- A number routed `forward` forwards to an E.164 number (target '+…', out through the
-- trunks) or to a SIP user (target = the username), rings for forward_timeout_seconds
-- and, with forward_fallback 'ai', hands the call to the AI gateway when the target
-- does not answer, is busy, fails or is offline. The fallback uses the number's own AI
-- settings, so a forward number may now carry ai_dialect / ai_agent_url / ai_options
-- (required, as for route_type 'ai', when the fallback is 'ai').

ALTER TABLE numbers
    ADD COLUMN forward_timeout_seconds INTEGER DEFAULT NULL,
    ADD COLUMN forward_fallback VARCHAR(4) DEFAULT NULL;

UPDATE numbers SET forward_timeout_seconds = 30, forward_fallback = 'none' WHERE route_type = 'forward';

ALTER TABLE numbers
    ADD CONSTRAINT numbers_forward_fields CHECK (
        (route_type = 'forward' AND forward_timeout_seconds BETWEEN 5 AND 120 AND forward_fallback IN ('none', 'ai'))
        OR (route_type <> 'forward' AND forward_timeout_seconds IS NULL AND forward_fallback IS NULL));

ALTER TABLE numbers DROP CONSTRAINT numbers_ai_fields_only_for_ai;
ALTER TABLE numbers
    ADD CONSTRAINT numbers_ai_fields CHECK (
        (route_type = 'ai' AND ai_dialect IS NOT NULL AND ai_options IS NOT NULL)
        OR (route_type = 'forward'
            AND (forward_fallback <> 'ai' OR (ai_dialect IS NOT NULL AND ai_options IS NOT NULL)))
        OR (route_type NOT IN ('ai', 'forward')
            AND ai_dialect IS NULL AND ai_agent_url IS NULL AND ai_options IS NULL));

-- htable `did`: forward numbers now say where, how long and what then:
-- 'forward|<target>|<seconds>|<none|ai>', the target as stored ('+' and digits for a
-- number, else a username: a username never starts with '+'). Kamailio's
-- route[FORWARD] reads it; the other routes keep their values.
CREATE OR REPLACE VIEW did_htable AS
SELECT id,
       substr(number, 2)::VARCHAR(64) AS key_name,
       0 AS key_type,
       0 AS value_type,
       (route_type || '|' || CASE
           WHEN route_type = 'ai' THEN substr(number, 2)
           WHEN route_type = 'forward'
               THEN target || '|' || forward_timeout_seconds || '|' || forward_fallback
           ELSE target
       END)::VARCHAR(128) AS key_value,
       0 AS expires
FROM numbers
WHERE enabled;
