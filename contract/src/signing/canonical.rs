//! The canonical form a signature covers: the JSON value with object keys
//! sorted, no whitespace, strings and numbers as serde_json writes them (the
//! shortest text that reads back to the same double).
//!
//! It is rebuilt from the parsed value rather than taken from the bytes
//! received, so whitespace and key order on the way do not matter, and any
//! language can produce it: Python's
//! `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
//! gives the same bytes for the numbers the lane publishes.

use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The bytes other languages must reproduce; docs/mqtt.md shows the same.
    #[test]
    fn keys_sorted_at_every_level_no_whitespace() {
        let v = json!({"b": 1, "a": {"z": [true, null, 2.5], "y": "沪A"}, "c": -0.1});
        assert_eq!(
            String::from_utf8(canonical(&v)).unwrap(),
            r#"{"a":{"y":"沪A","z":[true,null,2.5]},"b":1,"c":-0.1}"#
        );
    }

    #[test]
    fn an_f32_confidence_is_written_as_published() {
        // Signing goes through the published text, where serde_json writes an
        // f32 as its shortest form: that text, read back, is what is signed.
        #[derive(serde::Serialize)]
        struct Read {
            confidence: f32,
        }
        let text = serde_json::to_vec(&Read { confidence: 0.95 }).unwrap();
        let v: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(String::from_utf8(canonical(&v)).unwrap(), r#"{"confidence":0.95}"#);
    }
}
