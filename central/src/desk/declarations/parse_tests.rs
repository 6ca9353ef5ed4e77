//! Tests of the pre-declaration parser: the file formats a port office really sends (spreadsheet CSV with
//! Chinese headers, JSON) and every kind of line it must refuse, with its line number.

use super::*;

#[test]
fn a_spreadsheet_csv_with_chinese_headers_and_quotes() {
    let text = "\u{feff}车牌,箱号,关锁,空箱,布控,生效时间,失效时间\r\n\
                沪A12345,\"MSKU1234565|CSQU3054383\",ABCD-00012345,否,否,2026-03-01 08:00,2026-03-02 08:00\r\n\
                苏E5678D,,,no,yes,,\r\n";
    let rows = csv(text).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].line, 2);
    assert_eq!(rows[0].containers, ["MSKU1234565", "CSQU3054383"]);
    assert_eq!(rows[0].seals, ["ABCD-00012345"]);
    assert!(matches!(rows[0].valid_from, Some(When::Local(_))));
    assert!(rows[1].targeted && !rows[1].declared_empty);
}

#[test]
fn every_problem_is_reported_with_its_line_and_nothing_is_accepted() {
    let text = "plate,containers,declared_empty\n\
                沪A12345,MSKU1234565,no\n\
                XX123,MSKU1234566,maybe\n\
                \"粤B\n12345\",,no\n\
                沪A12345,,yes\n";
    let problems = csv(text).unwrap_err();
    let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
    let text: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.line, p.message)).collect();
    assert!(text.iter().any(|t| t.starts_with("3:") && t.contains("GA 36")), "{text:?}");
    assert!(text.iter().any(|t| t.starts_with("3:") && t.contains("check digit should be 5")), "{text:?}");
    assert!(text.iter().any(|t| t.starts_with("3:") && t.contains("maybe")), "{text:?}");
    assert!(text.iter().any(|t| t.starts_with("4:")), "a quoted line break stays in its record: {text:?}");
    assert!(
        text.iter().any(|t| t.starts_with("6:") && t.contains("declared twice (also line 2)")),
        "{text:?}"
    );
    assert!(text.iter().any(|t| t.starts_with("6:") && t.contains("no container")), "{text:?}");
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "in file order: {lines:?}");
}

#[test]
fn json_rows_know_their_lines() {
    let text = r#"[
  {"plate": "沪A12345", "containers": ["MSKU1234565"], "valid_until": "2026-03-02T08:00:00+08:00"},
  {"plate": "沪A1234",
   "colour": "blue"}
]"#;
    let problems = json(text).unwrap_err();
    assert_eq!(problems.iter().map(|p| p.line).collect::<Vec<_>>(), [3, 3], "{problems:?}");
    let ok = json(r#"[{"plate": "沪A12345", "targeted": true}]"#).unwrap();
    assert!(ok[0].targeted);
    assert_eq!(json("{").unwrap_err()[0].line, 1);
    assert!(csv("").is_err() && json("[]").is_err(), "an empty file is refused");
}

#[test]
fn unknown_columns_and_bad_times_are_refused() {
    let p = csv("plate,colour\n沪A12345,blue\n").unwrap_err();
    assert!(p[0].message.contains("unknown column \"colour\""), "{p:?}");
    let p = csv("plate,valid_from,valid_until\n沪A12345,2026-03-02 08:00,2026-03-01 08:00\n").unwrap_err();
    assert!(p[0].message.contains("not after"), "{p:?}");
    let p = csv("plate,valid_from\n沪A12345,tomorrow\n").unwrap_err();
    assert!(p[0].message.contains("not a time"), "{p:?}");
}
