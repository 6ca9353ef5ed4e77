//! Pre-declarations (提前申报) uploaded on the desk: a CSV or JSON file is
//! validated whole ([`parse`]), kept (to show declared against read), and
//! pushed to the target lanes as signed `declare` commands — in batches, so
//! no message outgrows the broker's limit — whose acks the page shows per
//! lane. Supervisors only: a declaration decides whether a vehicle may go.

pub mod parse;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use contract::command::Action;
use contract::declaration::Declaration;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::audit::Entry;
use super::auth::{Caller, Role};
use crate::db::sql::{self, PgPool};
use crate::error::{Error, Result};
use crate::state::AppState;
use parse::{Row, When};

/// Declarations per `declare` command: about 200 bytes each on the wire.
const BATCH: usize = 200;

#[derive(Debug, Deserialize)]
pub struct Upload {
    pub file_name: String,
    pub content: String,
    /// `SITE/LANE`; empty: every lane of the caller's sites.
    #[serde(default)]
    pub lanes: Vec<String>,
}

/// Local times to UTC in the site's zone, by the database (it knows the zones).
async fn to_utc(pool: &PgPool, zone: &str, w: &Option<When>) -> Result<Option<DateTime<Utc>>> {
    Ok(match w {
        None => None,
        Some(When::At(t)) => Some(*t),
        Some(When::Local(t)) => Some(
            sql::query_scalar::<_, DateTime<Utc>>("SELECT ($1::timestamp AT TIME ZONE $2)")
                .bind(t)
                .bind(zone)
                .fetch_one(pool)
                .await?,
        ),
    })
}

async fn targets(pool: &PgPool, caller: &Caller, asked: &[String]) -> Result<Vec<(String, String)>> {
    let known: Vec<(String, String)> =
        sql::query_as("SELECT site, lane FROM lanes ORDER BY site, lane").fetch_all(pool).await?;
    let visible: Vec<(String, String)> = known.into_iter().filter(|(s, _)| caller.sees(s)).collect();
    if asked.is_empty() {
        return Ok(visible);
    }
    asked
        .iter()
        .map(|a| {
            let (site, lane) =
                a.split_once('/').ok_or_else(|| Error::Invalid(format!("lane {a:?}: write SITE/LANE")))?;
            visible
                .iter()
                .find(|(s, l)| s == site && l == lane)
                .cloned()
                .ok_or_else(|| Error::Invalid(format!("lane {a} is not one of yours")))
        })
        .collect()
}

/// How many of a refused file's problems the reply lists (`problem_count` has them all).
const PROBLEMS_SHOWN: usize = 200;

