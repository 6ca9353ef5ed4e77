//! The page's handlers. Bad input is answered with a 4xx and a sentence,
//! never a panic; device trouble with 502, a lane loop that does not answer
//! with 504.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Sources;
use crate::lane::DiagError;
use crate::metrics::{Now, StorageNow};
use contract::image::ImageRef;
use contract::passage::PassageRecord;

/// Passages the page may ask for at once.
const MAX_PASSAGES: usize = 50;

pub async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(include_str!("page.html")))
}

/// The page's words: the lane's vocabulary in both languages (`crate::words`, the same as
/// the command line's), the language the lane file chose and the one the browser asks for.
pub async fn words(State(s): State<Sources>, headers: axum::http::HeaderMap) -> Json<Value> {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::words::Lang::from_accept_language);
    let terms: serde_json::Map<String, Value> = crate::words::TABLES
        .iter()
        .map(|(name, table)| {
            let t: serde_json::Map<String, Value> =
                table.iter().map(|t| (t.key.to_string(), json!({ "en": t.en, "zh": t.zh }))).collect();
            (name.to_string(), Value::Object(t))
        })
        .collect();
    Json(json!({ "configured": s.language, "accept": accept, "terms": terms }))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub async fn metrics(State(s): State<Sources>) -> impl IntoResponse {
    let view = s.technician.view();
    let now = Now {
        devices: view.devices,
        outbox: Some(s.outbox.depth().await),
        now_ms: now_ms(),
        uplink_connected: *s.uplink_connected.borrow(),
        loop_beats: view.beats,
        completed: view.completed,
        link: s.link.clone(),
        outbox_counters: s.outbox_counters.clone(),
        storage: s.storage.as_ref().map(|g| StorageNow {
            free: g.free(),
            floor: g.limits().floor,
            full: g.is_full(),
        }),
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], s.metrics.render(&now))
}

pub async fn status(State(s): State<Sources>) -> Json<Value> {
    let d = s.outbox.depth().await;
    let oldest_age_s = d.oldest_ms.map(|t| (now_ms() - t).max(0) as f64 / 1000.0);
    Json(json!({
        "site": s.site,
        "lane": s.lane,
        "version": env!("CARGO_PKG_VERSION"),
        "state": s.technician.view(),
        "uplink": { "connected": *s.uplink_connected.borrow() },
        "storage": s.storage.as_ref().map(|g| json!({
            "free_bytes": g.free(), "floor_bytes": g.limits().floor, "full": g.is_full(),
        })),
        "outbox": {
            "messages": d.messages, "bytes": d.bytes, "results": d.results,
            "images": d.images, "telemetry": d.telemetry, "oldest_age_s": oldest_age_s,
        },
        "log_filter": crate::logs::filter(),
    }))
}

#[derive(Deserialize)]
pub struct Count {
    n: Option<usize>,
}

/// The newest passages from the archive, as published, without the previews
/// (the page loads the full images).
pub async fn passages(State(s): State<Sources>, Query(q): Query<Count>) -> Response {
    let n = q.n.unwrap_or(10).min(MAX_PASSAGES);
    let dir = s.data_dir.join("records");
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<PassageRecord>> {
        // usize::MAX: reading must never prune; the lane owns the archive's bound.
        let archive = crate::archive::Archive::open(&dir, usize::MAX)?;
        Ok(archive
            .latest(n)
            .iter()
            .filter_map(|p| serde_json::from_slice::<PassageRecord>(&std::fs::read(p).ok()?).ok())
            .map(strip_previews)
            .collect())
    })
    .await;
    match read {
        Ok(Ok(records)) => Json(records).into_response(),
        Ok(Err(e)) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "archive_unreadable",
            format!("cannot read the passage archive: {}", crate::words::without_os_codes(&e.to_string())),
        ),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

fn strip_previews(mut r: PassageRecord) -> PassageRecord {
    for c in &mut r.captures {
        if let Some(i) = &mut c.image {
            i.preview_jpeg = None;
        }
    }
    if let Some(i) = r.empty_check.as_mut().and_then(|e| e.image.as_mut()) {
        i.preview_jpeg = None;
    }
    if let Some(i) = r.uvss.as_mut().and_then(|u| u.overlay.as_mut()) {
        i.preview_jpeg = None;
    }
    r
}

