//! The lane's signing key on disk, and `edge-agent verify`.
//!
//! Signing and verifying themselves are the contract's
//! ([`contract::signing`]): a verifier elsewhere must reproduce them exactly.
//! What is the lane's alone is where its key lives: a file of base64, created
//! with mode 0600 on first start and never overwritten.

use std::path::{Path, PathBuf};

use contract::signing::{encode_key, public_key, secret_key, verify, KeyError, ResultSigner, SigningError};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("signing key {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("signing key {path}: {source}")]
    Key { path: String, source: KeyError },
}

/// Reads the lane's key, creating it (mode 0600) on first start.
pub fn load_or_create(path: &Path, key_id: &str) -> Result<ResultSigner, KeyFileError> {
    let shown = || path.display().to_string();
    let key = match std::fs::read_to_string(path) {
        Ok(text) => secret_key(&text).map_err(|source| KeyFileError::Key { path: shown(), source })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            write_new(path, &encode_key(&key.to_bytes()))
                .map_err(|source| KeyFileError::Io { path: shown(), source })?;
            tracing::info!(path = %path.display(), public = %encode_key(&key.verifying_key().to_bytes()), "created the lane's signing key");
            key
        }
        Err(source) => return Err(KeyFileError::Io { path: shown(), source }),
    };
    Ok(ResultSigner::new(key_id, key))
}

/// A lane key given on the command line as `ID=BASE64` that is not one.
#[derive(Debug, thiserror::Error)]
pub enum KeyArgError {
    #[error("--key {0:?}: give ID=PUBLIC_KEY")]
    Form(String),
    #[error("--key {id}: not an Ed25519 public key ({source})")]
    Key { id: String, source: KeyError },
}

/// A lane key given on the command line as `ID=BASE64`.
pub fn key_arg(k: &str) -> Result<(String, VerifyingKey), KeyArgError> {
    let (id, b64) = k.split_once('=').ok_or_else(|| KeyArgError::Form(k.into()))?;
    let key = public_key(b64).map_err(|source| KeyArgError::Key { id: id.into(), source })?;
    Ok((id.to_string(), key))
}

/// Why one file did not verify.
#[derive(Debug, thiserror::Error)]
enum FileCheck {
    #[error("{}", crate::words::without_os_codes(&.0.to_string()))]
    Read(std::io::Error),
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("{0}")]
    Signature(SigningError),
}

/// `edge-agent verify`: checks result files (as `tail` writes them, or saved
/// payloads) against `ID=PUBLIC_KEY` pairs; prints one line per file.
pub fn verify_files(keys: &[String], files: &[PathBuf]) -> Result<bool, KeyArgError> {
    let keys = keys.iter().map(|k| key_arg(k)).collect::<Result<Vec<_>, _>>()?;
    let mut all_ok = true;
    for file in files {
        let outcome = std::fs::read(file)
            .map_err(FileCheck::Read)
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(FileCheck::NotJson))
            .and_then(|v| verify(&v, &keys).map_err(FileCheck::Signature));
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

    #[test]
    fn the_key_is_kept_across_restarts_and_a_bad_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(&dir.path().join("k"), "CNSHA-G07").unwrap().public_b64();
        assert_eq!(load_or_create(&dir.path().join("k"), "CNSHA-G07").unwrap().public_b64(), first);
        std::fs::write(dir.path().join("bad"), "nonsense").unwrap();
        assert!(matches!(
            load_or_create(&dir.path().join("bad"), "x"),
            Err(KeyFileError::Key { source: KeyError::Length(6), .. })
        ));
    }

    #[test]
    fn a_signed_file_verifies_and_a_key_argument_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let signer = load_or_create(&dir.path().join("k"), "G07").unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, signer.sign_json(&serde_json::json!({"id": "p1"})).unwrap()).unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, br#"{"id": "p1"}"#).unwrap();
        let key = format!("G07={}", signer.public_b64());
        assert!(verify_files(std::slice::from_ref(&key), std::slice::from_ref(&good)).unwrap());
        assert!(!verify_files(&[key], &[good, bad]).unwrap());
        assert!(matches!(key_arg("G07"), Err(KeyArgError::Form(_))));
        assert!(matches!(key_arg("G07=xyz"), Err(KeyArgError::Key { .. })));
    }
}
