//! End-to-end tests of the `pail` binary: real temp directories, a real redb file, a fixed
//! author and clock so that ids repeat.

use crate::common;

use std::path::Path;

use common::{Pail, write_file};
use serde_json::Value;

fn make_tree(root: &Path, n: usize) {
    for idx in 0..n {
        write_file(
            &root.join(format!("d{}/f{idx:04}.jpg", idx % 7)),
            format!("file {idx}").as_bytes(),
        );
    }
}

#[test]
fn commit_a_directory_then_recommit_unchanged_then_changed() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let photos = pail.work.join("photos");
    make_tree(&photos, 100);

    let out = pail.ok(&["commit", "photos", "./photos", "-m", "first listing"]);
    assert!(
        out.stdout.contains("created local.default.photos@1.0.0"),
        "{}",
        out.stdout
    );

    let out = pail.ok(&["commit", "photos", "./photos"]);
    assert!(out.stdout.contains("nothing changed"), "{}", out.stdout);
    let log: Vec<Value> = pail
        .json(&["log", "photos", "--json"])
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(log.len(), 1, "an unchanged commit creates no version");

    // 20 added, 10 changed, 5 deleted.
    for idx in 100..120 {
        write_file(&photos.join(format!("new/n{idx}.png")), b"new");
    }
    for idx in 0..10 {
        write_file(
            &photos.join(format!("d{}/f{idx:04}.jpg", idx % 7)),
            b"changed content!!",
        );
    }
    for idx in 10..15 {
        std::fs::remove_file(photos.join(format!("d{}/f{idx:04}.jpg", idx % 7))).unwrap();
    }
    let created = pail.json(&["commit", "photos", "./photos", "--json"]);
    assert_eq!(created["status"], "created");
    assert_eq!(created["version"], "1.0.1");
    assert_eq!(created["parent"], "1.0.0");
    assert_eq!(created["n_rows"], 115);

    let shown = pail.json(&["show", "photos@1.0.1", "--json"]);
    let first = pail.json(&["show", "photos@1.0.0", "--json"]);
    assert_eq!(shown["parents"][0], first["id"]);
    assert_eq!(shown["inputs"][0]["type"], "source");
    assert!(
        shown["inputs"][0]["uri"]
            .as_str()
            .unwrap()
            .starts_with("file:///")
    );
    assert_eq!(
        shown["key"],
        serde_json::json!(["file.source", "file.path"])
    );
    assert_eq!(first["message"], "first listing");
    assert_eq!(shown["author"], "Test Author <test@example.com>");
    assert_eq!(
        shown["command"],
        serde_json::json!(["pail", "commit", "photos", "./photos", "--json"])
    );
    for field in [
        "id", "schema", "rows", "n_rows", "n_bytes", "time", "git", "code", "summary",
    ] {
        assert!(shown.get(field).is_some(), "show --json lacks {field}");
    }

    let log = pail.ok(&["log", "photos"]).stdout;
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines[0].starts_with("local.default.photos@1.0.1"), "{log}");
    assert!(lines[1].starts_with("local.default.photos@1.0.0"), "{log}");

    let rows = pail
        .ok(&["rows", "photos", "--limit", "5", "--format", "jsonl"])
        .stdout;
    let rows: Vec<Value> = rows
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["file"]["path"], "d0/f0000.jpg");
    assert_eq!(rows[0]["file"]["size"], 17);
    let all = pail.ok(&["rows", "photos@1.0.0", "--format", "csv"]).stdout;
    assert_eq!(all.lines().count(), 101, "header + 100 rows");
    assert!(all.starts_with("file.source,file.path,file.size,file.etag"));

    let ls = pail.json(&["ls", "--json"]);
    assert_eq!(ls[0]["name"], "local.default.photos");
    assert_eq!(ls[0]["latest"], "1.0.1");
    assert_eq!(ls[0]["versions"], serde_json::json!(["1.0.0", "1.0.1"]));
}

