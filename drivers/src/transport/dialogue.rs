//! The session loop of a device spoken to by request and reply and kept alive
//! with a ping (the seal reader, the empty-box detector): one request at a
//! time from the driver's channel, a ping when the link has been idle for a
//! while so health stays current on a quiet lane, unsolicited bytes read (and
//! bounded) between requests so a hang-up is noticed at once.
//!
//! Written once because it had been copied with the error type and the health
//! mapping and had begun to drift (only one copy bounded the idle buffer). A
//! device supplies only its [`Dialogue`]: how to ask one question on the link.
//! How a failed question shows in health is decided here, the same for every
//! device: silence is `down` ("does not answer"), a fault the device reports is
//! `down`, anything else it gets wrong (corrupt replies, a refusal) is
//! `degraded`, and a broken link is left to [`super::supervise`], which
//! reconnects. What a *successful* exchange means for health (clean, or only
//! after retries or garbage) only the device knows, so [`Dialogue::ask`] sets it.

use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::sleep;

use super::{Framed, HealthReporter, LinkError, Request, SessionEnd, SessionOutcome};
use crate::DeviceError;

/// Most bytes kept while idle; a device that streams noise must not grow the buffer.
const IDLE_BUFFER_MAX: usize = 64 * 1024;

/// An exchange failed either on the device's side (answer the caller, keep the
/// link) or on the link's (answer the caller, reconnect).
#[derive(Debug)]
pub enum TxError {
    Device(DeviceError),
    Link(LinkError),
}

impl From<LinkError> for TxError {
    fn from(e: LinkError) -> Self {
        TxError::Link(e)
    }
}

impl From<DeviceError> for TxError {
    fn from(e: DeviceError) -> Self {
        TxError::Device(e)
    }
}

/// How to talk to one request/reply device over an open link.
#[async_trait]
pub trait Dialogue: Send {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send;
    type Query: Send;
    type Answer: Send;

    /// The question asked on a fresh link and whenever the link has been idle
    /// for [`Dialogue::keepalive`].
    fn ping(&self) -> Self::Query;
    fn keepalive(&self) -> Duration;
    /// The device as named in "… does not answer", e.g. "reader 3".
    fn who(&self) -> String;
    fn health(&self) -> &HealthReporter;
    fn link(&mut self) -> &mut Framed<Self::Stream>;
    /// Asks one question and waits for its answer; on success, records the
    /// health the exchange showed.
    async fn ask(&mut self, query: Self::Query) -> Result<Self::Answer, TxError>;
}

type Outcome<D> = SessionOutcome<Request<<D as Dialogue>::Query, <D as Dialogue>::Answer>>;

/// Runs `dialogue` on its link until the link fails or every handle is dropped.
pub async fn converse<D: Dialogue>(
    mut dialogue: D,
    mut rx: mpsc::Receiver<Request<D::Query, D::Answer>>,
) -> Outcome<D> {
    let mut worked = false;
    let ping = dialogue.ping();
    if let Err(TxError::Link(e)) = ask(&mut dialogue, ping, &mut worked).await {
        return (rx, SessionEnd::Link(e), worked);
    }
    loop {
        let keepalive = dialogue.keepalive();
        tokio::select! {
            r = rx.recv() => {
                let Some(Request { body, reply }) = r else { return (rx, SessionEnd::Closed, worked) };
                match ask(&mut dialogue, body, &mut worked).await {
                    Ok(a) => { let _ = reply.send(Ok(a)); }
                    Err(TxError::Device(e)) => { let _ = reply.send(Err(e)); }
                    Err(TxError::Link(e)) => {
                        let _ = reply.send(Err(DeviceError::Disconnected(e.to_string())));
                        return (rx, SessionEnd::Link(e), worked);
                    }
                }
            }
            _ = sleep(keepalive) => {
                let ping = dialogue.ping();
                if let Err(TxError::Link(e)) = ask(&mut dialogue, ping, &mut worked).await {
                    return (rx, SessionEnd::Link(e), worked);
                }
            }
            r = dialogue.link().fill() => match r {
                Err(e) => return (rx, SessionEnd::Link(e), worked),
                Ok(_) if dialogue.link().buffered() > IDLE_BUFFER_MAX => { dialogue.link().discard(); }
                Ok(_) => {}
            },
        }
    }
}

/// One question, with what its failure means for health recorded.
async fn ask<D: Dialogue>(d: &mut D, query: D::Query, worked: &mut bool) -> Result<D::Answer, TxError> {
    let r = d.ask(query).await;
    match &r {
        Ok(_) => *worked = true,
        Err(TxError::Device(DeviceError::Timeout(t))) => {
            d.health().down(format!("{} does not answer (no reply within {t:?})", d.who()))
        }
        Err(TxError::Device(DeviceError::Fault(why))) => d.health().down(why.clone()),
        Err(TxError::Device(e)) => d.health().degraded(e.to_string()),
        Err(TxError::Link(_)) => {}
    }
    r
}

