//! A TOML file people wrote (a lane's configuration, central's), checked the way a
//! technician needs: every mistake of the file in one run, each at its `file:line:col` with
//! a sentence on how to fix it, in words — "did you mean `keepalive`?", "a port number
//! from 1 to 65535, not \"1883\" (text)" — never serde's `expected u16`.
//!
//! Both programs use it for the same reason: the first hour at a gate is spent in
//! `check-config`, and the two config files should answer alike. The crate is small and
//! does no I/O: [`parse`] turns text into the program's own raw serde structs (recovering
//! past each type error), [`Reporter`] collects what the program's validation adds, and
//! [`words`] and [`duration`] hold the wording both command lines share, [`help`] the
//! grouped layout of their `--help`.

pub mod diagnostic;
pub mod duration;
pub mod help;
mod parse;
pub mod words;

pub use diagnostic::{line_col, ConfigError, Diagnostic, Reporter};
pub use parse::parse;

/// The missing-file diagnostic both programs give: the file, no position, what is wrong
/// in words, and `help`.
pub fn unreadable(file: &std::path::Path, e: &std::io::Error, help: &str) -> ConfigError {
    ConfigError {
        diagnostics: vec![Diagnostic {
            file: file.to_path_buf(),
            position: None,
            message: format!("cannot read the configuration file: {}", words::io_words(e)),
            help: help.into(),
        }],
    }
}
