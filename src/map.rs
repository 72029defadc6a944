//! `pail map`: run a user's command over the rows of a version, in parallel, with durable
//! checkpoints, a result cache and delta updates, and save the results as a new version.
//!
//! A run is identified by its job id: the hash of the input commit, the command, the code
//! hash and the options that change results. Every finished row is persisted in the
//! `map_checkpoints` table (in batches, each one redb transaction) before it counts as
//! done, so a run killed at any point continues from what was persisted. Results are also
//! kept in the `map_cache` table under (row identity, command, code hash), so a repeated run
//! reads them instead of recomputing.
//!
//! A cache entry holds the worker's result columns only, never a whole row: a hit is merged
//! onto the true input row like a fresh result. Entries pulled from a remote live apart
//! (`remote_map_cache`) and are used only for remotes the user trusts with them, and only
//! when they name no input column (see `remote_output`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::commit::{CommitOptions, CommitOutcome, Records, RecordsOptions, row_key};
use crate::name::{DatasetName, DatasetRef};
use crate::object::{Commit, CommitId, Input, ObjectId, decode_cache_entry, encode_cache_entry};
use crate::repo::{Repo, RepoError, Resolved};
use crate::schema::{self, Schema};
use crate::store::StoreError;

/// Results persisted per checkpoint transaction, at most.
const CHECKPOINT_BATCH: usize = 256;
/// Rows looked up in the cache per transaction, and carried-over rows persisted per
/// transaction: both are cheap to redo, so they go in large batches.
const FEED_CHUNK: usize = 4096;
const CARRY_BATCH: usize = 8192;
/// A partial batch is persisted after this long.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// Hashed into every cache key: entries of another layout (whole output rows, reduced row
/// identities) can never be hit.
const CACHE_FORMAT: &[u8] = b"pail-map-cache-2";

/// Why a `map` run failed.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error(transparent)]
    Commit(Box<crate::commit::CommitError>),
    #[error("could not start `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{failed} row(s) failed (more than --max-errors {max_errors}); the output was not saved. First: {first}"
    )]
    TooManyErrors {
        failed: u64,
        max_errors: u64,
        first: String,
    },
    #[error("--delta needs an earlier output of {to} made from {input}; there is none")]
    NoEarlierOutput {
        // Boxed: names are large, and an error should be small.
        to: Box<DatasetName>,
        input: Box<DatasetName>,
    },
    #[error(
        "--delta needs merged results (without --replace), so each output row keeps its input's key"
    )]
    DeltaNeedsMerge,
    #[error("could not write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no unfinished run {job}")]
    NoSuchJob { job: String },
    #[error("the run was stopped; the rows it finished are kept")]
    Stopped,
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<StoreError> for MapError {
    fn from(err: StoreError) -> Self {
        MapError::Repo(err.into())
    }
}

/// What `map` runs over which input, and where the output goes.
#[derive(Debug, Clone)]
pub struct MapOptions {
    pub input: DatasetRef,
    pub command: String,
    pub to: DatasetName,
    pub jobs: usize,
    pub replace: bool,
    pub schema: Option<Schema>,
    pub max_errors: u64,
    pub no_cache: bool,
    pub delta: bool,
    pub restart: bool,
    /// Code files: path as given and bytes; hashed into the cache key.
    pub code: Vec<(String, Vec<u8>)>,
    /// Other files the command names (found by the caller in the working tree), hashed too.
    pub named_files: Vec<(String, Vec<u8>)>,
    /// Working directory of the workers.
    pub cwd: PathBuf,
    /// Download each row's File first and pass its path as `local_path`.
    pub fetch: bool,
    /// Store settings from the environment, for `fetch`.
    pub store_options: Vec<(String, String)>,
    /// Lineage of the output commit.
    pub commit: CommitOptions,
}

/// What a run did, row by row (`view::MapView` is its JSON form, with the output version).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapStats {
    pub n_rows: u64,
    pub ran: u64,
    pub resumed: u64,
    /// Results taken from this repository's own cache.
    pub cached: u64,
    /// Results taken from a trusted remote's cache, by remote name.
    pub remote_cached: BTreeMap<String, u64>,
    pub carried: u64,
    pub removed: u64,
    pub failed: u64,
    pub job: String,
}

/// The outcome of a run: what it did and the output version it committed.
#[derive(Debug, Clone)]
pub struct MapReport {
    pub stats: MapStats,
    pub outcome: CommitOutcome,
}

/// An unfinished run, for `pail jobs` (`view::JobView` is its JSON form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    pub job: String,
    pub input: String,
    pub to: String,
    pub command: String,
    pub done: u64,
}

/// Progress of a run: rows done so far and the total, and whether to stop.
pub trait MapProgress: Sync {
    /// Called as rows finish, with the rows done and the total.
    fn rows(&self, _done: u64, _total: u64) {}

    /// Whether the caller wants the run to stop (Ctrl-C in Python). Asked for every row
    /// fed and every 20 ms while waiting on the workers, so it must be cheap. A stopped
    /// run gives no output and rows in flight finish first; what finished is persisted,
    /// so running again resumes. (`MapError::Stopped`.)
    fn stop(&self) -> bool {
        false
    }
}

/// A map progress sink that ignores everything.
pub struct NoMapProgress;
impl MapProgress for NoMapProgress {}

/// The identity of a row for the cache: the whole input row, every column and every field
/// of each File (source, path, size, etag, version, last_modified, blake3), since the
/// command can read all of them. Nothing is left out: a changed value is a cache miss.
pub(crate) fn row_identity(row: &Value) -> Vec<u8> {
    crate::rows::canonical::encode(row)
}

