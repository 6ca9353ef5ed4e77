//! One test per kind of bad command, and properties of the parser.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone, Utc};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use base64::Engine;
use chrono::DateTime;
use ed25519_dalek::Signer;

use super::*;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn verifier() -> CommandVerifier {
    CommandVerifier {
        keys: BTreeMap::from([("central-1".to_string(), key(1).verifying_key())]),
        site: "CNSHA".into(),
        lane: "G07".into(),
        max_validity: Duration::minutes(10),
        skew: Duration::seconds(30),
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn command() -> Command {
    Command {
        id: "c-1".into(),
        site: "CNSHA".into(),
        lane: "G07".into(),
        issued_at: now() - Duration::seconds(5),
        expires_at: now() + Duration::minutes(5),
        by: "reviewer.li".into(),
        action: Action::Release { passage: "G07-1".into() },
    }
}

fn bytes(env: &Envelope) -> Vec<u8> {
    serde_json::to_vec(env).unwrap()
}

fn check(cmd: &Command, key_id: &str, signer: &SigningKey) -> Result<Command, Rejection> {
    verifier().verify(&bytes(&sign(cmd, key_id, signer)), now())
}

#[test]
fn a_valid_command_verifies() {
    assert_eq!(check(&command(), "central-1", &key(1)).unwrap(), command());
}

#[test]
fn forged_signature_is_rejected() {
    assert_eq!(check(&command(), "central-1", &key(2)), Err(Rejection::BadSignature));
    let mut env = sign(&command(), "central-1", &key(1));
    let mut other = command();
    other.action = Action::OpenBarrier { reason: "x".into() };
    env.payload = sign(&other, "central-1", &key(2)).payload; // payload swapped under the old signature
    assert_eq!(verifier().verify(&bytes(&env), now()), Err(Rejection::BadSignature));
}

#[test]
fn unknown_key_is_rejected() {
    assert_eq!(check(&command(), "central-9", &key(1)).unwrap_err().word(), "unknown_key");
}

#[test]
fn expired_and_future_commands_are_rejected() {
    let mut c = command();
    c.expires_at = now() - Duration::seconds(1);
    assert_eq!(check(&c, "central-1", &key(1)).unwrap_err().word(), "expired");
    let mut c = command();
    c.issued_at = now() + Duration::minutes(2);
    c.expires_at = now() + Duration::minutes(3);
    assert_eq!(check(&c, "central-1", &key(1)).unwrap_err().word(), "not_yet_valid");
    let mut c = command();
    c.expires_at = now() + Duration::days(1);
    assert_eq!(check(&c, "central-1", &key(1)).unwrap_err().word(), "too_long");
}

#[test]
fn wrongly_targeted_commands_are_rejected() {
    let mut c = command();
    c.lane = "G08".into();
    assert_eq!(check(&c, "central-1", &key(1)).unwrap_err().word(), "wrong_target");
    let mut c = command();
    c.site = "CNNGB".into();
    assert_eq!(check(&c, "central-1", &key(1)).unwrap_err().word(), "wrong_target");
}

#[test]
fn malformed_commands_are_rejected() {
    let v = verifier();
    for bad in [
        &b""[..],
        b"{",
        b"null",
        b"{\"key_id\":\"central-1\"}",
        b"{\"key_id\":\"central-1\",\"payload\":\"***\",\"signature\":\"\"}",
    ] {
        assert_eq!(v.verify(bad, now()).unwrap_err().word(), "malformed", "{}", String::from_utf8_lossy(bad));
    }
    // Properly signed, but not a command.
    let b64 = base64::engine::general_purpose::STANDARD;
    let junk = b"{\"id\":1}";
    let sig = key(1).sign(junk);
    let env = Envelope {
        key_id: "central-1".into(),
        payload: b64.encode(junk),
        signature: b64.encode(sig.to_bytes()),
    };
    assert_eq!(v.verify(&bytes(&env), now()).unwrap_err().word(), "malformed");
}

proptest! {
    #[test]
    fn random_bytes_never_panic_nor_pass(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(verifier().verify(&data, now()).is_err());
    }

    #[test]
    fn any_changed_byte_of_a_signed_command_is_caught(pos in 0usize..2000, bit in 0u8..8) {
        let original = bytes(&sign(&command(), "central-1", &key(1)));
        let mut data = original.clone();
        let i = pos % data.len();
        data[i] ^= 1 << bit;
        // Either it no longer parses or verifies, or the flip hit JSON that does
        // not change the signed bytes (e.g. whitespace or escape-equivalent).
        if let Ok(cmd) = verifier().verify(&data, now()) {
            prop_assert_eq!(cmd, command());
        }
    }
}
