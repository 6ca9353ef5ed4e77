//! The JSON API (axum): one module per resource, thin handlers over the
//! resource modules' queries, one error type ([`crate::Error`]).
//!
//! The reviewers' desk adds its own routes by merging a router in
//! [`router`] (see docs/design/central.md); everything it needs from here is
//! in [`AppState`].

pub mod image_body;
mod lanes;
mod resources;

use axum::routing::get;
use axum::{Json, Router};

use crate::db::sql;

pub use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .nest("/api", api())
        .merge(crate::desk::router())
        .layer(axum::middleware::from_fn(json_errors))
        // Every route but the login page and the operational ones needs a login.
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::desk::auth::gate))
        // Outermost, so the login check counts too.
        .layer(axum::middleware::from_fn(server_timing))
        .with_state(state)
}

fn api() -> Router<AppState> {
    Router::new().merge(lanes::routes()).merge(resources::routes())
}

/// Says how long the server took to produce the answer (`Server-Timing:
/// app;dur=MS`, shown by the browser's network panel): the desk's benchmark
/// reads it to report server time apart from the network's. For a stream
/// (server-sent events) it is the time to the first byte.
async fn server_timing(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let start = std::time::Instant::now();
    let mut response = next.run(request).await;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if let Ok(value) = axum::http::HeaderValue::from_str(&format!("app;dur={ms:.2}")) {
        response.headers_mut().insert("server-timing", value);
    }
    response
}

/// The API answers every refusal as `{"error": ...}`, also the ones axum's extractors make
/// before a handler runs (a body that is not JSON, a path segment that is not a number, a body
/// over the limit), which come as plain text or empty; a program and the desk's page then read
/// one shape.
async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !api || !response.status().is_client_error() || json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Extractors' messages are a line or two; a longer body is not buffered, the status's
    // reason stands in for it.
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_string(),
        _ => parts.status.canonical_reason().unwrap_or("refused").to_lowercase(),
    };
    (parts.status, Json(serde_json::json!({ "error": text }))).into_response()
}

async fn healthz(
    axum::extract::State(s): axum::extract::State<AppState>,
) -> crate::error::Result<Json<serde_json::Value>> {
    sql::query("SELECT 1").execute(&s.pool).await?;
    Ok(Json(serde_json::json!({"status": "ok", "instance": &*s.instance})))
}

async fn metrics(axum::extract::State(s): axum::extract::State<AppState>) -> String {
    s.metrics.render()
}

/// Serves the API until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
