//! Results signed with the lane's own Ed25519 key, so a reviewer, an auditor or
//! another agency can check that a passage record or decision came from this
//! lane unaltered (mutual recognition of results).
//!
//! The signature is a member of the record itself, `"signature": {"alg",
//! "key_id", "value"}`, over the record's canonical form: the published JSON
//! parsed, the `signature` member removed, object keys sorted, no whitespace,
//! numbers as the shortest text that reads back to the same double, laid out
//! as Python's `repr` lays it out. A verifier in any language rebuilds that form
//! from what it received; in Python it is
//! `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`,
//! which docs/mqtt.md gives as the reference. serde_json's own number text
//! differs from Python's below 1e-4 (`0.00003` and `1e-7` against `3e-05` and
//! `1e-07`), so canonical numbers are written here rather than by serde_json
//! (`edge-agent/tests/signature_python.rs` checks against Python itself).

use std::path::Path;

use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde_json::{Map, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("signing key {path}: {cause}")]
    Key { path: String, cause: String },
    #[error("no signature in the record")]
    Unsigned,
    #[error("signature by unknown key {0:?}")]
    UnknownKey(String),
    #[error("malformed signature: {0}")]
    Malformed(String),
    #[error("signature does not match: the record was altered or signed by another key")]
    Mismatch,
}

pub struct ResultSigner {
    pub key_id: String,
    key: SigningKey,
}

impl ResultSigner {
    /// Reads the lane's key, creating it (mode 0600) on first start.
    pub fn load_or_create(path: &Path, key_id: &str) -> Result<Self, SigningError> {
        let err = |cause: String| SigningError::Key { path: path.display().to_string(), cause };
        let key = match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = B64.decode(text.trim()).map_err(|_| err("not a base64 key".into()))?;
                SigningKey::from_bytes(&bytes.try_into().map_err(|_| err("a key is 32 bytes".into()))?)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SigningKey::generate(&mut rand::rngs::OsRng);
                write_new(path, &B64.encode(key.to_bytes())).map_err(|e| err(e.to_string()))?;
                tracing::info!(path = %path.display(), public = %B64.encode(key.verifying_key().to_bytes()), "created the lane's signing key");
                key
            }
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(ResultSigner { key_id: key_id.into(), key })
    }

    pub fn public_b64(&self) -> String {
        B64.encode(self.key.verifying_key().to_bytes())
    }

    /// Serialises `value` to the bytes to publish, with its signature inside.
    pub fn sign_json<T: serde::Serialize>(&self, value: &T) -> serde_json::Result<Vec<u8>> {
        // Through text and back, so the signed form is exactly what a receiver parses.
        let mut v: Value = serde_json::from_slice(&serde_json::to_vec(value)?)?;
        let Value::Object(map) = &mut v else { return serde_json::to_vec(&v) };
        map.remove("signature");
        let sig = self.key.sign(&canonical(&Value::Object(map.clone())));
        let mut s = Map::new();
        s.insert("alg".into(), "ed25519".into());
        s.insert("key_id".into(), self.key_id.clone().into());
        s.insert("value".into(), B64.encode(sig.to_bytes()).into());
        map.insert("signature".into(), Value::Object(s));
        serde_json::to_vec(&v)
    }
}

/// Checks a received record against known lane keys; returns the key id.
pub fn verify(record: &Value, keys: &[(String, VerifyingKey)]) -> Result<String, SigningError> {
    let Value::Object(map) = record else { return Err(SigningError::Unsigned) };
    let sig = map.get("signature").ok_or(SigningError::Unsigned)?;
    let key_id = sig["key_id"].as_str().ok_or_else(|| SigningError::Malformed("no key_id".into()))?;
    if sig["alg"] != "ed25519" {
        return Err(SigningError::Malformed(format!("alg {}", sig["alg"])));
    }
    let value = sig["value"].as_str().ok_or_else(|| SigningError::Malformed("no value".into()))?;
    let bytes = B64.decode(value).map_err(|e| SigningError::Malformed(e.to_string()))?;
    let sig = Signature::from_slice(&bytes).map_err(|e| SigningError::Malformed(e.to_string()))?;
    let (_, key) =
        keys.iter().find(|(id, _)| id == key_id).ok_or_else(|| SigningError::UnknownKey(key_id.into()))?;
    let mut unsigned = map.clone();
    unsigned.remove("signature");
    key.verify(&canonical(&Value::Object(unsigned)), &sig).map_err(|_| SigningError::Mismatch)?;
    Ok(key_id.into())
}

/// Sorted keys, no whitespace; independent of serde_json's map ordering.
pub fn canonical(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).expect("strings serialise"));
                out.push(b':');
                write_canonical(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Number(n) if n.is_f64() => {
            out.extend(python_float(n.as_f64().expect("an f64 number is an f64")).as_bytes())
        }
        scalar => out.extend(serde_json::to_vec(scalar).expect("scalars serialise")),
    }
}

