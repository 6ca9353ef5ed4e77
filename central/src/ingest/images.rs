//! Images: a manifest, then raw chunks, possibly at different instances, in
//! any order, twice. Assembly is shared through the database: the chunk bytes
//! wait in the store (`parts/<sha256>/<index>`), one row per image in
//! `incoming_images` counts them, and every step runs under that row's lock —
//! so whichever instance commits the last piece assembles the image, hashes
//! it, stores it once under its sha256 and records it, exactly once.
//!
//! Bounded: bytes of images in assembly over all instances stay under
//! `[images] incomplete_cap_mb` (new images beyond it are refused, counted,
//! and asked for again later by completeness); chunks without a manifest —
//! normally the manifest is only a moment behind at another instance — under
//! an eighth of that; images not whole within `incomplete_expiry` are dropped
//! (`expire_incomplete`) and their late chunks refused.

use bytes::{Bytes, BytesMut};
use contract::image::ImageManifest;
use sha2::{Digest, Sha256};

use super::{word, Ingest, IngestError, Outcome};
use crate::db::sql::{self, Transaction};

struct Incoming {
    manifest: Option<ImageManifest>,
    received: i32,
    expired: bool,
}

impl Ingest {
    pub(super) async fn manifest(
        &self,
        topic: &str,
        site: &str,
        lane: &str,
        sha: &str,
        payload: &[u8],
    ) -> Result<Outcome, IngestError> {
        let m: ImageManifest = match serde_json::from_slice(payload) {
            Ok(m) => m,
            Err(e) => return Ok(self.refuse("bad_manifest", topic, &e.to_string())),
        };
        if m.sha256 != sha {
            return Ok(self.refuse("topic_mismatch", topic, &format!("manifest of {}", m.sha256)));
        }
        if !m.is_consistent() {
            return Ok(self.refuse("bad_manifest", topic, "chunk count disagrees with the size"));
        }
        if m.bytes > self.images.max_image {
            return Ok(self.refuse("oversized_image", topic, &format!("{} bytes", m.bytes)));
        }
        if self.image_stored(sha).await? {
            return Ok(Outcome::Duplicate);
        }
        let mut tx = self.pool.begin().await?;
        let Some(incoming) = self.lock_incoming(&mut tx, site, lane, sha, m.bytes as i64).await? else {
            return Ok(self.refuse("incomplete_cap", topic, "too many bytes of images in assembly"));
        };
        if incoming.manifest.is_some() && !incoming.expired || stored_meanwhile(&mut tx, sha).await? {
            return Ok(Outcome::Duplicate);
        }
        let json = serde_json::to_value(&m).unwrap_or_default();
        sql::query(
            "UPDATE incoming_images SET manifest = $2, chunks = $3, expired_at = NULL, last_seen_at = now(), \
             first_seen_at = CASE WHEN expired_at IS NULL THEN first_seen_at ELSE now() END WHERE sha256 = $1",
        )
        .bind(sha)
        .bind(&json)
        .bind(m.chunks as i32)
        .execute(&mut *tx)
        .await?;
        let outcome = self.finish_if_whole(&mut tx, (site, lane), &m, incoming.received, topic).await?;
        tx.commit().await?;
        self.after_finish(outcome, &m).await
    }

