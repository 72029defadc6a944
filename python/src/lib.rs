//! `pail._pail`: the extension module under the `pail` Python package (python/pail/).
//!
//! A thin layer over the library's public API: every call parses its arguments, releases
//! the GIL while the library works, and answers with the library's own view structs as
//! JSON text (`pail::view`, the form `--json` prints) or with Arrow record batches through
//! the Arrow C stream interface (PyCapsule). Errors become `pail.UserError` (exit code 1)
//! or `pail.InternalError` (2) with the message, causes and hint the CLI prints
//! (`pail::cli::classify`). The pure-Python layer (python/pail/__init__.py) shapes these
//! into the public API.

use std::error::Error as _;
use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatchReader;
use arrow_array::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use pail::checkout;
use pail::cli::{CliError, classify};
use pail::commit::{self, CommitOptions, ListingOptions, NoProgress, Records, RecordsOptions};
use pail::remote::{self, AddOptions, NoSyncProgress, PullOptions, PushOptions};
use pail::{Bump, Repo, Resolved, Schema, view};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule};

mod map;

/// The capsule name the Arrow PyCapsule interface gives a C stream.
const STREAM_CAPSULE: &CStr = c"arrow_array_stream";

/// A stream of record batches that can be read once, from any thread.
type BatchReader = Box<dyn RecordBatchReader + Send>;

/// The Python exception for a library error: `UserError` for exit code 1, `InternalError`
/// for 2, each with the message, the causes and the hint the CLI prints.
fn py_error(py: Python<'_>, err: CliError) -> PyErr {
    let (code, hint) = classify(&err);
    let message = err.to_string();
    let mut causes = Vec::new();
    let mut last = message.clone();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !last.contains(&text) {
            causes.push(text.clone());
        }
        last = text;
        source = cause.source();
    }
    let class = if code == 1 {
        "UserError"
    } else {
        "InternalError"
    };
    let made = py
        .import("pail._errors")
        .and_then(|module| module.getattr(class))
        .and_then(|class| class.call1((message, hint, causes, code)));
    match made {
        Ok(value) => PyErr::from_value(value),
        Err(err) => err,
    }
}

/// A usage error (exit code 1) this layer finds itself.
fn usage(message: impl Into<String>, hint: Option<&str>) -> CliError {
    CliError::Usage {
        message: message.into(),
        hint: hint.map(str::to_string),
    }
}

/// Runs `work` with the GIL released (it waits on disks and networks), then raises its
/// error as a Python exception.
fn detached<T: Send>(
    py: Python<'_>,
    work: impl FnOnce() -> Result<T, CliError> + Send,
) -> PyResult<T> {
    py.detach(work).map_err(|err| py_error(py, err))
}

/// A view struct as JSON text; `pail/__init__.py` loads it.
fn json(view: &impl serde::Serialize) -> String {
    view::to_json(view).to_string()
}

/// A model's JSON Schema text as a schema; the text keeps the model's declared field
/// order, as the CLI's --schema does.
fn model_schema(text: &str) -> Result<Schema, CliError> {
    let doc: serde_json::Value = serde_json::from_str(text)
        .map_err(|err| usage(format!("the schema is not JSON: {err}"), None))?;
    Ok(Schema::from_json_schema_text(&doc, text).map_err(pail::RepoError::from)?)
}

fn current_dir() -> Result<PathBuf, CliError> {
    std::env::current_dir().map_err(|source| CliError::Io {
        what: "the current directory".into(),
        source,
    })
}

/// An environment variable as text: unset, empty or not Unicode is None.
fn env_text(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The AWS_*, AZURE_* and GOOGLE_* variables the object stores read, as the CLI gathers
/// them (read at each call, so `os.environ` changes apply).
fn store_options() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(key, _)| {
            key.starts_with("AWS_") || key.starts_with("AZURE_") || key.starts_with("GOOGLE_")
        })
        .collect()
}

