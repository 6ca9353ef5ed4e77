//! Building the real drivers from configuration: serial, Modbus RTU, TCP and
//! HTTP devices, and GPIO ones through [`super::gpio`]. Opening a port or an address happens here and only here (the
//! drivers are handed connectors), and nothing here waits on a device: every
//! driver connects in its own task, with backoff, so an unplugged device at
//! start is a device reported `down`, not an agent that will not start.
//!
//! Devices naming the same Modbus `port` share one bus master, because RS-485
//! is half duplex with one request in flight.

use std::collections::HashMap;
use std::time::Duration;

use drivers::emptybox::{EmptyBoxConfig, EmptyBoxDriver};
use drivers::gpio::PresenceConfig;
use drivers::http_camera::auth::Credentials;
use drivers::http_camera::{HttpCamera, HttpCameraConfig};
use drivers::modbus::{
    BarrierRegisters, ModbusBarrier, ModbusBarrierConfig, ModbusBus, ModbusConfig, ModbusPresence,
};
use drivers::seal_reader::{SealReaderConfig, SealReaderDriver};
use drivers::transport::{SerialConnector, TcpConnector};
use drivers::uvss::{UvssConfig, UvssDriver};
use drivers::{
    AreaCamera, Barrier, EmptyBoxDetector, Health, PresenceSensor, SealReader, UnderVehicleCamera,
};
use tokio::sync::watch;

use super::BuildError;
use crate::config::{DeviceConfig, ModbusConfig as ModbusDevice, Transport};

/// The real drivers built so far, with every driver's own health channel.
#[derive(Default)]
pub struct Wire {
    buses: HashMap<String, ModbusBus>,
    pub health: Vec<(String, watch::Receiver<Health>)>,
}

fn missing(d: &DeviceConfig, key: &'static str) -> BuildError {
    BuildError::Missing { device: d.name.clone(), key }
}

impl Wire {
    fn bus(&mut self, m: &ModbusDevice) -> ModbusBus {
        let name = format!("modbus:{}", m.port);
        let (bus, new) = match self.buses.get(&m.port) {
            Some(bus) => (bus.clone(), false),
            None => (
                ModbusBus::spawn(
                    &name,
                    SerialConnector::new(&m.port, m.baud),
                    ModbusConfig { echo: m.echo, ..ModbusConfig::default() },
                ),
                true,
            ),
        };
        if new {
            self.buses.insert(m.port.clone(), bus.clone());
            self.health.push((name, bus.health()));
        }
        bus
    }

    pub fn presence(&mut self, d: &DeviceConfig) -> Result<Box<dyn PresenceSensor>, BuildError> {
        match &d.transport {
            Transport::Modbus(m) => {
                let input = m.presence_input.ok_or_else(|| missing(d, "presence_input"))?;
                let cfg = PresenceConfig { poll: Duration::from_millis(20), ..Default::default() };
                let p = ModbusPresence::spawn(&d.name, self.bus(m), m.unit, input, cfg);
                self.health.push((d.name.clone(), p.health()));
                Ok(Box::new(p))
            }
            Transport::Gpio(g) => {
                let (p, health) = super::gpio::presence(d, g)?;
                self.health.push((d.name.clone(), health));
                Ok(p)
            }
            _ => Err(unsupported(d)),
        }
    }

    /// `occupied`: the under-arm presence, for the driver's own close interlock;
    /// `limit`: how long the lane gives one movement.
    pub fn barrier(
        &mut self,
        d: &DeviceConfig,
        occupied: watch::Receiver<bool>,
        limit: Duration,
    ) -> Result<Box<dyn Barrier>, BuildError> {
        match &d.transport {
            Transport::Modbus(m) => {
                let registers = BarrierRegisters {
                    unit: m.unit,
                    open_coil: m.open_coil.ok_or_else(|| missing(d, "open_coil"))?,
                    close_coil: m.close_coil.ok_or_else(|| missing(d, "close_coil"))?,
                    stop_coil: m.stop_coil.ok_or_else(|| missing(d, "stop_coil"))?,
                    opened_input: m.opened_input.ok_or_else(|| missing(d, "opened_input"))?,
                    closed_input: m.closed_input.ok_or_else(|| missing(d, "closed_input"))?,
                };
                let pulse = Duration::from_millis(500);
                let cfg = ModbusBarrierConfig {
                    registers,
                    pulse,
                    // Inside the lane's limit, with room for the bus exchanges, so the
                    // driver ends a movement itself (coil released, fault named)
                    // rather than being cancelled by the lane part-way through.
                    move_timeout: limit
                        .saturating_sub(pulse + Duration::from_secs(1))
                        .max(Duration::from_secs(1)),
                    poll: Duration::from_millis(50),
                };
                // Power-up (coils released, limits read) on the first operation:
                // the lane reads the barrier's state right after start.
                let b = ModbusBarrier::deferred(&d.name, self.bus(m), cfg, occupied);
                self.health.push((d.name.clone(), b.health()));
                Ok(Box::new(b))
            }
            Transport::Gpio(g) => {
                let (b, health) = super::gpio::barrier(d, g, occupied, limit)?;
                self.health.push((d.name.clone(), health));
                Ok(b)
            }
            _ => Err(unsupported(d)),
        }
    }

