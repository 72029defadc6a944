//! `pail checkout`, `pail lock` and `pail verify`, end to end: local directories and an
//! S3 server (versioned and not), escaping paths, resumption and pinned versions.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Pail, create_bucket, s3_endpoint, s3_env, unique_bucket, write_file};
use object_store::ObjectStoreExt;
use serde_json::Value;

fn make_tree(root: &Path) {
    for idx in 0..40 {
        let ext = if idx % 3 == 0 { "png" } else { "jpg" };
        write_file(
            &root.join(format!("d{}/f{idx:03}.{ext}", idx % 4)),
            format!("content {idx}").repeat(idx + 1).as_bytes(),
        );
    }
}

fn tree_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().unwrap() != ".pail-checkout" {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// A repository with the `make_tree` files committed as `photos`.
fn photos_repo() -> Pail {
    let pail = Pail::new();
    pail.ok(&["init"]);
    make_tree(&pail.work.join("photos"));
    pail.ok(&["commit", "photos", "photos"]);
    pail
}

#[test]
fn checkout_writes_verified_files_and_resumes() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let photos = pail.work.join("photos");
    make_tree(&photos);
    pail.ok(&["commit", "photos", "photos", "--hash"]);
    let out = pail.json(&["checkout", "photos@1.0.0", "--to", "out", "--json"]);
    assert_eq!(out["files_written"], 40);
    assert_eq!(tree_files(&pail.work.join("out")), tree_files(&photos));

    // An interrupted checkout: some files never arrived. A re-run fetches only those.
    for idx in [3, 17, 29] {
        std::fs::remove_file(pail.work.join(format!(
            "out/d{}/f{idx:03}.{}",
            idx % 4,
            if idx % 3 == 0 { "png" } else { "jpg" }
        )))
        .unwrap();
    }
    let again = pail.json(&["checkout", "photos", "--to", "out", "--json"]);
    assert_eq!(again["files_written"], 3);
    assert_eq!(again["files_skipped"], 37);
    assert_eq!(tree_files(&pail.work.join("out")), tree_files(&photos));

    // A file changed in the source after the commit is an error naming it.
    write_file(&photos.join("d1/f001.jpg"), b"tampered!");
    let failed = pail.fails(1, &["checkout", "photos", "--to", "fresh"]);
    assert!(
        failed.stderr.contains("d1/f001.jpg: changed"),
        "{}",
        failed.stderr
    );
    assert!(
        !pail.work.join("fresh/d1/f001.jpg").exists(),
        "no file at a final path"
    );
    let verify = pail.run_in(&pail.work, &["verify", "photos", "--json"], None);
    assert_eq!(verify.code, 1);
    let verify: Value = serde_json::from_str(&verify.stdout).unwrap();
    assert_eq!(verify["unchanged"], 39);
    assert_eq!(verify["changed"][0]["path"], "d1/f001.jpg");

    // --keep-going reports every problem.
    std::fs::remove_file(photos.join("d2/f002.jpg")).unwrap();
    let failed = pail.fails(1, &["checkout", "photos", "--to", "fresh2", "--keep-going"]);
    assert!(
        failed.stderr.contains("2 file(s) could not be checked out"),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("d2/f002.jpg: missing"),
        "{}",
        failed.stderr
    );
    // No temporary file is left behind.
    let leftovers: Vec<_> = tree_files(&pail.work.join("fresh2"))
        .into_iter()
        .filter(|(p, _)| p.contains("pail-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn include_clean_and_files_in_the_way() {
    let pail = photos_repo();
    let out = pail.json(&[
        "checkout",
        "photos",
        "--to",
        "pngs",
        "--include",
        "**/*.png",
        "--json",
    ]);
    assert_eq!(out["files_written"], 14);
    assert!(
        tree_files(&pail.work.join("pngs"))
            .iter()
            .all(|(p, _)| p.ends_with(".png"))
    );

    write_file(&pail.work.join("out/d0/f000.png"), b"mine");
    let failed = pail.fails(1, &["checkout", "photos", "--to", "out"]);
    assert!(
        failed.stderr.contains("was not written by pail checkout"),
        "{}",
        failed.stderr
    );
    assert_eq!(
        std::fs::read(pail.work.join("out/d0/f000.png")).unwrap(),
        b"mine",
        "never overwritten"
    );
    std::fs::remove_file(pail.work.join("out/d0/f000.png")).unwrap();
    write_file(&pail.work.join("out/extra.txt"), b"extra");
    pail.ok(&["checkout", "photos", "--to", "out"]);
    assert!(
        pail.work.join("out/extra.txt").exists(),
        "not removed without --clean"
    );
    let cleaned = pail.json(&["checkout", "photos", "--to", "out", "--clean", "--json"]);
    assert_eq!(cleaned["files_removed"], 1);
    assert!(!pail.work.join("out/extra.txt").exists());
}

#[test]
fn rows_that_would_escape_the_directory_are_refused() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let source = pail.work.join("src");
    write_file(&source.join("ok.txt"), b"ok");
    let source_uri = format!("file://{}", source.display());
    for bad in ["../escaped.txt", "/etc/passwd", "a/../../escaped.txt"] {
        let record = format!(
            "{{\"file\": {{\"source\": \"{source_uri}\", \"path\": \"ok.txt\"}}}}\n{{\"file\": {{\"source\": \"{source_uri}\", \"path\": \"{bad}\"}}}}\n"
        );
        pail.ok_stdin(&["commit", "evil", "--from", "-"], &record);
        let failed = pail.fails(1, &["checkout", "evil", "--to", "out"]);
        assert!(
            failed.stderr.contains("unsafe path"),
            "{bad}: {}",
            failed.stderr
        );
        assert!(
            tree_files(&pail.work.join("out")).is_empty(),
            "nothing written for {bad}"
        );
    }
    assert!(!pail.work.join("escaped.txt").exists());
    // A symlink inside the directory that leads out is not written through.
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(pail.work.join("linked")).unwrap();
    std::os::unix::fs::symlink(outside.path(), pail.work.join("linked/sub")).unwrap();
    write_file(&source.join("sub/x.txt"), b"x");
    let record =
        format!("{{\"file\": {{\"source\": \"{source_uri}\", \"path\": \"sub/x.txt\"}}}}\n");
    pail.ok_stdin(&["commit", "linky", "--from", "-"], &record);
    let failed = pail.fails(1, &["checkout", "linky", "--to", "linked"]);
    assert!(failed.stderr.contains("symlink"), "{}", failed.stderr);
    assert!(!outside.path().join("x.txt").exists());
}

#[test]
fn locked_checkout_on_a_fresh_runner() {
    let pail = photos_repo();
    write_file(&pail.work.join("photos/d0/new.jpg"), b"new");
    pail.ok(&["commit", "photos", "photos"]);
    let remote = pail.work.join("remote");
    pail.ok(&["remote", "add", "origin", remote.to_str().unwrap()]);
    pail.ok(&["push"]);
    pail.ok(&["lock", "add", "photos@1.0.0"]);
    let lock = std::fs::read_to_string(pail.work.join("pail.lock")).unwrap();
    assert!(
        lock.contains("name = \"local.default.photos\"\nversion = \"1.0.0\""),
        "{lock}"
    );
    let listed = pail.json(&["lock", "list", "--json"]);
    let pinned = pail.json(&["show", "photos@1.0.0", "--json"]);
    assert_eq!(listed[0]["commit"], pinned["id"]);

    // A CI runner: the code's checkout with pail.lock, no .pail/.
    let runner = tempfile::tempdir().unwrap();
    std::fs::copy(pail.work.join("pail.lock"), runner.path().join("pail.lock")).unwrap();
    let out = pail.run_full(
        runner.path(),
        &["checkout", "--locked", "--to", "data", "--json"],
        None,
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        out[0]["files_written"], 40,
        "version 1.0.0, without the later file"
    );
    assert!(
        !runner
            .path()
            .join("data/local.default.photos/d0/new.jpg")
            .exists()
    );
    assert!(
        !runner.path().join(".pail").exists(),
        "nothing is initialized in the code's checkout"
    );

    // A lock pinning a commit the version does not name: refused, never substituted.
    let later = pail.json(&["show", "photos@1.0.1", "--json"]);
    let moved = lock.replace(
        pinned["id"].as_str().unwrap(),
        later["id"].as_str().unwrap(),
    );
    std::fs::write(runner.path().join("pail.lock"), &moved).unwrap();
    let out = pail.run_full(
        runner.path(),
        &["checkout", "--locked", "--to", "data2"],
        None,
        &[(
            "PAIL_CACHE_DIR",
            runner.path().join("cache2").to_str().unwrap(),
        )],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("is pinned to commit"), "{}", out.stderr);
    // A pinned commit that exists nowhere.
    let missing = lock.replace(pinned["id"].as_str().unwrap(), &"ab".repeat(32));
    std::fs::write(runner.path().join("pail.lock"), &missing).unwrap();
    let out = pail.run_full(
        runner.path(),
        &["checkout", "--locked", "--to", "data3"],
        None,
        &[(
            "PAIL_CACHE_DIR",
            runner.path().join("cache3").to_str().unwrap(),
        )],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("is pinned to commit")
            || out.stderr.contains("neither in this repository nor on"),
        "{}",
        out.stderr
    );
}

fn s3_store(endpoint: &str, bucket: &str) -> Arc<dyn object_store::ObjectStore> {
    pail::listing::cloud_store("s3", bucket, &format!("s3://{bucket}"), &s3_env(endpoint)).unwrap()
}

fn put(store: &Arc<dyn object_store::ObjectStore>, key: &str, bytes: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(store.put(
            &object_store::path::Path::parse(key).unwrap(),
            bytes.to_vec().into(),
        ))
        .unwrap();
}

#[test]
fn exact_versions_from_a_versioned_bucket_and_detected_overwrites_without() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    for versioned in [true, false] {
        let bucket = unique_bucket(if versioned { "versioned" } else { "plain" });
        create_bucket(&endpoint, &bucket, versioned);
        let store = s3_store(&endpoint, &bucket);
        for idx in 0..5 {
            put(
                &store,
                &format!("img/{idx}.jpg"),
                format!("original {idx}").as_bytes(),
            );
        }
        let mut pail = Pail::new();
        pail.extra_env = s3_env(&endpoint);
        pail.ok(&["init"]);
        let created = pail.json(&[
            "commit",
            "imgs",
            &format!("s3://{bucket}/img"),
            "--versions",
            "--json",
        ]);
        assert_eq!(created["n_rows"], 5);
        let rows = pail.ok(&["rows", "imgs", "--json"]).stdout;
        let first: Value = serde_json::from_str(rows.lines().next().unwrap()).unwrap();
        assert_eq!(first["file"]["version"].is_string(), versioned, "{first}");

        put(&store, "img/2.jpg", b"overwritten after the commit");
        if versioned {
            let out = pail.json(&["checkout", "imgs", "--to", "out", "--json"]);
            assert_eq!(out["exact_versions"], true);
            assert_eq!(
                std::fs::read(pail.work.join("out/img/2.jpg")).unwrap(),
                b"original 2"
            );
            // verify looks at the recorded version, which the store still has.
            pail.ok(&["verify", "imgs"]);
        } else {
            let failed = pail.fails(1, &["checkout", "imgs", "--to", "out"]);
            assert!(
                failed.stderr.contains("img/2.jpg: changed"),
                "{}",
                failed.stderr
            );
            let verify = pail.run_in(&pail.work, &["verify", "imgs"], None);
            assert_eq!(verify.code, 1);
            assert!(
                verify.stdout.contains("changed  img/2.jpg"),
                "{}",
                verify.stdout
            );
            assert!(
                verify.stdout.contains("cannot be recovered"),
                "{}",
                verify.stdout
            );
        }
    }
}

#[test]
fn where_checks_out_the_rows_a_sql_predicate_selects() {
    let pail = photos_repo();
    let out = pail.json(&[
        "checkout",
        "photos",
        "--to",
        "big_pngs",
        "--where",
        "file_ext(file.path) = 'png' AND file.size > 200",
        "--json",
    ]);
    let files = tree_files(&pail.work.join("big_pngs"));
    assert_eq!(out["files_written"], files.len() as u64);
    assert!(!files.is_empty());
    assert!(
        files
            .iter()
            .all(|(path, bytes)| path.ends_with(".png") && bytes.len() > 200),
        "{files:?}"
    );
    let expected = tree_files(&pail.work.join("photos"))
        .into_iter()
        .filter(|(path, bytes)| path.ends_with(".png") && bytes.len() > 200)
        .count();
    assert_eq!(files.len(), expected);
    let bad = pail.fails(
        1,
        &[
            "checkout",
            "photos",
            "--to",
            "x",
            "--where",
            "no_such_column > 1",
        ],
    );
    assert!(bad.stderr.contains("--where"), "{}", bad.stderr);
}
