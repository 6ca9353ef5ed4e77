//! Development tool.
//! `ocr-eval [--misses] DIR...` evaluates labelled folders (see `models::eval`);
//! `ocr-eval --json FILE...` / `ocr-eval --text FILE...` recognises files;
//! `ocr-eval --lines FILE...` dumps every recognised line.
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let rest: Vec<PathBuf> = args.iter().filter(|a| !a.starts_with("--")).map(PathBuf::from).collect();
    if rest.is_empty() {
        eprintln!("usage: ocr-eval [--misses] DIR... | --json FILE... | --text FILE... | --lines FILE...");
        std::process::exit(2);
    }
    let code = if flag("--json") || flag("--text") || flag("--lines") {
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
    } else {
        match models::eval::run(&rest, flag("--misses")) {
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