    pub fn camera(&mut self, d: &DeviceConfig) -> Result<Box<dyn AreaCamera>, BuildError> {
        let Transport::Http { url, username, password, .. } = &d.transport else {
            return Err(unsupported(d));
        };
        let (addr, host, path) =
            split_url(url).ok_or_else(|| BuildError::Url { device: d.name.clone(), url: url.clone() })?;
        let mut cfg = HttpCameraConfig::new(host, path);
        cfg.timeout = d.timeout;
        // The camera's challenge decides basic or digest; the config's `auth` is
        // validated to come with credentials.
        if let Some(user) = username {
            cfg.credentials =
                Some(Credentials { user: user.clone(), password: password.clone().unwrap_or_default() });
        }
        let cam = HttpCamera::new(&d.name, &addr, cfg);
        self.health.push((d.name.clone(), cam.health()));
        Ok(Box::new(cam))
    }

    pub fn uvss(&mut self, d: &DeviceConfig) -> Result<Box<dyn UnderVehicleCamera>, BuildError> {
        let Transport::Tcp { address } = &d.transport else { return Err(unsupported(d)) };
        let u = UvssDriver::spawn(&d.name, TcpConnector::new(address), UvssConfig::default());
        self.health.push((d.name.clone(), u.health()));
        Ok(Box::new(u))
    }

    pub fn seal_reader(&mut self, d: &DeviceConfig) -> Result<Box<dyn SealReader>, BuildError> {
        let Transport::Serial { port, baud, address } = &d.transport else { return Err(unsupported(d)) };
        let cfg = SealReaderConfig { address: address.unwrap_or(1), ..Default::default() };
        let r = SealReaderDriver::spawn(&d.name, SerialConnector::new(port, *baud), cfg);
        self.health.push((d.name.clone(), r.health()));
        Ok(Box::new(r))
    }

    pub fn empty_box(&mut self, d: &DeviceConfig) -> Result<Box<dyn EmptyBoxDetector>, BuildError> {
        let cfg = EmptyBoxConfig::default();
        let det = match &d.transport {
            Transport::Tcp { address } => EmptyBoxDriver::spawn(&d.name, TcpConnector::new(address), cfg),
            Transport::Serial { port, baud, .. } => {
                EmptyBoxDriver::spawn(&d.name, SerialConnector::new(port, *baud), cfg)
            }
            _ => return Err(unsupported(d)),
        };
        self.health.push((d.name.clone(), det.health()));
        Ok(Box::new(det))
    }
}

fn unsupported(d: &DeviceConfig) -> BuildError {
    BuildError::Unsupported { device: d.name.clone(), transport: d.transport.name() }
}

/// `http://host[:port]/path` -> (`host:port` to connect to, `Host` header, path).
/// `None` for https (no TLS to cameras in this build) or a URL without a host.
fn split_url(url: &str) -> Option<(String, String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let addr = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let path = if path.is_empty() { "/" } else { path };
    Some((addr, authority.to_string(), path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn camera_urls_split_into_address_host_and_path() {
        let s = split_url;
        assert_eq!(
            s("http://10.20.1.21/ISAPI/Streaming/channels/1/picture"),
            Some(("10.20.1.21:80".into(), "10.20.1.21".into(), "/ISAPI/Streaming/channels/1/picture".into()))
        );
        assert_eq!(s("http://cam:8080"), Some(("cam:8080".into(), "cam:8080".into(), "/".into())));
        assert_eq!(s("https://cam/x"), None, "no TLS to cameras: a clear error, not a plain-text attempt");
        assert_eq!(s("http:///x"), None);
    }
}
