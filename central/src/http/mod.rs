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
