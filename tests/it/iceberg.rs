//! Iceberg tables on remotes: pyiceberg 0.12 and DuckDB 1.5.5 (with its avro, iceberg and
//! httpfs extensions, loaded offline) read every pushed version in place and answer what
//! `pail query` answers, for the latest version, 1.0.0 and a tag, on a local-directory
//! remote and a moto S3 remote.

use crate::common;

use std::process::Command;

use common::Pail;
use serde_json::{Value, json};

/// The Python with pyiceberg and DuckDB, and the DuckDB extension directory (tests/run
/// sets both).
fn readers() -> Option<(String, String)> {
    match (
        std::env::var("PAIL_TEST_ICEBERG_PYTHON"),
        std::env::var("PAIL_TEST_DUCKDB_EXTENSIONS"),
    ) {
        (Ok(python), Ok(ext)) if !python.is_empty() => Some((python, ext)),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "PAIL_TEST_ICEBERG_PYTHON is not set: run the suite through tests/run"
            );
            eprintln!("skipping: PAIL_TEST_ICEBERG_PYTHON is not set (tests/run sets it)");
            None
        }
    }
}

/// One record: a File-shaped struct, a nested struct and a list; round 1 changes every
/// 97th size, drops every 131st row (from 5) and adds 20.
fn records(round: u64) -> String {
    let mut text = String::new();
    let rows = (0..3000u64)
        .filter(|i| round == 0 || i % 131 != 5)
        .chain(if round == 1 { 3000..3020 } else { 0..0 });
    for i in rows {
        let size = i * 10 + if i % 97 == 0 { round } else { 0 };
        let row = json!({
            "id": i,
            "file": {"source": "s3://b", "path": format!("p/{i:05}"), "size": size},
            "meta": {"w": i, "note": format!("n{}", i % 13)},
            "labels": vec!["a"; (i % 4) as usize],
        });
        text.push_str(&format!("{row}\n"));
    }
    text
}

/// pail's own answers for a ref: rows, sum of file.size, total list length.
fn pail_answers(pail: &Pail, table: &str) -> Value {
    let sql = format!(
        "SELECT count(*) AS n, sum(file.size) AS bytes, sum(array_length(labels)) AS labels FROM \"{table}\""
    );
    let out = pail.ok(&["query", &sql, "--format", "jsonl"]);
    let row: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    json!({"n": row["n"], "bytes": row["bytes"], "labels": row["labels"], "all_null": []})
}

