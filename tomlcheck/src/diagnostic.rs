//! Configuration errors that point at the offending spot: `file:line:col`, what is
//! wrong, and one sentence on how to fix it. A problem with the file as a whole (it
//! cannot be read) has no position and is printed as `file: message`.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line and column (in characters); `None` for the file as a whole.
    pub position: Option<(usize, usize)>,
    pub message: String,
    pub help: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.file.display(), self.message)?,
            None => write!(f, "{}: {}", self.file.display(), self.message)?,
        }
        if !self.help.is_empty() {
            write!(f, "\n  help: {}", self.help)?;
        }
        Ok(())
    }
}

/// All problems found in one configuration file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Collects diagnostics against one source text, turning byte spans into lines
/// and columns (columns count characters, so CJK names line up in editors).
pub struct Reporter<'a> {
    file: &'a Path,
    source: &'a str,
    pub diagnostics: Vec<Diagnostic>,
    /// Keys taken out of the document for a wrong type: reported once, not again as missing.
    removed: BTreeSet<String>,
}

impl<'a> Reporter<'a> {
    pub fn new(file: &'a Path, source: &'a str) -> Self {
        Reporter { file, source, diagnostics: Vec::new(), removed: BTreeSet::new() }
    }

    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>, help: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            file: self.file.to_path_buf(),
            position: Some(line_col(self.source, span.start)),
            message: message.into(),
            help: help.into(),
        });
    }

    /// Notes that `key` (dotted path) was reported and taken out of the document.
    pub fn removed(&mut self, key: String) {
        self.removed.insert(key);
    }

    /// Whether `key` was already reported for its type (so "missing" would repeat it).
    pub fn was_removed(&self, key: &str) -> bool {
        self.removed
            .iter()
            .any(|r| key == r || key.strip_prefix(r.as_str()).is_some_and(|k| k.starts_with('.')))
    }

    /// A required key that is absent, reported at its table unless already reported.
    pub fn missing(&mut self, table: Range<usize>, key: &str, help: impl Into<String>) {
        if !self.was_removed(key) {
            let (table_name, last) = key.rsplit_once('.').unwrap_or(("", key));
            let message = if table_name.is_empty() {
                format!("the file has no [{last}] table")
            } else {
                format!("[{table_name}] has no `{last}`")
            };
            self.error(table, message, help);
        }
    }

    pub fn finish(mut self) -> Result<(), ConfigError> {
        if self.diagnostics.is_empty() {
            Ok(())
        } else {
            self.diagnostics.sort_by_key(|d| d.position);
            Err(ConfigError { diagnostics: self.diagnostics })
        }
    }
}

pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let src = "a = 1\nname = \"沪A\" x\n";
        let off = src.find('x').unwrap();
        assert_eq!(line_col(src, off), (2, 13));
        assert_eq!(line_col(src, 0), (1, 1));
    }
}