#[test]
fn listing_reports_what_it_cannot_list_and_keeps_odd_names() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let dir = pail.work.join("odd");
    for name in ["x#12", "with space.jpg", ".hidden", "é.png", "sub/a.txt"] {
        write_file(&dir.join(name), name.as_bytes());
    }
    std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
    let out = pail.ok(&["commit", "odd", "odd", "--hash"]);
    assert!(
        out.stderr
            .contains("warning: could not list dangling: broken symlink"),
        "{}",
        out.stderr
    );
    let rows = pail.ok(&["rows", "odd", "--json"]).stdout;
    let rows: Vec<Value> = rows
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let paths: Vec<&str> = rows
        .iter()
        .map(|r| r["file"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [".hidden", "sub/a.txt", "with space.jpg", "x#12", "é.png"]
    );
    let hash = blake3::hash(b"x#12").to_hex().to_string();
    assert_eq!(rows[3]["file"]["blake3"], hash);
}

#[test]
fn records_with_a_pydantic_schema_inputs_and_code() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    make_tree(&pail.work.join("photos"), 3);
    pail.ok(&["commit", "photos", "photos"]);
    common::copy_clips_fixture(&pail.work);
    let out = pail.ok(&[
        "commit",
        "team.vision.clips",
        "--from",
        "clips.jsonl",
        "--schema",
        "clip.schema.json",
        "--input",
        "photos@1.0.0",
        "--code",
        "make_clips.py",
    ]);
    assert!(
        out.stdout.contains("created team.vision.clips@1.0.0"),
        "{}",
        out.stdout
    );

    let schema = pail.ok(&["schema", "team.vision.clips"]).stdout;
    assert!(
        schema.contains("weather: enum(clear, rain, fog, snow, night)"),
        "{schema}"
    );
    assert!(
        schema.contains("file: File\n  source: string\n  path: string\n  size: optional<int>"),
        "{schema}"
    );
    assert!(schema.contains("captured: datetime (UTC)"), "{schema}");

    let shown = pail.json(&["show", "team.vision.clips", "--json"]);
    let photos = pail.json(&["show", "photos", "--json"]);
    assert_eq!(shown["inputs"][0]["type"], "dataset");
    assert_eq!(shown["inputs"][0]["name"], "local.default.photos");
    assert_eq!(shown["inputs"][0]["version"], "1.0.0");
    assert_eq!(shown["inputs"][0]["commit"], photos["id"]);
    assert_eq!(shown["code"][0]["path"], "make_clips.py");
    let code = std::fs::read(common::fixture("clips/make_clips.py")).unwrap();
    assert_eq!(shown["code"][0]["size"], code.len());
    assert_eq!(shown["n_rows"], 6);

    let rows = pail.ok(&["rows", "team.vision.clips", "--json"]).stdout;
    let second: Value = serde_json::from_str(rows.lines().nth(1).unwrap()).unwrap();
    // Normalized to UTC with microseconds.
    assert_eq!(second["captured"], "2024-05-01T07:30:00.000000Z");
    assert_eq!(second["weather"], "rain");
}

/// The id of one canonical commit, built from fixtures/ with a fixed author and clock.
/// If this changes, the object format changed: bump it and document it in docs/FORMAT.md.
/// (Changed by format 2: commit format 2, canonical row keys and leaf digests; by schema
/// format 3: the schema keeps the model's declared field order; by the summary's example
/// rows in that order; by leaf field ids: leaves carry Parquet field ids and no
/// `ARROW:schema` entry.)
#[test]
fn canonical_commit_id_is_pinned() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    common::copy_clips_fixture(&pail.work);
    let created = pail.json(&[
        "commit",
        "team.vision.clips",
        "--from",
        "clips.jsonl",
        "--schema",
        "clip.schema.json",
        "--code",
        "make_clips.py",
        "-m",
        "canonical",
        "--json",
    ]);
    let shown = pail.json(&["show", "team.vision.clips@1.0.0", "--json"]);
    assert_eq!(shown["id"], created["id"]);
    assert_eq!(
        created["id"].as_str().unwrap(),
        "861e2307654712bdf1d39794bf2724ee7f5b9181bf2d81851daf1abcdb3f2c22",
        "the canonical commit id changed"
    );
}

