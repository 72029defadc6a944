//! `pail checkout`, `pail lock` and `pail verify`, end to end: local directories and an
//! S3 server (versioned and not), escaping paths, resumption and pinned versions.

use crate::common;

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
    let failed = pail.fails(
        1,
        &["checkout", "linky", "--to", "linked", "--allow-unverified"],
    );
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
    // The runner has no remotes table: the lock's remote needs the explicit flag, and the
    // fetched version's file:// sources need theirs.
    let out = pail.run_full(
        runner.path(),
        &["checkout", "--locked", "--to", "data"],
        None,
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("--allow-unlisted-remote"),
        "{}",
        out.stderr
    );
    let out = pail.run_full(
        runner.path(),
        &[
            "checkout",
            "--locked",
            "--to",
            "data",
            "--allow-unlisted-remote",
            "--json",
        ],
        None,
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("--allow-local-sources"),
        "{}",
        out.stderr
    );
    let out = pail.run_full(
        runner.path(),
        &[
            "checkout",
            "--locked",
            "--to",
            "data",
            "--allow-unlisted-remote",
            "--allow-local-sources",
            "--json",
        ],
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
        &[
            "checkout",
            "--locked",
            "--to",
            "data2",
            "--allow-unlisted-remote",
        ],
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
        &[
            "checkout",
            "--locked",
            "--to",
            "data3",
            "--allow-unlisted-remote",
        ],
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
    common::raw_cloud_store("s3", bucket, &s3_env(endpoint))
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

/// Commits JSON records (one File column, `file`) as `name`.
fn commit_files(pail: &Pail, name: &str, files: &[Value]) {
    let records: String = files
        .iter()
        .map(|file| serde_json::json!({ "file": file }).to_string() + "\n")
        .collect();
    pail.ok_stdin(&["commit", name, "--from", "-"], &records);
}

#[test]
fn source_urls_with_secrets_are_refused_and_never_echoed() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    for url in [
        "s3://bucket/data?X-Amz-Signature=sekret",
        "s3://AKIA:sekret@bucket/data",
        "gs://bucket/data#sekret",
        "file:///tmp?token=sekret",
    ] {
        let failed = pail.fails(1, &["commit", "src", url]);
        assert!(
            !failed.stderr.contains("sekret"),
            "{url}: {}",
            failed.stderr
        );
        assert!(failed.stderr.contains("hint:"), "{url}: {}", failed.stderr);
        assert!(
            failed.stderr.contains("not accepted"),
            "{url}: {}",
            failed.stderr
        );
    }
    assert_eq!(pail.json(&["ls", "--json"]), serde_json::json!([]));
    // A row's source with user info: refused by checkout and verify, never echoed.
    commit_files(
        &pail,
        "rows",
        &[serde_json::json!({"source": "s3://AKIA:sekret@bucket", "path": "a.txt", "size": 1})],
    );
    for args in [
        &["checkout", "rows", "--to", "out"][..],
        &["verify", "rows"],
    ] {
        let failed = pail.fails(1, args);
        assert!(failed.stderr.contains("unsafe path"), "{}", failed.stderr);
        assert!(failed.stderr.contains("user info"), "{}", failed.stderr);
        assert!(!failed.stderr.contains("sekret"), "{}", failed.stderr);
    }
}

/// A store error while listing an S3 source carries no user info, even when the
/// endpoint the environment names has some.
#[test]
fn store_errors_never_echo_user_info() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let mut pail = Pail::new();
    let with_secret = endpoint.replacen("http://", "http://user:sekret@", 1);
    pail.extra_env = s3_env(&with_secret);
    pail.ok(&["init"]);
    let out = pail.run_in(
        &pail.work,
        &[
            "commit",
            "src",
            &format!("s3://{}", unique_bucket("nosuch")),
        ],
        None,
    );
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(out.stderr.contains("error:"), "{}", out.stderr);
    assert!(!out.stderr.contains("sekret"), "{}", out.stderr);
}

