//! Grouped k-fold evaluation: leave one source out.
//!
//! Images from one repository share a camera, a country, a labelling habit; a heuristic tuned on
//! them fits them. So a fold is a source (`source_repo`), and every choice made from the data
//! is made on the other folds and judged on the one left out:
//! - which option [`variant`] to run (several are evaluated over every image, the best on the
//!   other folds is the one whose result on this fold counts);
//! - the confidence threshold (see [`super::calibration`]).
//!
//! The total of the held-out folds is the leave-one-source-out figure; next to the plain figure
//! (the default variant on everything) it shows how much of the plain figure is fit.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

use super::calibration::{self, Shares};
use super::{run_perturbed, EvalError, EvalReport, EvalRow};
use crate::engine::{Engine, EngineOptions};
use crate::ocr::runtime::{AltRec, DetModel};
use crate::read::options::{ReadOptions, SceneRegions, SurePlate};
use crate::read::plate_rank::RankWeights;

/// Option variants by name; `default` is what the engine runs.
pub const VARIANTS: [&str; 16] = [
    "default",
    "rank-size",
    "rank-detector",
    "plate-det-960",
    "plate-det-1600",
    "alt-reads-province",
    "color-prior-1",
    "color-prior-12",
    "dual-min-0",
    "dual-min-0.1",
    "no-plate-rec",
    "plate-rec-no-province",
    "rank-edge",
    "home-1",
    "home-2",
    "home-3",
];

/// The options of a named variant: a name of [`VARIANTS`], or speed settings joined by `+`
/// (each applied in turn to the defaults; `default+` may lead): `sure-S-C` skips the text
/// detector on scenes whose plate detector is sure (box score >= S, read >= C, see
/// [`SurePlate`]), `sure-off` never does, `det-N` caps the text detector's longer input side at
/// N, `detmin-N` aims its shorter side at N, `upscale-N` enlarges a small image at most N times
/// for the text detector (`cupscale-N` a container camera's; `cpixels-K` enlarges a container
/// camera's frame to K thousand pixels at most; `crows` reads a container crop shaped like a
/// two-row block as its rows side by side first, `crows-off` does not; `colstage` reads a column
/// crop's rotated second opinions only when needed, `colstage-off` always), `scenedet-fast`/`cropdet-fast`
/// read scenes/crops with the fast text detector ([`DetModel::Fast`]), `alt-tiny` loads PP-OCRv6
/// tiny as the plates' second recogniser ([`AltRec::Tiny`]), `fastunclip-N` unclips the fast
/// detector's boxes by N, `scene-regions-off` reads no plate-coloured regions in scenes,
/// `regions-unless-code` none in a scene with a verified container code ([`SceneRegions`]),
/// `regions-skip-detected` none where the plate detector read a plate
/// ([`ReadOptions::regions_skip_detected`]), `regions-even-if-sure` reads them in a scene whose
/// plate detector was sure too ([`ReadOptions::regions_unless_sure_plate`]), `alt-all-classes`
/// keeps the second recogniser's whole output layer ([`crate::ocr::narrow`]), `rec-narrow` cuts
/// the first one's to the code and plate characters,
/// `code-crop`/`code-crop-off` let a tight crop read as a verified container code skip the plate
/// reads (or not), `crop-exit-C` lets a tight crop whose whole-image read decodes as a verified
/// code at calibrated confidence C skip the text detector (`crop-exit-off`: never), `cplates`
/// has container cameras look for plates too.
pub fn variant(name: &str) -> Option<ReadOptions> {
    if name.contains('+') || is_speed_token(name) {
        let mut o = ReadOptions::default();
        for token in name.split('+') {
            if token != "default" && !apply_speed_token(&mut o, token) {
                return None;
            }
        }
        return Some(o);
    }
    named(name)
}

fn is_speed_token(t: &str) -> bool {
    const PREFIXES: [&str; 19] = [
        "sure-",
        "det-",
        "detmin-",
        "upscale-",
        "cupscale-",
        "cpixels-",
        "crows",
        "colstage",
        "code-crop",
        "crop-exit-",
        "cplates",
        "scenedet-",
        "cropdet-",
        "alt-tiny",
        "alt-all-classes",
        "rec-narrow",
        "fastunclip-",
        "scene-regions",
        "regions-",
    ];
    PREFIXES.iter().any(|p| t.starts_with(p)) && !VARIANTS.contains(&t)
}