    pub(super) async fn chunk(
        &self,
        topic: &str,
        site: &str,
        lane: &str,
        sha: &str,
        index: u32,
        payload: &[u8],
    ) -> Result<Outcome, IngestError> {
        if payload.len() as u64 > self.images.max_image {
            return Ok(self.refuse("oversized", topic, &format!("{} bytes", payload.len())));
        }
        if self.image_stored(sha).await? {
            return Ok(Outcome::Duplicate);
        }
        let mut tx = self.pool.begin().await?;
        let Some(incoming) = self.lock_incoming(&mut tx, site, lane, sha, payload.len() as i64).await? else {
            return Ok(self.refuse("incomplete_cap", topic, "too many bytes of images in assembly"));
        };
        if stored_meanwhile(&mut tx, sha).await? {
            return Ok(Outcome::Duplicate);
        }
        if incoming.expired {
            return Ok(self.refuse(
                "expired_image",
                topic,
                "its image was dropped unfinished; a resend starts it again",
            ));
        }
        if let Some(m) = &incoming.manifest {
            match m.chunk_span(index) {
                Some((_, len)) if len == payload.len() as u64 => {}
                _ => {
                    return Ok(self.refuse(
                        "bad_chunk",
                        topic,
                        &format!("chunk {index} of {} bytes does not fit the manifest", payload.len()),
                    ))
                }
            }
        } else if index >= (self.images.max_image / 1024) as u32 {
            return Ok(self.refuse("bad_chunk", topic, &format!("chunk index {index}")));
        }
        let have: Option<i32> =
            sql::query_scalar("SELECT idx FROM image_parts WHERE sha256 = $1 AND idx = $2")
                .bind(sha)
                .bind(index as i32)
                .fetch_optional(&mut *tx)
                .await?;
        if have.is_some() {
            return Ok(Outcome::Duplicate);
        }
        self.store.put_part(sha, index, Bytes::copy_from_slice(payload)).await?;
        sql::query("INSERT INTO image_parts (sha256, idx, bytes) VALUES ($1, $2, $3)")
            .bind(sha)
            .bind(index as i32)
            .bind(payload.len() as i32)
            .execute(&mut *tx)
            .await?;
        sql::query(
            "UPDATE incoming_images SET received = received + 1, received_bytes = received_bytes + $2, last_seen_at = now() \
             WHERE sha256 = $1",
        )
        .bind(sha)
        .bind(payload.len() as i64)
        .execute(&mut *tx)
        .await?;
        let Some(m) = incoming.manifest else {
            tx.commit().await?;
            return Ok(Outcome::Stored);
        };
        let outcome = self.finish_if_whole(&mut tx, (site, lane), &m, incoming.received + 1, topic).await?;
        tx.commit().await?;
        self.after_finish(outcome, &m).await
    }

