//! Results signed with the lane's own Ed25519 key, so a reviewer, an auditor or
//! another agency can check that a passage record or decision came from this
//! lane unaltered (mutual recognition of results).
//!
//! The signature is a member of the record itself, `"signature": {"alg",
//! "key_id", "value"}`, over the record's canonical form: the published JSON
//! parsed, the `signature` member removed, object keys sorted, no whitespace,
//! numbers as the shortest text that reads back to the same double. A verifier
//! in any language rebuilds that form from what it received
//! (`json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
//! in Python gives the same bytes for the numbers the lane publishes).

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
        scalar => out.extend(serde_json::to_vec(scalar).expect("scalars serialise")),
    }
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
