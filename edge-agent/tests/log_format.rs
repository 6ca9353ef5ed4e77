//! The agent's log as a file or a pipe receives it: plain text without colour codes, and
//! values as words (`outcome=release`), never Rust's debug text (`Some(Release)`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hil_tests::Mosquitto;

#[test]
fn a_piped_log_is_plain_text_with_values_in_words() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lane.toml");
    let lane = hil_tests::demo_lane(
        &format!("host = \"127.0.0.1\"\nport = {}", broker.port),
        &dir.path().join("data").display().to_string(),
    );
    let config = format!(
        "{lane}\n[web]\nenabled = false\n\n[sim]\nvehicles = 3\nseed = 5\narrival_gap = \"5ms\"\nbarrier_move = \"5ms\"\n\
         drive_in = \"2ms\"\ndrive_clear = \"5ms\"\npatience = \"1s\"\n"
    );
    std::fs::write(&file, config).unwrap();
    let mut agent = Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(["run", "--config"])
        .arg(&file)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = agent.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut complete = 0;
    while complete < 3 {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                complete += usize::from(line.contains("passage complete"));
                lines.push(line);
            }
            Err(_) => {
                let _ = agent.kill();
                panic!("only {complete} passages logged:\n{}", lines.join("\n"));
            }
        }
    }
    let _ = agent.kill();
    let _ = agent.wait();
    let log = lines.join("\n");
    assert!(!log.contains('\u{1b}'), "no colour codes in a pipe:\n{log}");
    assert!(!log.contains("Some(") && !log.contains("None"), "no Rust debug text:\n{log}");
    let passage = lines.iter().find(|l| l.contains("passage complete")).unwrap();
    assert!(passage.contains(" outcome=") && passage.contains(" exit="), "{passage}");
    let outcome = passage.split(" outcome=").nth(1).unwrap().split(' ').next().unwrap();
    assert!(["release", "hold", "inspection", "none"].contains(&outcome), "{passage}");
    assert!(!passage.contains("DroveThrough") && !passage.contains("Release"), "{passage}");
    // No field anywhere holds a Rust variant name (`state=Closed`, `code=Success`).
    let variant = |v: &str| {
        v.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && v.chars().all(|c| c.is_ascii_alphabetic())
            && v.chars().any(|c| c.is_ascii_lowercase())
    };
    for word in log.split_whitespace() {
        if let Some((key, value)) = word.split_once('=') {
            assert!(!variant(value), "`{key}={value}`: a value in words, not a variant name:\n{log}");
        }
    }
}
