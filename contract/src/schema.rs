//! JSON Schemas of everything on the wire, generated from the Rust types so the
//! documented contract cannot drift from the code. `docs/schema/` holds them
//! (`edge-agent schema --out docs/schema`); a test fails when they differ.

use schemars::schema_for;

use crate::audit::AuditCheckpoint;
use crate::command::{Command, CommandAck, Envelope};
use crate::decision::DecisionEvent;
use crate::image::ImageManifest;
use crate::lane::{Alarm, DeviceHealthEvent, LaneStatus};
use crate::passage::PassageRecord;
use crate::stats::StatsReport;

/// (file name, schema JSON) for each message type.
pub fn all() -> Vec<(&'static str, String)> {
    let pretty = |s: schemars::Schema| serde_json::to_string_pretty(&s).expect("schemas serialise") + "\n";
    vec![
        ("passage.schema.json", pretty(schema_for!(PassageRecord))),
        ("decision.schema.json", pretty(schema_for!(DecisionEvent))),
        ("alarm.schema.json", pretty(schema_for!(Alarm))),
        ("status.schema.json", pretty(schema_for!(LaneStatus))),
        ("health.schema.json", pretty(schema_for!(DeviceHealthEvent))),
        ("image.schema.json", pretty(schema_for!(ImageManifest))),
        ("command-envelope.schema.json", pretty(schema_for!(Envelope))),
        ("command.schema.json", pretty(schema_for!(Command))),
        ("ack.schema.json", pretty(schema_for!(CommandAck))),
        ("stats.schema.json", pretty(schema_for!(StatsReport))),
        ("audit-checkpoint.schema.json", pretty(schema_for!(AuditCheckpoint))),
    ]
}
