//! The supervision loop every wire driver runs in its own task: connect, run a
//! session until the link fails, report the device down, back off, reconnect.
//!
//! Requests reach the task over a bounded channel as [`Request`]s carrying a
//! oneshot for the answer. While the device is disconnected they are answered at
//! once with [`DeviceError::Disconnected`] rather than queued: the lane must hold
//! or decide without the device, not wait for a cable to be plugged back in. The
//! task ends when every handle (every `Sender`) is dropped.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};

use super::{Backoff, Connector, Framed, HealthReporter, LinkError};
use crate::DeviceError;

/// One call into a driver task.
#[derive(Debug)]
pub struct Request<Q, A> {
    pub body: Q,
    pub reply: oneshot::Sender<Result<A, DeviceError>>,
}

impl<Q, A> Request<Q, A> {
    pub fn answer(self, result: Result<A, DeviceError>) {
        // The caller may have given up (its own timeout); that is fine.
        let _ = self.reply.send(result);
    }

    /// Sends `body` to the task behind `tx` and waits for the answer.
    pub async fn call(tx: &mpsc::Sender<Request<Q, A>>, body: Q) -> Result<A, DeviceError> {
        let (reply, rx) = oneshot::channel();
        tx.send(Request { body, reply })
            .await
            .map_err(|_| DeviceError::Disconnected("driver task has stopped".into()))?;
        rx.await.map_err(|_| DeviceError::Disconnected("driver task has stopped".into()))?
    }
}

/// Why a session ended.
#[derive(Debug)]
pub enum SessionEnd {
    /// Every handle was dropped: stop.
    Closed,
    /// The stream failed: reconnect.
    Link(LinkError),
    /// The session gave up on a stream that still looks open (e.g. the device
    /// went silent on a TCP link): reconnect, with this as the reason.
    Restart(String),
}

/// What a session hands back: the request channel, why it ended, and whether it
/// got as far as a working exchange (which resets the backoff).
pub type SessionOutcome<R> = (mpsc::Receiver<R>, SessionEnd, bool);

pub async fn supervise<C, Q, A, F, Fut>(
    connector: C,
    mut rx: mpsc::Receiver<Request<Q, A>>,
    health: HealthReporter,
    mut backoff: Backoff,
    mut session: F,
) where
    C: Connector,
    F: FnMut(Framed<C::Stream>, mpsc::Receiver<Request<Q, A>>) -> Fut,
    Fut: Future<Output = SessionOutcome<Request<Q, A>>>,
{
    let peer = connector.peer();
    let device = health.device().to_string();
    loop {
        match connector.connect().await {
            Ok(stream) => {
                info!(device, peer, "link opened");
                let (r, end, worked) = session(Framed::new(stream), rx).await;
                rx = r;
                if worked {
                    backoff.reset();
                }
                match end {
                    SessionEnd::Closed => {
                        debug!(device, "driver handle dropped; stopping");
                        return;
                    }
                    SessionEnd::Link(e) => health.down(format!("{peer}: {e}")),
                    SessionEnd::Restart(why) => health.down(format!("{peer}: {why}")),
                }
            }
            Err(e) => health.down(format!("cannot open {peer}: {e}")),
        }
        let delay = backoff.next_delay();
        debug!(device, peer, delay_ms = delay.as_millis() as u64, "reconnecting after backoff");
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                r = rx.recv() => match r {
                    None => return,
                    Some(req) => {
                        let why = health.current().reason.unwrap_or_else(|| "reconnecting".into());
                        req.answer(Err(DeviceError::Disconnected(why)));
                    }
                },
            }
        }
    }
}
