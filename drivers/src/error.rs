//! The one error type every device operation returns. Its variants are what the
//! lane must tell apart to act (wait and retry, hold for a technician, refuse
//! for safety), not how a transport failed; the message is for the technician.

use std::time::Duration;

/// Why a device operation failed, phrased for the technician who has to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeviceError {
    #[error("device did not answer within {0:?}")]
    Timeout(Duration),
    #[error("device is disconnected: {0}")]
    Disconnected(String),
    #[error("device sent a malformed reply: {0}")]
    Protocol(String),
    #[error("device reported a fault: {0}")]
    Fault(String),
    /// A command the driver refuses to carry out because it would be unsafe,
    /// e.g. closing the barrier while the lane under the arm is occupied.
    #[error("refused: {0}")]
    Refused(String),
}

impl DeviceError {
    /// A short machine-readable word for records and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            DeviceError::Timeout(_) => "timeout",
            DeviceError::Disconnected(_) => "disconnected",
            DeviceError::Protocol(_) => "protocol",
            DeviceError::Fault(_) => "fault",
            DeviceError::Refused(_) => "refused",
        }
    }
}
