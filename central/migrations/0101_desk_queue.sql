-- The review queue, the reviewers' decisions and corrections, and the
-- notifications that drive the desk's live updates.
--
-- The queue is a table of its own, filled by triggers on central's tables
-- (decisions, passages, commands) rather than a query over them: it stays a
-- few hundred rows however many passages the port keeps, whichever instance
-- ingested the rows, and ingest needs no code for it.

CREATE TABLE desk_items (
    site          text        NOT NULL,
    lane          text        NOT NULL,
    passage_id    text        NOT NULL,
    -- The lane's own decision: when it held the vehicle (the age timer starts
    -- here), hold or inspection, and why.
    decided_at    timestamptz NOT NULL,
    outcome       text        NOT NULL,
    reasons       text[]      NOT NULL DEFAULT '{}',
    plate         text,
    containers    text[]      NOT NULL DEFAULT '{}',
    -- 'waiting' for a reviewer; 'decided' once a reviewer's command was
    -- accepted by the lane; 'gone' when the passage completed without one
    -- (the vehicle backed out, or a local operator released it).
    state         text        NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'decided', 'gone')),
    closed_at     timestamptz,
    -- The claim: one reviewer at a time, for as long as the lease is renewed.
    claimed_by    text,
    claimed_at    timestamptz,
    lease_until   timestamptz,
    -- Past the red limit: supervisors are told and an alarm is raised, once.
    escalated_at  timestamptz,
    PRIMARY KEY (site, lane, passage_id)
);
CREATE INDEX desk_items_waiting ON desk_items (decided_at) WHERE state = 'waiting';

