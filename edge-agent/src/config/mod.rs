//! Lane configuration: one TOML file per lane.
//!
//! Three steps, kept apart so `check-config` can run the first two without
//! touching the network or a device: parse (TOML into [`raw`] structs, which
//! catches syntax, unknown keys and wrong types), validate (every value, all
//! problems at once, each with `file:line:col` and a fix), and build (devices and
//! connections, in `lane::build`).

mod device;
pub mod diagnostic;
pub mod raw;
pub mod types;
mod validate;

use std::path::Path;

pub use diagnostic::{ConfigError, Diagnostic};
pub use types::*;

use diagnostic::{help_for_parse_error, Reporter};

/// Parses and validates a configuration text. `file` is used in messages and as
/// the base for relative paths.
pub fn from_str(file: &Path, source: &str) -> Result<LaneConfig, ConfigError> {
    let mut reporter = Reporter::new(file, source);
    let raw: raw::RawConfig = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            let help = help_for_parse_error(&message);
            reporter.error(span, message, help);
            return Err(reporter.finish().unwrap_err());
        }
    };
    let base = file.parent().unwrap_or(Path::new("."));
    let config = validate::validate(raw, base, &mut reporter);
    reporter.finish()?;
    Ok(config.expect("validation returns a config when it reports no error"))
}

/// Reads, parses and validates a configuration file.
pub fn load(file: &Path) -> Result<LaneConfig, ConfigError> {
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
