-- A reviewer's hold or inspection keeps the vehicle at the barrier (only a
-- release opens it), so it must stay on the desk: the documents arrive or the
-- inspection ends, and a reviewer releases it from there. Before, the lane's
-- acceptance of any reviewer's decision closed the item, and a vehicle held
-- by a reviewer could only leave by backing out or a local release. Now only
-- an accepted release closes it ('decided'); the passage's completion closes
-- it as before, whatever the decisions were.

CREATE OR REPLACE FUNCTION desk_on_command() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.state = 'accepted' AND OLD.state IS DISTINCT FROM 'accepted'
       AND NEW.action_type IN ('release', 'hold', 'inspection')
       AND NEW.outcome IN ('released', 'held', 'sent_to_inspection') THEN
        IF NEW.action_type = 'release' THEN
            UPDATE desk_items SET state = 'decided', closed_at = now()
             WHERE site = NEW.site AND lane = NEW.lane AND passage_id = NEW.passage_id AND state = 'waiting';
        ELSE
            -- Still waiting, now on a reviewer's hold: tell the desks it changed.
            PERFORM desk_notify('item', NEW.site, NEW.lane,
                jsonb_build_object('passage', NEW.passage_id, 'state', 'waiting', 'on_hold', true));
        END IF;
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
