//! Messages central's own handler failed on (it panicked: a bug in central) are kept, not lost.
//!
//! The consumer still acknowledges such a message: unacknowledged, it would hold one of the
//! broker's in-flight slots for as long as the connection lasts, enough of them stop all
//! delivery, and one that always fails would come back on every reconnect. So the message is
//! kept in `quarantine` as `handler_failed`, one central alarm names it, and it is tried again:
//! at every start (an upgrade may have fixed the bug) and after a backoff growing from a minute
//! to six hours (the failure may have been a race that will not recur). A message taken up
//! again is marked released, whatever became of it (stored, a duplicate, refused, quarantined
//! for its own reasons): it then went where any other message goes.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use contract::topics;
use futures::FutureExt;
use sha2::{Digest, Sha256};

use super::{leaf_name, Ingest, IngestError, Outcome};
use crate::db::sql;

/// The quarantine kind of a message the handler failed on.
pub const HANDLER_FAILED: &str = "handler_failed";

/// The wait before the first retry; it doubles with every failure, up to [`LAST_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(60);
const LAST_RETRY: Duration = Duration::from_secs(6 * 3600);

/// Kept messages taken per round: a round is short, the rest wait for the next one.
const ROUND: i64 = 100;

/// What one round of retries did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Retried {
    /// Handled this time (and released from quarantine).
    pub done: u64,
    /// Failed again; tried later.
    pub failed_again: u64,
}

/// The wait after `attempts` failed tries (the first failure included).
fn backoff(attempts: i32) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 16) as u32;
    FIRST_RETRY.saturating_mul(1 << doublings).min(LAST_RETRY)
}

impl Ingest {
    /// Keeps a message the handler failed on and raises one central alarm for it. A message
    /// already in quarantine (the same topic and content) is left as it is.
    pub async fn keep_failed(&self, topic: &str, payload: &[u8]) -> Result<(), IngestError> {
        let (site, lane, leaf) = match topics::parse(&self.prefix, topic) {
            Ok(t) => (t.site, t.lane, leaf_name(&t.leaf)),
            // The handler refuses such topics before it could fail; kept all the same.
            Err(_) => (String::new(), String::new(), "unknown"),
        };
        let sha = hex::encode(Sha256::digest(payload));
        let mut tx = self.pool.begin().await?;
        let kept: Option<i64> = sql::query_scalar(
            "INSERT INTO quarantine (topic, site, lane, leaf, kind, detail, payload, payload_sha256, \
             attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, now() + make_interval(secs => $9)) \
             ON CONFLICT (topic, payload_sha256) DO NOTHING RETURNING id",
        )
        .bind(topic)
        .bind(&site)
        .bind(&lane)
        .bind(leaf)
        .bind(HANDLER_FAILED)
        .bind("central failed on this message (a bug; its log names the topic); tried again")
        .bind(payload)
        .bind(&sha)
        .bind(backoff(1).as_secs_f64())
        .fetch_optional(&mut *tx)
        .await?;
        if kept.is_some() {
            crate::alarms::raise(
                &mut *tx,
                &site,
                &lane,
                HANDLER_FAILED,
                None,
                &format!(
                    "central failed on a message ({leaf} on {topic}), a bug: kept in quarantine, \
                     tried again at every start and with backoff"
                ),
                &format!("{HANDLER_FAILED}:{sha}"),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Tries kept messages again with the real handler: all of them (`everything`, at start)
    /// or those whose wait is over.
    pub async fn retry_failed(&self, everything: bool) -> Result<Retried, IngestError> {
        self.retry_failed_with(
            everything,
            |topic, payload| async move { self.handle(&topic, &payload).await },
        )
        .await
    }

    /// [`Ingest::retry_failed`] with the given handler. A transient failure ends the round
    /// (the database or the store refused; nothing changes, the next round tries again).
    pub async fn retry_failed_with<F, Fut>(&self, everything: bool, handle: F) -> Result<Retried, IngestError>
    where
        F: Fn(String, Vec<u8>) -> Fut,
        Fut: Future<Output = Result<Outcome, IngestError>>,
    {
        let due: Vec<(i64, String, Vec<u8>, i32)> = sql::query_as(
            "SELECT id, topic, payload, attempts FROM quarantine WHERE kind = $1 AND released_at IS NULL \
             AND ($2 OR next_attempt_at <= now()) ORDER BY id LIMIT $3",
        )
        .bind(HANDLER_FAILED)
        .bind(everything)
        .bind(ROUND)
        .fetch_all(&self.pool)
        .await?;
        let mut round = Retried::default();
        for (id, topic, payload, attempts) in due {
            match AssertUnwindSafe(handle(topic.clone(), payload)).catch_unwind().await {
                Ok(Ok(outcome)) => {
                    sql::query("UPDATE quarantine SET released_at = now() WHERE id = $1")
                        .bind(id)
                        .execute(&self.pool)
                        .await?;
                    tracing::info!(%topic, outcome = outcome.word(), "a message central had failed on is taken up");
                    round.done += 1;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    let attempts = attempts.saturating_add(1);
                    sql::query(
                        "UPDATE quarantine SET attempts = $2, next_attempt_at = now() + make_interval(secs => $3) \
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(attempts)
                    .bind(backoff(attempts).as_secs_f64())
                    .execute(&self.pool)
                    .await?;
                    self.metrics.add("handler_panics_total", 1);
                    tracing::error!(%topic, attempts, "central failed on this message again (a bug); kept");
                    round.failed_again += 1;
                }
            }
        }
        Ok(round)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_from_a_minute_to_six_hours() {
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(2), Duration::from_secs(120));
        assert_eq!(backoff(5), Duration::from_secs(960));
        assert_eq!(backoff(9), Duration::from_secs(15_360));
        assert_eq!(backoff(10), LAST_RETRY);
        assert_eq!(backoff(i32::MAX), LAST_RETRY);
        assert_eq!(backoff(0), FIRST_RETRY);
    }
}
