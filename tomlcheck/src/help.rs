//! The top-level help both command lines give: commands grouped by what a person is
//! doing rather than clap's one flat list, then the exit codes and examples; and the
//! checks that keep it so (every command in exactly one group, every argument described,
//! an example for every command).
//!
//! Here rather than in each program because the lane's and central's `--help` should read
//! alike, and a command added to either must not fall out of its help unnoticed.

/// (heading, commands by their command-line names) in the order the help shows them.
pub type Groups = [(&'static str, &'static [&'static str])];

/// `cmd` with the grouped command list before its options and `after` (exit codes,
/// examples) after them.
pub fn grouped(cmd: clap::Command, groups: &Groups, after: &'static str) -> clap::Command {
    let width = cmd.get_subcommands().map(|s| s.get_name().len()).max().unwrap_or(10) + 2;
    let mut text = String::new();
    for (heading, names) in groups {
        if !text.is_empty() {
            text.push('\n');
        }
        text += &format!("{heading}:\n");
        for name in *names {
            let about = cmd
                .find_subcommand(name)
                .and_then(|s| s.get_about())
                .map(|a| a.to_string())
                .unwrap_or_default();
            text += &format!("  {name:<width$}{about}\n");
        }
    }
    cmd.before_help(text.trim_end().to_string()).after_help(after).help_template(
        "{about-with-newline}\n{usage-heading} {usage}\n\n{before-help}Options:\n{options}{after-help}",
    )
}

/// Commands in no group or in several, and group entries that are no command.
pub fn misgrouped(cmd: &clap::Command, groups: &Groups) -> Vec<String> {
    let listed: Vec<&str> = groups.iter().flat_map(|(_, n)| n.iter().copied()).collect();
    let mut wrong = Vec::new();
    for sub in cmd.get_subcommands() {
        let n = listed.iter().filter(|l| **l == sub.get_name()).count();
        if n != 1 {
            wrong.push(format!("{} is in {n} groups", sub.get_name()));
        }
    }
    for name in listed {
        if cmd.find_subcommand(name).is_none() {
            wrong.push(format!("{name} is grouped but not a command"));
        }
    }
    wrong
}

/// Commands and arguments, at any depth, that have no description.
pub fn undescribed(cmd: &clap::Command) -> Vec<String> {
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if matches!(arg.get_id().as_str(), "help" | "version") {
                continue;
            }
            if arg.get_help().is_none() {
                out.push(format!("{path}: argument `{}` has no description", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            let inner = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() {
                out.push(format!("{inner}: no description"));
            }
            walk(sub, &inner, out);
        }
    }
    let mut out = Vec::new();
    walk(cmd, cmd.get_name(), &mut out);
    out
}

/// Commands (the leaves: `user add`, not `user`) whose help shows no example, i.e. no
/// line calling `program`.
pub fn without_example(cmd: &clap::Command, program: &str) -> Vec<String> {
    let mut out = Vec::new();
    for sub in cmd.get_subcommands() {
        let leaves: Vec<&clap::Command> =
            if sub.has_subcommands() { sub.get_subcommands().collect() } else { vec![sub] };
        for leaf in leaves {
            let after = leaf.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            if !after.contains(&format!("{program} ")) {
                out.push(format!("{} {}: no example", sub.get_name(), leaf.get_name()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program() -> clap::Command {
        clap::Command::new("prog")
            .subcommand(
                clap::Command::new("run")
                    .about("Run it")
                    .after_help("Example:\n  prog run")
                    .arg(clap::Arg::new("config").long("config").help("The file")),
            )
            .subcommand(clap::Command::new("check").arg(clap::Arg::new("file")))
    }

    #[test]
    fn the_checks_find_what_is_missing() {
        let cmd = program();
        assert_eq!(
            misgrouped(&cmd, &[("Run", &["run", "gone"])]),
            ["check is in 0 groups", "gone is grouped but not a command"]
        );
        assert_eq!(
            undescribed(&cmd),
            ["prog check: no description", "prog check: argument `file` has no description"]
        );
        assert_eq!(without_example(&cmd, "prog"), ["check check: no example"]);
    }

    #[test]
    fn the_help_lists_the_groups_in_order() {
        let mut cmd = grouped(program(), &[("Check", &["check"]), ("Run", &["run"])], "Exit codes: 0");
        let help = cmd.render_help().to_string();
        let check = help.find("Check:\n  check").expect(&help);
        let run = help.find("Run:\n  run    Run it").expect(&help);
        assert!(check < run && help.trim_end().ends_with("Exit codes: 0"), "{help}");
    }
}
