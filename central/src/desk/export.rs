//! Corrections become data: reviewed passages exported as images plus a
//! `labels.tsv` in the layout `edge-agent ocr-eval DIR` reads (`file`,
//! `label`, `kind`, then provenance), so the reviewers' work measures and
//! retrains recognition.
//!
//! A plate image is labelled with the plate, a container image with the codes
//! its camera read (several joined by `|`), each as the reviewer corrected it
//! or, where nobody changed it, as the machine read it and a person looked at
//! it (`label_origin` says which). The page downloads a tar stream; the
//! command line (`lane-central export --out DIR`) writes a folder.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::audit::Entry;
use super::auth::Caller;
use crate::db::sql::{self, PgPool};
use crate::error::Result;
use crate::http::AppState;
use crate::store::Store;

#[derive(Debug, Default, Deserialize)]
pub struct Range {
    pub site: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One labelled image.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    pub file: String,
    pub object_key: String,
    pub label: String,
    pub camera: String,
    pub passage: (String, String, String),
    pub machine: String,
    /// `reviewer_corrected` or `reviewer_confirmed`.
    pub origin: &'static str,
}

pub const HEADER: &str = "file\tlabel\tkind\tsite\tlane\tpassage\tcamera\tmachine_read\tlabel_origin\n";

pub fn tsv(rows: &[Labelled]) -> String {
    let mut out = String::from(HEADER);
    for r in rows {
        let (site, lane, passage) = &r.passage;
        out.push_str(&format!(
            "{}\t{}\tscene\t{site}\t{lane}\t{passage}\t{}\t{}\t{}\n",
            r.file, r.label, r.camera, r.machine, r.origin
        ));
    }
    out
}