    async fn image_stored(&self, sha: &str) -> Result<bool, IngestError> {
        Ok(sql::query_scalar::<_, i32>("SELECT 1 FROM images WHERE sha256 = $1")
            .bind(sha)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// The image's assembly row, created if new (within the cap), locked for
    /// this transaction. None: refused by the cap.
    async fn lock_incoming(
        &self,
        tx: &mut Transaction<'_>,
        site: &str,
        lane: &str,
        sha: &str,
        adding: i64,
    ) -> Result<Option<Incoming>, IngestError> {
        let row = select_incoming(tx, sha).await?;
        let row = match row {
            Some(row) => row,
            None => {
                let (total, orphans): (i64, i64) = sql::query_as(
                    "SELECT COALESCE(SUM(received_bytes), 0)::bigint, \
                     COALESCE(SUM(received_bytes) FILTER (WHERE manifest IS NULL), 0)::bigint FROM incoming_images",
                )
                .fetch_one(&mut **tx)
                .await?;
                let cap = self.images.incomplete_cap as i64;
                if total + adding > cap || orphans + adding > cap / 8 {
                    return Ok(None);
                }
                crate::registry::touch(&mut **tx, site, lane).await?;
                sql::query("INSERT INTO incoming_images (sha256, site, lane) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(sha)
                    .bind(site)
                    .bind(lane)
                    .execute(&mut **tx)
                    .await?;
                // Gone again already: another transaction held the row (its insert made
                // ours do nothing), completed the image and deleted the row before this
                // select could lock it. Tried again, the message finds the image stored.
                select_incoming(tx, sha).await?.ok_or_else(|| {
                    IngestError::Transient("the image's assembly row went while it was being made".into())
                })?
            }
        };
        Ok(Some(row))
    }

    /// With every chunk in, assembles, checks the hash and stores the image.
    async fn finish_if_whole(
        &self,
        tx: &mut Transaction<'_>,
        (site, lane): (&str, &str),
        m: &ImageManifest,
        received: i32,
        topic: &str,
    ) -> Result<Finish, IngestError> {
        if received < m.chunks as i32 {
            return Ok(Finish::Waiting);
        }
        let mut bytes = BytesMut::with_capacity(m.bytes as usize);
        for i in 0..m.chunks {
            match self.store.get_part(&m.sha256, i).await {
                Ok(part) => bytes.extend_from_slice(&part),
                // Recorded but gone (a filesystem store after a power cut): no
                // retry brings it back; drop the image and let completeness ask.
                Err(object_store::Error::NotFound { .. }) => break,
                Err(e) => return Err(e.into()),
            }
        }
        let bytes = bytes.freeze();
        let actual = hex::encode(Sha256::digest(&bytes));
        sql::query("DELETE FROM incoming_images WHERE sha256 = $1")
            .bind(&m.sha256)
            .execute(&mut **tx)
            .await?;
        if actual != m.sha256 || bytes.len() as u64 != m.bytes {
            self.refuse("image_hash_mismatch", topic, &format!("{} bytes hash to {actual}", bytes.len()));
            return Ok(Finish::Corrupt);
        }
        let key = self.store.put_image(&m.sha256, bytes).await?;
        sql::query(
            "INSERT INTO images (sha256, bytes, format, width, height, camera, site, lane, passage_id, object_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&m.sha256)
        .bind(m.bytes as i64)
        .bind(word(&m.format))
        .bind(m.width as i32)
        .bind(m.height as i32)
        .bind(&m.camera)
        .bind(site)
        .bind(lane)
        .bind(&m.passage)
        .bind(&key)
        .execute(&mut **tx)
        .await?;
        Ok(Finish::Stored)
    }

    /// After the commit: the parts are no longer needed (a crash before this
    /// leaves a few orphan objects, never a wrong image).
    async fn after_finish(&self, f: Finish, m: &ImageManifest) -> Result<Outcome, IngestError> {
        match f {
            Finish::Waiting => Ok(Outcome::Stored),
            Finish::Stored => {
                self.metrics.add("images_stored_total", 1);
                self.metrics.add("image_bytes_stored_total", m.bytes);
                let _ = self.store.delete_parts(&m.sha256, m.chunks).await;
                Ok(Outcome::Stored)
            }
            Finish::Corrupt => {
                let _ = self.store.delete_parts(&m.sha256, m.chunks).await;
                Ok(Outcome::Refused("image_hash_mismatch"))
            }
        }
    }
}

enum Finish {
    Waiting,
    Stored,
    Corrupt,
}

/// Another instance may have finished the image while this one waited for
/// its lock (and the row it waited on is gone): checked under the lock, so a
/// late duplicate never starts a second assembly. Rolling back drops the row
/// this transaction may have made.
async fn stored_meanwhile(tx: &mut Transaction<'_>, sha: &str) -> Result<bool, sql::Error> {
    let found: Option<i32> = sql::query_scalar("SELECT 1 FROM images WHERE sha256 = $1")
        .bind(sha)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(found.is_some())
}

async fn select_incoming(tx: &mut Transaction<'_>, sha: &str) -> Result<Option<Incoming>, sql::Error> {
    let row: Option<(Option<serde_json::Value>, i32, bool)> = sql::query_as(
        "SELECT manifest, received, expired_at IS NOT NULL FROM incoming_images WHERE sha256 = $1 FOR UPDATE",
    )
    .bind(sha)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|(manifest, received, expired)| Incoming {
        manifest: manifest.and_then(|m| serde_json::from_value(m).ok()),
        received,
        expired,
    }))
}

/// Drops images not whole within `expiry`: their parts go, a tombstone stays
/// for another `expiry` so late chunks are refused; older tombstones go too.
/// Returns how many images were dropped.
pub async fn expire_incomplete(ingest: &Ingest, expiry: std::time::Duration) -> Result<u64, IngestError> {
    let secs = expiry.as_secs_f64();
    let mut tx = ingest.pool.begin().await?;
    let stale: Vec<(String, Option<i32>)> = sql::query_as(
        "SELECT sha256, chunks FROM incoming_images WHERE expired_at IS NULL \
         AND first_seen_at < now() - make_interval(secs => $1) ORDER BY first_seen_at LIMIT 500 FOR UPDATE SKIP LOCKED",
    )
    .bind(secs)
    .fetch_all(&mut *tx)
    .await?;
    let mut parts = Vec::new();
    for (sha, _) in &stale {
        let idx: Vec<i32> = sql::query_scalar("DELETE FROM image_parts WHERE sha256 = $1 RETURNING idx")
            .bind(sha)
            .fetch_all(&mut *tx)
            .await?;
        parts.push((sha.clone(), idx));
        sql::query(
            "UPDATE incoming_images SET expired_at = now(), manifest = NULL, chunks = NULL, received = 0, received_bytes = 0 \
             WHERE sha256 = $1",
        )
        .bind(sha)
        .execute(&mut *tx)
        .await?;
    }
    sql::query("DELETE FROM incoming_images WHERE expired_at < now() - make_interval(secs => $1)")
        .bind(secs)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    for (sha, idx) in parts {
        let top = idx.iter().copied().max().map_or(0, |m| m + 1);
        let _ = ingest.store.delete_parts(&sha, top as u32).await;
    }
    if !stale.is_empty() {
        ingest.metrics.add("images_expired_total", stale.len() as u64);
        tracing::warn!(
            count = stale.len(),
            "images dropped unfinished after the expiry; completeness asks for them again"
        );
    }
    Ok(stale.len() as u64)
}
