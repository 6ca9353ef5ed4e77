//! Simulated devices: each answers from the shared [`SimLane`] world.

use std::io::Cursor;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use image::{ImageEncoder, Rgb, RgbImage};
use tokio::sync::{broadcast, watch};
use tokio::time::sleep;

use super::{SimLane, Zone};
use crate::{
    AreaCamera, Barrier, BarrierState, DeviceError, EmptyBoxDetector, EmptyBoxResult, EmptyVerdict, Image,
    ImageFormat, PresenceSensor, SealRead, SealReader, SimTruth, UnderVehicleCamera, UvssScan,
};

fn down(lane: &SimLane, name: &str) -> Result<(), DeviceError> {
    if lane.is_down(name) {
        Err(DeviceError::Disconnected(format!("simulated device {name} is unplugged")))
    } else {
        Ok(())
    }
}

pub struct SimBarrier {
    lane: SimLane,
    name: String,
}

impl SimBarrier {
    pub fn new(lane: SimLane, name: &str) -> Self {
        SimBarrier { lane, name: name.to_string() }
    }
}

#[async_trait]
impl Barrier for SimBarrier {
    async fn open(&mut self) -> Result<(), DeviceError> {
        down(&self.lane, &self.name)?;
        if self.lane.barrier_stuck() {
            sleep(self.lane.timing.barrier_move * 3).await;
            return Err(DeviceError::Fault("open limit not reached".into()));
        }
        let lane = self.lane.clone();
        travel(async move {
            lane.set_barrier(BarrierState::Between);
            sleep(lane.timing.barrier_move).await;
            lane.set_barrier(BarrierState::Opened);
            Ok(())
        })
        .await
    }

    async fn close(&mut self) -> Result<(), DeviceError> {
        down(&self.lane, &self.name)?;
        if self.lane.occupied(Zone::UnderArm) {
            return Err(DeviceError::Refused("lane under the arm is occupied".into()));
        }
        if self.lane.barrier_stuck() {
            sleep(self.lane.timing.barrier_move * 3).await;
            return Err(DeviceError::Fault("closed limit not reached".into()));
        }
        let lane = self.lane.clone();
        travel(async move {
            lane.set_barrier(BarrierState::Between);
            sleep(lane.timing.barrier_move).await;
            if lane.occupied(Zone::UnderArm) {
                // The drive's own photocell reverses the arm, as real drives do.
                lane.set_barrier(BarrierState::Opened);
                return Err(DeviceError::Refused("obstacle under the arm, arm reversed".into()));
            }
            lane.set_barrier(BarrierState::Closed);
            Ok(())
        })
        .await
    }

    async fn stop(&mut self) -> Result<(), DeviceError> {
        down(&self.lane, &self.name)
    }

    async fn state(&mut self) -> Result<BarrierState, DeviceError> {
        down(&self.lane, &self.name)?;
        Ok(self.lane.barrier())
    }
}

/// A real drive finishes its travel whether or not anyone still waits for the
/// answer: a caller that gives up (a timeout) must not leave the simulated
/// arm frozen half-way, which no real barrier does.
async fn travel(
    motion: impl std::future::Future<Output = Result<(), DeviceError>> + Send + 'static,
) -> Result<(), DeviceError> {
    tokio::spawn(motion)
        .await
        .unwrap_or_else(|e| Err(DeviceError::Fault(format!("simulated drive stopped: {e}"))))
}

pub struct SimPresence {
    state: watch::Receiver<bool>,
    edges: broadcast::Receiver<bool>,
}

impl SimPresence {
    pub(super) fn new(state: watch::Receiver<bool>, edges: broadcast::Receiver<bool>) -> Self {
        SimPresence { state, edges }
    }
}

#[async_trait]
impl PresenceSensor for SimPresence {
    async fn occupied(&mut self) -> Result<bool, DeviceError> {
        // Edges up to now are reflected in the state just read.
        self.edges = self.edges.resubscribe();
        Ok(*self.state.borrow())
    }

    async fn changed(&mut self) -> Result<bool, DeviceError> {
        match self.edges.recv().await {
            Ok(occupied) => Ok(occupied),
            Err(broadcast::error::RecvError::Lagged(_)) => {
                Err(DeviceError::Protocol("missed presence edges".into()))
            }
            Err(broadcast::error::RecvError::Closed) => {
                Err(DeviceError::Disconnected("simulated lane stopped".into()))
            }
        }
    }
}

/// What a simulated camera is pointed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraView {
    Plate,
    Container,
}

pub struct SimCamera {
    lane: SimLane,
    name: String,
    view: CameraView,
}

impl SimCamera {
    pub fn new(lane: SimLane, name: &str, view: CameraView) -> Self {
        SimCamera { lane, name: name.to_string(), view }
    }
}

