//! Shared helpers for the end-to-end tests: a temp workspace and a `pail` runner with a
//! cleared environment, a temp HOME, a fixed author and a fixed clock.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// A file under the repository's `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// Copies the clips fixture (records, their JSON Schema, the script that made them) into
/// `dir`.
pub fn copy_clips_fixture(dir: &Path) {
    for file in ["clips.jsonl", "clip.schema.json", "make_clips.py"] {
        std::fs::copy(fixture(&format!("clips/{file}")), dir.join(file)).unwrap();
    }
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct Pail {
    _dir: tempfile::TempDir,
    pub work: PathBuf,
    pub home: PathBuf,
    pub bin: PathBuf,
    pub extra_env: Vec<(String, String)>,
}

pub fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

impl Pail {
    pub fn new() -> Pail {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        Pail {
            work,
            home,
            bin: PathBuf::from(env!("CARGO_BIN_EXE_pail")),
            _dir: dir,
            extra_env: Vec::new(),
        }
    }

    pub fn env_vars(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            ("HOME".to_string(), self.home.display().to_string()),
            (
                "PATH".to_string(),
                std::env::var("PATH").unwrap_or_default(),
            ),
            (
                "PAIL_AUTHOR".to_string(),
                "Test Author <test@example.com>".to_string(),
            ),
            ("PAIL_TIME".to_string(), "2026-01-02T03:04:05Z".to_string()),
            ("GIT_CONFIG_NOSYSTEM".to_string(), "1".to_string()),
        ];
        vars.extend(self.extra_env.iter().cloned());
        vars
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .current_dir(&self.work)
            .env_clear()
            .envs(self.env_vars())
            .stdin(Stdio::null());
        command
    }

    pub fn run_full(
        &self,
        dir: &Path,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Output {
        let mut command = self.command(args);
        command.current_dir(dir);
        for (key, value) in env {
            command.env(key, value);
        }
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn().expect("pail runs");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            let input = input.to_string();
            std::thread::spawn(move || {
                let _ = pipe.write_all(input.as_bytes());
            });
        }
        let output = child.wait_with_output().unwrap();
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn run_in(&self, dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        self.run_full(dir, args, stdin, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.run_full(&self.work, args, None, env)
    }

    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run_in(&self.work, args, None);
        assert_eq!(
            out.code, 0,
            "pail {args:?} failed:\n{}\n{}",
            out.stdout, out.stderr
        );
        out
    }

    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let out = self.run_in(&self.work, args, Some(stdin));
        assert_eq!(
            out.code, 0,
            "pail {args:?} failed:\n{}\n{}",
            out.stdout, out.stderr
        );
        out
    }

    pub fn fails(&self, code: i32, args: &[&str]) -> Output {
        let out = self.run_in(&self.work, args, None);
        assert_eq!(
            out.code, code,
            "pail {args:?}:\n{}\n{}",
            out.stdout, out.stderr
        );
        assert!(
            out.stderr.contains("error"),
            "no error message: {}",
            out.stderr
        );
        out
    }

    pub fn fails_stdin(&self, code: i32, args: &[&str], stdin: &str) -> Output {
        let out = self.run_in(&self.work, args, Some(stdin));
        assert_eq!(
            out.code, code,
            "pail {args:?}:\n{}\n{}",
            out.stdout, out.stderr
        );
        out
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out.stdout).unwrap_or_else(|err| panic!("{err}: {}", out.stdout))
    }

    pub fn json_stdin(&self, args: &[&str], stdin: &str) -> Value {
        let out = self.ok_stdin(args, stdin);
        serde_json::from_str(&out.stdout).unwrap_or_else(|err| panic!("{err}: {}", out.stdout))
    }
}

/// The S3 test server, if `tests/run` started one; in CI its absence fails the test.
pub fn s3_endpoint() -> Option<String> {
    match std::env::var("PAIL_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "PAIL_TEST_S3_ENDPOINT is not set: run the suite through tests/run"
            );
            eprintln!("skipping: PAIL_TEST_S3_ENDPOINT is not set (tests/run sets it)");
            None
        }
    }
}

/// The environment pail needs for the S3 test server.
pub fn s3_env(endpoint: &str) -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), endpoint.into()),
        ("AWS_ALLOW_HTTP".into(), "true".into()),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
    ]
}

