//! Who may use the desk and the API, and how that is checked: one gate in
//! front of every route (pages, the JSON API, the images, the live events).
//!
//! The gate lets through only the login page, its assets, the login call and
//! the operational `/healthz` and `/metrics`. Everything else needs a live
//! session cookie (browsers) or a bearer token (other systems); a page request
//! without one is sent to `/login`, an API call gets 401. A change (any method
//! but GET/HEAD) made with a session must carry the session's CSRF token and,
//! when the browser names one, come from the desk's own origin. Handlers take
//! a [`Caller`] and ask it about roles and sites.

pub mod login;
pub mod password;
pub mod sessions;
pub mod users;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::Error;
use crate::http::AppState;
pub use sessions::Identity;
pub use users::Role;

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl Caller {
    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn role(&self) -> Role {
        self.0.role
    }

    /// Whether this user sees `site` (an empty list is every site).
    pub fn sees(&self, site: &str) -> bool {
        self.0.sites.is_empty() || self.0.sites.iter().any(|s| s == site)
    }

    /// The sites to filter queries by: `None` for every site.
    pub fn site_filter(&self) -> Option<Vec<String>> {
        (!self.0.sites.is_empty()).then(|| self.0.sites.clone())
    }

    /// Refuses unless this user sees `site`.
    pub fn site(&self, site: &str) -> Result<(), Error> {
        if self.sees(site) {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Refuses unless this user's role is at least `role`.
    pub fn at_least(&self, role: Role) -> Result<(), Error> {
        if self.0.role >= role {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "a {} may not do this; it needs a {}",
                self.0.role.word(),
                role.word()
            )))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| Error::Unauthorized("log in first".into()))
    }
}

fn is_public(method: &Method, path: &str) -> bool {
    matches!(path, "/healthz" | "/metrics" | "/login" | "/favicon.ico")
        || path.starts_with("/assets/")
        || (method == Method::POST && path == "/api/desk/session")
}

/// The one gate in front of every route; also sets the security headers.
pub async fn gate(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let mut response = if is_public(&method, &path) {
        next.run(req).await
    } else {
        match identify(&s, req.headers()).await {
            Ok(Some(who)) => match check_change(&method, req.headers(), &who)
                .and_then(|()| site_scope(&who, &path, req.uri().query().unwrap_or("")))
            {
                Ok(()) => {
                    req.extensions_mut().insert(Caller(who));
                    next.run(req).await
                }
                Err(e) => e.into_response(),
            },
            Ok(None) if method == Method::GET && !path.starts_with("/api/") => {
                let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
                let next = urlencode(&format!("{path}{query}"));
                Redirect::to(&format!("/login?next={next}")).into_response()
            }
            Ok(None) => {
                Error::Unauthorized("log in first (session missing or expired)".into()).into_response()
            }
            Err(e) => e.into_response(),
        }
    };
    security_headers(response.headers_mut(), &path);
    response
}

async fn identify(s: &AppState, headers: &HeaderMap) -> Result<Option<Identity>, Error> {
    if let Some(token) = sessions::from_bearer(headers) {
        return sessions::find_token(&s.pool, &token).await;
    }
    match sessions::from_cookies(headers) {
        Some(token) => sessions::find(&s.pool, &token, s.desk.cfg.session_idle).await,
        None => Ok(None),
    }
}

/// A change made with a session cookie must prove it comes from the page.
fn check_change(method: &Method, headers: &HeaderMap, who: &Identity) -> Result<(), Error> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let Some(expected) = &who.csrf else { return Ok(()) };
    let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        return Err(Error::Forbidden("missing or wrong CSRF token; reload the page".into()));
    }
    same_origin(headers)
}

/// When the browser names the origin of a change, it must be this host.
pub fn same_origin(headers: &HeaderMap) -> Result<(), Error> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    if origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(Error::Forbidden(format!("request from another origin ({origin}) refused")))
    }
}

