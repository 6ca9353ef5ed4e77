//! The top-level help, grouped by what a person is doing (run, check, diagnose, evaluate,
//! central-side tools) instead of clap's one flat list; with the exit codes and examples.
//!
//! The groups name commands by their command-line names; `tests` checks that every command
//! is in exactly one group, so a new command cannot fall out of the help.

/// (heading, commands) in the order the help shows them.
pub const GROUPS: &tomlcheck::help::Groups = &[
    ("Run the lane", &["run", "declare", "release", "operator"]),
    ("Check a lane", &["check-config", "outbox", "stats", "audit"]),
    ("Diagnose devices and results", &["diag", "follow"]),
    ("Evaluate recognition and vision", &["ocr", "ocr-eval", "uvss", "empty-check"]),
    ("Central-side tools", &["command", "tail", "verify", "schema"]),
];

const AFTER: &str = "\
Exit codes: 0 done and all well; 1 done, and something checked was wrong (a device failed
its check, a signature or the audit chain is broken, an image was unusable); 2 it could not
be done (bad arguments, an unreadable or invalid config, nothing to connect to). Results go
to stdout, errors to stderr.

Examples:
  edge-agent check-config /etc/edge-agent/lane.toml
  edge-agent diag --config /etc/edge-agent/lane.toml
  edge-agent follow --config /etc/edge-agent/lane.toml

`edge-agent help COMMAND` (or `edge-agent COMMAND --help`) describes one command.";

/// `cmd` with the grouped command list and the exit codes in its help (the layout is
/// shared with `lane-central`'s, [`tomlcheck::help`]).
pub fn grouped(cmd: clap::Command) -> clap::Command {
    tomlcheck::help::grouped(cmd, GROUPS, AFTER)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use tomlcheck::help::{misgrouped, undescribed, without_example};

    #[test]
    fn every_command_is_in_exactly_one_group() {
        assert_eq!(misgrouped(&crate::cli::Cli::command(), super::GROUPS), Vec::<String>::new());
    }

    #[test]
    fn every_argument_of_every_command_is_described() {
        assert_eq!(undescribed(&crate::cli::Cli::command()), Vec::<String>::new());
    }

    #[test]
    fn every_command_shows_an_example() {
        assert_eq!(without_example(&crate::cli::Cli::command(), "edge-agent"), Vec::<String>::new());
    }
}
