-- The SIP user record. It lives on Kamailio's subscriber row so that one lookup
-- serves digest auth and policy: auth_db's load_credentials reads enabled and
-- max_concurrent_calls into AVPs at authentication time. The plain `password`
-- column stays empty: only HA1 and HA1B are stored.
ALTER TABLE subscriber
    ADD COLUMN display_name VARCHAR(128) DEFAULT NULL,
    ADD COLUMN max_concurrent_calls INTEGER DEFAULT 3 NOT NULL CHECK (max_concurrent_calls >= 0),
    ADD COLUMN enabled INTEGER DEFAULT 1 NOT NULL CHECK (enabled IN (0, 1)),
    ADD COLUMN email VARCHAR(255) DEFAULT NULL,
    ADD COLUMN notes VARCHAR(1024) DEFAULT NULL,
    ADD COLUMN created_at TIMESTAMPTZ DEFAULT now() NOT NULL,
    ADD COLUMN updated_at TIMESTAMPTZ DEFAULT now() NOT NULL,
    ADD COLUMN password_changed_at TIMESTAMPTZ DEFAULT now() NOT NULL;