/// A double as Python's `repr` (and so `json.dumps`) writes it: the shortest
/// digits that read back to the same double, positional for decimal exponents
/// -4 to 15 (`0.0001`, `100.0`), otherwise `d.dddde±XX` (`3e-05`, `1e+16`).
fn python_float(x: f64) -> String {
    // Rust's `{:e}` writes the shortest round-trip digits, like Python's repr.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').expect("LowerExp writes an exponent");
    let exp: i32 = exp.parse().expect("LowerExp writes a decimal exponent");
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    if !(-4..16).contains(&exp) {
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{exp_sign}{:02}", exp.unsigned_abs());
    }
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let whole = (exp + 1).max(0) as usize; // digits before the point
    if exp < 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
    } else if digits.len() <= whole {
        format!("{sign}{digits}{}.0", "0".repeat(whole - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..whole], &digits[whole..])
    }
}

/// `edge-agent verify`: checks result files (as `tail` writes them, or saved
/// payloads) against `ID=PUBLIC_KEY` pairs; prints one line per file.
pub fn verify_files(keys: &[String], files: &[std::path::PathBuf]) -> Result<bool, String> {
    let keys = keys.iter().map(|k| key_arg(k)).collect::<Result<Vec<_>, String>>()?;
    let mut all_ok = true;
    for file in files {
        let outcome = std::fs::read(file)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| format!("not JSON: {e}")))
            .and_then(|v| verify(&v, &keys).map_err(|e| e.to_string()));
        match outcome {
            Ok(id) => println!("{}: ok (signed by {id})", file.display()),
            Err(e) => {
                all_ok = false;
                println!("{}: FAILED: {e}", file.display());
            }
        }
    }
    Ok(all_ok)
}

/// A lane key given on the command line as `ID=BASE64`.
pub fn key_arg(k: &str) -> Result<(String, VerifyingKey), String> {
    let (id, b64) = k.split_once('=').ok_or_else(|| format!("--key {k:?}: give ID=PUBLIC_KEY"))?;
    let key =
        crate::command::public_key(b64).ok_or_else(|| format!("--key {id}: not an Ed25519 public key"))?;
    Ok((id.to_string(), key))
}

fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    writeln!(f, "{text}")?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn signer(dir: &Path) -> ResultSigner {
        ResultSigner::load_or_create(&dir.join("k"), "CNSHA-G07").unwrap()
    }

    #[test]
    fn numbers_are_written_as_python_writes_them() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (100.0, "100.0"),
            (0.97, "0.97"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (0.00003, "3e-05"),
            (-1e-7, "-1e-07"),
            (2.5e-8, "2.5e-08"),
            (1e15, "1000000000000000.0"),
            (123456.789, "123456.789"),
            (1e16, "1e+16"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
        ];
        for (x, python) in cases {
            assert_eq!(python_float(x), python, "{x:e}");
            assert_eq!(canonical(&json!(x)), python.as_bytes(), "{x:e} in a JSON value");
        }
        assert_eq!(
            canonical(&json!({"n": 7, "m": -3, "big": u64::MAX})),
            br#"{"big":18446744073709551615,"m":-3,"n":7}"#
        );
    }

    #[test]
    fn a_signed_record_verifies_and_any_change_breaks_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = signer(dir.path());
        let keys = vec![(s.key_id.clone(), s.key.verifying_key())];
        let record =
            json!({"id": "G07-1", "confidence": 0.95f32, "reads": {"plate": "沪A12345", "b": [1, 2.5]}});
        let bytes = s.sign_json(&record).unwrap();
        let received: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(verify(&received, &keys).unwrap(), "CNSHA-G07");

        let mut altered = received.clone();
        altered["reads"]["plate"] = "沪A12346".into();
        assert!(matches!(verify(&altered, &keys), Err(SigningError::Mismatch)));
        let mut unsigned = received.clone();
        unsigned.as_object_mut().unwrap().remove("signature");
        assert!(matches!(verify(&unsigned, &keys), Err(SigningError::Unsigned)));
        let other = ResultSigner::load_or_create(&dir.path().join("k2"), "CNSHA-G07").unwrap();
        assert!(matches!(
            verify(&received, &[(other.key_id.clone(), other.key.verifying_key())]),
            Err(SigningError::Mismatch)
        ));
    }

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let dir = tempfile::tempdir().unwrap();
        let s = signer(dir.path());
        let keys = vec![(s.key_id.clone(), s.key.verifying_key())];
        let bytes = s.sign_json(&json!({"b": 1, "a": [true, null]})).unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        assert_eq!(verify(&serde_json::from_str(&pretty).unwrap(), &keys).unwrap(), "CNSHA-G07");
    }

    #[test]
    fn the_key_is_kept_across_restarts_and_a_bad_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let first = signer(dir.path()).public_b64();
        assert_eq!(signer(dir.path()).public_b64(), first);
        std::fs::write(dir.path().join("bad"), "nonsense").unwrap();
        assert!(ResultSigner::load_or_create(&dir.path().join("bad"), "x").is_err());
    }
}
