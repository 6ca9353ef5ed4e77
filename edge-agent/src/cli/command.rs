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
    #[command(after_help = "Example:\n  edge-agent command keygen /etc/lane-central/central-1.key\n\n\
Then in each lane's config: [commands] keys = { central-1 = \"<the printed public key>\" }")]
    Keygen {
        /// Where to write the secret key; an existing file is never overwritten.
        file: PathBuf,
    },
    /// Print a signed command envelope (JSON) for a lane's `.../cmd` topic.
    #[command(
        after_help = "Example:\n  edge-agent command sign --key central-1.key --key-id central-1 --site CNSHA --lane G07 \\\n      \
--by reviewer:li --action release --passage G07-20261204T101502123Z-0042 \\\n    \
| mosquitto_pub -h mqtt.central -t lanectl/CNSHA/G07/cmd -q 1 -s"
    )]
    Sign(Box<SignArgs>),
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The secret key file written by `keygen`.
    #[arg(long)]
    key: PathBuf,
    /// The id the lane knows this key by.
    #[arg(long)]
    key_id: String,
    /// The lane's site id, as `[lane] site` in its config.
    #[arg(long)]
    site: String,
    /// The lane id, as `[lane] id` in its config.
    #[arg(long)]
    lane: String,
    /// Who issues it (recorded in the passage).
    #[arg(long)]
    by: String,
    /// What the lane should do.
    #[arg(long, value_enum)]
    action: ActionArg,
    /// The passage, for release, hold, inspection and resend.
    #[arg(long)]
    passage: Option<String>,
    /// Why, for open-barrier.
    #[arg(long, default_value = "manual release")]
    reason: String,
    /// A JSON file with a list of declarations, for declare.
    #[arg(long)]
    declarations: Option<PathBuf>,
    /// How long the command stays valid, e.g. 2m (the lane refuses longer than its
    /// `commands.max_validity`; a negative value such as -1s makes an already expired one).
    #[arg(long, default_value = "2m", allow_hyphen_values = true, value_parser = validity)]
    valid: chrono::Duration,
    /// The command's id (a second command with the same id is refused as a replay); default
    /// a fresh random one.
    #[arg(long)]
    id: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ActionArg {
    /// Release a held vehicle (needs --passage).
    Release,
    /// Keep holding it (needs --passage).
    Hold,
    /// Send it to inspection (needs --passage).
    Inspection,
    /// Open the barrier for the vehicle in the lane (--reason).
    OpenBarrier,
    /// Pre-declarations for vehicles on their way (needs --declarations).
    Declare,
    /// Publish a passage's record and images again (needs --passage).
    Resend,
}

/// `2m`, `30s`, or negative (`-1s`) for tests of expiry.
fn validity(text: &str) -> Result<chrono::Duration, String> {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text),
    };
    // Plain seconds, as earlier versions took them.
    if let Ok(secs) = rest.trim().parse::<i64>() {
        return Ok(chrono::Duration::seconds(sign * secs));
    }
    let d = super::duration(rest)?;
    Ok(chrono::Duration::milliseconds(sign * d.as_millis() as i64))
}

pub fn run(cmd: CommandCmd) -> Result<bool, String> {
    match cmd {
        CommandCmd::Keygen { file } => {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            write_secret(&file, &base64::engine::general_purpose::STANDARD.encode(key.to_bytes()))?;
            println!("{}", base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes()));
            Ok(true)
        }
        CommandCmd::Sign(args) => {
            let key = read_key(&args.key)?;
            let envelope = sign(&command(&args)?, &args.key_id, &key);
            println!("{}", serde_json::to_string(&envelope).expect("envelopes serialise"));
            Ok(true)
        }
    }
}

fn command(a: &SignArgs) -> Result<Command, String> {
    let passage = || {
        a.passage.clone().ok_or_else(|| {
            format!(
                "--action {} needs --passage ID",
                clap::ValueEnum::to_possible_value(&a.action)
                    .map_or_else(String::new, |v| v.get_name().to_string())
            )
        })
    };
    let action = match a.action {
        ActionArg::Release => Action::Release { passage: passage()? },
        ActionArg::Hold => Action::Hold { passage: passage()? },
        ActionArg::Inspection => Action::Inspection { passage: passage()? },
        ActionArg::Resend => Action::Resend { passage: passage()? },
        ActionArg::OpenBarrier => Action::OpenBarrier { reason: a.reason.clone() },
        ActionArg::Declare => {
            let file = a.declarations.as_ref().ok_or("--action declare needs --declarations FILE")?;
            let text = std::fs::read_to_string(file).map_err(|e| super::io_error("read", file, &e))?;
            let declarations: Vec<Declaration> = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not a list of declarations: {e}", file.display()))?;
            Action::Declare { declarations }
        }
    };
    let now = Utc::now();
    let id = a.id.clone().unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
    Ok(Command {
        id,
        site: a.site.clone(),
        lane: a.lane.clone(),
        issued_at: now,
        expires_at: now + a.valid,
        by: a.by.clone(),
        action,
    })
}

fn read_key(path: &Path) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| super::io_error("read", path, &e))?;
    contract::signing::secret_key(&text)
        .map_err(|e| format!("{}: not a key written by `edge-agent command keygen` ({e})", path.display()))
}

fn write_secret(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
            format!("{} (an existing key is never overwritten)", super::io_error("create", path, &e))
        })?;
    writeln!(f, "{text}").map_err(|e| super::io_error("write", path, &e))
}