/// The labels of one passage's images from its record and its corrections
/// (`(kind, original, corrected)`, oldest first: the newest wins).
pub fn label(
    record: &Value,
    images: &[(String, String, String, String, String)],
    corrections: &[(String, String, String)],
) -> Vec<(usize, String, String, bool)> {
    let latest = |kind: &str, original: &str| {
        corrections.iter().rev().find(|(k, o, _)| k == kind && o == original).map(|c| c.2.clone())
    };
    let reads = &record["reads"];
    let mut out = Vec::new();
    for (i, (_, device, role, _, _)) in images.iter().enumerate() {
        let seen_by =
            |r: &Value| r["cameras"].as_array().is_some_and(|c| c.iter().any(|x| x == device.as_str()));
        match role.as_str() {
            "plate_image" => {
                let machine = reads["plates"][0]["text"].as_str().unwrap_or("").to_string();
                let person = corrections.iter().rev().find(|c| c.0 == "plate").map(|c| c.2.clone());
                let read_here = reads["plates"].as_array().is_some_and(|p| p.iter().any(seen_by));
                match person {
                    Some(p) => out.push((i, p, machine, true)),
                    None if read_here && !machine.is_empty() => {
                        out.push((i, machine.clone(), machine, false))
                    }
                    None => {}
                }
            }
            "container_image" => {
                let codes: Vec<&str> = reads["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| seen_by(r))
                    .filter_map(|r| r["code"].as_str())
                    .collect();
                let mut labels: Vec<String> =
                    codes.iter().map(|c| latest("container", c).unwrap_or_else(|| c.to_string())).collect();
                let mut corrected = labels.iter().zip(&codes).any(|(l, c)| l != c);
                if labels.is_empty() {
                    // The machine read nothing here; a person named what is there.
                    labels = corrections
                        .iter()
                        .filter(|c| c.0 == "container" && c.1.is_empty())
                        .map(|c| c.2.clone())
                        .collect();
                    corrected = !labels.is_empty();
                }
                if !labels.is_empty() {
                    out.push((i, labels.join("|"), codes.join("|"), corrected));
                }
            }
            _ => {}
        }
    }
    out
}

/// Every labelled image of the reviewed passages in range.
pub async fn collect(pool: &PgPool, sites: Option<Vec<String>>, r: &Range) -> Result<Vec<Labelled>> {
    let to = r.to.unwrap_or_else(Utc::now);
    let from = r.from.unwrap_or(to - Duration::days(7));
    let passages: Vec<(String, String, String, Value)> = sql::query_as(
        "SELECT p.site, p.lane, p.id, p.record FROM passages p \
         WHERE p.arrived_at >= $1 AND p.arrived_at < $2 AND ($3::text[] IS NULL OR p.site = ANY($3)) \
           AND ($4::text IS NULL OR p.site = $4) \
           AND (p.reviewed_at IS NOT NULL OR p.review_by IS NOT NULL OR EXISTS (SELECT 1 FROM desk_corrections c \
                WHERE c.site = p.site AND c.lane = p.lane AND c.passage_id = p.id)) \
         ORDER BY p.arrived_at",
    )
    .bind(from)
    .bind(to)
    .bind(sites)
    .bind(&r.site)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for (site, lane, id, record) in passages {
        let images: Vec<(String, String, String, String, String)> = sql::query_as(
            "SELECT pi.sha256, pi.device, pi.role, i.object_key, i.format FROM passage_images pi \
             JOIN images i ON i.sha256 = pi.sha256 \
             WHERE pi.site = $1 AND pi.lane = $2 AND pi.passage_id = $3 AND pi.role IN ('plate_image', 'container_image') \
             ORDER BY pi.role, pi.device",
        )
        .bind(&site)
        .bind(&lane)
        .bind(&id)
        .fetch_all(pool)
        .await?;
        let corrections: Vec<(String, String, String)> = sql::query_as(
            "SELECT kind, original, corrected FROM desk_corrections WHERE site = $1 AND lane = $2 AND passage_id = $3 ORDER BY id",
        )
        .bind(&site)
        .bind(&lane)
        .bind(&id)
        .fetch_all(pool)
        .await?;
        for (i, label, machine, corrected) in label(&record, &images, &corrections) {
            let (sha, device, _, key, format) = &images[i];
            let ext = if format == "png" { "png" } else { "jpg" };
            out.push(Labelled {
                file: format!("{}.{ext}", &sha[..16]),
                object_key: key.clone(),
                label,
                camera: device.clone(),
                passage: (site.clone(), lane.clone(), id.clone()),
                machine,
                origin: if corrected { "reviewer_corrected" } else { "reviewer_confirmed" },
            });
        }
    }
    // One image may serve two passages' rows only once in a folder.
    let mut seen = BTreeMap::new();
    out.retain(|l| seen.insert(l.file.clone(), ()).is_none());
    Ok(out)
}

/// A ustar header for a regular file.
fn tar_header(name: &str, size: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len().min(100)].copy_from_slice(&name.as_bytes()[..name.len().min(100)]);
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    h[136..147].copy_from_slice(format!("{:011o}", Utc::now().timestamp().max(0)).as_bytes());
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| *b as u32).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    h
}

fn tar_entry(name: &str, bytes: Bytes) -> Vec<Bytes> {
    let pad = (512 - bytes.len() % 512) % 512;
    vec![Bytes::copy_from_slice(&tar_header(name, bytes.len() as u64)), bytes, Bytes::from(vec![0u8; pad])]
}

