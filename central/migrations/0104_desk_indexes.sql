-- Indexes for what the desk asks of central's tables, found with the desk's
-- benchmark (central/benches/desk_pages.rs: 30 days of a 200-lane port).

-- Search by the beginning of a plate, whatever the database's collation
-- (a plain btree serves LIKE 'prefix%' only under the C collation; Debian
-- clusters made under a UTF-8 locale are not C).
CREATE INDEX desk_passages_plate_prefix ON passages (plate text_pattern_ops) WHERE plate IS NOT NULL;
-- A plate or container as a reviewer corrected it.
CREATE INDEX desk_corrections_corrected ON desk_corrections (kind, corrected text_pattern_ops);
-- The lane wall: each lane's open alarms, however long the alarm history.
CREATE INDEX desk_alarms_open_lane ON alarms (site, lane, raised_at DESC) WHERE acknowledged_at IS NULL;
-- The housekeeping runs every second: commands still waiting for an ack (a
-- handful) and closed queue items past retention, without reading the tables.
CREATE INDEX desk_commands_unanswered ON commands (expires_at) WHERE state = 'sent';
CREATE INDEX desk_items_closed ON desk_items (closed_at) WHERE state <> 'waiting';
