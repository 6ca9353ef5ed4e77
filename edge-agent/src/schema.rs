//! JSON Schemas of everything the lane publishes, generated from the Rust types
//! so the documented contract cannot drift from the code.

use schemars::schema_for;

use crate::record::{Alarm, DecisionEvent, DeviceHealthEvent, ImageManifest, LaneStatus, PassageRecord};

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
        ("command-envelope.schema.json", pretty(schema_for!(crate::command::Envelope))),
        ("command.schema.json", pretty(schema_for!(crate::command::Command))),
        ("ack.schema.json", pretty(schema_for!(crate::command::CommandAck))),
        ("stats.schema.json", pretty(schema_for!(crate::stats::StatsReport))),
    ]
}
