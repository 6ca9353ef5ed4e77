//! Housekeeping: images that did not complete in time are dropped (see
//! `ingest::images`), messages central once failed on are tried again (see
//! `ingest::failed`), and records and images past their retention deleted.
//!
//! Retention never deletes anything of a passage that was held (or sent to
//! inspection) and not yet reviewed: a passage goes only when it was released
//! by the lane, reviewed by a person (`review_outcome`), or marked reviewed by
//! the desk (`reviewed_at`). An image goes when no kept passage refers to it
//! and it is older than `[retention] images`. Work is done in batches with
//! `SKIP LOCKED`, so several instances share it without waiting on each other.

use std::time::Duration;

use crate::config::CentralConfig;
use crate::db::sql::{self, PgPool};
use crate::error::Result;
use crate::ingest::Ingest;
use crate::store::Store;

/// Deletes what is past retention; returns (passages, images) deleted.
pub async fn sweep(pool: &PgPool, store: &Store, records: Duration, images: Duration) -> Result<(u64, u64)> {
    let rsecs = records.as_secs_f64();
    let passages = sql::query(
        "DELETE FROM passages WHERE (site, lane, id) IN ( \
           SELECT site, lane, id FROM passages WHERE arrived_at < now() - make_interval(secs => $1) \
           AND (lane_outcome = 'release' OR review_outcome IS NOT NULL OR reviewed_at IS NOT NULL) \
           LIMIT 5000 FOR UPDATE SKIP LOCKED)",
    )
    .bind(rsecs)
    .execute(pool)
    .await?
    .rows_affected();
    for table in
        ["decisions WHERE decided_at", "command_acks WHERE acked_at", "audit_checkpoints WHERE signed_at"]
    {
        sql::query(&format!("DELETE FROM {table} < now() - make_interval(secs => $1)"))
            .bind(rsecs)
            .execute(pool)
            .await?;
    }
    // Decisions of passages still kept (held, not reviewed) stay with them.
    sql::query(
        "DELETE FROM alarms WHERE raised_at < now() - make_interval(secs => $1) AND acknowledged_at IS NOT NULL",
    )
    .bind(rsecs)
    .execute(pool)
    .await?;
    sql::query(
        "DELETE FROM gaps WHERE state <> 'outstanding' AND resolved_at < now() - make_interval(secs => $1)",
    )
    .bind(rsecs)
    .execute(pool)
    .await?;
    let mut tx = pool.begin().await?;
    let old: Vec<(String, String)> = sql::query_as(
        "SELECT sha256, object_key FROM images i WHERE stored_at < now() - make_interval(secs => $1) \
         AND NOT EXISTS (SELECT 1 FROM passage_images pi WHERE pi.sha256 = i.sha256) \
         LIMIT 1000 FOR UPDATE SKIP LOCKED",
    )
    .bind(images.as_secs_f64())
    .fetch_all(&mut *tx)
    .await?;
    for (sha, key) in &old {
        // Object first: a crash in between leaves a row whose object is gone,
        // which the next sweep deletes; never an object nobody can find.
        store.delete_image(key).await?;
        sql::query("DELETE FROM images WHERE sha256 = $1").bind(sha).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok((passages, old.len() as u64))
}

pub async fn run(ingest: Ingest, cfg: CentralConfig, mut stop: tokio::sync::watch::Receiver<bool>) {
    let every = cfg.retention.sweep_every.min(cfg.images.incomplete_expiry / 4).max(Duration::from_secs(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sweep: Option<tokio::time::Instant> = None;
    // At start every message central once failed on is tried again (an upgrade may have fixed
    // the bug); afterwards those whose wait is over.
    let mut started = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match ingest.retry_failed(!started).await {
            Ok(_) => started = true,
            Err(e) => tracing::warn!(cause = %e, "cannot retry the messages central failed on; next round"),
        }
        if let Err(e) = crate::ingest::expire_incomplete(&ingest, cfg.images.incomplete_expiry).await {
            tracing::warn!(cause = %e, "cannot expire unfinished images; next round");
        }
        if let Ok((bytes, count)) = sql::query_as::<_, (i64, i64)>(
            "SELECT COALESCE(SUM(received_bytes), 0)::bigint, count(*) FROM incoming_images WHERE expired_at IS NULL",
        )
        .fetch_one(&ingest.pool)
        .await
        {
            ingest.metrics.set("incomplete_image_bytes", bytes as f64);
            ingest.metrics.set("incomplete_images", count as f64);
        }
        if last_sweep.is_none_or(|t| t.elapsed() >= cfg.retention.sweep_every) {
            last_sweep = Some(tokio::time::Instant::now());
            match sweep(&ingest.pool, &ingest.store, cfg.retention.records, cfg.retention.images).await {
                Ok((p, i)) if p + i > 0 => tracing::info!(passages = p, images = i, "retention: deleted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(cause = %e, "retention sweep failed; next round"),
            }
        }
    }
}
