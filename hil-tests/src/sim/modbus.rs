//! Plays an RS-485 barrier controller with two loop detectors as one Modbus
//! RTU slave on a PTY, with a simulated arm behind the coils:
//!
//! | kind | address | meaning |
//! |---|---|---|
//! | coil | 0 / 1 / 2 | open / close / stop command (pulsed by the host) |
//! | discrete input | 0 / 1 | opened / closed limit switch |
//! | discrete input | 2 / 3 / 4 | loop under the arm / arrival loop / exit loop |
//!
//! The two loops are also played as stand-alone Modbus loop detectors, one unit
//! each ([`UNDER_ARM_UNIT`], [`ARRIVAL_UNIT`], [`EXIT_UNIT`], occupancy on discrete input 0),
//! which is how a lane file wires them when every device on a bus needs its own
//! unit id; both views read the same loop.
//!
//! `stuck-barrier` makes the arm ignore its commands; `chattering-sensor` makes
//! the under-arm loop flip every 40 ms; the wire scenarios mangle replies as for
//! every other simulator. The controller counts close commands received while
//! the under-arm loop was occupied, so a test can assert there were none.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use drivers::modbus::rtu::{self, RtuRequest, RtuResponse};
use drivers::modbus::BarrierRegisters;
use rand::{rngs::SmallRng, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::debug;

use super::{faults, Scenario, ScenarioCtl};

pub const UNIT: u8 = 1;
pub const OPENED_INPUT: u16 = 0;
pub const CLOSED_INPUT: u16 = 1;
pub const UNDER_ARM_INPUT: u16 = 2;
pub const ARRIVAL_INPUT: u16 = 3;
pub const EXIT_INPUT: u16 = 4;
/// Stand-alone loop detectors on the same bus: unit -> the controller input it mirrors.
pub const UNDER_ARM_UNIT: u8 = 2;
pub const ARRIVAL_UNIT: u8 = 3;
pub const EXIT_UNIT: u8 = 4;
const LOOP_UNITS: [(u8, u16); 3] =
    [(UNDER_ARM_UNIT, UNDER_ARM_INPUT), (ARRIVAL_UNIT, ARRIVAL_INPUT), (EXIT_UNIT, EXIT_INPUT)];

/// The register map of the simulated controller, as an agent config names it.
pub fn registers() -> BarrierRegisters {
    BarrierRegisters {
        unit: UNIT,
        open_coil: 0,
        close_coil: 1,
        stop_coil: 2,
        opened_input: OPENED_INPUT,
        closed_input: CLOSED_INPUT,
    }
}

#[derive(Debug, Default)]
struct Gate {
    coils: [bool; 3],
    /// Inputs: opened, closed, under arm, arrival, exit.
    inputs: [bool; 5],
    /// Where the arm is heading and when it gets there.
    target: Option<(bool, tokio::time::Instant)>,
    /// How often the arm has reached the top: the top can be a moment between an
    /// open and the next close, too short for a test to see by looking.
    arrivals_up: u32,
}

/// Shared state of the simulated controller.
#[derive(Clone)]
pub struct ModbusGate {
    gate: Arc<Mutex<Gate>>,
    /// Signalled whenever an input changes, for [`ModbusGate::wait_input`].
    changed: Arc<Condvar>,
    /// Close commands that arrived while the under-arm loop was occupied.
    pub closes_while_occupied: Arc<AtomicU32>,
}

impl ModbusGate {
    /// Starts the arm closed and the physics running.
    pub fn spawn(ctl: ScenarioCtl, travel: Duration) -> Self {
        let g = ModbusGate {
            gate: Arc::new(Mutex::new(Gate::default())),
            changed: Arc::new(Condvar::new()),
            closes_while_occupied: Arc::new(AtomicU32::new(0)),
        };
        g.gate.lock().unwrap().inputs[1] = true;
        let (gate, changed) = (g.gate.clone(), g.changed.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            let mut flips = 0u32;
            loop {
                tick.tick().await;
                let now = tokio::time::Instant::now();
                let scenario = ctl.get();
                let mut g = gate.lock().unwrap();
                let before = g.inputs;
                if scenario == Scenario::ChatteringSensor {
                    flips += 1;
                    if flips & 7 == 0 {
                        g.inputs[2] = !g.inputs[2];
                    }
                }
                if scenario == Scenario::StuckBarrier {
                    if g.inputs != before {
                        changed.notify_all();
                    }
                    continue;
                }
                let [open, close, stop] = g.coils;
                if stop {
                    g.target = None;
                } else if open && g.target.map_or(!g.inputs[0], |t| !t.0) {
                    g.target = Some((true, now + travel));
                    g.inputs[1] = false;
                } else if close && g.target.map_or(!g.inputs[1], |t| t.0) {
                    g.target = Some((false, now + travel));
                    g.inputs[0] = false;
                }
                if let Some((up, at)) = g.target {
                    if now >= at {
                        g.inputs[if up { 0 } else { 1 }] = true;
                        g.arrivals_up += u32::from(up);
                        g.target = None;
                    }
                }
                if g.inputs != before {
                    changed.notify_all();
                }
            }
        });
        g
    }

    pub fn set_input(&self, input: u16, on: bool) {
        self.gate.lock().unwrap().inputs[usize::from(input)] = on;
        self.changed.notify_all();
    }

    /// Blocks until `input` reads `on` (woken by each change, not polled), at most `limit`;
    /// says whether it does.
    pub fn wait_input(&self, input: u16, on: bool, limit: Duration) -> bool {
        let i = usize::from(input);
        let g = self.gate.lock().unwrap();
        let (g, _) = self.changed.wait_timeout_while(g, limit, |g| g.inputs[i] != on).unwrap();
        g.inputs[i] == on
    }

    /// How often the arm has reached the top so far.
    pub fn arrivals_up(&self) -> u32 {
        self.gate.lock().unwrap().arrivals_up
    }

    /// Blocks until the arm has reached the top more than `seen` times (woken by each change),
    /// at most `limit`; says whether it has.
    pub fn wait_arrival_up(&self, seen: u32, limit: Duration) -> bool {
        let g = self.gate.lock().unwrap();
        let (g, _) = self.changed.wait_timeout_while(g, limit, |g| g.arrivals_up <= seen).unwrap();
        g.arrivals_up > seen
    }

    pub fn set_coil(&self, coil: u16, on: bool) {
        self.gate.lock().unwrap().coils[usize::from(coil)] = on;
    }

    pub fn coil(&self, coil: u16) -> bool {
        self.gate.lock().unwrap().coils[usize::from(coil)]
    }

    pub fn input(&self, input: u16) -> bool {
        self.gate.lock().unwrap().inputs[usize::from(input)]
    }

    /// A loop detector unit: one discrete input (address 0), nothing else.
    fn answer_loop(&self, input: u16, req: RtuRequest) -> RtuResponse {
        match req {
            RtuRequest::ReadDiscreteInputs { addr: 0, count: 1 } => {
                RtuResponse::Bits { function: rtu::READ_DISCRETE_INPUTS, bits: vec![self.input(input)] }
            }
            req => RtuResponse::Exception { function: req.function(), code: 2 },
        }
    }

    fn answer(&self, req: RtuRequest) -> RtuResponse {
        let mut g = self.gate.lock().unwrap();
        let bits = |src: &[bool], addr: u16, count: u16| -> Option<Vec<bool>> {
            let (a, n) = (usize::from(addr), usize::from(count));
            src.get(a..a + n).map(<[bool]>::to_vec)
        };
        match req {
            RtuRequest::ReadCoils { addr, count } => bits(&g.coils, addr, count)
                .map(|bits| RtuResponse::Bits { function: rtu::READ_COILS, bits })
                .unwrap_or(RtuResponse::Exception { function: rtu::READ_COILS, code: 2 }),
            RtuRequest::ReadDiscreteInputs { addr, count } => bits(&g.inputs, addr, count)
                .map(|bits| RtuResponse::Bits { function: rtu::READ_DISCRETE_INPUTS, bits })
                .unwrap_or(RtuResponse::Exception { function: rtu::READ_DISCRETE_INPUTS, code: 2 }),
            RtuRequest::WriteSingleCoil { addr, on } if addr < 3 => {
                if addr == 1 && on && g.inputs[2] {
                    self.closes_while_occupied.fetch_add(1, Ordering::SeqCst);
                }
                g.coils[usize::from(addr)] = on;
                RtuResponse::CoilWritten { addr, on }
            }
            RtuRequest::WriteSingleCoil { .. } => {
                RtuResponse::Exception { function: rtu::WRITE_SINGLE_COIL, code: 2 }
            }
        }
    }
}

