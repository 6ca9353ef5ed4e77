//! Configuration errors that point at the offending spot: `file:line:col`, what
//! is wrong, and one sentence on how to fix it — the same form the lane's
//! `edge-agent check-config` uses, so installers read one kind of message.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub help: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)?;
        if !self.help.is_empty() {
            write!(f, "\n  help: {}", self.help)?;
        }
        Ok(())
    }
}

/// Every problem found in one configuration file, in file order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.diagnostics.iter().map(|d| d.to_string()).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// Collects diagnostics against one source text; byte spans become lines and
/// columns (columns count characters, so CJK text lines up in editors).
pub struct Reporter<'a> {
    file: &'a Path,
    source: &'a str,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub fn new(file: &'a Path, source: &'a str) -> Self {
        Reporter { file, source, diagnostics: Vec::new() }
    }

    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>, help: impl Into<String>) {
        let (line, column) = line_col(self.source, span.start);
        self.diagnostics.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
            help: help.into(),
        });
    }

    pub fn finish(mut self) -> Result<(), ConfigError> {
        if self.diagnostics.is_empty() {
            return Ok(());
        }
        self.diagnostics.sort_by_key(|d| (d.line, d.column));
        Err(ConfigError { diagnostics: self.diagnostics })
    }
}

pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A fix-it sentence for what serde and the TOML parser report.
pub fn help_for_parse_error(message: &str) -> String {
    if message.contains("unknown field") {
        return match message.split("expected ").nth(1) {
            Some(expected) => {
                format!("remove this key or correct its spelling; this table accepts {expected}")
            }
            None => "remove this key or correct its spelling".into(),
        };
    }
    if message.contains("missing field") {
        return "add the missing key to this table (see config/central.example.toml)".into();
    }
    if message.contains("invalid type") {
        return "give the value the type the example config shows (quotes for text and durations)".into();
    }
    if message.contains("duplicate key") {
        return "each key may appear once per table; remove one of them".into();
    }
    "fix the TOML syntax at this spot".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_not_bytes() {
        let src = "a = 1\nsite = \"沪A\" x\n";
        assert_eq!(line_col(src, src.find('x').unwrap()), (2, 13));
        assert_eq!(line_col(src, 0), (1, 1));
    }
}
