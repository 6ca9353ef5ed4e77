//! Sequence and address matching, scripted at the byte level over an in-memory
//! duplex stream: a late reply to an earlier request, or a reply from another
//! reader on the bus, must never be taken as the answer.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::protocol::seal::SealRecord;
use crate::transport::FnConnector;
use crate::SealStatus;

fn record(serial: u32) -> SealRecord {
    SealRecord {
        id: SealId { manufacturer: 1, serial },
        status: SealStatus::Sealed,
        sealed_at: None,
        battery_pct: 50,
        rssi_dbm: -70,
    }
}

fn frame(addr: u8, seq: u8, body: SealBody) -> BytesMut {
    let mut b = BytesMut::new();
    seal::encode(&SealFrame { addr, seq, body }, &mut b).unwrap();
    b
}

/// Echoes every request back (a two-wire RS-485 adapter), then answers.
async fn echoing_reader(mut s: DuplexStream) {
    let mut buf = BytesMut::new();
    loop {
        if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
            return;
        }
        let raw = buf.clone();
        while let Ok(Some(req)) = seal::decode(&mut buf) {
            let mut out = BytesMut::from(&raw[..]);
            let reply = match req.body {
                SealBody::Ping => SealBody::PingReply { fw_major: 1, fw_minor: 0, reader_serial: 7 },
                _ => SealBody::InterrogateReply { seals: vec![record(1)] },
            };
            out.extend_from_slice(&frame(req.addr, req.seq, reply));
            s.write_all(&out).await.unwrap();
        }
    }
}

#[tokio::test]
async fn own_request_echoed_by_an_rs485_adapter_is_skipped() {
    let connector = FnConnector::new("duplex", || async {
        let (host, dev) = tokio::io::duplex(4096);
        tokio::spawn(echoing_reader(dev));
        Ok::<_, io::Error>(host)
    });
    let cfg = SealReaderConfig { window: Duration::from_millis(10), ..Default::default() };
    let mut d = SealReaderDriver::spawn("seal", connector, cfg);
    assert_eq!(d.interrogate().await.unwrap().len(), 1);
    assert_eq!(d.health().borrow().state, crate::HealthState::Ok, "the echo is not corrupt data");
}

/// A reader that, before each real reply, sends a stale reply (previous seq)
/// and a reply from reader 9 carrying the right seq.
async fn tricky_reader(mut s: DuplexStream) {
    let mut buf = BytesMut::new();
    loop {
        if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
            return;
        }
        while let Ok(Some(req)) = seal::decode(&mut buf) {
            let reply = match req.body {
                SealBody::Ping => SealBody::PingReply { fw_major: 1, fw_minor: 0, reader_serial: 7 },
                _ => SealBody::InterrogateReply { seals: vec![record(u32::from(req.seq))] },
            };
            let mut out = frame(
                req.addr,
                req.seq.wrapping_sub(1),
                SealBody::InterrogateReply { seals: vec![record(0xBAD)] },
            );
            out.extend_from_slice(&frame(
                9,
                req.seq,
                SealBody::InterrogateReply { seals: vec![record(0xBAD)] },
            ));
            out.extend_from_slice(&frame(req.addr, req.seq, reply));
            s.write_all(&out).await.unwrap();
        }
    }
}

#[tokio::test]
async fn only_the_reply_with_our_address_and_seq_counts() {
    let connector = FnConnector::new("duplex", || async {
        let (host, dev) = tokio::io::duplex(4096);
        tokio::spawn(tricky_reader(dev));
        Ok::<_, io::Error>(host)
    });
    let cfg = SealReaderConfig {
        window: Duration::from_millis(10),
        reply_margin: Duration::from_millis(300),
        ..Default::default()
    };
    let mut d = SealReaderDriver::spawn("seal", connector, cfg);
    for _ in 0..3 {
        let seals = d.interrogate().await.unwrap();
        assert_eq!(seals.len(), 1);
        assert_ne!(seals[0].id, "0001-00000BAD", "a stale or foreign reply was taken");
    }
    assert_eq!(d.health().borrow().state, crate::HealthState::Ok);
}

#[tokio::test]
async fn calls_fail_fast_while_the_port_cannot_be_opened() {
    let connector = FnConnector::new("nowhere", || async {
        Err::<DuplexStream, _>(io::Error::new(io::ErrorKind::NotFound, "no such port"))
    });
    let mut d = SealReaderDriver::spawn("seal", connector, SealReaderConfig::default());
    let mut h = d.health();
    h.wait_for(|h| h.reason.as_deref().is_some_and(|r| r.contains("cannot open"))).await.unwrap();
    let t0 = std::time::Instant::now();
    assert!(matches!(d.interrogate().await, Err(DeviceError::Disconnected(_))));
    assert!(t0.elapsed() < Duration::from_millis(100));
}