fn hash_parts(parts: &[&[u8]]) -> ObjectId {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    ObjectId(*hasher.finalize().as_bytes())
}

/// What a checkpoint or cache entry holds.
#[derive(Debug, Clone)]
enum Outcome {
    /// The output row.
    Row(Value),
    /// The row failed: why.
    Failed(String),
}

fn encode_outcome(outcome: &Outcome) -> Vec<u8> {
    match outcome {
        Outcome::Row(row) => {
            let mut bytes = vec![b'R'];
            bytes.extend(serde_json::to_vec(row).expect("JSON values serialize"));
            bytes
        }
        Outcome::Failed(reason) => {
            let mut bytes = vec![b'E'];
            bytes.extend(reason.as_bytes());
            bytes
        }
    }
}

/// The output row a remote's cache entry gives `input`, or None if the entry may not be
/// used: it must name no input column (it adds result columns, never changes the row it
/// was keyed by) and follow `--schema` when one is given. With `--replace` the result is
/// the whole row, as it would be computed.
pub(crate) fn remote_output(
    input: &Value,
    entry: Map<String, Value>,
    replace: bool,
    schema: Option<&Schema>,
) -> Option<Value> {
    if !replace
        && let Value::Object(columns) = input
        && entry.keys().any(|key| columns.contains_key(key))
    {
        return None;
    }
    let result = match schema {
        Some(schema) => match schema.validate(&Value::Object(entry)).ok()? {
            Value::Object(fields) => fields,
            _ => return None,
        },
        None => entry,
    };
    Some(merge(input, result, replace))
}

fn decode_outcome(bytes: &[u8]) -> Option<Outcome> {
    let (&tag, rest) = bytes.split_first()?;
    match tag {
        b'R' => crate::rows::json::parse(std::str::from_utf8(rest).ok()?)
            .ok()
            .map(Outcome::Row),
        b'E' => Some(Outcome::Failed(String::from_utf8_lossy(rest).into_owned())),
        _ => None,
    }
}

/// A long-lived worker process: one JSON line in, one JSON line out.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Worker {
    fn start(command: &str, cwd: &Path) -> Result<Worker, MapError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| MapError::Spawn {
                command: command.to_string(),
                source,
            })?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        Ok(Worker {
            child,
            stdin,
            stdout,
        })
    }

    /// Sends one row and reads its result line.
    fn call(&mut self, line: &[u8]) -> Result<String, String> {
        self.stdin
            .write_all(line)
            .and_then(|_| self.stdin.write_all(b"\n"))
            .and_then(|_| self.stdin.flush())
            .map_err(|err| format!("the worker stopped reading its input ({err})"))?;
        let mut answer = String::new();
        match self.stdout.read_line(&mut answer) {
            Ok(0) => Err("the worker exited without answering".to_string()),
            Ok(_) => Ok(answer),
            Err(err) => Err(format!("reading the worker's output failed: {err}")),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The output row: the result columns added to the input row (or, with `replace`, alone).
fn merge(input: &Value, result: Map<String, Value>, replace: bool) -> Value {
    if replace {
        return Value::Object(result);
    }
    let mut merged = input.as_object().cloned().unwrap_or_default();
    for (key, value) in result {
        merged.insert(key, value);
    }
    Value::Object(merged)
}

/// Turns a worker's answer into its result columns, checked against `--schema`.
fn parse_answer(answer: &str, schema: Option<&Schema>) -> Result<Map<String, Value>, String> {
    // Read as a record is: a number no f64 holds keeps its text (a decimal column takes it
    // exactly), and the bare NaN / Infinity tokens are read.
    let result: Value = crate::rows::json::parse_record(answer.trim_end()).map_err(|err| {
        format!(
            "the worker's output is not JSON: {err}: {}",
            answer.trim_end().chars().take(200).collect::<String>()
        )
    })?;
    // A JSON string instead of an object is the worker's own reason for failing the row.
    if let Value::String(reason) = &result {
        return Err(format!("the worker failed the row: {reason}"));
    }
    let Value::Object(fields) = &result else {
        return Err(format!(
            "the worker's output is not a JSON object: {}",
            answer.trim_end()
        ));
    };
    match schema {
        Some(schema) => match schema
            .validate(&result)
            .map_err(|violation| format!("the result breaks --schema: {violation}"))?
        {
            Value::Object(fields) => Ok(fields),
            other => Err(format!(
                "the result breaks --schema: {other} is not an object"
            )),
        },
        None => Ok(fields.clone()),
    }
}

/// Where a finished row's outcome came from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// A worker ran it.
    Ran,
    /// This repository's cache.
    Cache,
    /// The cache of the trusted remote at this index.
    RemoteCache(usize),
}

/// A cache entry to store: its key in `map_cache` and its bytes.
struct CacheEntry {
    key: ObjectId,
    bytes: Vec<u8>,
}

/// A finished row from a worker or the cache: its key, outcome, the cache entry to store
/// for it and where it came from.
struct Finished {
    key: Vec<u8>,
    outcome: Outcome,
    cache: Option<CacheEntry>,
    source: Source,
}

/// An outcome to persist, with the cache entry to store for it.
struct Pending {
    key: Vec<u8>,
    outcome: Outcome,
    cache: Option<CacheEntry>,
}

struct Persist {
    job: ObjectId,
    pending: Vec<Pending>,
    last: Instant,
}

/// What a run is, resolved from the options before any row runs.
struct RunPlan {
    input: Resolved,
    input_schema: Schema,
    key_columns: Vec<String>,
    /// The run's identity: input commit, command, code, schema and flags, output name.
    job: ObjectId,
    /// Hashed with a row's identity into its cache key.
    cache_prefix: ObjectId,
    /// The remotes whose cache entries the user trusts, in name order.
    trusted: Vec<String>,
}

/// The earlier output's input, for `--delta`: recorded as an input of the new output when
/// it differs from this run's.
struct EarlierInput {
    name: String,
    id: CommitId,
}

/// The job's metadata, as stored for `pail jobs` (fields in the order they are written).
#[derive(serde::Serialize)]
struct JobMeta<'a> {
    command: &'a str,
    input: &'a str,
    to: &'a str,
}

