//! Pure reassembly of a scan result and its image chunks into an
//! [`EmptyBoxResult`]. Chunks may arrive out of order or twice (a resend after a
//! CRC error), so they are slotted by index; [`ResultAssembler::missing`] says
//! which to ask for again with `GetChunk`.

use bytes::{Bytes, BytesMut};

use super::{ImageChunk, ImageInfo, ScanResult, MAX_CHUNK, NO_ECHO};
use crate::{EmptyBoxResult, Image, ImageFormat};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    #[error("image announcement is inconsistent: {total_len} bytes in {chunks} chunks")]
    BadAnnouncement { total_len: u32, chunks: u16 },
    #[error("chunk belongs to scan {got}, expected {expected}; dropped")]
    WrongScan { expected: u32, got: u32 },
    #[error("chunk index {index} beyond the announced {chunks} chunks; dropped")]
    IndexOutOfRange { index: u16, chunks: u16 },
    #[error("chunks add up to {got} bytes, announced {total_len}")]
    LengthMismatch { got: usize, total_len: u32 },
    #[error("{missing} chunks still missing; ask for them again or finish without the image")]
    Incomplete { missing: usize },
}

/// Collects the chunks announced by one [`ScanResult`].
#[derive(Debug)]
pub struct ResultAssembler {
    result: ScanResult,
    chunks: Vec<Option<Bytes>>,
    received: usize,
    /// Bytes held, kept within the announced length so a detector that sends
    /// oversized chunks cannot make the host hold more than it announced.
    bytes: usize,
}

impl ResultAssembler {
    /// Checks the announcement before anything is allocated for it.
    pub fn new(result: ScanResult) -> Result<Self, ReassemblyError> {
        let n = match result.image {
            None => 0,
            Some(ImageInfo { total_len, chunks, .. }) => {
                let fits = u64::from(chunks) * MAX_CHUNK as u64 >= u64::from(total_len);
                if chunks == 0 || u32::from(chunks) > total_len || !fits {
                    return Err(ReassemblyError::BadAnnouncement { total_len, chunks });
                }
                chunks as usize
            }
        };
        Ok(ResultAssembler { result, chunks: vec![None; n], received: 0, bytes: 0 })
    }

    pub fn scan_id(&self) -> u32 {
        self.result.scan_id
    }

    /// Slots one chunk in (a repeated index replaces the earlier copy).
    /// Returns whether every chunk is now present.
    pub fn push(&mut self, chunk: ImageChunk) -> Result<bool, ReassemblyError> {
        if chunk.scan_id != self.result.scan_id {
            return Err(ReassemblyError::WrongScan { expected: self.result.scan_id, got: chunk.scan_id });
        }
        let chunks = self.chunks.len() as u16;
        let slot = self
            .chunks
            .get_mut(chunk.index as usize)
            .ok_or(ReassemblyError::IndexOutOfRange { index: chunk.index, chunks })?;
        let held = self.bytes - slot.as_ref().map_or(0, Bytes::len) + chunk.data.len();
        let total_len = self.result.image.map_or(0, |i| i.total_len);
        if held > total_len as usize {
            return Err(ReassemblyError::LengthMismatch { got: held, total_len });
        }
        self.bytes = held;
        if slot.replace(chunk.data).is_none() {
            self.received += 1;
        }
        Ok(self.is_complete())
    }

    pub fn is_complete(&self) -> bool {
        self.received == self.chunks.len()
    }

    /// Indices still to come, for `GetChunk` requests.
    pub fn missing(&self) -> Vec<u16> {
        (0..self.chunks.len()).filter(|i| self.chunks[*i].is_none()).map(|i| i as u16).collect()
    }

    /// The result with its image; fails while chunks are missing or when their
    /// lengths do not add up to what was announced.
    pub fn finish(self) -> Result<EmptyBoxResult, ReassemblyError> {
        let Some(info) = self.result.image else { return Ok(self.finish_without_image()) };
        if !self.is_complete() {
            return Err(ReassemblyError::Incomplete { missing: self.chunks.len() - self.received });
        }
        if self.bytes != info.total_len as usize {
            return Err(ReassemblyError::LengthMismatch { got: self.bytes, total_len: info.total_len });
        }
        let mut jpeg = BytesMut::with_capacity(self.bytes);
        self.chunks.iter().flatten().for_each(|c| jpeg.extend_from_slice(c));
        let image = Image {
            bytes: jpeg.freeze(),
            format: ImageFormat::Jpeg,
            width: info.width.into(),
            height: info.height.into(),
            captured_at: self.result.scanned_at,
            sim_truth: None,
        };
        let mut out = self.finish_without_image();
        out.interior = Some(image);
        Ok(out)
    }

    /// The verdict alone, for when the image cannot be had: the verdict stands
    /// on its own and must not be held up by a lost chunk.
    pub fn finish_without_image(self) -> EmptyBoxResult {
        let r = self.result;
        EmptyBoxResult {
            container: r.container,
            verdict: r.verdict,
            confidence: f32::from(r.confidence_permille) / 1000.0,
            // No echo within range means free space beyond it.
            depth_profile: r
                .depth_mm
                .iter()
                .map(|d| if *d == NO_ECHO { f32::INFINITY } else { f32::from(*d) / 1000.0 })
                .collect(),
            interior: None,
        }
    }
}
