//! One trait per device class. Async because every real transport is; boxed
//! (`async_trait`) because the lane holds whichever driver the config names.

use async_trait::async_trait;

use crate::{BarrierState, DeviceError, EmptyBoxResult, Image, SealRead, UvssScan};

/// Gate barrier. Movements return once the limit switch confirms the end position,
/// or fail with [`DeviceError::Fault`] when it is not reached in time.
#[async_trait]
pub trait Barrier: Send {
    async fn open(&mut self) -> Result<(), DeviceError>;
    /// Must refuse ([`DeviceError::Refused`]) while the drive knows the lane under
    /// the arm is occupied; the lane controller checks too, this is the second line.
    async fn close(&mut self) -> Result<(), DeviceError>;
    async fn stop(&mut self) -> Result<(), DeviceError>;
    /// Read from the limit switches, never assumed.
    async fn state(&mut self) -> Result<BarrierState, DeviceError>;
}

/// Inductive loop or photocell: occupied or clear.
#[async_trait]
pub trait PresenceSensor: Send {
    /// The current, debounced state.
    async fn occupied(&mut self) -> Result<bool, DeviceError>;
    /// Waits for the next debounced change and returns the new state.
    async fn changed(&mut self) -> Result<bool, DeviceError>;
}

/// Plate or container camera: one still image on request.
#[async_trait]
pub trait AreaCamera: Send {
    async fn snapshot(&mut self) -> Result<Image, DeviceError>;
}

/// Line-scan camera in the road surface.
#[async_trait]
pub trait UnderVehicleCamera: Send {
    /// The scan of the vehicle that has just driven over the camera; waits for a
    /// scan still in progress to finish.
    async fn last_scan(&mut self) -> Result<UvssScan, DeviceError>;
}

/// ISO 18185 electronic seal reader.
#[async_trait]
pub trait SealReader: Send {
    /// Every seal in range.
    async fn interrogate(&mut self) -> Result<Vec<SealRead>, DeviceError>;
}

/// Container empty-box detector.
#[async_trait]
pub trait EmptyBoxDetector: Send {
    async fn scan(&mut self, container: Option<&str>) -> Result<EmptyBoxResult, DeviceError>;
}
