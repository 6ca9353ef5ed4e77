//! Recognition runs on its own worker thread: models are slow and hold large
//! sessions, and must never stall the lane loop.

use std::sync::mpsc;

use drivers::Image;
use models::{ContainerRead, PlateRead, Reads};

use crate::record::CaptureKind;

/// One image to read, with the camera it came from.
pub struct Shot {
    pub device: String,
    pub kind: CaptureKind,
    pub image: Image,
}

pub trait Recognizer: Send {
    fn recognize(&mut self, shots: &[Shot]) -> Result<Reads, String>;
}

/// Reads the ground truth the simulated cameras attach to their images. Only
/// configuration for a fully simulated lane can select it.
pub struct SimTruthReader;

impl Recognizer for SimTruthReader {
    fn recognize(&mut self, shots: &[Shot]) -> Result<Reads, String> {
        let mut reads = Reads { models: vec!["sim-truth".into()], ..Reads::default() };
        for shot in shots {
            let Some(truth) = &shot.image.sim_truth else { continue };
            if let Some(plate) = &truth.plate {
                match reads.plates.iter_mut().find(|p| &p.text == plate) {
                    Some(p) => p.cameras.push(shot.device.clone()),
                    None => reads.plates.push(PlateRead { text: plate.clone(), confidence: truth.confidence, color: None, cameras: vec![shot.device.clone()] }),
                }
            }
            for code in &truth.containers {
                match reads.containers.iter_mut().find(|c| &c.code == code) {
                    Some(c) => c.cameras.push(shot.device.clone()),
                    None => reads.containers.push(ContainerRead {
                        code: code.clone(),
                        confidence: truth.confidence,
                        check_digit_ok: models::iso6346::is_valid(code),
                        corrected: vec![],
                        size_type: None,
                        cameras: vec![shot.device.clone()],
                    }),
                }
            }
        }
        Ok(reads)
    }
}

pub struct Job {
    pub passage: String,
    pub shots: Vec<Shot>,
}

/// Starts a worker thread that owns the recognizer; results come back through
/// `done` so the lane loop can await them like any other event.
pub fn spawn_worker<R, F>(mut recognizer: R, mut done: F) -> mpsc::SyncSender<Job>
where
    R: Recognizer + 'static,
    F: FnMut(String, Result<Reads, String>) + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel::<Job>(16);
    std::thread::Builder::new()
        .name("recognition".into())
        .spawn(move || {
            for job in rx {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| recognizer.recognize(&job.shots)))
                    .unwrap_or_else(|_| Err("recognizer crashed on this input".into()));
                done(job.passage, result);
            }
        })
        .expect("spawning the recognition thread");
    tx
}
