//! Device traits for every device class on an inspection lane, plus drivers.
//!
//! The lane runtime in `edge-agent` only ever sees the traits in [`device`]; which
//! concrete driver sits behind one (a simulated device, GPIO, serial, TCP, HTTP) is
//! decided once, when the configuration is built. Drivers never open paths on their
//! own: they are handed a HAL, a stream or a client.

pub mod barrier;
pub mod device;
pub mod emptybox;
pub mod error;
pub mod gpio;
pub mod health;
pub mod http_camera;
pub mod modbus;
pub mod protocol;
pub mod seal_reader;
#[cfg(feature = "sim")]
pub mod sim;
pub mod transport;
pub mod types;
pub mod uvss;

pub use device::{AreaCamera, Barrier, EmptyBoxDetector, PresenceSensor, SealReader, UnderVehicleCamera};
pub use error::DeviceError;
pub use health::{Health, HealthState};
pub use types::*;