/// Serves the slave on one link until the host hangs up or the scenario says `disconnect`.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    gate: ModbusGate,
    ctl: ScenarioCtl,
) -> io::Result<()> {
    let mut buf = BytesMut::with_capacity(256);
    let mut rng = SmallRng::from_entropy();
    let mut changes = ctl.subscribe();
    loop {
        loop {
            match rtu::decode_request(&mut buf) {
                Ok(Some((unit, req))) if unit == UNIT || LOOP_UNITS.iter().any(|(u, _)| *u == unit) => {
                    let resp = match LOOP_UNITS.iter().find(|(u, _)| *u == unit) {
                        Some((_, input)) => gate.answer_loop(*input, req),
                        None => gate.answer(req),
                    };
                    let mut out = BytesMut::new();
                    rtu::encode_response(unit, &resp, &mut out);
                    // RTU has no sync byte; garbage leaves out the unit and function codes
                    // instead, so it cannot pose as a frame start (see `faults`).
                    if let Some(bytes) = faults::mangle(
                        ctl.get(),
                        &out,
                        &[UNIT, UNDER_ARM_UNIT, ARRIVAL_UNIT, EXIT_UNIT, 0x05, 0x81, 0x82, 0x85],
                        &mut rng,
                    ) {
                        stream.write_all(&bytes).await?;
                        stream.flush().await?;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => debug!(device = "modbus", error = %e, "sim dropped corrupt request bytes"),
            }
        }
        tokio::select! {
            r = stream.read_buf(&mut buf) => match r {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(5) => return Ok(()),
                Err(e) => return Err(e),
            },
            r = changes.changed() => if r.is_err() || *changes.borrow() == Scenario::Disconnect {
                return Ok(());
            },
        }
    }
}