#[test]
fn verify_applies_the_checkout_path_rules() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let source = pail.work.join("src/inner");
    write_file(&source.join("ok.txt"), b"ok");
    // Files that exist outside the source, where an escaping path leads.
    write_file(&pail.work.join("outside.txt"), b"outside");
    let source_uri = format!("file://{}", source.display());
    let outside = pail.work.join("outside.txt");
    for bad in ["../../outside.txt", outside.to_str().unwrap()] {
        commit_files(
            &pail,
            "evil",
            &[
                serde_json::json!({"source": source_uri, "path": "ok.txt", "size": 2}),
                serde_json::json!({"source": source_uri, "path": bad, "size": 7}),
            ],
        );
        let failed = pail.fails(1, &["verify", "evil"]);
        assert!(
            failed.stderr.contains("unsafe path"),
            "{bad}: {}",
            failed.stderr
        );
        let failed = pail.fails(1, &["checkout", "evil", "--to", "out"]);
        assert!(
            failed.stderr.contains("unsafe path"),
            "{bad}: {}",
            failed.stderr
        );
        assert!(tree_files(&pail.work.join("out")).is_empty());
    }
}

#[test]
fn file_sources_cannot_escape_their_root_through_symlinks() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let source = pail.work.join("src");
    write_file(&source.join("ok.txt"), b"ok");
    write_file(&source.join("sub/inside.txt"), b"inside");
    let secret = tempfile::tempdir().unwrap();
    write_file(&secret.path().join("secret.txt"), b"secret!");
    std::os::unix::fs::symlink(secret.path().join("secret.txt"), source.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(secret.path(), source.join("leakdir")).unwrap();
    // A symlink that stays inside the root is fine.
    std::os::unix::fs::symlink(source.join("sub/inside.txt"), source.join("alias.txt")).unwrap();
    let source_uri = format!("file://{}", source.display());
    for bad in ["leak.txt", "leakdir/secret.txt"] {
        commit_files(
            &pail,
            "leaky",
            &[
                serde_json::json!({"source": source_uri, "path": "ok.txt", "size": 2}),
                serde_json::json!({"source": source_uri, "path": bad, "size": 7}),
            ],
        );
        let failed = pail.fails(1, &["checkout", "leaky", "--to", "out", "--keep-going"]);
        assert!(
            failed.stderr.contains("outside the source directory"),
            "{bad}: {}",
            failed.stderr
        );
        assert!(
            !tree_files(&pail.work.join("out"))
                .iter()
                .any(|(_, bytes)| bytes == b"secret!"),
            "{bad}: the secret was copied"
        );
        let failed = pail.fails(1, &["verify", "leaky"]);
        assert!(
            failed.stderr.contains("outside the source directory"),
            "{bad}: {}",
            failed.stderr
        );
    }
    commit_files(
        &pail,
        "alias",
        &[serde_json::json!({"source": source_uri, "path": "alias.txt", "size": 6})],
    );
    pail.ok(&["checkout", "alias", "--to", "aliased"]);
    assert_eq!(
        std::fs::read(pail.work.join("aliased/alias.txt")).unwrap(),
        b"inside"
    );
}

#[test]
fn rows_with_nothing_to_verify_need_an_opt_in() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let source = pail.work.join("src");
    write_file(&source.join("a.txt"), b"aaa");
    write_file(&source.join("b.txt"), b"bbb");
    let source_uri = format!("file://{}", source.display());
    commit_files(
        &pail,
        "bare",
        &[
            serde_json::json!({"source": source_uri, "path": "a.txt", "size": 3}),
            serde_json::json!({"source": source_uri, "path": "b.txt"}),
        ],
    );
    let failed = pail.fails(1, &["checkout", "bare", "--to", "out"]);
    assert!(
        failed.stderr.contains("b.txt: nothing to verify"),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("--allow-unverified"),
        "{}",
        failed.stderr
    );
    assert!(
        tree_files(&pail.work.join("out")).is_empty(),
        "nothing written"
    );
    let out = pail.json(&[
        "checkout",
        "bare",
        "--to",
        "out",
        "--allow-unverified",
        "--json",
    ]);
    assert_eq!(out["files_written"], 2);
    assert_eq!(std::fs::read(pail.work.join("out/b.txt")).unwrap(), b"bbb");
}