/// Runs `options.command` over the rows of `options.input` and saves the results as a new
/// version of `options.to`. See the module docs.
pub fn map(
    repo: &Repo,
    options: &MapOptions,
    progress: &dyn MapProgress,
) -> Result<MapReport, MapError> {
    let plan = plan(repo, options)?;
    let mut stats = MapStats {
        job: plan.job.short(),
        ..Default::default()
    };
    start_job(repo, options, &plan)?;
    let done = finished_rows(repo, &plan.job)?;

    // Delta: carry over the earlier output's rows whose input did not change.
    let earlier = if options.delta {
        Some(carry_over(repo, options, &plan, &done, &mut stats)?)
    } else {
        None
    };
    let done = finished_rows(repo, &plan.job)?;
    stats.resumed = (done.len() as u64).saturating_sub(stats.carried);

    run_rows(repo, options, &plan, &done, &mut stats, progress)?;

    // The output: every persisted row, committed as a new version of `to`.
    let output = commit_output(repo, options, &plan, earlier, &stats)?;
    {
        let store = repo.store()?;
        let writer = store.write()?;
        writer.delete_job(&plan.job)?;
        writer.commit()?;
    }
    // The rows the output holds, as written, never derived from the other counts.
    stats.n_rows = match &output.outcome {
        CommitOutcome::Created { commit, .. } => commit.n_rows,
        CommitOutcome::Unchanged { .. } => output.rows_written,
    };
    Ok(MapReport {
        stats,
        outcome: output.outcome,
    })
}

/// Resolves the input and computes the run's job id and cache prefix.
fn plan(repo: &Repo, options: &MapOptions) -> Result<RunPlan, MapError> {
    let input = repo.resolve(&options.input)?;
    let input_schema = repo.schema(&input.commit.schema)?;
    let key_columns = input.commit.key.clone();
    if options.delta && options.replace {
        return Err(MapError::DeltaNeedsMerge);
    }
    let mut code_hasher = blake3::Hasher::new();
    for (path, bytes) in options.code.iter().chain(&options.named_files) {
        code_hasher.update(path.as_bytes());
        code_hasher.update(&[0]);
        code_hasher.update(blake3::hash(bytes).as_bytes());
    }
    let code_hash = *code_hasher.finalize().as_bytes();
    let schema_bytes = options
        .schema
        .as_ref()
        .map(crate::object::encode)
        .unwrap_or_default();
    let flags = format!("replace={}", options.replace);
    let job = hash_parts(&[
        &input.id.object().0,
        options.command.as_bytes(),
        &code_hash,
        &schema_bytes,
        flags.as_bytes(),
        options.to.to_string().as_bytes(),
    ]);
    let cache_prefix = hash_parts(&[
        CACHE_FORMAT,
        options.command.as_bytes(),
        &code_hash,
        &schema_bytes,
        flags.as_bytes(),
    ]);
    let trusted = if options.no_cache {
        Vec::new()
    } else {
        let store = repo.read_store()?;
        let reader = store.read()?;
        crate::remote::trusted_cache_remotes(&reader)?
    };
    Ok(RunPlan {
        input,
        input_schema,
        key_columns,
        job,
        cache_prefix,
        trusted,
    })
}

/// Records the job (for `pail jobs`), discarding what an earlier run persisted when
/// asked to restart.
fn start_job(repo: &Repo, options: &MapOptions, plan: &RunPlan) -> Result<(), RepoError> {
    let store = repo.store()?;
    let writer = store.write()?;
    writer.create_tables()?;
    if options.restart {
        writer.delete_job(&plan.job)?;
    }
    let meta = JobMeta {
        command: &options.command,
        input: &plan.input.label(),
        to: &options.to.to_string(),
    };
    let meta = serde_json::to_vec(&meta).expect("job metadata serializes");
    writer.set_job(&plan.job, &meta)?;
    writer.commit()?;
    Ok(())
}

/// What the workers share: how to run a row.
struct WorkerSettings {
    command: String,
    cwd: PathBuf,
    replace: bool,
    schema: Option<Schema>,
    cache_prefix: ObjectId,
    /// With `--fetch`: the fetcher and the directory the files go to.
    fetch: Option<(crate::checkout::FileFetcher, PathBuf)>,
    /// Set when the run stops: workers take no further row.
    stopped: AtomicBool,
}

impl WorkerSettings {
    /// The line a worker gets for `row`: with `--fetch`, the row plus the local path of
    /// its File's bytes (the row itself, and so the output, does not carry it).
    fn prepare(&self, row: &Value) -> Result<Value, String> {
        let mut sent = row.clone();
        let Some((fetcher, dir)) = &self.fetch else {
            return Ok(sent);
        };
        let identity = hash_parts(&[&row_identity(row)]);
        let dest = match crate::checkout::FileRef::first_in(row) {
            Some(file) => {
                let dest = dir.join(identity.to_hex());
                fetcher
                    .fetch(&file, &dest)
                    .map(|()| dest)
                    .map_err(|problem| problem.to_string())
            }
            None => Err("the row has no File to fetch".to_string()),
        }?;
        if let Value::Object(map) = &mut sent {
            map.insert(
                "local_path".into(),
                Value::String(dest.display().to_string()),
            );
        }
        Ok(sent)
    }