/// `POST /api/desk/declarations`: validate, keep, push.
pub async fn upload(State(s): State<AppState>, caller: Caller, Json(u): Json<Upload>) -> Result<Json<Value>> {
    caller.at_least(Role::Supervisor)?;
    let is_json = u.file_name.to_lowercase().ends_with(".json") || u.content.trim_start().starts_with('[');
    let rows = match if is_json { parse::json(&u.content) } else { parse::csv(&u.content) } {
        Ok(rows) => rows,
        Err(problems) => {
            // The first ones say what is wrong with the file; all of a huge file's would be a
            // reply bigger than the file.
            let list: Vec<Value> = problems
                .iter()
                .take(PROBLEMS_SHOWN)
                .map(|p| json!({"line": p.line, "message": p.message}))
                .collect();
            return Ok(Json(json!({"accepted": false, "problems": list, "problem_count": problems.len()})));
        }
    };
    let lanes = targets(&s.pool, &caller, &u.lanes).await?;
    if lanes.is_empty() {
        return Err(Error::Invalid("no lane to send the declarations to".into()));
    }
    let sender = s
        .desk
        .sender
        .as_ref()
        .ok_or_else(|| Error::Conflict("central has no command key: it cannot send".into()))?;
    let zone = s.desk.cfg.timezone(&lanes[0].0).to_string();
    let mut declarations = Vec::with_capacity(rows.len());
    for r in &rows {
        declarations.push(declaration(&s.pool, &zone, r).await?);
    }
    let sha = hex::encode(Sha256::digest(u.content.as_bytes()));
    let mut tx = s.pool.begin().await?;
    let import: i64 = sql::query_scalar(
        "INSERT INTO desk_declaration_imports (uploaded_by, file_name, sha256, rows) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(caller.name())
    .bind(u.file_name.chars().take(200).collect::<String>())
    .bind(&sha)
    .bind(rows.len() as i32)
    .fetch_one(&mut *tx)
    .await?;
    for (r, d) in rows.iter().zip(&declarations) {
        sql::query(
            "INSERT INTO desk_declarations (import_id, line, plate, containers, seals, declared_empty, targeted, valid_from, valid_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(import)
        .bind(r.line as i32)
        .bind(&d.plate)
        .bind(&d.containers)
        .bind(&d.seals)
        .bind(d.declared_empty)
        .bind(d.targeted)
        .bind(d.valid_from)
        .bind(d.valid_until)
        .execute(&mut *tx)
        .await?;
    }
    let lane_names: Vec<String> = lanes.iter().map(|(s, l)| format!("{s}/{l}")).collect();
    let detail = json!({"import": import, "file": u.file_name, "sha256": sha, "rows": rows.len(), "lanes": lane_names});
    s.desk.audit.append(&mut tx, Entry::new(caller.name(), "declaration_import", detail)).await?;
    tx.commit().await?;
    let mut sent = Vec::new();
    for (site, lane) in &lanes {
        for batch in declarations.chunks(BATCH) {
            let action = Action::Declare { declarations: batch.to_vec() };
            let id = sender.send(&s.pool, site, lane, caller.name(), action).await?;
            sql::query("INSERT INTO desk_declaration_commands (import_id, command_id) VALUES ($1, $2)")
                .bind(import)
                .bind(&id)
                .execute(&s.pool)
                .await?;
            sent.push(json!({"site": site, "lane": lane, "command": id}));
        }
    }
    tracing::info!(
        import,
        rows = rows.len(),
        lanes = lanes.len(),
        by = caller.name(),
        "pre-declarations pushed"
    );
    Ok(Json(json!({"accepted": true, "import": import, "rows": rows.len(), "commands": sent})))
}

async fn declaration(pool: &PgPool, zone: &str, r: &Row) -> Result<Declaration> {
    Ok(Declaration {
        plate: r.plate.clone(),
        containers: r.containers.clone(),
        seals: r.seals.clone(),
        declared_empty: r.declared_empty,
        targeted: r.targeted,
        valid_from: to_utc(pool, zone, &r.valid_from).await?,
        valid_until: to_utc(pool, zone, &r.valid_until).await?,
    })
}

/// `GET /api/desk/declarations`: recent uploads, each lane's answer to them.
pub async fn list(State(s): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    let imports: Vec<Value> = sql::query_scalar(
        "SELECT jsonb_build_object('id', i.id, 'uploaded_by', i.uploaded_by, 'uploaded_at', i.uploaded_at, \
           'file', i.file_name, 'rows', i.rows, 'lanes', ( \
             SELECT jsonb_agg(jsonb_build_object('site', c.site, 'lane', c.lane, 'command', c.id, 'state', c.state, \
                    'outcome', c.outcome, 'reason', c.reason, 'detail', c.detail, 'acked_at', c.acked_at) ORDER BY c.site, c.lane, c.issued_at) \
             FROM desk_declaration_commands dc JOIN commands c ON c.id = dc.command_id \
             WHERE dc.import_id = i.id AND ($1::text[] IS NULL OR c.site = ANY($1)))) \
         FROM desk_declaration_imports i ORDER BY i.id DESC LIMIT 30",
    )
    .bind(caller.site_filter())
    .fetch_all(&s.pool)
    .await?;
    Ok(Json(json!({"imports": imports})))
}
