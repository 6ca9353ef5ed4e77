//! Commands from central: signed, addressed, time-limited, run exactly once.
//!
//! Wire form on `<prefix>/<site>/<lane>/cmd` is an envelope
//! `{"key_id", "payload", "signature"}`: `payload` is the command's JSON, base64,
//! and `signature` the Ed25519 signature over exactly those bytes — nothing is
//! re-serialised before verifying, so any language can produce them. `verify` is
//! pure; the replay memory lives in `replay.rs`.

mod replay;

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use replay::Replay;

use crate::declaration::Declaration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope {
    pub key_id: String,
    /// The command as JSON, base64 (standard alphabet, padded).
    pub payload: String,
    /// Ed25519 over the decoded payload bytes, base64.
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Command {
    /// Unique per command; a second command with the same id is a replay.
    pub id: String,
    pub site: String,
    pub lane: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The reviewer or system that issued it.
    pub by: String,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Release a held vehicle: the barrier opens for it.
    Release { passage: String },
    /// Keep holding it (a reviewer looked and wants it to wait).
    Hold { passage: String },
    /// Send it to inspection.
    Inspection { passage: String },
    /// Open the barrier for the vehicle in the lane (a manual release).
    OpenBarrier { reason: String },
    /// Pre-declarations for vehicles on their way.
    Declare { declarations: Vec<Declaration> },
    /// Publish a passage's record and images again.
    Resend { passage: String },
}

/// Why a command was refused; the word goes into the published rejection.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("malformed: {0}")]
    Malformed(String),
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("addressed to {0}, not this lane")]
    WrongTarget(String),
    #[error("expired at {0}")]
    Expired(DateTime<Utc>),
    #[error("issued in the future ({0}); check the clocks")]
    NotYetValid(DateTime<Utc>),
    #[error("valid for longer than this lane accepts")]
    TooLong,
    #[error("command {0} was already received")]
    Replayed(String),
}

impl Rejection {
    pub fn word(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::UnknownKey(_) => "unknown_key",
            Rejection::BadSignature => "bad_signature",
            Rejection::WrongTarget(_) => "wrong_target",
            Rejection::Expired(_) => "expired",
            Rejection::NotYetValid(_) => "not_yet_valid",
            Rejection::TooLong => "too_long",
            Rejection::Replayed(_) => "replayed",
        }
    }
}

/// Published on `<prefix>/<site>/<lane>/ack` for every command received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandAck {
    /// The command's id, when it could be read.
    pub id: Option<String>,
    pub accepted: bool,
    /// For a rejection: `malformed`, `unknown_key`, `bad_signature`,
    /// `wrong_target`, `expired`, `not_yet_valid`, `too_long`, `replayed`.
    pub reason: Option<String>,
    pub detail: String,
    /// What running it did, for accepted commands.
    pub outcome: Option<String>,
    pub at: DateTime<Utc>,
}

/// Central's public keys and the lane's identity.
pub struct CommandVerifier {
    pub keys: BTreeMap<String, VerifyingKey>,
    pub site: String,
    pub lane: String,
    /// Longest `expires_at - issued_at` accepted; bounds the replay memory too.
    pub max_validity: Duration,
    /// Tolerated clock difference between central and the lane.
    pub skew: Duration,
}

impl CommandVerifier {
    /// Everything but the replay check: signature, target, validity window.
    pub fn verify(&self, bytes: &[u8], now: DateTime<Utc>) -> Result<Command, Rejection> {
        let envelope: Envelope =
            serde_json::from_slice(bytes).map_err(|e| Rejection::Malformed(e.to_string()))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let payload =
            b64.decode(&envelope.payload).map_err(|e| Rejection::Malformed(format!("payload: {e}")))?;
        let sig =
            b64.decode(&envelope.signature).map_err(|e| Rejection::Malformed(format!("signature: {e}")))?;
        let key =
            self.keys.get(&envelope.key_id).ok_or_else(|| Rejection::UnknownKey(envelope.key_id.clone()))?;
        let sig = Signature::from_slice(&sig).map_err(|_| Rejection::BadSignature)?;
        key.verify(&payload, &sig).map_err(|_| Rejection::BadSignature)?;
        let cmd: Command =
            serde_json::from_slice(&payload).map_err(|e| Rejection::Malformed(e.to_string()))?;
        if cmd.site != self.site || cmd.lane != self.lane {
            return Err(Rejection::WrongTarget(format!("{}/{}", cmd.site, cmd.lane)));
        }
        if cmd.issued_at > now + self.skew {
            return Err(Rejection::NotYetValid(cmd.issued_at));
        }
        if cmd.expires_at <= now {
            return Err(Rejection::Expired(cmd.expires_at));
        }
        if cmd.expires_at - cmd.issued_at > self.max_validity {
            return Err(Rejection::TooLong);
        }
        Ok(cmd)
    }
}

/// Signs a command into its envelope: central's side, used by
/// `edge-agent command sign` and the tests.
pub fn sign(cmd: &Command, key_id: &str, key: &SigningKey) -> Envelope {
    let payload = serde_json::to_vec(cmd).expect("commands serialise");
    let signature = key.sign(&payload);
    let b64 = base64::engine::general_purpose::STANDARD;
    Envelope {
        key_id: key_id.into(),
        payload: b64.encode(&payload),
        signature: b64.encode(signature.to_bytes()),
    }
}

/// Reads a public key given as base64 of its 32 bytes.
pub fn public_key(b64: &str) -> Option<VerifyingKey> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    VerifyingKey::from_bytes(&bytes.try_into().ok()?).ok()
}

#[cfg(test)]
mod tests;