/// The clock commits record: PAIL_TIME (whole seconds or RFC 3339), as the CLI reads it,
/// or now; in µs since the epoch.
fn now_micros() -> Result<i64, CliError> {
    let Some(text) = env_text("PAIL_TIME") else {
        return Ok(chrono::Utc::now().timestamp_micros());
    };
    text.parse::<i64>()
        .ok()
        .and_then(|seconds| seconds.checked_mul(1_000_000))
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(&text)
                .ok()
                .map(|time| time.timestamp_micros())
        })
        .ok_or_else(|| CliError::Environment {
            name: "PAIL_TIME".into(),
            value: text,
            expected: "an RFC 3339 time (2026-01-02T03:04:05Z) or whole seconds since the epoch",
        })
}

/// Record batches for Python: an object with `__arrow_c_stream__`, read once.
#[pyclass(module = "pail._pail")]
struct ArrowStream {
    reader: Mutex<Option<BatchReader>>,
}

impl ArrowStream {
    fn new(reader: BatchReader) -> ArrowStream {
        ArrowStream {
            reader: Mutex::new(Some(reader)),
        }
    }
}

#[pymethods]
impl ArrowStream {
    /// The Arrow PyCapsule interface: hands the stream over (once) as an
    /// `arrow_array_stream` capsule. `requested_schema` is not honoured: the batches come
    /// in their own schema, which the interface allows.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let reader = self
            .reader
            .lock()
            .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("stream lock poisoned"))?
            .take()
            .ok_or_else(|| {
                pyo3::exceptions::PyValueError::new_err("this stream of batches was read already")
            })?;
        PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(reader), STREAM_CAPSULE)
    }
}

/// Reads an object with `__arrow_c_stream__` (a pyarrow Table or RecordBatchReader, a
/// polars DataFrame, ...) as record batches.
fn import_stream(data: &Bound<'_, PyAny>) -> PyResult<ArrowArrayStreamReader> {
    let capsule = data.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let pointer = capsule.pointer_checked(Some(STREAM_CAPSULE))?;
    // SAFETY: the capsule is named `arrow_array_stream`, so by the Arrow PyCapsule
    // interface it points at a valid FFI_ArrowArrayStream; `from_raw` moves the stream out
    // and marks the capsule's copy released, so the capsule's destructor does nothing.
    unsafe { ArrowArrayStreamReader::from_raw(pointer.as_ptr().cast()) }
        .map_err(|err| pyo3::exceptions::PyValueError::new_err(err.to_string()))
}

/// A repository, as `pail.Repo` wraps it.
#[pyclass(module = "pail._pail", name = "Repo", frozen)]
struct PyRepo {
    repo: Repo,
}

/// The parts of `repo.commit(...)` besides the rows: a dict with these keys, from
/// `pail/__init__.py`.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct CommitArgs {
    name: String,
    message: String,
    bump: Option<String>,
    key: Option<Vec<String>>,
    /// A JSON Schema document as text (e.g. Pydantic's `model_json_schema()`).
    schema: Option<String>,
    inputs: Vec<String>,
    code: Vec<PathBuf>,
    /// Hash every new or changed object of a listed source.
    hash: bool,
}

/// The rows of a commit.
enum Rows {
    /// A storage source to list (a URI or a local directory).
    Source(String),
    /// JSON lines.
    JsonLines(Vec<u8>),
    /// Arrow record batches.
    Batches(ArrowArrayStreamReader),
}

impl PyRepo {
    fn resolve(&self, reference: &str) -> Result<Resolved, CliError> {
        Ok(self.repo.resolve(&self.repo.parse_ref(reference)?)?)
    }

