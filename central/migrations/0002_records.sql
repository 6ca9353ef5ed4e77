-- Verified records: passages, decisions, alarms, acks, audit checkpoints.
-- Only what verified (approved key, matching topic) is here; everything else
-- is in quarantine (0004).

CREATE TABLE passages (
    site            text        NOT NULL,
    lane            text        NOT NULL,
    id              text        NOT NULL,
    seq             bigint      NOT NULL,
    arrived_at      timestamptz NOT NULL,
    completed_at    timestamptz,
    total_ms        bigint,
    plate           text,
    containers      text[]      NOT NULL DEFAULT '{}',
    -- The lane's decision, the person's review (if any), and the one that counts.
    lane_outcome    text        CHECK (lane_outcome IN ('release', 'hold', 'inspection')),
    lane_reasons    text[]      NOT NULL DEFAULT '{}',
    review_outcome  text        CHECK (review_outcome IN ('release', 'hold', 'inspection')),
    review_by       text,
    final_outcome   text,
    -- Released by the machine, no person involved (the direct-release ratio).
    direct_release  boolean     NOT NULL,
    review_ms       bigint,
    exit            text,
    flags           text[]      NOT NULL DEFAULT '{}',
    key_id          text        NOT NULL,
    -- The record parsed, for queries; and byte for byte as published, for
    -- re-verification by anyone (the signature covers its canonical form).
    record          jsonb       NOT NULL,
    payload         bytea       NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    received_by     text        NOT NULL,
    -- Set by a central reviewer's decision (the desk); retention never deletes
    -- a held passage until it is set.
    reviewed_at     timestamptz,
    PRIMARY KEY (site, lane, id),
    FOREIGN KEY (site, lane) REFERENCES lanes (site, lane)
);
CREATE INDEX passages_lane_seq ON passages (site, lane, seq);
CREATE INDEX passages_arrived ON passages (arrived_at DESC);
CREATE INDEX passages_lane_arrived ON passages (site, lane, arrived_at DESC);
CREATE INDEX passages_plate ON passages (plate) WHERE plate IS NOT NULL;
CREATE INDEX passages_containers ON passages USING gin (containers);
CREATE INDEX passages_reasons ON passages USING gin (lane_reasons);
CREATE INDEX passages_outcome ON passages (final_outcome, arrived_at DESC);

-- Images a passage refers to, with the role they play in it.
CREATE TABLE passage_images (
    site        text   NOT NULL,
    lane        text   NOT NULL,
    passage_id  text   NOT NULL,
    sha256      text   NOT NULL,
    device      text   NOT NULL,
    -- 'plate_image', 'container_image', 'uvss_scan', 'uvss_overlay', 'empty_check'
    role        text   NOT NULL,
    PRIMARY KEY (site, lane, passage_id, sha256, device),
    FOREIGN KEY (site, lane, passage_id) REFERENCES passages (site, lane, id) ON DELETE CASCADE
);
CREATE INDEX passage_images_sha ON passage_images (sha256);

-- Decisions as soon as the lane made them: held vehicles reach reviewers
-- before their passage is complete.
CREATE TABLE decisions (
    site         text        NOT NULL,
    lane         text        NOT NULL,
    passage_id   text        NOT NULL,
    outcome      text        NOT NULL,
    reasons      text[]      NOT NULL DEFAULT '{}',
    decided_by   text        NOT NULL,
    decided_at   timestamptz NOT NULL,
    plate        text,
    containers   text[]      NOT NULL DEFAULT '{}',
    key_id       text        NOT NULL,
    record       jsonb       NOT NULL,
    payload      bytea       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, lane, passage_id, decided_at, decided_by),
    FOREIGN KEY (site, lane) REFERENCES lanes (site, lane)
);
CREATE INDEX decisions_held ON decisions (outcome, decided_at) WHERE outcome <> 'release';

-- Alarms: the lanes' own, and central's (source 'central': quarantined
-- records, broken trails, given-up resends, refused images).
CREATE TABLE alarms (
    id               bigserial   PRIMARY KEY,
    site             text        NOT NULL,
    lane             text        NOT NULL,
    source           text        NOT NULL CHECK (source IN ('lane', 'central')),
    kind             text        NOT NULL,
    passage_id       text,
    device           text,
    message          text        NOT NULL,
    raised_at        timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    -- Delivery is at least once: one row per distinct alarm.
    dedup_key        text        NOT NULL UNIQUE,
    acknowledged_at  timestamptz,
    acknowledged_by  text
);
CREATE INDEX alarms_lane ON alarms (site, lane, raised_at DESC);
CREATE INDEX alarms_open ON alarms (raised_at DESC) WHERE acknowledged_at IS NULL;

-- Commands central signed and sent (resends, and the desk's decisions), and
-- what the lane answered.
CREATE TABLE commands (
    id           text        PRIMARY KEY,
    site         text        NOT NULL,
    lane         text        NOT NULL,
    action_type  text        NOT NULL,
    passage_id   text,
    action       jsonb       NOT NULL,
    issued_by    text        NOT NULL,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    envelope     bytea       NOT NULL,
    -- 'sent', then 'accepted' or 'rejected' from the lane's ack; 'expired'
    -- when no ack came before expires_at.
    state        text        NOT NULL DEFAULT 'sent' CHECK (state IN ('sent', 'accepted', 'rejected', 'expired')),
    outcome      text,
    reason       text,
    detail       text,
    acked_at     timestamptz,
    FOREIGN KEY (site, lane) REFERENCES lanes (site, lane)
);
CREATE INDEX commands_lane ON commands (site, lane, issued_at DESC);
CREATE INDEX commands_passage ON commands (passage_id) WHERE passage_id IS NOT NULL;

-- Every ack the lanes published, also those for commands not in `commands`.
CREATE TABLE command_acks (
    site         text        NOT NULL,
    lane         text        NOT NULL,
    command_id   text,
    accepted     boolean     NOT NULL,
    reason       text,
    outcome      text,
    detail       text        NOT NULL,
    acked_at     timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    dedup_key    text        PRIMARY KEY
);
CREATE INDEX command_acks_command ON command_acks (command_id);

-- The lanes' signed audit checkpoints: {seq, hash} of their hash chain.
CREATE TABLE audit_checkpoints (
    site         text        NOT NULL,
    lane         text        NOT NULL,
    seq          bigint      NOT NULL,
    hash         text        NOT NULL,
    signed_at    timestamptz NOT NULL,
    payload      bytea       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, lane, seq),
    FOREIGN KEY (site, lane) REFERENCES lanes (site, lane)
);
