//! Words for people: plurals, articles, "did you mean", sizes, and error texts without the
//! operating system's codes. Durations are in [`crate::duration`].

/// An error text without the operating system's codes: `No such file or directory (os
/// error 2)` becomes `it does not exist`; other `(os error N)` tails are dropped.
pub fn without_os_codes(text: &str) -> String {
    let mut out = text
        .replace("No such file or directory (os error 2)", "it does not exist")
        .replace("Permission denied (os error 13)", "permission denied")
        .replace("File exists (os error 17)", "it already exists")
        .replace("Is a directory (os error 21)", "it is a folder, not a file")
        .replace("Connection refused (os error 111)", "connection refused");
    while let Some(start) = out.find(" (os error ") {
        let end = out[start..].find(')').map_or(out.len(), |e| start + e + 1);
        out.replace_range(start..end, "");
    }
    out
}

/// `512 B`, `6.2 KiB`, `1.5 MiB`, `2.0 GiB`.
pub fn format_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// `1 passage`, `2 passages`, `0 passages`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `a` or `an` before `word` (by its first letter; good enough for the lane's nouns).
pub fn article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// `an area camera`, `a barrier`.
pub fn with_article(word: &str) -> String {
    format!("{} {word}", article(word))
}

/// The candidate `given` was most likely meant to be, if one is close enough:
/// the same word up to case and `-`/`_`, or a small typo (one edit in four letters,
/// at least one), or a word the other contains (`camera` for `area_camera`).
pub fn suggest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let norm = |s: &str| s.trim().to_lowercase().replace('-', "_");
    let g = norm(given);
    if g.is_empty() {
        return None;
    }
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let n = norm(c);
        let score = if n == g {
            0
        } else {
            let d = edit_distance(&g, &n);
            let allowed = (g.chars().count().max(n.chars().count()) / 4).max(1);
            if d <= allowed {
                d
            } else if g.len() >= 4 && (n.contains(&g) || g.contains(&n)) {
                allowed + 1
            } else if shares_a_word(&g, &n) {
                allowed + 2
            } else {
                continue;
            }
        };
        if best.is_none_or(|(b, _)| score < b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Whether two `snake_case` names share a word of four letters or more (`seal_scanner`
/// and `seal_reader`).
fn shares_a_word(a: &str, b: &str) -> bool {
    a.split('_').filter(|w| w.len() >= 4).any(|w| b.split('_').any(|v| v == w))
}

/// For a value: `did you mean "under_arm"?`, or `{what} "a", "b" or "c"` when nothing
/// is close.
pub fn did_you_mean(given: &str, candidates: &[&str], what: &str) -> String {
    match suggest(given, candidates.iter().copied()) {
        Some(s) => format!("did you mean \"{s}\"?"),
        None => format!("{what} {}", quoted_list(candidates)),
    }
}

/// For a key: `did you mean `keepalive`?`, or `{what} a, b, c` when nothing is close.
pub fn did_you_mean_key(given: &str, candidates: &[&str], what: &str) -> String {
    match suggest(given, candidates.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("{what} {}", candidates.join(", ")),
    }
}

/// `"a", "b" or "c"`.
pub fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Edit distance over characters, a swap of two neighbours counting as one edit
/// (`digset` is one edit from `digest`): the optimal-string-alignment distance.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
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
        _ => without_os_codes(&e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_and_articles() {
        assert_eq!(plural(1, "passage", "passages"), "1 passage");
        assert_eq!(plural(0, "passage", "passages"), "0 passages");
        assert_eq!(plural(2, "message", "messages"), "2 messages");
        assert_eq!(with_article("area camera"), "an area camera");
        assert_eq!(with_article("under-vehicle camera"), "an under-vehicle camera");
        assert_eq!(with_article("barrier"), "a barrier");
    }

    #[test]
    fn suggestions_catch_typos_case_and_dashes_but_not_strangers() {
        let keys = ["host", "port", "keepalive", "max_packet_size"];
        assert_eq!(suggest("keepaliv", keys), Some("keepalive"));
        assert_eq!(suggest("keep-alive", keys), Some("keepalive"));
        assert_eq!(suggest("Port", keys), Some("port"));
        assert_eq!(suggest("max_packet", keys), Some("max_packet_size"));
        assert_eq!(suggest("colour", keys), None);
        let roles = ["arrival", "under_arm", "exit"];
        assert_eq!(suggest("under-arm", roles), Some("under_arm"));
        assert_eq!(
            suggest("camera", ["area_camera", "under_vehicle_camera", "barrier"]),
            Some("area_camera")
        );
        assert_eq!(suggest("", roles), None);
        let kinds = ["barrier", "seal_reader", "empty_box_detector"];
        assert_eq!(suggest("seal_scanner", kinds), Some("seal_reader"));
    }

    #[test]
    fn did_you_mean_lists_once_when_nothing_is_close() {
        assert_eq!(did_you_mean("exitt", &["arrival", "exit"], "use"), "did you mean \"exit\"?");
        assert_eq!(did_you_mean_key("hots", &["host", "port"], "keys:"), "did you mean `host`?");
        assert_eq!(did_you_mean_key("zzz", &["host", "port"], "keys:"), "keys: host, port");
        assert_eq!(did_you_mean("zzz", &["arrival", "exit"], "use"), "use \"arrival\" or \"exit\"");
    }

    #[test]
    fn os_codes_become_words() {
        assert_eq!(
            without_os_codes("cannot read /x: No such file or directory (os error 2)"),
            "cannot read /x: it does not exist"
        );
        assert_eq!(
            without_os_codes("bind: Address in use (os error 98); retry"),
            "bind: Address in use; retry"
        );
        assert_eq!(without_os_codes("fine"), "fine");
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("沪A", "沪B"), 1);
        assert_eq!(edit_distance("digset", "digest"), 1);
    }
}
