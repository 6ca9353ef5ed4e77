//! Lane configuration: one TOML file per lane.
//!
//! Three steps, kept apart so `check-config` can run the first two without
//! touching the network or a device: parse (TOML into [`raw`] structs: syntax,
//! unknown keys and wrong types, see [`parse`]), validate (every value, each with
//! `file:line:col` and a fix), and build (devices and connections, in `lane::build`).
//! Parse and validate report together: all the mistakes of a file in one run.

mod device;
pub mod diagnostic;
mod parse;
pub mod raw;
mod summary;
pub mod types;
mod validate;
mod values;

use std::path::Path;

pub use diagnostic::{ConfigError, Diagnostic};
pub use summary::summary;
pub use types::*;

use diagnostic::Reporter;

/// Parses and validates a configuration text. `file` is used in messages and as
/// the base for relative paths.
pub fn from_str(file: &Path, source: &str) -> Result<LaneConfig, ConfigError> {
    let mut reporter = Reporter::new(file, source);
    let Some(raw) = parse::parse(source, &mut reporter) else {
        return Err(reporter.finish().expect_err("parse reports why it gave up"));
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
            position: None,
            message: format!("cannot read the configuration file: {}", io_words(&e)),
            help: match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "check the path (the default is /etc/edge-agent/lane.toml; give another with --config)"
                }
                std::io::ErrorKind::PermissionDenied => {
                    "the user running edge-agent must be able to read it (the service runs as edge-agent)"
                }
                _ => "give the path of the lane's TOML file",
            }
            .into(),
        }],
    })?;
    from_str(file, &source)
}

/// An I/O error in words, without `(os error 2)`.
pub fn io_words(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => "it does not exist".into(),
        PermissionDenied => "permission denied".into(),
        IsADirectory => "it is a folder, not a file".into(),
        InvalidData => "it is not UTF-8 text".into(),
        AlreadyExists => "it already exists".into(),
        _ => crate::words::without_os_codes(&e.to_string()),
    }
}
