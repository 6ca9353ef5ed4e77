//! Signing and verifying as a consumer meets them: typed records, every kind of
//! failure named, keys read back from their base64.

use serde_json::json;

use super::*;

fn signer(seed: u8) -> ResultSigner {
    ResultSigner::new("CNSHA-G07", SigningKey::from_bytes(&[seed; 32]))
}

#[test]
fn a_signed_record_verifies_and_any_change_breaks_it() {
    let s = signer(1);
    let keys = vec![s.key_entry()];
    let record = json!({"id": "G07-1", "confidence": 0.95f32, "reads": {"plate": "沪A12345", "b": [1, 2.5]}});
    let bytes = s.sign_json(&record).unwrap();
    let received: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(verify(&received, &keys).unwrap(), "CNSHA-G07");

    let mut altered = received.clone();
    altered["reads"]["plate"] = "沪A12346".into();
    assert!(matches!(verify(&altered, &keys), Err(SigningError::Mismatch)));
    let mut unsigned = received.clone();
    unsigned.as_object_mut().unwrap().remove("signature");
    assert!(matches!(verify(&unsigned, &keys), Err(SigningError::Unsigned)));
    let other = signer(2);
    assert!(matches!(verify(&received, &[other.key_entry()]), Err(SigningError::Mismatch)));
}

#[test]
fn key_order_and_whitespace_do_not_matter() {
    let s = signer(1);
    let bytes = s.sign_json(&json!({"b": 1, "a": [true, null]})).unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let pretty = serde_json::to_string_pretty(&v).unwrap();
    assert_eq!(verify(&serde_json::from_str(&pretty).unwrap(), &[s.key_entry()]).unwrap(), "CNSHA-G07");
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Thing {
    id: String,
    n: u32,
}

#[test]
fn a_consumer_gets_the_typed_record_and_who_signed_it() {
    let s = signer(3);
    let bytes = s.sign_json(&Thing { id: "a".into(), n: 7 }).unwrap();
    let got: Verified<Thing> = verify_payload(&bytes, &[s.key_entry()]).unwrap();
    assert_eq!(got.value, Thing { id: "a".into(), n: 7 });
    assert_eq!((got.signature.alg.as_str(), got.signature.key_id.as_str()), (ALG, "CNSHA-G07"));
    assert_eq!(claimed_key_id(&serde_json::from_slice(&bytes).unwrap()), Some("CNSHA-G07"));
}

#[test]
fn a_consumer_is_told_what_is_wrong() {
    let s = signer(3);
    let keys = [s.key_entry()];
    assert!(matches!(verify_payload::<Thing>(b"{", &keys), Err(SigningError::NotJson(_))));
    assert!(matches!(verify_payload::<Thing>(b"[1]", &keys), Err(SigningError::Unsigned)));
    let other = s.sign_json(&json!({"id": "a"})).unwrap();
    assert!(matches!(verify_payload::<Thing>(&other, &keys), Err(SigningError::Shape { what: "Thing", .. })));
    let unknown = ResultSigner::new("someone-else", SigningKey::from_bytes(&[3; 32]));
    let bytes = unknown.sign_json(&Thing { id: "a".into(), n: 1 }).unwrap();
    assert_eq!(
        verify_payload::<Thing>(&bytes, &keys).unwrap_err(),
        SigningError::UnknownKey("someone-else".into())
    );
}

#[test]
fn keys_read_back_from_base64_and_bad_ones_say_why() {
    let s = signer(4);
    assert_eq!(public_key(&s.public_b64()).unwrap(), s.verifying_key());
    let secret = secret_key(&encode_key(&[4; 32])).unwrap();
    assert_eq!(secret.verifying_key(), s.verifying_key());
    assert_eq!(public_key("***").unwrap_err(), KeyError::NotBase64);
    assert_eq!(public_key(&encode_key(&[1; 32])[..20]).unwrap_err(), KeyError::Length(15));
    assert_eq!(public_key("AAAA").unwrap_err(), KeyError::Length(3));
}
