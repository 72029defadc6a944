//! What reaches the terminal: control characters from a dataset (a pulled commit's author
//! and message, listed paths, column names, cell values) are escaped in every human
//! output while `--json` stays exact; malformed environment values are errors that name
//! the variable.

use crate::common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use common::{Pail, write_file};

/// ESC ]52 (a clipboard write), a colour code, BEL, a bare CR, C1 CSI and OSC.
const HOSTILE: &str = "x\u{1b}]52;c;UFdORUQ=\u{7}\u{1b}[31mred\rover\u{9b}2J\u{9d}0;t\u{7}";

fn assert_no_controls(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
        .collect();
    assert!(bad.is_empty(), "{what} printed {bad:?}:\n{text}");
}

#[test]
fn control_characters_from_a_pulled_dataset_never_reach_the_terminal() {
    let alice = Pail::new();
    alice.ok(&["init"]);
    let dir = alice.work.join("data");
    write_file(&dir.join(format!("{HOSTILE}.txt")), b"one");
    write_file(&dir.join("plain.txt"), b"two");
    let message = format!("msg {HOSTILE}");
    let author = format!("Eve {HOSTILE}");
    let out = alice.run_env(
        &["commit", "files", "data", "-m", &message],
        &[("PAIL_AUTHOR", &author)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    write_file(&dir.join(format!("new{HOSTILE}")), b"three");
    alice.ok(&["commit", "files", "data", "-m", &message]);
    // A column name and a value with control characters.
    let record = serde_json::json!({"id": 1, HOSTILE: HOSTILE}).to_string();
    alice.ok_stdin(&["commit", "recs", "--from", "-", "--key", "id"], &record);
    alice.ok(&["tag", "files@1.0.0", "golden"]);
    let remote = alice.work.join("remote");
    alice.ok(&["remote", "add", "origin", remote.to_str().unwrap()]);
    alice.ok(&["push"]);

    let bob = Pail::new();
    bob.ok(&["clone", remote.to_str().unwrap(), "."]);
    for args in [
        &["log"][..],
        &["log", "files"],
        &["show", "files@1.0.0"],
        &["ls"],
        &["rows", "files"],
        &["rows", "recs"],
        &["schema", "recs"],
        &["diff", "files@1.0.0", "files@1.0.1"],
        &["tag", "--list"],
        &["summary", "files"],
        &["summary", "recs"],
        &["lineage", "files"],
    ] {
        let out = bob.ok(args);
        assert_no_controls(&format!("pail {args:?}"), &out.stdout);
        assert_no_controls(&format!("pail {args:?} (stderr)"), &out.stderr);
    }
    // The pages `summary --all` writes for agents are escaped too.
    bob.ok(&["summary", "--all", "-o", "pages"]);
    for entry in std::fs::read_dir(bob.work.join("pages")).unwrap() {
        let path = entry.unwrap().path();
        assert_no_controls(
            &path.display().to_string(),
            &std::fs::read_to_string(&path).unwrap(),
        );
    }
    // The escapes are visible, so the text is still there to read.
    let log = bob.ok(&["log", "files"]).stdout;
    assert!(log.contains("\\x1b]52;c;UFdORUQ=\\x07"), "{log}");
    assert!(log.contains("red\\rover\\u{9b}2J"), "{log}");

    // --json stays exact.
    let log = bob.json(&["log", "files", "--json"]);
    assert_eq!(log[0]["message"], message.as_str());
    assert_eq!(log[0]["author"], "Test Author <test@example.com>");
    assert_eq!(log[1]["author"], author.as_str());
    let rows = bob.ok(&["rows", "files", "--json"]).stdout;
    let path = format!("{HOSTILE}.txt");
    assert!(
        rows.lines().any(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["file"]["path"]
                == path.as_str()
        }),
        "{rows}"
    );
    let recs = bob.ok(&["rows", "recs", "--json"]).stdout;
    let rec: serde_json::Value = serde_json::from_str(recs.trim()).unwrap();
    assert_eq!(rec[HOSTILE], HOSTILE);
}

#[test]
fn an_error_quoting_outside_text_is_escaped() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let out = pail.fails(1, &["log", &format!("name{HOSTILE}")]);
    assert!(out.stderr.contains("\\x1b]52"), "{}", out.stderr);
    assert_no_controls("the error", &out.stderr);
}

#[test]
fn malformed_environment_values_are_errors_naming_the_variable() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    for (name, value) in [
        ("PAIL_LOCK_TIMEOUT", "abc"),
        ("PAIL_LOCK_TIMEOUT", "-5"),
        ("PAIL_LOCK_TIMEOUT", "1.5"),
        ("PAIL_TIME", "yesterday"),
        ("PAIL_TIME", "2026-13-01T00:00:00Z"),
        // Seconds that overflow the µs clock.
        ("PAIL_TIME", "9223372036854775807"),
    ] {
        let out = pail.run_env(&["ls"], &[(name, value)]);
        assert_eq!(out.code, 1, "{name}={value}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("environment variable {name}")),
            "{name}={value}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("hint: set"), "{}", out.stderr);
    }
    // Values that are not Unicode, where pail needs text.
    for name in [
        "PAIL_AUTHOR",
        "PAIL_TIME",
        "PAIL_LOCK_TIMEOUT",
        "AWS_REGION",
    ] {
        let output = pail
            .command(&["ls"])
            .env(name, OsStr::from_bytes(b"bad\xff"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
    // Well-formed values, and variables pail does not read, are fine: an unrelated
    // variable that is not Unicode no longer makes pail panic.
    let output = pail
        .command(&["ls"])
        .env("PAIL_LOCK_TIMEOUT", "5")
        .env("PAIL_TIME", "1700000000")
        .env("SOMETHING_ELSE", OsStr::from_bytes(b"\xff"))
        .env("HOME", OsStr::from_bytes(b"/tmp/\xff"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