/// `/images/<sha256>.<jpg|png>` from the content-addressed store.
pub async fn image(State(s): State<Sources>, Path(file): Path<String>) -> Response {
    let Some((sha, ext)) = file.split_once('.') else {
        return problem(StatusCode::NOT_FOUND, "no_image", "no such image");
    };
    let hex = sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let mime = match ext {
        "jpg" => "image/jpeg",
        "png" => "image/png",
        _ => return problem(StatusCode::NOT_FOUND, "no_image", "no such image"),
    };
    if !hex {
        return problem(StatusCode::NOT_FOUND, "no_image", "no such image");
    }
    let path = s.data_dir.join("images").join(&sha[..2]).join(&file);
    match tokio::fs::read(&path).await {
        // Content-addressed: the same name never means other bytes.
        Ok(bytes) => {
            ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "max-age=31536000, immutable")], bytes)
                .into_response()
        }
        Err(_) => problem(
            StatusCode::NOT_FOUND,
            "no_image",
            "no such image (it may have been removed to make room)",
        ),
    }
}

/// An error answer: `code` for the page to say it in its language, `error` in English.
fn problem(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(json!({ "code": code, "error": message.into() }))).into_response()
}

fn diag(e: DiagError) -> Response {
    let (status, code) = match e {
        DiagError::Refused(_) => (StatusCode::CONFLICT, "refused"),
        DiagError::NoDevice(_) => (StatusCode::NOT_FOUND, "no_device"),
        DiagError::Device(_) => (StatusCode::BAD_GATEWAY, "device_error"),
        DiagError::NoAnswer => (StatusCode::GATEWAY_TIMEOUT, "no_answer"),
    };
    problem(status, code, e.to_string())
}

fn image_json(i: &ImageRef) -> Value {
    json!({
        "sha256": i.sha256, "width": i.width, "height": i.height, "bytes": i.bytes,
        "url": format!("/images/{}.{}", i.sha256, i.format.extension()),
    })
}

pub async fn cycle_barrier(State(s): State<Sources>) -> Response {
    match s.technician.cycle_barrier(s.action_limit).await {
        Ok(message) => Json(json!({ "ok": true, "message": message })).into_response(),
        Err(e) => diag(e),
    }
}

#[derive(Deserialize)]
pub struct Device {
    device: String,
}

pub async fn snapshot(State(s): State<Sources>, Query(q): Query<Device>) -> Response {
    match s.technician.snapshot(&q.device, s.action_limit).await {
        Ok(image) => {
            Json(json!({ "ok": true, "device": q.device, "image": image_json(&image) })).into_response()
        }
        Err(e) => diag(e),
    }
}

pub async fn read_seals(State(s): State<Sources>) -> Response {
    match s.technician.read_seals(s.action_limit).await {
        Ok(seals) => Json(json!({ "ok": true, "seals": seals })).into_response(),
        Err(e) => diag(e),
    }
}

#[derive(Deserialize)]
pub struct Release {
    passage: String,
    operator: String,
    password: String,
}

/// Degraded operation: a local operator releases a held vehicle while the
/// uplink is down. The password is checked here, off the lane loop (it is
/// slow on purpose); wrong ones are audited and lock the operator out after a
/// few tries; the lane then judges whether the vehicle is held.
pub async fn local_release(State(s): State<Sources>, Json(r): Json<Release>) -> Response {
    if s.operators.is_empty() {
        return problem(
            StatusCode::FORBIDDEN,
            "no_operators",
            "no local operators are configured on this lane ([operators] in the lane config)",
        );
    }
    if *s.uplink_connected.borrow() {
        return problem(
            StatusCode::CONFLICT,
            "uplink_up",
            "the uplink is up: central reviews held vehicles; local release is for when it is down",
        );
    }
    let (ops, operator, password) = (s.operators.clone(), r.operator.clone(), r.password);
    let checked =
        tokio::task::spawn_blocking(move || ops.check(&operator, &password, std::time::Instant::now())).await;
    match checked {
        Ok(Ok(())) => match s.technician.local_release(&r.passage, &r.operator, s.action_limit).await {
            Ok(message) => Json(
                json!({ "ok": true, "released_by": format!("local:{}", r.operator), "message": message }),
            )
            .into_response(),
            Err(e) => diag(e),
        },
        Ok(Err(denied)) => {
            s.technician.operator_refused(&r.operator, &r.passage, &denied.to_string());
            let (status, code) = match denied {
                crate::operator::Denied::Wrong => (StatusCode::UNAUTHORIZED, "wrong_password"),
                crate::operator::Denied::Locked { .. } => (StatusCode::TOO_MANY_REQUESTS, "locked"),
            };
            problem(status, code, denied.to_string())
        }
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

pub async fn log_filter() -> String {
    crate::logs::filter() + "\n"
}

/// The body is the new filter, e.g. `info,edge_agent::lane=debug`.
pub async fn set_log_filter(body: String) -> Response {
    match crate::logs::set_filter(&body) {
        Ok(()) => Json(json!({ "ok": true, "filter": crate::logs::filter() })).into_response(),
        Err(e) => problem(StatusCode::BAD_REQUEST, "bad_filter", e),
    }
}
