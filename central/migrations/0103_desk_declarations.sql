-- Pre-declarations uploaded on the desk: each upload (validated all or
-- nothing) and its rows, kept to show declared against read, and the
-- `declare` commands that carried it to the lanes (their acks are in `commands`).
CREATE TABLE desk_declaration_imports (
    id           bigserial   PRIMARY KEY,
    uploaded_by  text        NOT NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    file_name    text        NOT NULL,
    sha256       text        NOT NULL,
    rows         integer     NOT NULL
);

CREATE TABLE desk_declarations (
    import_id       bigint      NOT NULL REFERENCES desk_declaration_imports (id) ON DELETE CASCADE,
    line            integer     NOT NULL,
    plate           text        NOT NULL,
    containers      text[]      NOT NULL DEFAULT '{}',
    seals           text[]      NOT NULL DEFAULT '{}',
    declared_empty  boolean     NOT NULL DEFAULT false,
    targeted        boolean     NOT NULL DEFAULT false,
    valid_from      timestamptz,
    valid_until     timestamptz,
    PRIMARY KEY (import_id, line)
);
CREATE INDEX desk_declarations_plate ON desk_declarations (plate);

CREATE TABLE desk_declaration_commands (
    import_id   bigint NOT NULL REFERENCES desk_declaration_imports (id) ON DELETE CASCADE,
    command_id  text   NOT NULL,
    PRIMARY KEY (import_id, command_id)
);
