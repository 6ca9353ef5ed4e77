//! Central-side tools without a module of their own: `verify` (the lane signature of saved
//! records) and `schema` (the JSON Schemas of every published message).

use std::path::PathBuf;

use clap::Args;

#[derive(Args)]
#[command(
    after_help = "Example:\n  edge-agent verify --key CNSHA-G07=qr2jSZXopMafhk2o79TCXau0IZiDPc64KhCcgiraXoA= passages/*.json\n\n\
A lane's public key is in its retained status message (signing_key) and in its log at first start. \
Prints one line per file; exit 1 when any file fails."
)]
pub struct VerifyArgs {
    /// A lane's key as ID=PUBLIC_KEY (repeat for several lanes).
    #[arg(long = "key", required = true, value_name = "ID=PUBLIC_KEY")]
    pub keys: Vec<String>,
    /// Passage records or decisions as JSON files (as `edge-agent tail` writes them).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Args)]
#[command(after_help = "Example:\n  edge-agent schema --out docs/schema\n\n\
Without --out the schemas are printed one after the other.")]
pub struct SchemaArgs {
    /// A folder to write one `<message>.schema.json` per message into (created when missing).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Checks result files against `ID=PUBLIC_KEY` pairs; prints one line per file.
pub fn verify(args: VerifyArgs) -> Result<bool, String> {
    crate::signing::verify_files(&args.keys, &args.files).map_err(|e| e.to_string())
}

pub fn schema(args: SchemaArgs) -> Result<bool, String> {
    for (name, schema) in contract::schema::all() {
        match &args.out {
            Some(dir) => {
                let path = dir.join(name);
                std::fs::create_dir_all(dir)
                    .and_then(|_| std::fs::write(&path, schema))
                    .map_err(|e| super::io_error("write", &path, &e))?;
            }
            None => super::print_text(&schema),
        }
    }
    Ok(true)
}
