//! CLI snapshots: what each command prints, byte for byte, with a fixed author and clock.
//!
//! These pin today's output (and through the ids it prints, today's object bytes) so that a
//! refactor that should change nothing can prove it. A change that is meant to alter output
//! shows up as a snapshot diff to review: `INSTA_UPDATE=always cargo test --test it snapshots::`
//! rewrites them, `git diff tests/it/snapshots/` shows what moved.

use crate::common;

use common::{Pail, write_file};

/// Runs `pail ARGS` in the workspace and renders the exit code, stdout and stderr as one
/// text, with the temporary workspace path replaced by `[TMP]`.
fn transcript(pail: &Pail, args: &[&str], stdin: Option<&str>) -> String {
    let out = pail.run_in(&pail.work, args, stdin);
    let tmp = pail.work.parent().unwrap().display().to_string();
    let mut text = format!("$ pail {}\n[exit {}]\n", args.join(" "), out.code);
    if !out.stdout.is_empty() {
        text.push_str("--- stdout\n");
        text.push_str(&out.stdout);
    }
    if !out.stderr.is_empty() {
        text.push_str("--- stderr\n");
        text.push_str(&out.stderr);
    }
    text.replace(&tmp, "[TMP]")
}

fn snap(pail: &Pail, name: &str, args: &[&str]) {
    insta::assert_snapshot!(name, transcript(pail, args, None));
}

/// A repository with two versions of the clips dataset (records with a File column, a
/// declared schema, a code file) and one of a keyless records dataset.
fn repository() -> Pail {
    let pail = Pail::new();
    common::copy_clips_fixture(&pail.work);
    snap(&pail, "init", &["init"]);
    snap(
        &pail,
        "commit_clips",
        &[
            "commit",
            "team.vision.clips",
            "--from",
            "clips.jsonl",
            "--schema",
            "clip.schema.json",
            "--code",
            "make_clips.py",
            "-m",
            "six clips",
        ],
    );
    let clips = std::fs::read_to_string(pail.work.join("clips.jsonl")).unwrap();
    let mut changed: Vec<&str> = clips.lines().skip(1).collect();
    let added = r#"{"file": {"source": "s3://team-bucket", "path": "videos/drive_099.mp4", "size": 77}, "start": 0.5, "end": 1.5, "weather": "snow", "labels": ["bus"], "captured": "2024-06-01T00:00:00Z"}"#;
    changed.push(added);
    write_file(
        &pail.work.join("clips2.jsonl"),
        (changed.join("\n") + "\n").as_bytes(),
    );
    snap(
        &pail,
        "commit_clips_again",
        &[
            "commit",
            "team.vision.clips",
            "--from",
            "clips2.jsonl",
            "--schema",
            "clip.schema.json",
            "--input",
            "team.vision.clips@1.0.0",
            "-m",
            "one out, one in",
        ],
    );
    write_file(
        &pail.work.join("measures.jsonl"),
        b"{\"x\": 1.5, \"n\": 3, \"tags\": [\"a\", \"b\"], \"inner\": {\"ok\": true}}\n\
          {\"x\": -0.25, \"n\": -7, \"tags\": [], \"inner\": {\"ok\": false}}\n",
    );
    snap(
        &pail,
        "commit_measures",
        &["commit", "measures", "--from", "measures.jsonl", "--json"],
    );
    pail
}

#[test]
fn every_read_command_prints_what_it_printed() {
    let pail = repository();
    let cases: &[(&str, &[&str])] = &[
        ("ls", &["ls"]),
        ("ls_json", &["ls", "--json"]),
        ("log", &["log", "team.vision.clips"]),
        ("log_json", &["log", "team.vision.clips", "--json"]),
        ("show", &["show", "team.vision.clips@1.0.0"]),
        ("show_json", &["show", "team.vision.clips", "--json"]),
        ("schema", &["schema", "team.vision.clips"]),
        ("schema_json", &["schema", "team.vision.clips", "--json"]),
        ("rows", &["rows", "team.vision.clips", "--limit", "3"]),
        ("rows_json", &["rows", "measures", "--json"]),
        (
            "diff_stat",
            &[
                "diff",
                "team.vision.clips@1.0.0",
                "team.vision.clips@1.0.1",
                "--stat",
            ],
        ),
        (
            "diff",
            &["diff", "team.vision.clips@1.0.0", "team.vision.clips@1.0.1"],
        ),
        (
            "diff_json",
            &[
                "diff",
                "team.vision.clips@1.0.0",
                "team.vision.clips@1.0.1",
                "--json",
            ],
        ),
        ("lineage", &["lineage", "team.vision.clips"]),
        (
            "lineage_json",
            &["lineage", "team.vision.clips", "--format", "json"],
        ),
        ("summary", &["summary", "team.vision.clips"]),
        (
            "query",
            &[
                "query",
                "SELECT weather, count(*) AS n FROM \"team.vision.clips\" GROUP BY weather ORDER BY weather",
            ],
        ),
        (
            "query_jsonl",
            &[
                "query",
                "SELECT x, n, inner FROM measures ORDER BY n",
                "--format",
                "jsonl",
            ],
        ),
        ("fsck", &["fsck"]),
        // Errors: the message, the hint and the exit code are part of the contract.
        ("error_no_dataset", &["show", "nosuch"]),
        ("error_bad_name", &["show", "Bad..Name"]),
        ("error_no_version", &["rows", "team.vision.clips@9.9.9"]),
    ];
    for (name, args) in cases {
        snap(&pail, name, args);
    }
}

#[test]
fn tags_and_exports_print_what_they_printed() {
    let pail = repository();
    snap(&pail, "tag", &["tag", "team.vision.clips@1.0.0", "golden"]);
    snap(&pail, "tag_list", &["tag", "--list"]);
    snap(&pail, "show_tag", &["show", "team.vision.clips@golden"]);
    snap(
        &pail,
        "export_jsonl",
        &["export", "measures", "-o", "measures.out.jsonl"],
    );
    let exported = std::fs::read_to_string(pail.work.join("measures.out.jsonl")).unwrap();
    insta::assert_snapshot!("export_jsonl_file", exported);
    snap(
        &pail,
        "export_csv",
        &[
            "export",
            "team.vision.clips",
            "--format",
            "csv",
            "-o",
            "clips.csv",
        ],
    );
    let exported = std::fs::read_to_string(pail.work.join("clips.csv")).unwrap();
    insta::assert_snapshot!("export_csv_file", exported);
}
