-- Trunks, numbers (DIDs) and blocked numbers, and what Kamailio reads of them.
--
-- The control-plane owns `trunks`, `numbers` and `blocked_numbers`. Kamailio never
-- reads them directly: it reads
--   * rows the control-plane writes into its own tables in the same transaction as
--     the API change (`dispatcher` set 1, `address` group 1, `uacreg`), tagged with
--     the trunk_id (dispatcher.description, address.tag, uacreg.l_uuid);
--   * views shaped for the htable module's `dbtable` loading (`did_htable`,
--     `blocked_htable`, `trunk_auth_htable`), which always agree with the tables.
-- After each commit the control-plane asks Kamailio to reload what changed.
--
-- Numbers in Kamailio's tables are E.164 digits without the leading '+'.

CREATE TABLE trunks (
    id SERIAL PRIMARY KEY NOT NULL,
    -- The key: used in dispatcher attrs, address tags, uacreg l_uuid, dialog profile
    -- values and htable keys, so it stays a short slug free of ';', '=', ':' and '|'.
    trunk_id VARCHAR(48) NOT NULL CHECK (trunk_id ~ '^[a-z0-9][a-z0-9_-]{0,47}$'),
    name VARCHAR(128) NOT NULL,
    provider VARCHAR(64) NOT NULL,
    proxy_address VARCHAR(64) NOT NULL,
    proxy_port INTEGER NOT NULL CHECK (proxy_port BETWEEN 1 AND 65535),
    transport VARCHAR(3) NOT NULL CHECK (transport IN ('UDP', 'TCP', 'TLS')),
    username VARCHAR(64) DEFAULT NULL,
    -- Kept in clear on purpose: Kamailio's uac module needs the plain password to
    -- answer a provider's digest challenge and to register (uacreg.auth_password).
    password VARCHAR(64) DEFAULT NULL,
    realm VARCHAR(64) DEFAULT NULL,
    supports_inbound BOOLEAN NOT NULL DEFAULT true,
    supports_outbound BOOLEAN NOT NULL DEFAULT true,
    preferred_codecs TEXT[] NOT NULL DEFAULT '{PCMU,PCMA}',
    max_concurrent_calls INTEGER NOT NULL DEFAULT 100 CHECK (max_concurrent_calls >= 1),
    calls_per_second_limit INTEGER NOT NULL DEFAULT 10 CHECK (calls_per_second_limit >= 1),
    -- NULL: derived from proxy_address (itself when it is an IP literal, else none).
    allowed_ips TEXT[] DEFAULT NULL,
    -- 1..1000, lower preferred (like DNS SRV). dispatcher.priority = 1001 - priority.
    priority INTEGER NOT NULL DEFAULT 100 CHECK (priority BETWEEN 1 AND 1000),
    weight INTEGER NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 100),
    requires_registration BOOLEAN NOT NULL DEFAULT false,
    status VARCHAR(8) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT trunks_trunk_id_idx UNIQUE (trunk_id),
    CONSTRAINT trunks_credentials_pair CHECK ((username IS NULL) = (password IS NULL)),
    CONSTRAINT trunks_registration_needs_credentials CHECK (NOT requires_registration OR username IS NOT NULL)
);
CREATE INDEX trunks_provider_idx ON trunks (provider);
CREATE INDEX trunks_status_idx ON trunks (status);

