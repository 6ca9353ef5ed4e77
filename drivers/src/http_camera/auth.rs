//! HTTP authentication as IP cameras do it: Basic, and Digest per RFC 7616
//! with MD5 / MD5-sess and `qop=auth` (what Hikvision, Dahua, Axis and ONVIF
//! devices answer with), falling back to RFC 2069 style when no qop is offered.
//!
//! The digest state is kept between snapshots: the server's nonce is reused
//! with an incrementing nonce count, so a camera polled every few seconds costs
//! one request per snapshot, not two; a `401` with `stale=true` only refreshes
//! the nonce.

use md5::{Digest, Md5};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Md5Sess,
}

/// One `WWW-Authenticate` challenge we know how to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Digest(DigestChallenge),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// `auth` if the server offered it; `None` for the RFC 2069 form.
    pub qop_auth: bool,
    pub algorithm: Algorithm,
    pub stale: bool,
}

/// Parses one `WWW-Authenticate` value; `None` for schemes we cannot answer
/// (e.g. SHA-256 digest only, or NTLM).
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let params = parse_params(rest);
    let get = |k: &str| params.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
    let algorithm = match get("algorithm").as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("MD5") => Algorithm::Md5,
        Some("MD5-SESS") => Algorithm::Md5Sess,
        Some(_) => return None,
    };
    Some(Challenge::Digest(DigestChallenge {
        realm: get("realm").unwrap_or_default(),
        nonce: get("nonce")?,
        opaque: get("opaque"),
        qop_auth: get("qop").is_some_and(|q| q.split(',').any(|x| x.trim().eq_ignore_ascii_case("auth"))),
        algorithm,
        stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
    }))
}

/// `name=value` and `name="quoted, value"` pairs separated by commas.
pub fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect::<String>().trim().to_string();
        if name.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect::<String>().trim().to_string();
        }
        out.push((name, value));
    }
}

pub fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A digest challenge being answered, with its nonce count.
#[derive(Debug, Clone)]
pub struct DigestState {
    pub challenge: DigestChallenge,
    nc: u32,
}

impl DigestState {
    pub fn new(challenge: DigestChallenge) -> Self {
        DigestState { challenge, nc: 0 }
    }

    /// The `Authorization` header value for the next request.
    pub fn authorization(&mut self, creds: &Credentials, method: &str, uri: &str, cnonce: &str) -> String {
        self.nc += 1;
        let c = &self.challenge;
        let nc = format!("{:08x}", self.nc);
        let response = digest_response(creds, c, method, uri, &nc, cnonce);
        let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut h = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\"",
            q(&creds.user),
            q(&c.realm),
            q(&c.nonce),
            q(uri)
        );
        h.push_str(match c.algorithm {
            Algorithm::Md5 => ", algorithm=MD5",
            Algorithm::Md5Sess => ", algorithm=MD5-sess",
        });
        if c.qop_auth {
            h.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{}\"", q(cnonce)));
        }
        if let Some(o) = &c.opaque {
            h.push_str(&format!(", opaque=\"{}\"", q(o)));
        }
        h
    }
}

/// RFC 7616 section 3.4.1 `response`, MD5 family.
pub fn digest_response(
    creds: &Credentials,
    c: &DigestChallenge,
    method: &str,
    uri: &str,
    nc: &str,
    cnonce: &str,
) -> String {
    let mut ha1 = md5_hex(&format!("{}:{}:{}", creds.user, c.realm, creds.password));
    if c.algorithm == Algorithm::Md5Sess {
        ha1 = md5_hex(&format!("{ha1}:{}:{cnonce}", c.nonce));
    }
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    if c.qop_auth {
        md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", c.nonce))
    } else {
        md5_hex(&format!("{ha1}:{}:{ha2}", c.nonce))
    }
}

/// `Basic base64(user:password)`.
pub fn basic(creds: &Credentials) -> String {
    format!("Basic {}", base64(format!("{}:{}", creds.user, creds.password).as_bytes()))
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_response() {
        let creds = Credentials { user: "Mufasa".into(), password: "Circle Of Life".into() };
        let c = match parse_challenge(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        ) {
            Some(Challenge::Digest(c)) => c,
            other => panic!("{other:?}"),
        };
        assert!(c.qop_auth);
        assert_eq!(c.opaque.as_deref(), Some("5ccc069c403ebaf9f0171e9517f40e41"));
        let r = digest_response(&creds, &c, "GET", "/dir/index.html", "00000001", "0a4f113b");
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
        let mut st = DigestState::new(c);
        let h = st.authorization(&creds, "GET", "/dir/index.html", "0a4f113b");
        assert!(
            h.contains("response=\"6629fae49393a05397450978507c4ef1\"") && h.contains("nc=00000001"),
            "{h}"
        );
        assert!(st.authorization(&creds, "GET", "/dir/index.html", "0a4f113b").contains("nc=00000002"));
    }

    #[test]
    fn basic_and_unknown_schemes() {
        let creds = Credentials { user: "Aladdin".into(), password: "open sesame".into() };
        assert_eq!(basic(&creds), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(parse_challenge("Basic realm=\"cam\""), Some(Challenge::Basic));
        assert_eq!(parse_challenge("NTLM"), None);
        assert_eq!(parse_challenge("Digest realm=\"x\", nonce=\"n\", algorithm=SHA-256"), None);
    }

    #[test]
    fn params_with_escapes_and_bare_values() {
        let p = parse_params(r#"realm="a \"b\", c", stale=TRUE, algorithm=MD5-sess"#);
        assert_eq!(p[0], ("realm".into(), "a \"b\", c".into()));
        assert_eq!(p[1], ("stale".into(), "TRUE".into()));
        assert_eq!(p[2], ("algorithm".into(), "MD5-sess".into()));
    }

    proptest::proptest! {
        #[test]
        fn any_header_value_parses_without_panic(value in ".{0,200}") {
            let _ = parse_challenge(&value);
            let _ = parse_params(&value);
        }

        #[test]
        fn quoted_values_come_back_unescaped(
            realm in "[ -~]{0,40}",
            nonce in "[ -~]{1,40}",
            opaque in proptest::option::of("[A-Za-z0-9]{1,20}"),
        ) {
            let q = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
            let mut header = format!("Digest realm={}, nonce={}, qop=\"auth\"", q(&realm), q(&nonce));
            if let Some(o) = &opaque {
                header.push_str(&format!(", opaque={}", q(o)));
            }
            let Some(Challenge::Digest(c)) = parse_challenge(&header) else { panic!("{header}") };
            proptest::prop_assert_eq!((c.realm, c.nonce, c.opaque, c.qop_auth), (realm, nonce, opaque, true));
        }
    }
}
