//! A consumer in another language checks what the lane signs, the way
//! docs/mqtt.md tells it to: the record parsed, `signature` taken out,
//! Python's `json.dumps(v, sort_keys=True, separators=(",", ":"),
//! ensure_ascii=False)`, Ed25519 from the `cryptography` package (pinned
//! wheels that scripts/setup installs into .cache/python), all through the
//! reference verifier docs/examples/verify_signed.py.
//!
//! Two sources of records: the agent binary on the simulated lane publishing to
//! a real Mosquitto (the bytes exactly as central receives them, the key from
//! the retained status), and a record built to hold what two languages'
//! canonical forms can disagree on: doubles of every magnitude (single and
//! double precision, as record fields are), text beyond ASCII, escapes and
//! control characters, integers at the ends of their range, empty and nested
//! containers. Every record must pass; a copy laid out differently
//! (whitespace, key order) must pass too; a copy with one value changed must
//! fail.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::agent::Agent;
use hil_tests::{repo_root, Mosquitto, Subscriber};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::Value;

/// Runs the Python verifier over `files`; its verdict line per file.
fn python_verdicts(key: &str, files: &[PathBuf]) -> BTreeMap<PathBuf, String> {
    let root = repo_root();
    let site = root.join(".cache/python");
    assert!(
        site.join("cryptography").is_dir(),
        "{} has no `cryptography`: run scripts/setup (it installs the verifier's pinned wheels)",
        site.display()
    );
    // -S: no site packages, so the pinned wheels are what is used, not whatever the machine has.
    let out = Command::new("python3")
        .arg("-S")
        .arg(root.join("docs/examples/verify_signed.py"))
        .arg("--key")
        .arg(key)
        .args(files)
        .env("PYTHONPATH", &site)
        .stderr(Stdio::piped())
        .output()
        .expect("python3 runs (scripts/setup installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty(), "the verifier complained: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let verdicts: BTreeMap<PathBuf, String> = stdout
        .lines()
        .map(|l| {
            let (file, verdict) = l.rsplit_once(".json: ").expect("`FILE: verdict` lines");
            (PathBuf::from(format!("{file}.json")), verdict.to_string())
        })
        .collect();
    assert_eq!(verdicts.len(), files.len(), "one line per file: {stdout}");
    let failed = verdicts.values().any(|v| !v.starts_with("ok"));
    assert_eq!(out.status.success(), !failed, "exit status follows the verdicts: {stdout}");
    verdicts
}

/// Writes `bytes` as `name`.json in `dir`.
fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Saves each signed payload as received, laid out anew, and with `alter`
/// applied; checks Python accepts the first two and refuses the third.
fn check_in_python(dir: &Path, key: &str, payloads: &[(String, Vec<u8>)], alter: impl Fn(&mut Value)) {
    let mut expected = BTreeMap::new();
    for (name, bytes) in payloads {
        expected.insert(save(dir, name, bytes), true);
        let mut v: Value = serde_json::from_slice(bytes).unwrap();
        // serde_json's maps are sorted: the signature member moves, the rest reorders, spaces appear.
        let relaid = serde_json::to_vec_pretty(&v).unwrap();
        assert_ne!(&relaid, bytes);
        expected.insert(save(dir, &format!("{name}-relaid"), &relaid), true);
        alter(&mut v);
        expected.insert(save(dir, &format!("{name}-altered"), &serde_json::to_vec(&v).unwrap()), false);
    }
    let files: Vec<PathBuf> = expected.keys().cloned().collect();
    let verdicts = python_verdicts(key, &files);
    let keys = [edge_agent::signing::key_arg(key).unwrap()];
    for (file, ok) in expected {
        let verdict = &verdicts[&file];
        // The lane's own verifier (central's, `edge-agent verify`) agrees with Python.
        let received: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let rust = contract::signing::verify(&received, &keys);
        assert_eq!(rust.is_ok(), ok, "{}: Rust says {rust:?}, Python {verdict}", file.display());
        if ok {
            assert!(verdict.starts_with("ok (signed by"), "{}: {verdict}", file.display());
        } else {
            assert!(verdict.contains("does not match"), "{}: {verdict}", file.display());
        }
    }
}

#[test]
fn what_the_agent_publishes_verifies_in_python() {
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port, "lanectl/DEMO/G01/#");
    let dir = tempfile::tempdir().unwrap();
    let lane = hil_tests::demo_lane(
        &format!("host = \"127.0.0.1\"\nport = {}", broker.port),
        &dir.path().join("data").display().to_string(),
    );
    // Holds and releases both: low confidence, tampered seals, undeclared cargo.
    let file = dir.path().join("lane.toml");
    std::fs::write(
        &file,
        format!(
            "{lane}\n[sim]\nvehicles = 12\nseed = 7\narrival_gap = \"5ms\"\nbarrier_move = \"5ms\"\n\
             drive_in = \"2ms\"\ndrive_clear = \"5ms\"\npatience = \"1s\"\nlow_confidence_every = 3\n\
             tampered_seal_every = 4\nundeclared_every = 5\n"
        ),
    )
    .unwrap();
    let agent = Agent::run(&file);

    let mut key = None;
    let mut signed = Vec::new();
    let mut passages = 0;
    while passages < 12 {
        let Some((topic, payload, _)) = sub.next(Duration::from_secs(60)) else {
            panic!("only {passages} passage records arrived");
        };
        let leaf = topic.rsplit('/').next().unwrap().to_string();
        match leaf.as_str() {
            "status" => {
                let v: Value = serde_json::from_slice(&payload).unwrap();
                let k = &v["signing_key"];
                key =
                    Some(format!("{}={}", k["key_id"].as_str().unwrap(), k["public_key"].as_str().unwrap()));
            }
            "passage" | "decision" | "checkpoint" => {
                passages += usize::from(leaf == "passage");
                signed.push((format!("{leaf}-{}", signed.len()), payload));
            }
            _ => {}
        }
    }
    drop(agent);
    let key = key.expect("the retained status announces the signing key");
    assert!(signed.iter().any(|(n, _)| n.starts_with("decision")), "decisions are signed too");
    let outcomes: Vec<String> = signed
        .iter()
        .filter_map(|(_, b)| serde_json::from_slice::<Value>(b).ok())
        .filter_map(|v| v["decision"]["outcome"].as_str().map(str::to_string))
        .collect();
    assert!(outcomes.iter().any(|o| o == "hold") && outcomes.iter().any(|o| o == "release"), "{outcomes:?}");

    // What a forger would change: the lane's decision.
    check_in_python(dir.path(), &key, &signed, |v| {
        let outcome = &mut v["decision"]["outcome"];
        *outcome = if outcome == "release" { "hold".into() } else { "release".into() };
    });
}

