//! Giving inference memory back between vehicles must not change what the engine reads.
//!
//! The idle release shrinks every session's arena with a tiny run whose outputs are written into
//! tensors allocated outside it (see `OcrSessions::release_memory`); a wrong output name or shape
//! there fails the release, a session left in a bad state reads differently afterwards. Needs the
//! models (`scripts/setup-models`) and `fonts-dejavu-core`; skipped with a message without them.

use ab_glyph::FontVec;
use image::{ImageFormat, Rgb, RgbImage};
use models::engine::{Engine, EngineOptions, ImageSource};
use models::read::image::ImageResult;
use models::synth::draw;

const DEJAVU_BOLD: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

fn png(img: &RgbImage) -> Vec<u8> {
    let mut v = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut v), ImageFormat::Png).unwrap();
    v
}

fn reads(r: &ImageResult) -> (Vec<String>, Vec<String>) {
    (r.containers.iter().map(|c| c.code.clone()).collect(), r.plates.iter().map(|p| p.text.clone()).collect())
}

#[test]
fn reads_are_the_same_before_and_after_each_release() {
    let Some(font) = std::fs::read(DEJAVU_BOLD).ok().and_then(|d| FontVec::try_from_vec_and_index(d, 0).ok())
    else {
        eprintln!("skipping: font {DEJAVU_BOLD} missing (install fonts-dejavu-core)");
        return;
    };
    let engine = match EngineOptions::discover().map(Engine::start) {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => return eprintln!("skipping: recognition engine unavailable: {e}"),
        Err(e) => return eprintln!("skipping: recognition engine unavailable: {e}"),
    };
    // A full-HD frame (the arenas grow to its size) and a small one (a different shape after the
    // release), each read before any release, after one, and after two in a row.
    let mut frame = RgbImage::from_pixel(1920, 1080, Rgb([150, 30, 30]));
    draw(&mut frame, &font, "CSQU 305438 3", 600.0, 400.0, 72.0, Rgb([240, 240, 240]));
    let mut small = RgbImage::from_pixel(640, 300, Rgb([30, 60, 140]));
    draw(&mut small, &font, "MSKU 907032 3", 40.0, 100.0, 48.0, Rgb([240, 240, 240]));
    let read =
        |img: &RgbImage| reads(&engine.recognize(ImageSource::Bytes(png(img)), "test").expect("recognition"));
    let before = (read(&frame), read(&small));
    assert_eq!(before.0 .0, vec!["CSQU3054383".to_string()], "{before:?}");
    assert_eq!(before.1 .0, vec!["MSKU9070323".to_string()], "{before:?}");
    engine.release_memory().expect("first release");
    assert_eq!((read(&frame), read(&small)), before);
    engine.release_memory().expect("second release");
    engine.release_memory().expect("a release right after a release");
    assert_eq!((read(&small), read(&frame)), (before.1.clone(), before.0.clone()));
}