#[test]
fn a_row_named_like_the_state_file_is_refused() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let source = pail.work.join("src");
    write_file(&source.join("a.txt"), b"aaa");
    write_file(&source.join(".pail-checkout"), b"{}\n");
    pail.ok(&["commit", "withstate", "src"]);
    let failed = pail.fails(1, &["checkout", "withstate", "--to", "out"]);
    assert!(
        failed
            .stderr
            .contains(".pail-checkout: unsafe path: the path collides with checkout's state file"),
        "{}",
        failed.stderr
    );
    assert!(
        tree_files(&pail.work.join("out")).is_empty(),
        "nothing written"
    );
    assert!(!pail.work.join("out/.pail-checkout").exists());
    // --include leaves it out: the rest checks out.
    let out = pail.json(&[
        "checkout",
        "withstate",
        "--to",
        "out",
        "--include",
        "*.txt",
        "--json",
    ]);
    assert_eq!(out["files_written"], 1);
}

#[test]
fn a_bad_include_glob_is_a_usage_error() {
    let pail = photos_repo();
    let failed = pail.fails(1, &["checkout", "photos", "--to", "out", "--include", "[a"]);
    assert!(failed.stderr.contains("is not a glob"), "{}", failed.stderr);
    assert!(failed.stderr.contains("hint:"), "{}", failed.stderr);
}

/// A version pulled from a remote whose rows name `file://` sources: a teammate's (or
/// an attacker's) rows would read this machine's files. Refused without the flag, in
/// checkout and in `map --fetch`.
#[test]
fn local_sources_of_a_pulled_version_need_an_opt_in() {
    let alice = Pail::new();
    alice.ok(&["init"]);
    // The "secret" stands in for /proc/self/environ or ~/.aws/credentials.
    let secret = alice.work.join("home/secret.txt");
    write_file(&secret, b"AWS_SECRET=hunter2");
    let rel = secret.to_str().unwrap().trim_start_matches('/').to_string();
    commit_files(
        &alice,
        "env",
        &[serde_json::json!({"source": "file:///", "path": rel, "size": 18})],
    );
    // Alice's own version reads her own files.
    alice.ok(&["checkout", "env", "--to", "mine"]);
    let remote = alice.work.join("remote");
    alice.ok(&["remote", "add", "origin", remote.to_str().unwrap()]);
    alice.ok(&["push"]);

    let bob = Pail::new();
    bob.ok(&["clone", remote.to_str().unwrap(), "copy"]);
    let copy = bob.work.join("copy");
    let out = bob.run_in(&copy, &["checkout", "env", "--to", "out"], None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("local source"), "{}", out.stderr);
    assert!(
        out.stderr.contains("--allow-local-sources"),
        "{}",
        out.stderr
    );
    assert!(tree_files(&copy.join("out")).is_empty(), "nothing copied");
    // map --fetch applies the same rule.
    write_file(&copy.join("cat.py"), b"import json,sys\nfor l in sys.stdin:\n    r=json.loads(l)\n    print(json.dumps({'text': open(r['local_path']).read()}), flush=True)\n");
    let out = bob.run_in(
        &copy,
        &[
            "map",
            "env",
            "--run",
            "python3 cat.py",
            "--to",
            "leaked",
            "--fetch",
            "--json",
        ],
        None,
    );
    assert!(out.stderr.contains("local source"), "{}", out.stderr);
    assert!(!out.stdout.contains("hunter2") && !out.stderr.contains("hunter2"));
    let rows = bob.run_in(&copy, &["rows", "leaked", "--json"], None);
    assert!(!rows.stdout.contains("hunter2"), "{}", rows.stdout);
    // With the flag, checkout reads it.
    let out = bob.run_in(
        &copy,
        &["checkout", "env", "--to", "out", "--allow-local-sources"],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read(copy.join("out").join(&rel)).unwrap(),
        b"AWS_SECRET=hunter2"
    );
}

