-- Messages central's own handler failed on (a panic: a bug in central) are
-- acknowledged to the broker (unacknowledged, one would hold an in-flight slot
-- for as long as the connection lasts) and kept here as 'handler_failed', to be
-- tried again: at every start (an upgrade may have fixed the bug) and with a
-- growing backoff (the failure may have been a race that will not recur).

ALTER TABLE quarantine
    ADD COLUMN attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz;
CREATE INDEX quarantine_failed ON quarantine (next_attempt_at)
    WHERE kind = 'handler_failed' AND released_at IS NULL;
