//! Claims: opening a held vehicle claims it for that reviewer with a lease the
//! page renews; everyone else sees "in review by X" and the server refuses
//! their decision. A lease that is not renewed lapses (the reviewer closed
//! the page or lost the network); a supervisor may take a claim over.
//!
//! Each change runs under the item's row lock, so two reviewers opening the
//! same vehicle at once get one claim and one refusal.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::audit::Entry;
use super::auth::{Caller, Role};
use crate::db::sql::{self, Transaction};
use crate::error::{Error, Result};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct ClaimRequest {
    /// A supervisor takes the item over from whoever holds it.
    #[serde(default)]
    pub takeover: bool,
}

/// The item's state under its row lock.
pub struct Locked {
    pub state: String,
    /// The holder while the lease runs.
    pub holder: Option<String>,
}

/// Locks the item's row for the rest of `tx`.
pub async fn lock(tx: &mut Transaction<'_>, site: &str, lane: &str, passage: &str) -> Result<Locked> {
    let row: Option<(String, Option<String>, Option<DateTime<Utc>>)> = sql::query_as(
        "SELECT state, claimed_by, lease_until FROM desk_items WHERE site = $1 AND lane = $2 AND passage_id = $3 FOR UPDATE",
    )
    .bind(site)
    .bind(lane)
    .bind(passage)
    .fetch_optional(&mut **tx)
    .await?;
    let (state, claimed_by, lease) =
        row.ok_or_else(|| Error::Invalid("this passage is not a held vehicle waiting for review".into()))?;
    let holder = claimed_by.filter(|_| lease.is_some_and(|l| l > Utc::now()));
    Ok(Locked { state, holder })
}

pub fn refuse_closed(state: &str) -> Error {
    match state {
        "decided" => Error::Conflict("already decided".into()),
        _ => Error::Conflict("the vehicle has left the lane; nothing to decide".into()),
    }
}

/// `POST /api/desk/items/{site}/{lane}/{passage}/claim`: claims, renews, or
/// (supervisor, `takeover`) takes over.
pub async fn claim(
    State(s): State<AppState>,
    caller: Caller,
    Path((site, lane, passage)): Path<(String, String, String)>,
    body: Option<Json<ClaimRequest>>,
) -> Result<Json<Value>> {
    caller.site(&site)?;
    caller.at_least(Role::Reviewer)?;
    let takeover = body.is_some_and(|b| b.takeover);
    if takeover {
        caller.at_least(Role::Supervisor)?;
    }
    let mut tx = s.pool.begin().await?;
    let item = lock(&mut tx, &site, &lane, &passage).await?;
    if item.state != "waiting" {
        return Err(refuse_closed(&item.state));
    }
    let me = caller.name();
    let action = match item.holder.as_deref() {
        Some(h) if h == me => None,
        Some(h) if !takeover => return Err(Error::Conflict(format!("in review by {h}"))),
        Some(h) => Some(("takeover", json!({"from": h}))),
        None => Some(("claim", json!({}))),
    };
    let lease_until: DateTime<Utc> = sql::query_scalar(
        "UPDATE desk_items SET claimed_by = $4, \
           claimed_at = CASE WHEN claimed_by = $4 AND lease_until > now() THEN claimed_at ELSE now() END, \
           lease_until = now() + make_interval(secs => $5) \
         WHERE site = $1 AND lane = $2 AND passage_id = $3 RETURNING lease_until",
    )
    .bind(&site)
    .bind(&lane)
    .bind(&passage)
    .bind(me)
    .bind(s.desk.cfg.lease.as_secs_f64())
    .fetch_one(&mut *tx)
    .await?;
    if let Some((action, detail)) = action {
        s.desk.audit.append(&mut tx, Entry::new(me, action, detail).on(&site, &lane, Some(&passage))).await?;
    }
    tx.commit().await?;
    Ok(Json(json!({"claimed_by": me, "lease_until": lease_until})))
}

/// `DELETE .../claim`: the reviewer moves on; the item is free at once.
pub async fn unclaim(
    State(s): State<AppState>,
    caller: Caller,
    Path((site, lane, passage)): Path<(String, String, String)>,
) -> Result<Json<Value>> {
    caller.site(&site)?;
    let mut tx = s.pool.begin().await?;
    let item = lock(&mut tx, &site, &lane, &passage).await?;
    if let Some(h) = item.holder.as_deref().filter(|h| *h != caller.name()) {
        // Only its holder gives a claim up (a supervisor takes it over instead).
        return Err(Error::Conflict(format!("in review by {h}: only they can give the claim up")));
    }
    if item.holder.is_some() {
        sql::query(
            "UPDATE desk_items SET claimed_by = NULL, claimed_at = NULL, lease_until = NULL \
             WHERE site = $1 AND lane = $2 AND passage_id = $3",
        )
        .bind(&site)
        .bind(&lane)
        .bind(&passage)
        .execute(&mut *tx)
        .await?;
        let entry = Entry::new(caller.name(), "unclaim", json!({})).on(&site, &lane, Some(&passage));
        s.desk.audit.append(&mut tx, entry).await?;
    }
    tx.commit().await?;
    Ok(Json(json!({"claimed_by": null})))
}

/// Refuses unless `me` holds the claim now (decisions need it).
pub fn require_holder(item: &Locked, me: &str) -> Result<()> {
    if item.state != "waiting" {
        return Err(refuse_closed(&item.state));
    }
    match item.holder.as_deref() {
        Some(h) if h == me => Ok(()),
        Some(h) => Err(Error::Conflict(format!("in review by {h}: only they can decide it"))),
        None => {
            Err(Error::Conflict("claim the vehicle first (open it); a claim lapses when not renewed".into()))
        }
    }
}
