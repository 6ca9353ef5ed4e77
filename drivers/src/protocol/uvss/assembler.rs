//! Assembles a line-scan stream into one grey image whose travel axis is in
//! metres, not in time. Pure: messages in, scans out; no I/O, no clock.
//!
//! A line-scan camera takes rows at a fixed line rate, so a truck crawling over
//! it is stretched and one that speeds up is squashed; a reviewer comparing two
//! passes of the same truck, or a model comparing against a reference scan, needs
//! the same number of rows per metre every time. So each row is placed by
//! distance: its time comes from the batch timestamp and line period, the vehicle
//! speed at that time from the camera's speed field (interpolated linearly
//! between samples), or else from the time between the two loops' leading edges,
//! or else from an assumed speed that is flagged in the metadata. Rows are then
//! resampled to [`AssemblerConfig::rows_per_metre`] by linear interpolation.
//!
//! Lost rows show as gaps in the row counter; they are counted, and since the
//! rows that did arrive keep their true times, the gap is bridged by
//! interpolation instead of shifting the rest of the vehicle. Pixels are reduced
//! to 8 bits on arrival, which is what the stored PNG holds anyway, and both the
//! input and the output are capped so a runaway scan cannot exhaust memory.

use std::io::Cursor;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use image::ImageEncoder;

use super::{EndReason, RowBatch, ScanStart, UvssMsg};
use crate::{Image, ImageFormat, UvssScan};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AssemblerConfig {
    /// Output resolution along the travel axis.
    pub rows_per_metre: f32,
    /// Longest vehicle kept; rows beyond are cut (and the scan flagged truncated).
    pub max_length_m: f32,
    /// Most pixels held for one scan, input and output each.
    pub max_pixels: usize,
    /// Distance between the leading edges of loop 0 and loop 1, if the camera
    /// reports loop events.
    pub loop_spacing_m: Option<f32>,
    /// Used when no speed is measured at all; flagged as [`SpeedSource::Assumed`].
    pub assumed_speed_kmh: f32,
}

impl Default for AssemblerConfig {
    fn default() -> Self {
        AssemblerConfig {
            rows_per_metre: 500.0,
            max_length_m: 30.0,
            max_pixels: 64 << 20,
            loop_spacing_m: None,
            assumed_speed_kmh: 5.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeedSource {
    /// The camera's speed field (radar or its own measurement).
    Camera,
    /// Time between the two loops' leading edges.
    Loops,
    /// Nothing measured: the travel axis is only roughly to scale.
    Assumed,
}

/// What a reviewer and the passage record need to know about a scan.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanMeta {
    pub scan_id: u32,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// `None` when the scan was closed without a `ScanEnd` (link lost, new scan).
    pub end_reason: Option<EndReason>,
    pub rows_received: u32,
    /// Rows missing from the counter sequence (lost batches, camera overflow).
    pub rows_dropped: u32,
    /// Rows received twice and ignored.
    pub rows_duplicate: u32,
    /// Rows were cut by the input or length limit.
    pub truncated: bool,
    pub speed_source: SpeedSource,
    pub mean_speed_kmh: f32,
    pub length_m: f32,
    pub rows_per_metre: f32,
}

/// One assembled pass: 8-bit grey, `width` x `height`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct AssembledScan {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
    pub meta: ScanMeta,
}

impl AssembledScan {
    /// PNG-encodes the image for the passage record.
    pub fn to_uvss_scan(&self) -> Result<UvssScan, image::ImageError> {
        let mut buf = Vec::new();
        image::codecs::png::PngEncoder::new(Cursor::new(&mut buf)).write_image(
            &self.pixels,
            self.width,
            self.height,
            image::ExtendedColorType::L8,
        )?;
        let image = Image {
            bytes: Bytes::from(buf),
            format: ImageFormat::Png,
            width: self.width,
            height: self.height,
            captured_at: self.meta.started_at,
            sim_truth: None,
        };
        Ok(UvssScan { image, rows_per_metre: self.meta.rows_per_metre, speed_kmh: self.meta.mean_speed_kmh })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssembleError {
    /// Rows of a scan whose start was not seen (e.g. the link came up mid-scan).
    #[error("rows for scan {scan_id}, but no scan was started; dropped")]
    NoScan { scan_id: u32 },
    #[error("message for scan {got} during scan {expected}; dropped")]
    WrongScan { expected: u32, got: u32 },
    #[error("batch geometry differs from scan {scan_id}'s start; dropped")]
    GeometryMismatch { scan_id: u32 },
    #[error("scan {scan_id} ended without a single row")]
    Empty { scan_id: u32 },
}

struct Current {
    start: ScanStart,
    /// 8-bit pixels of the rows received, in arrival order.
    pixels: Vec<u8>,
    /// Time of each row, µs after `start.started_at_us`.
    times: Vec<f64>,
    next_row: u32,
    dropped: u32,
    duplicate: u32,
    truncated: bool,
    /// (µs after start, m/s)
    speeds: Vec<(f64, f64)>,
}

/// Feed every message of the stream to [`ScanAssembler::push`]; it returns a scan
/// whenever one is complete.
pub struct ScanAssembler {
    cfg: AssemblerConfig,
    current: Option<Current>,
    /// Leading-edge times of loops 0 and 1, µs since the epoch.
    loop_on: [Option<u64>; 2],
}

/// Loop edges further than this from each other or from the scan start are from
/// another vehicle.
const LOOP_WINDOW_US: u64 = 30_000_000;

fn to_utc(us: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us.min(i64::MAX as u64) as i64).unwrap_or_default()
}

impl ScanAssembler {
    pub fn new(cfg: AssemblerConfig) -> Self {
        ScanAssembler { cfg, current: None, loop_on: [None, None] }
    }