#[cfg(test)]
mod tests {
    //! The loop with a scripted dialogue over an in-memory duplex stream, on
    //! paused time: what each failure does to health, the keepalive, and noise
    //! while idle.

    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::transport::{supervise, Backoff, FnConnector};
    use crate::HealthState;

    const KEEPALIVE: Duration = Duration::from_secs(5);

    #[derive(Default)]
    struct Script {
        /// What the next questions get; a question with nothing scripted succeeds.
        answers: VecDeque<Result<(), DeviceError>>,
        /// Every question asked ("ping" or "query"), with the bytes buffered then.
        asked: Vec<(&'static str, usize)>,
    }

    struct Scripted {
        io: Framed<DuplexStream>,
        health: HealthReporter,
        script: Arc<Mutex<Script>>,
    }

    #[async_trait]
    impl Dialogue for Scripted {
        type Stream = DuplexStream;
        type Query = &'static str;
        type Answer = ();

        fn ping(&self) -> &'static str {
            "ping"
        }

        fn keepalive(&self) -> Duration {
            KEEPALIVE
        }

        fn who(&self) -> String {
            "gadget 7".into()
        }

        fn health(&self) -> &HealthReporter {
            &self.health
        }

        fn link(&mut self) -> &mut Framed<DuplexStream> {
            &mut self.io
        }

        async fn ask(&mut self, q: &'static str) -> Result<(), TxError> {
            let mut script = self.script.lock().unwrap();
            script.asked.push((q, self.io.buffered()));
            let r = script.answers.pop_front().unwrap_or(Ok(()));
            if r.is_ok() {
                self.health.ok();
            }
            r.map_err(TxError::Device)
        }
    }

    type Calls = mpsc::Sender<Request<&'static str, ()>>;

    /// Starts the loop under `supervise`; returns the call channel, the health,
    /// the script and the device ends of the links as they are opened.
    fn start() -> (Calls, HealthReporter, Arc<Mutex<Script>>, mpsc::UnboundedReceiver<DuplexStream>) {
        let health = HealthReporter::new("gadget");
        let script = Arc::new(Mutex::new(Script::default()));
        let (devices_tx, devices) = mpsc::unbounded_channel();
        let connector = FnConnector::new("duplex", move || {
            let (host, device) = tokio::io::duplex(4096);
            let _ = devices_tx.send(device);
            async move { Ok::<_, std::io::Error>(host) }
        });
        let (tx, rx) = mpsc::channel(4);
        let (h, s) = (health.clone(), script.clone());
        tokio::spawn(supervise(connector, rx, health.clone(), Backoff::default(), move |io, rx| {
            converse(Scripted { io, health: h.clone(), script: s.clone() }, rx)
        }));
        (tx, health, script, devices)
    }

    #[tokio::test(start_paused = true)]
    async fn failures_map_to_health_the_same_for_every_device() {
        let (tx, health, script, _devices) = start();
        assert_eq!(Request::call(&tx, "query").await, Ok(()));
        assert_eq!(health.current().state, HealthState::Ok);
        let cases = [
            (DeviceError::Timeout(Duration::from_secs(1)), HealthState::Down, "gadget 7 does not answer"),
            (DeviceError::Fault("lamp broken".into()), HealthState::Down, "lamp broken"),
            (DeviceError::Protocol("no clean reply".into()), HealthState::Degraded, "no clean reply"),
            (DeviceError::Refused("busy".into()), HealthState::Degraded, "busy"),
        ];
        for (err, state, reason) in cases {
            script.lock().unwrap().answers.push_back(Err(err.clone()));
            assert_eq!(Request::call(&tx, "query").await, Err(err), "the caller gets the device's error");
            let h = health.current();
            assert_eq!(h.state, state, "{reason}");
            assert!(h.reason.unwrap().contains(reason), "{reason}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_link_is_pinged_every_keepalive() {
        let (_tx, _health, script, _devices) = start();
        tokio::time::sleep(KEEPALIVE * 3 + Duration::from_millis(100)).await;
        let asked: Vec<_> = script.lock().unwrap().asked.iter().map(|(q, _)| *q).collect();
        assert_eq!(asked, ["ping"; 4], "one on connecting, then one per keepalive");
    }

    #[tokio::test(start_paused = true)]
    async fn noise_while_idle_is_bounded_and_a_hang_up_reconnects() {
        let (tx, health, script, mut devices) = start();
        let mut device = devices.recv().await.unwrap();
        Request::call(&tx, "query").await.unwrap();
        let noise = vec![0x55u8; 1024];
        for _ in 0..256 {
            device.write_all(&noise).await.unwrap();
        }
        Request::call(&tx, "query").await.unwrap();
        let (_, buffered) = *script.lock().unwrap().asked.last().unwrap();
        assert!(buffered <= IDLE_BUFFER_MAX + 8 * 1024, "{buffered} bytes kept of 256 KiB of noise");
        drop(device);
        let _reopened = devices.recv().await.expect("the link is opened again");
        let mut h = health.subscribe();
        h.wait_for(|h| h.state == HealthState::Ok).await.unwrap();
    }
}
