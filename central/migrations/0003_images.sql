-- Images: bytes in the object store under images/<sha256> (content-addressed,
-- stored once), metadata here: the claim check.

CREATE TABLE images (
    sha256      text        PRIMARY KEY,
    bytes       bigint      NOT NULL,
    format      text        NOT NULL,
    width       integer     NOT NULL,
    height      integer     NOT NULL,
    camera      text        NOT NULL,
    site        text        NOT NULL,
    lane        text        NOT NULL,
    passage_id  text        NOT NULL,
    object_key  text        NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now()
);

-- Images being assembled, shared by every instance: the chunks of one image
-- reach different instances, their bytes wait in the store under
-- parts/<sha256>/<index>, and whichever instance commits the last piece
-- assembles it (under this row's lock), so each image is assembled once.
CREATE TABLE incoming_images (
    sha256          text        PRIMARY KEY,
    site            text        NOT NULL,
    lane            text        NOT NULL,
    manifest        jsonb,
    chunks          integer,
    received        integer     NOT NULL DEFAULT 0,
    received_bytes  bigint      NOT NULL DEFAULT 0,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    -- Set when the image was dropped for not completing in time: its pieces are
    -- gone, later chunks are refused until a manifest starts it again.
    expired_at      timestamptz
);
CREATE INDEX incoming_images_age ON incoming_images (first_seen_at);

CREATE TABLE image_parts (
    sha256  text    NOT NULL REFERENCES incoming_images (sha256) ON DELETE CASCADE,
    idx     integer NOT NULL,
    bytes   integer NOT NULL,
    PRIMARY KEY (sha256, idx)
);