fn http(endpoint: &str, request: &str) -> String {
    use std::io::Read;
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).expect("the S3 server is reachable");
    stream
        .write_all(request.replace("{host}", host).as_bytes())
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// Creates a bucket (moto checks no signature), optionally with versioning on.
pub fn create_bucket(endpoint: &str, bucket: &str, versioned: bool) {
    let response = http(
        endpoint,
        &format!(
            "PUT /{bucket} HTTP/1.1\r\nHost: {{host}}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "create bucket: {response}"
    );
    if versioned {
        let body = "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>Enabled</Status></VersioningConfiguration>";
        let response = http(
            endpoint,
            &format!(
                "PUT /{bucket}?versioning HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "enable versioning: {response}"
        );
    }
}

/// A bucket name no other test uses.
pub fn unique_bucket(stem: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{stem}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// The raw object store behind `scheme://bucket` (`s3`, `az`), configured from `options`
/// (the `AWS_*` or `AZURE_*` variables a test passes to pail): for tampering and fault
/// injection below pail's remote layer.
pub fn raw_cloud_store(
    scheme: &str,
    bucket: &str,
    options: &[(String, String)],
) -> std::sync::Arc<dyn object_store::ObjectStore> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let configured = |prefix: &'static str| {
        options
            .iter()
            .filter(move |(key, _)| key.starts_with(prefix))
            .map(|(key, value)| (key.to_ascii_lowercase(), value))
    };
    match scheme {
        "s3" => {
            let mut builder = object_store::aws::AmazonS3Builder::new().with_bucket_name(bucket);
            for (key, value) in configured("AWS_") {
                builder = builder.with_config(key.parse().unwrap(), value);
            }
            std::sync::Arc::new(builder.build().unwrap())
        }
        "az" | "azure" => {
            let mut builder =
                object_store::azure::MicrosoftAzureBuilder::new().with_container_name(bucket);
            for (key, value) in configured("AZURE_") {
                builder = builder.with_config(key.parse().unwrap(), value);
            }
            std::sync::Arc::new(builder.build().unwrap())
        }
        _ => panic!("no raw store for {scheme}://"),
    }
}

/// The repository database at `<work>/.pail/pail.redb`, opened with redb itself through the
/// table layout docs/FORMAT.md gives (`objects`: id → kind code ‖ bytes, `refs`: name → id):
/// for tests that damage or forge what pail stored, or hold the database.
pub struct RawDb(pub redb::Database);

const OBJECTS: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("objects");
const REFS: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("refs");
pub type ObjectsTable<'txn> = redb::Table<'txn, &'static [u8], &'static [u8]>;
pub type RefsTable<'txn> = redb::Table<'txn, &'static str, &'static [u8]>;

impl RawDb {
    pub fn open(work: &Path) -> RawDb {
        RawDb(redb::Database::create(work.join(".pail/pail.redb")).unwrap())
    }

    /// Runs `change` in one write transaction and commits it.
    pub fn write(&self, change: impl FnOnce(&mut ObjectsTable, &mut RefsTable)) {
        let txn = self.0.begin_write().unwrap();
        {
            let mut objects = txn.open_table(OBJECTS).unwrap();
            let mut refs = txn.open_table(REFS).unwrap();
            change(&mut objects, &mut refs);
        }
        txn.commit().unwrap();
    }

    /// The stored object `id` as (kind, bytes).
    pub fn object(&self, id: &pail::ObjectId) -> (pail::Kind, Vec<u8>) {
        use redb::ReadableDatabase as _;
        let txn = self.0.begin_read().unwrap();
        let table = txn.open_table(OBJECTS).unwrap();
        let stored = table
            .get(id.0.as_slice())
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        (
            pail::Kind::from_code(stored[0]).unwrap(),
            stored[1..].to_vec(),
        )
    }

    /// Replaces (or adds) object `id`.
    pub fn put_object(&self, kind: pail::Kind, id: &pail::ObjectId, bytes: &[u8]) {
        let mut stored = vec![kind.code()];
        stored.extend_from_slice(bytes);
        self.write(|objects, _| {
            objects.insert(id.0.as_slice(), stored.as_slice()).unwrap();
        });
    }

    /// Deletes the first object of `kind` (in id order); returns its id.
    pub fn delete_object_of_kind(&self, kind: pail::Kind) -> pail::ObjectId {
        use redb::ReadableTable as _;
        let mut found = None;
        self.write(|objects, _| {
            for entry in objects.iter().unwrap() {
                let (key, stored) = entry.unwrap();
                if stored.value().first() == Some(&kind.code()) {
                    found = pail::ObjectId::from_slice(key.value());
                    break;
                }
            }
            let id = found.unwrap_or_else(|| panic!("the repository holds a {kind}"));
            objects.remove(id.0.as_slice()).unwrap();
        });
        found.unwrap()
    }
}
