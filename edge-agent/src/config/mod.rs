//! Lane configuration: one TOML file per lane.
//!
//! Three steps, kept apart so `check-config` can run the first two without
//! touching the network or a device: parse (TOML into [`raw`] structs: syntax,
//! unknown keys and wrong types, see [`parse`]), validate (every value, each with
//! `file:line:col` and a fix), and build (devices and connections, in `lane::build`).
//! Parse and validate report together: all the mistakes of a file in one run.

mod device;
pub mod raw;
mod summary;
pub mod types;
mod validate;
mod values;

use std::path::Path;

pub use summary::summary;
pub use tomlcheck::words::io_words;
pub use tomlcheck::{ConfigError, Diagnostic};
pub use types::*;

use tomlcheck::Reporter;

/// Parses and validates a configuration text. `file` is used in messages and as
/// the base for relative paths.
pub fn from_str(file: &Path, source: &str) -> Result<LaneConfig, ConfigError> {
    let mut reporter = Reporter::new(file, source);
    let Some(raw) = tomlcheck::parse::<raw::RawConfig>(source, &mut reporter, &is_duration) else {
        return Err(reporter.finish().expect_err("parse reports why it gave up"));
    };
    let base = file.parent().unwrap_or(Path::new("."));
    let config = validate::validate(raw, base, &mut reporter);
    reporter.finish()?;
    Ok(config.expect("validation returns a config when it reports no error"))
}

/// Reads, parses and validates a configuration file.
pub fn load(file: &Path) -> Result<LaneConfig, ConfigError> {
    let source = std::fs::read_to_string(file).map_err(|e| {
        let help = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "check the path (the default is /etc/edge-agent/lane.toml; give another with --config)"
            }
            std::io::ErrorKind::PermissionDenied => {
                "the user running edge-agent must be able to read it (the service runs as edge-agent)"
            }
            _ => "give the path of the lane's TOML file",
        };
        tomlcheck::unreadable(file, &e, help)
    })?;
    from_str(file, &source)
}

/// Keys of a lane file whose value is a duration (so a type error there says so).
fn is_duration(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    key.starts_with("timeouts.")
        || (key.starts_with("sim.") && !last.ends_with("every") && !matches!(last, "vehicles" | "seed"))
        || matches!(last, "keepalive" | "max_validity" | "timeout" | "debounce")
}