    fn commit_options(&self, args: &CommitArgs, cwd: &Path) -> Result<CommitOptions, CliError> {
        let bump = match args.bump.as_deref() {
            None => None,
            Some("patch") => Some(Bump::Patch),
            Some("minor") => Some(Bump::Minor),
            Some("major") => Some(Bump::Major),
            Some(other) => {
                return Err(usage(
                    format!("bump must be patch, minor or major, not {other:?}"),
                    None,
                ));
            }
        };
        let mut code = Vec::new();
        for path in &args.code {
            let bytes = std::fs::read(cwd.join(path)).map_err(|source| CliError::Io {
                what: format!("code file {}", path.display()),
                source,
            })?;
            code.push((path.display().to_string(), bytes));
        }
        let inputs = args
            .inputs
            .iter()
            .map(|text| self.repo.parse_ref(text))
            .collect::<Result<Vec<_>, _>>()?;
        let author = env_text("PAIL_AUTHOR")
            .or_else(|| pail::lineage::git_author(cwd))
            .unwrap_or_else(|| "unknown".to_string());
        Ok(CommitOptions {
            name: self.repo.parse_name(&args.name)?,
            message: args.message.clone(),
            bump,
            author,
            time: now_micros()?,
            command: Vec::new(),
            git: pail::lineage::git_state(cwd),
            code,
            inputs,
        })
    }

    fn commit_rows(&self, args: &CommitArgs, rows: Rows) -> Result<String, CliError> {
        let cwd = current_dir()?;
        let options = self.commit_options(args, &cwd)?;
        let schema = args.schema.as_deref().map(model_schema).transpose()?;
        let shape = RecordsOptions {
            schema,
            key: args.key.clone(),
        };
        let outcome = match rows {
            Rows::Source(text) => {
                let source = pail::parse_source(&text, &cwd, &store_options())
                    .map_err(|err| CliError::Commit(err.into()))?;
                let listing = ListingOptions {
                    source,
                    hash: args.hash,
                    versions: false,
                    listed_at: options.time,
                };
                commit::listing(&self.repo, &listing, &options, &NoProgress)?
            }
            Rows::JsonLines(bytes) => commit::records(
                &self.repo,
                Records::Reader(Box::new(std::io::Cursor::new(bytes))),
                &shape,
                &options,
            )?,
            Rows::Batches(reader) => commit::records(
                &self.repo,
                Records::Batches(Box::new(reader)),
                &shape,
                &options,
            )?,
        };
        Ok(json(&view::CommitView::new(&outcome)))
    }
}

#[pymethods]
impl PyRepo {
    /// Opens the repository at `PAIL_DIR`, else the `.pail/` in `path` (default: the
    /// current directory) or its nearest parent that has one, as the CLI finds it.
    #[new]
    #[pyo3(signature = (path = None))]
    fn new(py: Python<'_>, path: Option<PathBuf>) -> PyResult<PyRepo> {
        detached(py, || {
            let cwd = current_dir()?;
            let repo = match (path, std::env::var_os("PAIL_DIR").filter(|v| !v.is_empty())) {
                (Some(path), _) => Repo::discover(&cwd.join(path))?,
                (None, Some(dir)) => {
                    let dir = cwd.join(dir);
                    if !dir.join("pail.redb").is_file() {
                        return Err(pail::RepoError::NotARepository { start: dir }.into());
                    }
                    Repo::open(&dir)?
                }
                (None, None) => Repo::discover(&cwd)?,
            };
            Ok(PyRepo { repo })
        })
    }

    /// Creates `.pail/` in `path` (as `pail init` there does) and opens it.
    #[staticmethod]
    fn init(py: Python<'_>, path: PathBuf) -> PyResult<PyRepo> {
        detached(py, || {
            let dir = current_dir()?.join(path).join(pail::repo::PAIL_DIR);
            let (repo, _created) = Repo::init(&dir)?;
            Ok(PyRepo { repo })
        })
    }

    /// The repository directory (`.pail`).
    #[getter]
    fn dir(&self) -> PathBuf {
        self.repo.dir().to_path_buf()
    }

    /// The version a ref names (`show --json`), as JSON text.
    fn show(&self, py: Python<'_>, reference: &str) -> PyResult<String> {
        detached(py, || {
            let found = self.resolve(reference)?;
            let tags = pail::tags::tags_of(&self.repo, &found.id)?;
            Ok(json(&view::VersionView::new(&found, &tags)))
        })
    }

