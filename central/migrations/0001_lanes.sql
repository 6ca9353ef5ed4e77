-- The lane registry: every lane ever heard of, its keys, its devices.
-- Numbering: central's own migrations are 0001-0099; the reviewers' desk's
-- start at 0100 (see docs/design/central.md).

CREATE TABLE lanes (
    site           text        NOT NULL,
    lane           text        NOT NULL,
    -- From the retained status: 'online', 'offline', or 'unknown' before any.
    state          text        NOT NULL DEFAULT 'unknown' CHECK (state IN ('online', 'offline', 'unknown')),
    state_since    timestamptz,
    agent_version  text,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    -- The audit trail as central sees it through the signed checkpoints.
    trail_state    text        NOT NULL DEFAULT 'ok' CHECK (trail_state IN ('ok', 'broken')),
    trail_detail   text,
    PRIMARY KEY (site, lane)
);

-- Keys a lane signs with. A key first seen in the lane's retained status is
-- 'pending' until an administrator approves it (lane-central lanes approve);
-- only records signed by an 'approved' key are verified.
CREATE TABLE lane_keys (
    site           text        NOT NULL,
    lane           text        NOT NULL,
    key_id         text        NOT NULL,
    public_key     text        NOT NULL,
    state          text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'revoked')),
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    decided_at     timestamptz,
    decided_by     text,
    PRIMARY KEY (site, lane, public_key),
    FOREIGN KEY (site, lane) REFERENCES lanes (site, lane)
);
CREATE UNIQUE INDEX lane_keys_one_approved ON lane_keys (site, lane, key_id) WHERE state = 'approved';

-- Retained health, one row per device.
CREATE TABLE lane_health (
    site        text        NOT NULL,
    lane        text        NOT NULL,
    device      text        NOT NULL,
    kind        text        NOT NULL,
    state       text        NOT NULL,
    reason      text,
    health      jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, lane, device),
    FOREIGN KEY (site, lane) REFERENCES lanes (site, lane)
);

-- The lane's own rolling statistics report, the latest one.
CREATE TABLE lane_stats (
    site         text        NOT NULL,
    lane         text        NOT NULL,
    report       jsonb       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, lane),
    FOREIGN KEY (site, lane) REFERENCES lanes (site, lane)
);
