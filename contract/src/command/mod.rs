//! Commands from central: signed, addressed, time-limited, run exactly once.
//!
//! Wire form on `<prefix>/<site>/<lane>/cmd` is an [`Envelope`]
//! `{"key_id", "payload", "signature"}`: `payload` is the command's JSON, base64,
//! and `signature` the Ed25519 signature over exactly those bytes — nothing is
//! re-serialised before verifying, so any language can produce them. Signing
//! and verifying are pure ([`sign`], [`CommandVerifier`]); remembering which
//! ids were seen (the replay check) needs storage and is the lane's.

mod verify;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use verify::{sign, CommandVerifier};

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
    /// The same for the passage with this `seq`: central knows a missing
    /// passage only by the gap in the lane's sequence, not by its id.
    ResendSeq { seq: u64 },
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
    /// The command's id, when its signature verified (never an id nobody vouched for).
    pub id: Option<String>,
    pub accepted: bool,
    /// For a rejection: `too_large`, `malformed`, `unknown_key`, `bad_signature`,
    /// `wrong_target`, `expired`, `not_yet_valid`, `too_long`, `replayed`.
    pub reason: Option<String>,
    pub detail: String,
    /// What running it did, for accepted commands.
    pub outcome: Option<String>,
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests;