    /// The schema of a version (`schema --json`), as JSON text.
    fn schema(&self, py: Python<'_>, reference: &str) -> PyResult<String> {
        detached(py, || {
            let found = self.resolve(reference)?;
            let schema = self.repo.schema(&found.commit.schema)?;
            Ok(json(
                &view::SchemaView::new(&found, &schema).with_columns(&schema),
            ))
        })
    }

    /// The rows of a version as a stream of record batches, in key order; leaves are read
    /// as the stream is, so memory stays bounded.
    fn batches(&self, py: Python<'_>, reference: &str) -> PyResult<ArrowStream> {
        detached(py, || {
            let found = self.resolve(reference)?;
            let batches = self.repo.batches(&found.commit)?;
            Ok(ArrowStream::new(Box::new(batches.into_reader())))
        })
    }

    /// The result of a SQL query over versions (DataFusion), as record batches.
    fn query(&self, py: Python<'_>, sql: &str) -> PyResult<ArrowStream> {
        let (repo, sql) = (self.repo.clone(), sql.to_string());
        interruptible(py, move || {
            let runtime = tokio::runtime::Runtime::new().map_err(|source| CliError::Io {
                what: "a runtime for the query".into(),
                source,
            })?;
            let (schema, batches) = runtime.block_on(async {
                let frame = pail::query::sql(&repo, &sql).await?;
                let schema = Arc::new(frame.schema().as_arrow().clone());
                let batches = frame
                    .collect()
                    .await
                    .map_err(pail::query::QueryError::from)?;
                Ok::<_, CliError>((schema, batches))
            })?;
            let reader = arrow_array::RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
            Ok(ArrowStream::new(Box::new(reader)))
        })
    }

    /// The versions of a dataset, newest first (`log --json`), as JSON text.
    fn log(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        detached(py, || {
            let name = self.repo.parse_name(name)?;
            let entries: Vec<view::LogEntryView> = self
                .repo
                .log(&name)?
                .iter()
                .map(|(version, id, commit)| view::LogEntryView::new(&name, version, id, commit))
                .collect();
            Ok(json(&entries))
        })
    }

    /// Points `tag` at a version (`tag --json`), as JSON text.
    #[pyo3(signature = (reference, tag, force = false))]
    fn tag(&self, py: Python<'_>, reference: &str, tag: &str, force: bool) -> PyResult<String> {
        detached(py, || {
            let dataset = self.repo.parse_ref(reference)?;
            let options = pail::tags::TagOptions { force };
            let tagged = pail::tags::tag(&self.repo, &dataset, tag, &options)?;
            Ok(json(&view::TagSetView::new(
                &tagged.target,
                tag,
                tagged.previous.as_ref(),
            )))
        })
    }

    /// Rows added, removed and modified from version `old` to `new`, as JSON text.
    fn diff_stat(&self, py: Python<'_>, old: &str, new: &str) -> PyResult<String> {
        detached(py, || {
            let (old, new) = (self.resolve(old)?, self.resolve(new)?);
            let stat = pail::diff::diff(&self.repo, &old, &new)?.stat(&self.repo)?;
            Ok(json(&view::DiffCountsView::new(&stat)))
        })
    }

    /// Adds a remote (`remote add NAME URL`); a relative directory is taken from the
    /// current directory.
    fn remote_add(&self, py: Python<'_>, name: &str, url: &str) -> PyResult<()> {
        detached(py, || {
            let cwd = current_dir()?;
            let options = AddOptions {
                name,
                url,
                cwd: &cwd,
                settings: Default::default(),
            };
            remote::add(&self.repo, &options)?;
            Ok(())
        })
    }

