//! `edge-agent operator hash` (make a local operator's credential) and
//! `edge-agent release` (a local operator releases a held vehicle through the
//! running agent's technician page). Passwords are read from stdin, never
//! from the command line where `ps` and shell history would keep them.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;

use crate::operator::{Credential, DEFAULT_ITERATIONS, MIN_ITERATIONS};

#[derive(clap::Subcommand)]
pub enum OperatorCmd {
    /// Print the credential hash for a password read from stdin; paste it as
    /// `credential` under `[operators.NAME]` in the lane config.
    Hash {
        #[arg(long, default_value_t = DEFAULT_ITERATIONS)]
        iterations: u32,
    },
}

#[derive(clap::Args)]
pub struct ReleaseArgs {
    /// The held vehicle's passage id (the technician page shows it).
    #[arg(long)]
    pub passage: String,
    /// Your operator name, as in `[operators.NAME]`.
    #[arg(long)]
    pub operator: String,
    /// The lane's configuration: where the page listens and its password.
    #[arg(short, long, default_value = "/etc/edge-agent/lane.toml")]
    pub config: PathBuf,
    /// The page's address instead of the config's, e.g. http://127.0.0.1:8080
    #[arg(long)]
    pub url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorCliError {
    #[error("cannot read the password from stdin: {0}")]
    Stdin(std::io::Error),
    #[error("an empty password")]
    Empty,
    #[error("fewer than {MIN_ITERATIONS} iterations would be refused by the lane config")]
    TooCheap,
    #[error("{0}")]
    Config(String),
    #[error("the lane config has no technician page (`[web] listen`); give --url")]
    NoPage,
    #[error("cannot reach the agent at {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("the agent refused ({status}): {body}")]
    Refused { status: u16, body: String },
}

fn password() -> Result<String, OperatorCliError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(OperatorCliError::Stdin)?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        return Err(OperatorCliError::Empty);
    }
    Ok(pw)
}

pub fn hash(cmd: OperatorCmd) -> Result<(), OperatorCliError> {
    let OperatorCmd::Hash { iterations } = cmd;
    if iterations < MIN_ITERATIONS {
        return Err(OperatorCliError::TooCheap);
    }
    println!("{}", Credential::new(&password()?, iterations));
    Ok(())
}

/// POSTs the release to the page; prints the agent's answer.
pub fn release(args: ReleaseArgs) -> Result<(), OperatorCliError> {
    let (addr, page_password) = match &args.url {
        Some(url) => (url.trim_start_matches("http://").trim_end_matches('/').to_string(), None),
        None => {
            let cfg =
                crate::config::load(&args.config).map_err(|e| OperatorCliError::Config(e.to_string()))?;
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