/// What two languages' canonical forms could disagree on.
#[derive(Serialize)]
struct Awkward {
    id: String,
    plate: String,
    text: String,
    /// As record fields are: confidences and scores are `f32`.
    singles: Vec<f32>,
    doubles: Vec<f64>,
    integers: Vec<i64>,
    largest: u64,
    nested: Value,
}

fn awkward() -> Awkward {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(17);
    let mut doubles: Vec<f64> = vec![0.0, -0.0, 1.0, 100.0, 0.1, 0.0001, 0.00003, 1e-7, 1e15, 1e16, 5e-324];
    // Every decimal exponent a double has, with a random mantissa, both signs.
    for exp in -323..=308 {
        let m: f64 = rng.gen_range(1.0..10.0);
        let x = m * 10f64.powi(exp);
        if x.is_finite() && x != 0.0 {
            doubles.push(if exp % 2 == 0 { x } else { -x });
        }
    }
    // Arbitrary bit patterns: subnormals, long mantissas.
    doubles.extend((0..300).map(|_| f64::from_bits(rng.gen())).filter(|x| x.is_finite()));
    let mut singles: Vec<f32> = vec![0.97, 0.5, 1e-5, 3e-5, 0.000123];
    singles.extend((0..200).map(|_| rng.gen::<f32>() * 10f32.powi(rng.gen_range(-12..6))));
    Awkward {
        id: "G07-20261123T101915171Z-0001".into(),
        plate: "沪A·D12345".into(),
        text: "quote \" backslash \\ slash / tab \t newline \n bell \u{7} del \u{7f} é ß 🚛 \u{2028}".into(),
        singles,
        doubles,
        integers: vec![0, -1, 1, i64::MIN, i64::MAX, 9_007_199_254_740_993],
        largest: u64::MAX,
        nested: serde_json::json!({"z": [], "a": {}, "é": {"e": null, "E": true, "_": [[], [{}]]}}),
    }
}

#[test]
fn a_record_of_awkward_values_verifies_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let signer = edge_agent::signing::load_or_create(&dir.path().join("signing.key"), "CNSHA-G07").unwrap();
    let bytes = signer.sign_json(&awkward()).unwrap();
    let key = format!("{}={}", signer.key_id, signer.public_b64());
    // One double off by the least it can be: the number's every digit is signed.
    check_in_python(dir.path(), &key, &[("awkward".into(), bytes)], |v| {
        let x = &mut v["doubles"][4];
        *x = f64::from_bits(x.as_f64().unwrap().to_bits() + 1).into();
    });
}
