//! The repository: `.pail/` on disk, and the operations on datasets — commit, resolve,
//! read, tag. Every operation opens the store for its transactions only.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use serde_json::{Value, json};

use crate::listing::{self, FileEntry, ListError, ListEvent, Source};
use crate::name::{DatasetName, DatasetRef, NameDefaults, NameError, VersionSpec, check_tag};
use crate::object::{
    COMMIT_FORMAT, Child, CodeFile, CodecError, Commit, CommitId, GitState, Input, Kind, ObjectId,
};
use crate::rows::key;
use crate::rows::sort::{Record, SortError, Sorter};
use crate::rows::tree::read_object;
use crate::rows::{RowEncoder, Staging, TreeBuilder, TreeError, leaf_children, read_leaf};
use crate::schema::{self, Compat, Schema, SchemaError, Type, Violation};
use crate::store::{Reader, STORE_FORMAT, Store, StoreError, WaitPolicy, Writer};
use crate::summary::{
    self, Changes, Lineage, PageInfo, RowStats, SUMMARY_FORMAT, Summary, SummaryBuilder,
};
use crate::walk::Visit;

pub const PAIL_DIR: &str = ".pail";
const DB_FILE: &str = "pail.redb";
const CONFIG_FILE: &str = "config.toml";
/// Memory the JSON row sort may use before spilling to disk.
const SORT_BUDGET: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("not a pail repository (or any parent up to /): {start}")]
    NotARepository { start: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not read {what} {path}: {source}")]
    ReadInput {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bad configuration in {path}: {detail}")]
    Config { path: PathBuf, detail: String },
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    List(Box<ListError>),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("{0}")]
    Sort(#[from] SortError),
    #[error(transparent)]
    Remote(Box<crate::remote::RemoteError>),
    #[error(transparent)]
    Checkout(Box<crate::checkout::CheckoutError>),
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    #[error(transparent)]
    Map(Box<crate::map::MapError>),
    #[error(
        "{name}@{version} is pinned to commit {pinned}, but {place} has {found} under that version; pail never substitutes another commit"
    )]
    PinMoved {
        name: String,
        version: String,
        pinned: String,
        found: String,
        place: String,
    },
    #[error("pinned commit {commit} of {name} is neither in this repository nor on {remote}")]
    PinUnavailable {
        name: String,
        commit: String,
        remote: String,
    },
    #[error("corrupt object in the repository: {0}")]
    Codec(#[from] CodecError),
    #[error("dataset {name} does not exist")]
    DatasetNotFound { name: DatasetName },
    #[error("dataset {name} has no version `{spec}`{}", available_text(.available))]
    VersionNotFound {
        name: String,
        spec: String,
        available: Vec<String>,
    },
    #[error("commit id prefix `{prefix}` is ambiguous: it matches {}", .candidates.join(", "))]
    AmbiguousPrefix {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error("line {line}: malformed JSON: {detail}")]
    BadJson { line: u64, detail: String },
    #[error(
        "line {line}: the integer {literal} is out of the int range (64-bit signed, \
         -9223372036854775808 to 9223372036854775807)"
    )]
    IntOutOfRange { line: u64, literal: String },
    #[error("line {line}: {violation}")]
    Violation { line: u64, violation: Violation },
    #[error("line {line}: duplicate row key {key} (first seen at line {first_line})")]
    DuplicateKey {
        line: u64,
        first_line: u64,
        key: String,
    },
    #[error("key column `{column}` {reason}")]
    BadKey { column: String, reason: String },
    #[error("the schema of {name} changed ({}); this needs at least a {required} version bump", .changes.join("; "))]
    NeedsBump {
        name: String,
        required: Bump,
        changes: Vec<String>,
    },
    #[error("tag `{tag}` already points at {name}@{version}")]
    TagExists {
        tag: String,
        name: String,
        version: String,
    },
    #[error("no tag `{tag}`{}", .dataset.as_ref().map(|name| format!(" on {name}")).unwrap_or_default())]
    TagNotFound {
        tag: String,
        dataset: Option<DatasetName>,
    },
    #[error("tag `{tag}` exists on several datasets: {}", .names.join(", "))]
    AmbiguousTag { tag: String, names: Vec<String> },
    #[error("cannot compare rows of {old} with {new}: their row keys differ")]
    KeysDiffer { old: String, new: String },
    #[error("{name}@{version} was not committed from a storage listing")]
    NoSource { name: DatasetName, version: String },
    #[error("version {name}@{version} already exists")]
    VersionExists { name: DatasetName, version: String },
    #[error("version {name}@{latest} has no next {bump} version: its number is at the limit")]
    VersionOverflow {
        name: DatasetName,
        latest: String,
        bump: Bump,
    },
}

impl From<ListError> for RepoError {
    fn from(err: ListError) -> Self {
        RepoError::List(Box::new(err))
    }
}

impl From<crate::map::MapError> for RepoError {
    fn from(err: crate::map::MapError) -> Self {
        RepoError::Map(Box::new(err))
    }
}

impl From<crate::checkout::CheckoutError> for RepoError {
    fn from(err: crate::checkout::CheckoutError) -> Self {
        RepoError::Checkout(Box::new(err))
    }
}

impl From<crate::remote::RemoteError> for RepoError {
    fn from(err: crate::remote::RemoteError) -> Self {
        RepoError::Remote(Box::new(err))
    }
}

fn available_text(available: &[String]) -> String {
    if available.is_empty() {
        String::new()
    } else {
        format!(" (it has {})", available.join(", "))
    }
}

/// Which part of the version a commit increments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bump {
    Patch,
    Minor,
    Major,
}

impl std::fmt::Display for Bump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bump::Patch => "patch",
            Bump::Minor => "minor",
            Bump::Major => "major",
        })
    }
}

/// Receives progress from long operations; the CLI draws it, tests ignore it.
pub trait Progress: Sync {
    fn listed(&self, _n_files: u64, _n_bytes: u64) {}
    fn problem(&self, _path: &str, _reason: &str) {}
}

/// A progress sink that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Everything a commit records besides its rows.
#[derive(Debug, Clone)]
pub struct CommitOptions {
    pub name: DatasetName,
    pub message: String,
    pub bump: Option<Bump>,
    pub author: String,
    /// Microseconds since the epoch.
    pub time: i64,
    pub command: Vec<String>,
    pub git: Option<GitState>,
    /// Code files: the path as given and the bytes.
    pub code: Vec<(String, Vec<u8>)>,
    pub inputs: Vec<DatasetRef>,
}

/// Where JSON records come from.
pub enum Records {
    Path(PathBuf),
    Reader(Box<dyn Read + Send>),
}

/// The result of a commit.
#[derive(Debug, Clone)]
pub enum CommitOutcome {
    Created {
        name: DatasetName,
        version: semver::Version,
        id: CommitId,
        parent: Option<semver::Version>,
        commit: Box<Commit>,
        leaves_written: usize,
        leaves_reused: usize,
        problems: Vec<(String, String)>,
    },
    /// Rows and schema equal the latest version's: nothing was written.
    Unchanged {
        name: DatasetName,
        version: semver::Version,
        id: CommitId,
        problems: Vec<(String, String)>,
    },
}

/// A dataset version found by a `NAME@V`.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub name: DatasetName,
    /// None when the commit was named by an id that no version ref points at.
    pub version: Option<semver::Version>,
    pub id: CommitId,
    pub commit: Commit,
}

impl Resolved {
    /// The version, or the short commit id when no version names it.
    pub fn version_or_id(&self) -> String {
        self.version
            .as_ref()
            .map(|version| version.to_string())
            .unwrap_or_else(|| self.id.short())
    }

    /// `NAME@VERSION`, or `NAME@SHORTID` when no version names the commit.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version_or_id())
    }
}

/// One dataset in `ls`.
#[derive(Debug, Clone)]
pub struct DatasetInfo {
    pub name: DatasetName,
    /// Ascending.
    pub versions: Vec<(semver::Version, CommitId)>,
    pub tags: Vec<(String, CommitId)>,
}

/// One tag in `tag --list`.
#[derive(Debug, Clone)]
pub struct TagInfo {
    pub name: DatasetName,
    pub tag: String,
    pub id: CommitId,
    pub version: Option<semver::Version>,
}

/// A listing built into a staged row tree: the tree and its summary statistics, its
/// staging, and what could not be listed (path, reason).
type StagedListing = (
    (crate::rows::BuiltTree, crate::summary::RowStats),
    Staging,
    Vec<(String, String)>,
);

/// What a commit of a source would change, from `Repo::status`.
pub struct Status {
    /// The latest version, compared against.
    pub base: Resolved,
    /// The URI listed.
    pub source: String,
    pub diff: crate::diff::Diff,
    /// Entries the listing could not read: path and reason.
    pub problems: Vec<(String, String)>,
}