    /// Runs one row on the worker (dropped when it fails to answer, so that the next row
    /// starts a fresh one).
    fn run(
        &self,
        worker: &mut Option<Worker>,
        row: &Value,
        sent: &Value,
    ) -> (Outcome, Option<CacheEntry>) {
        let current = worker.as_mut().expect("started before the row");
        let line = serde_json::to_vec(sent).expect("JSON values serialize");
        // The cache keeps the result columns only; the output row merges them onto the
        // input row, as a cache hit does.
        match current.call(&line) {
            Ok(answer) => match parse_answer(&answer, self.schema.as_ref()) {
                Ok(result) => {
                    let identity = hash_parts(&[&row_identity(row)]);
                    let entry = CacheEntry {
                        key: hash_parts(&[&self.cache_prefix.0, &identity.0]),
                        bytes: encode_cache_entry(&result),
                    };
                    (Outcome::Row(merge(row, result, self.replace)), Some(entry))
                }
                Err(reason) => (Outcome::Failed(reason), None),
            },
            Err(reason) => {
                *worker = None;
                (Outcome::Failed(reason), None)
            }
        }
    }
}

/// One worker thread: runs rows from the queue until it closes. The worker process is
/// started at the first row.
fn work(
    settings: &WorkerSettings,
    rows: &Mutex<mpsc::Receiver<(Vec<u8>, Value)>>,
    results: &mpsc::Sender<Finished>,
) -> Result<(), MapError> {
    let mut worker: Option<Worker> = None;
    loop {
        let next = rows.lock().expect("the row queue is not poisoned").recv();
        let Ok((key, row)) = next else { return Ok(()) };
        if settings.stopped.load(Ordering::Relaxed) {
            // Not run, so not persisted: the next run does it.
            return Ok(());
        }
        if worker.is_none() {
            worker = Some(Worker::start(&settings.command, &settings.cwd)?);
        }
        let (outcome, cache) = match settings.prepare(&row) {
            Ok(sent) => settings.run(&mut worker, &row, &sent),
            Err(reason) => (Outcome::Failed(reason), None),
        };
        let finished = Finished {
            key,
            outcome,
            cache,
            source: Source::Ran,
        };
        if results.send(finished).is_err() {
            return Ok(());
        }
    }
}

/// The worker threads, the queue that feeds them and the channel of their results.
struct Pool {
    rows: mpsc::SyncSender<(Vec<u8>, Value)>,
    results: mpsc::Receiver<Finished>,
    handles: Vec<std::thread::JoinHandle<Result<(), MapError>>>,
    settings: Arc<WorkerSettings>,
}

fn start_pool(repo: &Repo, options: &MapOptions, plan: &RunPlan) -> Result<Pool, MapError> {
    let (row_sender, row_receiver) =
        mpsc::sync_channel::<(Vec<u8>, Value)>(options.jobs.max(1) * 4);
    let row_receiver = Arc::new(Mutex::new(row_receiver));
    let (result_sender, result_receiver) = mpsc::channel::<Finished>();
    let fetch = if options.fetch {
        let dir = repo.dir().join("cache/files");
        std::fs::create_dir_all(&dir).map_err(|source| MapError::Io {
            path: dir.clone(),
            source,
        })?;
        let fetcher = crate::checkout::FileFetcher::new(
            &options.store_options,
            crate::checkout::fetched_from(repo, &plan.input.id)?,
        );
        Some((fetcher, dir))
    } else {
        None
    };
    let settings = Arc::new(WorkerSettings {
        command: options.command.clone(),
        cwd: options.cwd.clone(),
        replace: options.replace,
        schema: options.schema.clone(),
        cache_prefix: plan.cache_prefix,
        fetch,
        stopped: AtomicBool::new(false),
    });
    let handles = (0..options.jobs.max(1))
        .map(|_| {
            let rows = row_receiver.clone();
            let results = result_sender.clone();
            let settings = settings.clone();
            std::thread::spawn(move || work(&settings, &rows, &results))
        })
        .collect();
    Ok(Pool {
        rows: row_sender,
        results: result_receiver,
        handles,
        settings,
    })
}

/// Counts finished rows, reports progress and persists what workers computed.
struct Collector<'a> {
    persist: Persist,
    n_done: u64,
    total: u64,
    failed: u64,
    first_failure: Option<String>,
    trusted: &'a [String],
    progress: &'a dyn MapProgress,
    stats: &'a mut MapStats,
    /// The caller asked the run to stop (sticky).
    stopped: bool,
}

