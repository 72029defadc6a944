//! `repo.map(...)` with a Python function: the library's `pail::map::map`, run with a
//! worker command the pure-Python layer (python/pail/_map.py) prepared. This module only
//! turns its arguments into `MapOptions` and draws progress; checkpoints, the result
//! cache and `delta` are the library's, as for `pail map`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use pail::cli::{CliError, MapBar};
use pail::map::{MapOptions, MapProgress};
use pail::view;
use pyo3::prelude::*;

use crate::{CommitArgs, PyRepo, current_dir, json, model_schema, py_error, store_options};

/// How often, at most, a notebook's progress callback is called.
const CALLBACK_EVERY: Duration = Duration::from_millis(250);

/// The arguments of `repo.map(...)`: a dict with these keys, from `pail/_map.py`.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub(crate) struct MapArgs {
    input: String,
    /// The worker command (`python -m pail._worker FILE`), run through `sh -c`.
    command: String,
    to: String,
    jobs: usize,
    replace: bool,
    /// A JSON Schema document the results must follow, as text.
    schema: Option<String>,
    max_errors: u64,
    no_cache: bool,
    delta: bool,
    restart: bool,
    fetch: bool,
    message: String,
    /// Code files the results depend on.
    code: Vec<std::path::PathBuf>,
    /// The function: its name and source (or, without one, its pickle's digest), hashed
    /// into the cache key like a code file and kept in the output's lineage.
    function: (String, Vec<u8>),
    /// Draw the CLI's progress bar when stderr is a terminal.
    bar: bool,
}

/// How often, at most, Python's signal handlers run while a map runs.
const SIGNALS_EVERY: Duration = Duration::from_millis(50);

/// Progress of a run: the CLI's bar when stderr is a terminal, and a Python callback
/// (a notebook's) called every `CALLBACK_EVERY` and at the end. It also runs Python's
/// signal handlers, so Ctrl-C (or a notebook's interrupt) stops the run: the exception
/// is kept and raised when the run has stopped.
struct Progress {
    bar: MapBar,
    callback: Option<Py<PyAny>>,
    last: Mutex<Option<Instant>>,
    signals: Mutex<Signals>,
}

/// When the signal handlers last ran, and the exception one raised.
struct Signals {
    last: Instant,
    raised: Option<PyErr>,
}

impl MapProgress for Progress {
    fn rows(&self, done: u64, total: u64) {
        self.bar.rows(done, total);
        let Some(callback) = &self.callback else {
            return;
        };
        {
            let mut last = self.last.lock().expect("the progress lock is not poisoned");
            if done < total && last.is_some_and(|at| at.elapsed() < CALLBACK_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        Python::attach(|py| {
            // Progress is a display: an error in the callback must not stop the run.
            if let Err(err) = callback.call1(py, (done, total)) {
                err.write_unraisable(py, None);
            }
        });
    }

    fn stop(&self) -> bool {
        let mut signals = self
            .signals
            .lock()
            .expect("the signal lock is not poisoned");
        if signals.raised.is_none() && signals.last.elapsed() >= SIGNALS_EVERY {
            signals.last = Instant::now();
            signals.raised = Python::attach(|py| py.check_signals().err());
        }
        signals.raised.is_some()
    }
}

/// Why `run` failed: a library error, or the exception a signal handler raised
/// (KeyboardInterrupt), which stopped the run.
pub(crate) enum Failure {
    Cli(CliError),
    Raised(PyErr),
}

impl From<CliError> for Failure {
    fn from(err: CliError) -> Failure {
        Failure::Cli(err)
    }
}

impl From<pail::RepoError> for Failure {
    fn from(err: pail::RepoError) -> Failure {
        Failure::Cli(err.into())
    }
}

impl Failure {
    pub(crate) fn into_py(self, py: Python<'_>) -> PyErr {
        match self {
            Failure::Cli(err) => py_error(py, err),
            Failure::Raised(err) => err,
        }
    }
}

/// Runs the map and answers with `map --json`'s view, as JSON text.
pub(crate) fn run(
    repo: &PyRepo,
    args: MapArgs,
    callback: Option<Py<PyAny>>,
) -> Result<String, Failure> {
    let cwd = current_dir()?;
    let commit_args = CommitArgs {
        name: args.to.clone(),
        message: args.message.clone(),
        bump: None,
        key: None,
        schema: None,
        inputs: Vec::new(),
        code: args.code.clone(),
        hash: false,
    };
    let mut commit = repo.commit_options(&commit_args, &cwd)?;
    commit.code.push(args.function.clone());
    let schema = args.schema.as_deref().map(model_schema).transpose()?;
    let options = MapOptions {
        input: repo.repo.parse_ref(&args.input)?,
        command: args.command,
        to: repo.repo.parse_name(&args.to)?,
        jobs: args.jobs,
        replace: args.replace,
        schema,
        max_errors: args.max_errors,
        no_cache: args.no_cache,
        delta: args.delta,
        restart: args.restart,
        code: commit.code.clone(),
        // The command names the function's pickle, whose bytes are not its identity: the
        // function's source (in `code`) is.
        named_files: Vec::new(),
        cwd,
        fetch: args.fetch,
        store_options: store_options(),
        commit,
    };
    let progress = Progress {
        bar: MapBar::new(args.bar && std::io::IsTerminal::is_terminal(&std::io::stderr())),
        callback,
        last: Mutex::new(None),
        signals: Mutex::new(Signals {
            last: Instant::now(),
            raised: None,
        }),
    };
    let result = pail::map::map(&repo.repo, &options, &progress);
    progress.bar.finish();
    let raised = progress.signals.into_inner().ok().and_then(|s| s.raised);
    match (result, raised) {
        // Stopped by a signal handler's exception (KeyboardInterrupt): that is the error.
        (Err(pail::map::MapError::Stopped), Some(raised)) => Err(Failure::Raised(raised)),
        (result, _) => Ok(json(&view::MapView::new(&result.map_err(CliError::from)?))),
    }
}

/// Unfinished runs (`jobs --json`), as JSON text.
pub(crate) fn jobs(repo: &PyRepo) -> Result<String, CliError> {
    let jobs = pail::map::jobs(&repo.repo)?;
    Ok(json(&view::JobView::all(&jobs)))
}
