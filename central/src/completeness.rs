//! Completeness: what a lane sent that never arrived whole, found and asked
//! for again.
//!
//! Two kinds of gap, both in the `gaps` table:
//! - `passage`: a `seq` missing between the first and the last seq central
//!   saw of the lane (the lane's seq is durable and strictly increasing);
//! - `image`: an image a verified record refers to that is not stored.
//!
//! Every `check_every`, each instance finds new gaps (idempotent inserts),
//! marks healed the ones that arrived, and sends a signed `resend` for those
//! due — claimed with `FOR UPDATE SKIP LOCKED`, so two instances never ask
//! twice. A gap is due `grace` after it was found (it may only be late), then
//! again after `first_retry`, doubling up to `max_retry`; after
//! `give_up_after` requests it is given up with an alarm.

use std::time::Duration;

use contract::command::Action;
use serde::Serialize;

use crate::commands::CommandSender;
use crate::config::CompletenessConfig;
use crate::db::sql::{self, PgPool};
use crate::error::Result;

/// (site, lane, kind, key, passage_id, seq, attempts) of a gap due.
type DueGap = (String, String, String, String, Option<String>, Option<i64>, i32);
/// (site, lane, first_seq, last_seq, received, referenced, stored, outstanding, healed, given_up).
type CompletenessRow = (String, String, Option<i64>, Option<i64>, i64, i64, i64, i64, i64, i64);

/// The update of a gap found again: one that healed is open anew, asked for from the start (what
/// arrived can be lost again, say by a database restored from an older backup); one outstanding
/// or given up is left as it is.
macro_rules! reopen_healed {
    () => {
        "state = 'outstanding', attempts = 0, next_attempt_at = EXCLUDED.next_attempt_at, \
         last_command = NULL, detected_at = now(), resolved_at = NULL WHERE gaps.state = 'healed'"
    };
}

/// Finds new gaps (and healed ones missing again) and marks healed ones. Returns (new, healed).
pub async fn scan(pool: &PgPool, cfg: &CompletenessConfig) -> Result<(u64, u64)> {
    let grace = cfg.grace.as_secs_f64();
    // Missing seqs of each lane, within the last 100,000 (older ones are history).
    let new_passages = sql::query(concat!(
        "INSERT INTO gaps (site, lane, kind, key, seq, next_attempt_at) \
         SELECT l.site, l.lane, 'passage', s::text, s, now() + make_interval(secs => $1) \
         FROM lanes l, generate_series(GREATEST(l.first_seq, l.last_seq - 100000), l.last_seq) s \
         WHERE l.first_seq IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM passages p WHERE p.site = l.site AND p.lane = l.lane AND p.seq = s) \
         ON CONFLICT (site, lane, kind, key) DO UPDATE SET ",
        reopen_healed!()
    ))
    .bind(grace)
    .execute(pool)
    .await?
    .rows_affected();
    let new_images = sql::query(concat!(
        "INSERT INTO gaps (site, lane, kind, key, passage_id, next_attempt_at) \
         SELECT DISTINCT ON (pi.sha256) pi.site, pi.lane, 'image', pi.sha256, pi.passage_id, now() + make_interval(secs => $1) \
         FROM passage_images pi \
         WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.sha256 = pi.sha256) \
         ON CONFLICT (site, lane, kind, key) DO UPDATE SET ",
        reopen_healed!()
    ))
    .bind(grace)
    .execute(pool)
    .await?
    .rows_affected();
    let healed = sql::query(
        "UPDATE gaps g SET state = 'healed', resolved_at = now() WHERE g.state <> 'healed' AND ( \
           (g.kind = 'passage' AND EXISTS (SELECT 1 FROM passages p WHERE p.site = g.site AND p.lane = g.lane AND p.seq = g.seq)) \
           OR (g.kind = 'image' AND EXISTS (SELECT 1 FROM images i WHERE i.sha256 = g.key)))",
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok((new_passages + new_images, healed))
}

/// Sends a `resend` for every gap due, at most `batch`. Returns how many were sent.
pub async fn request_due(
    pool: &PgPool,
    cfg: &CompletenessConfig,
    sender: &CommandSender,
    batch: i64,
) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let due: Vec<DueGap> = sql::query_as(
        "SELECT site, lane, kind, key, passage_id, seq, attempts FROM gaps \
         WHERE state = 'outstanding' AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    let mut sent = 0;
    for (site, lane, kind, key, passage, seq, attempts) in due {
        if attempts as u32 >= cfg.give_up_after {
            sql::query("UPDATE gaps SET state = 'given_up', resolved_at = now() WHERE site = $1 AND lane = $2 AND kind = $3 AND key = $4")
                .bind(&site)
                .bind(&lane)
                .bind(&kind)
                .bind(&key)
                .execute(&mut *tx)
                .await?;
            let what = match kind.as_str() {
                "passage" => format!("passage #{key}"),
                _ => format!("image {key} of {}", passage.as_deref().unwrap_or("?")),
            };
            crate::alarms::raise(
                &mut *tx,
                &site,
                &lane,
                "resend_given_up",
                passage.as_deref(),
                &format!("{site}/{lane}: {what} is still missing after {attempts} requests; given up"),
                &format!("given_up:{site}/{lane}:{kind}:{key}"),
            )
            .await?;
            continue;
        }
        let action = match (kind.as_str(), seq, passage) {
            ("passage", Some(seq), _) => Action::ResendSeq { seq: seq as u64 },
            (_, _, Some(passage)) => Action::Resend { passage },
            _ => continue,
        };
        let id = sender.send(pool, &site, &lane, "central:completeness", action).await?;
        let wait = backoff(cfg, attempts as u32).as_secs_f64();
        sql::query(
            "UPDATE gaps SET attempts = attempts + 1, last_command = $5, next_attempt_at = now() + make_interval(secs => $6) \
             WHERE site = $1 AND lane = $2 AND kind = $3 AND key = $4",
        )
        .bind(&site)
        .bind(&lane)
        .bind(&kind)
        .bind(&key)
        .bind(&id)
        .bind(wait)
        .execute(&mut *tx)
        .await?;
        sent += 1;
    }
    tx.commit().await?;
    Ok(sent)
}

/// Wait after the `attempts`-th request: first_retry, doubling, at most max_retry.
pub fn backoff(cfg: &CompletenessConfig, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.min(20));
    cfg.first_retry.saturating_mul(factor).min(cfg.max_retry)
}

