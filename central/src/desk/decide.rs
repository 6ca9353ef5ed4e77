//! Deciding a held vehicle: release, hold or inspection, with a reason from
//! the configured list, an optional comment, and optionally corrected reads.
//!
//! The decision becomes a command signed with central's key, `by` the
//! reviewer (the lane records `central:<name>`), sent on the lane's `cmd`
//! topic and tracked in `commands` — the lane's ack moves it to accepted or
//! rejected, no ack before it expires to expired; the page shows each, and a
//! failed one can be issued again. Only the reviewer holding the claim may
//! decide, and only one decision may be on its way at a time: both are
//! checked here, under the item's row lock, whatever the page showed.

use axum::extract::{Path, State};
use axum::Json;
use contract::command::Action;
use serde::Deserialize;
use serde_json::{json, Value};

use super::audit::Entry;
use super::auth::{Caller, Role};
use super::{claims, ids};
use crate::db::sql::{self, Transaction};
use crate::error::{Error, Result};
use crate::http::AppState;

#[derive(Debug, Deserialize)]
pub struct Decision {
    pub outcome: String,
    pub reason: String,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub corrections: Vec<Correction>,
}

#[derive(Debug, Deserialize)]
pub struct Correction {
    /// `plate` or `container`.
    pub kind: String,
    /// The machine's read ('' when it read nothing).
    #[serde(default)]
    pub original: String,
    pub corrected: String,
}

fn action(outcome: &str, passage: &str) -> Result<Action> {
    let passage = passage.to_string();
    Ok(match outcome {
        "release" => Action::Release { passage },
        "hold" => Action::Hold { passage },
        "inspection" => Action::Inspection { passage },
        other => return Err(Error::Invalid(format!("outcome {other:?}: release, hold or inspection"))),
    })
}

/// Checks a correction; returns it with the typed text normalised.
fn checked(c: &Correction) -> Result<(String, String, String)> {
    let corrected = ids::normalise(&c.corrected);
    let verdict = match c.kind.as_str() {
        "container" => ids::check_container(&corrected),
        "plate" => ids::check_corrected_plate(&corrected),
        other => Err(format!("kind {other:?}: plate or container")),
    };
    verdict.map_err(Error::Invalid)?;
    if c.original.chars().count() > 32 {
        return Err(Error::Invalid("the original read is too long".into()));
    }
    Ok((c.kind.clone(), c.original.clone(), corrected))
}

