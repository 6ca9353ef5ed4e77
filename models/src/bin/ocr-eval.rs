//! Development tool.
//! `ocr-eval [--misses] [--perturb=SEED] DIR...` evaluates labelled folders (see `models::eval`),
//! on perturbed copies with `--perturb` (see `models::eval::perturb`);
//! `ocr-eval --folds [--variants=a,b|all] [--speed] [--misses] [--dump=FILE] DIR...` adds the
//! leave-one-source-out figures and calibration (see `models::eval::folds`); `--dump` writes every
//! row with its read's cues to FILE; `--speed` lets each fold choose the fastest variant that
//! reads as many as the first one on the other folds, kind by kind;
//! `ocr-eval --write-perturbed=SEED SRC OUT` writes those copies (and `labels.tsv`) to `OUT`;
//! `ocr-eval --json FILE...` / `ocr-eval --text FILE...` recognises files;
//! `ocr-eval --lines FILE...` dumps every recognised line.
use std::path::{Path, PathBuf};

fn write_perturbed(seed: u64, src: &Path, out: &Path) -> Result<usize, String> {
    let tsv =
        std::fs::read_to_string(src.join("labels.tsv")).map_err(|e| format!("{}: {e}", src.display()))?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    std::fs::write(out.join("labels.tsv"), &tsv).map_err(|e| e.to_string())?;
    let mut n = 0;
    for file in tsv.lines().skip(1).filter_map(|l| l.split('\t').next()) {
        let img = models::imgops::load_path(&src.join(file)).map_err(|e| format!("{file}: {e}"))?;
        let bytes = models::eval::perturb::Perturbation::for_file(seed, file)
            .apply(&img)
            .map_err(|e| format!("{file}: {e}"))?;
        // Keep the name (the eval looks files up by it); the content is JPEG whatever the suffix.
        std::fs::write(out.join(file), bytes).map_err(|e| format!("{file}: {e}"))?;
        n += 1;
    }
    Ok(n)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let value = |f: &str| {
        args.iter().find_map(|a| a.strip_prefix(f).and_then(|v| v.strip_prefix('=')).map(str::to_string))
    };
    let seed = |f: &str| {
        value(f).map(|v| {
            v.parse::<u64>().unwrap_or_else(|_| {
                eprintln!("{f} needs a number");
                std::process::exit(2)
            })
        })
    };
    let rest: Vec<PathBuf> = args.iter().filter(|a| !a.starts_with("--")).map(PathBuf::from).collect();
    if rest.is_empty() {
        eprintln!("usage: ocr-eval [--misses] [--perturb=SEED] DIR... | --folds [--variants=a,b|all] [--speed] [--dump=FILE] DIR... | --write-perturbed=SEED SRC OUT | --json FILE... | --text FILE... | --lines FILE...");
        std::process::exit(2);
    }
    let code = if let Some(s) = seed("--write-perturbed") {
        match (rest.first(), rest.get(1)) {
            (Some(src), Some(out)) => match write_perturbed(s, src, out) {
                Ok(n) => {
                    println!("{n} images written to {}", out.display());
                    0
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    1
                }
            },
            _ => {
                eprintln!("usage: ocr-eval --write-perturbed=SEED SRC OUT");
                2
            }
        }
    } else if flag("--json") || flag("--text") || flag("--lines") {
        match models::cli::recognize_files(&rest) {
            Ok(results) => {
                for r in &results {
                    if flag("--json") {
                        println!("{}", serde_json::to_string(r).unwrap());
                    } else {
                        print!("{}", r.to_text());
                    }
                    if flag("--lines") {
                        for l in &r.lines {
                            println!("    {:?} {:.2} {} {:?}", l.text, l.confidence, l.source, l.bbox);
                        }
                    }
                }
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                2
            }
        }
    } else if flag("--folds") {
        let variants: Vec<String> = match value("--variants").as_deref() {
            None => vec!["default".into()],
            Some("all") => models::eval::folds::VARIANTS.iter().map(|v| v.to_string()).collect(),
            Some(list) => list.split(',').map(str::to_string).collect(),
        };
        let dump = value("--dump").map(PathBuf::from);
        let choose = if flag("--speed") {
            models::eval::folds::Choose::Speed
        } else {
            models::eval::folds::Choose::Accuracy
        };
        match models::eval::folds::run(
            &rest,
            &variants,
            seed("--perturb"),
            flag("--misses"),
            dump.as_deref(),
            choose,
        ) {
            Ok(s) => {
                print!("{s}");
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                2
            }
        }
    } else {
        match models::eval::run(&rest, flag("--misses"), seed("--perturb")) {
            Ok(s) => {
                print!("{s}");
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                2
            }
        }
    };
    std::process::exit(code);
}
