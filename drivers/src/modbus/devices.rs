//! Barrier controllers and loop detectors on an RS-485 Modbus bus, configured by
//! a register map (which coil opens, which discrete input is the closed limit),
//! the way EdgeX device profiles and ThingsBoard's Modbus connector make a new
//! controller a matter of configuration rather than code.
//!
//! The safety rules are those of [`crate::gpio::GpioBarrier`]: close refused
//! while the under-arm presence says occupied; presence watched while the close
//! coil is on and while the arm travels down, the close coil released and the
//! arm sent back up the moment it turns occupied; a movement that does not reach
//! its limit in time is a fault. One difference: a coil write is a bus
//! transaction of a few milliseconds, so after switching the close coil on the
//! presence is checked again at once, and an occupation that arrived during the
//! write releases the coil before anything else happens.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::{sleep, timeout, Instant};
use tracing::warn;

use super::ModbusBus;
use crate::gpio::{Debouncer, PresenceConfig};
use crate::transport::HealthReporter;
use crate::{Barrier, BarrierState, DeviceError, Health, PresenceSensor};

/// Where a barrier controller keeps its commands and limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BarrierRegisters {
    pub unit: u8,
    pub open_coil: u16,
    pub close_coil: u16,
    pub stop_coil: u16,
    pub opened_input: u16,
    pub closed_input: u16,
}

#[derive(Debug, Clone)]
pub struct ModbusBarrierConfig {
    pub registers: BarrierRegisters,
    /// How long a command coil stays on.
    pub pulse: Duration,
    pub move_timeout: Duration,
    pub poll: Duration,
}

pub struct ModbusBarrier {
    bus: ModbusBus,
    cfg: ModbusBarrierConfig,
    occupied: watch::Receiver<bool>,
    health: HealthReporter,
}

impl ModbusBarrier {
    /// Releases every command coil and reads the limits (power-up state read, not assumed).
    pub async fn new(
        name: &str,
        bus: ModbusBus,
        cfg: ModbusBarrierConfig,
        occupied: watch::Receiver<bool>,
    ) -> Result<Self, DeviceError> {
        let mut b = ModbusBarrier { bus, cfg, occupied, health: HealthReporter::new(name) };
        let r = b.cfg.registers.clone();
        for coil in [r.open_coil, r.close_coil, r.stop_coil] {
            b.coil(coil, false).await?;
        }
        let state = b.read_state().await?;
        tracing::info!(device = name, state = ?state, "barrier state at power-up");
        b.health.ok();
        Ok(b)
    }

    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    async fn coil(&mut self, addr: u16, on: bool) -> Result<(), DeviceError> {
        let r = self.bus.write_coil(self.cfg.registers.unit, addr, on).await;
        r.inspect_err(|e| self.health.down(e.to_string()))
    }

    async fn read_state(&mut self) -> Result<BarrierState, DeviceError> {
        let r = &self.cfg.registers;
        let (unit, o, c) = (r.unit, r.opened_input, r.closed_input);
        let opened = self.bus.read_discrete_inputs(unit, o, 1).await;
        let closed = self.bus.read_discrete_inputs(unit, c, 1).await;
        let (opened, closed) = match (opened, closed) {
            (Ok(o), Ok(c)) => (o[0], c[0]),
            (Err(e), _) | (_, Err(e)) => {
                self.health.down(e.to_string());
                return Err(e);
            }
        };
        Ok(match (opened, closed) {
            (true, false) => BarrierState::Opened,
            (false, true) => BarrierState::Closed,
            _ => BarrierState::Between,
        })
    }

    async fn pulse(&mut self, coil: u16) -> Result<(), DeviceError> {
        self.coil(coil, true).await?;
        sleep(self.cfg.pulse).await;
        self.coil(coil, false).await
    }

    async fn reach(&mut self, target: BarrierState, watch_presence: bool) -> Result<bool, DeviceError> {
        let deadline = Instant::now() + self.cfg.move_timeout;
        loop {
            if self.read_state().await? == target {
                self.health.ok();
                return Ok(true);
            }
            if Instant::now() >= deadline {
                let why = format!(
                    "barrier did not reach {target:?} within {:?}: arm stuck or drive unpowered",
                    self.cfg.move_timeout
                );
                self.health.down(why.clone());
                return Err(DeviceError::Fault(why));
            }
            let mut occ = self.occupied.clone();
            if watch_presence && timeout(self.cfg.poll, occ.wait_for(|o| *o)).await.is_ok() {
                return Ok(false);
            } else if !watch_presence {
                sleep(self.cfg.poll).await;
            }
        }
    }

