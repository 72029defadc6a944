//! The remote conformance suite: the same push/pull scenarios against a local directory,
//! a moto S3 server and an Azurite server on loopback (started by tests/run). In CI a
//! missing server fails the run; elsewhere the suite runs what is available.

use crate::common;

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use common::Pail;
use futures::TryStreamExt as _;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use pail::remote::{
    self, AddOptions, NoSyncProgress, PullOptions, PullReport, PushConflict, PushOptions,
    PushReport, RemoteError, RemoteStore,
};
use pail::{DatasetName, Repo};
use serde_json::Value;

#[derive(Clone, Debug)]
enum Backend {
    Local,
    S3 { endpoint: String, bucket: String },
    Azure { url: String, container: String },
}

fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Local];
    let ci = std::env::var("CI").is_ok();
    match (
        std::env::var("PAIL_TEST_S3_ENDPOINT"),
        std::env::var("PAIL_TEST_S3_BUCKET"),
    ) {
        (Ok(endpoint), Ok(bucket)) => backends.push(Backend::S3 { endpoint, bucket }),
        _ => assert!(
            !ci,
            "the S3 server is missing: run the suite through tests/run"
        ),
    }
    match (
        std::env::var("PAIL_TEST_AZURE_URL"),
        std::env::var("PAIL_TEST_AZURE_CONTAINER"),
    ) {
        (Ok(url), Ok(container)) => backends.push(Backend::Azure { url, container }),
        _ => assert!(
            !ci,
            "the Azure server is missing: run the suite through tests/run"
        ),
    }
    backends
}

