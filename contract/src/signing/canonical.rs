//! The canonical form a signature covers: the JSON value with object keys
//! sorted, no whitespace, strings as serde_json writes them, numbers as the
//! shortest text that reads back to the same double laid out as Python's
//! `repr` lays it out.
//!
//! It is rebuilt from the parsed value rather than taken from the bytes
//! received, so whitespace and key order on the way do not matter, and any
//! language can produce it: Python's
//! `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
//! is the reference docs/mqtt.md gives. serde_json's own number text differs
//! from Python's below 1e-4 (`0.00003`, `1e-7` against `3e-05`, `1e-07`), which
//! made a Python consumer refuse such records, so numbers are written here
//! (edge-agent/tests/signature_python.rs checks the whole form against Python).

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
    // Rust's `{:e}` writes the shortest round-trip digits, as Python's repr does.
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
        let ints = json!({"n": 7, "m": -3, "big": u64::MAX});
        assert_eq!(canonical(&ints), br#"{"big":18446744073709551615,"m":-3,"n":7}"#);
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
