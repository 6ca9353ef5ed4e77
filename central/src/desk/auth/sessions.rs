//! Sessions (browser cookies) and API tokens (other systems), both stored as
//! the sha256 of a random secret, both shared by every instance through
//! PostgreSQL.
//!
//! A session ends after `session_idle` without a request or `session_max`
//! after login, whichever comes first; each request that finds it alive moves
//! `last_seen_at`. The cookie is HttpOnly and SameSite=Strict; every change
//! also needs the session's CSRF token in `X-CSRF-Token` (see `gate`).

use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::users::{Role, User};
use crate::config::DeskConfig;
use crate::db::sql::{self, PgExecutor, PgPool};
use crate::error::Result;

pub const COOKIE: &str = "lanectl_desk";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// 32 random bytes, URL-safe base64.
pub fn secret() -> String {
    B64.encode(rand::random::<[u8; 32]>())
}

pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Who is asking, as the session or token says.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    pub role: Role,
    pub sites: Vec<String>,
    pub language: String,
    /// The session's CSRF token; `None` for a bearer token (no cookie, nothing to forge).
    pub csrf: Option<String>,
    /// The session's stored digest, to end it on logout.
    pub session: Option<String>,
}

/// Opens a session for `user`; returns (cookie secret, CSRF token).
pub async fn open(
    db: impl PgExecutor<'_>,
    user: &User,
    cfg: &DeskConfig,
    address: &str,
) -> Result<(String, String)> {
    let (token, csrf) = (secret(), secret());
    sql::query(
        "INSERT INTO desk_sessions (token_sha256, user_name, csrf, expires_at, address) \
         VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5)",
    )
    .bind(digest(&token))
    .bind(&user.name)
    .bind(&csrf)
    .bind(cfg.session_max.as_secs_f64())
    .bind(address)
    .execute(db)
    .await?;
    Ok((token, csrf))
}

/// The live session behind a cookie secret, touched; `None` when unknown,
/// expired (idle or absolute) or its user is disabled.
pub async fn find(pool: &PgPool, token: &str, idle: Duration) -> Result<Option<Identity>> {
    let row: Option<(String, String, Vec<String>, String, String, String)> = sql::query_as(
        "UPDATE desk_sessions s SET last_seen_at = now() FROM desk_users u \
         WHERE s.token_sha256 = $1 AND u.name = s.user_name AND u.disabled_at IS NULL \
           AND s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => $2) \
         RETURNING u.name, u.role, u.sites, u.language, s.csrf, s.token_sha256",
    )
    .bind(digest(token))
    .bind(idle.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(name, role, sites, language, csrf, session)| Identity {
        name,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        sites,
        language,
        csrf: Some(csrf),
        session: Some(session),
    }))
}

/// The user behind an API token.
pub async fn find_token(pool: &PgPool, token: &str) -> Result<Option<Identity>> {
    let row: Option<(String, String, Vec<String>, String)> = sql::query_as(
        "UPDATE desk_tokens t SET last_used_at = now() FROM desk_users u \
         WHERE t.token_sha256 = $1 AND u.name = t.user_name AND u.disabled_at IS NULL \
         RETURNING u.name, u.role, u.sites, u.language",
    )
    .bind(digest(token))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(name, role, sites, language)| Identity {
        name,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        sites,
        language,
        csrf: None,
        session: None,
    }))
}

/// Creates an API token for `user`; the secret is shown once.
pub async fn add_token(db: impl PgExecutor<'_>, user: &str, label: &str) -> Result<String> {
    let token = secret();
    sql::query("INSERT INTO desk_tokens (token_sha256, user_name, label) VALUES ($1, $2, $3)")
        .bind(digest(&token))
        .bind(user)
        .bind(label)
        .execute(db)
        .await?;
    Ok(token)
}

pub async fn close(db: impl PgExecutor<'_>, session_digest: &str) -> Result<()> {
    sql::query("DELETE FROM desk_sessions WHERE token_sha256 = $1").bind(session_digest).execute(db).await?;
    Ok(())
}

/// Deletes sessions past their end; returns how many.
pub async fn sweep(pool: &PgPool, idle: Duration) -> Result<u64> {
    Ok(sql::query(
        "DELETE FROM desk_sessions WHERE expires_at < now() OR last_seen_at < now() - make_interval(secs => $1)",
    )
    .bind(idle.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected())
}

/// The `Set-Cookie` value for a new session (or, with `None`, one that ends it).
pub fn cookie(token: Option<&str>, cfg: &DeskConfig) -> String {
    let secure = if cfg.secure_cookies { "; Secure" } else { "" };
    match token {
        Some(t) => format!(
            "{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            cfg.session_max.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// The session secret from the request's cookies.
pub fn from_cookies(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// The bearer token from `Authorization`.
pub fn from_bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_read_among_others_and_never_readable_by_scripts() {
        let mut h = HeaderMap::new();
        h.insert("cookie", "theme=dark; lanectl_desk=abc123; x=y".parse().unwrap());
        assert_eq!(from_cookies(&h).as_deref(), Some("abc123"));
        h.insert("cookie", "lanectl_desk=".parse().unwrap());
        assert_eq!(from_cookies(&h), None);
        h.insert("authorization", "Bearer tok".parse().unwrap());
        assert_eq!(from_bearer(&h).as_deref(), Some("tok"));
        let cfg = crate::config::from_str(
            std::path::Path::new("t.toml"),
            "sites = [\"S\"]\n[mqtt]\nhost = \"h\"\n[database]\nurl = \"postgres://x@y/z\"\n[store]\nurl = \"file:///tmp/x\"\n",
        )
        .unwrap()
        .desk;
        let c = cookie(Some("abc"), &cfg);
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Max-Age=43200"),
            "{c}"
        );
        assert!(!c.contains("Secure"));
        assert!(cookie(None, &cfg).contains("Max-Age=0"));
        assert_ne!(secret(), secret());
        assert_eq!(digest("a").len(), 64);
    }
}
