//! The top-level help, grouped by what a person is doing (run, check, diagnose, evaluate,
//! central-side tools) instead of clap's one flat list; with the exit codes and examples.
//!
//! The groups name commands by their command-line names; `tests` checks that every command
//! is in exactly one group, so a new command cannot fall out of the help.

/// (heading, commands) in the order the help shows them.
pub const GROUPS: &[(&str, &[&str])] = &[
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

/// `cmd` with the grouped command list and the exit codes in its help.
pub fn grouped(cmd: clap::Command) -> clap::Command {
    let width = cmd.get_subcommands().map(|s| s.get_name().len()).max().unwrap_or(10) + 2;
    let mut groups = String::new();
    for (heading, names) in GROUPS {
        if !groups.is_empty() {
            groups.push('\n');
        }
        groups += &format!("{heading}:\n");
        for name in *names {
            let about = cmd
                .find_subcommand(name)
                .and_then(|s| s.get_about())
                .map(|a| a.to_string())
                .unwrap_or_default();
            groups += &format!("  {name:<width$}{about}\n");
        }
    }
    cmd.before_help(groups.trim_end().to_string()).after_help(AFTER).help_template(
        "{about-with-newline}\n{usage-heading} {usage}\n\n{before-help}Options:\n{options}{after-help}",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_is_in_exactly_one_group() {
        let cmd = crate::cli::Cli::command();
        let listed: Vec<&str> = GROUPS.iter().flat_map(|(_, n)| n.iter().copied()).collect();
        for sub in cmd.get_subcommands() {
            let n = listed.iter().filter(|l| **l == sub.get_name()).count();
            assert_eq!(n, 1, "{} is in {n} groups", sub.get_name());
        }
        for name in listed {
            assert!(cmd.find_subcommand(name).is_some(), "{name} is grouped but not a command");
        }
    }

    #[test]
    fn every_argument_of_every_command_is_described() {
        fn walk(cmd: &clap::Command, path: &str) {
            for arg in cmd.get_arguments() {
                if matches!(arg.get_id().as_str(), "help" | "version") {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path}: argument `{}` has no description", arg.get_id());
            }
            for sub in cmd.get_subcommands() {
                assert!(sub.get_about().is_some(), "{path} {}: no description", sub.get_name());
                walk(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        walk(&crate::cli::Cli::command(), "edge-agent");
    }

    #[test]
    fn every_command_shows_an_example() {
        let cmd = crate::cli::Cli::command();
        for sub in cmd.get_subcommands() {
            let leaves: Vec<&clap::Command> =
                if sub.has_subcommands() { sub.get_subcommands().collect() } else { vec![sub] };
            for leaf in leaves {
                let after = leaf.get_after_help().map(|h| h.to_string()).unwrap_or_default();
                assert!(after.contains("edge-agent "), "{} {}: no example", sub.get_name(), leaf.get_name());
            }
        }
    }
}
