//! Who may use the page.
//!
//! - With a password: HTTP basic, any user name, compared in constant time.
//! - On loopback: the `Host` header must name loopback too, so a web page in
//!   the technician's browser cannot reach the agent by DNS rebinding.
//! - Actions (POST) need the `X-Edge-Agent` header, which the page's script
//!   sends and which a cross-site form cannot: a password remembered by the
//!   browser is not enough to move the barrier from another site.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

pub const ACTION_HEADER: &str = "x-edge-agent";

#[derive(Clone)]
pub struct Guard {
    pub password: Option<Arc<str>>,
    pub loopback: bool,
}

pub async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if guard.loopback && !loopback_host(headers) {
        return (StatusCode::FORBIDDEN, "this page answers to 127.0.0.1 or localhost only\n").into_response();
    }
    if let Some(password) = &guard.password {
        if !password_matches(headers, password) {
            let challenge = [(header::WWW_AUTHENTICATE, "Basic realm=\"edge-agent\", charset=\"UTF-8\"")];
            return (StatusCode::UNAUTHORIZED, challenge, "password required\n").into_response();
        }
    }
    if request.method() == Method::POST && !headers.contains_key(ACTION_HEADER) {
        return (StatusCode::FORBIDDEN, "actions need the X-Edge-Agent header (sent by the page)\n")
            .into_response();
    }
    next.run(request).await
}

fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn password_matches(headers: &HeaderMap, password: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    let Some(given) = given else { return false };
    let Some((_, pass)) = given.split_once(':') else { return false };
    constant_time_eq(pass.as_bytes(), password.as_bytes())
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.clone(), HeaderValue::from_str(v).unwrap())).collect()
    }

    #[test]
    fn hosts_that_count_as_loopback() {
        for ok in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "localhost", "127.0.0.2"] {
            assert!(loopback_host(&headers(&[(header::HOST, ok)])), "{ok}");
        }
        for bad in ["evil.example:8080", "10.0.0.5:8080", "[fe80::1]:80"] {
            assert!(!loopback_host(&headers(&[(header::HOST, bad)])), "{bad}");
        }
        assert!(!loopback_host(&HeaderMap::new()));
    }

    #[test]
    fn basic_passwords() {
        let b64 = |s: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s));
        assert!(password_matches(
            &headers(&[(header::AUTHORIZATION, &b64("tech:s3cret-pass"))]),
            "s3cret-pass"
        ));
        assert!(password_matches(&headers(&[(header::AUTHORIZATION, &b64(":s3cret-pass"))]), "s3cret-pass"));
        assert!(!password_matches(
            &headers(&[(header::AUTHORIZATION, &b64("tech:s3cret-pas"))]),
            "s3cret-pass"
        ));
        assert!(!password_matches(&headers(&[(header::AUTHORIZATION, "Basic !!!")]), "s3cret-pass"));
        assert!(!password_matches(&headers(&[(header::AUTHORIZATION, "Bearer x")]), "s3cret-pass"));
        assert!(!password_matches(&HeaderMap::new(), "s3cret-pass"));
    }
}
