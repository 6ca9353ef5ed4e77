//! Empty-check results on labelled interiors:
//!   cargo run -p models --release --example empty_eval -- ../shared/testdata/interiors
fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: empty_eval DIR"));
    let labels = std::fs::read_to_string(dir.join("labels.tsv")).expect("labels.tsv");
    let p = models::empty::Params::default();
    let (mut right, mut wrong, mut unsure) = (0, 0, 0);
    for line in labels.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let img = match models::empty::load(&dir.join(f[0])) {
            Ok(i) => i,
            Err(e) => {
                println!("{}: {e}", f[0]);
                continue;
            }
        };
        let v = models::empty::check(&img, &p).expect("classical check");
        let m = v.measures.clone().unwrap();
        let expect =
            if f[1] == "empty" { models::empty::Verdict::Empty } else { models::empty::Verdict::NotEmpty };
        match v.verdict {
            models::empty::Verdict::Inconclusive => unsure += 1,
            x if x == expect => right += 1,
            _ => wrong += 1,
        }
        println!(
            "{:45} label={:6} verdict={:?} score={:.2} occupied={:.3} residual={:.3}",
            f[0], f[1], v.verdict, v.score, m.occupied, m.residual
        );
    }
    println!("interiors: right {right}, wrong {wrong}, inconclusive {unsure}");
}
