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
    /// See [`crate::read::plate_dual::PlateAlphabets::plate_rec_home_discount`].
    pub plate_rec_home_discount: f32,
    /// A scene whose plate detector is this sure of a plate is not given to the text detector
    /// (see [`SurePlate`]); `None`: every scene is.
    pub sure_plate: Option<SurePlate>,
    /// A tight crop whose whole-image read is a verified container code is not read as a plate:
    /// one line of text cannot be both, and the plate reads cost two recognisers at three framings.
    pub verified_code_crop_skips_plates: bool,
}

/// When the plate detector is sure enough of a plate that the general text detector (the
/// slowest stage on a scene) is skipped: a single-row plate box scoring at least `min_score`
/// whose two-recogniser read has every character at least `min_confidence` (averaged over the
/// experts). The plate reads come from the detector's boxes and the colour regions then;
/// container codes in such a scene are not looked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurePlate {
    pub min_score: f32,
    pub min_confidence: f32,
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
            plate_rec_home_discount: 0.0,
            // Chosen on the folds (`ocr-eval --folds --speed`, docs/design/recognition.md): of
            // 0.3, 0.5, 0.7 and 0.9 none lost a read on any fold, and every fold chose the
            // fastest, 0.3. Boxes under `plate_det_min_score` (0.5) are not found at all.
            sure_plate: Some(SurePlate { min_score: 0.3, min_confidence: 0.3 }),
            verified_code_crop_skips_plates: true,
        }
    }
}
