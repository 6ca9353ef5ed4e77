-- Records that failed verification: kept (nothing is lost), never shown as
-- verified, never actionable. A record held only because its lane's key was
-- still pending is verified again when the key is approved.

CREATE TABLE quarantine (
    id           bigserial   PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    topic        text        NOT NULL,
    -- From the topic; the record's own claim may differ ('topic_mismatch').
    site         text        NOT NULL,
    lane         text        NOT NULL,
    leaf         text        NOT NULL,
    -- 'bad_signature', 'unsigned', 'unknown_key', 'pending_key', 'revoked_key',
    -- 'topic_mismatch', 'schema'
    kind         text        NOT NULL,
    detail       text        NOT NULL,
    payload      bytea       NOT NULL,
    payload_sha256 text      NOT NULL,
    released_at  timestamptz,
    UNIQUE (topic, payload_sha256)
);
CREATE INDEX quarantine_lane ON quarantine (site, lane, received_at DESC);
CREATE INDEX quarantine_pending ON quarantine (site, lane) WHERE kind = 'pending_key' AND released_at IS NULL;
