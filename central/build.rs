//! Embeds `migrations/NNNN_name.sql` into the binary: sqlx's `migrate!` macro
//! is not available without its facade crate (see the workspace Cargo.toml),
//! so the list is generated here, and a new file is picked up on the next build.

use std::fmt::Write;

fn main() {
    // Read when the script runs, not baked in when it is compiled: worktrees sharing one
    // CARGO_TARGET_DIR reuse the compiled script, which then read another worktree's folder.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = std::path::Path::new(&manifest).join("migrations");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("central/migrations")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for f in files {
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        let (version, description) = name.split_once('_').expect("migrations are named NNNN_description.sql");
        let version: i64 = version.parse().expect("a migration's name starts with its number");
        println!("cargo:rerun-if-changed={}", f.display());
        writeln!(
            out,
            "    ({version}, {:?}, include_str!({:?})),",
            description.replace('_', " "),
            f.display().to_string()
        )
        .unwrap();
    }
    out.push(']');
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("migrations.rs");
    std::fs::write(dest, out).unwrap();
}