/// One lane's completeness, for the API and the desk's lane wall.
#[derive(Debug, Clone, Serialize)]
pub struct LaneCompleteness {
    pub site: String,
    pub lane: String,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub passages_received: i64,
    pub images_referenced: i64,
    pub images_stored: i64,
    pub outstanding: i64,
    pub healed: i64,
    pub given_up: i64,
}

pub async fn per_lane(pool: &PgPool) -> Result<Vec<LaneCompleteness>> {
    let rows: Vec<CompletenessRow> = sql::query_as(
        "SELECT l.site, l.lane, l.first_seq, l.last_seq, \
           (SELECT count(*) FROM passages p WHERE p.site = l.site AND p.lane = l.lane), \
           (SELECT count(DISTINCT sha256) FROM passage_images pi WHERE pi.site = l.site AND pi.lane = l.lane), \
           (SELECT count(DISTINCT pi.sha256) FROM passage_images pi JOIN images i ON i.sha256 = pi.sha256 \
              WHERE pi.site = l.site AND pi.lane = l.lane), \
           count(g.*) FILTER (WHERE g.state = 'outstanding'), \
           count(g.*) FILTER (WHERE g.state = 'healed'), \
           count(g.*) FILTER (WHERE g.state = 'given_up') \
         FROM lanes l LEFT JOIN gaps g ON g.site = l.site AND g.lane = l.lane \
         GROUP BY l.site, l.lane, l.first_seq, l.last_seq ORDER BY l.site, l.lane",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                site,
                lane,
                first_seq,
                last_seq,
                passages_received,
                images_referenced,
                images_stored,
                outstanding,
                healed,
                given_up,
            )| {
                LaneCompleteness {
                    site,
                    lane,
                    first_seq,
                    last_seq,
                    passages_received,
                    images_referenced,
                    images_stored,
                    outstanding,
                    healed,
                    given_up,
                }
            },
        )
        .collect())
}

/// The loop: scan, ask, expire unanswered commands; until `stop`.
pub async fn run(
    pool: PgPool,
    cfg: CompletenessConfig,
    sender: Option<CommandSender>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(cfg.check_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match scan(&pool, &cfg).await {
            Ok((new, healed)) => {
                metrics.add("gaps_found_total", new);
                metrics.add("gaps_healed_total", healed);
            }
            Err(e) => tracing::warn!(cause = %e, "completeness scan failed; next round"),
        }
        if let Some(sender) = &sender {
            match request_due(&pool, &cfg, sender, 200).await {
                Ok(n) => metrics.add("resend_requests_total", n),
                Err(e) => tracing::warn!(cause = %e, "resend requests failed; next round"),
            }
        }
        if let Err(e) = crate::commands::expire_unanswered(&pool).await {
            tracing::warn!(cause = %e, "cannot mark expired commands");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let cfg = CompletenessConfig {
            check_every: Duration::from_secs(5),
            grace: Duration::from_secs(30),
            first_retry: Duration::from_secs(30),
            max_retry: Duration::from_secs(600),
            give_up_after: 8,
        };
        let waits: Vec<u64> = (0..8).map(|a| backoff(&cfg, a).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 600, 600, 600]);
        assert_eq!(backoff(&cfg, 1000).as_secs(), 600, "no overflow");
    }
}
