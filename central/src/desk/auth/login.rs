//! Logging in and out, and what the page learns about its user (`/api/desk/me`).
//!
//! A wrong password and an unknown name get the same answer after the same
//! work (an argon2 verification either way). Repeated failures lock the
//! account for a while; every login, failure and lockout is in the audit log.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{password, sessions, users, Caller};
use crate::desk::audit::Entry;
use crate::error::{Error, Result};
use crate::http::AppState;

#[derive(Deserialize)]
pub struct Credentials {
    pub name: String,
    pub password: String,
}

fn address(headers: &HeaderMap, peer: SocketAddr) -> String {
    // Behind a reverse proxy the peer is the proxy; it names the client.
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| peer.ip().to_string())
}

pub async fn login(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(c): Json<Credentials>,
) -> Result<Response> {
    super::same_origin(&headers)?;
    let cfg = &s.desk.cfg;
    let from = address(&headers, peer);
    let wrong = || Error::Unauthorized("wrong name or password".into());
    let user = if users::valid_name(&c.name) { users::get(&s.pool, &c.name).await? } else { None };
    if let Some(u) = &user {
        if let Some(until) = u.locked_until.filter(|t| *t > Utc::now()) {
            return Err(Error::Forbidden(format!(
                "too many failed logins: the account is locked until {} UTC",
                until.format("%H:%M")
            )));
        }
    }
    let stored = user.as_ref().map_or(password::decoy().to_string(), |u| u.password_hash.clone());
    let given = c.password;
    let ok = tokio::task::spawn_blocking(move || password::verify(&given, &stored))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    let Some(user) = user else {
        tracing::warn!(name = %c.name.chars().take(64).collect::<String>(), from, "login for an unknown user");
        return Err(wrong());
    };
    if !ok {
        let locked =
            users::failed_login(&s.pool, &user.name, cfg.lockout_after, cfg.lockout_for.as_secs_f64())
                .await?
                .filter(|t| *t > Utc::now());
        let action = if locked.is_some() { "lockout" } else { "login_failed" };
        s.desk.audit.record(&s.pool, Entry::new(&user.name, action, json!({"from": from}))).await?;
        return Err(match locked {
            Some(until) => Error::Forbidden(format!(
                "too many failed logins: the account is locked until {} UTC",
                until.format("%H:%M")
            )),
            None => wrong(),
        });
    }
    if user.disabled {
        return Err(Error::Forbidden("this account is disabled".into()));
    }
    let mut tx = s.pool.begin().await?;
    users::succeeded_login(&mut *tx, &user.name).await?;
    let (token, csrf) = sessions::open(&mut *tx, &user, cfg, &from).await?;
    s.desk.audit.append(&mut tx, Entry::new(&user.name, "login", json!({"from": from}))).await?;
    tx.commit().await?;
    let who = sessions::Identity {
        name: user.name.clone(),
        role: user.role,
        sites: user.sites.clone(),
        language: user.language.clone(),
        csrf: Some(csrf),
        session: None,
    };
    let body = me_json(&s, &who);
    Ok(([(header::SET_COOKIE, sessions::cookie(Some(&token), cfg))], Json(body)).into_response())
}

pub async fn logout(State(s): State<AppState>, caller: Caller) -> Result<Response> {
    let mut tx = s.pool.begin().await?;
    if let Some(session) = &caller.0.session {
        sessions::close(&mut *tx, session).await?;
    }
    s.desk.audit.append(&mut tx, Entry::new(caller.name(), "logout", json!({}))).await?;
    tx.commit().await?;
    Ok(([(header::SET_COOKIE, sessions::cookie(None, &s.desk.cfg))], Json(json!({"ok": true})))
        .into_response())
}

/// Everything the page needs to start: who, what they may do, the CSRF
/// token, the sites and their zones, the timer limits and the reasons.
pub async fn me(State(s): State<AppState>, caller: Caller) -> Json<Value> {
    Json(me_json(&s, &caller.0))
}

fn me_json(s: &AppState, who: &sessions::Identity) -> Value {
    let cfg = &s.desk.cfg;
    let sites: Vec<&String> =
        s.desk.sites.iter().filter(|site| who.sites.is_empty() || who.sites.contains(site)).collect();
    json!({
        "name": who.name,
        "role": who.role,
        "language": who.language,
        "csrf": who.csrf,
        "sites": sites.iter().map(|site| json!({"site": site, "timezone": cfg.timezone(site)})).collect::<Vec<_>>(),
        "amber_s": cfg.amber.as_secs(),
        "red_s": cfg.red.as_secs(),
        "lease_s": cfg.lease.as_secs(),
        "reasons": cfg.reasons,
        "instance": &*s.instance,
    })
}

#[derive(Deserialize)]
pub struct Preferences {
    pub language: String,
}

/// A user changes their own page language.
pub async fn set_preferences(
    State(s): State<AppState>,
    caller: Caller,
    Json(p): Json<Preferences>,
) -> Result<Json<Value>> {
    if !users::LANGUAGES.contains(&p.language.as_str()) {
        return Err(Error::Invalid(format!("language {:?}: use zh-CN or en", p.language)));
    }
    crate::db::sql::query("UPDATE desk_users SET language = $2, updated_at = now() WHERE name = $1")
        .bind(caller.name())
        .bind(&p.language)
        .execute(&s.pool)
        .await?;
    let mut who = caller.0.clone();
    who.language = p.language;
    Ok(Json(me_json(&s, &who)))
}