fn check(python: &str, spec: &Value) -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/iceberg_check.py");
    let output = Command::new(python)
        .arg(script)
        .arg(spec.to_string())
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "the readers failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn pyiceberg_and_duckdb_read_every_pushed_version_as_pail_does() {
    let Some((python, ext)) = readers() else {
        return;
    };
    let mut targets = vec![None];
    if let (Ok(endpoint), Ok(bucket)) = (
        std::env::var("PAIL_TEST_S3_ENDPOINT"),
        std::env::var("PAIL_TEST_S3_BUCKET"),
    ) {
        targets.push(Some((endpoint, bucket)));
    }
    for target in targets {
        let mut pail = Pail::new();
        let (url, spec_extra) = match &target {
            None => {
                let dir = pail.work.join("remote");
                (format!("file://{}", dir.display()), json!({}))
            }
            Some((endpoint, bucket)) => {
                pail.extra_env = vec![
                    ("AWS_ENDPOINT_URL".into(), endpoint.clone()),
                    ("AWS_ALLOW_HTTP".into(), "true".into()),
                    ("AWS_ACCESS_KEY_ID".into(), "test".into()),
                    ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
                    ("AWS_REGION".into(), "us-east-1".into()),
                ];
                let host = endpoint.trim_start_matches("http://");
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                (
                    format!("s3://{bucket}/iceberg-{nanos}"),
                    json!({
                        "pyiceberg": {
                            "s3.endpoint": endpoint, "s3.access-key-id": "test",
                            "s3.secret-access-key": "test", "s3.region": "us-east-1",
                            "s3.force-virtual-addressing": "false",
                            "py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO",
                        },
                        "duckdb_setup": [format!(
                            "CREATE SECRET (TYPE s3, KEY_ID 'test', SECRET 'test', REGION 'us-east-1', \
                             ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)"
                        )],
                    }),
                )
            }
        };
        pail.ok(&["init"]);
        pail.ok_stdin(
            &["commit", "clips", "--from", "-", "--key", "id"],
            &records(0),
        );
        pail.ok(&["tag", "clips@1.0.0", "golden"]);
        pail.ok_stdin(
            &["commit", "clips", "--from", "-", "--key", "id"],
            &records(1),
        );
        pail.ok(&["remote", "add", "origin", &url]);
        let pushed = pail.json(&["push", "--json"]);
        assert_eq!(pushed["tables_published"], 1, "{pushed}");
        let base = url.strip_prefix("file://").unwrap_or(&url).to_string();
        let table = format!("{base}/iceberg/local/default/clips");
        let metadata = format!("{table}/metadata/v1.metadata.json");
        // `pail iceberg` names the table and its newest metadata, and its snippets run.
        let shown = pail.json(&["iceberg", "clips", "--json"]);
        assert_eq!(shown["location"], table.as_str(), "{shown}");
        assert_eq!(shown["metadata"], metadata.as_str(), "{shown}");
        let refs: Vec<&str> = shown["refs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|found| found["name"].as_str().unwrap())
            .collect();
        assert_eq!(refs, ["1.0.0", "1.0.1", "golden", "main"], "{shown}");
        let snippet = |engine: &str| {
            let found = shown["snippets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|snippet| snippet["engine"] == engine)
                .unwrap_or_else(|| panic!("no {engine} snippet: {shown}"));
            found["code"].as_str().unwrap().to_string()
        };
        let mut spec = json!({
            "metadata": metadata, "table": table, "duckdb_ext": ext,
            "refs": ["latest", "1.0.0", "golden"],
            "filters": {"id": "id >= 2990", "path": "file.path >= 'p/02990'"},
        });
        if target.is_none() {
            spec["snippets"] =
                json!({"pyiceberg": snippet("pyiceberg"), "duckdb": snippet("duckdb")});
        }
        for (key, value) in spec_extra.as_object().unwrap() {
            spec[key] = value.clone();
        }
        let found = check(&python, &spec);
        let pruning = &found["pruning"];
        for (name, sql) in [
            ("id", "SELECT count(*) AS n FROM clips WHERE id >= 2990"),
            (
                "path",
                "SELECT count(*) AS n FROM clips WHERE file.path >= 'p/02990'",
            ),
        ] {
            let out = pail.ok(&["query", sql, "--format", "jsonl"]);
            let expected: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
            assert_eq!(pruning[name]["rows"], expected["n"], "{name}: {pruning}");
            assert!(
                pruning[name]["files"].as_u64().unwrap() < pruning["all"].as_u64().unwrap(),
                "{name}: the bounds prune no data file: {pruning}"
            );
        }
        if target.is_none() {
            // The snippets count the newest version, then 1.0.1 (the newest by number),
            // then the tag.
            let count = |reference: &str| pail_answers(&pail, reference)["n"].clone();
            let expected = json!([count("clips"), count("clips@1.0.1"), count("clips@golden")]);
            assert_eq!(found["pyiceberg_snippet"], expected, "{found}");
            assert_eq!(found["duckdb_snippet"], expected, "{found}");
        }
        for (name, reference) in [
            ("latest", "clips"),
            ("1.0.0", "clips@1.0.0"),
            ("golden", "clips@golden"),
        ] {
            let expected = pail_answers(&pail, reference);
            for reader in ["pyiceberg", "duckdb"] {
                assert_eq!(
                    found[reader][name], expected,
                    "{reader} {name} on {url}: {found}"
                );
            }
        }
        // A second push changes nothing: the table is up to date.
        pail.json(&["push", "--json"]);
        if target.is_none() {
            // 1.0.1 is stored as a delta: its snapshot has a position-delete file.
            let deletes = std::fs::read_dir(format!("{table}/data")).unwrap().count();
            assert_eq!(deletes, 1, "one delete file");
            assert!(!std::path::Path::new(&format!("{table}/metadata/v2.metadata.json")).exists());
            let hint =
                std::fs::read_to_string(format!("{table}/metadata/version-hint.text")).unwrap();
            assert_eq!(hint, "1");
        }
    }
}

/// The table's refs as `pail iceberg --json` reads them: name → (snapshot id, kind).
fn table_refs(pail: &Pail) -> std::collections::BTreeMap<String, (i64, String)> {
    let shown = pail.json(&["iceberg", "clips", "--json"]);
    shown["refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|found| {
            (
                found["name"].as_str().unwrap().to_string(),
                (
                    found["snapshot_id"].as_i64().unwrap(),
                    found["kind"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// A snapshot id as pail derives it from a version's commit (docs/FORMAT.md).
fn snapshot_of(pail: &Pail, reference: &str) -> i64 {
    let shown = pail.json(&["show", reference, "--json"]);
    let id = pail::ObjectId::from_hex(shown["id"].as_str().unwrap()).unwrap();
    pail::iceberg::snapshot_id(&pail::CommitId(id))
}

#[test]
fn a_tag_named_main_keeps_the_branch_and_fsck_finds_a_stale_table_that_push_repairs() {
    let pail = Pail::new();
    let remote = pail.work.join("remote");
    pail.ok(&["init"]);
    pail.ok_stdin(
        &["commit", "clips", "--from", "-", "--key", "id"],
        &records(0),
    );
    pail.ok(&["remote", "add", "origin", remote.to_str().unwrap()]);
    pail.ok(&["push"]);
    let metadata = remote.join("iceberg/local/default/clips/metadata");
    let first = std::fs::read(metadata.join("v1.metadata.json")).unwrap();

    // A pail tag named `main` is the tag `pail-tag-main`; the branch `main` stays the
    // newest version.
    pail.ok(&["tag", "clips@1.0.0", "main"]);
    pail.ok_stdin(
        &["commit", "clips", "--from", "-", "--key", "id"],
        &records(1),
    );
    pail.ok(&["push"]);
    let (v0, v1) = (
        snapshot_of(&pail, "clips@1.0.0"),
        snapshot_of(&pail, "clips@1.0.1"),
    );
    let tag = |id: i64| (id, "tag".to_string());
    let expected = std::collections::BTreeMap::from([
        ("1.0.0".to_string(), tag(v0)),
        ("1.0.1".to_string(), tag(v1)),
        ("main".to_string(), (v1, "branch".to_string())),
        ("pail-tag-main".to_string(), tag(v0)),
    ]);
    assert_eq!(table_refs(&pail), expected);
    let checked = pail.json(&["fsck", "--remote", "origin", "--json"]);
    assert_eq!(checked["problems"], json!([]), "{checked}");

    // Someone writes an older table as the newest metadata: fsck names what disagrees,
    // `pail iceberg` shows the table as it is, and the next push publishes it again.
    std::fs::write(metadata.join("v3.metadata.json"), &first).unwrap();
    let out = pail.run_in(&pail.work, &["fsck", "--remote", "origin"], None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "local.default.clips: the Iceberg table (v3) disagrees with the remote's refs on 1.0.1, main, pail-tag-main"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(table_refs(&pail).len(), 2);
    let pushed = pail.json(&["push", "--json"]);
    assert_eq!(pushed["tables_published"], 1, "{pushed}");
    assert!(metadata.join("v4.metadata.json").exists());
    assert_eq!(table_refs(&pail), expected);
    assert_eq!(
        std::fs::read_to_string(metadata.join("version-hint.text")).unwrap(),
        "4"
    );
    let checked = pail.json(&["fsck", "--remote", "origin", "--json"]);
    assert_eq!(checked["problems"], json!([]), "{checked}");
    // Up to date: a push writes no new metadata.
    pail.ok(&["push"]);
    assert!(!metadata.join("v5.metadata.json").exists());

    // No table yet: a clear error naming the way out.
    pail.ok_stdin(
        &["commit", "other", "--from", "-", "--key", "id"],
        &records(0),
    );
    let out = pail.fails(1, &["iceberg", "other"]);
    assert!(
        out.stderr
            .contains("local.default.other has no Iceberg table")
            && out
                .stderr
                .contains("`pail push REMOTE local.default.other`"),
        "{}",
        out.stderr
    );
}

#[test]
fn racing_pushers_of_one_dataset_both_end_with_a_correct_table() {
    let alice = Pail::new();
    let remote = alice.work.join("remote");
    let url = remote.to_str().unwrap().to_string();
    alice.ok(&["init"]);
    alice.ok_stdin(
        &["commit", "clips", "--from", "-", "--key", "id"],
        &records(0),
    );
    alice.ok(&["remote", "add", "origin", &url]);
    alice.ok(&["push"]);
    let bob = Pail::new();
    bob.ok(&["init"]);
    bob.ok(&["remote", "add", "origin", &url]);
    bob.ok(&["pull"]);
    // Each round Alice pushes a new version while Bob pushes a new tag: neither refuses
    // the other, and Bob lacks Alice's new commit when he publishes.
    for round in 0..4u64 {
        let rows: String = records(0)
            .lines()
            .take(2000 + round as usize)
            .map(|line| format!("{line}\n"))
            .collect();
        alice.ok_stdin(&["commit", "clips", "--from", "-", "--key", "id"], &rows);
        bob.ok(&["tag", "clips@1.0.0", &format!("t{round}")]);
        let pushes: Vec<std::process::Child> = [&alice, &bob]
            .iter()
            .map(|pail| {
                pail.command(&["push"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for push in pushes {
            let out = push.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Whoever published last, the table names every version and every tag.
        alice.ok(&["pull"]);
        let refs = table_refs(&alice);
        let mut expected: Vec<String> = (0..=round + 1).map(|n| format!("1.0.{n}")).collect();
        expected.push("main".into());
        expected.extend((0..=round).map(|n| format!("t{n}")));
        expected.sort();
        assert_eq!(
            refs.keys().cloned().collect::<Vec<_>>(),
            expected,
            "round {round}"
        );
        assert_eq!(
            refs["main"].0,
            snapshot_of(&alice, &format!("clips@1.0.{}", round + 1))
        );
        let checked = alice.json(&["fsck", "--remote", "origin", "--json"]);
        assert_eq!(checked["problems"], json!([]), "round {round}: {checked}");
    }
}
