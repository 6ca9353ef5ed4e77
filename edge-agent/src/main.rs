//! `edge-agent`: thin entry point; the commands live in `edge_agent::cli`, the lane in the
//! library. Exit codes: 0 done and all well, 1 done and something checked was wrong, 2 it
//! could not be done (README, "Exit codes").

use std::process::ExitCode;

use edge_agent::cli::{self, lane::LogFormat, Cmd};
use edge_agent::logs;

fn main() -> ExitCode {
    // First, while the process has one thread: takes NOTIFY_SOCKET out of the environment,
    // and fixes the allocator's arena count (see `edge_agent::heap`).
    edge_agent::notify::init();
    edge_agent::heap::limit_arenas();
    let cli = cli::parse();
    let format = match &cli.command {
        Cmd::Run(a) => a.log_format,
        _ => LogFormat::Text,
    };
    // journald when systemd runs us, else the chosen format on stderr; see `edge_agent::logs`.
    logs::init(match format {
        LogFormat::Text => logs::Format::Text,
        LogFormat::Json => logs::Format::Json,
    });
    // A panic anywhere is a bug; exit so systemd restarts a clean process
    // rather than limping on with a dead task.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::exit(101);
    }));
    cli::run(cli.command)
}
