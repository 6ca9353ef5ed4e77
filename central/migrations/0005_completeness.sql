-- What is missing and how central asks for it: a passage seq never received,
-- or an image a verified record refers to that never arrived whole.

CREATE TABLE gaps (
    site             text        NOT NULL,
    lane             text        NOT NULL,
    -- 'passage' (key = seq) or 'image' (key = sha256, passage_id the record).
    kind             text        NOT NULL CHECK (kind IN ('passage', 'image')),
    key              text        NOT NULL,
    passage_id       text,
    seq              bigint,
    state            text        NOT NULL DEFAULT 'outstanding' CHECK (state IN ('outstanding', 'healed', 'given_up')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_command     text,
    detected_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at      timestamptz,
    PRIMARY KEY (site, lane, kind, key),
    FOREIGN KEY (site, lane) REFERENCES lanes (site, lane)
);
CREATE INDEX gaps_due ON gaps (next_attempt_at) WHERE state = 'outstanding';

-- Where completeness starts per lane: the first seq central saw (a lane
-- installed before central is not asked for its whole history).
ALTER TABLE lanes ADD COLUMN first_seq bigint, ADD COLUMN last_seq bigint;
