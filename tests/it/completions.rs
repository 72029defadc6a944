//! `pail completions SHELL`: each script names every command `pail --help` lists, in the
//! form its shell dispatches on, and the bash one parses.

use std::process::Command;

use crate::common::Pail;

/// The commands `pail --help` lists (its own text, not the completion generator's).
fn commands(pail: &Pail) -> Vec<String> {
    let top = pail.ok(&["--help"]).stdout;
    let commands: Vec<String> = top
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .filter(|name| name != "help")
        .collect();
    for expected in ["commit", "push", "pull", "query", "completions"] {
        assert!(
            commands.iter().any(|name| name == expected),
            "{expected} missing from {commands:?}"
        );
    }
    commands
}

/// A line that opens the shell's script.
fn opening(shell: &str) -> &'static str {
    match shell {
        "bash" => "_pail() {",
        "zsh" => "#compdef pail",
        _ => "complete -c pail",
    }
}

/// How the shell's script spells a command it completes.
fn spelled(shell: &str, name: &str) -> String {
    match shell {
        "bash" => format!("pail,{name})"),
        "zsh" => format!("({name})"),
        _ => format!("-a \"{name}\""),
    }
}

#[test]
fn completion_scripts_name_every_command() {
    let pail = Pail::new();
    let commands = commands(&pail);
    for shell in ["bash", "zsh", "fish"] {
        let script = pail.ok(&["completions", shell]).stdout;
        assert!(script.contains(opening(shell)), "{shell}: {script}");
        for name in &commands {
            assert!(
                script.contains(&spelled(shell, name)),
                "{shell} script does not complete `{name}`"
            );
        }
    }

    let bash = pail.ok(&["completions", "bash"]).stdout;
    let path = pail.work.join("pail.bash");
    std::fs::write(&path, bash).unwrap();
    let parsed = Command::new("bash").arg("-n").arg(&path).status().unwrap();
    assert!(parsed.success(), "bash -n rejects the script");
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let pail = Pail::new();
    let out = pail.fails(1, &["completions", "tcsh"]);
    assert!(out.stderr.contains("possible values"), "{}", out.stderr);
}