#[derive(Clone)]
pub struct Repo {
    dir: PathBuf,
    defaults: NameDefaults,
    wait_timeout: Duration,
    on_wait: Option<Arc<dyn Fn() + Send + Sync>>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RepoError + '_ {
    move |source| RepoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

const DEFAULT_CONFIG: &str = "# pail repository configuration\n\n[defaults]\n# Namespace and project for names given without them (`photos` = local.default.photos).\nnamespace = \"local\"\nproject = \"default\"\n";

impl Repo {
    /// Creates `.pail/` at `pail_dir` (the `.pail` directory itself). Returns the repository
    /// and whether it was new.
    pub fn init(pail_dir: &Path) -> Result<(Repo, bool), RepoError> {
        let existed = pail_dir.join(DB_FILE).exists();
        std::fs::create_dir_all(pail_dir).map_err(io_err(pail_dir))?;
        let config = pail_dir.join(CONFIG_FILE);
        if !config.exists() {
            std::fs::write(&config, DEFAULT_CONFIG).map_err(io_err(&config))?;
        }
        let repo = Repo::open(pail_dir)?;
        {
            let store = repo.store()?;
            let writer = store.write()?;
            writer.create_tables()?;
            if writer.meta("format")?.is_none() {
                writer.set_meta("format", STORE_FORMAT)?;
            }
            writer.commit()?;
        }
        Ok((repo, !existed))
    }

    /// Finds `.pail/` in `start` or the nearest parent that has one.
    pub fn discover(start: &Path) -> Result<Repo, RepoError> {
        let mut dir = Some(start);
        while let Some(current) = dir {
            let candidate = current.join(PAIL_DIR);
            if candidate.join(DB_FILE).is_file() {
                return Repo::open(&candidate);
            }
            dir = current.parent();
        }
        Err(RepoError::NotARepository {
            start: start.to_path_buf(),
        })
    }