    /// Pushes every dataset, or the named ones, to a remote (`push --json`), as JSON text.
    #[pyo3(signature = (remote_name, datasets = Vec::new(), force = false))]
    fn push(
        &self,
        py: Python<'_>,
        remote_name: &str,
        datasets: Vec<String>,
        force: bool,
    ) -> PyResult<String> {
        let (this, remote_name) = (self.handle(), remote_name.to_string());
        interruptible(py, move || {
            let remote_name = remote_name.as_str();
            let datasets = this.names(&datasets)?;
            let store_options = store_options();
            let options = PushOptions {
                remote: remote_name,
                datasets: &datasets,
                force,
                store_options: &store_options,
            };
            let report = remote::push(&this.repo, &options, &NoSyncProgress)?;
            Ok(json(&view::PushView::new(remote_name, &report)))
        })
    }

    /// Pulls every dataset, or the named ones, from a remote (`pull --json`), as JSON text.
    #[pyo3(signature = (remote_name, datasets = Vec::new()))]
    fn pull(&self, py: Python<'_>, remote_name: &str, datasets: Vec<String>) -> PyResult<String> {
        let (this, remote_name) = (self.handle(), remote_name.to_string());
        interruptible(py, move || {
            let remote_name = remote_name.as_str();
            let datasets = this.names(&datasets)?;
            let store_options = store_options();
            let options = PullOptions {
                remote: remote_name,
                datasets: &datasets,
                store_options: &store_options,
            };
            let report = remote::pull(&this.repo, &options, &NoSyncProgress)?;
            Ok(json(&view::PullView::new(remote_name, &report)))
        })
    }

    /// Commits a new version (`commit --json`), as JSON text. `rows` is a source URI or
    /// directory (`str`), JSON lines (`bytes`), or an object with `__arrow_c_stream__`.
    fn commit(&self, py: Python<'_>, args: CommitArgs, rows: Bound<'_, PyAny>) -> PyResult<String> {
        let rows = if let Ok(text) = rows.extract::<String>() {
            Rows::Source(text)
        } else if let Ok(bytes) = rows.extract::<Vec<u8>>() {
            Rows::JsonLines(bytes)
        } else if rows.hasattr("__arrow_c_stream__")? {
            Rows::Batches(import_stream(&rows)?)
        } else {
            return Err(py_error(
                py,
                usage(
                    "rows must be a source URI, JSON lines, or Arrow data",
                    Some(
                        "pass a pyarrow Table, a list of dicts or Pydantic models, or an s3:// URI",
                    ),
                ),
            ));
        };
        let this = self.handle();
        interruptible(py, move || this.commit_rows(&args, rows))
    }

    /// Runs a worker command over the rows of a version (`map --json`), as JSON text;
    /// `progress(done, total)` is called as rows finish (python/pail/_map.py).
    #[pyo3(signature = (args, progress = None))]
    fn map(
        &self,
        py: Python<'_>,
        args: map::MapArgs,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        py.detach(|| map::run(self, args, progress))
            .map_err(|failure| failure.into_py(py))
    }

    /// Unfinished map runs (`jobs --json`), as JSON text.
    fn jobs(&self, py: Python<'_>) -> PyResult<String> {
        detached(py, || map::jobs(self))
    }

    /// Discards an unfinished map run by job id (prefix); returns its short id.
    fn discard_job(&self, py: Python<'_>, job: &str) -> PyResult<String> {
        detached(py, || Ok(pail::map::discard_job(&self.repo, job)?))
    }
}

impl PyRepo {
    /// Another handle on the same repository, for work on a thread of its own.
    fn handle(&self) -> PyRepo {
        PyRepo {
            repo: self.repo.clone(),
        }
    }

    fn names(&self, names: &[String]) -> Result<Vec<pail::DatasetName>, CliError> {
        Ok(names
            .iter()
            .map(|name| self.repo.parse_name(name))
            .collect::<Result<Vec<_>, _>>()?)
    }
}

/// Runs the `pail` command line in this process (the `pail` command the wheel installs);
/// returns its exit code.
#[pyfunction]
fn run_cli(py: Python<'_>, args: Vec<String>) -> i32 {
    py.detach(|| pail::cli::run_with(args.into_iter().map(Into::into)))
}

