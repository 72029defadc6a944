//! Listing S3 through a real S3-compatible server (moto) on loopback. `tests/run` starts
//! it and sets PAIL_TEST_S3_ENDPOINT; in CI a missing server fails, it never skips.

use crate::common;

use std::io::{Read, Write};
use std::sync::Arc;

use common::Pail;
use object_store::ObjectStoreExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use serde_json::Value;

fn endpoint() -> Option<String> {
    match std::env::var("PAIL_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "PAIL_TEST_S3_ENDPOINT is not set: run the suite through tests/run, which starts the S3 server"
            );
            eprintln!("skipping: PAIL_TEST_S3_ENDPOINT is not set (tests/run sets it)");
            None
        }
    }
}

/// Creates a bucket with a plain `PUT /bucket` (moto checks no signature).
fn create_bucket(endpoint: &str, bucket: &str) {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).expect("the S3 server is reachable");
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "create bucket: {response}"
    );
}

fn unique_bucket(stem: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{stem}-{}-{nanos}", std::process::id())
}

fn store(endpoint: &str, bucket: &str) -> Arc<dyn object_store::ObjectStore> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .unwrap(),
    )
}

fn put(store: &Arc<dyn object_store::ObjectStore>, key: &str, bytes: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(store.put(&Path::parse(key).unwrap(), bytes.to_vec().into()))
        .unwrap();
}

fn s3_pail(endpoint: &str) -> Pail {
    let mut pail = Pail::new();
    pail.extra_env = vec![
        ("AWS_ENDPOINT_URL".into(), endpoint.into()),
        ("AWS_ALLOW_HTTP".into(), "true".into()),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
    ];
    pail
}

#[test]
fn commit_an_s3_prefix_with_odd_names_and_hashes() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = unique_bucket("photos");
    create_bucket(&endpoint, &bucket);
    let store = store(&endpoint, &bucket);
    let keys = [
        "images/a.jpg",
        "images/x#12.png",
        "images/with space.jpg",
        "images/.hidden",
        "images/é/ü.png",
        "images/nested/deep/b.jpg",
        "other/not-listed.jpg",
    ];
    for key in keys {
        put(&store, key, key.as_bytes());
    }
    let pail = s3_pail(&endpoint);
    pail.ok(&["init"]);
    let source = format!("s3://{bucket}/images");
    let created = pail.json(&["commit", "photos", &source, "--hash", "--json"]);
    assert_eq!(created["version"], "1.0.0");
    assert_eq!(created["n_rows"], 6);

    let rows = pail.ok(&["rows", "photos", "--json"]).stdout;
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
        [
            "images/.hidden",
            "images/a.jpg",
            "images/nested/deep/b.jpg",
            "images/with space.jpg",
            "images/x#12.png",
            "images/é/ü.png"
        ]
    );
    for row in &rows {
        let file = &row["file"];
        let path = file["path"].as_str().unwrap();
        assert_eq!(file["source"], format!("s3://{bucket}"));
        assert_eq!(file["size"], path.len());
        assert!(!file["etag"].as_str().unwrap().is_empty(), "{row}");
        assert!(file["last_modified"].is_string());
        assert_eq!(
            file["blake3"],
            blake3::hash(path.as_bytes()).to_hex().to_string()
        );
    }
    let shown = pail.json(&["show", "photos", "--json"]);
    assert_eq!(shown["inputs"][0]["uri"], source);

    // Unchanged bucket: no new version. An overwritten object: a new one.
    let out = pail.ok(&["commit", "photos", &source, "--hash"]);
    assert!(out.stdout.contains("nothing changed"), "{}", out.stdout);
    put(&store, "images/a.jpg", b"new bytes for a");
    let created = pail.json(&["commit", "photos", &source, "--json"]);
    assert_eq!(created["version"], "1.0.1");
    let rows = pail
        .ok(&["rows", "photos", "--json", "--limit", "2"])
        .stdout;
    let second: Value = serde_json::from_str(rows.lines().nth(1).unwrap()).unwrap();
    assert_eq!(second["file"]["path"], "images/a.jpg");
    assert_eq!(second["file"]["size"], 15);
    // The overwritten object lost its digest; the others kept theirs without --hash.
    assert!(second["file"]["blake3"].is_null(), "{second}");
    let rows = pail.ok(&["rows", "photos", "--json"]).stdout;
    for line in rows.lines().filter(|line| !line.contains("images/a.jpg")) {
        let row: Value = serde_json::from_str(line).unwrap();
        let path = row["file"]["path"].as_str().unwrap();
        assert_eq!(
            row["file"]["blake3"],
            blake3::hash(path.as_bytes()).to_hex().to_string()
        );
    }
    let created = pail.json(&["commit", "photos", &source, "--hash", "--json"]);
    assert_eq!(created["version"], "1.0.2");
    let rows = pail
        .ok(&["rows", "photos", "--json", "--limit", "2"])
        .stdout;
    let second: Value = serde_json::from_str(rows.lines().nth(1).unwrap()).unwrap();
    assert_eq!(
        second["file"]["blake3"],
        blake3::hash(b"new bytes for a").to_hex().to_string()
    );
}

