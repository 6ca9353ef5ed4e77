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
use crate::transport::HealthReporter;
use crate::{Barrier, BarrierState, DeviceError, Health};

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
    /// Coils released and limits read since start; until then every operation does it first.
    ready: bool,
}

impl ModbusBarrier {
    /// Releases every command coil and reads the limits (power-up state read, not assumed).
    pub async fn new(
        name: &str,
        bus: ModbusBus,
        cfg: ModbusBarrierConfig,
        occupied: watch::Receiver<bool>,
    ) -> Result<Self, DeviceError> {
        let mut b = Self::deferred(name, bus, cfg, occupied);
        b.power_up().await?;
        Ok(b)
    }

    /// Without bus traffic yet, for building devices from config before the
    /// controller answers (it may be unplugged at start): the power-up sequence
    /// of [`ModbusBarrier::new`] runs before the first operation instead, and
    /// again after any operation failed on the bus, so a controller that was
    /// power-cycled meanwhile is never assumed to hold its old coil state.
    pub fn deferred(
        name: &str,
        bus: ModbusBus,
        cfg: ModbusBarrierConfig,
        occupied: watch::Receiver<bool>,
    ) -> Self {
        ModbusBarrier { bus, cfg, occupied, health: HealthReporter::new(name), ready: false }
    }

    async fn power_up(&mut self) -> Result<(), DeviceError> {
        if self.ready {
            return Ok(());
        }
        let r = self.cfg.registers.clone();
        for coil in [r.open_coil, r.close_coil, r.stop_coil] {
            self.coil(coil, false).await?;
        }
        let state = self.read_state().await?;
        tracing::info!(device = self.health.device(), state = ?state, "barrier state at power-up");
        self.health.ok();
        self.ready = true;
        Ok(())
    }

    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    async fn coil(&mut self, addr: u16, on: bool) -> Result<(), DeviceError> {
        let r = self.bus.write_coil(self.cfg.registers.unit, addr, on).await;
        r.inspect_err(|e| self.lost(e))
    }

    /// A bus error: down, and the power-up sequence again before the next operation.
    fn lost(&mut self, e: &DeviceError) {
        self.health.down(e.to_string());
        self.ready = false;
    }

    async fn read_state(&mut self) -> Result<BarrierState, DeviceError> {
        let r = &self.cfg.registers;
        let (unit, o, c) = (r.unit, r.opened_input, r.closed_input);
        let opened = self.bus.read_discrete_inputs(unit, o, 1).await;
        let closed = self.bus.read_discrete_inputs(unit, c, 1).await;
        let (opened, closed) = match (opened, closed) {
            (Ok(o), Ok(c)) => (o[0], c[0]),
            (Err(e), _) | (_, Err(e)) => {
                self.lost(&e);
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
        let on = self.coil(coil, true).await;
        if on.is_ok() {
            sleep(self.cfg.pulse).await;
        }
        self.release(coil, on).await
    }

    /// Switches a command coil off after `on`, whatever `on` was: a write whose
    /// reply was lost may still have switched the coil on.
    async fn release(&mut self, coil: u16, on: Result<(), DeviceError>) -> Result<(), DeviceError> {
        let off = self.coil(coil, false).await;
        on?;
        off.map_err(|e| {
            DeviceError::Fault(format!("coil {coil} may still be on ({e}); check the barrier controller"))
        })
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
        self.power_up().await?;
        self.pulse(self.cfg.registers.open_coil).await?;
        self.reach(BarrierState::Opened, false).await.map(|_| ())
    }

    async fn close(&mut self) -> Result<(), DeviceError> {
        let refused = |m: &str| DeviceError::Refused(m.into());
        let coil = self.cfg.registers.close_coil;
        self.power_up().await?;
        // Checked after the power-up exchange, right before the close coil.
        if *self.occupied.borrow_and_update() {
            return Err(refused("the lane under the arm is occupied"));
        }
        let on = self.coil(coil, true).await;
        let mut occ = self.occupied.clone();
        let interrupted = on.is_ok() && timeout(self.cfg.pulse, occ.wait_for(|o| *o)).await.is_ok();
        self.release(coil, on).await?;
        if interrupted || !self.reach(BarrierState::Closed, true).await? {
            self.reverse().await?;
            return Err(refused("the lane under the arm became occupied while closing; reopened"));
        }
        Ok(())
    }

    async fn stop(&mut self) -> Result<(), DeviceError> {
        self.power_up().await?;
        self.pulse(self.cfg.registers.stop_coil).await
    }

    async fn state(&mut self) -> Result<BarrierState, DeviceError> {
        self.power_up().await?;
        self.read_state().await
    }
}
