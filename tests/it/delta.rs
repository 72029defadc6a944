//! Versions stored as deltas (`rows::delta`): scattered change is stored as the parent's
//! base plus position deletes and a patch, and every reader gets exactly the rows a plain
//! tree of the same files gives.

use crate::common;

use std::path::Path;

use common::{Pail, write_file};
use serde_json::{Value, json};

/// 3,000 files in 10 folders, content "file N".
fn make_tree(root: &Path) {
    for idx in 0..3000 {
        write_file(
            &root.join(format!("d{}/f{idx:05}.bin", idx % 10)),
            format!("file {idx}").as_bytes(),
        );
    }
}

/// Change spread over the whole tree: every 97th file rewritten, every 131st (not also
/// rewritten) deleted, and a new file beside every 73rd. Returns (added, removed, modified).
fn scatter(root: &Path, round: usize) -> (u64, u64, u64) {
    let (mut added, mut removed, mut modified) = (0, 0, 0);
    for idx in (round..3000).step_by(97) {
        let path = root.join(format!("d{}/f{idx:05}.bin", idx % 10));
        if path.exists() {
            write_file(
                &path,
                format!("rewritten {idx} in round {round}").as_bytes(),
            );
            modified += 1;
        }
    }
    for idx in (round * 7..3000).step_by(131) {
        let path = root.join(format!("d{}/f{idx:05}.bin", idx % 10));
        if !(idx - round).is_multiple_of(97) && path.exists() {
            std::fs::remove_file(path).unwrap();
            removed += 1;
        }
    }
    for idx in (round..3000).step_by(73) {
        write_file(
            &root.join(format!("d{}/f{idx:05}-r{round}.bin", idx % 10)),
            b"new",
        );
        added += 1;
    }
    (added, removed, modified)
}

/// Whether `name@version`'s root is a delta root.
fn is_delta(pail: &Pail, reference: &str) -> bool {
    let repo = pail::Repo::discover(&pail.work).unwrap();
    let resolved = repo.resolve(&repo.parse_ref(reference).unwrap()).unwrap();
    drop(repo);
    let db = common::RawDb::open(&pail.work);
    let (kind, bytes) = db.object(&resolved.commit.rows);
    assert_eq!(kind, pail::Kind::Node);
    pail::Node::decode(&bytes).unwrap().delta.is_some()
}

fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Commits the tree as it is now as a new dataset `name` (a plain tree) and checks that
/// `reference` reads back exactly as it does: rows, SQL, export and an empty diff.
fn assert_reads_like_plain(pail: &Pail, reference: &str, name: &str) {
    pail.ok(&["commit", name, "./photos"]);
    assert!(!is_delta(pail, name));
    let rows = |reference: &str| {
        let mut rows = jsonl(&pail.ok(&["rows", reference, "--json"]).stdout);
        for row in &mut rows {
            row["file"]["last_modified"] = Value::Null;
        }
        rows
    };
    let (ours, plain) = (rows(reference), rows(name));
    assert_eq!(ours.len(), plain.len());
    assert!(ours == plain, "rows of {reference} differ from {name}");
    let sql = |table: &str| {
        pail.json(&[
            "query",
            &format!(
                "SELECT count(*) AS n, sum(file.size) AS bytes, min(file.path) AS lo, \
                 max(file.path) AS hi FROM {table} WHERE file.size > 6"
            ),
            "--json",
        ])
    };
    assert_eq!(sql(reference), sql(name));
    let stat = pail.json(&["diff", name, reference, "--stat", "--json"]);
    assert_eq!(
        (&stat["added"], &stat["removed"], &stat["modified"]),
        (&json!(0), &json!(0), &json!(0)),
        "{stat}"
    );
}

