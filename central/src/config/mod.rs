//! Central's configuration: one TOML file (`config/central.example.toml` is the
//! commented reference).
//!
//! Three steps kept apart, as on the lane, so `lane-central check-config` runs
//! the first two without touching the network, the database or the store:
//! parse (TOML into [`raw`] structs: syntax, unknown keys, types), validate
//! (every value, all problems at once, each with `file:line:col` and a fix) and
//! build (pool, store, broker connection — in their own modules).

pub mod desk;
pub mod raw;
mod types;
mod validate;

use std::path::Path;

pub use desk::{DeskConfig, Reason};
pub use tomlcheck::{ConfigError, Diagnostic};
pub use types::*;

use tomlcheck::Reporter;

/// Parses and validates a configuration text; `file` names it in messages and
/// is the base of relative paths.
pub fn from_str(file: &Path, source: &str) -> Result<CentralConfig, ConfigError> {
    let mut reporter = Reporter::new(file, source);
    // Every unknown key and wrong type in one run, in words (the lane's `check-config` form).
    let Some(raw) = tomlcheck::parse::<raw::RawConfig>(source, &mut reporter, &is_duration) else {
        return Err(reporter.finish().expect_err("parse reports why it gave up"));
    };
    let base = file.parent().unwrap_or(Path::new("."));
    let config = validate::validate(raw, base, &mut reporter);
    reporter.finish()?;
    Ok(config.expect("validation gives a config when it reported nothing"))
}

/// Reads, parses and validates a configuration file.
pub fn load(file: &Path) -> Result<CentralConfig, ConfigError> {
    let source = std::fs::read_to_string(file).map_err(|e| {
        tomlcheck::unreadable(
            file,
            &e,
            "check the path (the default is /etc/lane-central/central.toml; give another with --config) and that the service user may read it",
        )
    })?;
    from_str(file, &source)
}

/// Keys of central's file whose value is a duration (so a type error there says so).
fn is_duration(key: &str) -> bool {
    matches!(
        key,
        "mqtt.keepalive"
            | "commands.validity"
            | "completeness.check_every"
            | "completeness.grace"
            | "completeness.first_retry"
            | "completeness.max_retry"
            | "images.incomplete_expiry"
            | "retention.records"
            | "retention.images"
            | "retention.sweep_every"
            | "desk.amber"
            | "desk.red"
            | "desk.lease"
            | "desk.session_idle"
            | "desk.session_max"
            | "desk.lockout_for"
    )
}
