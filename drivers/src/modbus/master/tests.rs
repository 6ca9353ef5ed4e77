//! The master against a scripted slave over an in-memory duplex stream: a coil
//! write, whose reply is byte for byte the request, must be answered with and
//! without an adapter that echoes the host's own transmissions.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::transport::FnConnector;

/// A slave with three coils; `echo` plays a two-wire adapter that hears the host.
async fn slave(mut s: DuplexStream, echo: bool) {
    let mut coils = [false; 3];
    let mut buf = BytesMut::new();
    loop {
        if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
            return;
        }
        let raw = buf.clone();
        while let Ok(Some((unit, req))) = rtu::decode_request(&mut buf) {
            let resp = match req {
                RtuRequest::WriteSingleCoil { addr, on } => {
                    coils[usize::from(addr)] = on;
                    RtuResponse::CoilWritten { addr, on }
                }
                RtuRequest::ReadCoils { addr, count } => RtuResponse::Bits {
                    function: rtu::READ_COILS,
                    bits: coils[usize::from(addr)..usize::from(addr + count)].to_vec(),
                },
                RtuRequest::ReadDiscreteInputs { .. } => RtuResponse::Exception { function: 2, code: 2 },
            };
            let mut out = if echo { BytesMut::from(&raw[..]) } else { BytesMut::new() };
            rtu::encode_response(unit, &resp, &mut out);
            s.write_all(&out).await.unwrap();
        }
    }
}

fn bus(echo: bool) -> ModbusBus {
    let connector = FnConnector::new("duplex", move || async move {
        let (host, dev) = tokio::io::duplex(1024);
        tokio::spawn(slave(dev, echo));
        Ok::<_, io::Error>(host)
    });
    ModbusBus::spawn("rs485", connector, ModbusConfig { echo, ..Default::default() })
}

#[tokio::test]
async fn coil_write_is_answered_by_its_own_bytes_without_echo() {
    let bus = bus(false);
    bus.write_coil(1, 2, true).await.unwrap();
    assert_eq!(bus.read_coils(1, 0, 3).await.unwrap(), [false, false, true]);
    assert_eq!(bus.health().borrow().state, crate::HealthState::Ok);
}

#[tokio::test]
async fn coil_write_through_an_echoing_adapter_waits_for_the_real_reply() {
    let bus = bus(true);
    for on in [true, false, true] {
        bus.write_coil(1, 1, on).await.unwrap();
    }
    assert_eq!(bus.read_coils(1, 0, 3).await.unwrap(), [false, true, false]);
    assert_eq!(bus.health().borrow().state, crate::HealthState::Ok, "the echo is not corrupt data");
}

#[tokio::test]
async fn exception_is_a_typed_error_naming_the_register_map() {
    let bus = bus(false);
    let err = bus.read_discrete_inputs(1, 0, 1).await.unwrap_err();
    assert!(matches!(&err, DeviceError::Protocol(m) if m.contains("register map")), "{err:?}");
}