// ---- Files, clone, lineage, summary, and calls Ctrl-C can stop -------------------------

/// Runs `work` on a thread of its own with the GIL released, and checks Python's signals
/// every 50 ms meanwhile, so Ctrl-C raises `KeyboardInterrupt` at once. The interrupted
/// work is not cancelled: it finishes in the background and its result is dropped (a
/// commit lands whole or not at all; a push or pull stopped midway is safe to run again,
/// as after Ctrl-C on the CLI).
fn interruptible<T: Send + 'static>(
    py: Python<'_>,
    work: impl FnOnce() -> Result<T, CliError> + Send + 'static,
) -> PyResult<T> {
    use std::sync::mpsc::RecvTimeoutError;
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("pail-call".into())
        .spawn(move || {
            let _ = sender.send(work());
        })
        .map_err(|err| pyo3::exceptions::PyRuntimeError::new_err(err.to_string()))?;
    let mut receiver = receiver;
    loop {
        // The receiver is Send but not Sync: it moves into the detached wait and back.
        let (answer, back) = py.detach(move || {
            let answer = receiver.recv_timeout(std::time::Duration::from_millis(50));
            (answer, receiver)
        });
        receiver = back;
        match answer {
            Ok(result) => return result.map_err(|err| py_error(py, err)),
            Err(RecvTimeoutError::Timeout) => py.check_signals()?,
            Err(RecvTimeoutError::Disconnected) => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "pail's call stopped without an answer (a bug: please report it)",
                ));
            }
        }
    }
}

/// A File from its JSON form (`pail.File.model_dump_json()`) and the read options: the
/// environment's store settings, and the remote the File's version was fetched from
/// (its `file://` sources are refused, as by checkout).
fn file_and_options(
    file: &str,
    allow_unverified: bool,
    local_from: Option<String>,
) -> Result<(checkout::FileRef, checkout::FileReadOptions), CliError> {
    let value: serde_json::Value = serde_json::from_str(file)
        .map_err(|err| usage(format!("the File is not JSON: {err}"), None))?;
    let file = checkout::FileRef::from_json(&value).ok_or_else(|| {
        usage(
            "a File needs a `source` and a `path`",
            Some("pail.File(source=\"s3://bucket\", path=\"key\", ...)"),
        )
    })?;
    let options = checkout::FileReadOptions {
        store_options: store_options(),
        allow_unverified,
        local_from,
    };
    Ok((file, options))
}

/// One File's bytes as a stream, verified at the end (`pail.File.open()` wraps it).
#[pyclass(module = "pail._pail", name = "FileReader")]
struct PyFileReader {
    reader: Mutex<Option<checkout::FileReader>>,
}

#[pymethods]
impl PyFileReader {
    /// Up to `size` bytes; empty only at the end, once the size and BLAKE3 the File
    /// records match (else `UserError`). Empty after `close()`.
    fn read<'py>(&self, py: Python<'py>, size: usize) -> PyResult<Bound<'py, PyBytes>> {
        let mut buffer = vec![0u8; size];
        let n = detached(py, || {
            let mut guard = self
                .reader
                .lock()
                .map_err(|_| usage("the reader was used from two threads at once", None))?;
            match guard.as_mut() {
                Some(reader) => Ok(reader.read_some(&mut buffer)?),
                None => Ok(0),
            }
        })?;
        Ok(PyBytes::new(py, &buffer[..n]))
    }

    /// Drops the stream (the connection or open file).
    fn close(&self) {
        if let Ok(mut guard) = self.reader.lock() {
            guard.take();
        }
    }
}

/// Opens a File (as JSON text) for streaming, verified reads.
#[pyfunction]
#[pyo3(signature = (file, allow_unverified = false, local_from = None))]
fn open_file(
    py: Python<'_>,
    file: String,
    allow_unverified: bool,
    local_from: Option<String>,
) -> PyResult<PyFileReader> {
    let reader = interruptible(py, move || {
        let (file, options) = file_and_options(&file, allow_unverified, local_from)?;
        Ok(checkout::open_file(&file, &options)?)
    })?;
    Ok(PyFileReader {
        reader: Mutex::new(Some(reader)),
    })
}