/// A user limited to some sites may use central's general API only where it
/// filters by site, and only for theirs; the desk's own routes check each
/// request themselves.
fn site_scope(who: &Identity, path: &str, query: &str) -> Result<(), Error> {
    if who.sites.is_empty() || !path.starts_with("/api/") || path.starts_with("/api/desk/") {
        return Ok(());
    }
    let segments: Vec<&str> = path.trim_start_matches("/api/").split('/').collect();
    let from_query = query.split('&').find_map(|kv| kv.strip_prefix("site="));
    let site = match segments[..] {
        ["passages", site, ..] | ["lanes", site, ..] => Some(site),
        ["passages"] | ["alarms"] | ["quarantine"] | ["stats"] => from_query,
        _ => None,
    };
    match site {
        Some(s) if who.sites.iter().any(|x| x == s) => Ok(()),
        _ => Err(Error::Forbidden(format!(
            "this user sees only {}: name one of them (site=... or in the path); \
             the desk's /api/desk/ routes filter by themselves",
            who.sites.join(", ")
        ))),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn security_headers(h: &mut HeaderMap, path: &str) {
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    // Everything the page needs is served from here: no CDN, no inline script.
    set(
        h,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "same-origin");
    set(h, "x-frame-options", "DENY");
    if path.starts_with("/api/") {
        set(h, "cache-control", "no-store");
    }
}

/// 401 with a JSON body, for handlers that check a session themselves.
pub fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": "log in first"}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(csrf: Option<&str>) -> Identity {
        Identity {
            name: "li".into(),
            role: Role::Reviewer,
            sites: vec!["A".into()],
            language: "en".into(),
            csrf: csrf.map(str::to_string),
            session: None,
        }
    }

    #[test]
    fn changes_need_the_csrf_token_and_the_same_origin() {
        let mut h = HeaderMap::new();
        h.insert("host", "desk:8090".parse().unwrap());
        assert!(check_change(&Method::GET, &h, &who(Some("t"))).is_ok(), "reads need no token");
        assert!(check_change(&Method::POST, &h, &who(Some("t"))).is_err(), "no token");
        h.insert("x-csrf-token", "u".parse().unwrap());
        assert!(check_change(&Method::POST, &h, &who(Some("t"))).is_err(), "wrong token");
        h.insert("x-csrf-token", "t".parse().unwrap());
        assert!(check_change(&Method::POST, &h, &who(Some("t"))).is_ok());
        h.insert("origin", "http://evil.example".parse().unwrap());
        assert!(check_change(&Method::POST, &h, &who(Some("t"))).is_err(), "other origin");
        h.insert("origin", "http://desk:8090".parse().unwrap());
        assert!(check_change(&Method::DELETE, &h, &who(Some("t"))).is_ok());
        assert!(
            check_change(&Method::POST, &HeaderMap::new(), &who(None)).is_ok(),
            "bearer: no cookie to forge"
        );
    }

    #[test]
    fn roles_and_sites_limit_the_caller() {
        let c = Caller(who(None));
        assert!(c.sees("A") && !c.sees("B"));
        assert!(c.at_least(Role::Reviewer).is_ok());
        assert!(matches!(c.at_least(Role::Supervisor), Err(Error::Forbidden(_))));
        assert!(is_public(&Method::GET, "/assets/desk.js"));
        assert!(is_public(&Method::POST, "/api/desk/session"));
        assert!(!is_public(&Method::GET, "/api/desk/session"));
        assert!(!is_public(&Method::GET, "/api/passages"));
        assert_eq!(urlencode("/item/A/G01/p 1?x=1"), "/item/A/G01/p%201%3Fx%3D1");
        let who = who(None);
        assert!(site_scope(&who, "/api/passages", "site=A&plate=x").is_ok());
        assert!(site_scope(&who, "/api/passages", "plate=x").is_err(), "every site's passages");
        assert!(site_scope(&who, "/api/passages/A/G01/p", "").is_ok());
        assert!(site_scope(&who, "/api/passages/B/G01/p", "").is_err());
        assert!(site_scope(&who, "/api/lanes", "site=A").is_err(), "lists every lane whatever the query");
        assert!(site_scope(&who, "/api/images/ab", "").is_err());
        assert!(site_scope(&who, "/api/desk/queue", "").is_ok());
    }
}
