//! Write rendered plate and container scenes with a `labels.tsv`, so `ocr-eval` can read them:
//! `cargo run -p models --release --example synth_scenes -- OUT N [QUALITY]`.

use models::synth::{container_scene, plate_scene, Fonts, Look};
use models::uvss::synth::Rng;

const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
const LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(out), Some(n)) = (args.first(), args.get(1).and_then(|n| n.parse::<u64>().ok())) else {
        eprintln!("usage: synth_scenes OUT N [QUALITY]");
        std::process::exit(2);
    };
    let quality: f32 = args.get(2).and_then(|q| q.parse().ok()).unwrap_or(1.0);
    let fonts = Fonts::system().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let out = std::path::Path::new(out);
    std::fs::create_dir_all(out).unwrap();
    let mut tsv = String::from("file\tlabel\tkind\tsource_repo\n");
    let provinces: Vec<char> = PROVINCES.chars().collect();
    for i in 0..n {
        let mut r = Rng::new(i);
        let letter = |r: &mut Rng| LETTERS[(r.next_u64() % LETTERS.len() as u64) as usize] as char;
        let mut plate = String::new();
        plate.push(provinces[(r.next_u64() % provinces.len() as u64) as usize]);
        plate.push(letter(&mut r));
        for _ in 0..5 {
            plate.push(if r.range(0.0, 1.0) < 0.2 {
                letter(&mut r)
            } else {
                char::from(b'0' + (r.next_u64() % 10) as u8)
            });
        }
        let look = Look::random(i, quality);
        let file = format!("plate_{i:03}.png");
        plate_scene(&fonts, &plate, &look).save(out.join(&file)).unwrap();
        tsv.push_str(&format!("{file}\t{plate}\tscene\tsynth\n"));
        let serial = r.next_u64() % 1_000_000;
        let owner = ["MSKU", "CSQU", "TGHU", "OOLU"][(r.next_u64() % 4) as usize];
        let first = format!("{owner}{serial:06}");
        let code = format!("{first}{}", models::read::iso6346::check_digit(&first).unwrap());
        let file = format!("container_{i:03}.png");
        container_scene(&fonts, std::slice::from_ref(&code), &look).save(out.join(&file)).unwrap();
        tsv.push_str(&format!("{file}\t{code}\tscene\tsynth\n"));
    }
    std::fs::write(out.join("labels.tsv"), tsv).unwrap();
}
