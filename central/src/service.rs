//! `lane-central run`: the long-running parts wired together — database,
//! store, the API — each a task under one shutdown signal (Ctrl-C or SIGTERM).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::CentralConfig;
use crate::http::AppState;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Database(#[from] crate::db::sql::Error),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("http listen on {addr}: {cause}")]
    Listen { addr: std::net::SocketAddr, cause: std::io::Error },
}

pub async fn run(cfg: CentralConfig) -> Result<(), StartError> {
    let pool = crate::db::connect(&cfg.database, Duration::from_secs(60)).await?;
    let store = Store::open(&cfg.store)?;
    store.probe().await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let listener = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .map_err(|cause| StartError::Listen { addr: cfg.http.listen, cause })?;
    tracing::info!(instance = %cfg.instance, listen = %cfg.http.listen, "lane-central running");
    let state = AppState { pool, store, instance: Arc::from(cfg.instance.as_str()) };
    let mut stop = stop_rx.clone();
    let _ = crate::http::serve(listener, state, async move {
        let _ = stop.wait_for(|s| *s).await;
    })
    .await;
    Ok(())
}

async fn shutdown_signal() {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