/// Records corrections of one passage and their audit entries inside `tx`.
pub async fn record_corrections(
    s: &AppState,
    tx: &mut Transaction<'_>,
    who: &str,
    (site, lane, passage): (&str, &str, &str),
    list: &[(String, String, String)],
) -> Result<()> {
    for (kind, original, corrected) in list {
        sql::query(
            "INSERT INTO desk_corrections (site, lane, passage_id, kind, original, corrected, by_user) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(site)
        .bind(lane)
        .bind(passage)
        .bind(kind)
        .bind(original)
        .bind(corrected)
        .bind(who)
        .execute(&mut **tx)
        .await?;
        let detail = json!({"kind": kind, "original": original, "corrected": corrected});
        s.desk.audit.append(tx, Entry::new(who, "correction", detail).on(site, lane, Some(passage))).await?;
    }
    Ok(())
}

/// `POST /api/desk/items/{site}/{lane}/{passage}/decide`
pub async fn decide(
    State(s): State<AppState>,
    caller: Caller,
    Path((site, lane, passage)): Path<(String, String, String)>,
    Json(d): Json<Decision>,
) -> Result<Json<Value>> {
    caller.site(&site)?;
    caller.at_least(Role::Reviewer)?;
    let action = action(&d.outcome, &passage)?;
    let reason = s.desk.cfg.reason(&d.reason, &d.outcome).ok_or_else(|| {
        Error::Invalid(format!(
            "reason {:?} is not one of the configured reasons for {}",
            d.reason, d.outcome
        ))
    })?;
    if d.comment.chars().count() > 500 {
        return Err(Error::Invalid("the comment is longer than 500 characters".into()));
    }
    let corrections = d.corrections.iter().map(checked).collect::<Result<Vec<_>>>()?;
    let sender = s.desk.sender.as_ref().ok_or_else(|| {
        Error::Conflict(
            "central has no command key ([commands] in its configuration): it cannot send decisions".into(),
        )
    })?;
    let mut tx = s.pool.begin().await?;
    let item = claims::lock(&mut tx, &site, &lane, &passage).await?;
    claims::require_holder(&item, caller.name())?;
    let pending: Option<String> = sql::query_scalar(
        "SELECT id FROM commands WHERE site = $1 AND lane = $2 AND passage_id = $3 \
         AND action_type IN ('release', 'hold', 'inspection') AND state = 'sent' AND expires_at > now() LIMIT 1",
    )
    .bind(&site)
    .bind(&lane)
    .bind(&passage)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = pending {
        return Err(Error::Conflict(format!(
            "a decision ({id}) is on its way to the lane; wait for its answer"
        )));
    }
    // Sent while the item is locked: nobody decides it meanwhile.
    let id = sender.send(&s.pool, &site, &lane, caller.name(), action).await?;
    sql::query(
        "INSERT INTO desk_reviews (command_id, site, lane, passage_id, outcome, reason, comment, by_user) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&site)
    .bind(&lane)
    .bind(&passage)
    .bind(&d.outcome)
    .bind(&reason.code)
    .bind(d.comment.trim())
    .bind(caller.name())
    .execute(&mut *tx)
    .await?;
    let detail =
        json!({"command": id, "outcome": d.outcome, "reason": reason.code, "comment": d.comment.trim()});
    let entry = Entry::new(caller.name(), "decision", detail).on(&site, &lane, Some(&passage));
    s.desk.audit.append(&mut tx, entry).await?;
    record_corrections(&s, &mut tx, caller.name(), (&site, &lane, &passage), &corrections).await?;
    tx.commit().await?;
    tracing::info!(%site, %lane, %passage, command = %id, outcome = %d.outcome, by = caller.name(), "decision sent");
    Ok(Json(json!({"command": id})))
}

/// `POST .../corrections`: corrects reads of any passage (also one already
/// decided), so reviewed passages become labelled data.
pub async fn correct(
    State(s): State<AppState>,
    caller: Caller,
    Path((site, lane, passage)): Path<(String, String, String)>,
    Json(list): Json<Vec<Correction>>,
) -> Result<Json<Value>> {
    caller.site(&site)?;
    caller.at_least(Role::Reviewer)?;
    let corrections = list.iter().map(checked).collect::<Result<Vec<_>>>()?;
    let known: bool = sql::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM passages WHERE site = $1 AND lane = $2 AND id = $3) \
             OR EXISTS (SELECT 1 FROM decisions WHERE site = $1 AND lane = $2 AND passage_id = $3)",
    )
    .bind(&site)
    .bind(&lane)
    .bind(&passage)
    .fetch_one(&s.pool)
    .await?;
    if !known {
        return Err(Error::NotFound);
    }
    let mut tx = s.pool.begin().await?;
    record_corrections(&s, &mut tx, caller.name(), (&site, &lane, &passage), &corrections).await?;
    tx.commit().await?;
    Ok(Json(json!({"corrections": corrections.len()})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_become_actions_and_corrections_are_checked() {
        assert!(matches!(action("release", "p").unwrap(), Action::Release { .. }));
        assert!(matches!(action("inspection", "p").unwrap(), Action::Inspection { .. }));
        assert!(action("open", "p").is_err());
        let c = |kind: &str, text: &str| Correction {
            kind: kind.into(),
            original: "X".into(),
            corrected: text.into(),
        };
        assert_eq!(checked(&c("container", "msku 123456-5")).unwrap().2, "MSKU1234565");
        assert!(checked(&c("container", "MSKU1234566")).is_err());
        assert_eq!(checked(&c("plate", "沪a12345")).unwrap().2, "沪A12345");
        assert!(checked(&c("plate", "沪")).is_err());
        assert!(checked(&c("seal", "x")).is_err());
    }
}