-- A reviewer's decision: the command it became (state and ack are in
-- `commands`), and what the command does not carry: the reason and comment.
CREATE TABLE desk_reviews (
    command_id   text        PRIMARY KEY,
    site         text        NOT NULL,
    lane         text        NOT NULL,
    passage_id   text        NOT NULL,
    outcome      text        NOT NULL CHECK (outcome IN ('release', 'hold', 'inspection')),
    reason       text        NOT NULL,
    comment      text        NOT NULL DEFAULT '',
    by_user      text        NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX desk_reviews_passage ON desk_reviews (site, lane, passage_id);

-- A reviewer's correction of a read. The machine's read stays in the signed
-- record; this is the person's, with who and when.
CREATE TABLE desk_corrections (
    id           bigserial   PRIMARY KEY,
    site         text        NOT NULL,
    lane         text        NOT NULL,
    passage_id   text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('plate', 'container')),
    -- The machine's read ('' when it read nothing) and the person's.
    original     text        NOT NULL,
    corrected    text        NOT NULL,
    by_user      text        NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX desk_corrections_passage ON desk_corrections (site, lane, passage_id);

-- One notification per change the desk shows, on channel 'lanectl_desk'
-- (small JSON, well under PostgreSQL's 8000-byte limit). Every instance
-- listens and forwards to its browsers.
CREATE FUNCTION desk_notify(kind text, site text, lane text, extra jsonb) RETURNS void AS $$
BEGIN
    PERFORM pg_notify('lanectl_desk',
        (jsonb_build_object('type', kind, 'site', site, 'lane', lane) || COALESCE(extra, '{}'::jsonb))::text);
END $$ LANGUAGE plpgsql;

-- A held vehicle reaches the queue as soon as the lane's decision does.
CREATE FUNCTION desk_on_decision() RETURNS trigger AS $$
BEGIN
    IF NEW.outcome IN ('hold', 'inspection') AND NEW.decided_by NOT LIKE 'central:%'
       AND NEW.decided_by NOT LIKE 'local:%' THEN
        INSERT INTO desk_items (site, lane, passage_id, decided_at, outcome, reasons, plate, containers)
        VALUES (NEW.site, NEW.lane, NEW.passage_id, NEW.decided_at, NEW.outcome, NEW.reasons, NEW.plate, NEW.containers)
        ON CONFLICT DO NOTHING;
        -- The passage may have been stored first (another instance, a resend).
        UPDATE desk_items SET state = 'gone', closed_at = now()
         WHERE site = NEW.site AND lane = NEW.lane AND passage_id = NEW.passage_id AND state = 'waiting'
           AND EXISTS (SELECT 1 FROM passages p WHERE p.site = NEW.site AND p.lane = NEW.lane AND p.id = NEW.passage_id);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER desk_on_decision AFTER INSERT ON decisions FOR EACH ROW EXECUTE FUNCTION desk_on_decision();

-- A completed passage closes its queue item; a central review that the lane
-- carried out marks it reviewed (retention keeps a held passage until then).
CREATE FUNCTION desk_on_passage() RETURNS trigger AS $$
BEGIN
    IF NEW.reviewed_at IS NULL THEN
        NEW.reviewed_at := (
            SELECT min(c.acked_at) FROM desk_reviews r JOIN commands c ON c.id = r.command_id
             WHERE r.site = NEW.site AND r.lane = NEW.lane AND r.passage_id = NEW.id AND c.state = 'accepted'
               AND c.outcome IN ('released', 'held', 'sent_to_inspection'));
    END IF;
    UPDATE desk_items SET state = CASE WHEN NEW.review_by LIKE 'central:%' THEN 'decided' ELSE 'gone' END,
           closed_at = now()
     WHERE site = NEW.site AND lane = NEW.lane AND passage_id = NEW.id AND state = 'waiting';
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER desk_on_passage BEFORE INSERT ON passages FOR EACH ROW EXECUTE FUNCTION desk_on_passage();

-- The lane answered one of central's commands: a reviewer's decision the lane
-- carried out closes the item.
CREATE FUNCTION desk_on_command() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.state = 'accepted' AND OLD.state IS DISTINCT FROM 'accepted'
       AND NEW.action_type IN ('release', 'hold', 'inspection')
       AND NEW.outcome IN ('released', 'held', 'sent_to_inspection') THEN
        UPDATE desk_items SET state = 'decided', closed_at = now()
         WHERE site = NEW.site AND lane = NEW.lane AND passage_id = NEW.passage_id AND state = 'waiting';
        UPDATE passages SET reviewed_at = COALESCE(reviewed_at, NEW.acked_at)
         WHERE site = NEW.site AND lane = NEW.lane AND id = NEW.passage_id;
    END IF;
    IF NEW.action_type IN ('release', 'hold', 'inspection', 'declare')
       AND (TG_OP = 'INSERT' OR OLD.state IS DISTINCT FROM NEW.state) THEN
        PERFORM desk_notify('command', NEW.site, NEW.lane,
            jsonb_build_object('id', NEW.id, 'passage', NEW.passage_id, 'state', NEW.state));
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER desk_on_command AFTER INSERT OR UPDATE ON commands FOR EACH ROW EXECUTE FUNCTION desk_on_command();

CREATE FUNCTION desk_on_item() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.state IS DISTINCT FROM NEW.state OR OLD.claimed_by IS DISTINCT FROM NEW.claimed_by
       OR OLD.escalated_at IS DISTINCT FROM NEW.escalated_at THEN
        PERFORM desk_notify('item', NEW.site, NEW.lane,
            jsonb_build_object('passage', NEW.passage_id, 'state', NEW.state, 'claimed_by', NEW.claimed_by,
                               'escalated', NEW.escalated_at IS NOT NULL));
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER desk_on_item AFTER INSERT OR UPDATE ON desk_items FOR EACH ROW EXECUTE FUNCTION desk_on_item();

CREATE FUNCTION desk_on_lane() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.state IS DISTINCT FROM NEW.state OR OLD.trail_state IS DISTINCT FROM NEW.trail_state THEN
        PERFORM desk_notify('lane', NEW.site, NEW.lane, jsonb_build_object('state', NEW.state));
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER desk_on_lane AFTER INSERT OR UPDATE ON lanes FOR EACH ROW EXECUTE FUNCTION desk_on_lane();

CREATE FUNCTION desk_on_alarm() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.acknowledged_at IS DISTINCT FROM NEW.acknowledged_at THEN
        PERFORM desk_notify('alarm', NEW.site, NEW.lane, jsonb_build_object('kind', NEW.kind, 'passage', NEW.passage_id));
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER desk_on_alarm AFTER INSERT OR UPDATE ON alarms FOR EACH ROW EXECUTE FUNCTION desk_on_alarm();

CREATE FUNCTION desk_on_health() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.state IS DISTINCT FROM NEW.state THEN
        PERFORM desk_notify('lane', NEW.site, NEW.lane, jsonb_build_object('device', NEW.device));
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER desk_on_health AFTER INSERT OR UPDATE ON lane_health FOR EACH ROW EXECUTE FUNCTION desk_on_health();
