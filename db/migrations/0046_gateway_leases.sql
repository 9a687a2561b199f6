-- One row per running media gateway: renewed every third of its lease while it runs,
-- deleted when it stops cleanly. A row whose lease expired belongs to a gateway that
-- was killed or lost (in Kubernetes a killed pod may never come back under the same
-- name, so the start-up clean-up of its own leftovers never runs): another gateway
-- closes its active calls and removes it from Kamailio's gateway set.
CREATE TABLE gateway_leases (
    -- calls.gateway and dispatcher.description of that gateway.
    gateway VARCHAR(128) PRIMARY KEY NOT NULL,
    -- Changes on every start: tells a restarted gateway from the previous run.
    instance VARCHAR(64) NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    renewed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX gateway_leases_expires_at_idx ON gateway_leases (expires_at);
-- The lost-gateway sweep looks up active calls by gateway.
CREATE INDEX calls_active_gateway_idx ON calls (gateway) WHERE state = 'active';
