//! docs/CLI.md is generated from the binary's own `--help`, so it cannot drift: this test
//! fails when they differ. Regenerate with `UPDATE_CLI_DOC=1 cargo test --test it cli_doc`.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_pail"))
        .args(args)
        .env_clear()
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(output.status.success(), "pail {args:?} failed");
    String::from_utf8(output.stdout).unwrap()
}

fn render() -> String {
    let top = help(&["--help"]);
    let mut doc = String::from(
        "# pail command line\n\n\
         Generated from `pail --help` and `pail <command> --help` by `tests/it/cli_doc.rs`;\n\
         do not edit by hand (run `UPDATE_CLI_DOC=1 cargo test --test it cli_doc`).\n\n\
         Conventions: `NAME@V` takes a semver (`1.0.2`), a tag, `latest` (the default) or a\n\
         commit id prefix. Every read command takes `--json`. Exit codes: 0 success, 1 a user\n\
         error (bad name or input, schema violation, conflict; usage errors too), 2 an internal\n\
         or I/O error. Data goes to stdout, messages to stderr.\n\n## pail\n\n```text\n",
    );
    doc.push_str(&top);
    doc.push_str("```\n");
    let commands: Vec<String> = top
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .filter(|name| name != "help")
        .collect();
    assert!(commands.len() >= 8, "found commands {commands:?}");
    for command in commands {
        doc.push_str(&format!("\n## pail {command}\n\n```text\n"));
        doc.push_str(&help(&[&command, "--help"]));
        doc.push_str("```\n");
    }
    doc
}

#[test]
fn cli_reference_matches_the_binary() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/CLI.md");
    let rendered = render();
    if std::env::var("UPDATE_CLI_DOC").is_ok() {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == rendered,
        "docs/CLI.md is out of date: run `UPDATE_CLI_DOC=1 cargo test --test it cli_doc`"
    );
}