#[test]
fn a_record_that_breaks_the_schema_names_line_and_field_and_writes_nothing() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    std::fs::copy(
        common::fixture("clips/clip.schema.json"),
        pail.work.join("clip.schema.json"),
    )
    .unwrap();
    let good = std::fs::read_to_string(common::fixture("clips/clips.jsonl")).unwrap();
    let bad = good.replace("\"fog\"", "\"hail\"");
    write_file(&pail.work.join("bad.jsonl"), bad.as_bytes());
    let out = pail.fails(
        1,
        &[
            "commit",
            "clips",
            "--from",
            "bad.jsonl",
            "--schema",
            "clip.schema.json",
        ],
    );
    assert!(
        out.stderr.contains(
            "error: line 3: weather: \"hail\" is not one of clear, rain, fog, snow, night"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert_eq!(pail.json(&["ls", "--json"]), serde_json::json!([]));

    write_file(&pail.work.join("mal.jsonl"), b"{\"a\": 1}\n\n{\"a\": \n");
    let out = pail.fails(1, &["commit", "x", "--from", "mal.jsonl"]);
    assert!(
        out.stderr.contains("error: line 3: malformed JSON"),
        "{}",
        out.stderr
    );

    write_file(
        &pail.work.join("conflict.jsonl"),
        b"{\"a\": 1}\n{\"a\": \"one\"}\n",
    );
    let out = pail.fails(1, &["commit", "x", "--from", "conflict.jsonl"]);
    assert!(out.stderr.contains("line 2: field `a`"), "{}", out.stderr);
    assert_eq!(pail.json(&["ls", "--json"]), serde_json::json!([]));
}

#[test]
fn records_from_stdin_infer_a_file_column_and_detect_duplicate_keys() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let records = "{\"file\": {\"source\": \"s3://b\", \"path\": \"a.jpg\"}, \"score\": 1}\n\
                   {\"file\": {\"source\": \"s3://b\", \"path\": \"b.jpg\"}, \"score\": 2.5}\n";
    pail.ok_stdin(&["commit", "scores", "--from", "-"], records);
    let schema = pail.ok(&["schema", "scores"]).stdout;
    assert!(schema.contains("file: File"), "{schema}");
    assert!(schema.contains("score: float"), "{schema}");

    let duplicate = format!(
        "{records}{{\"file\": {{\"source\": \"s3://b\", \"path\": \"a.jpg\"}}, \"score\": 3}}\n"
    );
    let out = pail.fails_stdin(1, &["commit", "scores", "--from", "-"], &duplicate);
    assert!(
        out.stderr.contains("line 3: duplicate row key"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("first seen at line 1"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--key"), "{}", out.stderr);
    // The same rows keyed by (file, score) are fine.
    pail.ok_stdin(
        &["commit", "scored", "--from", "-", "--key", "file,score"],
        &duplicate,
    );
    assert_eq!(
        pail.json(&["show", "scored", "--json"])["key"],
        serde_json::json!(["file.source", "file.path", "score"])
    );
}

#[test]
fn schema_changes_need_the_right_bump() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    pail.ok_stdin(
        &["commit", "t", "--from", "-"],
        "{\"id\": 1, \"a\": \"x\"}\n",
    );
    // Additive: a new column needs at least minor.
    let out = pail.fails_stdin(
        1,
        &["commit", "t", "--from", "-"],
        "{\"id\": 1, \"a\": \"x\", \"b\": 2}\n",
    );
    assert!(
        out.stderr.contains("needs at least a minor version bump"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("hint: commit again with `--bump minor`"),
        "{}",
        out.stderr
    );
    pail.ok_stdin(
        &["commit", "t", "--from", "-", "--bump", "minor"],
        "{\"id\": 1, \"a\": \"x\", \"b\": 2}\n",
    );
    // Removing a column is breaking.
    let out = pail.fails_stdin(
        1,
        &["commit", "t", "--from", "-", "--bump", "minor"],
        "{\"id\": 1, \"b\": 2}\n",
    );
    assert!(
        out.stderr.contains("needs at least a major version bump"),
        "{}",
        out.stderr
    );
    pail.ok_stdin(
        &["commit", "t", "--from", "-", "--bump", "major"],
        "{\"id\": 1, \"b\": 2}\n",
    );
    let versions = pail.json(&["ls", "--json"])[0]["versions"].clone();
    assert_eq!(versions, serde_json::json!(["1.0.0", "1.1.0", "2.0.0"]));
}

#[test]
fn tags_and_version_specs() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    pail.ok_stdin(&["commit", "t", "--from", "-"], "{\"id\": 1}\n");
    pail.ok_stdin(&["commit", "t", "--from", "-"], "{\"id\": 2}\n");
    pail.ok(&["tag", "t@1.0.0", "golden"]);
    let golden = pail.json(&["show", "t@golden", "--json"]);
    assert_eq!(golden["version"], "1.0.0");
    assert_eq!(golden["tags"], serde_json::json!(["golden"]));

    let out = pail.fails(1, &["tag", "t@1.0.1", "golden"]);
    assert!(
        out.stderr
            .contains("already points at local.default.t@1.0.0"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    pail.ok(&["tag", "t@1.0.1", "golden", "--force"]);
    assert_eq!(
        pail.json(&["show", "t@golden", "--json"])["version"],
        "1.0.1"
    );

    let tags = pail.json(&["tag", "--list", "--json"]);
    assert_eq!(tags[0]["tag"], "golden");
    assert_eq!(tags[0]["version"], "1.0.1");

    // A commit id prefix resolves to its version.
    let id = golden["id"].as_str().unwrap().to_string();
    let by_prefix = pail.json(&["show", &format!("t@{}", &id[..10]), "--json"]);
    assert_eq!(by_prefix["version"], "1.0.0");
    assert_eq!(
        pail.json(&["show", "t@latest", "--json"])["version"],
        "1.0.1"
    );

    pail.ok(&["tag", "--delete", "golden"]);
    let out = pail.fails(1, &["show", "t@golden"]);
    assert!(
        out.stderr.contains("has no version `golden`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("pail log local.default.t"),
        "{}",
        out.stderr
    );
}

#[test]
fn user_errors_exit_1_with_a_hint() {
    let pail = Pail::new();
    let out = pail.fails(1, &["ls"]);
    assert!(
        out.stderr.contains("not a pail repository"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("hint: run `pail init`"),
        "{}",
        out.stderr
    );
    pail.ok(&["init"]);
    let out = pail.fails(1, &["commit", "Bad Name", "."]);
    assert!(
        out.stderr
            .contains("is not a valid dataset name: use `[namespace.[project.]]name`"),
        "{}",
        out.stderr
    );
    let out = pail.fails(1, &["show", "nothing"]);
    assert!(
        out.stderr
            .contains("dataset local.default.nothing does not exist"),
        "{}",
        out.stderr
    );
    // A short name is local.default's: a dataset of that last name elsewhere is named.
    pail.ok_stdin(
        &["commit", "team.vision.clips", "--from", "-"],
        "{\"n\": 1}\n",
    );
    for args in [
        &["log", "clips"][..],
        &["query", "SELECT count(*) FROM clips"][..],
    ] {
        let out = pail.fails(1, args);
        assert!(
            out.stderr.contains(
                "dataset local.default.clips does not exist; did you mean team.vision.clips?"
            ),
            "{}",
            out.stderr
        );
    }
    let out = pail.fails(1, &["show", "nothing@1.0"]);
    assert!(
        out.stderr.contains("is not a valid version"),
        "{}",
        out.stderr
    );
    let out = pail.fails(1, &["commit", "x", "./missing-dir"]);
    assert!(
        out.stderr.contains("does not exist or is not a directory"),
        "{}",
        out.stderr
    );
    // clap usage errors are user errors too.
    pail.fails(1, &["commit"]);
    pail.fails(1, &["frobnicate"]);
    let out = pail.fails(1, &["commit", "x", "--from", "a.jsonl", "./dir"]);
    assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn pail_dir_overrides_discovery_and_commands_walk_up() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    make_tree(&pail.work.join("photos"), 2);
    let nested = pail.work.join("photos/d0");
    let out = pail.run_in(&nested, &["commit", "photos", "."], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        pail.json(&["ls", "--json"])[0]["name"],
        "local.default.photos"
    );

    let other = tempfile::tempdir().unwrap();
    let out = pail.run_env(
        &["init"],
        &[("PAIL_DIR", other.path().join("repo").to_str().unwrap())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = pail.run_env(
        &["ls", "--json"],
        &[("PAIL_DIR", other.path().join("repo").to_str().unwrap())],
    );
    assert_eq!(out.stdout.trim(), "[]");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let mut records = String::new();
    for idx in 0..20_000 {
        records.push_str(&format!(
            "{{\"id\": {idx}, \"text\": \"row number {idx} with some padding\"}}\n"
        ));
    }
    pail.ok_stdin(&["commit", "big", "--from", "-", "--key", "id"], &records);
    let script = format!(
        "set -o pipefail; '{}' rows big --json | head -n 1 >/dev/null; echo \"status=${{PIPESTATUS[0]}}\"",
        pail.bin.display()
    );
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&pail.work)
        .envs(pail.env_vars())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("status=0"), "{stdout} {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn two_commits_started_together_both_succeed_with_distinct_versions() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let mut children = Vec::new();
    for idx in 0..2 {
        let mut records = String::new();
        for row in 0..3000 {
            records.push_str(&format!("{{\"id\": {row}, \"writer\": {idx}}}\n"));
        }
        write_file(&pail.work.join(format!("w{idx}.jsonl")), records.as_bytes());
    }
    for idx in 0..2 {
        children.push(
            pail.command(&[
                "commit",
                "shared",
                "--from",
                &format!("w{idx}.jsonl"),
                "--key",
                "id",
                "--json",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
        );
    }
    let mut versions = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let result: Value = serde_json::from_slice(&output.stdout).unwrap();
        versions.push(result["version"].as_str().unwrap().to_string());
    }
    versions.sort();
    assert_eq!(versions, ["1.0.0", "1.0.1"]);
}

#[test]
fn a_held_repository_makes_commands_wait_then_give_up_clearly() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let db = pail.work.join(".pail/pail.redb");
    let held = redb::Database::create(&db).unwrap();
    let out = pail.run_env(&["ls"], &[("PAIL_LOCK_TIMEOUT", "1")]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("waiting for another pail process"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("held by another pail process"),
        "{}",
        out.stderr
    );
    // Released while a command waits: it goes on.
    let child = pail
        .command(&["ls", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    drop(held);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "[]");
}

#[test]
fn a_repository_from_a_newer_pail_is_refused_untouched() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let db_path = pail.work.join(".pail/pail.redb");
    let meta: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("meta");
    let objects: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("objects");
    {
        let db = redb::Database::open(&db_path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(meta).unwrap().insert("format", "2").unwrap();
        txn.commit().unwrap();
    }
    write_file(&pail.work.join("photos/a.jpg"), b"a");
    for args in [
        &["ls"][..],
        &["commit", "photos", "photos"][..],
        &["init"][..],
    ] {
        let out = pail.fails(1, args);
        assert!(
            out.stderr
                .contains("has store format 2; this pail reads format 1"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("hint: use the newer pail"),
            "{}",
            out.stderr
        );
    }
    // Nothing was written: the format stays and no object was stored.
    use redb::{ReadableDatabase, ReadableTableMetadata};
    let db = redb::Database::open(&db_path).unwrap();
    let txn = db.begin_read().unwrap();
    let format = txn
        .open_table(meta)
        .unwrap()
        .get("format")
        .unwrap()
        .unwrap()
        .value()
        .to_string();
    assert_eq!(format, "2");
    assert_eq!(txn.open_table(objects).unwrap().len().unwrap(), 0);
}

#[test]
fn a_localized_change_rewrites_few_leaves() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let mut records = String::new();
    for idx in 0..20_000 {
        records.push_str(&format!("{{\"id\": {idx}, \"v\": 0}}\n"));
    }
    let first = pail.json_stdin(
        &["commit", "t", "--from", "-", "--key", "id", "--json"],
        &records,
    );
    let total = first["leaves_written"].as_u64().unwrap();
    assert!(total >= 10, "20,000 rows make many leaves, got {total}");
    // Change 100 neighbouring rows, add 50 at the end, delete 20 in the middle.
    let mut changed = String::new();
    for idx in 0..20_050 {
        if (9_000..9_020).contains(&idx) {
            continue;
        }
        let v = if (5_000..5_100).contains(&idx) { 1 } else { 0 };
        changed.push_str(&format!("{{\"id\": {idx}, \"v\": {v}}}\n"));
    }
    let second = pail.json_stdin(
        &["commit", "t", "--from", "-", "--key", "id", "--json"],
        &changed,
    );
    let written = second["leaves_written"].as_u64().unwrap();
    let reused = second["leaves_reused"].as_u64().unwrap();
    assert!(
        written <= 6,
        "only the touched leaves are rewritten: {written} of {}",
        written + reused
    );
    assert!(
        reused + 6 >= total,
        "the rest are reused: {reused} of {total}"
    );
    // Identical content gives an identical root.
    let again = pail.json_stdin(
        &["commit", "u", "--from", "-", "--key", "id", "--json"],
        &records,
    );
    let t = pail.json(&["show", "t@1.0.0", "--json"]);
    let u = pail.json(&[
        "show",
        &format!("u@{}", &again["id"].as_str().unwrap()[..12]),
        "--json",
    ]);
    assert_eq!(t["rows"], u["rows"]);
}

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

#[test]
fn lineage_records_the_git_state_and_author_of_the_code() {
    let pail = Pail::new();
    let code = pail.work.clone();
    git(&code, &["init", "-q", "-b", "trunk"]);
    git(&code, &["config", "user.name", "Grace Hopper"]);
    git(&code, &["config", "user.email", "grace@example.com"]);
    write_file(&code.join("make.py"), b"print('v1')\n");
    write_file(&code.join(".gitignore"), b".pail/\nphotos/\n");
    git(&code, &["add", "make.py", ".gitignore"]);
    git(&code, &["commit", "-q", "-m", "first"]);
    let head = String::from_utf8(
        std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(&code)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    pail.ok(&["init"]);
    make_tree(&code.join("photos"), 3);
    // No PAIL_AUTHOR: the author comes from git config, read through gix.
    let out = pail.run_full(
        &code,
        &["commit", "photos", "photos", "--code", "make.py"],
        None,
        &[("PAIL_AUTHOR", "")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let shown = pail.json(&["show", "photos", "--json"]);
    assert_eq!(shown["author"], "Grace Hopper <grace@example.com>");
    assert_eq!(shown["git"]["head"], head);
    assert_eq!(shown["git"]["branch"], "trunk");
    assert_eq!(shown["git"]["dirty"], false);
    assert_eq!(
        shown["git"]["repository"],
        code.canonicalize().unwrap().display().to_string()
    );
    assert_eq!(shown["code"][0]["path"], "make.py");

    // A modified tracked file makes the state dirty.
    write_file(&code.join("make.py"), b"print('v2')\n");
    write_file(&code.join("photos/extra.jpg"), b"x");
    pail.ok(&["commit", "photos", "photos"]);
    let shown = pail.json(&["show", "photos", "--json"]);
    assert_eq!(shown["git"]["dirty"], true);
    assert_eq!(
        shown["author"], "Test Author <test@example.com>",
        "PAIL_AUTHOR overrides git config"
    );
}

#[test]
fn lineage_up_and_down() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    make_tree(&pail.work.join("photos"), 3);
    pail.ok(&["commit", "photos", "photos"]);
    pail.ok_stdin(
        &["commit", "clips", "--from", "-", "--input", "photos"],
        "{\"a\": 1}\n",
    );
    pail.ok_stdin(
        &["commit", "stats", "--from", "-", "--input", "clips"],
        "{\"b\": 2}\n",
    );
    let up = pail.ok(&["lineage", "stats"]).stdout;
    let lines: Vec<&str> = up.lines().collect();
    assert!(lines[0].starts_with("local.default.stats@1.0.0"), "{up}");
    assert!(lines[1].starts_with("└─ local.default.clips@1.0.0"), "{up}");
    assert!(
        lines[2].starts_with("   └─ local.default.photos@1.0.0"),
        "{up}"
    );
    assert!(lines[3].starts_with("      └─ source file://"), "{up}");
    let down = pail.json(&["lineage", "photos", "--down", "--json"]);
    let names: Vec<&str> = down["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "local.default.photos",
            "local.default.clips",
            "local.default.stats"
        ]
    );
    assert_eq!(down["edges"].as_array().unwrap().len(), 2);
    let dot = pail.ok(&["lineage", "stats", "--format", "dot"]).stdout;
    assert!(
        dot.starts_with("digraph lineage {") && dot.contains("->"),
        "{dot}"
    );
}

#[test]
fn fsck_finds_damage_and_gc_removes_only_unreachable_objects() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    pail.ok_stdin(
        &["commit", "t", "--from", "-", "--key", "id"],
        "{\"id\": 1}\n{\"id\": 2}\n",
    );
    let healthy = pail.json(&["fsck", "--json"]);
    assert_eq!(healthy["problems"], serde_json::json!([]));
    let n_objects = healthy["objects"].as_u64().unwrap();
    assert!(n_objects >= 4);
    // Nothing is unreachable yet.
    assert_eq!(pail.json(&["gc", "--json"])["objects_removed"], 0);

    // Damage one object in place, with redb through the table layout FORMAT.md gives.
    let shown = pail.json(&["show", "t", "--json"]);
    let schema_id = pail::ObjectId::from_hex(shown["schema"].as_str().unwrap()).unwrap();
    {
        let db = common::RawDb::open(&pail.work);
        db.put_object(pail::Kind::Schema, &schema_id, b"not the schema");
        // And an orphan for gc.
        db.put_object(
            pail::Kind::Blob,
            &pail::ObjectId::compute(pail::Kind::Blob, b"orphan"),
            b"orphan",
        );
    }
    let out = pail.run_in(&pail.work, &["fsck"], None);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains(&format!("object {schema_id} is corrupt")),
        "{}",
        out.stdout
    );
    let removed = pail.json(&["gc", "--json"]);
    assert_eq!(removed["objects_removed"], 1);
    let after = pail.run_in(&pail.work, &["fsck", "--json"], None);
    let after: serde_json::Value = serde_json::from_str(&after.stdout).unwrap();
    assert_eq!(after["objects"], n_objects, "only the orphan went");
}

/// Deletes the first object of `kind` from the repository's store; returns its id.
fn delete_object_of_kind(pail: &Pail, kind: pail::Kind) -> pail::ObjectId {
    common::RawDb::open(&pail.work).delete_object_of_kind(kind)
}

#[test]
fn fsck_reports_a_missing_leaf_schema_or_summary() {
    for kind in [pail::Kind::Leaf, pail::Kind::Schema, pail::Kind::Summary] {
        let pail = Pail::new();
        pail.ok(&["init"]);
        pail.ok_stdin(
            &["commit", "t", "--from", "-", "--key", "id"],
            "{\"id\": 1, \"x\": \"a\"}\n{\"id\": 2, \"x\": \"b\"}\n",
        );
        assert_eq!(
            pail.json(&["fsck", "--json"])["problems"],
            serde_json::json!([])
        );
        let id = delete_object_of_kind(&pail, kind);
        let out = pail.run_in(&pail.work, &["fsck"], None);
        assert_eq!(out.code, 1, "{kind}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains(&format!("{kind} {id} is missing")),
            "{kind}: {}",
            out.stdout
        );
        // gc keeps everything the damaged version still names.
        pail.ok(&["gc"]);
    }
}

#[test]
fn fsck_reports_a_leaf_that_does_not_decode() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    pail.ok_stdin(
        &["commit", "t", "--from", "-", "--key", "id"],
        "{\"id\": 1}\n{\"id\": 2}\n",
    );
    // A leaf whose bytes hash to its id but are not Parquet: only decoding finds it.
    let id = delete_object_of_kind(&pail, pail::Kind::Leaf);
    common::RawDb::open(&pail.work).put_object(pail::Kind::Leaf, &id, b"not parquet");
    let out = pail.run_in(&pail.work, &["fsck"], None);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("leaf {id} cannot be read")),
        "{}",
        out.stdout
    );
}

/// Starts `pail commit <name> --from -` with a piped stdin, writes `bytes` to it and waits
/// until its spool appears under `.pail/tmp/`; returns the child (stdin still open).
fn commit_from_stdin_in_flight(
    pail: &Pail,
    name: &str,
    bytes: &[u8],
) -> (std::process::Child, std::path::PathBuf) {
    use std::io::Write;
    let tmp = pail.work.join(".pail/tmp");
    let before: Vec<std::path::PathBuf> = std::fs::read_dir(&tmp)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    let mut child = pail
        .command(&["commit", name, "--from", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.as_mut().unwrap().write_all(bytes).unwrap();
    child.stdin.as_mut().unwrap().flush().unwrap();
    // Wait for the spool to hold what was written (not a timing assert: a bounded wait
    // for a state, failing only if it never comes).
    for _ in 0..3000 {
        let spool = std::fs::read_dir(&tmp).ok().and_then(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .find(|path| !before.contains(path))
        });
        if let Some(spool) = spool
            && std::fs::metadata(&spool).is_ok_and(|meta| meta.len() == bytes.len() as u64)
        {
            return (child, spool);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no spool appeared in {}", tmp.display());
}

#[test]
fn gc_removes_the_spool_of_a_killed_commit_but_not_a_live_one() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let records = records_text(2000);
    let (mut killed, stale) = commit_from_stdin_in_flight(&pail, "a", records.as_bytes());
    killed.kill().unwrap(); // SIGKILL
    killed.wait().unwrap();
    assert!(stale.exists(), "the killed commit left its spool");

    let (mut live, live_spool) = commit_from_stdin_in_flight(&pail, "b", records.as_bytes());
    let out = pail.json(&["gc", "--json"]);
    assert_eq!(out["temporaries_removed"], 1, "{out}");
    assert!(!stale.exists(), "gc removed the stale spool");
    assert!(live_spool.exists(), "gc kept the live spool");
    // The live commit still completes from its spool.
    drop(live.stdin.take());
    assert!(live.wait().unwrap().success());
    assert_eq!(pail.json(&["gc", "--json"])["temporaries_removed"], 0);
    assert_eq!(pail.json(&["show", "b", "--json"])["n_rows"], 2000);
}

fn records_text(n: usize) -> String {
    (0..n)
        .map(|idx| format!("{{\"id\": {idx}, \"text\": \"row {idx}\"}}\n"))
        .collect()
}