    /// Opens the repository whose `.pail` directory is `pail_dir`.
    pub fn open(pail_dir: &Path) -> Result<Repo, RepoError> {
        let config_path = pail_dir.join(CONFIG_FILE);
        let mut defaults = NameDefaults::default();
        match std::fs::read_to_string(&config_path) {
            Ok(text) => {
                let config: toml::Table =
                    text.parse()
                        .map_err(|err: toml::de::Error| RepoError::Config {
                            path: config_path.clone(),
                            detail: err.message().to_string(),
                        })?;
                if let Some(section) = config.get("defaults").and_then(|v| v.as_table()) {
                    for (key, slot) in [
                        ("namespace", &mut defaults.namespace),
                        ("project", &mut defaults.project),
                    ] {
                        if let Some(value) = section.get(key) {
                            let text = value.as_str().ok_or_else(|| RepoError::Config {
                                path: config_path.clone(),
                                detail: format!("defaults.{key} must be a string"),
                            })?;
                            *slot = text.to_string();
                        }
                    }
                    // The defaults must themselves be valid name parts.
                    DatasetName::parse(
                        &format!("{}.{}.x", defaults.namespace, defaults.project),
                        &defaults,
                    )
                    .map_err(|err| RepoError::Config {
                        path: config_path.clone(),
                        detail: err.to_string(),
                    })?;
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(RepoError::Io {
                    path: config_path,
                    source,
                });
            }
        }
        if !pail_dir.is_dir() {
            return Err(RepoError::NotARepository {
                start: pail_dir.to_path_buf(),
            });
        }
        Ok(Repo {
            dir: pail_dir.to_path_buf(),
            defaults,
            wait_timeout: Duration::from_secs(60),
            on_wait: None,
        })
    }

    /// How long to wait for another pail process, and a callback for when waiting starts.
    pub fn set_wait(&mut self, timeout: Duration, on_wait: Option<Arc<dyn Fn() + Send + Sync>>) {
        self.wait_timeout = timeout;
        self.on_wait = on_wait;
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn defaults(&self) -> &NameDefaults {
        &self.defaults
    }

    /// The store, open only for reading: for every operation that writes nothing.
    pub(crate) fn read_store(&self) -> Result<Store, RepoError> {
        self.open_store(Store::open_read)
    }

    /// The store, open for reading and writing.
    pub(crate) fn store(&self) -> Result<Store, RepoError> {
        self.open_store(Store::open)
    }

    fn open_store(
        &self,
        open: fn(&Path, &WaitPolicy) -> Result<Store, StoreError>,
    ) -> Result<Store, RepoError> {
        let on_wait = self.on_wait.clone();
        let callback = move || {
            if let Some(on_wait) = &on_wait {
                on_wait();
            }
        };
        let policy = WaitPolicy {
            timeout: self.wait_timeout,
            on_wait: Some(&callback),
        };
        Ok(open(&self.dir.join(DB_FILE), &policy)?)
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// Removes the temporaries under `.pail/tmp/` that no live process owns: those made by
    /// [`owned_temp_file`] whose lock nobody holds (their owner was killed). Returns how
    /// many files and bytes were removed.
    pub fn remove_stale_temporaries(&self) -> Result<(u64, u64), RepoError> {
        let dir = self.tmp_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
            Err(err) => return Err(io_err(&dir)(err)),
        };
        let (mut n_files, mut n_bytes) = (0u64, 0u64);
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            let path = entry.path();
            let owned = entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.starts_with(OWNED_TEMP_PREFIX));
            if !owned {
                continue;
            }
            let file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(io_err(&path)(err)),
            };
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => continue,
                Err(std::fs::TryLockError::Error(err)) => return Err(io_err(&path)(err)),
            }
            // Locked by us: no owner is alive, and a new owner cannot take this name.
            let len = file.metadata().map(|meta| meta.len()).unwrap_or(0);
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    n_files += 1;
                    n_bytes += len;
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(io_err(&path)(err)),
            }
        }
        Ok((n_files, n_bytes))
    }

    pub fn parse_name(&self, text: &str) -> Result<DatasetName, RepoError> {
        Ok(DatasetName::parse(text, &self.defaults)?)
    }

    pub fn parse_ref(&self, text: &str) -> Result<DatasetRef, RepoError> {
        Ok(DatasetRef::parse(text, &self.defaults)?)
    }

    // ---- commit ----------------------------------------------------------------------

    /// Commits a storage listing as a new version of `options.name`.
    pub fn commit_listing(
        &self,
        source: &Source,
        hash: bool,
        versions: bool,
        listed_at: i64,
        options: &CommitOptions,
        progress: &dyn Progress,
    ) -> Result<CommitOutcome, RepoError> {
        // Inputs first: a typo in --input should not cost a listing of a million objects.
        let named_inputs = self.resolve_inputs(&options.inputs)?;
        let schema = Schema::listing();
        let (schema_id, schema_bytes) = schema_object(&schema);
        let (built, staging, problems) =
            self.build_listing(&options.name, source, hash, versions, progress)?;
        let mut inputs = vec![Input::Source {
            uri: source.listed_uri(),
            listed_at,
        }];
        inputs.extend(named_inputs);
        let key = vec!["file.source".to_string(), "file.path".to_string()];
        self.finish_commit(
            options,
            &schema,
            (schema_id, schema_bytes),
            key,
            inputs,
            built,
            staging,
            problems,
        )
    }

    /// Lists a source into a row tree staged under `.pail/tmp/`, reusing the leaves of the
    /// latest version of `name` where the rows are unchanged, and gathers the summary
    /// statistics of the rows. Nothing is written to the store.
    fn build_listing(
        &self,
        name: &DatasetName,
        source: &Source,
        hash: bool,
        versions: bool,
        progress: &dyn Progress,
    ) -> Result<StagedListing, RepoError> {
        let schema = Schema::listing();
        let (schema_id, _) = schema_object(&schema);
        let reusable = self.reusable(name, &schema_id)?;
        let mut staging = Staging::new(&self.tmp_dir())?;
        let base = source.base_uri();
        // The digests the latest version recorded, carried over to unchanged files; none
        // when it recorded none, so that a plain re-listing reads no old rows. Rows of
        // another source never match: the key holds the source.
        let known: listing::Known = if reusable.hashed {
            Some(Box::new(PreviousDigests {
                repo: self.clone(),
                base: base.clone(),
                leaves: reusable.leaves.clone().into(),
                rows: std::collections::VecDeque::new(),
            }))
        } else {
            None
        };
        let reuse = reusable.leaves;
        let mut builder = TreeBuilder::new(
            FileEncoder {
                source: base.clone(),
            },
            schema.clone(),
            schema_id,
            reuse,
        );
        let mut stats = SummaryBuilder::new(&schema);
        let (sender, receiver) = std::sync::mpsc::sync_channel(4);
        let lister_source = source.clone();
        let lister = std::thread::spawn(move || {
            listing::list(&lister_source, hash, versions, known, &sender)
        });
        let mut problems = Vec::new();
        let mut n_files = 0u64;
        let mut n_bytes = 0u64;
        let mut result = Ok(());
        for event in receiver.iter() {
            match event {
                ListEvent::Files(files) => {
                    // Examples are the first rows in listing order, which is key order,
                    // as a reader will see them (`batch_to_rows`).
                    if stats.wants_examples() {
                        let head = &files[..files.len().min(crate::summary::EXAMPLE_ROWS)];
                        let batch = crate::rows::leaf::files_batch(&base, head);
                        match schema::batch_to_rows(&schema, &batch) {
                            Ok(rows) => {
                                for row in &rows {
                                    if !stats.example(row) {
                                        break;
                                    }
                                }
                            }
                            Err(err) => {
                                result = Err(err.into());
                                break;
                            }
                        }
                    }
                    for file in &files {
                        stats.observe_listed(&base, file);
                    }
                    for file in files {
                        n_files += 1;
                        n_bytes += file.size;
                        let key = key::file_key(&base, &file.path);
                        if let Err(err) = builder.push(key, file, &mut staging) {
                            result = Err(RepoError::from(err));
                            break;
                        }
                    }
                    progress.listed(n_files, n_bytes);
                }
                ListEvent::Problem { path, reason } => {
                    progress.problem(&path, &reason);
                    problems.push((path, reason));
                }
                ListEvent::Fatal(err) => result = Err(err.into()),
            }
            if result.is_err() {
                break;
            }
        }
        drop(receiver);
        lister.join().expect("the listing thread does not panic");
        result?;
        let built = builder.finish(&mut staging)?;
        Ok(((built, stats.finish()), staging, problems))
    }

    /// The latest version of a dataset and the source URI it was listed from.
    pub fn latest_source(&self, name: &DatasetName) -> Result<(Resolved, String), RepoError> {
        let latest = self.resolve(&DatasetRef {
            name: name.clone(),
            version: VersionSpec::Latest,
        })?;
        let uri = latest.commit.inputs.iter().find_map(|input| match input {
            Input::Source { uri, .. } => Some(uri.clone()),
            Input::Dataset { .. } => None,
        });
        match uri {
            Some(uri) => Ok((latest, uri)),
            None => Err(RepoError::NoSource {
                name: name.clone(),
                version: latest
                    .version
                    .map(|version| version.to_string())
                    .unwrap_or_default(),
            }),
        }
    }

    /// What `pail commit NAME SOURCE` would change: lists the source into a staged tree
    /// (reusing unchanged leaves) and diffs the latest version against it. Writes nothing
    /// to the store; the staged objects vanish with the returned `Status`.
    pub fn status(
        &self,
        name: &DatasetName,
        source: &Source,
        hash: bool,
        progress: &dyn Progress,
    ) -> Result<Status, RepoError> {
        let latest = self.resolve(&DatasetRef {
            name: name.clone(),
            version: VersionSpec::Latest,
        })?;
        let ((built, _), staging, problems) =
            self.build_listing(name, source, hash, false, progress)?;
        let old = crate::diff::DiffSide::from_resolved(self, &latest)?;
        let new = crate::diff::DiffSide::uncommitted(
            name.clone(),
            built.n_rows,
            Schema::listing(),
            vec!["file.source".to_string(), "file.path".to_string()],
            built.root,
        );
        let diff = crate::diff::Diff::plan(self, old, new, Some(staging))?;
        Ok(Status {
            base: latest,
            source: source.listed_uri(),
            diff,
            problems,
        })
    }

    /// Plans the diff from one version to another (of one dataset, or of two datasets
    /// with the same key). Reads only the tree nodes; rows are read by `Diff::stat` or
    /// `Diff::rows`, and only where the trees differ.
    pub fn diff(&self, old: &Resolved, new: &Resolved) -> Result<crate::diff::Diff, RepoError> {
        let old = crate::diff::DiffSide::from_resolved(self, old)?;
        let new = crate::diff::DiffSide::from_resolved(self, new)?;
        crate::diff::Diff::plan(self, old, new, None)
    }

    /// Commits JSON records (one object per line) as a new version of `options.name`.
    pub fn commit_records(
        &self,
        records: Records,
        declared: Option<Schema>,
        key_columns: Option<Vec<String>>,
        options: &CommitOptions,
    ) -> Result<CommitOutcome, RepoError> {
        std::fs::create_dir_all(self.tmp_dir()).map_err(io_err(&self.tmp_dir()))?;
        // Without a declared schema the records are read twice: once to infer, once to
        // validate and sort. A stream is spooled to a temporary file for that.
        let mut spool = None;
        let path = match records {
            Records::Path(path) => path,
            Records::Reader(mut reader) => {
                let mut file = owned_temp_file(&self.tmp_dir()).map_err(io_err(&self.tmp_dir()))?;
                std::io::copy(&mut reader, &mut file).map_err(|source| RepoError::ReadInput {
                    what: "records from",
                    path: PathBuf::from("-"),
                    source,
                })?;
                let path = file.path().to_path_buf();
                spool = Some(file);
                path
            }
        };
        let schema = match declared {
            Some(schema) => schema,
            None => {
                let mut inferrer = schema::Inferrer::new();
                for_each_record(&path, |line, value| {
                    inferrer.observe(line, &value)?;
                    Ok(())
                })?;
                inferrer.finish()
            }
        };
        let key_columns = match key_columns {
            Some(columns) => expand_key_columns(&schema, &columns)?,
            None => match schema.file_columns().first() {
                Some(column) => vec![format!("{column}.source"), format!("{column}.path")],
                None => Vec::new(),
            },
        };
        let (schema_id, schema_bytes) = schema_object(&schema);
        let mut sorter = Sorter::new(&self.tmp_dir(), SORT_BUDGET);
        let mut stats = SummaryBuilder::new(&schema);
        for_each_record(&path, |line, value| {
            let normalized = schema
                .validate(&value)
                .map_err(|violation| RepoError::Violation { line, violation })?;
            stats.observe(&normalized);
            let payload = crate::rows::canonical::encode(&normalized);
            let key = row_key(&key_columns, &normalized, &payload);
            sorter.push(Record { key, line, payload })?;
            Ok(())
        })?;
        drop(spool);
        let reuse = self.reusable_leaves(&options.name, &schema_id)?;
        let mut staging = Staging::new(&self.tmp_dir())?;
        let mut builder = TreeBuilder::new(
            JsonEncoder {
                schema: schema.clone(),
            },
            schema.clone(),
            schema_id,
            reuse,
        );
        let mut previous: Option<(Vec<u8>, u64, Vec<u8>)> = None;
        for record in sorter.finish()? {
            let record = record?;
            if stats.wants_examples() {
                // Examples in key order, so the summary does not depend on input order.
                let value = decode_payload(&record.payload)?;
                stats.example(&value);
            }
            if let Some((prev_key, prev_line, prev_payload)) = &previous
                && *prev_key == record.key
            {
                let shown = if key_columns.is_empty() {
                    "(the whole row; identical rows)".to_string()
                } else {
                    let value = decode_payload(prev_payload)?;
                    let parts: Vec<String> = key_columns
                        .iter()
                        .map(|column| format!("{column}={}", lookup(&value, column)))
                        .collect();
                    format!("({})", parts.join(", "))
                };
                return Err(RepoError::DuplicateKey {
                    line: record.line,
                    first_line: *prev_line,
                    key: shown,
                });
            }
            if let Some((prev_key, _, prev_payload)) = previous.take() {
                builder.push(prev_key, prev_payload, &mut staging)?;
            }
            previous = Some((record.key, record.line, record.payload));
        }
        if let Some((prev_key, _, prev_payload)) = previous {
            builder.push(prev_key, prev_payload, &mut staging)?;
        }
        let built = builder.finish(&mut staging)?;
        let inputs = self.resolve_inputs(&options.inputs)?;
        self.finish_commit(
            options,
            &schema,
            (schema_id, schema_bytes),
            key_columns,
            inputs,
            (built, stats.finish()),
            staging,
            Vec::new(),
        )
    }

    /// Leaf entries of the latest version when it has the same schema, for reuse.
    fn reusable_leaves(
        &self,
        name: &DatasetName,
        schema_id: &ObjectId,
    ) -> Result<Vec<Child>, RepoError> {
        Ok(self.reusable(name, schema_id)?.leaves)
    }

    /// What a new version of `name` with this schema may take from the latest one: its
    /// leaf entries, and whether it recorded any BLAKE3 digest (its summary says so; a
    /// version saved before summaries may have). Read in one transaction.
    fn reusable(&self, name: &DatasetName, schema_id: &ObjectId) -> Result<Reusable, RepoError> {
        let store = self.read_store()?;
        let reader = store.read()?;
        let Some((_, id)) = latest_version(&reader, name)? else {
            return Ok(Reusable::default());
        };
        let commit = read_commit(&reader, &id)?;
        if commit.schema != *schema_id {
            return Ok(Reusable::default());
        }
        let hashed = match commit.summary {
            Some(summary_id) => {
                let summary = Summary::decode(&read_object(&reader, &summary_id, Kind::Summary)?)?;
                summary
                    .columns
                    .iter()
                    .any(|column| column.column == "file.blake3" && column.n_nulls < summary.n_rows)
            }
            None => true,
        };
        Ok(Reusable {
            leaves: leaf_children(&reader, &commit.rows)?,
            hashed,
        })
    }

    fn resolve_inputs(&self, inputs: &[DatasetRef]) -> Result<Vec<Input>, RepoError> {
        let mut resolved = Vec::new();
        for input in inputs {
            let found = self.resolve(input)?;
            resolved.push(Input::Dataset {
                name: found.name.to_string(),
                version: found
                    .version
                    .map(|version| version.to_string())
                    .unwrap_or_default(),
                commit: found.id,
            });
        }
        Ok(resolved)
    }

    /// Writes the version in one transaction: parent and version number are decided
    /// inside it, so concurrent commits get distinct versions.
    #[allow(clippy::too_many_arguments)]
    fn finish_commit(
        &self,
        options: &CommitOptions,
        schema: &Schema,
        (schema_id, schema_bytes): (ObjectId, Vec<u8>),
        key: Vec<String>,
        inputs: Vec<Input>,
        (built, stats): (crate::rows::BuiltTree, RowStats),
        mut staging: Staging,
        problems: Vec<(String, String)>,
    ) -> Result<CommitOutcome, RepoError> {
        let name = &options.name;
        let code: Vec<(CodeFile, &[u8])> = options
            .code
            .iter()
            .map(|(path, bytes)| {
                (
                    CodeFile {
                        path: path.clone(),
                        blob: ObjectId::compute(Kind::Blob, bytes),
                        size: bytes.len() as u64,
                    },
                    bytes.as_slice(),
                )
            })
            .collect();
        let store = self.store()?;
        let writer = store.write()?;
        writer.create_tables()?;
        let latest = latest_version(&writer, name)?;
        let mut parent = None;
        let mut changes = None;
        let version = match &latest {
            None => semver::Version::new(1, 0, 0),
            Some((latest_version, latest_id)) => {
                let latest_commit = writer_commit(&writer, latest_id)?;
                if latest_commit.rows == built.root && latest_commit.schema == schema_id {
                    return Ok(CommitOutcome::Unchanged {
                        name: name.clone(),
                        version: latest_version.clone(),
                        id: *latest_id,
                        problems,
                    });
                }
                let old_schema = writer_schema(&writer, &latest_commit.schema)?;
                let (required, schema_changes) = match schema::compare(&old_schema, schema) {
                    Compat::Same => (Bump::Patch, Vec::new()),
                    Compat::Additive(changes) => (Bump::Minor, changes),
                    Compat::Breaking(changes) => (Bump::Major, changes),
                };
                let bump = options.bump.unwrap_or(Bump::Patch);
                if bump < required {
                    return Err(RepoError::NeedsBump {
                        name: name.to_string(),
                        required,
                        changes: schema_changes,
                    });
                }
                changes = Some(Changes {
                    parent: *latest_id,
                    n_rows_before: latest_commit.n_rows,
                    n_bytes_before: latest_commit.n_bytes,
                    schema_changes,
                    leaves_reused: built.leaves_reused as u64,
                    leaves_written: built.leaves_written as u64,
                });
                parent = Some((latest_version.clone(), *latest_id));
                bump_version(latest_version, bump).ok_or_else(|| RepoError::VersionOverflow {
                    name: name.clone(),
                    latest: latest_version.to_string(),
                    bump,
                })?
            }
        };
        let version_ref = name.version_ref(&version);
        if writer.get_ref(&version_ref)?.is_some() {
            return Err(RepoError::VersionExists {
                name: name.clone(),
                version: version.to_string(),
            });
        }
        let parents: Vec<CommitId> = parent.iter().map(|(_, id)| *id).collect();
        let summary = Summary {
            format: SUMMARY_FORMAT,
            n_rows: built.n_rows,
            n_bytes: built.n_bytes,
            columns: stats.columns,
            files: stats.files,
            examples: stats.examples,
            lineage: Lineage {
                parents: parents.clone(),
                inputs: inputs.clone(),
                code: code.iter().map(|(file, _)| file.path.clone()).collect(),
                author: options.author.clone(),
                time: options.time,
                message: options.message.clone(),
                command: options.command.clone(),
            },
            changes,
        };
        let (summary_id, summary_bytes) = summary.encode();
        let commit = Commit {
            format: COMMIT_FORMAT,
            parents,
            inputs,
            schema: schema_id,
            rows: built.root,
            n_rows: built.n_rows,
            n_bytes: built.n_bytes,
            key,
            author: options.author.clone(),
            time: options.time,
            message: options.message.clone(),
            command: options.command.clone(),
            git: options.git.clone(),
            code: code.iter().map(|(file, _)| file.clone()).collect(),
            summary: Some(summary_id),
        };
        let (commit_id, commit_bytes) = commit.encode();
        // Objects before the ref that names them, all in this one transaction.
        staging.write_into(&writer)?;
        writer.put_object(Kind::Schema, &schema_id, &schema_bytes)?;
        writer.put_object(Kind::Summary, &summary_id, &summary_bytes)?;
        for (file, bytes) in &code {
            writer.put_object(Kind::Blob, &file.blob, bytes)?;
        }
        writer.put_object(Kind::Commit, &commit_id, &commit_bytes)?;
        writer.set_ref(&version_ref, &commit_id)?;
        writer.commit()?;
        Ok(CommitOutcome::Created {
            name: name.clone(),
            version,
            id: CommitId(commit_id),
            parent: parent.map(|(version, _)| version),
            commit: Box::new(commit),
            leaves_written: built.leaves_written,
            leaves_reused: built.leaves_reused,
            problems,
        })
    }

    // ---- reading ---------------------------------------------------------------------

    /// Finds the commit a `NAME@V` names.
    pub fn resolve(&self, dataset: &DatasetRef) -> Result<Resolved, RepoError> {
        let store = self.read_store()?;
        let reader = store.read()?;
        resolve_in(&reader, dataset)
    }

    /// Every dataset with its versions and tags, by name.
    pub fn datasets(&self) -> Result<Vec<DatasetInfo>, RepoError> {
        let store = self.read_store()?;
        let reader = store.read()?;
        let mut by_name: BTreeMap<DatasetName, DatasetInfo> = BTreeMap::new();
        for (ref_name, id) in reader.refs("datasets/")? {
            let Some((name, kind, label)) = parse_dataset_ref(&ref_name) else {
                continue;
            };
            let info = by_name.entry(name.clone()).or_insert_with(|| DatasetInfo {
                name,
                versions: Vec::new(),
                tags: Vec::new(),
            });
            match kind {
                RefKind::Version => {
                    if let Ok(version) = semver::Version::parse(&label) {
                        info.versions.push((version, CommitId(id)));
                    }
                }
                RefKind::Tag => info.tags.push((label, CommitId(id))),
            }
        }
        let mut datasets: Vec<DatasetInfo> = by_name.into_values().collect();
        for info in &mut datasets {
            info.versions.sort();
        }
        datasets.retain(|info| !info.versions.is_empty());
        Ok(datasets)
    }

    /// The versions of one dataset, newest first, with their commits.
    pub fn log(
        &self,
        name: &DatasetName,
    ) -> Result<Vec<(semver::Version, CommitId, Commit)>, RepoError> {
        let store = self.read_store()?;
        let reader = store.read()?;
        let versions = dataset_versions(&reader, name)?;
        if versions.is_empty() {
            return Err(RepoError::DatasetNotFound { name: name.clone() });
        }
        let mut log = Vec::new();
        for (version, id) in versions.into_iter().rev() {
            let commit = read_commit(&reader, &id)?;
            log.push((version, id, commit));
        }
        Ok(log)
    }

    /// Reads any commit by id.
    pub fn commit(&self, id: &CommitId) -> Result<Commit, RepoError> {
        let store = self.read_store()?;
        let reader = store.read()?;
        read_commit(&reader, id)
    }

    pub fn schema(&self, id: &ObjectId) -> Result<Schema, RepoError> {
        let store = self.read_store()?;
        let reader = store.read()?;
        read_schema(&reader, id)
    }

    /// The summary of a version: the stored object, or, for a commit saved before
    /// summaries existed, one computed now by streaming its rows (nothing is written).
    pub fn summary(&self, commit: &Commit) -> Result<Summary, RepoError> {
        if let Some(id) = commit.summary {
            let store = self.read_store()?;
            let reader = store.read()?;
            return Ok(Summary::decode(&read_object(&reader, &id, Kind::Summary)?)?);
        }
        let schema = self.schema(&commit.schema)?;
        let mut stats = SummaryBuilder::new(&schema);
        self.for_each_row(commit, |row| {
            stats.observe(&row);
            stats.example(&row);
            Ok(true)
        })?;
        let stats = stats.finish();
        let changes = match commit.parents.first() {
            None => None,
            Some(parent_id) => {
                let store = self.read_store()?;
                let reader = store.read()?;
                let parent = read_commit(&reader, parent_id)?;
                let schema_changes =
                    match schema::compare(&read_schema(&reader, &parent.schema)?, &schema) {
                        Compat::Same => Vec::new(),
                        Compat::Additive(changes) | Compat::Breaking(changes) => changes,
                    };
                let before: std::collections::HashSet<ObjectId> =
                    leaf_children(&reader, &parent.rows)?
                        .into_iter()
                        .map(|child| child.id)
                        .collect();
                let after = leaf_children(&reader, &commit.rows)?;
                let reused = after
                    .iter()
                    .filter(|child| before.contains(&child.id))
                    .count();
                Some(Changes {
                    parent: *parent_id,
                    n_rows_before: parent.n_rows,
                    n_bytes_before: parent.n_bytes,
                    schema_changes,
                    leaves_reused: reused as u64,
                    leaves_written: (after.len() - reused) as u64,
                })
            }
        };
        Ok(Summary {
            format: SUMMARY_FORMAT,
            n_rows: commit.n_rows,
            n_bytes: commit.n_bytes,
            columns: stats.columns,
            files: stats.files,
            examples: stats.examples,
            lineage: Lineage {
                parents: commit.parents.clone(),
                inputs: commit.inputs.clone(),
                code: commit.code.iter().map(|file| file.path.clone()).collect(),
                author: commit.author.clone(),
                time: commit.time,
                message: commit.message.clone(),
                command: commit.command.clone(),
            },
            changes,
        })
    }

    /// Row-tree leaves two versions share and hold alone, as (leaves, rows) each:
    /// (shared, only in `old`, only in `new`). Shared leaves hold identical rows.
    #[allow(clippy::type_complexity)]
    pub fn leaf_overlap(
        &self,
        old: &Commit,
        new: &Commit,
    ) -> Result<((u64, u64), (u64, u64), (u64, u64)), RepoError> {
        let store = self.read_store()?;
        let reader = store.read()?;
        let old_leaves = leaf_children(&reader, &old.rows)?;
        let new_leaves = leaf_children(&reader, &new.rows)?;
        let old_ids: std::collections::HashSet<ObjectId> =
            old_leaves.iter().map(|child| child.id).collect();
        let new_ids: std::collections::HashSet<ObjectId> =
            new_leaves.iter().map(|child| child.id).collect();
        let tally = |leaves: &[Child], keep: &dyn Fn(&ObjectId) -> bool| -> (u64, u64) {
            leaves
                .iter()
                .filter(|child| keep(&child.id))
                .fold((0, 0), |(n, rows), child| (n + 1, rows + child.n_rows))
        };
        Ok((
            tally(&new_leaves, &|id| old_ids.contains(id)),
            tally(&old_leaves, &|id| !new_ids.contains(id)),
            tally(&new_leaves, &|id| !old_ids.contains(id)),
        ))
    }

    /// What a summary page says besides the summary: names, tags, parents' versions.
    pub fn page_info(&self, found: &Resolved) -> Result<PageInfo, RepoError> {
        let tags = self.tags_of(&found.id)?;
        let store = self.read_store()?;
        let reader = store.read()?;
        let parent_versions = found
            .commit
            .parents
            .iter()
            .map(|parent| {
                version_of(&reader, &found.name, parent)
                    .map(|version| version.map(|version| version.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PageInfo {
            name: found.name.to_string(),
            version: found.version.as_ref().map(|version| version.to_string()),
            id: found.id,
            tags,
            key: found.commit.key.clone(),
            parent_versions,
        })
    }

    /// The Markdown summary page of a version, at most `max_tokens` (4 characters each).
    pub fn summary_page(&self, found: &Resolved, max_tokens: usize) -> Result<String, RepoError> {
        let summary = self.summary(&found.commit)?;
        let info = self.page_info(found)?;
        Ok(summary::render_markdown(&summary, &info, max_tokens))
    }

    /// The bytes of a blob (an embedded code file).
    pub fn blob(&self, id: &ObjectId) -> Result<Vec<u8>, RepoError> {
        let store = self.read_store()?;
        let reader = store.read()?;
        Ok(read_object(&reader, id, Kind::Blob)?)
    }

    /// Tags pointing at a commit, as (dataset, tag).
    pub fn tags_of(&self, id: &CommitId) -> Result<Vec<String>, RepoError> {
        Ok(self
            .tags()?
            .into_iter()
            .filter(|tag| tag.id == *id)
            .map(|tag| tag.tag)
            .collect())
    }

    /// Calls `each` with every row of a version, in key order, until it returns false.
    ///
    /// Leaves are read a batch at a time, each with a short store open, so a slow consumer
    /// (a pager, a pipe) never keeps other pail processes waiting.
    pub fn for_each_row(
        &self,
        commit: &Commit,
        mut each: impl FnMut(Value) -> Result<bool, RepoError>,
    ) -> Result<(), RepoError> {
        let schema = self.schema(&commit.schema)?;
        self.for_each_batch(commit, |batch| {
            for row in schema::batch_to_rows(&schema, &batch)? {
                if !each(row)? {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }

    /// Calls `each` with the record batches of a version (the Arrow form of
    /// `Schema::to_arrow`), in key order, until it returns false. Leaves are read 16 at a
    /// time, each group in its own short store transaction.
    pub fn for_each_batch(
        &self,
        commit: &Commit,
        mut each: impl FnMut(RecordBatch) -> Result<bool, RepoError>,
    ) -> Result<(), RepoError> {
        let leaves = {
            let store = self.read_store()?;
            let reader = store.read()?;
            leaf_children(&reader, &commit.rows)?
        };
        for group in leaves.chunks(16) {
            let batches: Vec<RecordBatch> = {
                let store = self.read_store()?;
                let reader = store.read()?;
                let mut batches = Vec::new();
                for child in group {
                    batches.extend(read_leaf(&reader, &child.id)?);
                }
                batches
            };
            for batch in batches {
                if !each(batch)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The lineage of a version: its inputs, their inputs and so on (`down`: the versions
    /// made from it, and from those). Returns the graph and the index of the start.
    pub fn lineage(
        &self,
        start: &Resolved,
        down: bool,
    ) -> Result<(crate::lineage::LineageGraph, usize), RepoError> {
        use crate::lineage::{LineageGraph, LineageNode};
        let mut graph = LineageGraph::default();
        let node_of =
            |name: &str, version: Option<&semver::Version>, id: CommitId| LineageNode::Version {
                name: name.to_string(),
                version: version.map(|v| v.to_string()).unwrap_or_else(|| id.short()),
                commit: id,
            };
        let root = graph.index(node_of(
            &start.name.to_string(),
            start.version.as_ref(),
            start.id,
        ));
        let store = self.read_store()?;
        let reader = store.read()?;
        // Every version, for names and for the downstream search.
        let mut versions: Vec<(DatasetName, semver::Version, CommitId)> = Vec::new();
        for (ref_name, id) in reader.refs("datasets/")? {
            if let Some((name, RefKind::Version, label)) = parse_dataset_ref(&ref_name)
                && let Ok(version) = semver::Version::parse(&label)
            {
                versions.push((name, version, CommitId(id)));
            }
        }
        let mut queue = vec![(start.id, root)];
        let mut visited = std::collections::HashSet::new();
        while let Some((id, idx)) = queue.pop() {
            if !visited.insert(id) {
                continue;
            }
            if down {
                for (name, version, candidate) in &versions {
                    let Ok(commit) = read_commit(&reader, candidate) else {
                        continue;
                    };
                    let uses = commit.inputs.iter().any(
                        |input| matches!(input, Input::Dataset { commit, .. } if *commit == id),
                    );
                    if uses {
                        let child =
                            graph.index(node_of(&name.to_string(), Some(version), *candidate));
                        graph.edges.push((idx, child));
                        queue.push((*candidate, child));
                    }
                }
            } else {
                let Ok(commit) = read_commit(&reader, &id) else {
                    continue;
                };
                for input in &commit.inputs {
                    let (node, next) = match input {
                        Input::Dataset {
                            name,
                            version,
                            commit,
                        } => (
                            LineageNode::Version {
                                name: name.clone(),
                                version: if version.is_empty() {
                                    commit.short()
                                } else {
                                    version.clone()
                                },
                                commit: *commit,
                            },
                            Some(*commit),
                        ),
                        Input::Source { uri, listed_at } => (
                            LineageNode::Source {
                                uri: uri.clone(),
                                listed_at: *listed_at,
                            },
                            None,
                        ),
                    };
                    let from = graph.index(node);
                    graph.edges.push((from, idx));
                    if let Some(next) = next {
                        queue.push((next, from));
                    }
                }
            }
        }
        graph.edges.sort();
        graph.edges.dedup();
        Ok((graph, root))
    }

    /// Checks the repository: every object's bytes hash to its id, and every object every
    /// ref needs (of every kind, through `walk`) is present and decodes as its readers
    /// decode it. Returns the problems found (empty when healthy).
    pub fn fsck(&self) -> Result<(u64, Vec<String>), RepoError> {
        let store = self.store()?;
        let reader = store.read()?;
        let mut problems = Vec::new();
        let mut n_objects = 0u64;
        reader.for_each_object(|key, stored| {
            n_objects += 1;
            let id = ObjectId::from_slice(key);
            let kind = stored.first().and_then(|code| Kind::from_code(*code));
            match (id, kind) {
                (Some(id), Some(kind)) => {
                    let actual = ObjectId::compute(kind, &stored[1..]);
                    if actual != id {
                        problems.push(format!(
                            "object {id} is corrupt: its bytes hash to {actual}"
                        ));
                    }
                }
                _ => problems.push(format!("a record with key {key:02x?} is not an object")),
            }
        })?;
        // Everything every ref needs, each object decoded as its readers decode it.
        let refs = reader.refs("datasets/")?;
        crate::walk::walk(
            refs.iter().map(|(_, id)| (*id, Kind::Commit)),
            |root, id, kind| -> Result<Visit, RepoError> {
                let via = &refs[root].0;
                let bytes = match reader.object(&id)? {
                    None => {
                        problems.push(format!("{via}: {kind} {id} is missing"));
                        return Ok(Visit::Stop);
                    }
                    Some((found, _)) if found != kind => {
                        problems.push(format!(
                            "{via}: object {id} is a {found}, expected a {kind}"
                        ));
                        return Ok(Visit::Stop);
                    }
                    Some((_, bytes)) => bytes,
                };
                let decoded = crate::walk::check_decodes(kind, &id, &bytes)
                    .and_then(|()| crate::walk::children(kind, &id, &bytes));
                match decoded {
                    Ok(children) => Ok(Visit::Follow(children)),
                    Err(err) => {
                        problems.push(format!("{via}: {kind} {id} cannot be read: {err}"));
                        Ok(Visit::Stop)
                    }
                }
            },
        )?;
        Ok((n_objects, problems))
    }

    /// Deletes objects no ref reaches. Returns how many objects and bytes were removed.
    pub fn gc(&self) -> Result<(u64, u64), RepoError> {
        let store = self.store()?;
        let writer = store.write()?;
        writer.create_tables()?;
        let roots: Vec<CommitId> = writer
            .refs("datasets/")?
            .into_iter()
            .map(|(_, id)| CommitId(id))
            .collect();
        let reachable: std::collections::HashSet<ObjectId> = {
            // The closure reads through a Reader; a write transaction sees the same data.
            drop(writer);
            let reader = store.read()?;
            let skip = |_: &ObjectId| -> Result<bool, RepoError> { Ok(false) };
            crate::remote::closure(&reader, &roots, &skip)?
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        };
        let writer = store.write()?;
        // Refs may have moved between the two transactions: only delete if they did not.
        let now: Vec<CommitId> = writer
            .refs("datasets/")?
            .into_iter()
            .map(|(_, id)| CommitId(id))
            .collect();
        if now != roots {
            return Ok((0, 0));
        }
        let mut garbage = Vec::new();
        writer.for_each_object(|key, stored| {
            if let Some(id) = ObjectId::from_slice(key)
                && !reachable.contains(&id)
            {
                garbage.push((id, stored.len() as u64));
            }
        })?;
        let bytes = garbage.iter().map(|(_, len)| len).sum();
        for (id, _) in &garbage {
            writer.delete_object(id)?;
        }
        writer.commit()?;
        Ok((garbage.len() as u64, bytes))
    }

    // ---- tags ------------------------------------------------------------------------

    /// Points `tag` at a version. Returns the commit the tag pointed at before, if any.
    pub fn tag(
        &self,
        dataset: &DatasetRef,
        tag: &str,
        force: bool,
    ) -> Result<(Resolved, Option<CommitId>), RepoError> {
        check_tag(tag)?;
        let store = self.store()?;
        let writer = store.write()?;
        writer.create_tables()?;
        let resolved = resolve_in(&writer, dataset)?;
        let tag_ref = resolved.name.tag_ref(tag);
        let previous = writer.get_ref(&tag_ref)?.map(CommitId);
        if let Some(previous) = previous
            && previous != resolved.id
            && !force
        {
            let version = version_of(&writer, &resolved.name, &previous)?
                .map(|version| version.to_string())
                .unwrap_or_else(|| previous.short());
            return Err(RepoError::TagExists {
                tag: tag.to_string(),
                name: resolved.name.to_string(),
                version,
            });
        }
        writer.set_ref(&tag_ref, &resolved.id.object())?;
        writer.commit()?;
        Ok((resolved, previous))
    }

    pub fn tags(&self) -> Result<Vec<TagInfo>, RepoError> {
        let store = self.read_store()?;
        let reader = store.read()?;
        let mut tags = Vec::new();
        for (ref_name, id) in reader.refs("datasets/")? {
            if let Some((name, RefKind::Tag, tag)) = parse_dataset_ref(&ref_name) {
                let id = CommitId(id);
                let version = version_of(&reader, &name, &id)?;
                tags.push(TagInfo {
                    name,
                    tag,
                    id,
                    version,
                });
            }
        }
        Ok(tags)
    }

    /// Deletes a tag given as `TAG` (unique across datasets) or `NAME@TAG`.
    pub fn delete_tag(&self, text: &str) -> Result<TagInfo, RepoError> {
        let (dataset, tag) = match text.split_once('@') {
            Some((name, tag)) => (Some(self.parse_name(name)?), tag.to_string()),
            None => (None, text.to_string()),
        };
        let matches: Vec<TagInfo> = self
            .tags()?
            .into_iter()
            .filter(|info| {
                info.tag == tag && dataset.as_ref().is_none_or(|name| *name == info.name)
            })
            .collect();
        let found = match matches.len() {
            0 => return Err(RepoError::TagNotFound { tag, dataset }),
            1 => matches
                .into_iter()
                .next()
                .expect("checked above: one match"),
            _ => {
                return Err(RepoError::AmbiguousTag {
                    tag,
                    names: matches.iter().map(|info| info.name.to_string()).collect(),
                });
            }
        };
        let store = self.store()?;
        let writer = store.write()?;
        writer.delete_ref(&found.name.tag_ref(&found.tag))?;
        writer.commit()?;
        Ok(found)
    }
}

// ---- helpers shared by readers and writers -------------------------------------------

/// Names of the temporaries [`owned_temp_file`] makes.
const OWNED_TEMP_PREFIX: &str = "owned-";

/// A named temporary file in `dir` (`.pail/tmp/`) that holds an exclusive `flock` for as
/// long as it is open: the kernel drops the lock when its process dies, however it dies, so
/// `gc` removes exactly the files whose owner is gone and never a live one.
pub(crate) fn owned_temp_file(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::MetadataExt;
    std::fs::create_dir_all(dir)?;
    loop {
        let file = tempfile::Builder::new()
            .prefix(OWNED_TEMP_PREFIX)
            .tempfile_in(dir)?;
        match file.as_file().try_lock() {
            Ok(()) => {}
            // A `gc` is looking at it right now; it removes it, so take another name.
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(err)) => return Err(err),
        }
        // A `gc` may have removed the name between its creation and our lock.
        let ours = file.as_file().metadata()?.ino();
        match std::fs::metadata(file.path()) {
            Ok(meta) if meta.ino() == ours => return Ok(file),
            Ok(_) => continue,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        }
    }
}

fn writer_commit(writer: &Writer, id: &CommitId) -> Result<Commit, RepoError> {
    match writer.object(&id.object())? {
        Some((Kind::Commit, bytes)) => Ok(Commit::decode(&bytes)?),
        _ => Err(TreeError::Missing { id: id.object() }.into()),
    }
}

fn writer_schema(writer: &Writer, id: &ObjectId) -> Result<Schema, RepoError> {
    match writer.object(id)? {
        Some((Kind::Schema, bytes)) => decode_schema(&bytes),
        _ => Err(TreeError::Missing { id: *id }.into()),
    }
}

fn schema_object(schema: &Schema) -> (ObjectId, Vec<u8>) {
    schema.encode()
}

pub(crate) fn decode_schema(bytes: &[u8]) -> Result<Schema, RepoError> {
    Ok(Schema::decode(bytes)?)
}

/// `listing::KnownDigests` over the rows of an earlier version: leaves are read a group at
/// a time (the database is open only while a group is read), and leaves whose key range
/// the listing passes by are never read.
struct PreviousDigests {
    repo: Repo,
    base: String,
    /// Leaves not read yet, in key order.
    leaves: std::collections::VecDeque<Child>,
    /// Rows read and not yet passed by the listing: key and file.
    rows: std::collections::VecDeque<(Vec<u8>, FileEntry)>,
}

/// Leaves read per opening of the database.
const PREVIOUS_LEAVES_PER_READ: usize = 16;

/// See `Repo::reusable`.
#[derive(Default)]
struct Reusable {
    leaves: Vec<Child>,
    hashed: bool,
}

impl PreviousDigests {
    /// Reads the next group of leaves that can hold `key`, if any.
    fn read_towards(&mut self, key: &[u8]) -> Result<(), RepoError> {
        while self
            .leaves
            .front()
            .is_some_and(|leaf| leaf.last_key.as_slice() < key)
        {
            self.leaves.pop_front();
        }
        if self
            .leaves
            .front()
            .is_none_or(|leaf| leaf.first_key.as_slice() > key)
        {
            return Ok(());
        }
        let store = self.repo.read_store()?;
        let reader = store.read()?;
        for _ in 0..PREVIOUS_LEAVES_PER_READ {
            let Some(leaf) = self.leaves.pop_front() else {
                break;
            };
            for batch in read_leaf(&reader, &leaf.id)? {
                let files = crate::rows::leaf::files_from_batch(&batch).map_err(TreeError::from)?;
                for (source, file) in files {
                    self.rows
                        .push_back((key::file_key(&source, &file.path), file));
                }
            }
        }
        Ok(())
    }
}

impl listing::KnownDigests for PreviousDigests {
    fn lookup(&mut self, entry: &FileEntry) -> Result<Option<[u8; 32]>, ListError> {
        let key = key::file_key(&self.base, &entry.path);
        loop {
            while self
                .rows
                .front()
                .is_some_and(|(row_key, _)| row_key.as_slice() < key.as_slice())
            {
                self.rows.pop_front();
            }
            if let Some((row_key, old)) = self.rows.front() {
                let same = *row_key == key
                    && old.size == entry.size
                    && old.etag == entry.etag
                    && old.version == entry.version
                    && old.last_modified == entry.last_modified;
                return Ok(if same { old.blake3 } else { None });
            }
            let before = self.leaves.len();
            self.read_towards(&key).map_err(|err| ListError::Previous {
                source: Box::new(err),
            })?;
            if self.rows.is_empty() && self.leaves.len() == before {
                return Ok(None);
            }
        }
    }
}

fn read_commit(reader: &Reader, id: &CommitId) -> Result<Commit, RepoError> {
    Ok(Commit::decode(&read_object(
        reader,
        &id.object(),
        Kind::Commit,
    )?)?)
}

fn read_schema(reader: &Reader, id: &ObjectId) -> Result<Schema, RepoError> {
    decode_schema(&read_object(reader, id, Kind::Schema)?)
}

enum RefKind {
    Version,
    Tag,
}

fn parse_dataset_ref(ref_name: &str) -> Option<(DatasetName, RefKind, String)> {
    let parts: Vec<&str> = ref_name.split('/').collect();
    let ["datasets", namespace, project, name, kind, label] = parts.as_slice() else {
        return None;
    };
    let name = DatasetName::parse_full(&format!("{namespace}.{project}.{name}")).ok()?;
    let kind = match *kind {
        "versions" => RefKind::Version,
        "tags" => RefKind::Tag,
        _ => return None,
    };
    Some((name, kind, label.to_string()))
}

/// Trait-free access to the read methods both transaction kinds share.
trait ReadRefs {
    fn refs_with(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>, StoreError>;
    fn ref_at(&self, name: &str) -> Result<Option<ObjectId>, StoreError>;
    fn commits_with_prefix(&self, prefix: &str) -> Result<Vec<ObjectId>, StoreError>;
    fn commit_at(&self, id: &CommitId) -> Result<Commit, RepoError>;
}

macro_rules! impl_read_refs {
    ($ty:ty) => {
        impl ReadRefs for $ty {
            fn refs_with(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>, StoreError> {
                self.refs(prefix)
            }
            fn ref_at(&self, name: &str) -> Result<Option<ObjectId>, StoreError> {
                self.get_ref(name)
            }
            fn commits_with_prefix(&self, prefix: &str) -> Result<Vec<ObjectId>, StoreError> {
                Ok(self
                    .objects_with_prefix(prefix)?
                    .into_iter()
                    .filter(|(_, kind)| *kind == Kind::Commit)
                    .map(|(id, _)| id)
                    .collect())
            }
            fn commit_at(&self, id: &CommitId) -> Result<Commit, RepoError> {
                match self.object(&id.object())? {
                    Some((Kind::Commit, bytes)) => Ok(Commit::decode(&bytes)?),
                    Some((found, _)) => Err(TreeError::WrongKind {
                        id: id.object(),
                        found,
                        expected: Kind::Commit,
                    }
                    .into()),
                    None => Err(TreeError::Missing { id: id.object() }.into()),
                }
            }
        }
    };
}
impl_read_refs!(Reader);
impl_read_refs!(Writer);

fn dataset_versions(
    reader: &impl ReadRefs,
    name: &DatasetName,
) -> Result<Vec<(semver::Version, CommitId)>, RepoError> {
    let prefix = format!("{}versions/", name.ref_prefix());
    let mut versions: Vec<(semver::Version, CommitId)> = reader
        .refs_with(&prefix)?
        .into_iter()
        .filter_map(|(ref_name, id)| {
            semver::Version::parse(&ref_name[prefix.len()..])
                .ok()
                .map(|version| (version, CommitId(id)))
        })
        .collect();
    versions.sort();
    Ok(versions)
}

fn latest_version(
    reader: &impl ReadRefs,
    name: &DatasetName,
) -> Result<Option<(semver::Version, CommitId)>, RepoError> {
    Ok(dataset_versions(reader, name)?.pop())
}

fn version_of(
    reader: &impl ReadRefs,
    name: &DatasetName,
    id: &CommitId,
) -> Result<Option<semver::Version>, RepoError> {
    Ok(dataset_versions(reader, name)?
        .into_iter()
        .rev()
        .find(|(_, candidate)| candidate == id)
        .map(|(version, _)| version))
}

fn resolve_in(reader: &impl ReadRefs, dataset: &DatasetRef) -> Result<Resolved, RepoError> {
    let name = &dataset.name;
    let versions = dataset_versions(reader, name)?;
    let not_found = || RepoError::VersionNotFound {
        name: name.to_string(),
        spec: dataset.version.to_string(),
        available: versions
            .iter()
            .rev()
            .take(5)
            .map(|(version, _)| version.to_string())
            .collect(),
    };
    let found = |version: Option<semver::Version>, id: CommitId| -> Result<Resolved, RepoError> {
        Ok(Resolved {
            name: name.clone(),
            version,
            id,
            commit: reader.commit_at(&id)?,
        })
    };
    let with_version = |id: CommitId| -> Option<semver::Version> {
        versions
            .iter()
            .rev()
            .find(|(_, candidate)| *candidate == id)
            .map(|(version, _)| version.clone())
    };
    match &dataset.version {
        VersionSpec::Latest => match versions.last() {
            Some((version, id)) => found(Some(version.clone()), *id),
            None => Err(RepoError::DatasetNotFound { name: name.clone() }),
        },
        VersionSpec::Semver(version) => {
            if versions.is_empty() {
                return Err(RepoError::DatasetNotFound { name: name.clone() });
            }
            match versions.iter().find(|(candidate, _)| candidate == version) {
                Some((version, id)) => found(Some(version.clone()), *id),
                None => Err(not_found()),
            }
        }
        VersionSpec::TagOrPrefix(text) => {
            if let Some(id) = reader.ref_at(&name.tag_ref(text))? {
                let id = CommitId(id);
                return found(with_version(id), id);
            }
            let is_hex = text.len() >= 4 && text.chars().all(|c| c.is_ascii_hexdigit());
            if !is_hex {
                return Err(if versions.is_empty() {
                    RepoError::DatasetNotFound { name: name.clone() }
                } else {
                    not_found()
                });
            }
            let mut candidates: Vec<(semver::Version, CommitId)> = versions
                .iter()
                .filter(|(_, id)| id.to_hex().starts_with(text.as_str()))
                .cloned()
                .collect();
            candidates.dedup_by(|a, b| a.1 == b.1);
            match candidates.len() {
                1 => {
                    let (version, id) = candidates.remove(0);
                    found(Some(version), id)
                }
                0 => {
                    // Any commit in the repository, even one no version names.
                    let ids = reader.commits_with_prefix(text)?;
                    match ids.len() {
                        0 => Err(if versions.is_empty() {
                            RepoError::DatasetNotFound { name: name.clone() }
                        } else {
                            not_found()
                        }),
                        1 => found(None, CommitId(ids[0])),
                        _ => Err(RepoError::AmbiguousPrefix {
                            prefix: text.clone(),
                            candidates: ids.iter().map(|id| id.short()).collect(),
                        }),
                    }
                }
                _ => Err(RepoError::AmbiguousPrefix {
                    prefix: text.clone(),
                    candidates: candidates
                        .iter()
                        .map(|(version, id)| format!("{} ({version})", id.short()))
                        .collect(),
                }),
            }
        }
    }
}

/// The version after `version`; None when its number is at the limit (a version number can
/// come from a remote, so it is never incremented unchecked).
fn bump_version(version: &semver::Version, bump: Bump) -> Option<semver::Version> {
    Some(match bump {
        Bump::Patch => {
            semver::Version::new(version.major, version.minor, version.patch.checked_add(1)?)
        }
        Bump::Minor => semver::Version::new(version.major, version.minor.checked_add(1)?, 0),
        Bump::Major => semver::Version::new(version.major.checked_add(1)?, 0, 0),
    })
}

/// Calls `each` for every non-blank line of a JSON-lines file, parsed.
fn for_each_record(
    path: &Path,
    mut each: impl FnMut(u64, Value) -> Result<(), RepoError>,
) -> Result<(), RepoError> {
    let file = std::fs::File::open(path).map_err(|source| RepoError::ReadInput {
        what: "records from",
        path: path.to_path_buf(),
        source,
    })?;
    let reader = BufReader::with_capacity(1 << 20, file);
    for (idx, line) in reader.lines().enumerate() {
        let line_no = idx as u64 + 1;
        let line = line.map_err(|source| {
            if source.kind() == std::io::ErrorKind::InvalidData {
                RepoError::BadJson {
                    line: line_no,
                    detail: "the line is not valid UTF-8".into(),
                }
            } else {
                RepoError::ReadInput {
                    what: "records from",
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        if line.trim().is_empty() {
            continue;
        }
        // Exact floats and named int overflows; see `rows::json`.
        let value: Value = crate::rows::json::parse(&line).map_err(|err| match err {
            crate::rows::json::ParseError::IntOutOfRange { literal } => RepoError::IntOutOfRange {
                line: line_no,
                literal,
            },
            other => RepoError::BadJson {
                line: line_no,
                detail: other.to_string(),
            },
        })?;
        each(line_no, value)?;
    }
    Ok(())
}

/// A spooled record back as a value: the spool holds what `rows::canonical::encode` wrote.
fn decode_payload(payload: &[u8]) -> Result<Value, RepoError> {
    crate::rows::canonical::decode(payload).map_err(|err| {
        RepoError::Tree(TreeError::Leaf(crate::rows::leaf::LeafError::Encode(
            err.to_string(),
        )))
    })
}

/// The row key of a normalized record: its key columns in order, or, with none, the
/// BLAKE3 of its canonical hash encoding (`payload`, from `rows::canonical::encode`).
pub fn row_key(key_columns: &[String], normalized: &Value, payload: &[u8]) -> Vec<u8> {
    if key_columns.is_empty() {
        return blake3::hash(payload).as_bytes().to_vec();
    }
    let mut key = Vec::new();
    for column in key_columns {
        key::push_value(&mut key, lookup(normalized, column));
    }
    key
}

/// Looks up a dotted column path in a normalized record.
fn lookup<'a>(value: &'a Value, path: &str) -> &'a Value {
    let mut current = value;
    for part in path.split('.') {
        current = current.get(part).unwrap_or(&Value::Null);
    }
    current
}

/// Checks key columns against the schema; a File column stands for its source and path.
fn expand_key_columns(schema: &Schema, columns: &[String]) -> Result<Vec<String>, RepoError> {
    let mut expanded = Vec::new();
    for column in columns {
        let column = column.trim();
        let mut fields = &schema.fields;
        let mut ty: Option<&Type> = None;
        for part in column.split('.') {
            let field = fields
                .iter()
                .find(|field| field.name == part)
                .ok_or_else(|| RepoError::BadKey {
                    column: column.to_string(),
                    reason: "is not a column of the schema".into(),
                })?;
            let mut inner = &field.ty;
            if let Type::Optional(boxed) = inner {
                inner = boxed;
            }
            ty = Some(inner);
            fields = match inner {
                Type::Struct(children) => children,
                Type::File => &FILE_FIELDS,
                _ => &EMPTY_FIELDS,
            };
        }
        match ty {
            Some(Type::File) => {
                expanded.push(format!("{column}.source"));
                expanded.push(format!("{column}.path"));
            }
            Some(Type::Struct(_)) | Some(Type::List(_)) => {
                return Err(RepoError::BadKey {
                    column: column.to_string(),
                    reason: "is a struct or list; key columns must be scalars or File".into(),
                });
            }
            _ => expanded.push(column.to_string()),
        }
    }
    Ok(expanded)
}

static EMPTY_FIELDS: Vec<schema::Field> = Vec::new();
static FILE_FIELDS: std::sync::LazyLock<Vec<schema::Field>> =
    std::sync::LazyLock::new(schema::file_fields);

struct FileEncoder {
    source: String,
}

impl RowEncoder for FileEncoder {
    type Row = FileEntry;

    fn batch(&self, rows: &[FileEntry]) -> Result<RecordBatch, TreeError> {
        Ok(crate::rows::leaf::files_batch(&self.source, rows))
    }

    fn digest(&self, hasher: &mut blake3::Hasher, row: &FileEntry) {
        crate::rows::leaf::digest_file(hasher, row);
    }
}

struct JsonEncoder {
    schema: Schema,
}

impl RowEncoder for JsonEncoder {
    type Row = Vec<u8>;

    fn batch(&self, rows: &[Vec<u8>]) -> Result<RecordBatch, TreeError> {
        let values: Vec<Value> = rows
            .iter()
            .map(|payload| {
                crate::rows::canonical::decode(payload).map_err(|err| {
                    TreeError::Leaf(crate::rows::leaf::LeafError::Encode(err.to_string()))
                })
            })
            .collect::<Result<_, _>>()?;
        schema::rows_to_batch(&self.schema, &values)
            .map_err(|err| TreeError::Leaf(crate::rows::leaf::LeafError::Encode(err.to_string())))
    }

    fn digest(&self, hasher: &mut blake3::Hasher, row: &Vec<u8>) {
        hasher.update(&(row.len() as u64).to_le_bytes());
        hasher.update(row);
    }
}

/// What a node entry must say about a leaf, recomputed from the leaf's rows the way the
/// commit that names it built them (`FileEncoder` for a listing, `JsonEncoder` otherwise):
/// row count, key range, digest, File bytes and column stats. Pull checks pulled entries
/// against it, so a forged entry cannot pass a leaf off under another chunk's digest.
pub(crate) fn describe_leaf(
    commit: &Commit,
    schema: &Schema,
    batches: &[RecordBatch],
) -> Result<Child, String> {
    let listing = commit
        .inputs
        .iter()
        .any(|input| matches!(input, Input::Source { .. }));
    let mut hasher = blake3::Hasher::new();
    hasher.update(&commit.schema.0);
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut n_bytes = 0u64;
    let mut add = |key: Vec<u8>, hasher: &mut blake3::Hasher| -> Result<(), String> {
        if keys.last().is_some_and(|last| *last >= key) {
            return Err("its rows' keys do not ascend".into());
        }
        hasher.update(&(key.len() as u64).to_le_bytes());
        hasher.update(&key);
        // Only the first and last keys are needed.
        if keys.len() == 2 {
            keys.pop();
        }
        keys.push(key);
        Ok(())
    };
    for batch in batches {
        n_bytes = n_bytes.saturating_add(crate::rows::leaf::file_bytes(schema, batch));
        if listing {
            let files =
                crate::rows::leaf::files_from_batch(batch).map_err(|err| err.to_string())?;
            for (source, file) in files {
                add(key::file_key(&source, &file.path), &mut hasher)?;
                crate::rows::leaf::digest_file(&mut hasher, &file);
            }
        } else {
            let rows = schema::batch_to_rows(schema, batch).map_err(|err| err.to_string())?;
            for value in rows {
                let normalized = schema
                    .validate(&value)
                    .map_err(|violation| violation.to_string())?;
                // The payload the commit hashed: the canonical hash encoding since commit
                // format 2, JSON text before it.
                let payload = if commit.format >= 2 {
                    crate::rows::canonical::encode(&normalized)
                } else {
                    serde_json::to_vec(&normalized).map_err(|err| err.to_string())?
                };
                add(row_key(&commit.key, &normalized, &payload), &mut hasher)?;
                hasher.update(&(payload.len() as u64).to_le_bytes());
                hasher.update(&payload);
            }
        }
    }
    let n_rows = batches.iter().map(|batch| batch.num_rows() as u64).sum();
    let stats = match batches {
        [] => Vec::new(),
        [batch] => crate::rows::leaf::column_stats(batch),
        _ => {
            let all = datafusion::arrow::compute::concat_batches(&batches[0].schema(), batches)
                .map_err(|err| err.to_string())?;
            crate::rows::leaf::column_stats(&all)
        }
    };
    let last_key = keys.last().cloned().unwrap_or_default();
    let first_key = keys.into_iter().next().unwrap_or_default();
    Ok(Child {
        id: ObjectId([0; 32]),
        first_key: serde_bytes::ByteBuf::from(first_key),
        last_key: serde_bytes::ByteBuf::from(last_key),
        n_rows,
        n_bytes,
        digest: ObjectId(*hasher.finalize().as_bytes()),
        stats,
    })
}

/// A dataset as `ls --json` and agents list it: its latest version and that version's
/// counts. `info` has at least one version.
pub fn dataset_json(info: &DatasetInfo, commit: &Commit) -> Value {
    let (version, id) = info
        .versions
        .last()
        .expect("datasets without versions are dropped");
    json!({
        "name": info.name.to_string(),
        "latest": version.to_string(),
        "id": id.to_hex(),
        "versions": info.versions.iter().map(|(v, _)| v.to_string()).collect::<Vec<_>>(),
        "tags": info.tags.iter().map(|(tag, _)| tag.clone()).collect::<Vec<_>>(),
        "n_rows": commit.n_rows,
        "n_bytes": commit.n_bytes,
        "time": format_time(commit.time),
        "message": commit.message,
    })
}

/// An input as `show --json`, summaries and agents print it, ids as hex.
pub(crate) fn input_json(input: &Input) -> Value {
    match input {
        Input::Dataset {
            name,
            version,
            commit,
        } => {
            json!({"type": "dataset", "name": name, "version": version, "commit": commit.to_hex()})
        }
        Input::Source { uri, listed_at } => {
            json!({"type": "source", "uri": uri, "listed_at": format_time(*listed_at)})
        }
    }
}

/// The JSON form of a commit: every field, for `show --json` and agents.
pub fn commit_json(
    name: &DatasetName,
    version: Option<&semver::Version>,
    id: &CommitId,
    commit: &Commit,
    tags: &[String],
) -> Value {
    let inputs: Vec<Value> = commit.inputs.iter().map(input_json).collect();
    json!({
        "name": name.to_string(),
        "version": version.map(|version| version.to_string()),
        "id": id.to_hex(),
        "format": commit.format,
        "parents": commit.parents.iter().map(|parent| parent.to_hex()).collect::<Vec<_>>(),
        "inputs": inputs,
        "schema": commit.schema.to_hex(),
        "rows": commit.rows.to_hex(),
        "n_rows": commit.n_rows,
        "n_bytes": commit.n_bytes,
        "key": commit.key,
        "author": commit.author,
        "time": format_time(commit.time),
        "message": commit.message,
        "command": commit.command,
        "git": commit.git.as_ref().map(|git| json!({
            "repository": git.repository,
            "head": git.head,
            "branch": git.branch,
            "dirty": git.dirty,
        })),
        "code": commit.code.iter().map(|file| json!({
            "path": file.path,
            "blob": file.blob.to_hex(),
            "size": file.size,
        })).collect::<Vec<_>>(),
        "summary": commit.summary.map(|id| id.to_hex()),
        "tags": tags,
    })
}

/// RFC 3339 in UTC with microseconds.
pub fn format_time(micros: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(micros)
        .map(|time| time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_else(|| micros.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    // #12 item 11: a version number from outside never wraps when bumped.
    #[test]
    fn a_version_at_the_limit_has_no_next_version() {
        let max = u64::MAX;
        let at = |major, minor, patch| semver::Version::new(major, minor, patch);
        assert_eq!(bump_version(&at(1, 0, max), Bump::Patch), None);
        assert_eq!(bump_version(&at(1, max, 0), Bump::Minor), None);
        assert_eq!(bump_version(&at(max, 0, 0), Bump::Major), None);
        assert_eq!(bump_version(&at(1, 0, max), Bump::Minor), Some(at(1, 1, 0)));
        assert_eq!(bump_version(&at(1, 2, 3), Bump::Patch), Some(at(1, 2, 4)));
        assert_eq!(bump_version(&at(1, 2, 3), Bump::Major), Some(at(2, 0, 0)));
    }
}
