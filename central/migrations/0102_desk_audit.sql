-- Central's audit log: every reviewer action (login, claim, decision,
-- correction, takeover, declaration import, user change), hash-chained and
-- signed with central's key. `lane-central audit verify` walks it.
--
-- `body` is the canonical JSON that was hashed (it holds seq, time, actor,
-- action, target, detail and the previous hash); the other columns repeat it
-- for queries, and verify checks that they agree with it.
CREATE TABLE desk_audit (
    seq         bigint      PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    site        text,
    lane        text,
    passage_id  text,
    detail      jsonb       NOT NULL,
    prev_hash   text        NOT NULL,
    body        text        NOT NULL,
    -- sha256 of body, hex; Ed25519 over those 32 bytes, base64.
    hash        text        NOT NULL,
    key_id      text        NOT NULL,
    signature   text        NOT NULL
);
CREATE INDEX desk_audit_passage ON desk_audit (site, lane, passage_id) WHERE passage_id IS NOT NULL;

-- The newest entry, signed again: cutting entries off the end of the log
-- leaves a head that no longer matches.
CREATE TABLE desk_audit_head (
    id         integer PRIMARY KEY CHECK (id = 1),
    seq        bigint  NOT NULL,
    hash       text    NOT NULL,
    key_id     text    NOT NULL,
    signature  text    NOT NULL
);
