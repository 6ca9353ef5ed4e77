//! `edge-agent run`: everything one lane needs, started in order and stopped
//! cleanly — embedded broker (when none is configured), simulated lane (when the
//! configuration has one), uplink, and the lane itself.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use contract::lane::{LaneState, LaneStatus, SigningKeyInfo};
use contract::Topics;
use tokio::signal::unix::{signal, SignalKind};
use tracing::info;

use crate::broker::{BrokerError, EmbeddedBroker};
use crate::config::{Broker, LaneConfig};
use crate::lane::{Lane, LaneError};
use crate::mqtt::{self, Will};
use crate::outbox::{OutboxHandle, Pressure};
use crate::signing::KeyFileError;
use crate::storage::DiskGuard;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Lane(#[from] LaneError),
    #[error("cannot open the outbox: {0}")]
    Outbox(#[from] crate::outbox::OutboxError),
    #[error("cannot create data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("TLS: {0}")]
    Tls(#[from] crate::mqtt::uplink::TlsFileError),
    #[error(transparent)]
    Signing(#[from] KeyFileError),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

fn status(cfg: &LaneConfig, state: LaneState, signing_key: &SigningKeyInfo, since: DateTime<Utc>) -> Vec<u8> {
    let status = LaneStatus {
        signing_key: Some(signing_key.clone()),
        state,
        site: cfg.site.clone(),
        lane: cfg.lane.clone(),
        agent_version: env!("CARGO_PKG_VERSION").into(),
        since,
    };
    serde_json::to_vec(&status).expect("status serialises")
}

/// Service managers start programs with a soft limit of 1,024 descriptors and a much higher hard
/// one; the lane takes what it is allowed, so a burst of connections to its page or many images
/// in flight do not run it out. (The page and the outbox also cope when it does run out.)
fn raise_descriptor_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit on a valid struct; no other effect.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

pub async fn run(cfg: LaneConfig) -> Result<(), AgentError> {
    raise_descriptor_limit();
    let mut term = signal(SignalKind::terminate()).map_err(AgentError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(AgentError::Signals)?;

    let (broker, host, port) = match &cfg.mqtt.broker {
        Broker::Remote { host, port } => (None, host.clone(), *port),
        Broker::Embedded { listen, port } => {
            let b = EmbeddedBroker::start(listen, *port, &cfg.data_dir.join("broker")).await?;
            (Some(b), listen.clone(), *port)
        }
    };
    let topics = Topics::new(&cfg.mqtt.topic_prefix, &cfg.site, &cfg.lane);
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| AgentError::DataDir(cfg.data_dir.display().to_string(), e))?;
    let signer = crate::signing::load_or_create(&cfg.signing.key, &cfg.signing.key_id)?;
    let key = SigningKeyInfo { key_id: signer.key_id.clone(), public_key: signer.public_b64() };
    let status_of = {
        let (cfg, key) = (cfg.clone(), key.clone());
        move |online: bool, since| {
            let state = if online { LaneState::Online } else { LaneState::Offline };
            status(&cfg, state, &key, since)
        }
    };
    let will = Will { topic: topics.status(), status: Box::new(status_of) };
    let storage = DiskGuard::open(&cfg.data_dir, cfg.storage)
        .map_err(|e| AgentError::DataDir(cfg.data_dir.display().to_string(), e))?;
    let pressure = Pressure { guard: storage.clone(), images: Some(cfg.data_dir.join("images")) };
    let outbox = OutboxHandle::open_with(&cfg.data_dir.join("outbox.db"), cfg.outbox_quota, pressure)?;
    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::channel(64);
    let inbox = mqtt::Inbox { topic: topics.cmd(), tx: cmd_tx, limit: cfg.mqtt.max_command_size as usize };
    let uplink = mqtt::start(&cfg.mqtt, &host, port, will, outbox, Some(inbox))?;

    let sim = crate::lane::sim_lane(&cfg);
    if let (Some(lane), Some(s)) = (&sim, &cfg.sim) {
        info!(vehicles = s.plan.vehicles, "simulated traffic starts");
        tokio::spawn(lane.clone().run_traffic(s.plan.clone()));
    }
    let web = crate::web::Setup::new(&cfg, &uplink, storage.clone());
    let lane = Lane::with_storage(cfg, sim, Arc::new(uplink.clone()), storage.clone())?;
    lane.accept_commands(cmd_rx);
    let web = web.start(lane.technician(), lane.metrics()).await;
    crate::logs::reload_on_sighup().map_err(AgentError::Signals)?;
    // Devices built, uplink and page started: systemd may call the service up.
    crate::notify::ready("lane running");
    lane.run(async {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: stopping"),
            _ = int.recv() => info!("SIGINT: stopping"),
        }
        crate::notify::stopping();
    })
    .await;
    if let Some(w) = web {
        w.stop().await;
    }
    // The final checkpoint goes out before `offline`; what cannot go within the grace stays in
    // the outbox for the next start.
    uplink.close(Duration::from_secs(3)).await;
    if let Some(b) = broker {
        b.stop().await;
    }
    Ok(())
}
