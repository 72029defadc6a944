//! `pail map`: run a user's command over the rows of a version, in parallel, with durable
//! checkpoints, a result cache and delta updates, and save the results as a new version.
//!
//! A run is identified by its job id: the hash of the input commit, the command, the code
//! hash and the options that change results. Every finished row is persisted in the
//! `map_checkpoints` table (in batches, each one redb transaction) before it counts as
//! done, so a run killed at any point continues from what was persisted. Results are also
//! kept in the `map_cache` table under (row identity, command, code hash), so a repeated run
//! reads them instead of recomputing.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::name::{DatasetName, DatasetRef};
use crate::object::{Commit, CommitId, Input, ObjectId};
use crate::repo::{CommitOptions, CommitOutcome, Records, Repo, RepoError, row_key};
use crate::schema::{self, Schema};

/// Results persisted per checkpoint transaction, at most.
const CHECKPOINT_BATCH: usize = 256;
/// Rows looked up in the cache per transaction, and carried-over rows persisted per
/// transaction: both are cheap to redo, so they go in large batches.
const FEED_CHUNK: usize = 4096;
const CARRY_BATCH: usize = 8192;
/// A partial batch is persisted after this long.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum MapError {
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
    NoEarlierOutput { to: String, input: String },
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
}

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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapReport {
    pub n_rows: u64,
    pub ran: u64,
    pub resumed: u64,
    pub cached: u64,
    pub carried: u64,
    pub removed: u64,
    pub failed: u64,
    pub job: String,
}

/// An unfinished run, for `pail jobs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    pub job: String,
    pub input: String,
    pub to: String,
    pub command: String,
    pub done: u64,
}

/// Progress of a run: rows done so far and the total.
pub trait MapProgress: Sync {
    fn rows(&self, _done: u64, _total: u64) {}
}

pub struct NoMapProgress;
impl MapProgress for NoMapProgress {}

