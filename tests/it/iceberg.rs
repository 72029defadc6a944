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
        let mut spec = json!({
            "metadata": metadata, "table": table, "duckdb_ext": ext,
            "refs": ["latest", "1.0.0", "golden"],
        });
        for (key, value) in spec_extra.as_object().unwrap() {
            spec[key] = value.clone();
        }
        let found = check(&python, &spec);
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