/// A pail.lock (arriving in a pull request) pins `photos@99.0.0` to a commit on an
/// attacker's remote. checkout --locked must not name it as a version, so `log` does not
/// show it and `push` does not publish it.
#[test]
fn a_lock_cannot_inject_versions() {
    let pail = photos_repo();
    let origin = pail.work.join("origin");
    pail.ok(&["remote", "add", "origin", origin.to_str().unwrap()]);
    pail.ok(&["push"]);

    // The attacker's repository and remote: a dataset of the same name.
    let attacker = Pail::new();
    attacker.ok(&["init"]);
    write_file(&attacker.work.join("evil/payload.txt"), b"evil");
    attacker.ok(&["commit", "photos", "evil"]);
    let evil_remote = attacker.work.join("evil-remote");
    attacker.ok(&["remote", "add", "origin", evil_remote.to_str().unwrap()]);
    attacker.ok(&["push"]);
    let evil = attacker.json(&["show", "photos@1.0.0", "--json"]);
    let evil_id = evil["id"].as_str().unwrap().to_string();
    let lock = format!(
        "format = 1\n\n[[dataset]]\nname = \"local.default.photos\"\nversion = \"99.0.0\"\ncommit = \"{evil_id}\"\nremote = \"file://{}/\"\n",
        evil_remote.display()
    );
    std::fs::write(pail.work.join("pail.lock"), &lock).unwrap();

    // A remote outside the remotes table: refused, and shown normalised.
    let failed = pail.fails(1, &["checkout", "--locked", "--to", "data"]);
    assert!(
        failed.stderr.contains(&format!(
            "from file://{}, which is not one of this repository's remotes",
            evil_remote.display()
        )),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("--allow-unlisted-remote"),
        "{}",
        failed.stderr
    );
    let listed = pail.json(&["lock", "list", "--json"]);
    assert_eq!(
        listed[0]["remote"],
        format!("file://{}", evil_remote.display())
    );

    // With the flag the files check out (the attacker's remote has them)...
    let out = pail.run_full(
        &pail.work,
        &[
            "checkout",
            "--locked",
            "--to",
            "data",
            "--allow-unlisted-remote",
            "--allow-local-sources",
            "--json",
        ],
        None,
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let shown: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        shown[0]["remote"],
        format!("file://{}", evil_remote.display())
    );
    // ...but no version names the injected commit,
    let log = pail.ok(&["log", "photos"]).stdout;
    assert!(!log.contains("99.0.0"), "{log}");
    let resolved = pail.run_in(&pail.work, &["show", "photos@99.0.0"], None);
    assert_ne!(resolved.code, 0, "{}", resolved.stdout);
    // and push publishes nothing of it.
    pail.ok(&["push"]);
    let mut published = Vec::new();
    let mut stack = vec![origin.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            published.push(path.strip_prefix(&origin).unwrap().display().to_string());
        }
    }
    assert!(
        !published
            .iter()
            .any(|key| key.contains("99.0.0") || key.replace('/', "").contains(&evil_id[2..])),
        "{published:?}"
    );

    // Even a listed remote names a pin only when its own ref names the commit: the
    // attacker's remote, added as `mirror` in a fresh clone, has no 99.0.0.
    pail.ok(&["clone", origin.to_str().unwrap(), "victim"]);
    let victim = pail.work.join("victim");
    let added = pail.run_in(
        &victim,
        &["remote", "add", "mirror", evil_remote.to_str().unwrap()],
        None,
    );
    assert_eq!(added.code, 0, "{}", added.stderr);
    std::fs::write(victim.join("pail.lock"), &lock).unwrap();
    let out = pail.run_in(
        &victim,
        &[
            "checkout",
            "--locked",
            "--to",
            "data",
            "--allow-local-sources",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("not one of"), "{}", out.stderr);
    let log = pail.run_in(&victim, &["log", "photos"], None).stdout;
    assert!(!log.contains("99.0.0"), "{log}");
}
