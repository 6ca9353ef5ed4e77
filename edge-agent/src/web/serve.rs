//! Serving the technician page without letting its clients take the lane's resources.
//!
//! `axum::serve` keeps every connection open for as long as the client likes: thousands of
//! half-open connections took the agent to its descriptor limit, and then the outbox could not
//! open image files. So the page has its own accept loop:
//! - at most [`MAX_CONNECTIONS`] at once; one more is accepted and closed at once (so the
//!   kernel's queue keeps moving and nobody waits on a full backlog);
//! - the request head must arrive within [`HEADER_TIMEOUT`] of the connection (or of the previous
//!   response, for keep-alive): a silent or trickling client is cut off;
//! - a connection on which nothing moves for [`IDLE_TIMEOUT`] (a stalled body, a client that
//!   stopped reading) is closed;
//! - when accepting fails (out of descriptors) the loop waits a moment instead of spinning, and
//!   says so once.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::time::{Instant, Sleep};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Time a client has to send a request's head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no bytes moving for this long is closed. Longer than any action the page
/// waits on (a barrier cycle), so a slow action is not cut off.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the loop turned away, for tests and logs.
#[derive(Debug, Default)]
pub struct Refusals {
    pub over_limit: AtomicU64,
    pub accept_errors: AtomicU64,
}

/// Accepts and serves until `stop` turns true; connections in progress are told to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    mut stop: watch::Receiver<bool>,
    refusals: Arc<Refusals>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut accept_failing = false;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => {
                if *stop.borrow() { break } else { continue }
            }
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                accept_failing = false;
                stream
            }
            Err(e) => {
                refusals.accept_errors.fetch_add(1, Ordering::Relaxed);
                if !accept_failing {
                    tracing::warn!(cause = %e, "technician page cannot accept connections; pausing");
                    accept_failing = true;
                }
                // Out of descriptors: give the lane's own files priority; try again shortly.
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refusals.over_limit.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let app = app.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(Idle::new(stream, IDLE_TIMEOUT));
            let service = TowerToHyperService::new(app);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).keep_alive(true);
            let conn = builder.serve_connection(io, service);
            tokio::pin!(conn);
            let stopping = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stopping => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
                }
            }
            drop(slot);
        });
    }
}

/// A stream that fails once neither reads nor writes have made progress for `limit` while the
/// server was waiting on it.
struct Idle<S> {
    inner: S,
    limit: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Idle<S> {
    fn new(inner: S, limit: Duration) -> Self {
        Idle { inner, limit, deadline: Box::pin(tokio::time::sleep(limit)) }
    }

    fn moved(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.limit);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        std::future::Future::poll(self.deadline.as_mut(), cx).is_ready()
    }
}

fn timed_out() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "technician page connection idle")
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Idle<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_times_out_and_a_talking_one_does_not() {
        let (client, server) = tokio::io::duplex(64);
        let mut idle = Idle::new(server, Duration::from_secs(5));
        let mut client = client;
        let mut buf = [0u8; 8];
        client.write_all(b"hi").await.unwrap();
        assert_eq!(idle.read(&mut buf).await.unwrap(), 2);
        tokio::time::advance(Duration::from_secs(4)).await;
        client.write_all(b"again").await.unwrap();
        assert_eq!(idle.read(&mut buf).await.unwrap(), 5, "progress resets the clock");
        let err = idle.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }
}
