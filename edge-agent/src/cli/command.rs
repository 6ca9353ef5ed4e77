//! `edge-agent command keygen|sign`: central's side of signed commands, for
//! installers (put the public key into the lane's config) and for sending a
//! command by hand with `mosquitto_pub`.

use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::Utc;
use ed25519_dalek::SigningKey;

use contract::command::{sign, Action, Command};
use contract::declaration::Declaration;

// Parsed once per run: the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, clap::Subcommand)]
pub enum CommandCmd {
    /// Make a signing key: the secret goes to FILE (mode 0600), the public key
    /// (for `[commands] keys` in the lane's config) is printed.
    Keygen { file: PathBuf },
    /// Print a signed command envelope (JSON) for a lane's `.../cmd` topic.
    Sign(SignArgs),
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The secret key file written by `keygen`.
    #[arg(long)]
    key: PathBuf,
    /// The id the lane knows this key by.
    #[arg(long)]
    key_id: String,
    #[arg(long)]
    site: String,
    #[arg(long)]
    lane: String,
    /// Who issues it (recorded in the passage).
    #[arg(long)]
    by: String,
    /// release | hold | inspection | open-barrier | declare | resend
    #[arg(long)]
    action: String,
    /// The passage, for release, hold, inspection and resend.
    #[arg(long)]
    passage: Option<String>,
    /// Why, for open-barrier.
    #[arg(long, default_value = "manual release")]
    reason: String,
    /// A JSON file with a list of declarations, for declare.
    #[arg(long)]
    declarations: Option<PathBuf>,
    /// Seconds until it expires.
    #[arg(long, default_value_t = 120, allow_negative_numbers = true)]
    valid: i64,
    /// Defaults to a fresh random id.
    #[arg(long)]
    id: Option<String>,
}

pub fn run(cmd: CommandCmd) -> Result<(), String> {
    match cmd {
        CommandCmd::Keygen { file } => {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            write_secret(&file, &base64::engine::general_purpose::STANDARD.encode(key.to_bytes()))?;
            println!("{}", base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes()));
            Ok(())
        }
        CommandCmd::Sign(args) => {
            let key = read_key(&args.key)?;
            let envelope = sign(&command(&args)?, &args.key_id, &key);
            println!("{}", serde_json::to_string(&envelope).expect("envelopes serialise"));
            Ok(())
        }
    }
}

fn command(a: &SignArgs) -> Result<Command, String> {
    let passage = || a.passage.clone().ok_or_else(|| format!("--action {} needs --passage", a.action));
    let action = match a.action.as_str() {
        "release" => Action::Release { passage: passage()? },
        "hold" => Action::Hold { passage: passage()? },
        "inspection" => Action::Inspection { passage: passage()? },
        "resend" => Action::Resend { passage: passage()? },
        "open-barrier" => Action::OpenBarrier { reason: a.reason.clone() },
        "declare" => {
            let file = a.declarations.as_ref().ok_or("--action declare needs --declarations FILE")?;
            let text =
                std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let declarations: Vec<Declaration> =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            Action::Declare { declarations }
        }
        other => {
            return Err(format!(
                "unknown action {other:?}: use release, hold, inspection, open-barrier, declare or resend"
            ))
        }
    };
    let now = Utc::now();
    let id = a.id.clone().unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
    Ok(Command {
        id,
        site: a.site.clone(),
        lane: a.lane.clone(),
        issued_at: now,
        expires_at: now + chrono::Duration::seconds(a.valid),
        by: a.by.clone(),
        action,
    })
}

fn read_key(path: &Path) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    contract::signing::secret_key(&text)
        .map_err(|e| format!("{}: not a key written by `edge-agent command keygen` ({e})", path.display()))
}

fn write_secret(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
            format!("cannot create {}: {e} (an existing key is never overwritten)", path.display())
        })?;
    writeln!(f, "{text}").map_err(|e| format!("cannot write {}: {e}", path.display()))
}