/// A File's bytes (the File as JSON text), verified. With a recorded size the bytes go
/// straight into the `bytes` object, 8 MiB at a time with the GIL released and Python's
/// signals checked in between; without one they gather in a buffer first.
#[pyfunction]
#[pyo3(signature = (file, allow_unverified = false, local_from = None))]
fn read_file(
    py: Python<'_>,
    file: String,
    allow_unverified: bool,
    local_from: Option<String>,
) -> PyResult<Py<PyBytes>> {
    let mut reader = interruptible(py, move || {
        let (file, options) = file_and_options(&file, allow_unverified, local_from)?;
        Ok(checkout::open_file(&file, &options)?)
    })?;
    let Some(size) = reader
        .file()
        .size
        .and_then(|size| usize::try_from(size).ok())
    else {
        let bytes = detached(py, || {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut reader, &mut bytes).map_err(|err| {
                match err.downcast::<checkout::CheckoutError>() {
                    Ok(err) => CliError::from(err),
                    Err(err) => CliError::Output(err),
                }
            })?;
            Ok(bytes)
        })?;
        return Ok(PyBytes::new(py, &bytes).unbind());
    };
    let bytes = PyBytes::new_with(py, size, |buffer| {
        let mut filled = 0;
        for chunk in buffer.chunks_mut(8 << 20) {
            detached(py, || fill(&mut reader, chunk))?;
            filled += chunk.len();
            py.check_signals()?;
        }
        // The end, where the size and BLAKE3 are checked (a longer object fails here).
        detached(py, || fill(&mut reader, &mut [0u8; 1]).map(|_| ()))?;
        debug_assert_eq!(filled, size);
        Ok(())
    })?;
    Ok(bytes.unbind())
}

