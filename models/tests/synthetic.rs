//! End-to-end recognition on generated images with known text.
//!
//! Needs the models (`scripts/setup-models`; skipped with a message when absent) and fonts from
//! Debian packages: `fonts-dejavu-core` (Latin) and `fonts-wqy-zenhei` (province characters);
//! a test whose font is missing is skipped with a message.

use std::sync::OnceLock;

use ab_glyph::FontVec;
use image::{ImageFormat, Rgb, RgbImage};
use models::engine::{Engine, EngineOptions, ImageSource, Purpose};
use models::read::image::ImageResult;
use models::synth::draw;
use models::{InputError, OcrError, PlateColor};

const DEJAVU_BOLD: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
const DEJAVU_COND: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf";
const WQY: &str = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc";

fn engine() -> Option<&'static Engine> {
    static E: OnceLock<Option<Engine>> = OnceLock::new();
    E.get_or_init(|| match Engine::start(EngineOptions::discover().ok()?) {
        Ok(e) => Some(e),
        Err(e) => {
            eprintln!("skipping: recognition engine unavailable: {e}");
            None
        }
    })
    .as_ref()
}

fn font(path: &str) -> Option<FontVec> {
    let data = std::fs::read(path)
        .map_err(|_| eprintln!("skipping: font {path} missing (install its Debian package)"))
        .ok()?;
    FontVec::try_from_vec_and_index(data, 0).ok()
}

fn png(img: &RgbImage) -> Vec<u8> {
    let mut v = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut v), ImageFormat::Png).unwrap();
    v
}

fn run(e: &Engine, img: &RgbImage) -> ImageResult {
    e.recognize(ImageSource::Bytes(png(img)), "test").expect("recognition")
}

#[test]
fn horizontal_container_code_with_size_type() {
    let (Some(e), Some(f)) = (engine(), font(DEJAVU_BOLD)) else { return };
    // Not line-shaped (900x400), so the detector runs and finds the size/type line too.
    let mut img = RgbImage::from_pixel(900, 400, Rgb([150, 30, 30]));
    draw(&mut img, &f, "CSQU 305438 3", 40.0, 30.0, 64.0, Rgb([240, 240, 240]));
    draw(&mut img, &f, "22G1", 300.0, 120.0, 56.0, Rgb([240, 240, 240]));
    let r = run(e, &img);
    let c = r.containers.first().unwrap_or_else(|| panic!("no container in {:?}", r.lines));
    assert_eq!(c.code, "CSQU3054383");
    assert!(c.check_digit_ok);
    assert_eq!(c.size_type.as_deref(), Some("22G1"));
}

#[test]
fn vertical_container_code_in_a_scene() {
    let (Some(e), Some(f)) = (engine(), font(DEJAVU_COND)) else { return };
    let mut img = RgbImage::from_fn(1280, 1000, |x, y| {
        Rgb([20, 60 + (x / 40 % 2) as u8 * 15, 140 + (y / 200) as u8 * 5])
    });
    for (i, ch) in "TRHU1700369".chars().enumerate() {
        draw(&mut img, &f, &ch.to_string(), 600.0, 60.0 + i as f32 * 78.0, 66.0, Rgb([235, 235, 235]));
    }
    let r = run(e, &img);
    let codes: Vec<&str> = r.containers.iter().map(|c| c.code.as_str()).collect();
    assert_eq!(codes.first().copied(), Some("TRHU1700369"), "lines: {:?}", r.lines);
}

#[test]
fn tight_vertical_crop() {
    let (Some(e), Some(f)) = (engine(), font(DEJAVU_COND)) else { return };
    let mut img = RgbImage::from_pixel(80, 760, Rgb([30, 70, 150]));
    for (i, ch) in "BEAU2656931".chars().enumerate() {
        draw(&mut img, &f, &ch.to_string(), 20.0, 8.0 + i as f32 * 68.0, 58.0, Rgb([240, 240, 240]));
    }
    let r = run(e, &img);
    assert_eq!(r.containers.first().map(|c| c.code.as_str()), Some("BEAU2656931"), "lines: {:?}", r.lines);
}

fn plate_image(f: &FontVec, text: &str, bg: Rgb<u8>, fg: Rgb<u8>) -> RgbImage {
    // Rendered at 4x and scaled down, as a camera would see a 94x24 plate.
    let mut big = RgbImage::from_pixel(376, 96, bg);
    let chars: Vec<char> = text.chars().collect();
    let mut x = 14.0;
    for (i, ch) in chars.iter().enumerate() {
        x += draw(&mut big, f, &ch.to_string(), x, 12.0, 72.0, fg) * if ch.is_ascii() { 1.05 } else { 0.95 };
        if i == 1 {
            x += 18.0;
        }
    }
    models::imgops::resize(&big, 94, 24)
}

