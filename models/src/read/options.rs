//! The knobs of reading an image, apart from the reading itself: the evaluation
//! (`eval/folds`), the engine and the plate reader all take them, and none of them
//! should have to depend on the whole image pipeline to do so.

use crate::ocr::pipeline::OcrOptions;
use crate::read::plate_rank::RankWeights;

/// Tuning of recognition; the defaults are what the evaluation chose on grouped folds.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub ocr: OcrOptions,
    /// The plate detector's input is scaled down to this longer side (never up): plates of a
    /// lane camera's frame stay well above the detector's smallest anchor (24 px) at 1280.
    pub plate_det_max_side: u32,
    /// Plate detections scoring below this are ignored.
    pub plate_det_min_score: f32,
    pub rank: RankWeights,
    /// See [`crate::read::plate_dual::PlateAlphabets::alt_reads_province`].
    pub alt_reads_province: bool,
    /// See [`crate::read::plate_dual::PlateAlphabets::plate_rec`].
    pub plate_rec: bool,
    /// See [`crate::read::plate_dual::PlateAlphabets::plate_rec_province`].
    pub plate_rec_province: bool,
    /// See [`crate::read::plate_dual::PlateAlphabets::color_prior`].
    pub plate_color_prior: f32,
    /// See [`crate::read::plate_dual::PlateAlphabets::min_confidence`].
    pub plate_dual_min_confidence: f32,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            ocr: OcrOptions::default(),
            plate_det_max_side: 1280,
            plate_det_min_score: 0.5,
            rank: RankWeights::default(),
            alt_reads_province: false,
            plate_rec: true,
            plate_rec_province: true,
            plate_color_prior: 4.0,
            plate_dual_min_confidence: crate::read::plate::MIN_DECODED_PROB,
        }
    }
}
