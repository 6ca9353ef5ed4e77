//! Presence sensor (inductive loop detector or photocell relay) on one GPIO
//! input, polled, debounced, and watched for the two ways such sensors fail:
//!
//! * **chattering**: a loop detector on a cracked loop or a photocell in the
//!   rain flips many times a second; debouncing hides single glitches, but a
//!   burst of raw edges within a window marks the sensor `degraded`;
//! * **stuck**: a loop that reports occupied for longer than any vehicle would
//!   stand on it (a detector in fault, often failing "occupied" by design) marks
//!   it `degraded` with the time it has been stuck, so the lane can hold
//!   instead of waiting forever, and a technician is told which sensor it is.
//!
//! The sampling logic is the pure [`Debouncer`] (time is an input); the task
//! around it only reads the pin on a timer and publishes the results.

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use embedded_hal::digital::InputPin;
use tokio::sync::watch;
use tokio::time::Instant;

use super::pin_error;
use crate::transport::HealthReporter;
use crate::{DeviceError, Health, PresenceSensor};

#[derive(Debug, Clone)]
pub struct PresenceConfig {
    pub poll: Duration,
    /// A raw level must hold this long to count.
    pub debounce: Duration,
    /// Occupied for longer than this: the sensor is taken to be stuck.
    pub max_occupied: Duration,
    pub chatter_window: Duration,
    /// More raw edges than this within the window: chattering.
    pub chatter_edges: usize,
    /// The input reads high when occupied.
    pub active_high: bool,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig {
            poll: Duration::from_millis(5),
            debounce: Duration::from_millis(50),
            max_occupied: Duration::from_secs(600),
            chatter_window: Duration::from_secs(2),
            chatter_edges: 10,
            active_high: true,
        }
    }
}

/// What the samples say about the sensor itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Fine,
    Chattering { edges: usize },
    Stuck { for_s: u64 },
}

/// Pure debouncing and fault detection over timed raw samples.
#[derive(Debug)]
pub struct Debouncer {
    cfg: PresenceConfig,
    stable: bool,
    raw: bool,
    raw_since: Instant,
    stable_since: Instant,
    edges: VecDeque<Instant>,
}

impl Debouncer {
    pub fn new(cfg: PresenceConfig, initial: bool, now: Instant) -> Self {
        Debouncer {
            cfg,
            stable: initial,
            raw: initial,
            raw_since: now,
            stable_since: now,
            edges: VecDeque::new(),
        }
    }

    pub fn state(&self) -> bool {
        self.stable
    }

    /// Takes one raw sample; returns the new debounced state when it changed.
    pub fn sample(&mut self, raw: bool, now: Instant) -> Option<bool> {
        if raw != self.raw {
            self.raw = raw;
            self.raw_since = now;
            self.edges.push_back(now);
        }
        while self.edges.front().is_some_and(|t| now.duration_since(*t) > self.cfg.chatter_window) {
            self.edges.pop_front();
        }
        if self.raw != self.stable && now.duration_since(self.raw_since) >= self.cfg.debounce {
            self.stable = self.raw;
            self.stable_since = now;
            return Some(self.stable);
        }
        None
    }

    pub fn condition(&self, now: Instant) -> Condition {
        if self.edges.len() > self.cfg.chatter_edges {
            return Condition::Chattering { edges: self.edges.len() };
        }
        let held = now.duration_since(self.stable_since);
        if self.stable && held > self.cfg.max_occupied {
            return Condition::Stuck { for_s: held.as_secs() };
        }
        Condition::Fine
    }
}

/// Handle to a polled presence input; the polling task stops when every handle
/// and every [`GpioPresence::watch`] receiver is gone.
pub struct GpioPresence {
    state: watch::Receiver<bool>,
    health: watch::Receiver<Health>,
}

impl GpioPresence {
    /// Reads the input once (the state at power-up is read, not assumed) and
    /// starts polling it.
    pub fn spawn<P: InputPin + Send + 'static>(
        name: &str,
        mut pin: P,
        cfg: PresenceConfig,
    ) -> Result<Self, DeviceError> {
        let reporter = HealthReporter::new(name);
        let first = pin.is_high().map_err(|e| pin_error("presence input", e))? == cfg.active_high;
        let (tx, state) = watch::channel(first);
        reporter.ok();
        let health = reporter.subscribe();
        let mut deb = Debouncer::new(cfg.clone(), first, Instant::now());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(cfg.poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if tx.is_closed() {
                    return;
                }
                let now = Instant::now();
                let raw = match pin.is_high() {
                    Ok(level) => level == cfg.active_high,
                    Err(e) => {
                        reporter.down(pin_error("presence input", e).to_string());
                        continue;
                    }
                };
                if let Some(s) = deb.sample(raw, now) {
                    tx.send_replace(s);
                }
                match deb.condition(now) {
                    Condition::Fine => reporter.ok(),
                    Condition::Chattering { .. } => {
                        reporter.degraded("sensor chattering: many edges per second")
                    }
                    Condition::Stuck { .. } => reporter
                        .degraded(format!("sensor stuck occupied for longer than {:?}", cfg.max_occupied)),
                }
            }
        });
        Ok(GpioPresence { state, health })
    }

    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    /// The debounced state as a watch, e.g. the barrier's under-arm guard.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.state.clone()
    }
}

#[async_trait]
impl PresenceSensor for GpioPresence {
    async fn occupied(&mut self) -> Result<bool, DeviceError> {
        Ok(*self.state.borrow_and_update())
    }

    async fn changed(&mut self) -> Result<bool, DeviceError> {
        self.state
            .changed()
            .await
            .map_err(|_| DeviceError::Disconnected("presence polling stopped".into()))?;
        Ok(*self.state.borrow_and_update())
    }
}

#[cfg(test)]
mod tests;