/// The identity of a row for the cache: the row with each File reduced to source, path,
/// etag and version, the fields that say which bytes it names.
pub fn row_identity(row: &Value) -> Vec<u8> {
    fn reduce(value: &Value) -> Value {
        match value {
            Value::Object(map)
                if map.contains_key("source")
                    && map.contains_key("path")
                    && map.contains_key("etag") =>
            {
                let mut reduced = Map::new();
                for key in ["source", "path", "etag", "version"] {
                    reduced.insert(
                        key.to_string(),
                        map.get(key).cloned().unwrap_or(Value::Null),
                    );
                }
                Value::Object(reduced)
            }
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), reduce(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(reduce).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_vec(&reduce(row)).expect("JSON values serialize")
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

fn decode_outcome(bytes: &[u8]) -> Option<Outcome> {
    let (&tag, rest) = bytes.split_first()?;
    match tag {
        b'R' => serde_json::from_slice(rest).ok().map(Outcome::Row),
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

/// Turns a worker's answer into the output row.
fn merge_result(
    input: &Value,
    answer: &str,
    replace: bool,
    schema: Option<&Schema>,
) -> Result<Value, String> {
    let result: Value = serde_json::from_str(answer.trim_end()).map_err(|err| {
        format!(
            "the worker's output is not JSON: {err}: {}",
            answer.trim_end().chars().take(200).collect::<String>()
        )
    })?;
    let Value::Object(fields) = &result else {
        return Err(format!(
            "the worker's output is not a JSON object: {}",
            answer.trim_end()
        ));
    };
    let result = match schema {
        Some(schema) => schema
            .validate(&result)
            .map_err(|violation| format!("the result breaks --schema: {violation}"))?,
        None => Value::Object(fields.clone()),
    };
    if replace {
        return Ok(result);
    }
    let mut merged = input.as_object().cloned().unwrap_or_default();
    if let Value::Object(fields) = result {
        for (key, value) in fields {
            merged.insert(key, value);
        }
    }
    Ok(Value::Object(merged))
}

struct Persist {
    job: ObjectId,
    pending: Vec<(Vec<u8>, Outcome, Option<ObjectId>)>,
    last: Instant,
}

impl Repo {
    /// Runs `options.command` over the rows of `options.input` and saves the results as a
    /// new version of `options.to`. See the module docs.
    pub fn map(
        &self,
        options: &MapOptions,
        progress: &dyn MapProgress,
    ) -> Result<(MapReport, CommitOutcome), RepoError> {
        let input = self.resolve(&options.input)?;
        let input_schema = self.schema(&input.commit.schema)?;
        let key_columns = input.commit.key.clone();
        if options.delta && options.replace {
            return Err(MapError::DeltaNeedsMerge.into());
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
            options.command.as_bytes(),
            &code_hash,
            &schema_bytes,
            flags.as_bytes(),
        ]);
        let mut report = MapReport {
            job: job.short(),
            ..Default::default()
        };

        {
            let store = self.store()?;
            let writer = store.write()?;
            writer.create_tables()?;
            if options.restart {
                writer.delete_job(&job)?;
            }
            let meta = serde_json::json!({
                "input": input.label(),
                "to": options.to.to_string(),
                "command": options.command,
            });
            writer.set_job(&job, meta.to_string().as_bytes())?;
            writer.commit()?;
        }
        let done = self.finished_rows(&job)?;

        // Delta: carry over the earlier output's rows whose input did not change.
        let mut previous_input: Option<(String, String, CommitId)> = None;
        if options.delta {
            previous_input =
                Some(self.carry_over(options, &input, &key_columns, &job, &done, &mut report)?);
        }
        let done = self.finished_rows(&job)?;
        report.resumed = (done.len() as u64).saturating_sub(report.carried);

        // Feed the rows that are not done to the workers; persist results in batches.
        let total = input.commit.n_rows;
        let (row_sender, row_receiver) =
            mpsc::sync_channel::<(Vec<u8>, Value)>(options.jobs.max(1) * 4);
        let row_receiver = Arc::new(Mutex::new(row_receiver));
        let (result_sender, result_receiver) =
            mpsc::channel::<(Vec<u8>, Outcome, Option<ObjectId>, bool)>();
        let n_workers = options.jobs.max(1);
        let fetcher = if options.fetch {
            let dir = self.dir().join("cache/files");
            std::fs::create_dir_all(&dir).map_err(|source| MapError::Io {
                path: dir.clone(),
                source,
            })?;
            Some((
                Arc::new(crate::checkout::FileFetcher::new(
                    &options.store_options,
                    self.fetched_from(&input.id)?,
                )),
                dir,
            ))
        } else {
            None
        };
        let mut handles = Vec::new();
        for _ in 0..n_workers {
            let row_receiver = row_receiver.clone();
            let result_sender = result_sender.clone();
            let command = options.command.clone();
            let cwd = options.cwd.clone();
            let replace = options.replace;
            let schema = options.schema.clone();
            let fetcher = fetcher.clone();
            handles.push(std::thread::spawn(move || -> Result<(), MapError> {
                let mut worker: Option<Worker> = None;
                loop {
                    let next = row_receiver
                        .lock()
                        .expect("the row queue is not poisoned")
                        .recv();
                    let Ok((key, row)) = next else { return Ok(()) };
                    if worker.is_none() {
                        worker = Some(Worker::start(&command, &cwd)?);
                    }
                    // With --fetch the worker gets the bytes' local path; the row itself
                    // (and so the output) does not carry it.
                    let mut sent = row.clone();
                    if let Some((fetcher, dir)) = &fetcher {
                        let identity = hash_parts(&[&row_identity(&row)]);
                        let fetched = match crate::checkout::FileRef::first_in(&row) {
                            Some(file) => {
                                let dest = dir.join(identity.to_hex());
                                fetcher
                                    .fetch(&file, &dest)
                                    .map(|()| dest)
                                    .map_err(|problem| problem.to_string())
                            }
                            None => Err("the row has no File to fetch".to_string()),
                        };
                        match fetched {
                            Ok(dest) => {
                                if let Value::Object(map) = &mut sent {
                                    map.insert(
                                        "local_path".into(),
                                        Value::String(dest.display().to_string()),
                                    );
                                }
                            }
                            Err(reason) => {
                                let identity = hash_parts(&[&row_identity(&row)]);
                                if result_sender
                                    .send((key, Outcome::Failed(reason), Some(identity), true))
                                    .is_err()
                                {
                                    return Ok(());
                                }
                                continue;
                            }
                        }
                    }
                    let line = serde_json::to_vec(&sent).expect("JSON values serialize");
                    let outcome = match worker.as_mut().expect("started above").call(&line) {
                        Ok(answer) => match merge_result(&row, &answer, replace, schema.as_ref()) {
                            Ok(output) => Outcome::Row(output),
                            Err(reason) => Outcome::Failed(reason),
                        },
                        Err(reason) => {
                            // The worker is gone: start a fresh one for the next row.
                            worker = None;
                            Outcome::Failed(reason)
                        }
                    };
                    let identity = hash_parts(&[&row_identity(&row)]);
                    if result_sender
                        .send((key, outcome, Some(identity), true))
                        .is_err()
                    {
                        return Ok(());
                    }
                }
            }));
        }
        drop(result_sender);

        // The feeder reads rows (short store opens per leaf group) and the cache.
        let mut persist = Persist {
            job,
            pending: Vec::new(),
            last: Instant::now(),
        };
        let mut n_done = done.len() as u64;
        let mut first_failure: Option<String> = None;
        let mut failed = 0u64;
        let mut feed_error: Option<RepoError> = None;
        let mut handle_result =
            |repo: &Repo,
             persist: &mut Persist,
             (key, outcome, identity, ran): (Vec<u8>, Outcome, Option<ObjectId>, bool),
             report: &mut MapReport|
             -> Result<(), RepoError> {
                match &outcome {
                    Outcome::Row(_) if ran => report.ran += 1,
                    Outcome::Row(_) => report.cached += 1,
                    Outcome::Failed(reason) => {
                        failed += 1;
                        if first_failure.is_none() {
                            first_failure = Some(reason.clone());
                        }
                    }
                }
                n_done += 1;
                progress.rows(n_done, total);
                if !ran {
                    // A cache hit was persisted with the lookup of its chunk.
                    return Ok(());
                }
                let cache_key =
                    identity.map(|identity| hash_parts(&[&cache_prefix.0, &identity.0]));
                persist.pending.push((key, outcome, cache_key));
                if persist.pending.len() >= CHECKPOINT_BATCH
                    || persist.last.elapsed() >= CHECKPOINT_EVERY
                {
                    repo.flush_checkpoints(persist)?;
                }
                Ok(())
            };

        // Rows go in chunks: one short store open looks up a chunk's cached results.
        let mut chunk: Vec<(Vec<u8>, Value)> = Vec::new();
        let mut process_chunk = |chunk: &mut Vec<(Vec<u8>, Value)>,
                                 persist: &mut Persist,
                                 report: &mut MapReport|
         -> Result<bool, RepoError> {
            let rows = std::mem::take(chunk);
            // Cache hits are looked up and persisted as done in one transaction per chunk:
            // opening the database costs syncs, so a warm run must not open it per row.
            let cached: Vec<Option<Outcome>> = if options.no_cache {
                vec![None; rows.len()]
            } else {
                let store = self.store()?;
                let writer = store.write()?;
                let mut cached = Vec::with_capacity(rows.len());
                for (key, row) in &rows {
                    let identity = hash_parts(&[&row_identity(row)]);
                    let cache_key = hash_parts(&[&cache_prefix.0, &identity.0]);
                    let hit = writer.map_cache(&cache_key.0)?;
                    let outcome = hit.as_deref().and_then(decode_outcome);
                    if let (Some(bytes), Some(Outcome::Row(_))) = (&hit, &outcome) {
                        writer.set_job_result(&job, key, bytes)?;
                    }
                    cached.push(outcome);
                }
                writer.commit()?;
                cached
            };
            for ((key, row), cached) in rows.into_iter().zip(cached) {
                if let Some(Outcome::Row(output)) = cached {
                    handle_result(
                        self,
                        persist,
                        (key, Outcome::Row(output), None, false),
                        report,
                    )?;
                    continue;
                }
                // Drain finished results while waiting for room in the queue.
                let mut item = (key, row);
                loop {
                    match row_sender.try_send(item) {
                        Ok(()) => break,
                        Err(mpsc::TrySendError::Full(back)) => {
                            item = back;
                            match result_receiver.recv_timeout(Duration::from_millis(20)) {
                                Ok(result) => handle_result(self, persist, result, report)?,
                                Err(mpsc::RecvTimeoutError::Timeout) => {}
                                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(false),
                            }
                        }
                        Err(mpsc::TrySendError::Disconnected(_)) => return Ok(false),
                    }
                }
                while let Ok(result) = result_receiver.try_recv() {
                    handle_result(self, persist, result, report)?;
                }
            }
            Ok(true)
        };
        let feed = self.for_each_row(&input.commit, |row| {
            let payload = serde_json::to_vec(&row).expect("JSON values serialize");
            let key = row_key(&key_columns, &row, &payload);
            if done.contains(&key) {
                return Ok(true);
            }
            chunk.push((key, row));
            if chunk.len() >= FEED_CHUNK {
                return process_chunk(&mut chunk, &mut persist, &mut report);
            }
            Ok(true)
        });
        let feed =
            feed.and_then(|()| process_chunk(&mut chunk, &mut persist, &mut report).map(|_| ()));
        if let Err(err) = feed {
            feed_error = Some(err);
        }
        drop(row_sender);
        for result in result_receiver.iter() {
            handle_result(self, &mut persist, result, &mut report)?;
        }
        for handle in handles {
            handle.join().expect("worker threads do not panic")?;
        }
        self.flush_checkpoints(&mut persist)?;
        if let Some(err) = feed_error {
            return Err(err);
        }
        report.failed = failed;
        if failed > options.max_errors {
            return Err(MapError::TooManyErrors {
                failed,
                max_errors: options.max_errors,
                first: first_failure.unwrap_or_default(),
            }
            .into());
        }

        // The output: every persisted row, committed as a new version of `to`.
        let outcome = self.commit_map_output(
            options,
            &input,
            &input_schema,
            &key_columns,
            &job,
            previous_input,
            &report,
        )?;
        {
            let store = self.store()?;
            let writer = store.write()?;
            writer.delete_job(&job)?;
            writer.commit()?;
        }
        report.n_rows = match &outcome {
            CommitOutcome::Created { commit, .. } => commit.n_rows,
            CommitOutcome::Unchanged { .. } => {
                report.ran + report.resumed + report.cached + report.carried - report.failed
            }
        };
        Ok((report, outcome))
    }

    fn flush_checkpoints(&self, persist: &mut Persist) -> Result<(), RepoError> {
        if persist.pending.is_empty() {
            persist.last = Instant::now();
            return Ok(());
        }
        let store = self.store()?;
        let writer = store.write()?;
        writer.create_tables()?;
        for (key, outcome, cache_key) in persist.pending.drain(..) {
            let bytes = encode_outcome(&outcome);
            writer.set_job_result(&persist.job, &key, &bytes)?;
            if let (Some(cache_key), Outcome::Row(_)) = (cache_key, &outcome) {
                writer.set_map_cache(&cache_key, &bytes)?;
            }
        }
        writer.commit()?;
        persist.last = Instant::now();
        Ok(())
    }

    /// Keys of the rows of `job` with a persisted result (failures are retried).
    fn finished_rows(&self, job: &ObjectId) -> Result<HashSet<Vec<u8>>, RepoError> {
        let store = self.read_store()?;
        let reader = store.read()?;
        Ok(reader
            .job_results(job)?
            .into_iter()
            .filter(|(_, bytes)| matches!(decode_outcome(bytes), Some(Outcome::Row(_))))
            .map(|(key, _)| key)
            .collect())
    }

    /// For `--delta`: persists, as done, the earlier output's rows whose input row is
    /// unchanged in the new input version. Returns the earlier input (name, version, id).
    fn carry_over(
        &self,
        options: &MapOptions,
        input: &crate::repo::Resolved,
        key_columns: &[String],
        job: &ObjectId,
        done: &HashSet<Vec<u8>>,
        report: &mut MapReport,
    ) -> Result<(String, String, CommitId), RepoError> {
        let no_earlier = || MapError::NoEarlierOutput {
            to: options.to.to_string(),
            input: input.name.to_string(),
        };
        let earlier = self
            .resolve(&DatasetRef {
                name: options.to.clone(),
                version: crate::name::VersionSpec::Latest,
            })
            .map_err(|_| no_earlier())?;
        let (old_name, old_version, old_id) = earlier
            .commit
            .inputs
            .iter()
            .find_map(|item| match item {
                Input::Dataset {
                    name,
                    version,
                    commit,
                } if *name == input.name.to_string() => {
                    Some((name.clone(), version.clone(), *commit))
                }
                _ => None,
            })
            .ok_or_else(no_earlier)?;
        let old_input = self.commit(&old_id)?;
        // Identity of every row of both input versions, by key.
        let identities = |commit: &Commit| -> Result<HashMap<Vec<u8>, ObjectId>, RepoError> {
            let mut map = HashMap::new();
            self.for_each_row(commit, |row| {
                let payload = serde_json::to_vec(&row).expect("JSON values serialize");
                map.insert(
                    row_key(key_columns, &row, &payload),
                    hash_parts(&[&row_identity(&row)]),
                );
                Ok(true)
            })?;
            Ok(map)
        };
        let new_ids = identities(&input.commit)?;
        let old_ids = identities(&old_input)?;
        report.removed = old_ids
            .keys()
            .filter(|key| !new_ids.contains_key(*key))
            .count() as u64;
        let mut persist = Persist {
            job: *job,
            pending: Vec::new(),
            last: Instant::now(),
        };
        let mut carried = 0u64;
        self.for_each_row(&earlier.commit, |row| {
            let payload = serde_json::to_vec(&row).expect("JSON values serialize");
            let key = row_key(key_columns, &row, &payload);
            let unchanged = match (old_ids.get(&key), new_ids.get(&key)) {
                (Some(old), Some(new)) => old == new,
                _ => false,
            };
            if unchanged && !done.contains(&key) {
                carried += 1;
                persist.pending.push((key, Outcome::Row(row), None));
                if persist.pending.len() >= CARRY_BATCH {
                    self.flush_checkpoints(&mut persist)?;
                }
            }
            Ok(true)
        })?;
        self.flush_checkpoints(&mut persist)?;
        report.carried = carried;
        Ok((old_name, old_version, old_id))
    }

    #[allow(clippy::too_many_arguments)]
    fn commit_map_output(
        &self,
        options: &MapOptions,
        input: &crate::repo::Resolved,
        input_schema: &Schema,
        key_columns: &[String],
        job: &ObjectId,
        previous_input: Option<(String, String, CommitId)>,
        report: &MapReport,
    ) -> Result<CommitOutcome, RepoError> {
        // Write the rows to a temporary JSON-lines file and commit it like `--from`.
        let tmp_dir = self.tmp_dir();
        std::fs::create_dir_all(&tmp_dir).map_err(|source| MapError::Io {
            path: tmp_dir.clone(),
            source,
        })?;
        let mut file =
            tempfile::NamedTempFile::new_in(&tmp_dir).map_err(|source| MapError::Io {
                path: tmp_dir.clone(),
                source,
            })?;
        let mut inferrer = schema::Inferrer::new();
        let mut line = 0u64;
        {
            let path = file.path().to_path_buf();
            let mut writer = std::io::BufWriter::new(file.as_file_mut());
            let store = self.store()?;
            let reader = store.read()?;
            reader.for_each_job_result(job, |_, bytes| -> Result<(), RepoError> {
                if let Some(Outcome::Row(row)) = decode_outcome(bytes) {
                    line += 1;
                    if options.schema.is_none() || !options.replace {
                        inferrer
                            .observe(line, &extra_fields(&row, input_schema, options.replace))?;
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
        // The output schema: the input's columns (unless replaced) plus the results'.
        let result_schema = match (&options.schema, options.replace) {
            (Some(declared), true) => declared.clone(),
            _ => {
                let inferred = inferrer.finish();
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
                    fields,
                }
            }
        };
        let mut commit_options = options.commit.clone();
        commit_options.name = options.to.clone();
        let mut inputs = vec![DatasetRef {
            name: input.name.clone(),
            version: crate::name::VersionSpec::TagOrPrefix(input.id.to_hex()),
        }];
        if let Some((name, _, id)) = previous_input
            && id != input.id
        {
            inputs.push(DatasetRef {
                name: DatasetName::parse_full(&name)?,
                version: crate::name::VersionSpec::TagOrPrefix(id.to_hex()),
            });
        }
        commit_options.inputs = inputs;
        if commit_options.message.is_empty() {
            commit_options.message = format!(
                "pail map: {} ran, {} resumed, {} from cache, {} carried over, {} removed",
                report.ran, report.resumed, report.cached, report.carried, report.removed
            );
        }
        let key = if options.replace || key_columns.is_empty() {
            None
        } else {
            Some(key_columns.to_vec())
        };
        let records = Records::Path(file.path().to_path_buf());
        let outcome = self.commit_records(records, Some(result_schema), key, &commit_options)?;
        drop(file);
        Ok(outcome)
    }

    /// Unfinished runs.
    pub fn jobs(&self) -> Result<Vec<JobInfo>, RepoError> {
        let store = self.store()?;
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

    /// Discards an unfinished run (by job id prefix).
    pub fn discard_job(&self, prefix: &str) -> Result<String, RepoError> {
        let store = self.store()?;
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
