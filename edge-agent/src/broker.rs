//! The embedded default broker: when the configuration names no broker, the agent
//! runs a Mosquitto of its own on loopback, so a lone lane (or the demo) works
//! out of the box and a follower can still watch it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("no broker is configured and mosquitto is not installed; install it (apt-get install mosquitto) or set [mqtt] host")]
    NotInstalled,
    #[error("could not start mosquitto: {0}")]
    Spawn(std::io::Error),
    #[error("mosquitto did not accept connections on {0}; see {1}")]
    NotReady(String, String),
}

pub struct EmbeddedBroker {
    child: Child,
}

fn find_mosquitto() -> Option<PathBuf> {
    let candidates = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"];
    if let Some(p) = candidates.iter().map(PathBuf::from).find(|p| p.exists()) {
        return Some(p);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join("mosquitto"))
        .find(|p| p.exists())
}

impl EmbeddedBroker {
    pub async fn start(listen: &str, port: u16, dir: &Path) -> Result<Self, BrokerError> {
        let binary = find_mosquitto().ok_or(BrokerError::NotInstalled)?;
        std::fs::create_dir_all(dir).map_err(BrokerError::Spawn)?;
        let conf = dir.join("mosquitto.conf");
        let text = format!(
            "# Written by edge-agent for its embedded broker; rewritten at every start.\n\
             listener {port} {listen}\nallow_anonymous true\npersistence false\n"
        );
        std::fs::write(&conf, text).map_err(BrokerError::Spawn)?;
        let log = dir.join("mosquitto.log");
        let log_file = std::fs::File::create(&log).map_err(BrokerError::Spawn)?;
        let mut cmd = Command::new(binary);
        cmd.arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe; it makes the kernel stop the broker
        // when the agent dies, even by SIGKILL, so no orphan keeps the port.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(BrokerError::Spawn)?;
        let address = format!("{listen}:{port}");
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                break; // exited: bad config or port taken; the log says which
            }
            if tokio::net::TcpStream::connect(&address).await.is_ok() {
                tracing::info!(%address, "embedded mosquitto is up");
                return Ok(EmbeddedBroker { child });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(BrokerError::NotReady(address, log.display().to_string()))
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
