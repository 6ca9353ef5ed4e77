//! The embedded default broker: when the configuration names no broker, the agent
//! runs a Mosquitto of its own on loopback, so a lone lane (or the demo) works
//! out of the box and a follower can still watch it.
//!
//! Its port must be free. Were another program listening there, mosquitto would exit, yet the
//! readiness check would connect to that program and take it for ours: two demo lanes on one
//! port share a broker and a client id, and throw each other off it for as long as they run.

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
    #[error("{0} is already in use by another program (another lane's broker?); set [mqtt] embedded_listen to a free port")]
    PortTaken(String),
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

/// Whether another program listens on `address` already. (Other failures to bind, such as an
/// address this machine does not have, are left for mosquitto to report in its log.)
fn taken(address: &str) -> bool {
    matches!(std::net::TcpListener::bind(address), Err(e) if e.kind() == std::io::ErrorKind::AddrInUse)
}

impl EmbeddedBroker {
    pub async fn start(listen: &str, port: u16, dir: &Path) -> Result<Self, BrokerError> {
        let address = format!("{listen}:{port}");
        if taken(&address) {
            return Err(BrokerError::PortTaken(address));
        }
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
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                break; // exited: bad config or port taken; the log says which
            }
            // Ours only while it still runs: a program that took the port meanwhile answers too.
            let answered = tokio::net::TcpStream::connect(&address).await.is_ok();
            if answered && matches!(child.try_wait(), Ok(None)) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_port_another_program_listens_on_is_refused_not_joined() {
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = other.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let refused = EmbeddedBroker::start("127.0.0.1", port, dir.path()).await.err();
        assert!(
            matches!(&refused, Some(BrokerError::PortTaken(a)) if *a == format!("127.0.0.1:{port}")),
            "{:?}",
            refused.map(|e| e.to_string())
        );
        assert!(!dir.path().join("mosquitto.conf").exists(), "no mosquitto was started");
    }
}