CREATE TABLE numbers (
    id SERIAL PRIMARY KEY NOT NULL,
    number VARCHAR(16) NOT NULL CHECK (number ~ '^\+[1-9][0-9]{1,14}$'),
    route_type VARCHAR(8) NOT NULL CHECK (route_type IN ('sip_user', 'ai', 'queue', 'ivr', 'forward')),
    -- sip_user: a username; queue / ivr: a name; forward: an E.164 number; ai: NULL.
    target VARCHAR(64) DEFAULT NULL,
    ai_dialect VARCHAR(8) DEFAULT NULL CHECK (ai_dialect IN ('olib', 'twilio', 'binary')),
    ai_agent_url VARCHAR(1024) DEFAULT NULL,
    ai_options JSONB DEFAULT NULL,
    trunk_id VARCHAR(48) DEFAULT NULL REFERENCES trunks (trunk_id) ON DELETE SET NULL,
    recording_enabled BOOLEAN NOT NULL DEFAULT false,
    enabled BOOLEAN NOT NULL DEFAULT true,
    description VARCHAR(255) DEFAULT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT numbers_number_idx UNIQUE (number),
    CONSTRAINT numbers_target_by_route CHECK ((route_type = 'ai') = (target IS NULL)),
    CONSTRAINT numbers_ai_fields_only_for_ai CHECK (
        (route_type = 'ai' AND ai_dialect IS NOT NULL AND ai_options IS NOT NULL)
        OR (route_type <> 'ai' AND ai_dialect IS NULL AND ai_agent_url IS NULL AND ai_options IS NULL))
);
CREATE INDEX numbers_trunk_id_idx ON numbers (trunk_id);

CREATE TABLE blocked_numbers (
    id SERIAL PRIMARY KEY NOT NULL,
    number VARCHAR(16) NOT NULL CHECK (number ~ '^\+[1-9][0-9]{1,14}$'),
    reason VARCHAR(255) DEFAULT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT blocked_numbers_number_idx UNIQUE (number)
);

-- htable `did`: key = DID digits, value = '<route_type>|<target>' ('ai|<DID digits>' for
-- the AI; forward targets are digits too). Disabled numbers are absent (unknown DID).
CREATE VIEW did_htable AS
SELECT id,
       substr(number, 2)::VARCHAR(64) AS key_name,
       0 AS key_type,
       0 AS value_type,
       (route_type || '|' || CASE
           WHEN route_type = 'ai' THEN substr(number, 2)
           WHEN route_type = 'forward' THEN substr(target, 2)
           ELSE target
       END)::VARCHAR(128) AS key_value,
       0 AS expires
FROM numbers
WHERE enabled;

-- htable `blocked`: key = blocked number digits, value = 1 (an integer).
CREATE VIEW blocked_htable AS
SELECT id,
       substr(number, 2)::VARCHAR(64) AS key_name,
       0 AS key_type,
       1 AS value_type,
       '1'::VARCHAR(128) AS key_value,
       0 AS expires
FROM blocked_numbers;

-- htable `trunk_auth`: '<trunk_id>:user', ':pass' and ':realm' (realm defaults to the
-- proxy address) for uac_auth() on outbound calls, without a DB query per call.
-- Inactive trunks stay: their calls in progress may still be challenged in-dialog.
CREATE VIEW trunk_auth_htable AS
SELECT t.id * 3 + k.n AS id,
       (t.trunk_id || k.suffix)::VARCHAR(64) AS key_name,
       0 AS key_type,
       0 AS value_type,
       (CASE k.n
           WHEN 0 THEN t.username
           WHEN 1 THEN t.password
           ELSE coalesce(t.realm, t.proxy_address)
       END)::VARCHAR(128) AS key_value,
       0 AS expires
FROM trunks t
CROSS JOIN (VALUES (0, ':user'), (1, ':pass'), (2, ':realm')) AS k (n, suffix)
WHERE t.username IS NOT NULL AND t.password IS NOT NULL;

INSERT INTO version (table_name, table_version) VALUES
    ('did_htable', 2),
    ('blocked_htable', 2),
    ('trunk_auth_htable', 2);

-- Which trunk a transaction or call went through. Kamailio fills these when
-- kamailio.cfg lists them in acc's db_extra / cdr_extra (e.g. trunk_id=$dlg_var(trunk));
-- until then they stay '' and per-trunk call figures are 0.
ALTER TABLE acc ADD COLUMN trunk_id VARCHAR(48) DEFAULT '' NOT NULL;
ALTER TABLE acc_cdrs ADD COLUMN trunk_id VARCHAR(48) DEFAULT '' NOT NULL;
ALTER TABLE missed_calls ADD COLUMN trunk_id VARCHAR(48) DEFAULT '' NOT NULL;
CREATE INDEX acc_trunk_id_time_idx ON acc (trunk_id, time);
CREATE INDEX acc_cdrs_trunk_id_start_time_idx ON acc_cdrs (trunk_id, start_time);
