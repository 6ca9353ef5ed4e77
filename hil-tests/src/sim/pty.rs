//! PTY pairs standing in for serial ports. The simulator holds the master; the
//! host opens the slave, either handed over directly (tests) or by path through
//! a symlink the simulator keeps pointing at the current slave (the binary), the
//! way the agent opens `/dev/ttyUSB0`. A simulated disconnect drops the pair
//! and makes a new one: the host sees a hang-up and must reopen the path, which
//! is what a USB-serial adapter being unplugged and plugged back looks like.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio_serial::SerialStream;
use tracing::info;

use super::{Scenario, ScenarioCtl};

/// A PTY pair: the simulator's end and the host's end.
pub fn pty_pair() -> io::Result<(SerialStream, SerialStream)> {
    SerialStream::pair().map_err(io::Error::from)
}

/// The path of a PTY slave, e.g. `/dev/pts/7`.
pub fn slave_path(slave: &SerialStream) -> io::Result<PathBuf> {
    use tokio_serial::SerialPort;
    slave.name().map(PathBuf::from).ok_or_else(|| io::Error::other("PTY slave has no name"))
}

/// A PTY whose host end is to be opened by path: the simulator's end, the
/// slave's path, and a plain handle that keeps the slave alive without the
/// lock `serialport` takes, so the host can open it.
pub fn pty_for_path() -> io::Result<(SerialStream, PathBuf, std::fs::File)> {
    let (master, slave) = pty_pair()?;
    let path = slave_path(&slave)?;
    let keeper = std::fs::OpenOptions::new().read(true).write(true).open(&path)?;
    drop(slave);
    Ok((master, path, keeper))
}

/// Opens a serial port (or PTY) by path as a driver does: exclusively, so a
/// second opener gets "Device or resource busy" — a running agent, in tests.
pub fn open_exclusive(path: &std::path::Path, baud: u32) -> io::Result<SerialStream> {
    use tokio_serial::SerialPortBuilderExt;
    tokio_serial::new(path.to_string_lossy(), baud).open_native_async().map_err(io::Error::from)
}

/// Serves `serve(master)` on PTY pairs forever, keeping `link` pointing at the
/// current slave. In the `disconnect` scenario each pair lives `3 × comeback`,
/// then the link is dropped and comes back after `comeback`.
pub async fn serve_on_pty<F, Fut>(
    link: PathBuf,
    device: &'static str,
    ctl: ScenarioCtl,
    comeback: Duration,
    mut serve: F,
) -> io::Result<()>
where
    F: FnMut(SerialStream) -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    loop {
        let (master, path, keeper) = pty_for_path()?;
        let tmp = link.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&path, &tmp)?;
        std::fs::rename(&tmp, &link)?;
        info!(device, link = %link.display(), pty = %path.display(), "serving on a PTY");
        let served = serve(master);
        if ctl.get() == Scenario::Disconnect {
            let _ = tokio::time::timeout(comeback * 3, served).await;
        } else {
            served.await?;
        }
        // Unplugged: the path goes before the PTY does, as `/dev/ttyUSB0` vanishes
        // with the adapter. Freeing the PTY first would leave the link naming a
        // `/dev/pts/N` the kernel may hand to another process's new PTY, and a
        // driver reopening the path would take that port (and its lock) instead.
        let _ = std::fs::remove_file(&link);
        drop(keeper);
        info!(device, "link dropped; coming back");
        tokio::time::sleep(comeback).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// While "unplugged" the link must not exist: a dangling link to a freed
    /// `/dev/pts/N` resolves to whichever PTY the kernel numbers N next, and a
    /// parallel test's driver once opened (and locked) another simulator's port.
    #[tokio::test(start_paused = true)]
    async fn an_unplugged_link_is_gone_until_the_new_pty_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("seal");
        let comeback = Duration::from_secs(1);
        let ctl = ScenarioCtl::new(Scenario::Disconnect);
        tokio::spawn(serve_on_pty(link.clone(), "seal", ctl, comeback, |master| async move {
            let _held = master;
            std::future::pending::<io::Result<()>>().await
        }));
        tokio::task::yield_now().await;
        let first = std::fs::read_link(&link).expect("the link is made at once");

        tokio::time::sleep(comeback * 3 + Duration::from_millis(100)).await;
        assert!(!link.exists() && std::fs::read_link(&link).is_err(), "unplugged: no link at all");

        tokio::time::sleep(comeback).await;
        let second = std::fs::read_link(&link).expect("plugged back in");
        assert!(second.exists(), "the new link names a live PTY, {second:?} (was {first:?})");
    }
}
