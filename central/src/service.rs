//! `lane-central run`: the long-running parts wired together — the broker
//! consumer, completeness, housekeeping (expiry, retention) and the API —
//! each a task under one shutdown signal (Ctrl-C or SIGTERM).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::commands::CommandSender;
use crate::config::CentralConfig;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::mqtt::Publisher;
use crate::state::AppState;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Database(#[from] crate::db::sql::Error),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("http listen on {addr}: {cause}")]
    Listen { addr: std::net::SocketAddr, cause: std::io::Error },
    #[error("{0}")]
    Key(#[from] crate::commands::KeyFileError),
    #[error("{0}")]
    Desk(String),
}

pub async fn run(cfg: CentralConfig) -> Result<(), StartError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    run_until(cfg, stop_rx).await
}

/// Runs until `stop` turns true (tests drive this directly).
pub async fn run_until(cfg: CentralConfig, stop: watch::Receiver<bool>) -> Result<(), StartError> {
    let pool = crate::db::connect(&cfg.database, Duration::from_secs(60)).await?;
    let store = Store::open(&cfg.store)?;
    store.probe().await?;
    let metrics = Arc::new(Metrics::default());
    let instance: Arc<str> = Arc::from(cfg.instance.as_str());
    let listener = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .map_err(|cause| StartError::Listen { addr: cfg.http.listen, cause })?;
    let (client, eventloop) = crate::mqtt::connect(&cfg.mqtt);
    let publisher = Publisher::new(client.clone());
    let sender = match &cfg.commands {
        Some(c) => Some(CommandSender::new(
            c.key_id.clone(),
            crate::commands::load_key(&c.key)?,
            c.validity,
            cfg.mqtt.topic_prefix.clone(),
            publisher.clone(),
        )),
        None => {
            tracing::warn!("no [commands] key: central will not ask lanes to resend what is missing");
            None
        }
    };
    let ingest =
        Ingest { store: store.clone(), metrics: metrics.clone(), ..Ingest::new(pool.clone(), &cfg)? };
    let consumer = tokio::spawn(crate::mqtt::consume(
        client,
        eventloop,
        cfg.filters(),
        ingest.clone(),
        cfg.mqtt.inflight as usize,
        stop.clone(),
    ));
    let completeness = tokio::spawn(crate::completeness::run(
        pool.clone(),
        cfg.completeness.clone(),
        sender,
        metrics.clone(),
        stop.clone(),
    ));
    let housekeeping = tokio::spawn(crate::retention::run(ingest.clone(), cfg.clone(), stop.clone()));
    tracing::info!(instance = %cfg.instance, listen = %cfg.http.listen, "lane-central running");
    crate::notify::ready();
    let watchdog = tokio::spawn(crate::notify::watchdog(pool.clone(), stop.clone()));
    let desk = crate::desk::Desk::new(&cfg, Some(publisher.clone()))?;
    desk.check_zones(&pool).await.map_err(StartError::Desk)?;
    let state = AppState { pool, store, instance, metrics, ingest, desk: Arc::new(desk) };
    let desk_tasks = crate::desk::spawn(&state, &cfg, stop.clone());
    let mut http_stop = stop.clone();
    let _ = crate::http::serve(listener, state, async move {
        let _ = http_stop.wait_for(|s| *s).await;
    })
    .await;
    tracing::info!("stopping: the API is closed; waiting for the consumer and housekeeping to end");
    let _ =
        tokio::join!(consumer, completeness, housekeeping, watchdog, futures::future::join_all(desk_tasks));
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    let signal = tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    };
    tracing::info!(signal, "asked to stop");
}