    async fn reverse(&mut self) -> Result<(), DeviceError> {
        warn!(device = self.health.device(), "lane under the arm became occupied while closing; reopening");
        self.pulse(self.cfg.registers.open_coil).await
    }
}

#[async_trait]
impl Barrier for ModbusBarrier {
    async fn open(&mut self) -> Result<(), DeviceError> {
        self.pulse(self.cfg.registers.open_coil).await?;
        self.reach(BarrierState::Opened, false).await.map(|_| ())
    }

    async fn close(&mut self) -> Result<(), DeviceError> {
        let refused = |m: &str| DeviceError::Refused(m.into());
        let coil = self.cfg.registers.close_coil;
        if *self.occupied.borrow_and_update() {
            return Err(refused("the lane under the arm is occupied"));
        }
        self.coil(coil, true).await?;
        let mut occ = self.occupied.clone();
        let interrupted = timeout(self.cfg.pulse, occ.wait_for(|o| *o)).await.is_ok();
        self.coil(coil, false).await?;
        if interrupted || !self.reach(BarrierState::Closed, true).await? {
            self.reverse().await?;
            return Err(refused("the lane under the arm became occupied while closing; reopened"));
        }
        Ok(())
    }

    async fn stop(&mut self) -> Result<(), DeviceError> {
        self.pulse(self.cfg.registers.stop_coil).await
    }

    async fn state(&mut self) -> Result<BarrierState, DeviceError> {
        self.read_state().await
    }
}

/// A loop detector or photocell read as one discrete input, polled, with the
/// same debouncing and stuck/chatter detection as [`crate::gpio::GpioPresence`].
pub struct ModbusPresence {
    state: watch::Receiver<bool>,
    health: watch::Receiver<Health>,
}

impl ModbusPresence {
    pub fn spawn(name: &str, bus: ModbusBus, unit: u8, input: u16, cfg: PresenceConfig) -> Self {
        let reporter = HealthReporter::new(name);
        let (tx, state) = watch::channel(false);
        let health = reporter.subscribe();
        tokio::spawn(async move {
            let mut deb: Option<Debouncer> = None;
            let mut tick = tokio::time::interval(cfg.poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !tx.is_closed() {
                tick.tick().await;
                let raw = match bus.read_discrete_inputs(unit, input, 1).await {
                    Ok(bits) => bits[0] == cfg.active_high,
                    Err(e @ DeviceError::Protocol(_)) => {
                        reporter.degraded(e.to_string());
                        continue;
                    }
                    Err(e) => {
                        reporter.down(e.to_string());
                        continue;
                    }
                };
                let now = Instant::now();
                let d = deb.get_or_insert_with(|| {
                    // The first reading is the state at power-up.
                    tx.send_replace(raw);
                    Debouncer::new(cfg.clone(), raw, now)
                });
                if let Some(s) = d.sample(raw, now) {
                    tx.send_replace(s);
                }
                match d.condition(now) {
                    crate::gpio::Condition::Fine => reporter.ok(),
                    crate::gpio::Condition::Chattering { .. } => {
                        reporter.degraded("sensor chattering: many edges per second")
                    }
                    crate::gpio::Condition::Stuck { .. } => {
                        reporter.degraded(format!("sensor stuck occupied for longer than {:?}", cfg.max_occupied))
                    }
                }
            }
        });
        ModbusPresence { state, health }
    }

    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    pub fn watch(&self) -> watch::Receiver<bool> {
        self.state.clone()
    }
}

#[async_trait]
impl PresenceSensor for ModbusPresence {
    async fn occupied(&mut self) -> Result<bool, DeviceError> {
        Ok(*self.state.borrow_and_update())
    }

    async fn changed(&mut self) -> Result<bool, DeviceError> {
        self.state.changed().await.map_err(|_| DeviceError::Disconnected("presence polling stopped".into()))?;
        Ok(*self.state.borrow_and_update())
    }
}