/// `GET /api/desk/export`: a tar of the images and `labels.tsv`, streamed.
pub async fn download(State(s): State<AppState>, caller: Caller, Query(r): Query<Range>) -> Result<Response> {
    if let Some(site) = &r.site {
        caller.site(site)?;
    }
    let rows = collect(&s.pool, caller.site_filter(), &r).await?;
    let detail = json!({"images": rows.len(), "from": r.from, "to": r.to, "site": r.site});
    s.desk.audit.record(&s.pool, Entry::new(caller.name(), "export", detail)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let store = s.store.clone();
    tokio::spawn(async move {
        for part in tar_entry("labels.tsv", Bytes::from(tsv(&rows))) {
            if tx.send(Ok(part)).await.is_err() {
                return;
            }
        }
        for row in &rows {
            let parts = match store.image_bytes(&row.object_key).await {
                Ok(bytes) => tar_entry(&row.file, bytes),
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    return;
                }
            };
            for part in parts {
                if tx.send(Ok(part)).await.is_err() {
                    return;
                }
            }
        }
        let _ = tx.send(Ok(Bytes::from(vec![0u8; 1024]))).await;
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    let name = format!("lanectl-labels-{}.tar", Utc::now().format("%Y%m%d-%H%M"));
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `lane-central export --out DIR`: the same, into a folder.
pub async fn to_folder(
    pool: &PgPool,
    store: &Store,
    r: &Range,
    out: &std::path::Path,
) -> std::io::Result<usize> {
    let rows = collect(pool, None, r).await.map_err(std::io::Error::other)?;
    std::fs::create_dir_all(out)?;
    for row in &rows {
        let bytes = store.image_bytes(&row.object_key).await.map_err(std::io::Error::other)?;
        std::fs::write(out.join(&row.file), bytes)?;
    }
    std::fs::write(out.join("labels.tsv"), tsv(&rows))?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> Vec<(String, String, String, String, String)> {
        let img = |sha: &str, dev: &str, role: &str| {
            (sha.into(), dev.into(), role.into(), format!("k/{sha}"), "jpeg".into())
        };
        vec![
            img("p", "plate-front", "plate_image"),
            img("l", "container-left", "container_image"),
            img("r", "container-rear", "container_image"),
        ]
    }

    fn record() -> Value {
        json!({"reads": {
            "plates": [{"text": "沪A12345", "confidence": 0.6, "cameras": ["plate-front"]}],
            "containers": [{"code": "MSKU1234566", "cameras": ["container-left"]}, {"code": "CSQU3054383", "cameras": ["container-left", "container-rear"]}]
        }})
    }

    #[test]
    fn labels_follow_the_cameras_and_the_newest_correction_wins() {
        let corrections = vec![
            ("container".to_string(), "MSKU1234566".to_string(), "MSKU1234560".to_string()),
            ("container".to_string(), "MSKU1234566".to_string(), "MSKU1234565".to_string()),
        ];
        let l = label(&record(), &images(), &corrections);
        assert_eq!(l[0], (0, "沪A12345".into(), "沪A12345".into(), false), "the plate confirmed");
        assert_eq!(l[1], (1, "MSKU1234565|CSQU3054383".into(), "MSKU1234566|CSQU3054383".into(), true));
        assert_eq!(l[2], (2, "CSQU3054383".into(), "CSQU3054383".into(), false));
        let plate = vec![("plate".to_string(), "沪A12345".to_string(), "沪A12346".to_string())];
        assert_eq!(label(&record(), &images(), &plate)[0].1, "沪A12346");
    }

    #[test]
    fn a_container_the_machine_missed_is_labelled_from_the_correction() {
        let r = json!({"reads": {"plates": [], "containers": []}});
        let c = vec![("container".to_string(), String::new(), "CSQU3054383".to_string())];
        let l = label(&r, &images(), &c);
        assert_eq!(l.len(), 2, "both container images, no plate: {l:?}");
        assert!(l.iter().all(|x| x.1 == "CSQU3054383" && x.3));
    }

    #[test]
    fn tar_headers_carry_a_valid_checksum() {
        let h = tar_header("labels.tsv", 1234);
        let stored = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        let mut copy = h;
        copy[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, copy.iter().map(|b| *b as u32).sum::<u32>());
        assert_eq!(&h[124..135], b"00000002322");
        let parts = tar_entry("x", Bytes::from_static(b"abc"));
        assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), 1024);
        assert!(tsv(&[]).starts_with("file\tlabel\tkind"));
    }
}
