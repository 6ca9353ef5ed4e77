//! Thin transport adapters shared by the wire drivers: how a driver gets a byte
//! stream ([`Connector`]), how it waits between attempts ([`Backoff`]), how it
//! reads frames off the stream ([`Framed`]) and how it tells the world whether it
//! works ([`HealthReporter`]).
//!
//! Drivers never open a path or an address themselves: they are handed a
//! [`Connector`], which the binary builds from config ([`TcpConnector`],
//! [`SerialConnector`]) and a test builds from a closure over PTY pairs or
//! loopback sockets ([`FnConnector`]). Every driver runs the same supervision
//! loop ([`supervise`]): connect, run a session until the stream hangs up or
//! errors, mark the device down, wait with backoff, connect again. Devices
//! spoken to by request and reply share the session itself too ([`converse`]). A USB-serial
//! adapter that is pulled out and put back, or a TCP reset, therefore recovers
//! without anyone restarting the agent.

mod dialogue;
mod framed;
mod reporter;
mod supervise;

use std::future::Future;
use std::io;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

pub use dialogue::{converse, Dialogue, TxError};
pub use framed::{Framed, LinkError};
pub use reporter::{HealthReporter, NOT_CONNECTED_YET};
pub use supervise::{supervise, Request, SessionEnd, SessionOutcome};

/// Opens a fresh byte stream to a device; called again after every hang-up.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    async fn connect(&self) -> io::Result<Self::Stream>;
    /// Where the stream goes, for logs and health reasons.
    fn peer(&self) -> String;
}

/// A TCP device (`host:port`).
#[derive(Debug, Clone)]
pub struct TcpConnector {
    pub addr: String,
    pub connect_timeout: Duration,
}

impl TcpConnector {
    pub fn new(addr: impl Into<String>) -> Self {
        TcpConnector { addr: addr.into(), connect_timeout: Duration::from_secs(3) }
    }
}

#[async_trait]
impl Connector for TcpConnector {
    type Stream = tokio::net::TcpStream;

    async fn connect(&self) -> io::Result<Self::Stream> {
        let s = tokio::time::timeout(self.connect_timeout, tokio::net::TcpStream::connect(&self.addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        s.set_nodelay(true)?;
        Ok(s)
    }

    fn peer(&self) -> String {
        format!("tcp://{}", self.addr)
    }
}

/// A serial port (RS-232/485, USB-serial, or a PTY). Opening is the one place a
/// device path is touched; the binary builds this from config.
#[derive(Debug, Clone)]
pub struct SerialConnector {
    pub path: String,
    pub baud: u32,
}

impl SerialConnector {
    pub fn new(path: impl Into<String>, baud: u32) -> Self {
        SerialConnector { path: path.into(), baud }
    }
}

#[async_trait]
impl Connector for SerialConnector {
    type Stream = tokio_serial::SerialStream;

    async fn connect(&self) -> io::Result<Self::Stream> {
        use tokio_serial::SerialPortBuilderExt;
        // 8N1 is tokio-serial's default.
        tokio_serial::new(&self.path, self.baud).open_native_async().map_err(io::Error::from)
    }

    fn peer(&self) -> String {
        format!("serial://{}@{}", self.path, self.baud)
    }
}

/// A connector made of a closure: tests hand out PTY ends or sockets with it.
pub struct FnConnector<F> {
    f: F,
    peer: String,
}

impl<F> FnConnector<F> {
    pub fn new(peer: impl Into<String>, f: F) -> Self {
        FnConnector { f, peer: peer.into() }
    }
}

#[async_trait]
impl<F, Fut, S> Connector for FnConnector<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<S>> + Send,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = S;

    async fn connect(&self) -> io::Result<S> {
        (self.f)().await
    }

    fn peer(&self) -> String {
        self.peer.clone()
    }
}

/// Exponential backoff between reconnection attempts, reset by a session that
/// got as far as a working exchange.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max, next: initial }
    }

    /// The delay to wait now; doubles the next one up to the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(200), Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let got: Vec<_> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(got, [100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }
}
