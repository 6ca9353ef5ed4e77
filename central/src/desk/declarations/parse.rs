//! Pre-declaration files as people make them: CSV (from a spreadsheet, header
//! names in English or Chinese, `|` or spaces between several containers or
//! seals) or JSON (an array of objects). Every row is checked — plates per
//! GA 36, containers per ISO 6346 with their check digit, seals, flags,
//! validity windows — and every problem is reported with its line number;
//! a file with any problem is refused whole.
//!
//! Times without an offset are local to the site and converted later (the
//! database knows the zones); here they stay as written.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use super::super::ids;

/// A validity time as written: with an offset, or local to the site.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    At(DateTime<Utc>),
    Local(NaiveDateTime),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line: usize,
    pub plate: String,
    pub containers: Vec<String>,
    pub seals: Vec<String>,
    pub declared_empty: bool,
    pub targeted: bool,
    pub valid_from: Option<When>,
    pub valid_until: Option<When>,
}

/// `line: message`, one per problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

const FIELDS: [(&str, &[&str]); 7] = [
    ("plate", &["plate", "车牌", "车牌号"]),
    ("containers", &["containers", "container", "箱号", "集装箱号"]),
    ("seals", &["seals", "seal", "关锁", "关锁号", "封志"]),
    ("declared_empty", &["declared_empty", "empty", "空箱"]),
    ("targeted", &["targeted", "布控"]),
    ("valid_from", &["valid_from", "生效时间", "生效"]),
    ("valid_until", &["valid_until", "失效时间", "失效"]),
];

fn field_of(header: &str) -> Option<&'static str> {
    let h = header.trim().to_lowercase();
    FIELDS.iter().find(|(_, names)| names.iter().any(|n| *n == h)).map(|(f, _)| *f)
}

/// Splits CSV text into records with the line each starts on (RFC 4180:
/// quoted fields may hold commas, quotes and line breaks).
fn csv_records(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let (mut field, mut record) = (String::new(), Vec::new());
    let (mut line, mut start, mut quoted) = (1usize, 1usize, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                out.push((start, std::mem::take(&mut record)));
                line += 1;
                start = line;
            }
            ('\n', true) => {
                field.push(c);
                line += 1;
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        out.push((start, record));
    }
    out.retain(|(_, r)| r.iter().any(|f| !f.trim().is_empty()));
    out
}

/// Several values in one field; `clean` tidies each (seal ids keep their dash).
fn list(text: &str, clean: fn(&str) -> String) -> Vec<String> {
    text.split(['|', ' ', ';', '，', '、']).map(clean).filter(|s| !s.is_empty()).collect()
}

fn flag(text: &str) -> Option<bool> {
    match text.trim().to_lowercase().as_str() {
        "" | "false" | "no" | "n" | "0" | "否" => Some(false),
        "true" | "yes" | "y" | "1" | "是" => Some(true),
        _ => None,
    }
}

fn when(text: &str) -> Result<Option<When>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(Some(When::At(d.with_timezone(&Utc))));
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y/%m/%d %H:%M"]
    {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, f) {
            return Ok(Some(When::Local(d)));
        }
    }
    Err(format!("{t:?} is not a time: write 2026-03-01 08:00 (the site's time) or 2026-03-01T08:00:00+08:00"))
}