#[test]
fn scattered_change_is_stored_as_a_delta_and_reads_back_exactly() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let photos = pail.work.join("photos");
    make_tree(&photos);
    pail.ok(&["commit", "photos", "./photos"]);
    assert!(!is_delta(&pail, "photos@1.0.0"));

    let (added, removed, modified) = scatter(&photos, 1);
    let rows_v2 = 3000 + added - removed;
    pail.ok(&["commit", "photos", "./photos"]);
    assert!(is_delta(&pail, "photos@1.0.1"));
    let stat = pail.json(&["diff", "photos@1.0.0", "photos@1.0.1", "--stat", "--json"]);
    assert_eq!(
        (&stat["added"], &stat["removed"], &stat["modified"]),
        (&json!(added), &json!(removed), &json!(modified)),
        "{stat}"
    );
    let text = pail.ok(&["diff", "photos@1.0.0", "photos@1.0.1"]).stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, added + removed + modified + 1, "{text}");
    let keys: Vec<&str> = lines[..lines.len() - 1]
        .iter()
        .map(|line| &line[2..])
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "changes come in key order");
    assert!(lines.contains(&"- d0/f00000.bin") || lines.contains(&"+ d1/f00001-r1.bin"));
    assert_reads_like_plain(&pail, "photos", "plain1");

    // Nothing changed: the same content on the same parent is the same version.
    let out = pail.ok(&["commit", "photos", "./photos"]);
    assert!(out.stdout.contains("nothing changed"), "{}", out.stdout);
    let status = pail.json(&["status", "photos", "--stat", "--json"]);
    assert_eq!(
        (&status["added"], &status["removed"], &status["modified"]),
        (&json!(0), &json!(0), &json!(0))
    );

    // A second round on top of the delta: edits relative to the same base.
    let (added, removed, modified) = scatter(&photos, 2);
    let status = pail.json(&["status", "photos", "--stat", "--json"]);
    assert_eq!(
        (&status["added"], &status["removed"], &status["modified"]),
        (&json!(added), &json!(removed), &json!(modified)),
        "{status}"
    );
    pail.ok(&["commit", "photos", "./photos"]);
    assert!(is_delta(&pail, "photos@1.0.2"));
    let stat = pail.json(&["diff", "photos@1.0.1", "photos@1.0.2", "--stat", "--json"]);
    assert_eq!(
        (&stat["added"], &stat["removed"], &stat["modified"]),
        (&json!(added), &json!(removed), &json!(modified)),
        "{stat}"
    );
    assert_reads_like_plain(&pail, "photos", "plain2");
    // An older delta version still reads as it was.
    let old = jsonl(&pail.ok(&["rows", "photos@1.0.1", "--json"]).stdout);
    assert_eq!(old.len() as u64, rows_v2);

    // fsck and gc keep everything a delta needs.
    pail.ok(&["fsck"]);
    pail.ok(&["gc"]);
    let again = jsonl(&pail.ok(&["rows", "photos@1.0.1", "--json"]).stdout);
    assert_eq!(again, old);

    // A clone gets the delta versions and reads them the same.
    let remote = pail.work.join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    let url = format!("file://{}", remote.display());
    pail.ok(&["remote", "add", "origin", &url]);
    pail.ok(&["push"]);
    pail.ok(&["clone", &url, "copy"]);
    let copy = pail.work.join("copy");
    let theirs = pail.run_in(&copy, &["rows", "photos@1.0.1", "--json"], None);
    assert_eq!(jsonl(&theirs.stdout), old);
    let fsck = pail.run_in(&copy, &["fsck"], None);
    assert_eq!(fsck.code, 0, "{}", fsck.stderr);
}

#[test]
fn clustered_change_stays_a_plain_tree() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let photos = pail.work.join("photos");
    make_tree(&photos);
    pail.ok(&["commit", "photos", "./photos"]);
    for idx in 0..1200 {
        write_file(&photos.join(format!("new/n{idx:05}.bin")), b"new");
    }
    pail.ok(&["commit", "photos", "./photos"]);
    assert!(!is_delta(&pail, "photos@1.0.1"));
}

/// Records `{"id": N, "label": ..., "score": ...}` for ids 0..3000, with `label`
/// changed on the ids `changed` picks.
fn records(changed: impl Fn(u64) -> bool) -> String {
    (0..3000u64)
        .map(|id| {
            let label = if changed(id) {
                "relabelled"
            } else {
                "original"
            };
            format!(
                "{{\"id\": {id}, \"label\": \"{label}\", \"score\": {}.25}}\n",
                id % 17
            )
        })
        .collect()
}

#[test]
fn records_deltas_round_trip_and_a_revert_is_the_base_again() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let first = records(|_| false);
    pail.ok_stdin(&["commit", "labels", "--from", "-", "--key", "id"], &first);
    let relabelled = records(|id| id % 89 == 3);
    pail.ok_stdin(
        &["commit", "labels", "--from", "-", "--key", "id"],
        &relabelled,
    );
    assert!(is_delta(&pail, "labels@1.0.1"));
    let text = pail.ok(&["diff", "labels@1.0.0", "labels@1.0.1"]).stdout;
    assert!(text.contains("~ 3  (label)"), "{text}");
    assert!(
        text.ends_with("+0 added, -0 removed, ~34 modified\n"),
        "{text}"
    );
    let rows = jsonl(&pail.ok(&["rows", "labels@1.0.1", "--json"]).stdout);
    let expected = jsonl(&relabelled);
    assert_eq!(rows, expected);
    let sql = pail.json(&[
        "query",
        "SELECT count(*) AS n FROM labels WHERE label = 'relabelled'",
        "--json",
    ]);
    assert_eq!(sql, json!({"n": 34}));

    // The first records again: the version is the base tree itself.
    pail.ok_stdin(&["commit", "labels", "--from", "-", "--key", "id"], &first);
    assert!(!is_delta(&pail, "labels@1.0.2"));
    let v1 = pail.json(&["show", "labels@1.0.0", "--json"]);
    let v3 = pail.json(&["show", "labels@1.0.2", "--json"]);
    assert_eq!(v1["rows"], v3["rows"], "{v1} {v3}");
}