fn apply_speed_token(o: &mut ReadOptions, t: &str) -> bool {
    let num = |v: &str| v.parse::<f32>().ok();
    if t == "sure-off" {
        o.sure_plate = None;
    } else if let Some(v) = t.strip_prefix("sure-") {
        let Some((a, b)) = v.split_once('-') else { return false };
        let (Some(min_score), Some(min_confidence)) = (num(a), num(b)) else { return false };
        o.sure_plate = Some(SurePlate { min_score, min_confidence });
    } else if t == "crows" {
        o.container_join_rows = true;
    } else if t == "crows-off" {
        o.container_join_rows = false;
    } else if t == "colstage" {
        o.ocr.column_second_opinions_on_demand = true;
    } else if t == "colstage-off" {
        o.ocr.column_second_opinions_on_demand = false;
    } else if let Some(v) = t.strip_prefix("cpixels-") {
        // In thousands of pixels: `cpixels-300` enlarges a container frame to 300,000 at most.
        let Some(n) = v.parse::<u32>().ok().filter(|&n| n > 0) else { return false };
        o.container_det_max_pixels = Some(n.saturating_mul(1000));
    } else if let Some(v) = t.strip_prefix("cupscale-") {
        let Some(n) = num(v) else { return false };
        o.container_det_max_upscale = n;
    } else if let Some(v) = t.strip_prefix("upscale-") {
        let Some(n) = num(v) else { return false };
        o.ocr.det_max_upscale = n;
    } else if let Some(v) = t.strip_prefix("detmin-") {
        let Some(n) = v.parse().ok() else { return false };
        o.ocr.det_min_side = n;
    } else if let Some(v) = t.strip_prefix("det-") {
        let Some(n) = v.parse().ok() else { return false };
        o.ocr.det_max_side = n;
    } else if let Some(v) = t.strip_prefix("fastunclip-") {
        let Some(n) = num(v) else { return false };
        o.ocr.fast_db.unclip_ratio = n;
    } else if t == "scene-regions-off" {
        o.scene_regions = SceneRegions::Never;
    } else if t == "regions-skip-detected" {
        o.regions_skip_detected = true;
    } else if t == "regions-even-if-sure" {
        o.regions_unless_sure_plate = false;
    } else if t == "regions-unless-code" {
        o.scene_regions = SceneRegions::UnlessCode;
    } else if t == "alt-tiny" {
        o.ocr.alt_rec = AltRec::Tiny;
    } else if t == "alt-all-classes" {
        o.ocr.alt_rec_narrow = false;
    } else if t == "rec-narrow" {
        o.ocr.rec_narrow = true;
    } else if t == "scenedet-fast" {
        o.ocr.scene_det = DetModel::Fast;
    } else if t == "cropdet-fast" {
        o.ocr.crop_det = DetModel::Fast;
    } else if t == "code-crop" {
        o.verified_code_crop_skips_plates = true;
    } else if t == "code-crop-off" {
        o.verified_code_crop_skips_plates = false;
    } else if t == "cplates" {
        o.container_cameras_read_plates = true;
    } else if t == "crop-exit-off" {
        o.code_crop_exit = None;
    } else if let Some(v) = t.strip_prefix("crop-exit-") {
        let Some(n) = num(v) else { return false };
        o.code_crop_exit = Some(n);
    } else {
        return false;
    }
    true
}

fn named(name: &str) -> Option<ReadOptions> {
    let d = ReadOptions::default();
    Some(match name {
        "default" => d,
        // Size and confidence only, as before the plate detector.
        "rank-size" => ReadOptions {
            rank: RankWeights { size: 1.0, detector: 0.0, confidence: 0.3, centre: 0.0, edge: 0.0 },
            ..d
        },
        "rank-detector" => ReadOptions {
            rank: RankWeights { size: 0.5, detector: 1.0, confidence: 0.3, centre: 0.3, edge: 0.0 },
            ..d
        },
        "plate-det-960" => ReadOptions { plate_det_max_side: 960, ..d },
        "plate-det-1600" => ReadOptions { plate_det_max_side: 1600, ..d },
        "alt-reads-province" => ReadOptions { alt_reads_province: true, ..d },
        "color-prior-1" => ReadOptions { plate_color_prior: 1.0, ..d },
        "color-prior-12" => ReadOptions { plate_color_prior: 12.0, ..d },
        // Every judged read counts, however unsure (as first built), or only fairly sure ones.
        "dual-min-0" => ReadOptions { plate_dual_min_confidence: 0.0, ..d },
        "dual-min-0.1" => ReadOptions { plate_dual_min_confidence: 0.1, ..d },
        // Two recognisers, as before the plate recogniser; or the plate recogniser with no say
        // on the province, as the second recogniser.
        "no-plate-rec" => ReadOptions { plate_rec: false, ..d },
        "plate-rec-no-province" => ReadOptions { plate_rec_province: false, ..d },
        // A plate the frame cuts ranks below a whole one of the same size.
        "rank-edge" => ReadOptions { rank: RankWeights { edge: 0.5, ..d.rank }, ..d },
        // The plate recogniser's home province discounted by 1, 2 or 3 nats.
        "home-1" => ReadOptions { plate_rec_home_discount: 1.0, ..d },
        "home-2" => ReadOptions { plate_rec_home_discount: 2.0, ..d },
        "home-3" => ReadOptions { plate_rec_home_discount: 3.0, ..d },
        _ => return None,
    })
}

