//! A barrier controller on an RS-485 Modbus bus, configured by a register map
//! (which coil opens, which discrete input is the closed limit), the way EdgeX
//! device profiles and ThingsBoard's Modbus connector make a new controller a
//! matter of configuration rather than code.
//!
//! This file only maps coils and inputs onto an [`Actuator`]; the movements and
//! the close interlock are [`InterlockedBarrier`]'s, shared with GPIO. Unlike
//! GPIO, power-up is deferred to the first operation: the agent builds its
//! devices at start, when the controller may not answer yet.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::ModbusBus;
use crate::barrier::{Actuator, BarrierTiming, Button, InterlockedBarrier, Limits};
use crate::DeviceError;

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

/// A barrier controller's coils and limit inputs as an [`Actuator`].
pub struct ModbusActuator {
    bus: ModbusBus,
    registers: BarrierRegisters,
}

/// A Modbus barrier controller with the shared interlock.
pub type ModbusBarrier = InterlockedBarrier<ModbusActuator>;

#[async_trait]
impl Actuator for ModbusActuator {
    async fn set(&mut self, button: Button, pressed: bool) -> Result<(), DeviceError> {
        let r = &self.registers;
        let coil = match button {
            Button::Open => r.open_coil,
            Button::Close => r.close_coil,
            Button::Stop => r.stop_coil,
        };
        self.bus.write_coil(r.unit, coil, pressed).await
    }

    async fn limits(&mut self) -> Result<Limits, DeviceError> {
        let r = &self.registers;
        let opened = self.bus.read_discrete_inputs(r.unit, r.opened_input, 1).await?;
        let closed = self.bus.read_discrete_inputs(r.unit, r.closed_input, 1).await?;
        Ok(Limits { opened: opened[0], closed: closed[0] })
    }
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
    /// again after any operation failed on the bus.
    pub fn deferred(
        name: &str,
        bus: ModbusBus,
        cfg: ModbusBarrierConfig,
        occupied: watch::Receiver<bool>,
    ) -> Self {
        let timing = BarrierTiming { pulse: cfg.pulse, move_timeout: cfg.move_timeout, poll: cfg.poll };
        InterlockedBarrier::over(name, ModbusActuator { bus, registers: cfg.registers }, timing, occupied)
    }
}
