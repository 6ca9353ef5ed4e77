//! Both halves of a signed command: [`sign`] (central's side) and
//! [`CommandVerifier::verify`] (the lane's): signature, target, validity
//! window. Everything but the replay check, which needs memory across restarts.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use super::{Command, Envelope, Rejection};

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