fn unique(stem: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{stem}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh remote location on a backend, its URL and the environment pail needs for it.
struct Location {
    url: String,
    env: Vec<(String, String)>,
    /// The directory of a local remote, for tampering.
    dir: Option<tempfile::TempDir>,
}

fn location(backend: &Backend) -> Location {
    match backend {
        Backend::Local => {
            let dir = tempfile::tempdir().unwrap();
            Location {
                url: format!("file://{}", dir.path().join("remote").display()),
                env: Vec::new(),
                dir: Some(dir),
            }
        }
        Backend::S3 { endpoint, bucket } => Location {
            url: format!("s3://{bucket}/{}", unique("remote")),
            env: vec![
                ("AWS_ENDPOINT_URL".into(), endpoint.clone()),
                ("AWS_ALLOW_HTTP".into(), "true".into()),
                ("AWS_ACCESS_KEY_ID".into(), "test".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
                ("AWS_REGION".into(), "us-east-1".into()),
            ],
            dir: None,
        },
        Backend::Azure { url, container } => Location {
            url: format!("az://{container}/{}", unique("remote")),
            // The emulator's well-known account and an explicit endpoint, so nothing
            // depends on variables object_store would read from the process environment.
            env: vec![
                ("AZURE_STORAGE_ACCOUNT_NAME".into(), "devstoreaccount1".into()),
                (
                    "AZURE_STORAGE_ACCOUNT_KEY".into(),
                    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
                        .into(),
                ),
                ("AZURE_STORAGE_ENDPOINT".into(), url.trim_end_matches('/').to_string()),
                ("AZURE_ALLOW_HTTP".into(), "true".into()),
            ],
            dir: None,
        },
    }
}

/// The raw store behind a location, for tampering and fault injection.
fn raw_store(location: &Location) -> (Arc<dyn ObjectStore>, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (scheme, rest) = location.url.split_once("://").unwrap();
    if scheme == "file" {
        std::fs::create_dir_all(rest).unwrap();
        let store = object_store::local::LocalFileSystem::new_with_prefix(rest).unwrap();
        return (Arc::new(store), String::new());
    }
    let (bucket, prefix) = rest.split_once('/').unwrap();
    let store = common::raw_cloud_store(scheme, bucket, &location.env);
    (store, prefix.to_string())
}

fn key(prefix: &str, rest: &str) -> Path {
    if prefix.is_empty() {
        Path::parse(rest).unwrap()
    } else {
        Path::parse(format!("{prefix}/{rest}")).unwrap()
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn pail_for(location: &Location) -> Pail {
    let mut pail = Pail::new();
    pail.extra_env = location.env.clone();
    pail
}

fn records(n: usize, tag: &str) -> String {
    let mut text = String::new();
    for idx in 0..n {
        text.push_str(&format!("{{\"id\": {idx}, \"tag\": \"{tag}\"}}\n"));
    }
    text
}

#[test]
fn teammates_push_clone_commit_and_pull_back() {
    for backend in backends() {
        let location = location(&backend);
        let alice = pail_for(&location);
        alice.ok(&["init"]);
        alice.ok_stdin(
            &["commit", "photos", "--from", "-", "--key", "id"],
            &records(500, "a"),
        );
        alice.ok(&["tag", "photos@1.0.0", "golden"]);
        alice.ok(&["remote", "add", "origin", &location.url]);
        let pushed = alice.json(&["push", "--json"]);
        assert_eq!(
            pushed["versions_created"],
            serde_json::json!(["local.default.photos@1.0.0"]),
            "{backend:?}"
        );
        assert!(pushed["objects_uploaded"].as_u64().unwrap() >= 4);
        // A second push uploads nothing.
        let again = alice.json(&["push", "--json"]);
        assert_eq!(again["objects_uploaded"], 0, "{backend:?}");

        let bob = pail_for(&location);
        let out = bob.ok(&["clone", &location.url, "work"]);
        assert!(
            out.stdout.contains("pulled local.default.photos@1.0.0"),
            "{}",
            out.stdout
        );
        let bob_work = bob.work.join("work");
        let shown = bob.run_in(&bob_work, &["show", "photos@golden", "--json"], None);
        let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
        let alice_shown = alice.json(&["show", "photos@1.0.0", "--json"]);
        assert_eq!(
            shown["id"], alice_shown["id"],
            "{backend:?}: clone keeps commit ids"
        );

        let out = bob.run_in(
            &bob_work,
            &["commit", "photos", "--from", "-", "--key", "id", "--json"],
            Some(&records(600, "b")),
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let out = bob.run_in(&bob_work, &["push", "--json"], None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let pushed: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            pushed["versions_created"],
            serde_json::json!(["local.default.photos@1.0.1"])
        );

        let pulled = alice.json(&["pull", "--json"]);
        assert_eq!(
            pulled["versions_added"],
            serde_json::json!(["local.default.photos@1.0.1"]),
            "{backend:?}"
        );
        let log = alice.json(&["log", "photos", "--json"]);
        assert_eq!(log[0]["version"], "1.0.1");
        assert_eq!(log[0]["author"], "Test Author <test@example.com>");
        assert_eq!(log[0]["n_rows"], 600);
        // The summary object travels with the commit: the pulled version has it.
        let shown = alice.json(&["show", "photos@1.0.1", "--json"]);
        assert!(shown["summary"].is_string(), "{backend:?}: {shown}");
        let summary = alice.json(&["summary", "photos@1.0.1", "--json"]);
        assert_eq!(summary["n_rows"], 600, "{backend:?}");
        assert_eq!(summary["changes"]["n_rows_before"], 500, "{backend:?}");
        assert_eq!(summary["changes"]["n_rows_delta"], 100, "{backend:?}");
    }
}

/// Whether a push failed on a version conflict (`version`) or a tag conflict.
fn is_conflict(err: &RemoteError, version: bool) -> bool {
    let RemoteError::PushConflicts { conflicts, .. } = err else {
        return false;
    };
    conflicts.iter().any(|conflict| match conflict {
        PushConflict::Version { .. } => version,
        PushConflict::Tag { .. } => !version,
    })
}
/// Pushes every dataset to `origin`, as `pail push` does.
fn push_all(repo: &Repo, location: &Location, force: bool) -> Result<PushReport, RemoteError> {
    remote::push(
        repo,
        &PushOptions {
            remote: "origin",
            datasets: &[],
            force,
            store_options: &location.env,
        },
        &NoSyncProgress,
    )
}

/// Pulls every dataset from `origin`, as `pail pull` does.
fn pull_all(repo: &Repo, location: &Location) -> Result<PullReport, RemoteError> {
    remote::pull(
        repo,
        &PullOptions {
            remote: "origin",
            datasets: &[],
            store_options: &location.env,
        },
        &NoSyncProgress,
    )
}

/// Two repositories with `origin` set to the same remote (their directories live as long as
/// the returned guards).
fn two_repos(location: &Location) -> ([tempfile::TempDir; 2], Vec<Repo>) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let repos = dirs
        .iter()
        .map(|dir| repo_with_remote(location, dir.path()))
        .collect();
    (dirs, repos)
}

fn repo_with_remote(location: &Location, dir: &std::path::Path) -> Repo {
    let (repo, _) = Repo::init(&dir.join(".pail")).unwrap();
    remote::add(
        &repo,
        &AddOptions {
            name: "origin",
            url: &location.url,
            cwd: dir,
            settings: Default::default(),
        },
    )
    .unwrap();
    repo
}

fn commit_records(repo: &Repo, name: &str, n: usize, tag: &str) {
    let options = pail::CommitOptions {
        name: repo.parse_name(name).unwrap(),
        message: String::new(),
        bump: None,
        author: "t".into(),
        time: 0,
        command: Vec::new(),
        git: None,
        code: Vec::new(),
        inputs: Vec::new(),
    };
    let text = records(n, tag);
    pail::commit::records(
        repo,
        pail::Records::Reader(Box::new(std::io::Cursor::new(text.into_bytes()))),
        &pail::commit::RecordsOptions {
            schema: None,
            key: Some(vec!["id".into()]),
        },
        &options,
    )
    .unwrap();
}

#[test]
fn racing_pushes_of_one_version_have_exactly_one_winner() {
    for backend in backends() {
        let location = location(&backend);
        let (_dirs, repos) = two_repos(&location);
        let name = DatasetName::parse_full("local.default.race").unwrap();
        let rounds = if matches!(backend, Backend::Local) {
            10
        } else {
            6
        };
        for round in 0..rounds {
            // Both commit different rows as the same next version, then push at once.
            for (idx, repo) in repos.iter().enumerate() {
                commit_records(repo, "race", 5 + round, &format!("r{round}w{idx}"));
            }
            let results: Vec<Result<_, RemoteError>> = std::thread::scope(|scope| {
                let handles: Vec<_> = repos
                    .iter()
                    .map(|repo| {
                        scope.spawn(|| {
                            remote::push(
                                repo,
                                &PushOptions {
                                    remote: "origin",
                                    datasets: std::slice::from_ref(&name),
                                    force: false,
                                    store_options: &location.env,
                                },
                                &NoSyncProgress,
                            )
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let winners = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(winners, 1, "{backend:?} round {round}: {results:?}");
            for result in &results {
                if let Err(err) = result {
                    assert!(is_conflict(err, true), "{err}");
                    assert!(
                        err.to_string().contains("already exists as commit"),
                        "{err}"
                    );
                }
            }
            // The loser pulls: its version is renumbered after the winner's, then pushes.
            for repo in &repos {
                pull_all(repo, &location).unwrap();
                push_all(repo, &location, false).unwrap();
            }
            for repo in &repos {
                pull_all(repo, &location).unwrap();
            }
            let logs: Vec<Vec<String>> = repos
                .iter()
                .map(|repo| {
                    repo.log(&name)
                        .unwrap()
                        .iter()
                        .map(|(v, id, _)| format!("{v} {id}"))
                        .collect()
                })
                .collect();
            assert_eq!(
                logs[0], logs[1],
                "{backend:?} round {round}: both repos agree"
            );
        }
    }
}

/// The commit a tag names in a repository.
fn tag_commit(repo: &Repo, tag: &str) -> String {
    repo.resolve(&repo.parse_ref(&format!("t@{tag}")).unwrap())
        .unwrap()
        .id
        .to_hex()
}

#[test]
fn racing_tag_moves_have_one_winner() {
    for backend in backends() {
        let location = location(&backend);
        let (_dirs, repos) = two_repos(&location);
        for (n, tag) in [(3, "x"), (4, "y"), (5, "z")] {
            commit_records(&repos[0], "t", n, tag);
        }
        pail::tags::tag(
            &repos[0],
            &repos[0].parse_ref("t@1.0.0").unwrap(),
            "prod",
            &pail::tags::TagOptions { force: false },
        )
        .unwrap();
        push_all(&repos[0], &location, false).unwrap();
        pull_all(&repos[1], &location).unwrap();
        // Every round both move the tag, to two different versions, and push at once:
        // a directory, like a bucket, lets exactly one move win.
        let rounds = if matches!(backend, Backend::Local) {
            30
        } else {
            10
        };
        for round in 0..rounds {
            let current = tag_commit(&repos[0], "prod");
            let targets: Vec<String> = ["1.0.0", "1.0.1", "1.0.2"]
                .into_iter()
                .filter(|version| tag_commit(&repos[0], version) != current)
                .map(String::from)
                .collect();
            for (repo, target) in repos.iter().zip(&targets) {
                pail::tags::tag(
                    repo,
                    &repo.parse_ref(&format!("t@{target}")).unwrap(),
                    "prod",
                    &pail::tags::TagOptions { force: true },
                )
                .unwrap();
            }
            let results: Vec<Result<_, RemoteError>> = std::thread::scope(|scope| {
                let handles: Vec<_> = repos
                    .iter()
                    .map(|repo| scope.spawn(|| push_all(repo, &location, false)))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let winners: Vec<usize> = (0..2).filter(|&idx| results[idx].is_ok()).collect();
            assert_eq!(winners.len(), 1, "{backend:?} round {round}: {results:?}");
            let (winner, loser) = (winners[0], 1 - winners[0]);
            let err = results[loser].as_ref().unwrap_err();
            assert!(is_conflict(err, false), "{backend:?} round {round}: {err}");
            // The remote holds the winner's move, not a lost one.
            let check = tempfile::tempdir().unwrap();
            let fresh = repo_with_remote(&location, check.path());
            pull_all(&fresh, &location).unwrap();
            assert_eq!(
                tag_commit(&fresh, "prod"),
                tag_commit(&repos[winner], "prod"),
                "{backend:?} round {round}"
            );
            // A later push without pulling is refused; --force moves it.
            assert!(
                remote::push(
                    &repos[loser],
                    &PushOptions {
                        remote: "origin",
                        datasets: &[],
                        force: false,
                        store_options: &location.env
                    },
                    &NoSyncProgress
                )
                .is_err()
            );
            push_all(&repos[loser], &location, true).unwrap();
            for repo in &repos {
                pull_all(repo, &location).unwrap();
            }
            assert_eq!(
                tag_commit(&repos[0], "prod"),
                tag_commit(&repos[1], "prod"),
                "{backend:?} round {round}: both agree after the forced move"
            );
        }
    }
}

#[test]
fn a_tag_in_the_old_one_key_form_is_read_and_moved() {
    for backend in backends() {
        let location = location(&backend);
        let (_dirs, repos) = two_repos(&location);
        commit_records(&repos[0], "t", 3, "x");
        commit_records(&repos[0], "t", 4, "y");
        push_all(&repos[0], &location, false).unwrap();
        // A tag as an older pail wrote it: one key at the tag's name.
        let first = tag_commit(&repos[0], "1.0.0");
        let (store, prefix) = raw_store(&location);
        block_on(store.put(
            &key(&prefix, "refs/datasets/local/default/t/tags/prod"),
            PutPayload::from(format!("{first}\n").into_bytes()),
        ))
        .unwrap();
        pull_all(&repos[1], &location).unwrap();
        assert_eq!(tag_commit(&repos[1], "prod"), first, "{backend:?}");
        // Moving it writes the numbered form, which wins over the old key from then on.
        pail::tags::tag(
            &repos[1],
            &repos[1].parse_ref("t@1.0.1").unwrap(),
            "prod",
            &pail::tags::TagOptions { force: true },
        )
        .unwrap();
        push_all(&repos[1], &location, false).unwrap();
        let moves: Vec<String> = block_on(
            store
                .list(Some(&key(
                    &prefix,
                    "refs/datasets/local/default/t/tag-moves/prod",
                )))
                .map_ok(|meta| meta.location.to_string())
                .try_collect(),
        )
        .unwrap();
        assert_eq!(moves.len(), 1, "{moves:?}");
        assert!(
            moves[0].ends_with("/tag-moves/prod/00000000000000000001"),
            "{moves:?}"
        );
        pull_all(&repos[0], &location).unwrap();
        assert_eq!(
            tag_commit(&repos[0], "prod"),
            tag_commit(&repos[0], "1.0.1"),
            "{backend:?}"
        );
    }
}

#[test]
fn push_stops_a_dataset_at_its_first_conflicting_version() {
    for backend in backends() {
        let location = location(&backend);
        let (_dirs, repos) = two_repos(&location);
        commit_records(&repos[0], "t", 3, "base");
        push_all(&repos[0], &location, false).unwrap();
        pull_all(&repos[1], &location).unwrap();
        // Someone else publishes 1.0.1 first; here b1 = 1.0.1 and its child b2 = 1.0.2.
        commit_records(&repos[0], "t", 4, "theirs");
        push_all(&repos[0], &location, false).unwrap();
        commit_records(&repos[1], "t", 5, "b1");
        commit_records(&repos[1], "t", 6, "b2");
        pail::tags::tag(
            &repos[1],
            &repos[1].parse_ref("t@1.0.2").unwrap(),
            "prod",
            &pail::tags::TagOptions { force: false },
        )
        .unwrap();
        let err = push_all(&repos[1], &location, false).unwrap_err();
        assert!(is_conflict(&err, true), "{backend:?}: {err}");
        // Nothing of the dataset after the conflict is published: not 1.0.2, not its tag.
        let (store, prefix) = raw_store(&location);
        let refs: Vec<String> = block_on(
            store
                .list(Some(&key(&prefix, "refs")))
                .map_ok(|meta| meta.location.to_string())
                .try_collect(),
        )
        .unwrap();
        assert!(
            refs.iter()
                .all(|key| !key.ends_with("/versions/1.0.2") && !key.contains("prod")),
            "{backend:?}: {refs:?}"
        );
        assert!(
            refs.iter().any(|key| key.ends_with("/versions/1.0.1")),
            "{backend:?}: {refs:?}"
        );
    }
}

/// Deletes everything under a remote: a reset, or a lifecycle rule.
fn wipe(location: &Location) {
    let (store, prefix) = raw_store(location);
    let root = if prefix.is_empty() {
        None
    } else {
        Some(Path::parse(&prefix).unwrap())
    };
    let keys: Vec<Path> = block_on(
        store
            .list(root.as_ref())
            .map_ok(|meta| meta.location)
            .try_collect(),
    )
    .unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        block_on(store.delete(&key)).unwrap();
    }
}

#[test]
fn a_push_to_an_emptied_remote_uploads_everything_again() {
    for backend in backends() {
        let location = location(&backend);
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with_remote(&location, dir.path());
        commit_records(&repo, "t", 50, "x");
        let first = push_all(&repo, &location, false).unwrap();
        assert!(first.objects_uploaded >= 4, "{backend:?}: {first:?}");
        wipe(&location);
        let again = push_all(&repo, &location, false).unwrap();
        assert_eq!(
            again.objects_uploaded, first.objects_uploaded,
            "{backend:?}: {again:?}"
        );
        assert_refs_complete(&location);
        // And a third push, to the same instance, uploads nothing.
        let third = push_all(&repo, &location, false).unwrap();
        assert_eq!(third.objects_uploaded, 0, "{backend:?}");
        // The marker names this instance of the remote.
        let (store, prefix) = raw_store(&location);
        let marker: Value = serde_json::from_slice(
            &block_on(async {
                store
                    .get(&key(&prefix, "pail-remote.json"))
                    .await
                    .unwrap()
                    .bytes()
                    .await
            })
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            marker["instance"].as_str().map(str::len),
            Some(32),
            "{marker}"
        );
    }
}

#[test]
fn a_marker_from_before_instance_ids_is_given_one() {
    let location = location(&Backend::Local);
    let (store, prefix) = raw_store(&location);
    let marker_key = key(&prefix, "pail-remote.json");
    block_on(store.put(
        &marker_key,
        PutPayload::from(b"{\"pail_remote_format\": 1}\n".to_vec()),
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = repo_with_remote(&location, dir.path());
    commit_records(&repo, "t", 5, "x");
    push_all(&repo, &location, false).unwrap();
    let marker: Value = serde_json::from_slice(
        &block_on(async { store.get(&marker_key).await.unwrap().bytes().await }).unwrap(),
    )
    .unwrap();
    assert_eq!(marker["pail_remote_format"], 1);
    assert_eq!(
        marker["instance"].as_str().map(str::len),
        Some(32),
        "{marker}"
    );
    // A later push finds the same instance and uploads nothing.
    let again = push_all(&repo, &location, false).unwrap();
    assert_eq!(again.objects_uploaded, 0);
}

#[test]
fn fsck_remote_reports_an_object_missing_from_the_remote() {
    for backend in backends() {
        let location = location(&backend);
        let alice = pail_for(&location);
        alice.ok(&["init"]);
        alice.ok_stdin(
            &["commit", "photos", "--from", "-", "--key", "id"],
            &records(50, "a"),
        );
        alice.ok(&["remote", "add", "origin", &location.url]);
        alice.ok(&["push"]);
        let healthy = alice.json(&["fsck", "--remote", "origin", "--json"]);
        assert_eq!(healthy["problems"], serde_json::json!([]), "{backend:?}");
        // Delete a leaf, then the schema: objects a clone needs that a walk of commits and
        // nodes alone would not look at.
        let (store, prefix) = raw_store(&location);
        for kind in [pail::Kind::Leaf, pail::Kind::Schema] {
            let objects: Vec<Path> = block_on(
                store
                    .list(Some(&key(&prefix, "objects")))
                    .map_ok(|meta| meta.location)
                    .try_collect(),
            )
            .unwrap();
            let victim = objects
                .into_iter()
                .find(|path| {
                    // Format 2: a leaf is a plain Parquet file under `objects/leaf/`.
                    if path.as_ref().contains("objects/leaf/") {
                        return kind == pail::Kind::Leaf;
                    }
                    let bytes =
                        block_on(async { store.get(path).await.unwrap().bytes().await }).unwrap();
                    bytes.first() == Some(&kind.code())
                })
                .unwrap_or_else(|| panic!("{backend:?}: the remote holds a {kind}"));
            block_on(store.delete(&victim)).unwrap();
            let out = alice.run_in(&alice.work, &["fsck", "--remote", "origin"], None);
            assert_eq!(
                out.code, 1,
                "{backend:?} {kind}: {}{}",
                out.stdout, out.stderr
            );
            assert!(
                out.stdout.contains(&format!("{kind} "))
                    && out.stdout.contains("is missing from the remote"),
                "{backend:?} {kind}: {}",
                out.stdout
            );
        }
    }
}

/// The remote at `location` over a store that fails every call after the first `allowed`.
fn failing_remote(
    location: &Location,
    backend: &Backend,
    inner: &Arc<dyn ObjectStore>,
    prefix: &str,
    allowed: usize,
) -> RemoteStore {
    let failing: Arc<dyn ObjectStore> = Arc::new(FailAfter {
        inner: inner.clone(),
        allowed,
        calls: AtomicUsize::new(0),
    });
    RemoteStore::from_store(
        &location.url,
        failing,
        prefix,
        matches!(backend, Backend::Local),
    )
}

/// Wraps a store and fails every call after the first `allowed`.
#[derive(Debug)]
struct FailAfter {
    inner: Arc<dyn ObjectStore>,
    allowed: usize,
    calls: AtomicUsize,
}

impl fmt::Display for FailAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FailAfter({})", self.inner)
    }
}

impl FailAfter {
    fn check(&self) -> object_store::Result<()> {
        if self.calls.fetch_add(1, Ordering::SeqCst) >= self.allowed {
            return Err(object_store::Error::Generic {
                store: "FailAfter",
                source: "injected fault: the connection dropped".into(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for FailAfter {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.check()?;
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.check()?;
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.check()?;
        self.inner.get_opts(location, options).await
    }
    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.check()?;
        self.inner.get_ranges(location, ranges).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.check()?;
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.check()?;
        self.inner.copy_opts(from, to, options).await
    }
}

/// Every ref on the remote names an object the remote has (the closure is complete).
fn assert_refs_complete(location: &Location) {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo_with_remote(location, dir.path());
    pull_all(&repo, location)
        .expect("a pull of everything the remote names succeeds: no ref names a missing object");
}

#[test]
fn a_push_that_dies_midway_leaves_no_dangling_ref_and_resumes() {
    for backend in backends() {
        // Count the store calls of a whole push of this content, on a separate remote.
        let counting_location = location(&backend);
        let counting_dir = tempfile::tempdir().unwrap();
        let counting_repo = repo_with_remote(&counting_location, counting_dir.path());
        commit_records(&counting_repo, "big", 20_000, "x");
        pail::tags::tag(
            &counting_repo,
            &counting_repo.parse_ref("big").unwrap(),
            "golden",
            &pail::tags::TagOptions { force: false },
        )
        .unwrap();
        let (counting_inner, counting_prefix) = raw_store(&counting_location);
        let counter = Arc::new(FailAfter {
            inner: counting_inner,
            allowed: usize::MAX,
            calls: AtomicUsize::new(0),
        });
        let counting_remote = RemoteStore::from_store(
            &counting_location.url,
            counter.clone(),
            &counting_prefix,
            matches!(backend, Backend::Local),
        );
        remote::push_to(
            &counting_repo,
            &counting_remote,
            &PushOptions {
                remote: "origin",
                datasets: &[],
                force: false,
                ..Default::default()
            },
            &NoSyncProgress,
        )
        .unwrap();
        let n_calls = counter.calls.load(Ordering::SeqCst);
        assert!(n_calls > 10, "{n_calls}");

        // Faults early, in the middle of the uploads, and among the ref writes at the end;
        // each on a fresh remote, then the same push run again completes it.
        let mut refs_seen_midway = 0;
        for allowed in [1, n_calls / 2, n_calls - 2, n_calls - 1] {
            let location = location(&backend);
            let dir = tempfile::tempdir().unwrap();
            let repo = repo_with_remote(&location, dir.path());
            commit_records(&repo, "big", 20_000, "x");
            pail::tags::tag(
                &repo,
                &repo.parse_ref("big").unwrap(),
                "golden",
                &pail::tags::TagOptions { force: false },
            )
            .unwrap();
            let (inner, prefix) = raw_store(&location);
            let remote = failing_remote(&location, &backend, &inner, &prefix, allowed);
            let err = remote::push_to(
                &repo,
                &remote,
                &PushOptions {
                    remote: "origin",
                    datasets: &[],
                    force: false,
                    ..Default::default()
                },
                &NoSyncProgress,
            )
            .expect_err("the injected fault stops the push");
            assert!(err.to_string().contains("injected fault"), "{err}");
            let version_ref = key(&prefix, "refs/datasets/local/default/big/versions/1.0.0");
            if block_on(inner.head(&version_ref)).is_ok() {
                refs_seen_midway += 1;
                assert_refs_complete(&location);
            }
            let report = push_all(&repo, &location, false).unwrap();
            // The last calls are the Iceberg publish, after every ref: a fault there
            // leaves the refs up to date and the table to the next push, which repairs it.
            assert!(
                report.versions_created == ["local.default.big@1.0.0"] || report.up_to_date >= 1,
                "{backend:?}: {report:?}"
            );
            assert_eq!(report.tables_published, 1, "{backend:?}: {report:?}");
            let hint = key(
                &prefix,
                "iceberg/local/default/big/metadata/version-hint.text",
            );
            assert!(
                block_on(inner.head(&hint)).is_ok(),
                "{backend:?}: the table is published"
            );
            assert_refs_complete(&location);
        }
        assert!(
            refs_seen_midway >= 1,
            "a fault among the ref writes left a version ref"
        );
    }
}

#[test]
fn broken_or_hostile_remotes_are_refused_and_nothing_is_written() {
    for backend in backends() {
        let location = location(&backend);
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with_remote(&location, dir.path());
        commit_records(&repo, "t", 50, "x");
        push_all(&repo, &location, false).unwrap();
        let commit_id = repo.resolve(&repo.parse_ref("t").unwrap()).unwrap().id;
        let (store, prefix) = raw_store(&location);
        let hex = commit_id.to_hex();
        let commit_key = key(&prefix, &format!("objects/{}/{}", &hex[..2], &hex[2..]));
        let original =
            block_on(async { store.get(&commit_key).await.unwrap().bytes().await.unwrap() });

        let check_refused = |expect: &str| {
            let other = tempfile::tempdir().unwrap();
            let fresh = repo_with_remote(&location, other.path());
            let err = pull_all(&fresh, &location).expect_err("the pull is refused");
            assert!(err.to_string().contains(expect), "{backend:?}: {err}");
            assert!(fresh.datasets().unwrap().is_empty(), "nothing was written");
            let tags = pail::tags::tags(&fresh).unwrap();
            assert!(tags.is_empty());
        };
        let put = |path: &Path, bytes: Vec<u8>| {
            block_on(store.put(path, PutPayload::from(bytes))).unwrap();
        };

        // Altered bytes.
        let mut altered = original.to_vec();
        let last = altered.len() - 1;
        altered[last] ^= 0xff;
        put(&commit_key, altered);
        check_refused("hash to");
        // Truncated.
        put(&commit_key, original[..original.len() / 2].to_vec());
        check_refused("truncated or altered");
        put(&commit_key, original.to_vec());
        // A CBOR bomb whose id matches its bytes: deep nesting, then a huge declared length.
        for bomb in [
            vec![0x81u8; 100_000],
            vec![0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ] {
            let bomb_id = pail::ObjectId::compute(pail::Kind::Commit, &bomb);
            let bomb_hex = bomb_id.to_hex();
            let mut stored = vec![pail::Kind::Commit.code()];
            stored.extend_from_slice(&bomb);
            put(
                &key(
                    &prefix,
                    &format!("objects/{}/{}", &bomb_hex[..2], &bomb_hex[2..]),
                ),
                stored,
            );
            put(
                &key(&prefix, "refs/datasets/local/default/bomb/versions/1.0.0"),
                format!("{bomb_hex}\n").into_bytes(),
            );
            check_refused("malformed commit");
        }
        let delete_ref = |name: &str| {
            let path = key(
                &prefix,
                &format!("refs/datasets/local/default/{name}/versions/1.0.0"),
            );
            block_on(store.delete(&path)).unwrap();
        };
        delete_ref("bomb");
        // A ref that is refused, then taken away again.
        let refused_ref = |name: &str, target: &str, expect: &str| {
            put(
                &key(
                    &prefix,
                    &format!("refs/datasets/local/default/{name}/versions/1.0.0"),
                ),
                format!("{target}\n").into_bytes(),
            );
            check_refused(expect);
            delete_ref(name);
        };
        // A ref naming an object the remote lacks.
        refused_ref("ghost", &"ab".repeat(32), "which the remote does not have");
        // A remote from a newer pail.
        put(
            &key(&prefix, "pail-remote.json"),
            b"{\"pail_remote_format\": 9}".to_vec(),
        );
        check_refused("upgrade pail");
        put(
            &key(&prefix, "pail-remote.json"),
            b"{\"pail_remote_format\": 2}".to_vec(),
        );
        // An altered format-2 leaf (a plain Parquet file, hashed as a leaf).
        let (leaves, _) = object_keys(&store, &prefix);
        let leaf = leaves.first().expect("a format-2 leaf");
        let leaf_bytes = block_on(async { store.get(leaf).await.unwrap().bytes().await.unwrap() });
        let mut altered = leaf_bytes.to_vec();
        altered[10] ^= 0xff;
        put(leaf, altered);
        check_refused("hash to");
        put(leaf, leaf_bytes.to_vec());
        // Healthy again: the pull works.
        assert_refs_complete(&location);
        drop(location.dir);
    }
}

#[test]
fn a_cloned_100k_row_dataset_reads_back_its_records() {
    let location = location(&Backend::Local);
    let alice = pail_for(&location);
    alice.ok(&["init"]);
    alice.ok_stdin(
        &["commit", "big", "--from", "-", "--key", "id"],
        &records(100_000, "x"),
    );
    alice.ok(&["remote", "add", "origin", &location.url]);
    alice.ok(&["push"]);
    let bob = pail_for(&location);
    bob.ok(&["clone", &location.url, "copy"]);
    let copy = bob.work.join("copy");
    let theirs = bob.run_in(&copy, &["show", "big", "--json"], None);
    let theirs: Value = serde_json::from_str(&theirs.stdout).unwrap();
    assert_eq!(theirs["n_rows"], 100_000);
    // The cloned id equals the pushed one by construction (pull checks each object against
    // its id), so check the clone against the records instead: the rows read back are the
    // records committed, and committing those records again in the clone, which rebuilds
    // the tree from them, finds nothing changed.
    let parse = |text: &str| -> Vec<Value> {
        let mut rows: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        rows.sort_by_key(|row| row["id"].as_u64());
        rows
    };
    let rows = bob.run_in(&copy, &["rows", "big", "--json"], None);
    assert_eq!(rows.code, 0, "{}", rows.stderr);
    assert!(parse(&rows.stdout) == parse(&records(100_000, "x")));
    let again = bob.run_in(
        &copy,
        &["commit", "big", "--from", "-", "--key", "id", "--json"],
        Some(&records(100_000, "x")),
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    let again: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(again["status"], "unchanged", "{again}");
    assert_eq!(again["version"], "1.0.0", "{again}");
}

#[test]
fn remote_commands_report_user_errors() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let out = pail.fails(1, &["push"]);
    assert!(
        out.stderr.contains("no remote named `origin`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("pail remote add origin"),
        "{}",
        out.stderr
    );
    let out = pail.fails(
        1,
        &[
            "remote",
            "add",
            "origin",
            "s3://bucket/p?X-Amz-Signature=secret",
        ],
    );
    assert!(
        !out.stderr.contains("secret") || out.stderr.contains("query strings"),
        "{}",
        out.stderr
    );
    pail.ok(&["remote", "add", "origin", "shared"]);
    let out = pail.fails(1, &["remote", "add", "origin", "other"]);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    let remotes = pail.json(&["remote", "list", "--json"]);
    assert_eq!(
        remotes[0]["url"],
        format!("file://{}", pail.work.join("shared").display())
    );
    let out = pail.fails(1, &["pull"]);
    assert!(
        out.stderr.contains("is not a pail remote"),
        "{}",
        out.stderr
    );
    pail.ok(&["remote", "remove", "origin"]);
    assert_eq!(
        pail.json(&["remote", "list", "--json"]),
        serde_json::json!([])
    );
}

#[test]
fn a_pull_that_dies_midway_changes_nothing() {
    for backend in backends() {
        let location = location(&backend);
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with_remote(&location, dir.path());
        commit_records(&repo, "big", 20_000, "x");
        pail::tags::tag(
            &repo,
            &repo.parse_ref("big").unwrap(),
            "golden",
            &pail::tags::TagOptions { force: false },
        )
        .unwrap();
        push_all(&repo, &location, false).unwrap();
        let (inner, prefix) = raw_store(&location);
        for allowed in [2, 10, 30] {
            let other = tempfile::tempdir().unwrap();
            let fresh = repo_with_remote(&location, other.path());
            let remote = failing_remote(&location, &backend, &inner, &prefix, allowed);
            let err = remote::pull_from(
                &fresh,
                &remote,
                &PullOptions {
                    remote: "origin",
                    datasets: &[],
                    ..Default::default()
                },
                &NoSyncProgress,
            )
            .expect_err("the injected fault stops the pull");
            assert!(
                err.to_string().contains("injected fault"),
                "{backend:?}: {err}"
            );
            assert!(
                fresh.datasets().unwrap().is_empty(),
                "{backend:?}: no version appeared"
            );
            assert!(pail::tags::tags(&fresh).unwrap().is_empty());
            let pail::maintain::FsckReport {
                objects: n_objects,
                problems,
            } = pail::maintain::fsck(&fresh).unwrap();
            assert_eq!(
                (n_objects, problems.len()),
                (0, 0),
                "{backend:?}: no object was written"
            );
            // The same pull, unhindered, completes.
            pull_all(&fresh, &location).unwrap();
            assert_eq!(fresh.datasets().unwrap().len(), 1);
        }
    }
}

/// A dataset's versions, ascending: (version, commit).
fn versions_of(repo: &Repo, name: &str) -> Vec<(String, pail::CommitId)> {
    let name = repo.parse_name(name).unwrap();
    repo.datasets()
        .unwrap()
        .into_iter()
        .find(|info| info.name == name)
        .map(|info| {
            info.versions
                .into_iter()
                .map(|(version, id)| (version.to_string(), id))
                .collect()
        })
        .unwrap_or_default()
}

fn tag_of(repo: &Repo, name: &str, tag: &str) -> Option<pail::CommitId> {
    let name = repo.parse_name(name).unwrap();
    pail::tags::tags(repo)
        .unwrap()
        .into_iter()
        .find(|info| info.name == name && info.tag == tag)
        .map(|info| info.id)
}

fn id_of(repo: &Repo, text: &str) -> pail::CommitId {
    repo.resolve(&repo.parse_ref(text).unwrap()).unwrap().id
}

/// Writes a ref object on the remote directly, as a hostile or broken writer would.
fn plant(store: &Arc<dyn ObjectStore>, prefix: &str, rest: &str, body: &str) {
    block_on(store.put(
        &key(prefix, rest),
        PutPayload::from(body.as_bytes().to_vec()),
    ))
    .unwrap();
}

#[test]
fn stray_keys_under_refs_are_skipped_with_a_warning() {
    for backend in backends() {
        let location = location(&backend);
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with_remote(&location, dir.path());
        commit_records(&repo, "photos", 20, "x");
        push_all(&repo, &location, false).unwrap();
        let (store, prefix) = raw_store(&location);
        plant(&store, &prefix, "refs/README.txt", "hello\n");
        let hex = id_of(&repo, "photos").to_hex();
        plant(
            &store,
            &prefix,
            "refs/datasets/local/default/Evil/versions/1.0.0",
            &hex,
        );
        plant(
            &store,
            &prefix,
            &format!("cache/{}", "ab".repeat(32)),
            "R{}",
        );

        for wanted in [vec![repo.parse_name("photos").unwrap()], Vec::new()] {
            let other = tempfile::tempdir().unwrap();
            let fresh = repo_with_remote(&location, other.path());
            let report = remote::pull(
                &fresh,
                &PullOptions {
                    remote: "origin",
                    datasets: &wanted,
                    store_options: &location.env,
                },
                &NoSyncProgress,
            )
            .unwrap_or_else(|err| panic!("{backend:?}: {err}"));
            assert_eq!(versions_of(&fresh, "photos").len(), 1, "{backend:?}");
            let warnings = report.warnings.join("\n");
            assert!(warnings.contains("refs/README.txt"), "{warnings}");
            assert!(
                warnings.contains("refs/datasets/local/default/Evil"),
                "{warnings}"
            );
            assert!(!warnings.contains("cache/"), "{warnings}");
            assert_eq!(report.warnings.len(), 2, "{warnings}");
        }
    }
}

/// Two remotes that disagree on `ds@1.0.0`: origin has `a`'s commit, other has `b`'s.
struct TwoRemotes {
    origin: Location,
    other: Location,
    _dirs: Vec<tempfile::TempDir>,
}

fn two_remotes(backend: &Backend) -> TwoRemotes {
    let origin = location(backend);
    let other = location(backend);
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = repo_with_remote(&origin, a_dir.path());
    commit_records(&a, "ds", 10, "a");
    push_all(&a, &origin, false).unwrap();
    let b = repo_with_remote(&other, b_dir.path());
    commit_records(&b, "ds", 10, "b");
    push_all(&b, &other, false).unwrap();
    TwoRemotes {
        origin,
        other,
        _dirs: vec![a_dir, b_dir],
    }
}

#[test]
fn a_version_published_on_any_remote_is_never_renumbered() {
    for backend in backends() {
        let remotes = two_remotes(&backend);
        let env: Vec<(String, String)> = remotes
            .origin
            .env
            .iter()
            .chain(&remotes.other.env)
            .cloned()
            .collect();
        // Pulled from origin, then pulled from other; and pushed to origin, then pulled
        // from other.
        for pushed in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let repo = if pushed {
                let repo = repo_with_remote(&remotes.origin, dir.path());
                commit_records(&repo, "ds", 5, "mine");
                let target = location(&backend);
                remote::add(
                    &repo,
                    &AddOptions {
                        name: "mine",
                        url: &target.url,
                        cwd: dir.path(),
                        settings: Default::default(),
                    },
                )
                .unwrap();
                remote::push(
                    &repo,
                    &PushOptions {
                        remote: "mine",
                        datasets: &[],
                        force: false,
                        store_options: &target.env,
                    },
                    &NoSyncProgress,
                )
                .unwrap();
                // The remote is forgotten; the version stays published.
                remote::remove(&repo, "mine").unwrap();
                repo
            } else {
                let repo = repo_with_remote(&remotes.origin, dir.path());
                remote::pull(
                    &repo,
                    &PullOptions {
                        remote: "origin",
                        datasets: &[],
                        store_options: &env,
                    },
                    &NoSyncProgress,
                )
                .unwrap();
                repo
            };
            let before = versions_of(&repo, "ds");
            assert_eq!(before.len(), 1);
            remote::add(
                &repo,
                &AddOptions {
                    name: "other",
                    url: &remotes.other.url,
                    cwd: dir.path(),
                    settings: Default::default(),
                },
            )
            .unwrap();
            let err = remote::pull(
                &repo,
                &PullOptions {
                    remote: "other",
                    datasets: &[],
                    store_options: &env,
                },
                &NoSyncProgress,
            )
            .expect_err("the conflicting version is refused");
            let message = err.to_string();
            let theirs = {
                let b_dir = tempfile::tempdir().unwrap();
                let b = repo_with_remote(&remotes.other, b_dir.path());
                remote::pull(
                    &b,
                    &PullOptions {
                        remote: "origin",
                        datasets: &[],
                        store_options: &env,
                    },
                    &NoSyncProgress,
                )
                .unwrap();
                versions_of(&b, "ds")[0].1
            };
            assert!(
                matches!(&err, RemoteError::PublishedVersionConflict { .. }),
                "{backend:?}: {message}"
            );
            assert!(message.contains(&before[0].1.to_hex()), "{message}");
            assert!(message.contains(&theirs.to_hex()), "{message}");
            assert_eq!(versions_of(&repo, "ds"), before, "nothing moved");
        }
    }
}

#[test]
fn renumbering_keeps_parent_order_in_numeric_semver_order() {
    for backend in backends() {
        let location = location(&backend);
        let (t_dir, l_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let teammate = repo_with_remote(&location, t_dir.path());
        commit_records(&teammate, "ds", 10, "base");
        push_all(&teammate, &location, false).unwrap();
        let local = repo_with_remote(&location, l_dir.path());
        pull_all(&local, &location).unwrap();
        // Both make ten more versions, 1.0.1 to 1.0.10; the teammate pushes first.
        for idx in 1..=10 {
            commit_records(&teammate, "ds", 10 + idx, "theirs");
            commit_records(&local, "ds", 10 + idx, "mine");
        }
        push_all(&teammate, &location, false).unwrap();
        let mine: Vec<pail::CommitId> = versions_of(&local, "ds")[1..]
            .iter()
            .map(|(_, id)| *id)
            .collect();
        let report = pull_all(&local, &location).unwrap();
        assert_eq!(report.renumbered.len(), 10, "{:?}", report.renumbered);
        let after = versions_of(&local, "ds");
        assert_eq!(after.len(), 21);
        let moved: Vec<pail::CommitId> = after[11..].iter().map(|(_, id)| *id).collect();
        assert_eq!(
            moved, mine,
            "{backend:?}: mine follow theirs, in their order"
        );
        assert_eq!(after[20].0, "1.0.20");
        // Each moved version's parent is the one numbered before it; latest is the newest.
        for pair in after[11..].windows(2) {
            let commit = local.commit(&pair[1].1).unwrap();
            assert_eq!(commit.parents, vec![pair[0].1], "{backend:?}");
        }
        push_all(&local, &location, false).unwrap();
    }
}

#[test]
fn a_local_tag_move_survives_a_pull_and_divergence_is_reported() {
    for backend in backends() {
        let location = location(&backend);
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let alice = repo_with_remote(&location, a_dir.path());
        commit_records(&alice, "ds", 10, "one");
        commit_records(&alice, "ds", 11, "two");
        commit_records(&alice, "ds", 12, "three");
        pail::tags::tag(
            &alice,
            &alice.parse_ref("ds@1.0.0").unwrap(),
            "golden",
            &pail::tags::TagOptions { force: false },
        )
        .unwrap();
        push_all(&alice, &location, false).unwrap();
        let bob = repo_with_remote(&location, b_dir.path());
        pull_all(&bob, &location).unwrap();
        let (v0, v1, v2) = (
            id_of(&bob, "ds@1.0.0"),
            id_of(&bob, "ds@1.0.1"),
            id_of(&bob, "ds@1.0.2"),
        );
        // Bob moves the tag and pulls: the move stays, and nothing diverged yet.
        pail::tags::tag(
            &bob,
            &bob.parse_ref("ds@1.0.1").unwrap(),
            "golden",
            &pail::tags::TagOptions { force: true },
        )
        .unwrap();
        let report = pull_all(&bob, &location).unwrap();
        assert_eq!(tag_of(&bob, "ds", "golden"), Some(v1), "{backend:?}");
        assert!(report.tags_diverged.is_empty());
        // Alice moves it elsewhere and pushes: now they diverged.
        pail::tags::tag(
            &alice,
            &alice.parse_ref("ds@1.0.2").unwrap(),
            "golden",
            &pail::tags::TagOptions { force: true },
        )
        .unwrap();
        push_all(&alice, &location, false).unwrap();
        for _ in 0..2 {
            let report = pull_all(&bob, &location).unwrap();
            assert_eq!(tag_of(&bob, "ds", "golden"), Some(v1), "{backend:?}");
            assert_eq!(
                report.tags_diverged,
                vec![pail::remote::TagDivergence {
                    tag: "local.default.ds@golden".into(),
                    local: v1,
                    remote: v2,
                }]
            );
        }
        // Pushing the diverged tag needs --force.
        let err = push_all(&bob, &location, false).expect_err("a diverged tag is refused");
        assert!(is_conflict(&err, false), "{backend:?}: {err}");
        push_all(&bob, &location, true).unwrap();
        // Alice's tag had not moved since she pushed it: she takes Bob's.
        let report = pull_all(&alice, &location).unwrap();
        assert!(report.tags_diverged.is_empty());
        assert_eq!(tag_of(&alice, "ds", "golden"), Some(v1), "{backend:?}");
        assert_ne!(v0, v1);
    }
}

#[test]
fn a_filtered_pull_moves_only_the_asked_datasets_refs() {
    for backend in backends() {
        let location = location(&backend);
        let (a_dir, v_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let alice = repo_with_remote(&location, a_dir.path());
        commit_records(&alice, "photos", 10, "p");
        commit_records(&alice, "clips", 10, "c");
        push_all(&alice, &location, false).unwrap();
        let photos = id_of(&alice, "photos").to_hex();
        let clips = id_of(&alice, "clips").to_hex();
        // The victim has their own `other`, tagged.
        let victim = repo_with_remote(&location, v_dir.path());
        commit_records(&victim, "other", 10, "mine");
        pail::tags::tag(
            &victim,
            &victim.parse_ref("other").unwrap(),
            "golden",
            &pail::tags::TagOptions { force: false },
        )
        .unwrap();
        let golden = tag_of(&victim, "other", "golden");
        let (store, prefix) = raw_store(&location);
        let base = "refs/datasets/local/default";
        plant(
            &store,
            &prefix,
            &format!("{base}/other/tags/golden"),
            &photos,
        );
        plant(
            &store,
            &prefix,
            &format!("{base}/other/versions/9.0.0"),
            &photos,
        );
        // A photos tag naming a commit outside photos' history.
        plant(&store, &prefix, &format!("{base}/photos/tags/evil"), &clips);

        let report = remote::pull(
            &victim,
            &PullOptions {
                remote: "origin",
                datasets: &[victim.parse_name("photos").unwrap()],
                store_options: &location.env,
            },
            &NoSyncProgress,
        )
        .unwrap();
        assert_eq!(tag_of(&victim, "other", "golden"), golden, "{backend:?}");
        assert_eq!(versions_of(&victim, "other").len(), 1, "{backend:?}");
        assert_eq!(versions_of(&victim, "photos").len(), 1);
        assert_eq!(tag_of(&victim, "photos", "evil"), None);
        assert!(
            report.warnings.iter().any(|w| w.contains("photos@evil")),
            "{:?}",
            report.warnings
        );
        assert!(report.versions_added == vec!["local.default.photos@1.0.0".to_string()]);
    }
}

#[test]
fn a_version_number_pail_cannot_follow_is_skipped_not_wrapped() {
    for backend in backends() {
        let location = location(&backend);
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let alice = repo_with_remote(&location, a_dir.path());
        commit_records(&alice, "ds", 10, "a");
        push_all(&alice, &location, false).unwrap();
        let bob = repo_with_remote(&location, b_dir.path());
        pull_all(&bob, &location).unwrap();
        commit_records(&bob, "ds", 11, "b");
        let before = versions_of(&bob, "ds");
        let (store, prefix) = raw_store(&location);
        let hex = id_of(&alice, "ds").to_hex();
        plant(
            &store,
            &prefix,
            "refs/datasets/local/default/ds/versions/1.0.18446744073709551615",
            &hex,
        );
        plant(
            &store,
            &prefix,
            "refs/datasets/local/default/ds/versions/1.0.1",
            &hex,
        );
        let report = pull_all(&bob, &location).unwrap_or_else(|err| panic!("{backend:?}: {err}"));
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("1.0.18446744073709551615")),
            "{:?}",
            report.warnings
        );
        // Bob's unpushed 1.0.1 moved after the remote's 1.0.1, not around to 1.0.0.
        let after = versions_of(&bob, "ds");
        assert_eq!(after.len(), 3, "{after:?}");
        assert_eq!(after[2], ("1.0.2".to_string(), before[1].1));
        assert_eq!(after[0], before[0]);
        commit_records(&bob, "ds", 12, "c");
        assert_eq!(versions_of(&bob, "ds")[3].0, "1.0.3");
    }
}

/// Wraps a store, counts the bytes its downloads deliver, and may state a false size for
/// objects, as a hostile server can.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn ObjectStore>,
    read: Arc<std::sync::atomic::AtomicU64>,
    stated: Option<u64>,
}

impl fmt::Display for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for Counting {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        use futures::StreamExt;
        let result = self.inner.get_opts(location, options).await?;
        let mut meta = result.meta.clone();
        if let Some(stated) = self.stated
            && (location.as_ref().contains("objects/") || location.as_ref().contains("cache/"))
        {
            meta.size = stated;
        }
        let (range, attributes) = (result.range.clone(), result.attributes.clone());
        let extensions = result.extensions.clone();
        let read = self.read.clone();
        let stream = result
            .into_stream()
            .inspect(move |chunk| {
                if let Ok(chunk) = chunk {
                    read.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                }
            })
            .boxed();
        Ok(GetResult {
            payload: object_store::GetResultPayload::Stream(stream),
            meta,
            range,
            attributes,
            extensions,
        })
    }
    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        use futures::StreamExt;
        let stated = self.stated;
        self.inner
            .list(prefix)
            .map(move |meta| {
                meta.map(|mut meta| {
                    if let Some(stated) = stated {
                        meta.size = stated;
                    }
                    meta
                })
            })
            .boxed()
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[test]
fn a_huge_hostile_object_is_refused_having_read_at_most_its_limit() {
    // A local directory: the point is the bytes read, not the transport.
    let backend = Backend::Local;
    let location = location(&backend);
    let (store, prefix) = raw_store(&location);
    plant(
        &store,
        &prefix,
        "pail-remote.json",
        "{\"pail_remote_format\": 1}",
    );
    // A 200 MiB "commit" (the kind byte, then zeros) under some id, named by a version.
    let mut huge = vec![0u8; 200 << 20];
    huge[0] = pail::Kind::Commit.code();
    let hex = "cd".repeat(32);
    block_on(store.put(
        &key(&prefix, &format!("objects/{}/{}", &hex[..2], &hex[2..])),
        PutPayload::from(huge),
    ))
    .unwrap();
    plant(
        &store,
        &prefix,
        "refs/datasets/local/default/huge/versions/1.0.0",
        &format!("{hex}\n"),
    );
    let limit = pail::remote::max_download_bytes(pail::Kind::Commit);
    let chunk = 64 * 1024;
    // The honest size, a lie below it, and a lie at the limit.
    for (stated, expect, most) in [
        (None, "limit", chunk),
        (Some(1000), "truncated or altered", 1000 + chunk),
        (Some(limit), "limit", limit + chunk),
    ] {
        let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counting: Arc<dyn ObjectStore> = Arc::new(Counting {
            inner: store.clone(),
            read: read.clone(),
            stated,
        });
        let remote = RemoteStore::from_store(&location.url, counting, &prefix, true);
        let dir = tempfile::tempdir().unwrap();
        let fresh = repo_with_remote(&location, dir.path());
        let err = remote::pull_from(
            &fresh,
            &remote,
            &PullOptions {
                remote: "origin",
                datasets: &[],
                ..Default::default()
            },
            &NoSyncProgress,
        )
        .expect_err("the object is refused");
        assert!(err.to_string().contains(expect), "{stated:?}: {err}");
        let read = read.load(Ordering::SeqCst);
        assert!(read <= most, "{stated:?}: read {read} bytes, over {most}");
        assert!(fresh.datasets().unwrap().is_empty());
        assert_eq!(
            pail::maintain::fsck(&fresh).unwrap().objects,
            0,
            "no object was written"
        );
    }

    // A 20 MiB `cache/` entry that claims 100 bytes: read up to the entry limit, no more.
    let location = self::location(&backend);
    let (store, prefix) = raw_store(&location);
    plant(
        &store,
        &prefix,
        "pail-remote.json",
        "{\"pail_remote_format\": 1}",
    );
    let mut entry = vec![b' '; 20 << 20];
    entry[0] = b'R';
    block_on(store.put(
        &key(&prefix, &format!("cache/{}", "ef".repeat(32))),
        PutPayload::from(entry),
    ))
    .unwrap();
    let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counting: Arc<dyn ObjectStore> = Arc::new(Counting {
        inner: store.clone(),
        read: read.clone(),
        stated: Some(100),
    });
    let remote = RemoteStore::from_store(&location.url, counting, &prefix, true);
    let dir = tempfile::tempdir().unwrap();
    let fresh = repo_with_remote(&location, dir.path());
    // Only a trusted remote's cache is downloaded at all.
    remote::set_settings(
        &fresh,
        "origin",
        &pail::remote::RemoteSettings { trust_cache: true },
    )
    .unwrap();
    // An oversized entry is skipped like a stray key, having read at most its limit.
    let report = remote::pull_from(
        &fresh,
        &remote,
        &PullOptions {
            remote: "origin",
            datasets: &[],
            ..Default::default()
        },
        &NoSyncProgress,
    )
    .expect("the pull goes on without the entry");
    assert_eq!(report.cache_downloaded, 0, "{report:?}");
    let read = read.load(Ordering::SeqCst);
    let most = pail::remote::MAX_CACHE_ENTRY_BYTES + chunk + 1024;
    assert!(read <= most, "read {read} bytes, over {most}");
}

/// Reads an object's body straight from a remote.
fn remote_object(store: &Arc<dyn ObjectStore>, prefix: &str, id: &pail::ObjectId) -> Vec<u8> {
    let hex = id.to_hex();
    let path = key(prefix, &format!("objects/{}/{}", &hex[..2], &hex[2..]));
    let bytes = block_on(async { store.get(&path).await.unwrap().bytes().await.unwrap() });
    bytes[1..].to_vec()
}

/// Writes an object onto a remote directly, as an attacker with write access would.
fn upload_object(store: &Arc<dyn ObjectStore>, prefix: &str, kind: pail::Kind, body: &[u8]) {
    let id = pail::ObjectId::compute(kind, body);
    let hex = id.to_hex();
    let mut stored = vec![kind.code()];
    stored.extend_from_slice(body);
    block_on(store.put(
        &key(prefix, &format!("objects/{}/{}", &hex[..2], &hex[2..])),
        PutPayload::from(stored),
    ))
    .unwrap();
}

/// Publishes, as `name@1.0.1`, a copy of `base` (a commit on the remote) changed by `forge`,
/// with its objects; returns the forged commit's id.
fn publish_forged(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    name: &str,
    base: &pail::CommitId,
    forge: impl FnOnce(&mut pail::Commit, &mut pail::Node),
) -> pail::ObjectId {
    let mut commit = pail::Commit::decode(&remote_object(store, prefix, &base.object())).unwrap();
    let mut root = pail::Node::decode(&remote_object(store, prefix, &commit.rows)).unwrap();
    forge(&mut commit, &mut root);
    let (root_id, root_bytes) = root.encode();
    upload_object(store, prefix, pail::Kind::Node, &root_bytes);
    commit.rows = root_id;
    commit.parents = vec![*base];
    let (commit_id, commit_bytes) = commit.encode();
    upload_object(store, prefix, pail::Kind::Commit, &commit_bytes);
    plant(
        store,
        prefix,
        &format!("refs/datasets/local/default/{name}/versions/1.0.1"),
        &format!("{}\n", commit_id.to_hex()),
    );
    commit_id
}

#[test]
fn a_forged_leaf_entry_is_refused_on_pull_and_nothing_is_written() {
    for backend in backends() {
        let location = location(&backend);
        let (a_dir, v_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let alice = repo_with_remote(&location, a_dir.path());
        commit_records(&alice, "photos", 40, "real");
        // The attacker's leaf: the same keys and count, other values.
        commit_records(&alice, "evil", 40, "PWNED");
        push_all(&alice, &location, false).unwrap();
        let (store, prefix) = raw_store(&location);
        let photos = id_of(&alice, "photos");
        let evil_commit = alice.commit(&id_of(&alice, "evil")).unwrap();
        let evil_root =
            pail::Node::decode(&remote_object(&store, &prefix, &evil_commit.rows)).unwrap();
        let evil_leaf = evil_root.children[0].id;

        // The victim cloned photos (and evil, so the attacker's leaf is even local).
        let victim = repo_with_remote(&location, v_dir.path());
        pull_all(&victim, &location).unwrap();
        publish_forged(&store, &prefix, "photos", &photos, |_, root| {
            assert_eq!(root.children.len(), 1);
            root.children[0].id = evil_leaf;
        });
        let err = pull_all(&victim, &location).expect_err("the forged entry is refused");
        let message = err.to_string();
        assert!(
            message.contains("wrong digest") && message.contains("forged"),
            "{backend:?}: {message}"
        );
        assert_eq!(
            versions_of(&victim, "photos").len(),
            1,
            "nothing was written"
        );

        // A fresh clone, where nothing is local yet, refuses it too.
        let f_dir = tempfile::tempdir().unwrap();
        let fresh = repo_with_remote(&location, f_dir.path());
        let err = remote::pull(
            &fresh,
            &PullOptions {
                remote: "origin",
                datasets: &[fresh.parse_name("photos").unwrap()],
                store_options: &location.env,
            },
            &NoSyncProgress,
        )
        .expect_err("the forged entry is refused");
        assert!(err.to_string().contains("forged"), "{backend:?}: {err}");
        assert!(fresh.datasets().unwrap().is_empty());
        assert_eq!(
            pail::maintain::fsck(&fresh).unwrap().objects,
            0,
            "no object was written"
        );
    }
}

#[test]
fn a_leaf_that_does_not_match_its_commits_schema_is_refused_on_pull() {
    for backend in backends() {
        let location = location(&backend);
        let (a_dir, v_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let alice = repo_with_remote(&location, a_dir.path());
        commit_records(&alice, "photos", 40, "real");
        let options = pail::CommitOptions {
            name: alice.parse_name("nested").unwrap(),
            message: String::new(),
            bump: None,
            author: "t".into(),
            time: 0,
            command: Vec::new(),
            git: None,
            code: Vec::new(),
            inputs: Vec::new(),
        };
        let text: String = (0..40)
            .map(|idx| format!("{{\"id\": {idx}, \"tag\": {{\"h\": {idx}}}}}\n"))
            .collect();
        pail::commit::records(
            &alice,
            pail::Records::Reader(Box::new(std::io::Cursor::new(text.into_bytes()))),
            &pail::commit::RecordsOptions {
                schema: None,
                key: Some(vec!["id".into()]),
            },
            &options,
        )
        .unwrap();
        push_all(&alice, &location, false).unwrap();
        let (store, prefix) = raw_store(&location);
        let nested_schema = alice.commit(&id_of(&alice, "nested")).unwrap().schema;
        let victim = repo_with_remote(&location, v_dir.path());
        pull_all(&victim, &location).unwrap();
        // photos' rows under nested's schema: `tag` is a string where a struct is declared.
        publish_forged(
            &store,
            &prefix,
            "photos",
            &id_of(&alice, "photos"),
            |commit, _| {
                commit.schema = nested_schema;
            },
        );
        let err = pull_all(&victim, &location).expect_err("the mismatched leaf is refused");
        assert!(
            err.to_string().contains("do not match the schema"),
            "{backend:?}: {err}"
        );
        assert_eq!(
            versions_of(&victim, "photos").len(),
            1,
            "nothing was written"
        );
    }
}

#[test]
fn every_kind_of_dataset_passes_the_pulled_tree_checks() {
    // Listings (plain and hashed), a declared schema with File, enum, list, datetime and
    // optional fields, an inferred nested one with floats, and a keyless one: each is
    // re-hashed on clone exactly as its commit built it.
    let location = location(&Backend::Local);
    let alice = pail_for(&location);
    alice.ok(&["init"]);
    for idx in 0..300 {
        common::write_file(
            &alice.work.join(format!("photos/d{}/f{idx}.bin", idx % 7)),
            format!("file {idx}").as_bytes(),
        );
    }
    alice.ok(&["commit", "photos", "photos"]);
    alice.ok(&["commit", "hashed", "photos", "--hash"]);
    common::copy_clips_fixture(&alice.work);
    alice.ok(&[
        "commit",
        "clips",
        "--from",
        "clips.jsonl",
        "--schema",
        "clip.schema.json",
    ]);
    let mut nested = String::new();
    for idx in 0..500 {
        nested.push_str(&format!(
            "{{\"id\": {idx}, \"x\": 52.046970272007556, \"y\": {}, \"meta\": {{\"h\": {idx}, \"tags\": [\"a\", \"b\"], \"when\": null}}, \"big\": {}}}\n",
            idx as f64 / 3.0,
            i64::MAX - idx
        ));
    }
    alice.ok_stdin(&["commit", "nested", "--from", "-", "--key", "id"], &nested);
    alice.ok_stdin(&["commit", "keyless", "--from", "-"], &nested);
    alice.ok(&["remote", "add", "origin", &location.url]);
    alice.ok(&["push"]);
    let bob = pail_for(&location);
    let out = bob.run_env(&["clone", &location.url, "work"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for name in ["photos", "hashed", "clips", "nested", "keyless"] {
        assert!(
            out.stdout
                .contains(&format!("pulled local.default.{name}@1.0.0")),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn a_leaf_that_does_not_match_its_schema_is_a_query_error_not_a_panic() {
    // Pull refuses such a version; a store that holds one anyway (written by an older
    // pail) must still give readers an error, never a panic.
    let pail = Pail::new();
    pail.ok(&["init"]);
    pail.ok_stdin(
        &["commit", "photos", "--from", "-", "--key", "id"],
        &records(40, "real"),
    );
    let nested: String = (0..40)
        .map(|idx| format!("{{\"id\": {idx}, \"tag\": {{\"h\": {idx}}}}}\n"))
        .collect();
    pail.ok_stdin(&["commit", "nested", "--from", "-", "--key", "id"], &nested);
    let photos = pail.json(&["show", "photos", "--json"]);
    let nested = pail.json(&["show", "nested", "--json"]);
    {
        let db = common::RawDb::open(&pail.work);
        let photos_id = pail::ObjectId::from_hex(photos["id"].as_str().unwrap()).unwrap();
        let (_, bytes) = db.object(&photos_id);
        let mut commit = pail::Commit::decode(&bytes).unwrap();
        commit.schema = pail::ObjectId::from_hex(nested["schema"].as_str().unwrap()).unwrap();
        commit.parents = vec![pail::CommitId(photos_id)];
        let (id, bytes) = commit.encode();
        db.put_object(pail::Kind::Commit, &id, &bytes);
        db.write(|_, refs| {
            refs.insert(
                "datasets/local/default/photos/versions/1.0.1",
                id.0.as_slice(),
            )
            .unwrap();
        });
    }
    let runs: [&[&str]; 5] = [
        &["query", "SELECT tag.h FROM photos", "--format", "jsonl"],
        &[
            "query",
            "SELECT id FROM photos WHERE tag.h > 3",
            "--format",
            "jsonl",
        ],
        &["query", "SELECT * FROM photos", "--format", "jsonl"],
        &["checkout", "photos", "--to", "out", "--where", "tag.h = 3"],
        &["rows", "photos", "--json"],
    ];
    for args in runs {
        let out = pail.run_env(args, &[]);
        assert_ne!(out.code, 101, "{args:?} panicked: {}", out.stderr);
        assert_ne!(out.code, 0, "{args:?}: {}", out.stdout);
        assert!(out.stderr.starts_with("error"), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn pull_prints_skipped_refs_and_diverged_tags() {
    let location = location(&Backend::Local);
    let alice = pail_for(&location);
    alice.ok(&["init"]);
    alice.ok_stdin(
        &["commit", "ds", "--from", "-", "--key", "id"],
        &records(5, "a"),
    );
    alice.ok_stdin(
        &["commit", "ds", "--from", "-", "--key", "id"],
        &records(6, "b"),
    );
    alice.ok(&["tag", "ds@1.0.0", "golden"]);
    alice.ok(&["remote", "add", "origin", &location.url]);
    alice.ok(&["push"]);
    let bob = pail_for(&location);
    bob.ok(&["init"]);
    bob.ok(&["remote", "add", "origin", &location.url]);
    bob.ok(&["pull"]);
    bob.ok(&["tag", "ds@1.0.1", "golden", "--force"]);
    alice.ok_stdin(
        &["commit", "ds", "--from", "-", "--key", "id"],
        &records(7, "c"),
    );
    alice.ok(&["tag", "ds@1.0.2", "golden", "--force"]);
    alice.ok(&["push"]);
    let (store, prefix) = raw_store(&location);
    plant(&store, &prefix, "refs/README.txt", "hello\n");
    let out = bob.ok(&["pull"]);
    assert!(
        out.stderr.contains("warning: skipped refs/README.txt"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("warning: tag local.default.ds@golden diverged"),
        "{}",
        out.stderr
    );
    let pulled = bob.json(&["pull", "--json"]);
    assert_eq!(pulled["warnings"].as_array().unwrap().len(), 1, "{pulled}");
    assert_eq!(pulled["tags_diverged"][0]["tag"], "local.default.ds@golden");
}

/// The object keys under `objects/` of a remote, split into format-2 leaves and the rest.
fn object_keys(store: &Arc<dyn ObjectStore>, prefix: &str) -> (Vec<Path>, Vec<Path>) {
    let objects: Vec<Path> = block_on(
        store
            .list(Some(&key(prefix, "objects")))
            .map_ok(|meta| meta.location)
            .try_collect(),
    )
    .unwrap();
    objects
        .into_iter()
        .partition(|path| path.as_ref().contains("objects/leaf/"))
}

fn marker(store: &Arc<dyn ObjectStore>, prefix: &str) -> Value {
    let bytes = block_on(async {
        let path = key(prefix, "pail-remote.json");
        store.get(&path).await.unwrap().bytes().await.unwrap()
    });
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn new_remotes_store_leaves_as_plain_parquet_files() {
    for backend in backends() {
        let location = location(&backend);
        let alice = pail_for(&location);
        alice.ok(&["init"]);
        alice.ok_stdin(
            &["commit", "photos", "--from", "-", "--key", "id"],
            &records(50, "a"),
        );
        alice.ok(&["remote", "add", "origin", &location.url]);
        let out = alice.ok(&["push"]);
        assert!(!out.stderr.contains("remote upgrade"), "{}", out.stderr);
        let (store, prefix) = raw_store(&location);
        assert_eq!(marker(&store, &prefix)["pail_remote_format"], 2);
        let (leaves, others) = object_keys(&store, &prefix);
        assert!(!leaves.is_empty() && !others.is_empty(), "{backend:?}");
        for leaf in &leaves {
            let bytes = block_on(async { store.get(leaf).await.unwrap().bytes().await }).unwrap();
            assert!(
                bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
                "{backend:?}: {leaf} is not a plain Parquet file"
            );
            // The key names the id of the bytes as a leaf.
            let hex: String = leaf
                .as_ref()
                .rsplit('/')
                .take(2)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let id = pail::ObjectId::compute(pail::Kind::Leaf, &bytes);
            assert_eq!(id.to_hex(), hex, "{backend:?}");
        }
        for other in &others {
            let bytes = block_on(async { store.get(other).await.unwrap().bytes().await }).unwrap();
            assert_ne!(bytes.first(), Some(&pail::Kind::Leaf.code()), "{backend:?}");
        }
        let bob = pail_for(&location);
        bob.ok(&["clone", &location.url, "work"]);
        let out = bob.run_in(
            &bob.work.join("work"),
            &["fsck", "--remote", "origin"],
            None,
        );
        assert_eq!(out.code, 0, "{backend:?}: {}{}", out.stdout, out.stderr);
    }
}

#[test]
fn a_format_1_remote_stays_format_1_until_upgraded() {
    for backend in backends() {
        let location = location(&backend);
        let (store, prefix) = raw_store(&location);
        let instance = "0123456789abcdef0123456789abcdef";
        block_on(store.put(
            &key(&prefix, "pail-remote.json"),
            PutPayload::from(format!(
                "{{\"pail_remote_format\": 1, \"instance\": \"{instance}\"}}\n"
            )),
        ))
        .unwrap();
        let alice = pail_for(&location);
        alice.ok(&["init"]);
        alice.ok_stdin(
            &["commit", "photos", "--from", "-", "--key", "id"],
            &records(50, "a"),
        );
        alice.ok(&["remote", "add", "origin", &location.url]);
        let out = alice.ok(&["push"]);
        assert!(
            out.stderr.contains("`pail remote upgrade origin`"),
            "{backend:?}: {}",
            out.stderr
        );
        let pushed = alice.json(&["push", "--json"]);
        assert_eq!(pushed["remote_format"], 1, "{backend:?}");
        let (leaves, before) = object_keys(&store, &prefix);
        assert!(leaves.is_empty(), "{backend:?}: {leaves:?}");
        assert_eq!(marker(&store, &prefix)["pail_remote_format"], 1);
        let out = alice.fails(1, &["iceberg", "photos"]);
        assert!(
            out.stderr.contains("has no Iceberg table")
                && out.stderr.contains("`pail remote upgrade`"),
            "{backend:?}: {}",
            out.stderr
        );

        let out = alice.ok(&["remote", "upgrade", "origin"]);
        assert!(
            out.stdout.contains("format 1 -> 2, 1 leaves moved"),
            "{backend:?}: {}",
            out.stdout
        );
        let after = marker(&store, &prefix);
        assert_eq!(after["pail_remote_format"], 2, "{backend:?}");
        assert_eq!(
            after["instance"], instance,
            "{backend:?}: the instance is kept"
        );
        let (leaves, others) = object_keys(&store, &prefix);
        assert_eq!(leaves.len(), 1, "{backend:?}");
        assert_eq!(
            others.len(),
            before.len() - 1,
            "{backend:?}: the format-1 copy is gone"
        );
        let out = alice.ok(&["remote", "upgrade", "origin"]);
        assert!(
            out.stdout.contains("already has format 2"),
            "{}",
            out.stdout
        );

        // A second version goes to the format-2 layout; a clone reads both.
        alice.ok_stdin(
            &["commit", "photos", "--from", "-", "--key", "id"],
            &records(60, "b"),
        );
        let pushed = alice.json(&["push", "--json"]);
        assert_eq!(pushed["remote_format"], 2, "{backend:?}");
        let table = alice.json(&["iceberg", "photos", "--json"]);
        let refs: Vec<&str> = table["refs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|found| found["name"].as_str().unwrap())
            .collect();
        assert_eq!(refs, ["1.0.0", "1.0.1", "main"], "{backend:?}: {table}");
        let bob = pail_for(&location);
        bob.ok(&["clone", &location.url, "work"]);
        let work = bob.work.join("work");
        for version in ["1.0.0", "1.0.1"] {
            let out = bob.run_in(
                &work,
                &["show", &format!("photos@{version}"), "--json"],
                None,
            );
            assert_eq!(out.code, 0, "{backend:?}: {}", out.stderr);
        }
        let out = bob.run_in(&work, &["fsck", "--remote", "origin"], None);
        assert_eq!(out.code, 0, "{backend:?}: {}{}", out.stdout, out.stderr);
    }
}