/// One row's fields (by name) into a checked row, or its problems.
fn row(line: usize, get: &dyn Fn(&str) -> Option<String>, problems: &mut Vec<Problem>) -> Option<Row> {
    let mut bad = |message: String| problems.push(Problem { line, message });
    let plate = ids::normalise(&get("plate").unwrap_or_default());
    if plate.is_empty() {
        bad("no plate".into());
    } else if let Err(e) = ids::check_plate(&plate) {
        bad(e);
    }
    let containers = list(&get("containers").unwrap_or_default(), ids::normalise);
    for c in &containers {
        if let Err(e) = ids::check_container(c) {
            bad(e);
        }
    }
    let seals = list(&get("seals").unwrap_or_default(), |s| s.trim().to_ascii_uppercase());
    for s in &seals {
        if s.len() > 32 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            bad(format!("{s:?} is not a seal id (ISO 18185, e.g. ABCD-00012345)"));
        }
    }
    let mut flag_of = |name: &str| {
        let text = get(name).unwrap_or_default();
        flag(&text).unwrap_or_else(|| {
            bad(format!("{name} {text:?}: write yes or no"));
            false
        })
    };
    let (declared_empty, targeted) = (flag_of("declared_empty"), flag_of("targeted"));
    let mut when_of = |name: &str| {
        when(&get(name).unwrap_or_default()).unwrap_or_else(|e| {
            bad(format!("{name}: {e}"));
            None
        })
    };
    let (valid_from, valid_until) = (when_of("valid_from"), when_of("valid_until"));
    match (&valid_from, &valid_until) {
        (Some(When::At(a)), Some(When::At(b))) if a >= b => bad("valid_until is not after valid_from".into()),
        (Some(When::Local(a)), Some(When::Local(b))) if a >= b => {
            bad("valid_until is not after valid_from".into())
        }
        _ => {}
    }
    if declared_empty && containers.is_empty() {
        bad("declared empty, but no container is named".into());
    }
    Some(Row { line, plate, containers, seals, declared_empty, targeted, valid_from, valid_until })
}

pub fn csv(text: &str) -> Result<Vec<Row>, Vec<Problem>> {
    let text = text.trim_start_matches('\u{feff}');
    let mut records = csv_records(text).into_iter();
    let Some((_, header)) = records.next() else {
        return Err(vec![Problem { line: 1, message: "the file is empty".into() }]);
    };
    let mut problems = Vec::new();
    let columns: Vec<Option<&str>> = header.iter().map(|h| field_of(h)).collect();
    for (h, c) in header.iter().zip(&columns) {
        if c.is_none() {
            problems.push(Problem { line: 1, message: format!("unknown column {h:?}: use plate, containers, seals, declared_empty, targeted, valid_from, valid_until") });
        }
    }
    if !columns.contains(&Some("plate")) {
        problems.push(Problem { line: 1, message: "no plate column".into() });
    }
    let mut rows = Vec::new();
    for (line, fields) in records {
        if fields.len() > header.len() {
            problems.push(Problem {
                line,
                message: format!("{} fields, the header has {}", fields.len(), header.len()),
            });
            continue;
        }
        let get =
            |name: &str| columns.iter().position(|c| *c == Some(name)).and_then(|i| fields.get(i).cloned());
        rows.extend(row(line, &get, &mut problems));
    }
    finish(rows, problems)
}

pub fn json(text: &str) -> Result<Vec<Row>, Vec<Problem>> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).map_err(|e| {
        vec![Problem { line: e.line(), message: format!("not a JSON array of declarations: {e}") }]
    })?;
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    for raw in items {
        let line = line_of(raw.get().as_ptr() as usize - text.as_ptr() as usize);
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(raw.get()) else {
            problems.push(Problem { line, message: "each declaration is an object".into() });
            continue;
        };
        for k in obj.keys() {
            if field_of(k).is_none() {
                problems.push(Problem { line, message: format!("unknown key {k:?}") });
            }
        }
        let get = |name: &str| {
            obj.iter().find(|(k, _)| field_of(k) == Some(name)).map(|(_, v)| match v {
                Value::String(s) => s.clone(),
                Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join("|"),
                Value::Bool(b) => b.to_string(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
        };
        rows.extend(row(line, &get, &mut problems));
    }
    finish(rows, problems)
}

fn finish(rows: Vec<Row>, mut problems: Vec<Problem>) -> Result<Vec<Row>, Vec<Problem>> {
    // By plate, not row against row: a file of 100,000 rows is checked in milliseconds.
    let mut first_line: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for r in &rows {
        let first = *first_line.entry(r.plate.as_str()).or_insert(r.line);
        if first != r.line {
            problems.push(Problem {
                line: r.line,
                message: format!("{} is declared twice (also line {first})", r.plate),
            });
        }
    }
    if rows.is_empty() && problems.is_empty() {
        problems.push(Problem { line: 1, message: "no declarations in the file".into() });
    }
    problems.sort_by_key(|p| p.line);
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