#[test]
fn a_missing_bucket_is_a_clear_error() {
    let Some(endpoint) = endpoint() else { return };
    let pail = s3_pail(&endpoint);
    pail.ok(&["init"]);
    let out = pail.run_in(
        &pail.work,
        &["commit", "photos", "s3://no-such-bucket-here/x"],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("error: listing s3://no-such-bucket-here/x failed"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("test"),
        "credentials must not appear: {}",
        out.stderr
    );
    assert_eq!(pail.json(&["ls", "--json"]), serde_json::json!([]));
}

#[test]
fn status_diff_query_and_export_on_an_s3_prefix() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = unique_bucket("delta");
    create_bucket(&endpoint, &bucket);
    let store = store(&endpoint, &bucket);
    for idx in 0..40 {
        put(&store, &format!("data/f{idx:03}.bin"), &vec![b'x'; idx + 1]);
    }
    let pail = s3_pail(&endpoint);
    pail.ok(&["init"]);
    let source = format!("s3://{bucket}/data");
    pail.ok(&["commit", "objs", &source]);
    let out = pail.ok(&["status", "objs"]).stdout;
    assert!(out.starts_with("nothing to commit"), "{out}");

    // 3 added, 2 overwritten with new sizes, 1 deleted.
    for idx in 40..43 {
        put(&store, &format!("data/f{idx:03}.bin"), b"new");
    }
    for idx in [5, 6] {
        put(&store, &format!("data/f{idx:03}.bin"), &[b'y'; 100]);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(store.delete(&Path::parse("data/f010.bin").unwrap()))
        .unwrap();

    let status = pail.json(&["status", "objs", "--stat", "--json"]);
    assert_eq!(
        (&status["added"], &status["removed"], &status["modified"]),
        (
            &serde_json::json!(3),
            &serde_json::json!(1),
            &serde_json::json!(2)
        )
    );
    assert_eq!(status["new"]["source"], source);
    pail.ok(&["commit", "objs", &source]);
    let text = pail.ok(&["diff", "objs@1.0.0", "objs@1.0.1"]).stdout;
    assert!(
        text.contains("~ data/f005.bin  (file.size, file.etag)"),
        "{text}"
    );
    assert!(text.contains("- data/f010.bin"), "{text}");
    assert!(
        text.ends_with("+3 added, -1 removed, ~2 modified\n"),
        "{text}"
    );

    let out = pail
        .ok(&[
            "query",
            "SELECT count(*) AS n, sum(file.size) AS bytes FROM objs WHERE file.size >= 100",
            "--format",
            "csv",
        ])
        .stdout;
    assert_eq!(out, "n,bytes\n2,200\n");
    let uri = pail
        .ok(&[
            "query",
            "SELECT file_uri(file) AS uri FROM \"objs@1.0.0\" WHERE file.path = 'data/f000.bin'",
            "--format",
            "csv",
        ])
        .stdout;
    assert_eq!(uri, format!("uri\ns3://{bucket}/data/f000.bin\n"));
    pail.ok(&["export", "objs", "-o", "objs.jsonl"]);
    let exported = std::fs::read_to_string(pail.work.join("objs.jsonl")).unwrap();
    assert_eq!(exported.lines().count(), 42);
}
