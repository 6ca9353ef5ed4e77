//! Central's configuration: one TOML file (`config/central.example.toml` is the
//! commented reference).
//!
//! Three steps kept apart, as on the lane, so `lane-central check-config` runs
//! the first two without touching the network, the database or the store:
//! parse (TOML into [`raw`] structs: syntax, unknown keys, types), validate
//! (every value, all problems at once, each with `file:line:col` and a fix) and
//! build (pool, store, broker connection — in their own modules).

pub mod desk;
pub mod diagnostic;
pub mod raw;
mod types;
mod validate;

use std::path::Path;

pub use desk::{DeskConfig, Reason};
pub use diagnostic::{ConfigError, Diagnostic};
pub use types::*;

use diagnostic::{help_for_parse_error, Reporter};

/// Parses and validates a configuration text; `file` names it in messages and
/// is the base of relative paths.
pub fn from_str(file: &Path, source: &str) -> Result<CentralConfig, ConfigError> {
    let mut reporter = Reporter::new(file, source);
    let raw: raw::RawConfig = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(e) => {
            let message = e.message().trim().to_string();
            let help = help_for_parse_error(&message);
            reporter.error(e.span().unwrap_or(0..0), message, help);
            return Err(reporter.finish().unwrap_err());
        }
    };
    let base = file.parent().unwrap_or(Path::new("."));
    let config = validate::validate(raw, base, &mut reporter);
    reporter.finish()?;
    Ok(config.expect("validation gives a config when it reported nothing"))
}

/// Reads, parses and validates a configuration file.
pub fn load(file: &Path) -> Result<CentralConfig, ConfigError> {
    let source = std::fs::read_to_string(file).map_err(|e| ConfigError {
        diagnostics: vec![Diagnostic {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read the configuration file: {e}"),
            help: "check the path and that the service user may read it".into(),
        }],
    })?;
    from_str(file, &source)
}
