//! `edge-agent operator hash` (make a local operator's credential) and
//! `edge-agent release` (a local operator releases a held vehicle through the
//! running agent's technician page). Passwords are read from stdin, never
//! from the command line where `ps` and shell history would keep them.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;

use crate::operator::{Credential, DEFAULT_ITERATIONS, MIN_ITERATIONS};

#[derive(clap::Subcommand)]
pub enum OperatorCmd {
    /// Print the credential hash for a password read from stdin; paste it as
    /// `credential` under `[operators.NAME]` in the lane config.
    #[command(
        after_help = "Example:\n  edge-agent operator hash          # type the password, then Enter\n  \
printf '%s\\n' \"$PW\" | edge-agent operator hash"
    )]
    Hash {
        /// PBKDF2 rounds: more is slower to check and to guess (the lane refuses fewer than 10000).
        #[arg(long, default_value_t = DEFAULT_ITERATIONS)]
        iterations: u32,
    },
}

#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  edge-agent release --passage G07-20261204T101502123Z-0042 --operator wang\n\n\
Only while the uplink is down (central reviews held vehicles otherwise). The password is read \
from stdin; the release is recorded in the audit trail as local:NAME."
)]
pub struct ReleaseArgs {
    /// The held vehicle's passage id (the technician page shows it).
    #[arg(long)]
    pub passage: String,
    /// Your operator name, as in `[operators.NAME]`.
    #[arg(long)]
    pub operator: String,
    /// The lane's configuration: where the page listens and its password.
    #[arg(short, long, default_value = super::lane::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// The page's address instead of the config's, e.g. http://127.0.0.1:8080
    #[arg(long)]
    pub url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorCliError {
    #[error("cannot read the password from stdin: {0}")]
    Stdin(std::io::Error),
    #[error("no password given (type it, or pipe it in on stdin)")]
    Empty,
    #[error("fewer than {MIN_ITERATIONS} iterations would be refused by the lane config")]
    TooCheap,
    #[error("{0}")]
    Config(String),
    #[error("the lane config has no technician page (`[web] listen`); give --url")]
    NoPage,
    #[error("cannot reach the agent's technician page at {addr}: {source} (is the agent running?)")]
    Connect { addr: String, source: std::io::Error },
    #[error("the agent refused (HTTP {status}): {body}")]
    Refused { status: u16, body: String },
}

fn password() -> Result<String, OperatorCliError> {
    let mut line = String::new();
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        // Typed at a terminal: ask, and do not show it.
        eprint!("password: ");
        let _quiet = Quiet::stdin();
        stdin.lock().read_line(&mut line).map_err(OperatorCliError::Stdin)?;
        eprintln!();
    } else {
        stdin.lock().read_line(&mut line).map_err(OperatorCliError::Stdin)?;
    }
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        return Err(OperatorCliError::Empty);
    }
    Ok(pw)
}

pub fn hash(cmd: OperatorCmd) -> Result<bool, String> {
    let OperatorCmd::Hash { iterations } = cmd;
    if iterations < MIN_ITERATIONS {
        return Err(OperatorCliError::TooCheap.to_string());
    }
    println!("{}", Credential::new(&password().map_err(|e| e.to_string())?, iterations));
    Ok(true)
}

/// POSTs the release to the page; prints the agent's answer. Exit 1 when the agent refused.
pub fn release(args: ReleaseArgs) -> Result<bool, String> {
    match post_release(args) {
        Ok(()) => Ok(true),
        Err(e @ OperatorCliError::Refused { .. }) => {
            eprintln!("edge-agent release: {e}");
            Ok(false)
        }
        Err(OperatorCliError::Config(e)) => Err(e),
        Err(e) => Err(e.to_string()),
    }
}

fn post_release(args: ReleaseArgs) -> Result<(), OperatorCliError> {
    let (addr, page_password) = match &args.url {
        Some(url) => (url.trim_start_matches("http://").trim_end_matches('/').to_string(), None),
        None => {
            let cfg = super::lane::load(&args.config).map_err(OperatorCliError::Config)?;
            (cfg.web.listen.ok_or(OperatorCliError::NoPage)?.to_string(), cfg.web.password)
        }
    };
    let body =
        serde_json::json!({ "passage": args.passage, "operator": args.operator, "password": password()? })
            .to_string();
    let auth = page_password.map_or(String::new(), |p| {
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(format!("edge-agent:{p}"))
        )
    });
    let connect = |source| OperatorCliError::Connect { addr: addr.clone(), source };
    let mut stream = TcpStream::connect(&addr).map_err(connect)?;
    // The lane answers once the barrier command is under way; give it room.
    stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(connect)?;
    let request = format!(
        "POST /api/release HTTP/1.1\r\nHost: {addr}\r\nX-Edge-Agent: 1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(connect)?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).map_err(connect)?;
    let status: u16 = raw.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let answer = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).trim().to_string();
    let text = serde_json::from_str::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| v["message"].as_str().or(v["error"].as_str()).map(str::to_string))
        .unwrap_or(answer);
    if status != 200 {
        return Err(OperatorCliError::Refused { status, body: text });
    }
    println!("{text}");
    Ok(())
}

/// Terminal echo switched off while it lives (a password being typed), restored on drop.
struct Quiet {
    saved: Option<libc::termios>,
}

impl Quiet {
    fn stdin() -> Quiet {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a termios we own; failures leave echo on.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return Quiet { saved: None };
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
                return Quiet { saved: None };
            }
            Quiet { saved: Some(saved) }
        }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        if let Some(t) = self.saved {
            // SAFETY: restores the settings read in `stdin`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
}
