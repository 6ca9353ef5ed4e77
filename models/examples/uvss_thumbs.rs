//! Write small PNG previews of images (for looking at line-scan data with a PNG-only viewer):
//! `cargo run -p models --release --example uvss_thumbs OUT_DIR MAX_SIDE IMAGE...`.
fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 4 {
        eprintln!("usage: uvss_thumbs OUT_DIR MAX_SIDE IMAGE...");
        std::process::exit(2);
    }
    let out = std::path::Path::new(&a[1]);
    let max: u32 = a[2].parse().expect("MAX_SIDE is a number");
    for p in &a[3..] {
        let path = std::path::Path::new(p);
        let img = match models::imgops::load_path(path) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("{p}: {e}");
                continue;
            }
        };
        let k = (max as f32 / img.width().max(img.height()) as f32).min(1.0);
        let (w, h) = ((img.width() as f32 * k) as u32, (img.height() as f32 * k) as u32);
        let small = image::imageops::resize(&img, w.max(1), h.max(1), image::imageops::FilterType::Triangle);
        let name = path.file_stem().unwrap().to_string_lossy().to_string() + ".png";
        small.save(out.join(name)).expect("write png");
    }
}
