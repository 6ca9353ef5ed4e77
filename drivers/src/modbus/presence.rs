//! Loop detectors and photocells on a Modbus bus: one discrete input each,
//! polled, debounced like their GPIO cousins.

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::time::Instant;

use super::ModbusBus;
use crate::gpio::{Debouncer, PresenceConfig};
use crate::transport::HealthReporter;
use crate::{DeviceError, Health, PresenceSensor};

/// A loop detector or photocell read as one discrete input, polled, with the
/// same debouncing and stuck/chatter detection as [`crate::gpio::GpioPresence`].
///
/// Nothing is assumed before the first reading: [`PresenceSensor::occupied`]
/// is an error until then (and while the last poll failed), and the interlock
/// view ([`ModbusPresence::watch`]) says occupied whenever the state is unknown.
pub struct ModbusPresence {
    /// Debounced readings only: what the lane is told changed.
    state: watch::Receiver<bool>,
    /// `Some(reason)` while the state is unknown (no reading yet, or the last poll failed).
    unknown: watch::Receiver<Option<String>>,
    /// Occupied, or unknown: for a barrier's close interlock.
    interlock: watch::Receiver<bool>,
    health: watch::Receiver<Health>,
}

impl ModbusPresence {
    pub fn spawn(name: &str, bus: ModbusBus, unit: u8, input: u16, cfg: PresenceConfig) -> Self {
        let reporter = HealthReporter::new(name);
        let (tx, state) = watch::channel(false);
        let (unknown_tx, unknown) = watch::channel(Some("no reading yet".to_string()));
        let (interlock_tx, interlock) = watch::channel(true);
        let health = reporter.subscribe();
        let mut known = state.clone();
        let mut why = unknown.clone();
        tokio::spawn(async move {
            // Keeps the interlock view current: occupied || unknown.
            loop {
                let v = *known.borrow_and_update() || why.borrow_and_update().is_some();
                interlock_tx.send_if_modified(|cur| std::mem::replace(cur, v) != v);
                tokio::select! {
                    r = known.changed() => if r.is_err() { return },
                    r = why.changed() => if r.is_err() { return },
                    _ = interlock_tx.closed() => return,
                }
            }
        });
        tokio::spawn(async move {
            let mut deb: Option<Debouncer> = None;
            let mut tick = tokio::time::interval(cfg.poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !tx.is_closed() {
                tick.tick().await;
                let raw = match bus.read_discrete_inputs(unit, input, 1).await {
                    Ok(bits) => bits[0] == cfg.active_high,
                    Err(e) => {
                        match &e {
                            DeviceError::Protocol(_) => reporter.degraded(e.to_string()),
                            _ => reporter.down(e.to_string()),
                        }
                        unknown_tx.send_replace(Some(e.to_string()));
                        continue;
                    }
                };
                let now = Instant::now();
                let d = deb.get_or_insert_with(|| {
                    // The first reading is the state at power-up.
                    tx.send_if_modified(|cur| std::mem::replace(cur, raw) != raw);
                    Debouncer::new(cfg.clone(), raw, now)
                });
                if let Some(s) = d.sample(raw, now) {
                    tx.send_replace(s);
                }
                unknown_tx.send_if_modified(|cur| cur.take().is_some());
                match d.condition(now) {
                    crate::gpio::Condition::Fine => reporter.ok(),
                    crate::gpio::Condition::Chattering { .. } => {
                        reporter.degraded("sensor chattering: many edges per second")
                    }
                    crate::gpio::Condition::Stuck { .. } => reporter
                        .degraded(format!("sensor stuck occupied for longer than {:?}", cfg.max_occupied)),
                }
            }
        });
        ModbusPresence { state, unknown, interlock, health }
    }

    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    /// Occupied or unknown: what a barrier's close interlock must follow.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.interlock.clone()
    }
}

#[async_trait]
impl PresenceSensor for ModbusPresence {
    async fn occupied(&mut self) -> Result<bool, DeviceError> {
        if let Some(why) = self.unknown.borrow().clone() {
            return Err(DeviceError::Disconnected(format!("presence unknown: {why}")));
        }
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
