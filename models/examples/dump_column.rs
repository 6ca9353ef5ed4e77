//! Dump the re-assembled column line of an image (optionally of a region of it):
//! `cargo run --example dump_column IN OUT.png [x0 y0 x1 y1]`.
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let mut img = models::imgops::load_path(std::path::Path::new(&a[1])).unwrap();
    if a.len() == 7 {
        let v: Vec<u32> = a[3..7].iter().map(|s| s.parse().unwrap()).collect();
        img = image::imageops::crop_imm(&img, v[0], v[1], v[2] - v[0], v[3] - v[1]).to_image();
    }
    img.save(format!("{}.src.png", a[2])).unwrap();
    match models::ocr::vertical::column_to_line(&img) {
        Some(l) => l.save(&a[2]).unwrap(),
        None => eprintln!("not a column"),
    }
}