#[async_trait]
impl AreaCamera for SimCamera {
    async fn snapshot(&mut self) -> Result<Image, DeviceError> {
        down(&self.lane, &self.name)?;
        let vehicle = self.lane.vehicle_at_capture();
        let truth = vehicle.as_ref().map(|v| SimTruth {
            plate: (self.view == CameraView::Plate).then(|| v.plate.clone()),
            containers: if self.view == CameraView::Container { v.containers.clone() } else { vec![] },
            confidence: v.read_confidence,
        });
        let seed = vehicle.as_ref().map_or(0, |v| v.seq);
        let filmed =
            self.lane.footage.as_ref().zip(vehicle.as_ref()).and_then(|(f, v)| f.picture(v, self.view));
        let mut image = filmed.unwrap_or_else(|| jpeg_frame(seed, &self.name));
        image.sim_truth = truth;
        Ok(image)
    }
}

/// A small RGB frame that differs per vehicle and camera, JPEG-encoded.
fn jpeg_frame(seed: u64, name: &str) -> Image {
    let tint = name.bytes().fold(seed as u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
    let (w, h) = (320, 180);
    let img = RgbImage::from_fn(w, h, |x, y| {
        // The top rows carry the vehicle number as blocks, so no two vehicles'
        // frames are alike (the rest is a pattern per camera).
        if y < 8 && x < 256 {
            let bit = (seed >> (x / 4)) & 1;
            return Rgb([if bit == 1 { 255 } else { 0 }; 3]);
        }
        let band = (x / 40 + y / 30).wrapping_add(tint) % 7;
        Rgb([(band * 30) as u8, (x % 256) as u8, (y + tint % 97) as u8])
    });
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 80)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .expect("encoding an in-memory RGB frame cannot fail");
    Image {
        bytes: Bytes::from(buf),
        format: ImageFormat::Jpeg,
        width: w,
        height: h,
        captured_at: Utc::now(),
        sim_truth: None,
    }
}

/// What the simulated scanner sees of a vehicle: a chassis per plate (the same vehicle looks the
/// same on every visit), a pass (speed, position, exposure) per `pass`, and a parcel under the
/// floor pan when the plan marks the vehicle. Public so tests can prepare reference scans.
pub fn uvss_image(plate: &str, pass: u64, parcel: bool) -> RgbImage {
    let plate_seed =
        plate.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    models::uvss::synth::vehicle_scan(plate_seed, pass, parcel, 200, 900)
}

pub struct SimUvss {
    lane: SimLane,
    name: String,
}

impl SimUvss {
    pub fn new(lane: SimLane, name: &str) -> Self {
        SimUvss { lane, name: name.to_string() }
    }
}

#[async_trait]
impl UnderVehicleCamera for SimUvss {
    async fn last_scan(&mut self) -> Result<UvssScan, DeviceError> {
        down(&self.lane, &self.name)?;
        let vehicle = self
            .lane
            .vehicle_at_capture()
            .ok_or_else(|| DeviceError::Fault("no vehicle has passed over the scanner".into()))?;
        let img =
            image::DynamicImage::ImageRgb8(uvss_image(&vehicle.plate, vehicle.seq, vehicle.uvss_anomaly))
                .to_luma8();
        let (w, h) = img.dimensions();
        let mut buf = Vec::new();
        image::codecs::png::PngEncoder::new(Cursor::new(&mut buf))
            .write_image(img.as_raw(), w, h, image::ExtendedColorType::L8)
            .expect("encoding an in-memory grey frame cannot fail");
        let image = Image {
            bytes: Bytes::from(buf),
            format: ImageFormat::Png,
            width: w,
            height: h,
            captured_at: Utc::now(),
            sim_truth: None,
        };
        Ok(UvssScan { image, rows_per_metre: 40.0, speed_kmh: 8.0 })
    }
}

pub struct SimSealReader {
    lane: SimLane,
    name: String,
}

impl SimSealReader {
    pub fn new(lane: SimLane, name: &str) -> Self {
        SimSealReader { lane, name: name.to_string() }
    }
}

#[async_trait]
impl SealReader for SimSealReader {
    async fn interrogate(&mut self) -> Result<Vec<SealRead>, DeviceError> {
        down(&self.lane, &self.name)?;
        Ok(self.lane.vehicle_at_capture().map(|v| v.seals).unwrap_or_default())
    }
}

pub struct SimEmptyBox {
    lane: SimLane,
    name: String,
}

impl SimEmptyBox {
    pub fn new(lane: SimLane, name: &str) -> Self {
        SimEmptyBox { lane, name: name.to_string() }
    }
}

#[async_trait]
impl EmptyBoxDetector for SimEmptyBox {
    async fn scan(&mut self, container: Option<&str>) -> Result<EmptyBoxResult, DeviceError> {
        down(&self.lane, &self.name)?;
        let vehicle = self.lane.vehicle_at_capture();
        let verdict = match vehicle.and_then(|v| v.empty) {
            Some(v) => v,
            None => EmptyVerdict::NotEmpty,
        };
        Ok(EmptyBoxResult {
            container: container.map(str::to_string),
            verdict,
            confidence: 0.95,
            depth_profile: vec![],
            interior: None,
        })
    }
}