    pub fn push(&mut self, msg: &UvssMsg) -> Result<Option<AssembledScan>, AssembleError> {
        match msg {
            UvssMsg::ScanStart(s) => {
                let previous = self.close(None, None);
                let cur = Current {
                    start: *s,
                    pixels: Vec::new(),
                    times: Vec::new(),
                    next_row: 0,
                    dropped: 0,
                    duplicate: 0,
                    truncated: false,
                    speeds: Vec::new(),
                };
                self.current = Some(cur);
                Ok(previous.and_then(Result::ok))
            }
            UvssMsg::RowBatch(b) => self.rows(b).map(|()| None),
            UvssMsg::ScanEnd(e) => {
                let cur = self.current.as_mut().ok_or(AssembleError::NoScan { scan_id: e.scan_id })?;
                if cur.start.scan_id != e.scan_id {
                    return Err(AssembleError::WrongScan { expected: cur.start.scan_id, got: e.scan_id });
                }
                cur.dropped = cur.dropped.saturating_add(e.rows_total.saturating_sub(cur.next_row));
                self.close(Some(e.ended_at_us), Some(e.reason)).transpose()
            }
            UvssMsg::Loop { loop_id, occupied: true, at_us } if *loop_id < 2 => {
                self.loop_on[*loop_id as usize] = Some(*at_us);
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Closes a scan still in progress, e.g. when the link dropped mid-pass;
    /// `now_us` stands in for the missing end time.
    pub fn flush(&mut self, now_us: u64) -> Result<Option<AssembledScan>, AssembleError> {
        self.close(Some(now_us), None).transpose()
    }

    fn rows(&mut self, b: &RowBatch) -> Result<(), AssembleError> {
        let cur = self.current.as_mut().ok_or(AssembleError::NoScan { scan_id: b.scan_id })?;
        let s = cur.start;
        if s.scan_id != b.scan_id {
            return Err(AssembleError::WrongScan { expected: s.scan_id, got: b.scan_id });
        }
        // Batches built by hand (a simulator) have not been through `decode`'s checks.
        let valid = super::check_geometry(b.width, b.bit_depth, b.rows, b.data.len()).is_ok();
        if !valid || (b.width, b.bit_depth) != (s.width, s.bit_depth) {
            return Err(AssembleError::GeometryMismatch { scan_id: s.scan_id });
        }
        let t0 = b.timestamp_us as f64 - s.started_at_us as f64;
        if let Some(v) = b.speed_mm_s {
            cur.speeds.push((t0, f64::from(v) / 1000.0));
        }
        let skip = cur.next_row.saturating_sub(b.first_row).min(u32::from(b.rows));
        cur.duplicate = cur.duplicate.saturating_add(skip);
        cur.dropped = cur.dropped.saturating_add(b.first_row.saturating_sub(cur.next_row));
        cur.next_row = cur.next_row.max(b.first_row.saturating_add(u32::from(b.rows)));
        let w = usize::from(b.width);
        let max = (1u32 << b.bit_depth) - 1;
        for r in skip as usize..usize::from(b.rows) {
            if cur.pixels.len() + w > self.cfg.max_pixels {
                cur.truncated = true;
                break;
            }
            cur.times.push(t0 + r as f64 * f64::from(b.line_period_ns) / 1000.0);
            cur.pixels.extend((0..w).map(|x| {
                let v = u32::from(b.pixel(r, x)).min(max);
                if b.bit_depth == 8 {
                    v as u8
                } else {
                    ((v * 255 + max / 2) / max) as u8
                }
            }));
        }
        Ok(())
    }

    fn close(
        &mut self,
        end_us: Option<u64>,
        reason: Option<EndReason>,
    ) -> Option<Result<AssembledScan, AssembleError>> {
        let cur = self.current.take()?;
        if cur.times.is_empty() {
            return Some(Err(AssembleError::Empty { scan_id: cur.start.scan_id }));
        }
        // Loop edges are kept across scans (the next vehicle's loop 0 may fire before
        // this scan is closed) and only used when they plausibly belong to this one:
        // loop 0 first, loop 1 after it, both around the scan's start.
        let start = cur.start.started_at_us;
        let loop_speed = match (self.loop_on, self.cfg.loop_spacing_m) {
            ([Some(a), Some(b)], Some(d))
                if b > a && b - a <= LOOP_WINDOW_US && a.abs_diff(start) <= LOOP_WINDOW_US =>
            {
                Some(f64::from(d) / ((b - a) as f64 / 1e6))
            }
            _ => None,
        };
        Some(Ok(self.resample(cur, loop_speed, end_us, reason)))
    }

    fn resample(
        &self,
        mut cur: Current,
        loop_speed: Option<f64>,
        end_us: Option<u64>,
        reason: Option<EndReason>,
    ) -> AssembledScan {
        cur.speeds.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (speeds, source) = match (cur.speeds.is_empty(), loop_speed) {
            (false, _) => (cur.speeds, SpeedSource::Camera),
            (true, Some(v)) => (vec![(0.0, v)], SpeedSource::Loops),
            (true, None) => (vec![(0.0, f64::from(self.cfg.assumed_speed_kmh) / 3.6)], SpeedSource::Assumed),
        };
        // Rows may arrive out of time order only through camera bugs; keep them
        // in order of time so positions never run backwards.
        let n = cur.times.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|a, b| cur.times[*a].total_cmp(&cur.times[*b]));
        let mut xs = Vec::with_capacity(n);
        let mut x = 0.0;
        for (i, &row) in order.iter().enumerate() {
            if i > 0 {
                let (ta, tb) = (cur.times[order[i - 1]], cur.times[row]);
                let v = (speed_at(&speeds, ta) + speed_at(&speeds, tb)) / 2.0;
                x += v * (tb - ta) / 1e6;
            }
            xs.push(x);
        }
        let rpm = f64::from(self.cfg.rows_per_metre);
        let full = (x * rpm).floor() as usize + 1;
        let w = usize::from(cur.start.width);
        let cap =
            ((f64::from(self.cfg.max_length_m) * rpm) as usize + 1).min((self.cfg.max_pixels / w).max(1));
        let height = full.min(cap);
        let mut pixels = vec![0u8; height * w];
        let mut j = 0;
        for (k, out) in pixels.chunks_exact_mut(w).enumerate() {
            let target = k as f64 / rpm;
            while j + 1 < n && xs[j + 1] <= target {
                j += 1;
            }
            let b = (j + 1).min(n - 1);
            let span = xs[b] - xs[j];
            let f = if span > 0.0 { ((target - xs[j]) / span).clamp(0.0, 1.0) } else { 0.0 };
            let (ra, rb) = (order[j] * w, order[b] * w);
            for (px, o) in out.iter_mut().enumerate() {
                let (pa, pb) = (f64::from(cur.pixels[ra + px]), f64::from(cur.pixels[rb + px]));
                *o = (pa + (pb - pa) * f).round() as u8;
            }
        }
        let duration_s = (cur.times[order[n - 1]] - cur.times[order[0]]) / 1e6;
        let mean = if duration_s > 0.0 { x / duration_s } else { speed_at(&speeds, cur.times[0]) };
        let started = cur.start.started_at_us;
        let ended = end_us.unwrap_or(started.saturating_add(cur.times[order[n - 1]].max(0.0) as u64));
        AssembledScan {
            width: u32::from(cur.start.width),
            height: height as u32,
            pixels,
            meta: ScanMeta {
                scan_id: cur.start.scan_id,
                started_at: to_utc(started),
                ended_at: to_utc(ended),
                end_reason: reason,
                rows_received: n as u32,
                rows_dropped: cur.dropped,
                rows_duplicate: cur.duplicate,
                truncated: cur.truncated || full > cap,
                speed_source: source,
                mean_speed_kmh: (mean * 3.6) as f32,
                length_m: (x.min(f64::from(self.cfg.max_length_m))) as f32,
                rows_per_metre: self.cfg.rows_per_metre,
            },
        }
    }
}

/// Speed in m/s at `t`: linear between samples, held constant outside them.
fn speed_at(samples: &[(f64, f64)], t: f64) -> f64 {
    let i = samples.partition_point(|s| s.0 <= t);
    match (i.checked_sub(1).map(|p| samples[p]), samples.get(i)) {
        (Some(a), Some(b)) if b.0 > a.0 => a.1 + (b.1 - a.1) * (t - a.0) / (b.0 - a.0),
        (Some(a), _) => a.1,
        (None, Some(b)) => b.1,
        (None, None) => 0.0,
    }
}

#[cfg(test)]
mod tests;