#[test]
fn tight_plate_crop_and_colour() {
    let (Some(e), Some(f)) = (engine(), font(WQY)) else { return };
    let img = plate_image(&f, "京A12345", Rgb([20, 60, 190]), Rgb([245, 245, 245]));
    let r = run(e, &img);
    let p = r.plates.first().unwrap_or_else(|| panic!("no plate in {:?}", r.lines));
    assert_eq!(p.text, "京A12345");
    assert_eq!(p.color, Some(PlateColor::Blue));
    let img = plate_image(&f, "粤B8K3D5", Rgb([230, 190, 20]), Rgb([15, 15, 15]));
    let r = run(e, &img);
    assert_eq!(r.plates.first().map(|p| p.text.as_str()), Some("粤B8K3D5"), "lines: {:?}", r.lines);
    assert_eq!(r.plates[0].color, Some(PlateColor::Yellow));
}

#[test]
fn plate_in_a_scene() {
    let (Some(e), Some(f)) = (engine(), font(WQY)) else { return };
    let mut img = RgbImage::from_fn(1024, 768, |x, y| Rgb([(90 + x / 16) as u8, (100 + y / 16) as u8, 110]));
    let plate = models::imgops::resize(
        &plate_image(&f, "沪AGH092", Rgb([20, 60, 190]), Rgb([245, 245, 245])),
        188,
        48,
    );
    image::imageops::replace(&mut img, &plate, 420, 500);
    let r = run(e, &img);
    assert_eq!(r.plates.first().map(|p| p.text.as_str()), Some("沪AGH092"), "lines: {:?}", r.lines);
}

/// A container camera's frame with a plate in view (the tractor's, below the box): the lane
/// takes the vehicle's plate from its plate cameras, so a container camera reports the code
/// only, while a frame of unknown purpose reports both.
#[test]
fn a_container_camera_reads_the_code_not_the_plate_in_view() {
    let (Some(e), Some(latin), Some(han)) = (engine(), font(DEJAVU_BOLD), font(WQY)) else { return };
    let mut img = RgbImage::from_fn(1024, 768, |x, y| Rgb([(90 + x / 16) as u8, (100 + y / 16) as u8, 110]));
    draw(&mut img, &latin, "CSQU 305438 3", 160.0, 120.0, 64.0, Rgb([240, 240, 240]));
    let plate = models::imgops::resize(
        &plate_image(&han, "沪AGH092", Rgb([20, 60, 190]), Rgb([245, 245, 245])),
        188,
        48,
    );
    image::imageops::replace(&mut img, &plate, 420, 560);
    let read_as =
        |purpose| e.recognize_as(ImageSource::Bytes(png(&img)), "test", purpose).expect("recognition");
    let any = read_as(Purpose::Any);
    assert_eq!(any.plates.first().map(|p| p.text.as_str()), Some("沪AGH092"), "lines: {:?}", any.lines);
    assert_eq!(
        any.containers.first().map(|c| c.code.as_str()),
        Some("CSQU3054383"),
        "lines: {:?}",
        any.lines
    );
    let containers = read_as(Purpose::Containers);
    assert_eq!(containers.containers.first().map(|c| c.code.as_str()), Some("CSQU3054383"));
    assert!(containers.plates.is_empty(), "a container camera reported {:?}", containers.plates);
}

/// A two-row (truck) plate: province and letter small on top, five characters below. The
/// detector alone loses the small top row; the plate's colour region splits into its rows.
#[test]
fn two_row_yellow_plate_in_a_scene() {
    let (Some(e), Some(f)) = (engine(), font(WQY)) else { return };
    let (bg, fg) = (Rgb([225, 185, 25]), Rgb([15, 15, 15]));
    let mut big = RgbImage::from_pixel(440, 220, bg);
    let mut x = 130.0;
    for ch in ["粤", "A"] {
        x += draw(&mut big, &f, ch, x, 10.0, 72.0, fg) + 40.0;
    }
    let mut x = 20.0;
    for ch in "B2893".chars() {
        x += draw(&mut big, &f, &ch.to_string(), x, 88.0, 120.0, fg) * 1.1;
    }
    let mut img = RgbImage::from_fn(960, 720, |x, y| Rgb([(80 + x / 12) as u8, (90 + y / 16) as u8, 100]));
    image::imageops::replace(&mut img, &models::imgops::resize(&big, 176, 88), 400, 420);
    let r = run(e, &img);
    assert_eq!(r.plates.first().map(|p| p.text.as_str()), Some("粤AB2893"), "lines: {:?}", r.lines);
    assert_eq!(r.plates[0].color, Some(PlateColor::Yellow));
}

#[test]
fn unusable_inputs_are_input_errors() {
    let Some(e) = engine() else { return };
    let bad = |bytes: Vec<u8>| match e.recognize(ImageSource::Bytes(bytes), "test") {
        Err(OcrError::Input(i)) => i,
        other => panic!("expected an input error, got {other:?}"),
    };
    assert!(matches!(bad(vec![]), InputError::Empty));
    assert!(matches!(bad(b"%PDF-1.4 not an image".to_vec()), InputError::NotAnImage));
    let mut jpeg = Vec::new();
    RgbImage::from_pixel(64, 64, Rgb([1, 2, 3]))
        .write_to(&mut std::io::Cursor::new(&mut jpeg), ImageFormat::Jpeg)
        .unwrap();
    jpeg.truncate(jpeg.len() / 3);
    assert!(matches!(bad(jpeg), InputError::Corrupt(_)));
    assert!(matches!(bad(png(&RgbImage::new(13_000, 9))), InputError::BadDimensions { .. }));
    let missing = e.recognize(ImageSource::Path("/nonexistent/x.jpg".into()), "");
    assert!(matches!(missing, Err(OcrError::Input(InputError::Io { .. }))));
}