impl Collector<'_> {
    /// Whether the run is stopping: asks the caller until it says so once.
    fn stopping(&mut self) -> bool {
        if !self.stopped && self.progress.stop() {
            self.stopped = true;
        }
        self.stopped
    }

    /// Handles every result until the workers are gone, asking the caller meanwhile
    /// whether to stop (then the workers take no further row).
    fn drain(
        &mut self,
        repo: &Repo,
        results: &mpsc::Receiver<Finished>,
        settings: &WorkerSettings,
    ) -> Result<(), RepoError> {
        loop {
            if self.stopping() {
                settings.stopped.store(true, Ordering::Relaxed);
            }
            match results.recv_timeout(Duration::from_millis(20)) {
                Ok(result) => self.handle(repo, result)?,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }

    fn handle(&mut self, repo: &Repo, finished: Finished) -> Result<(), RepoError> {
        match (&finished.outcome, finished.source) {
            (Outcome::Row(_), Source::Ran) => self.stats.ran += 1,
            (Outcome::Row(_), Source::Cache) => self.stats.cached += 1,
            (Outcome::Row(_), Source::RemoteCache(idx)) => {
                *self
                    .stats
                    .remote_cached
                    .entry(self.trusted[idx].clone())
                    .or_default() += 1;
            }
            (Outcome::Failed(reason), _) => {
                self.failed += 1;
                if self.first_failure.is_none() {
                    self.first_failure = Some(reason.clone());
                }
            }
        }
        self.n_done += 1;
        self.progress.rows(self.n_done, self.total);
        if !matches!(finished.source, Source::Ran) {
            // A cache hit was persisted with the lookup of its chunk.
            return Ok(());
        }
        self.persist.pending.push(Pending {
            key: finished.key,
            outcome: finished.outcome,
            cache: finished.cache,
        });
        if self.persist.pending.len() >= CHECKPOINT_BATCH
            || self.persist.last.elapsed() >= CHECKPOINT_EVERY
        {
            flush_checkpoints(repo, &mut self.persist)?;
        }
        Ok(())
    }
}

/// Runs every row not yet done: cache hits first, the rest on the workers, persisting
/// results in batches.
fn run_rows(
    repo: &Repo,
    options: &MapOptions,
    plan: &RunPlan,
    done: &HashSet<Vec<u8>>,
    stats: &mut MapStats,
    progress: &dyn MapProgress,
) -> Result<(), MapError> {
    let pool = start_pool(repo, options, plan)?;
    let mut collector = Collector {
        persist: Persist {
            job: plan.job,
            pending: Vec::new(),
            last: Instant::now(),
        },
        n_done: done.len() as u64,
        total: plan.input.commit.n_rows,
        failed: 0,
        first_failure: None,
        trusted: &plan.trusted,
        progress,
        stats,
        stopped: false,
    };
    // The feeder reads rows (short store opens per leaf group) and the cache, in chunks:
    // one short store open looks up a chunk's cached results.
    let mut chunk: Vec<(Vec<u8>, Value)> = Vec::new();
    let feed = repo.for_each_row(&plan.input.commit, |row| {
        let payload = crate::rows::canonical::encode(&row);
        let key = row_key(&plan.key_columns, &row, &payload);
        if done.contains(&key) {
            return Ok(true);
        }
        if collector.stopping() {
            return Ok(false);
        }
        chunk.push((key, row));
        if chunk.len() >= FEED_CHUNK {
            return process_chunk(repo, options, plan, &pool, &mut collector, &mut chunk);
        }
        Ok(true)
    });
    let feed = feed.and_then(|()| {
        if collector.stopping() {
            chunk.clear();
        }
        process_chunk(repo, options, plan, &pool, &mut collector, &mut chunk).map(|_| ())
    });
    let Pool {
        rows,
        results,
        handles,
        settings,
    } = pool;
    drop(rows);
    collector.drain(repo, &results, &settings)?;
    for handle in handles {
        handle.join().expect("worker threads do not panic")?;
    }
    flush_checkpoints(repo, &mut collector.persist)?;
    feed?;
    if collector.stopped {
        return Err(MapError::Stopped);
    }
    let failed = collector.failed;
    collector.stats.failed = failed;
    if failed > options.max_errors {
        return Err(MapError::TooManyErrors {
            failed,
            max_errors: options.max_errors,
            first: collector.first_failure.unwrap_or_default(),
        });
    }
    Ok(())
}

/// Looks a chunk of rows up in the caches: this repository's own first, then each
/// trusted remote's. Hits are persisted as done in the same transaction: opening the
/// database costs syncs, so a warm run must not open it per row.
fn lookup_cache(
    repo: &Repo,
    options: &MapOptions,
    plan: &RunPlan,
    rows: &[(Vec<u8>, Value)],
) -> Result<Vec<Option<(Value, Source)>>, RepoError> {
    if options.no_cache {
        return Ok(vec![None; rows.len()]);
    }
    let store = repo.store()?;
    let writer = store.write()?;
    let mut cached = Vec::with_capacity(rows.len());
    for (key, row) in rows {
        let identity = hash_parts(&[&row_identity(row)]);
        let cache_key = hash_parts(&[&plan.cache_prefix.0, &identity.0]);
        let mut hit = writer
            .map_cache(&cache_key.0)?
            .and_then(|bytes| decode_cache_entry(&bytes))
            .map(|result| (merge(row, result, options.replace), Source::Cache));
        for (idx, remote) in plan.trusted.iter().enumerate() {
            if hit.is_some() {
                break;
            }
            hit = writer
                .remote_map_cache(remote, &cache_key)?
                .and_then(|bytes| decode_cache_entry(&bytes))
                .and_then(|entry| {
                    remote_output(row, entry, options.replace, options.schema.as_ref())
                })
                .map(|output| (output, Source::RemoteCache(idx)));
        }
        if let Some((output, _)) = &hit {
            let bytes = encode_outcome(&Outcome::Row(output.clone()));
            writer.set_job_result(&plan.job, key, &bytes)?;
        }
        cached.push(hit);
    }
    writer.commit()?;
    Ok(cached)
}

/// Takes a chunk of rows: cache hits count as done, the rest go to the workers. False
/// when the workers are gone.
fn process_chunk(
    repo: &Repo,
    options: &MapOptions,
    plan: &RunPlan,
    pool: &Pool,
    collector: &mut Collector<'_>,
    chunk: &mut Vec<(Vec<u8>, Value)>,
) -> Result<bool, RepoError> {
    let rows = std::mem::take(chunk);
    let cached = lookup_cache(repo, options, plan, &rows)?;
    for ((key, row), cached) in rows.into_iter().zip(cached) {
        if let Some((output, source)) = cached {
            let finished = Finished {
                key,
                outcome: Outcome::Row(output),
                cache: None,
                source,
            };
            collector.handle(repo, finished)?;
            continue;
        }
        // Drain finished results while waiting for room in the queue.
        let mut item = (key, row);
        loop {
            if collector.stopping() {
                return Ok(false);
            }
            match pool.rows.try_send(item) {
                Ok(()) => break,
                Err(mpsc::TrySendError::Full(back)) => {
                    item = back;
                    match pool.results.recv_timeout(Duration::from_millis(20)) {
                        Ok(result) => collector.handle(repo, result)?,
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(false),
                    }
                }
                Err(mpsc::TrySendError::Disconnected(_)) => return Ok(false),
            }
        }
        while let Ok(result) = pool.results.try_recv() {
            collector.handle(repo, result)?;
        }
    }
    Ok(true)
}

fn flush_checkpoints(repo: &Repo, persist: &mut Persist) -> Result<(), RepoError> {
    if persist.pending.is_empty() {
        persist.last = Instant::now();
        return Ok(());
    }
    let store = repo.store()?;
    let writer = store.write()?;
    writer.create_tables()?;
    for pending in persist.pending.drain(..) {
        let bytes = encode_outcome(&pending.outcome);
        writer.set_job_result(&persist.job, &pending.key, &bytes)?;
        if let (Some(entry), Outcome::Row(_)) = (pending.cache, &pending.outcome) {
            writer.set_map_cache(&entry.key, &entry.bytes)?;
        }
    }
    writer.commit()?;
    persist.last = Instant::now();
    Ok(())
}

/// Keys of the rows of `job` with a persisted result (failures are retried).
fn finished_rows(repo: &Repo, job: &ObjectId) -> Result<HashSet<Vec<u8>>, RepoError> {
    let store = repo.read_store()?;
    let reader = store.read()?;
    Ok(reader
        .job_results(job)?
        .into_iter()
        .filter(|(_, bytes)| matches!(decode_outcome(bytes), Some(Outcome::Row(_))))
        .map(|(key, _)| key)
        .collect())
}

/// The identity of every row of a version, by key.
fn row_identities(
    repo: &Repo,
    commit: &Commit,
    key_columns: &[String],
) -> Result<HashMap<Vec<u8>, ObjectId>, RepoError> {
    let mut map = HashMap::new();
    repo.for_each_row(commit, |row| {
        let payload = crate::rows::canonical::encode(&row);
        map.insert(
            row_key(key_columns, &row, &payload),
            hash_parts(&[&row_identity(&row)]),
        );
        Ok(true)
    })?;
    Ok(map)
}

/// For `--delta`: persists, as done, the earlier output's rows whose input row is
/// unchanged in the new input version. Returns the earlier output's input.
fn carry_over(
    repo: &Repo,
    options: &MapOptions,
    plan: &RunPlan,
    done: &HashSet<Vec<u8>>,
    stats: &mut MapStats,
) -> Result<EarlierInput, MapError> {
    let input = &plan.input;
    let no_earlier = || MapError::NoEarlierOutput {
        to: Box::new(options.to.clone()),
        input: Box::new(input.name.clone()),
    };
    let earlier = repo
        .resolve(&DatasetRef {
            name: options.to.clone(),
            version: crate::name::VersionSpec::Latest,
        })
        .map_err(|_| no_earlier())?;
    let earlier_input = earlier
        .commit
        .inputs
        .iter()
        .find_map(|item| match item {
            Input::Dataset { name, commit, .. } if *name == input.name.to_string() => {
                Some(EarlierInput {
                    name: name.clone(),
                    id: *commit,
                })
            }
            _ => None,
        })
        .ok_or_else(no_earlier)?;
    let old_input = repo.commit(&earlier_input.id)?;
    let new_ids = row_identities(repo, &input.commit, &plan.key_columns)?;
    let old_ids = row_identities(repo, &old_input, &plan.key_columns)?;
    stats.removed = old_ids
        .keys()
        .filter(|key| !new_ids.contains_key(*key))
        .count() as u64;
    let mut persist = Persist {
        job: plan.job,
        pending: Vec::new(),
        last: Instant::now(),
    };
    let mut carried = 0u64;
    repo.for_each_row(&earlier.commit, |row| {
        let payload = crate::rows::canonical::encode(&row);
        let key = row_key(&plan.key_columns, &row, &payload);
        let unchanged = match (old_ids.get(&key), new_ids.get(&key)) {
            (Some(old), Some(new)) => old == new,
            _ => false,
        };
        if unchanged && !done.contains(&key) {
            carried += 1;
            persist.pending.push(Pending {
                key,
                outcome: Outcome::Row(row),
                cache: None,
            });
            if persist.pending.len() >= CARRY_BATCH {
                flush_checkpoints(repo, &mut persist)?;
            }
        }
        Ok(true)
    })?;
    flush_checkpoints(repo, &mut persist)?;
    stats.carried = carried;
    Ok(earlier_input)
}

/// The output version, and the rows written for it.
struct Output {
    outcome: CommitOutcome,
    rows_written: u64,
}

/// The persisted rows of a job, in a temporary JSON-lines file, and the schema inferred
/// from their result columns.
struct OutputRows {
    file: tempfile::NamedTempFile,
    rows: u64,
    inferred: Schema,
}

/// Writes the rows to a temporary JSON-lines file, to commit like `--from`.
fn write_output_rows(
    repo: &Repo,
    options: &MapOptions,
    plan: &RunPlan,
) -> Result<OutputRows, MapError> {
    let tmp_dir = repo.tmp_dir();
    std::fs::create_dir_all(&tmp_dir).map_err(|source| MapError::Io {
        path: tmp_dir.clone(),
        source,
    })?;
    // Owned, so `gc` removes it if this process is killed before the commit.
    let mut file = crate::repo::owned_temp_file(&tmp_dir).map_err(|source| MapError::Io {
        path: tmp_dir.clone(),
        source,
    })?;
    let mut inferrer = schema::Inferrer::new();
    let mut line = 0u64;
    {
        let path = file.path().to_path_buf();
        let mut writer = std::io::BufWriter::new(file.as_file_mut());
        let store = repo.store()?;
        let reader = store.read()?;
        reader.for_each_job_result(&plan.job, |_, bytes| -> Result<(), MapError> {
            if let Some(Outcome::Row(row)) = decode_outcome(bytes) {
                line += 1;
                if options.schema.is_none() || !options.replace {
                    let extra = extra_fields(&row, &plan.input_schema, options.replace);
                    inferrer.observe(line, &extra).map_err(RepoError::from)?;
                }
                serde_json::to_writer(&mut writer, &row).expect("JSON values serialize");
                writer.write_all(b"\n").map_err(|source| MapError::Io {
                    path: path.clone(),
                    source,
                })?;
            }
            Ok(())
        })?;
        writer
            .flush()
            .map_err(|source| MapError::Io { path, source })?;
    }
    Ok(OutputRows {
        file,
        rows: line,
        inferred: inferrer.finish(),
    })
}

/// The output schema: the input's columns (unless replaced) plus the results'.
fn output_schema(options: &MapOptions, input_schema: &Schema, inferred: Schema) -> Schema {
    if let (Some(declared), true) = (&options.schema, options.replace) {
        return declared.clone();
    }
    let mut fields = if options.replace {
        Vec::new()
    } else {
        input_schema.fields.clone()
    };
    let declared = options
        .schema
        .as_ref()
        .map(|s| s.fields.clone())
        .unwrap_or_default();
    for field in declared.into_iter().chain(inferred.fields) {
        if !fields.iter().any(|existing| existing.name == field.name) {
            fields.push(field);
        }
    }
    Schema {
        format: schema::SCHEMA_FORMAT,
        columns: None,
        constraints: None,
        fields,
    }
}

/// The output's commit options: its name, its inputs (this run's, and the earlier
/// output's when `--delta` made it from another version) and a message saying how each
/// row was made.
fn output_commit_options(
    options: &MapOptions,
    plan: &RunPlan,
    earlier: Option<EarlierInput>,
    stats: &MapStats,
) -> Result<CommitOptions, MapError> {
    let mut commit_options = options.commit.clone();
    commit_options.name = options.to.clone();
    let mut inputs = vec![DatasetRef {
        name: plan.input.name.clone(),
        version: crate::name::VersionSpec::TagOrPrefix(plan.input.id.to_hex()),
    }];
    if let Some(earlier) = earlier
        && earlier.id != plan.input.id
    {
        inputs.push(DatasetRef {
            name: DatasetName::parse_full(&earlier.name).map_err(RepoError::from)?,
            version: crate::name::VersionSpec::TagOrPrefix(earlier.id.to_hex()),
        });
    }
    commit_options.inputs = inputs;
    if commit_options.message.is_empty() {
        let remote_cached: String = stats
            .remote_cached
            .iter()
            .map(|(remote, n)| format!(", {n} from {remote}'s cache"))
            .collect();
        commit_options.message = format!(
            "pail map: {} ran, {} resumed, {} from cache{remote_cached}, {} carried over, {} removed",
            stats.ran, stats.resumed, stats.cached, stats.carried, stats.removed
        );
    }
    Ok(commit_options)
}

/// Commits every persisted row of the job as a new version of `options.to`.
fn commit_output(
    repo: &Repo,
    options: &MapOptions,
    plan: &RunPlan,
    earlier: Option<EarlierInput>,
    stats: &MapStats,
) -> Result<Output, MapError> {
    let rows = write_output_rows(repo, options, plan)?;
    let result_schema = output_schema(options, &plan.input_schema, rows.inferred);
    let commit_options = output_commit_options(options, plan, earlier, stats)?;
    let key = if options.replace || plan.key_columns.is_empty() {
        None
    } else {
        Some(plan.key_columns.clone())
    };
    let records = Records::Path(rows.file.path().to_path_buf());
    let outcome = crate::commit::records(
        repo,
        records,
        &RecordsOptions {
            schema: Some(result_schema),
            key,
        },
        &commit_options,
    )
    .map_err(|err| MapError::Commit(Box::new(err)))?;
    drop(rows.file);
    Ok(Output {
        outcome,
        rows_written: rows.rows,
    })
}

/// Unfinished runs.
pub fn jobs(repo: &Repo) -> Result<Vec<JobInfo>, RepoError> {
    let store = repo.store()?;
    let reader = store.read()?;
    let mut jobs = Vec::new();
    for (job, meta) in reader.jobs()? {
        let meta: Value = serde_json::from_slice(&meta).unwrap_or(Value::Null);
        let text = |key: &str| {
            meta.get(key)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        jobs.push(JobInfo {
            job: job.short(),
            input: text("input"),
            to: text("to"),
            command: text("command"),
            done: reader.job_results(&job)?.len() as u64,
        });
    }
    Ok(jobs)
}

/// Discards an unfinished run (by job id prefix); returns its short id.
pub fn discard_job(repo: &Repo, prefix: &str) -> Result<String, MapError> {
    let store = repo.store()?;
    let writer = store.write()?;
    writer.create_tables()?;
    let found = writer
        .jobs()?
        .into_iter()
        .map(|(job, _)| job)
        .find(|job| job.to_hex().starts_with(prefix))
        .ok_or_else(|| MapError::NoSuchJob {
            job: prefix.to_string(),
        })?;
    writer.delete_job(&found)?;
    writer.commit()?;
    Ok(found.short())
}

/// The part of an output row that inference should type: the result columns only, since
/// the input's columns keep their declared types.
fn extra_fields(row: &Value, input_schema: &Schema, replace: bool) -> Value {
    if replace {
        return row.clone();
    }
    let mut extra = row.as_object().cloned().unwrap_or_default();
    for field in &input_schema.fields {
        extra.remove(&field.name);
    }
    Value::Object(extra)
}

/// The files a command line names that exist in `cwd`, with their bytes: part of the
/// cache key, so editing the script invalidates its cached results.
pub fn named_files(command: &str, cwd: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for word in command.split_whitespace() {
        let word = word.trim_matches(|c| c == '\'' || c == '"');
        let path = cwd.join(word);
        if path.is_file()
            && let Ok(bytes) = std::fs::read(&path)
        {
            files.push((word.to_string(), bytes));
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Arbitrary JSON, with keys that collide with a typical input row's columns. (No
    /// floats: serde_json's parser does not round-trip every f64, which is not at issue.)
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("text|score|n|[a-z]{1,3}", inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn the_identity_covers_every_column_and_every_file_field() {
        let row = json!({
            "file": {"source": "s3://b", "path": "a.jpg", "etag": "\"e\"", "size": 3,
                     "version": null, "last_modified": 1, "blake3": "ab"},
            "meta": {"label": "cat"},
        });
        let base = row_identity(&row);
        for (pointer, value) in [
            ("/meta/label", json!("dog")),
            ("/file/size", json!(4)),
            ("/file/blake3", json!("cd")),
            ("/file/last_modified", json!(2)),
            ("/file/version", json!("v2")),
        ] {
            let mut changed = row.clone();
            *changed.pointer_mut(pointer).unwrap() = value;
            assert_ne!(
                row_identity(&changed),
                base,
                "{pointer} is not in the identity"
            );
        }
    }

    #[test]
    fn a_json_string_answer_fails_the_row_with_its_reason() {
        assert_eq!(
            parse_answer("\"ValueError: no dogs\"\n", None),
            Err("the worker failed the row: ValueError: no dogs".to_string())
        );
        let other = parse_answer("[1]\n", None).unwrap_err();
        assert!(other.starts_with("the worker's output is not a JSON object"));
        let fields = parse_answer("{\"n\": 1}\n", None).unwrap();
        assert_eq!(Value::Object(fields), json!({"n": 1}));
    }

    #[test]
    fn a_remote_entry_never_replaces_an_input_column() {
        let input = json!({"n": 1, "text": "true text"});
        let hostile = decode_cache_entry(br#"R{"score": 999, "text": "PWNED"}"#).unwrap();
        assert_eq!(remote_output(&input, hostile, false, None), None);
        let added = decode_cache_entry(br#"R{"score": 999}"#).unwrap();
        assert_eq!(
            remote_output(&input, added, false, None),
            Some(json!({"n": 1, "text": "true text", "score": 999}))
        );
        // Deep nesting is refused by the JSON parser's recursion limit, not a crash.
        let mut deep = vec![b'R'];
        deep.extend(std::iter::repeat_n(b'[', 100_000));
        assert_eq!(decode_cache_entry(&deep), None);
        assert_eq!(decode_cache_entry(b""), None);
        assert_eq!(decode_cache_entry(b"E{}"), None);
        assert_eq!(decode_cache_entry(b"R[1]"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Fuzz target for the decoding of cache entries: any bytes give an entry or
        /// nothing, never a panic.
        #[test]
        fn fuzz_cache_entry_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if decode_cache_entry(&bytes).is_some() {
                prop_assert_eq!(bytes[0], b'R');
            }
            let mut tagged = vec![b'R'];
            tagged.extend(&bytes);
            let _ = decode_cache_entry(&tagged);
        }

        /// Any JSON behind `R`, against any input row: the entry decodes iff it is an
        /// object, and what it gives never changes an input column.
        #[test]
        fn fuzz_cache_entry_json(
            entry in json_value(),
            input in proptest::collection::btree_map("text|score|n", json_value(), 0..4),
            replace in any::<bool>(),
        ) {
            let input = Value::Object(input.into_iter().collect());
            let mut bytes = vec![b'R'];
            bytes.extend(serde_json::to_vec(&entry).unwrap());
            let decoded = decode_cache_entry(&bytes);
            prop_assert_eq!(decoded.is_some(), entry.is_object());
            if let Some(fields) = decoded
                && let Some(output) = remote_output(&input, fields, replace, None)
            {
                if replace {
                    prop_assert_eq!(&output, &entry);
                } else {
                    for (key, value) in input.as_object().unwrap() {
                        prop_assert_eq!(&output[key], value);
                    }
                }
            }
        }
    }
}
