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
    /// When plate-coloured regions of a scene are read as plates ([`crate::read::plate_find`]);
    /// a crop's always are.
    pub scene_regions: SceneRegions,
    /// A plate-coloured region whose centre lies in a plate the plate detector found and read
    /// is not read again as a region: it is the same plate, which the detector's rectified crop
    /// gave every recogniser already.
    pub regions_skip_detected: bool,
    /// No plate-coloured regions at all in a scene the plate detector was sure of
    /// ([`Self::sure_plate`]): the scene's plate is read, and the regions elsewhere are other
    /// vehicles' plates or paint.
    pub regions_unless_sure_plate: bool,
    /// A tight crop whose whole-image (or column) read decodes as a verified container code at
    /// this calibrated confidence or more is not given to the text detector; `None`: only the
    /// parser's own test ends the read early.
    pub code_crop_exit: Option<f32>,
    /// [`OcrOptions::det_max_upscale`] for a container camera's frames (see
    /// [`ReadOptions::for_containers`]).
    pub container_det_max_upscale: f32,
    /// [`OcrOptions::det_max_pixels`] for a container camera's frames.
    pub container_det_max_pixels: Option<u32>,
    /// [`OcrOptions::join_rows`] for a container camera's frames (plates keep their own two-row
    /// path, which knows a plate's layout).
    pub container_join_rows: bool,
    /// Plates are looked for at all (see [`ReadOptions::for_containers`]).
    pub read_plates: bool,
    /// [`ReadOptions::read_plates`] for a container camera's frames.
    pub container_cameras_read_plates: bool,
}

/// When a scene's plate-coloured regions are read as plates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SceneRegions {
    Always,
    /// Not in a scene whose text lines read a verified container code: that is a container's
    /// side, whose blue and yellow panels are plate-coloured; its plates are still found by the
    /// plate detector and the text lines.
    UnlessCode,
    Never,
}

impl ReadOptions {
    /// The options for a container camera's frames. The text detector is never skipped: the
    /// container code is what the camera is for, even with a plate in view (the tractor's plate
    /// below a box's front). A small frame is enlarged less for the detector than a plate
    /// camera's: container characters are painted 10-15 cm tall, so a frame small enough to be
    /// enlarged is a tight crop around the code, whose characters are already large; enlarging
    /// it three times makes the detector's input up to nine times larger, and it is that pass
    /// that set the slowest vehicles' decision time. Plates are not looked for: the lane takes
    /// the vehicle's plate from the plate cameras, and a plate a container camera saw (a
    /// trailer's, one behind) would compete with theirs; on a view of a box it costs the plate
    /// detector and three recognisers for nothing.
    pub fn for_containers(&self) -> ReadOptions {
        let ocr = OcrOptions {
            det_max_upscale: self.container_det_max_upscale,
            det_max_pixels: self.container_det_max_pixels,
            join_rows: self.container_join_rows,
            ..self.ocr.clone()
        };
        ReadOptions { sure_plate: None, ocr, read_plates: self.container_cameras_read_plates, ..self.clone() }
    }
}

/// When the plate detector is sure enough of a plate that the general text detector (the
/// slowest stage on a scene) is skipped: a single-row plate box scoring at least `min_score`
/// whose two-recogniser read has every character at least `min_confidence` (averaged over the
/// experts). The plate reads come from the detector's boxes then (and the colour regions, unless
/// [`ReadOptions::regions_unless_sure_plate`]);
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
            // Chosen on the folds (docs/design/recognition.md, "plate-coloured regions read
            // once"): neither lost a read on any fold, and every fold took both; container scene
            // CPU 0.86x. No regions in any scene lost plates read only from a region.
            scene_regions: SceneRegions::UnlessCode,
            regions_skip_detected: true,
            // Chosen on the folds (`ocr-eval --folds --speed --variants=default,…` over the
            // plates, docs/design/recognition.md): every fold took it; the same text and
            // confidence for all 475 images, plate scenes' median CPU 310 → 200 ms.
            regions_unless_sure_plate: true,
            // The lane's default threshold: a read the calibration already puts above it is what
            // the lane releases on. Of 0.8, 0.9 and 0.97 on the container crops (`ocr-eval --folds
            // --speed --variants=crop-exit-…`: one source, Marsa, so judged by no other) none changed a
            // read; of the 13 crops the detector read without it, 0.8 spared it 2, 0.9 one.
            code_crop_exit: Some(0.8),
            // Of 3 (the plate cameras' cap), 2.5, 2, 1.5 and 1 on the container folder (`ocr-eval
            // --folds --speed --variants=cupscale-…`), 2 is the smallest that keeps every code
            // crop read right and above the lane's 0.80: 1.5 drops a boxed check digit's read to
            // 0.40 and 1 loses two crops and a small scene of another source. At 2 the crops'
            // CPU time is 0.83x, their 90th percentile 330 → 260 ms.
            container_det_max_upscale: 2.0,
            // Tried on the folds (`cpixels-150/250/350`): capping the enlargement by area cost
            // two small scenes of another source (Alimustoofaa 6/6 → 4/6), so none.
            container_det_max_pixels: None,
            // `ocr-eval --folds --speed --variants=default,crows` on the container folder and two
            // perturbed copies of it (seeds 11, 12): the same text for every image, no
            // confidence across the lane's 0.80; 7 of the 30 crops (all of Marsa Maroc, the only
            // source of crops: judged on perturbations, not on another source) end before the
            // detector, 80–330 → 20–60 ms each. The developer set's scenes are too large to be
            // taken for a block; a smaller one must have its two rows fill it
            // (`rows::fills_the_crop`).
            container_join_rows: true,
            read_plates: true,
            container_cameras_read_plates: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_cameras_always_detect_and_enlarge_less() {
        let plates = ReadOptions::default();
        let containers = plates.for_containers();
        assert!(plates.sure_plate.is_some() && containers.sure_plate.is_none());
        assert_eq!(containers.ocr.det_max_upscale, plates.container_det_max_upscale);
        assert!(containers.ocr.det_max_upscale < plates.ocr.det_max_upscale);
        assert_eq!(containers.ocr.det_min_side, plates.ocr.det_min_side, "nothing else changes");
        assert_eq!(containers.code_crop_exit, plates.code_crop_exit);
        assert!(plates.read_plates && !containers.read_plates);
    }
}