/// The engine and the fonts the simulated cameras draw with; `None` (the test skips) without.
fn engine_and_fonts() -> Option<(&'static Engine, models::synth::Fonts)> {
    let e = engine()?;
    match models::synth::Fonts::system() {
        Ok(f) => Some((e, f)),
        Err(err) => {
            eprintln!("skipping: {err}");
            None
        }
    }
}

/// A frame of two containers whose boxed check digits the detector skips (the demo's lane G01,
/// vehicle 2, as its simulated container camera filmed it): once the first code is read, the
/// second one's digit must still be looked for, or the lane holds the vehicle for a container
/// it did not see.
#[test]
fn both_containers_of_a_frame_get_their_check_digit_read() {
    let Some((e, fonts)) = engine_and_fonts() else { return };
    let codes = ["BEAU5377740".to_string(), "TRHU4330102".to_string()];
    let img = models::synth::container_scene(&fonts, &codes, &models::synth::Look::random(5, 1.0));
    let r = e.recognize_as(ImageSource::Bytes(png(&img)), "test", Purpose::Containers).expect("recognition");
    let mut read: Vec<&str> =
        r.containers.iter().filter(|c| c.check_digit_ok).map(|c| c.code.as_str()).collect();
    read.sort();
    assert_eq!(read, ["BEAU5377740", "TRHU4330102"], "lines: {:?}", r.lines);
}

/// A framed check digit whose `0` the detector boxes by its hole (the demo's lane G03, vehicle
/// 6, as its simulated container camera filmed it: look seed 2 x 6 + 1, the simulator's quality
/// 0.97). The hole was read as `.`, the code took the size code's `2` from the row below,
/// `TGHU9000552`, and the lane held it as a wrong check digit. The cell around a
/// character-sized box is read too, and the right digit verifies the code.
#[test]
fn a_framed_zero_boxed_by_its_hole_is_still_read() {
    let Some((e, fonts)) = engine_and_fonts() else { return };
    let img = models::synth::container_scene(
        &fonts,
        &["TGHU9000550".to_string()],
        &models::synth::Look::random(13, 0.97),
    );
    // As the simulated camera sends it.
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85).encode_image(&img).unwrap();
    let r = e.recognize_as(ImageSource::Bytes(jpeg), "test", Purpose::Containers).expect("recognition");
    let read: Vec<(&str, bool)> = r.containers.iter().map(|c| (c.code.as_str(), c.check_digit_ok)).collect();
    assert_eq!(read.first(), Some(&("TGHU9000550", true)), "lines: {:?}", r.lines);
}

/// A tight crop of a code painted in two rows, as on a container's doors: owner code over
/// serial and boxed check digit. A container camera reads it as its rows side by side, one
/// recogniser call, and the text detector (the slowest stage on a crop) is not run.
#[test]
fn a_two_row_door_crop_is_read_without_the_detector() {
    let (Some(e), Some(f)) = (engine(), font(DEJAVU_BOLD)) else { return };
    let (panel, paint) = (Rgb([28, 62, 130]), Rgb([236, 236, 232]));
    let mut img = RgbImage::from_pixel(430, 210, panel);
    draw(&mut img, &f, "MSKU", 20.0, 14.0, 76.0, paint);
    let adv = draw(&mut img, &f, "386603", 20.0, 112.0, 76.0, paint);
    let x = 20.0 + adv + 18.0;
    draw(&mut img, &f, "6", x + 10.0, 112.0, 76.0, paint);
    // The frame about 1.3 times the digits' height, as painted.
    for (x0, y0, x1, y1) in [(x, 116.0, x + 62.0, 120.0), (x, 184.0, x + 62.0, 188.0)] {
        for yy in y0 as u32..y1 as u32 {
            for xx in x0 as u32..x1 as u32 {
                img.put_pixel(xx, yy, paint);
            }
        }
    }
    for (x0, x1) in [(x, x + 4.0), (x + 58.0, x + 62.0)] {
        for yy in 116..188 {
            for xx in x0 as u32..x1 as u32 {
                img.put_pixel(xx, yy, paint);
            }
        }
    }
    let r = e.recognize_as(ImageSource::Bytes(png(&img)), "test", Purpose::Containers).expect("recognition");
    let read: Vec<(&str, bool)> = r.containers.iter().map(|c| (c.code.as_str(), c.check_digit_ok)).collect();
    assert_eq!(read, [("MSKU3866036", true)], "lines: {:?}", r.lines);
    assert!(r.containers[0].confidence >= 0.8, "{}", r.containers[0].confidence);
    assert!(r.lines.iter().all(|l| l.source == "rows"), "only the joined rows were read: {:?}", r.lines);
    assert_eq!(r.timings_ms.det, 0.0, "no detector pass");
}
