//! RS-485 Modbus RTU: a small codec ([`rtu`]), a bus master that owns the
//! serial link ([`ModbusBus`]), and the devices a lane puts on such a bus
//! ([`ModbusBarrier`], [`ModbusPresence`]) configured by a register map. The
//! barrier's interlock is [`crate::barrier`]'s; this module only supplies coils.

mod barrier;
mod master;
mod presence;
pub mod rtu;

pub use barrier::{BarrierRegisters, ModbusActuator, ModbusBarrier, ModbusBarrierConfig};
pub use master::{ModbusBus, ModbusConfig};
pub use presence::ModbusPresence;