/// One variant's rows over all folders, in folder and file order.
struct Run {
    name: String,
    rows: Vec<EvalRow>,
}

fn exact_where(rows: &[EvalRow], keep: impl Fn(&EvalRow) -> bool) -> usize {
    rows.iter().filter(|r| keep(r) && r.exact).count()
}

/// `ocr-eval --folds [--variants=a,b] DIR...`: run every variant over every folder, then report
/// the plain figures and the leave-one-source-out ones, with calibration.
pub fn run(
    dirs: &[PathBuf],
    variants: &[String],
    perturb_seed: Option<u64>,
    show_misses: bool,
    dump: Option<&std::path::Path>,
    choose: Choose,
) -> Result<String, EvalError> {
    let mut runs = Vec::new();
    for name in variants {
        let read = variant(name)
            .ok_or_else(|| EvalError::Variant { name: name.clone(), known: VARIANTS.join(", ") })?;
        let engine = Engine::start(EngineOptions { read, ..EngineOptions::discover()? })?;
        let mut rows = Vec::new();
        for d in dirs {
            rows.extend(run_perturbed(&engine, d, perturb_seed)?.rows);
        }
        runs.push(Run { name: name.clone(), rows });
    }
    // The first variant's rows to the file named, every other variant's beside it
    // (`FILE.variant`), so that a map can be fit on any of them.
    if let Some(path) = dump {
        for (k, r) in runs.iter().enumerate() {
            let to = if k == 0 { path.to_path_buf() } else { path.with_extension(&r.name) };
            std::fs::write(to, rows_tsv(&r.rows))?;
        }
    }
    Ok(report(&runs, show_misses, choose))
}

/// Every row of a run with its read's cues, one per line (for looking at the calibration
/// outside this program): source, domain, kind, file, label, got, exact, confidence, the CPU
/// time of the image in ms, cues...
pub fn rows_tsv(rows: &[EvalRow]) -> String {
    let mut s = String::from("source\tdomain\tkind\tfile\tlabel\tgot\texact\tconfidence\tcpu_ms\tcues\n");
    for r in rows {
        let cues: Vec<String> = r.features.iter().map(|f| format!("{f:.4}")).collect();
        let _ = writeln!(
            s,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.0}\t{}",
            r.source,
            r.domain,
            r.kind,
            r.file,
            r.label,
            r.got,
            r.exact,
            r.confidence.map_or("-".into(), |c| format!("{c:.4}")),
            r.cpu_ms,
            cues.join("\t")
        );
    }
    s
}

/// How a fold's variant is chosen on the other folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choose {
    /// The most exact reads (ties to the earlier variant).
    Accuracy,
    /// The least CPU time among the variants that read at least as many exactly as the first
    /// one in every domain and kind (so a speed setting is kept only where it costs no read).
    Speed,
}

/// Exact reads per (domain, kind) of `rows` where `keep`.
fn exact_by_kind(rows: &[EvalRow], keep: &impl Fn(&EvalRow) -> bool) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for r in rows.iter().filter(|r| keep(r)) {
        *m.entry((r.domain.to_string(), r.kind.clone())).or_insert(0) += r.exact as usize;
    }
    m
}

