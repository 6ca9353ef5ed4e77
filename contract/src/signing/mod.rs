//! Results signed with the lane's own Ed25519 key, so a reviewer, an auditor or
//! another agency can check that a passage record, decision or audit checkpoint
//! came from this lane unaltered (mutual recognition of results).
//!
//! The signature is a member of the record itself, `"signature": {"alg",
//! "key_id", "value"}`, over the record's [`canonical`] form: the published
//! JSON parsed, the `signature` member removed, object keys sorted, no
//! whitespace. Signing goes through text and back, so the signed form is
//! exactly what a receiver parses. Keys arrive here as bytes: reading and
//! creating key files is the caller's business (this crate does no I/O).

mod canonical;

use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use canonical::canonical;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The only algorithm signed records carry.
pub const ALG: &str = "ed25519";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SigningError {
    #[error("not a JSON object: {0}")]
    NotJson(String),
    #[error("no signature in the record")]
    Unsigned,
    #[error("signature by unknown key {0:?}")]
    UnknownKey(String),
    #[error("malformed signature: {0}")]
    Malformed(String),
    #[error("signature does not match: the record was altered or signed by another key")]
    Mismatch,
    /// The signature holds, but the record is not the type the caller expected.
    #[error("signed, but not a valid {what}: {why}")]
    Shape { what: &'static str, why: String },
}

/// A key given as base64 that is not one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeyError {
    #[error("not base64")]
    NotBase64,
    #[error("an Ed25519 key is 32 bytes, this is {0}")]
    Length(usize),
    #[error("not a valid Ed25519 public key")]
    NotAPoint,
}

/// The `signature` member of a signed record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecordSignature {
    /// Always `ed25519`.
    pub alg: String,
    /// Which of the lane's keys signed (its `signing.key_id`).
    pub key_id: String,
    /// Ed25519 over the canonical form of the record without this member, base64.
    pub value: String,
}

/// Signs the lane's results. Holds the secret key; built from its bytes.
pub struct ResultSigner {
    pub key_id: String,
    key: SigningKey,
}

impl ResultSigner {
    pub fn new(key_id: &str, key: SigningKey) -> Self {
        ResultSigner { key_id: key_id.into(), key }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn public_b64(&self) -> String {
        B64.encode(self.key.verifying_key().to_bytes())
    }

    /// This signer's entry for [`verify`].
    pub fn key_entry(&self) -> (String, VerifyingKey) {
        (self.key_id.clone(), self.verifying_key())
    }

    /// Serialises `value` to the bytes to publish, with its signature inside.
    pub fn sign_json<T: Serialize>(&self, value: &T) -> serde_json::Result<Vec<u8>> {
        // Through text and back, so the signed form is exactly what a receiver parses.
        let mut v: Value = serde_json::from_slice(&serde_json::to_vec(value)?)?;
        let Value::Object(map) = &mut v else { return serde_json::to_vec(&v) };
        map.remove("signature");
        let sig = self.key.sign(&canonical(&Value::Object(map.clone())));
        let mut s = Map::new();
        s.insert("alg".into(), ALG.into());
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
    if sig["alg"] != ALG {
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

/// A record whose signature held, with who signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified<T> {
    pub value: T,
    pub signature: RecordSignature,
}

/// What a consumer calls on a received payload: parses it, verifies the
/// signature against `keys`, and reads it as a `T` (a
/// [`PassageRecord`](crate::passage::PassageRecord),
/// [`DecisionEvent`](crate::decision::DecisionEvent),
/// [`AuditCheckpoint`](crate::audit::AuditCheckpoint)).
pub fn verify_payload<T: DeserializeOwned>(
    payload: &[u8],
    keys: &[(String, VerifyingKey)],
) -> Result<Verified<T>, SigningError> {
    let v: Value = serde_json::from_slice(payload).map_err(|e| SigningError::NotJson(e.to_string()))?;
    verify(&v, keys)?;
    let signature =
        serde_json::from_value(v["signature"].clone()).map_err(|e| SigningError::Malformed(e.to_string()))?;
    let value = serde_json::from_value(v).map_err(|e| SigningError::Shape {
        what: std::any::type_name::<T>().rsplit("::").next().unwrap_or("record"),
        why: e.to_string(),
    })?;
    Ok(Verified { value, signature })
}

/// The key id a payload claims to be signed with, to pick the key to check it
/// against (never a reason to trust it).
pub fn claimed_key_id(record: &Value) -> Option<&str> {
    record.get("signature")?.get("key_id")?.as_str()
}

/// A public key given as base64 of its 32 bytes.
pub fn public_key(b64: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_bytes(&key_bytes(b64)?).map_err(|_| KeyError::NotAPoint)
}

/// A secret key given as base64 of its 32 bytes (as key files hold it).
pub fn secret_key(b64: &str) -> Result<SigningKey, KeyError> {
    Ok(SigningKey::from_bytes(&key_bytes(b64)?))
}

/// Base64 of a key's 32 bytes, the form every key is written in.
pub fn encode_key(bytes: &[u8; 32]) -> String {
    B64.encode(bytes)
}

fn key_bytes(b64: &str) -> Result<[u8; 32], KeyError> {
    let bytes = B64.decode(b64.trim()).map_err(|_| KeyError::NotBase64)?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| KeyError::Length(len))
}

#[cfg(test)]
mod tests;
