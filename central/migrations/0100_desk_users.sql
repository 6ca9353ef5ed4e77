-- The reviewers' desk (issue 14): users, sessions, API tokens.
-- Desk migrations are numbered 0100 and up (see docs/design/central.md).

-- A person who uses the desk. The name goes into signed commands as
-- `by` (the lane records `central:<name>`), hence the narrow alphabet.
CREATE TABLE desk_users (
    name            text        PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    role            text        NOT NULL CHECK (role IN ('viewer', 'reviewer', 'supervisor')),
    -- The sites this user sees; empty means every site central receives.
    sites           text[]      NOT NULL DEFAULT '{}',
    language        text        NOT NULL DEFAULT 'zh-CN' CHECK (language IN ('zh-CN', 'en')),
    -- argon2id, PHC string (salt and parameters inside).
    password_hash   text        NOT NULL,
    -- Consecutive failed logins; reset by a successful one.
    failed_logins   integer     NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- A browser session. The cookie carries a random token; only its sha256 is
-- kept, so a copy of this table opens no session.
CREATE TABLE desk_sessions (
    token_sha256  text        PRIMARY KEY,
    user_name     text        NOT NULL REFERENCES desk_users (name) ON DELETE CASCADE,
    -- Sent back in X-CSRF-Token on every change.
    csrf          text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    -- The absolute end (one shift); idle expiry is last_seen_at + the configured idle time.
    expires_at    timestamptz NOT NULL,
    address       text
);
CREATE INDEX desk_sessions_user ON desk_sessions (user_name);

-- Bearer tokens for other systems calling the API (no cookie, hence no CSRF).
CREATE TABLE desk_tokens (
    token_sha256  text        PRIMARY KEY,
    user_name     text        NOT NULL REFERENCES desk_users (name) ON DELETE CASCADE,
    label         text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz
);