fn choose<'a>(runs: &'a [Run], train: &impl Fn(&EvalRow) -> bool, how: Choose) -> &'a Run {
    match how {
        Choose::Accuracy => runs
            .iter()
            .max_by(|a, b| {
                // Ties go to the earlier variant (`max_by` keeps the last maximum).
                exact_where(&a.rows, train)
                    .cmp(&exact_where(&b.rows, train))
                    .then(std::cmp::Ordering::Greater)
            })
            .expect("at least one run"),
        Choose::Speed => {
            let reference = exact_by_kind(&runs[0].rows, train);
            let cpu = |r: &Run| r.rows.iter().filter(|x| train(x)).map(|x| x.cpu_ms).sum::<f64>();
            runs.iter()
                .filter(|r| {
                    let e = exact_by_kind(&r.rows, train);
                    reference.iter().all(|(k, n)| e.get(k).copied().unwrap_or(0) >= *n)
                })
                .min_by(|a, b| cpu(a).total_cmp(&cpu(b)))
                .unwrap_or(&runs[0])
        }
    }
}

fn report(runs: &[Run], show_misses: bool, how: Choose) -> String {
    let mut s = String::new();
    let Some(first) = runs.first() else { return s };
    for r in runs {
        let _ = writeln!(s, "== plain, variant {}", r.name);
        s.push_str(&EvalReport { rows: r.rows.clone() }.to_text(false));
        let (cpu, wall) = r.rows.iter().fold((0.0, 0.0), |(c, w), x| (c + x.cpu_ms, w + x.ms));
        let _ = writeln!(s, "total over {} images: cpu {cpu:.0} ms, wall {wall:.0} ms", r.rows.len());
    }
    // Folds: every source, in first-seen order.
    let mut sources: Vec<&str> = Vec::new();
    for r in &first.rows {
        if !sources.contains(&r.source.as_str()) {
            sources.push(&r.source);
        }
    }
    let _ = writeln!(s, "\n== leave one source out ({} folds)", sources.len());
    let _ = writeln!(
        s,
        "{:<46} {:>5} {:<15} {:>9} {:>20}",
        "held-out source", "n", "variant", "exact", "threshold p/c"
    );
    // Held-out rows, as the variant chosen without them produced them.
    let mut held_out: Vec<EvalRow> = Vec::new();
    let mut fold_shares: BTreeMap<&'static str, Shares> = BTreeMap::new();
    for src in &sources {
        let train = |r: &EvalRow| r.source != *src;
        let chosen = choose(runs, &train, how);
        let test: Vec<EvalRow> = chosen.rows.iter().filter(|r| r.source == *src).cloned().collect();
        let mut thresholds = Vec::new();
        for domain in ["plates", "containers"] {
            let train_rows = chosen.rows.iter().filter(|r| train(r) && r.domain == domain);
            let t = calibration::choose_threshold(train_rows);
            thresholds.push(t);
            fold_shares
                .entry(domain)
                .or_default()
                .add(Shares::of(test.iter().filter(|r| r.domain == domain), t));
        }
        let _ = writeln!(
            s,
            "{:<46} {:>5} {:<15} {:>9} {:>20}",
            src,
            test.len(),
            chosen.name,
            format!("{}/{}", test.iter().filter(|r| r.exact).count(), test.len()),
            format!("{:.2}/{:.2}", thresholds[0], thresholds[1])
        );
        held_out.extend(test);
    }
    let _ =
        writeln!(s, "\n== leave one source out, total (each fold judged with the choices made without it)");
    s.push_str(&EvalReport { rows: held_out.clone() }.to_text(show_misses));

    s.push_str(&calibration::held_out_maps(&sources, &held_out, &first.rows));
    let _ = writeln!(s, "\n== calibration: thresholds");
    for (domain, shares) in &fold_shares {
        let _ = writeln!(s, "{domain:<11} threshold chosen on the other folds: {}", shares.to_text());
    }
    for domain in ["plates", "containers"] {
        let t = calibration::default_threshold(domain);
        let rows: Vec<&EvalRow> = held_out.iter().filter(|r| r.domain == domain).collect();
        let _ = writeln!(
            s,
            "{domain:<11} the lane's default {t:.2}, held-out reads: {}",
            Shares::of(rows.iter().copied(), t).to_text()
        );
        let all: Vec<&EvalRow> = first.rows.iter().filter(|r| r.domain == domain).collect();
        let _ = writeln!(
            s,
            "{domain:<11} threshold chosen on all sources: {:.2}",
            calibration::choose_threshold(all.iter().copied())
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_variants_parse_and_unknown_tokens_are_refused() {
        let o = variant("default+code-crop+sure-0.5-0.4+det-960+detmin-544").expect("parses");
        assert!(o.verified_code_crop_skips_plates);
        assert_eq!(o.sure_plate, Some(SurePlate { min_score: 0.5, min_confidence: 0.4 }));
        assert_eq!((o.ocr.det_max_side, o.ocr.det_min_side), (960, 544));
        let off = variant("sure-off+code-crop-off").expect("parses");
        assert!(off.sure_plate.is_none() && !off.verified_code_crop_skips_plates);
        assert_eq!(variant("crop-exit-0.95").and_then(|o| o.code_crop_exit), Some(0.95));
        assert!(variant("cupscale-2").is_some_and(|o| o.container_det_max_upscale == 2.0));
        assert_eq!(variant("cpixels-300").and_then(|o| o.container_det_max_pixels), Some(300_000));
        assert!(variant("cpixels-0").is_none() && variant("cpixels-x").is_none());
        assert!(variant("crows").is_some_and(|o| o.container_join_rows));
        assert!(variant("crows-off").is_some_and(|o| !o.container_join_rows));
        assert!(variant("colstage-off").is_some_and(|o| !o.ocr.column_second_opinions_on_demand));
        assert!(variant("cplates").is_some_and(|o| o.container_cameras_read_plates));
        assert!(variant("crop-exit-off").is_some_and(|o| o.code_crop_exit.is_none()));
        assert!(variant("sure-0.5").is_none(), "a threshold pair is needed");
        assert!(variant("code-crop+warp-9").is_none());
        let o = variant("scenedet-fast+alt-tiny+fastunclip-2+regions-unless-code+regions-skip-detected")
            .expect("parses");
        assert_eq!((o.ocr.scene_det, o.ocr.crop_det), (DetModel::Fast, DetModel::Standard));
        assert_eq!((o.ocr.alt_rec, o.ocr.fast_db.unclip_ratio), (AltRec::Tiny, 2.0));
        assert!(o.scene_regions == SceneRegions::UnlessCode && o.regions_skip_detected);
        assert_eq!(variant("scene-regions-off").map(|o| o.scene_regions), Some(SceneRegions::Never));
        assert!(variant("alt-all-classes").is_some_and(|o| !o.ocr.alt_rec_narrow), "alone too");
        assert!(
            variant("rec-narrow+alt-all-classes").is_some_and(|o| o.ocr.rec_narrow && !o.ocr.alt_rec_narrow)
        );
        assert!(variant("regions-even-if-sure").is_some_and(|o| !o.regions_unless_sure_plate));
        let wide = variant("regions-even-if-sure+alt-all-classes").expect("parses");
        assert!(!wide.regions_unless_sure_plate && !wide.ocr.alt_rec_narrow);
        assert!(
            ReadOptions::default().regions_unless_sure_plate
                && ReadOptions::default().ocr.alt_rec_narrow
                && !ReadOptions::default().ocr.rec_narrow
        );
        assert!(variant("regions-sometimes").is_none());
        assert!(
            variant("plate-det-960").is_some_and(|o| o.plate_det_max_side == 960),
            "named ones still work"
        );
    }

    fn row(source: &str, kind: &str, exact: bool, cpu_ms: f64) -> EvalRow {
        EvalRow::plate_for_test(source, kind, exact, None, cpu_ms)
    }

    #[test]
    fn speed_choice_takes_the_fastest_variant_that_loses_no_read_of_any_kind() {
        let run = |name: &str, rows: Vec<EvalRow>| Run { name: name.into(), rows };
        let reference = run("ref", vec![row("a", "scene", true, 100.0), row("a", "crop", true, 100.0)]);
        // Faster overall, but one crop fewer: refused even though it reads one more scene.
        let lossy = run(
            "lossy",
            vec![row("a", "scene", true, 10.0), row("a", "crop", false, 10.0), row("a", "scene", true, 1.0)],
        );
        let fast = run("fast", vec![row("a", "scene", true, 40.0), row("a", "crop", true, 40.0)]);
        let slow = run("slow", vec![row("a", "scene", true, 90.0), row("a", "crop", true, 90.0)]);
        let runs = [reference, lossy, slow, fast];
        let train = |r: &EvalRow| r.source == "a";
        assert_eq!(choose(&runs, &train, Choose::Speed).name, "fast");
        assert_eq!(choose(&runs, &train, Choose::Accuracy).name, "ref", "ties go to the earlier variant");
    }
}