/// Fills `buffer` from `reader`; at the end (read_some's 0, after it verified the
/// bytes) it returns how much it filled.
fn fill(reader: &mut checkout::FileReader, buffer: &mut [u8]) -> Result<usize, CliError> {
    let mut filled = 0;
    while filled < buffer.len() {
        let n = reader.read_some(&mut buffer[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Downloads a File (as JSON text), verified, to `dir/PATH`; returns that path.
#[pyfunction]
#[pyo3(signature = (file, dir, allow_unverified = false, local_from = None))]
fn fetch_file(
    py: Python<'_>,
    file: String,
    dir: PathBuf,
    allow_unverified: bool,
    local_from: Option<String>,
) -> PyResult<PathBuf> {
    interruptible(py, move || {
        let (file, options) = file_and_options(&file, allow_unverified, local_from)?;
        let dir = current_dir()?.join(dir);
        Ok(checkout::fetch_file(&file, &dir, &options)?)
    })
}

/// Clones a remote into `path` as `pail clone URL PATH` does: `path` must be new or
/// empty, the remote becomes `origin`, and a failed clone leaves nothing behind.
fn clone_into(url: &str, path: &Path) -> Result<Repo, CliError> {
    let dir = current_dir()?.join(path);
    let existed = dir.exists();
    if existed && std::fs::read_dir(&dir).map_or(true, |mut it| it.next().is_some()) {
        return Err(usage(
            format!("{} already exists and is not empty", dir.display()),
            Some("give another directory: `pail.Repo.clone(url, path)`"),
        ));
    }
    let result = (|| -> Result<Repo, CliError> {
        let (repo, _) = Repo::init(&dir.join(pail::repo::PAIL_DIR))?;
        let cwd = current_dir()?;
        let add = AddOptions {
            name: "origin",
            url,
            cwd: &cwd,
            settings: Default::default(),
        };
        remote::add(&repo, &add)?;
        let store_options = store_options();
        let options = PullOptions {
            remote: "origin",
            datasets: &[],
            store_options: &store_options,
        };
        remote::pull(&repo, &options, &NoSyncProgress)?;
        Ok(repo)
    })();
    if result.is_err() {
        let _ = if existed {
            std::fs::remove_dir_all(dir.join(pail::repo::PAIL_DIR))
        } else {
            std::fs::remove_dir_all(&dir)
        };
    }
    result
}

// Module functions rather than a second `#[pymethods]` block (that needs pyo3's
// `multiple-pymethods` feature); `pail/__init__.py` calls them as methods.

/// Clones the remote at `url` into `path` (`pail clone URL PATH`) and opens it.
#[pyfunction]
fn clone_repo(py: Python<'_>, url: String, path: PathBuf) -> PyResult<PyRepo> {
    let repo = interruptible(py, move || clone_into(&url, &path))?;
    Ok(PyRepo { repo })
}

/// The lineage graph of a version (`lineage --json`), up (its inputs) or `down` (what
/// was made from it), as JSON text.
#[pyfunction]
#[pyo3(signature = (repo, reference, down = false))]
fn lineage(py: Python<'_>, repo: &PyRepo, reference: &str, down: bool) -> PyResult<String> {
    detached(py, || {
        let found = repo.resolve(reference)?;
        let direction = if down {
            pail::lineage::Direction::Downstream
        } else {
            pail::lineage::Direction::Upstream
        };
        let report = pail::lineage::lineage(&repo.repo, &found, direction)?;
        Ok(json(&view::LineageGraphView::new(
            &report.graph,
            report.start,
            down,
        )))
    })
}

/// The remote URL a version was fetched from (pulled, or fetched for a pail.lock), or
/// None for a version made here: `Dataset.rows(model=...)` marks its Files with it.
#[pyfunction]
fn fetched_from(py: Python<'_>, repo: &PyRepo, reference: &str) -> PyResult<Option<String>> {
    detached(py, || {
        let found = repo.resolve(reference)?;
        Ok(checkout::fetched_from(&repo.repo, &found.id)?)
    })
}

/// The compiled summary of a version as the Markdown page `pail summary` prints,
/// bounded to `max_tokens`.
#[pyfunction]
#[pyo3(signature = (repo, reference, max_tokens = pail::summary::DEFAULT_MAX_TOKENS))]
fn summary(py: Python<'_>, repo: &PyRepo, reference: &str, max_tokens: usize) -> PyResult<String> {
    detached(py, || {
        let found = repo.resolve(reference)?;
        Ok(pail::summary::page(&repo.repo, &found, max_tokens)?)
    })
}

/// The compiled summary of a version (`summary --json`), as JSON text.
#[pyfunction]
fn summary_json(py: Python<'_>, repo: &PyRepo, reference: &str) -> PyResult<String> {
    detached(py, || {
        let found = repo.resolve(reference)?;
        let summary = pail::summary::load(&repo.repo, &found.commit)?;
        let info = pail::summary::page_info(&repo.repo, &found)?;
        Ok(json(&view::SummaryView::new(&summary, &info)))
    })
}

#[pymodule]
fn _pail(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyRepo>()?;
    module.add_class::<ArrowStream>()?;
    module.add_function(wrap_pyfunction!(run_cli, module)?)?;
    module.add_class::<PyFileReader>()?;
    module.add_function(wrap_pyfunction!(open_file, module)?)?;
    module.add_function(wrap_pyfunction!(read_file, module)?)?;
    module.add_function(wrap_pyfunction!(fetch_file, module)?)?;
    module.add_function(wrap_pyfunction!(clone_repo, module)?)?;
    module.add_function(wrap_pyfunction!(lineage, module)?)?;
    module.add_function(wrap_pyfunction!(summary, module)?)?;
    module.add_function(wrap_pyfunction!(summary_json, module)?)?;
    module.add_function(wrap_pyfunction!(fetched_from, module)?)?;
    Ok(())
}
