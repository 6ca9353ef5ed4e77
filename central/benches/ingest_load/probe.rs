//! Publish → queryable, measured from outside through the API: for every
//! passage the generator published, `GET /api/passages/<site>/<lane>/<id>`
//! until the record is there (first time) and every image it names is stored
//! (whole passage), as another system would (a viewer's API token).
//!
//! Each request is work for central too: polling every passage every 100 ms
//! made a backlog feed itself (hundreds of requests a second once latencies
//! grew). So a passage is asked again after a tenth of its age (100 ms to
//! 1 s: the error is under 10 % or 1 s), due ones oldest first, at most
//! `PER_ROUND` every 50 ms; the requests made are counted and reported.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A passage handed to the broker: where to find it and when it started.
pub struct Sent {
    pub lane: String,
    pub id: String,
    pub started: Instant,
}

/// Requests at most every `ROUND`.
const PER_ROUND: usize = 8;
const ROUND: Duration = Duration::from_millis(50);

/// Latencies in seconds: record queryable, whole passage queryable.
#[derive(Default, Clone)]
pub struct Latencies {
    pub record: Vec<f64>,
    pub whole: Vec<f64>,
    /// Passages still not whole when the probe stopped.
    pub unfinished: usize,
    /// API requests the probe made.
    pub requests: u64,
}

pub struct Probe {
    tx: Option<Sender<Sent>>,
    out: Arc<Mutex<Latencies>>,
    deadline: Arc<Mutex<Option<Instant>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Probe {
    /// Polls the API on port `http` as a client with the API `token`.
    pub fn start(http: u16, token: &str, site: &str) -> Probe {
        let (tx, rx) = std::sync::mpsc::channel();
        let out = Arc::new(Mutex::new(Latencies::default()));
        let deadline = Arc::new(Mutex::new(None));
        let (site, token, results, until) =
            (site.to_string(), token.to_string(), out.clone(), deadline.clone());
        let thread = std::thread::spawn(move || poll((http, &token), &site, rx, &results, &until));
        Probe { tx: Some(tx), out, deadline, thread: Some(thread) }
    }

    pub fn sender(&self) -> Sender<Sent> {
        self.tx.clone().expect("the probe runs")
    }

    /// Waits (at most `limit`) for every passage sent to be whole; returns the latencies.
    pub fn finish(mut self, limit: Duration) -> Latencies {
        *self.deadline.lock().unwrap() = Some(Instant::now() + limit);
        drop(self.tx.take());
        let _ = self.thread.take().expect("started").join();
        self.out.lock().unwrap().clone()
    }
}

struct Pending {
    sent: Sent,
    record_at: Option<f64>,
    due: Instant,
}

fn poll(
    api: (u16, &str),
    site: &str,
    rx: Receiver<Sent>,
    out: &Mutex<Latencies>,
    deadline: &Mutex<Option<Instant>>,
) {
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut closed = false;
    loop {
        loop {
            match rx.try_recv() {
                Ok(sent) => pending.push_back(Pending { due: sent.started, sent, record_at: None }),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        let late = deadline.lock().unwrap().is_some_and(|d| Instant::now() > d);
        if closed && pending.is_empty() || late {
            out.lock().unwrap().unfinished = pending.len();
            return;
        }
        let round = Instant::now();
        let mut asked = 0;
        pending.retain_mut(|p| {
            if asked == PER_ROUND || p.due > round {
                return true;
            }
            asked += 1;
            let (status, body) =
                http_get(api, &format!("/api/passages/{site}/{}/{}", p.sent.lane, p.sent.id));
            let age = p.sent.started.elapsed();
            p.due = Instant::now() + (age / 10).clamp(Duration::from_millis(100), Duration::from_secs(1));
            if status != 200 {
                return true;
            }
            let now = age.as_secs_f64();
            if p.record_at.is_none() {
                p.record_at = Some(now);
                out.lock().unwrap().record.push(now);
            }
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let images = v["images"].as_array().map(Vec::as_slice).unwrap_or_default();
            let whole = !images.is_empty() && images.iter().all(|i| i["stored"] == true);
            if whole {
                out.lock().unwrap().whole.push(now);
            }
            !whole
        });
        out.lock().unwrap().requests += asked as u64;
        std::thread::sleep(ROUND.saturating_sub(round.elapsed()));
    }
}

/// A plain HTTP/1.1 GET; (0, empty) when the server does not answer (a
/// loaded server must not end the run, unlike the tests' `common::http_get`).
fn http_get((port, token): (u16, &str), path: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return (0, vec![]) };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    if write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").is_err() {
        return (0, vec![]);
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { return (0, vec![]) };
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, raw[split + 4..].to_vec())
}

/// The q-quantile (0..1) of `v`, or NaN for none.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * q).round() as usize]
}
