//! The repository handle: `.pail/` on disk, its configuration and wait policy, the store's
//! transactions, and name/ref resolution. Every operation opens the store for its
//! transactions only. Capabilities (commit, diff, remote, checkout, map, ...) are modules
//! that take a `&Repo`; the handle knows none of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use serde_json::Value;

use crate::name::{DatasetName, DatasetRef, NameDefaults, NameError, VersionSpec};
use crate::object::{CodecError, Commit, CommitId, Kind, ObjectId};
use crate::rows::TreeError;
use crate::rows::layout::{Layout, Objects, Part, PartReader};
use crate::rows::leaf::LeafError;
use crate::schema::{self, Schema, SchemaError};
use crate::store::{ReadTxn, STORE_FORMAT, Store, StoreError, Transaction, WaitPolicy};

/// The name of the repository directory.
pub const PAIL_DIR: &str = ".pail";
const DB_FILE: &str = "pail.redb";
const CONFIG_FILE: &str = "config.toml";

/// Why an operation on the repository failed.
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
    #[error("bad configuration in {path}: {detail}")]
    Config { path: PathBuf, detail: String },
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("corrupt object in the repository: {0}")]
    Codec(#[from] CodecError),
    #[error("dataset {name} does not exist{}", similar_text(.similar))]
    DatasetNotFound {
        name: DatasetName,
        /// Datasets of the same last name in another namespace or project.
        similar: Vec<String>,
    },
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
}

fn similar_text(similar: &[String]) -> String {
    match similar {
        [] => String::new(),
        [one] => format!("; did you mean {one}?"),
        many => format!("; did you mean one of {}?", many.join(", ")),
    }
}

/// `DatasetNotFound` for `name`, naming the datasets whose last part is the same (a short
/// name means `local.default.NAME`, which a user of `team.vision.NAME` may not expect).
fn dataset_not_found(reader: &Transaction<impl ReadTxn>, name: &DatasetName) -> RepoError {
    let mut similar: Vec<String> = match reader.refs("datasets/") {
        Ok(refs) => refs
            .into_iter()
            .filter_map(|(ref_name, _)| parse_dataset_ref(&ref_name).map(|(found, _, _)| found))
            .filter(|found| found.name == name.name && found != name)
            .map(|found| found.to_string())
            .collect(),
        Err(_) => Vec::new(),
    };
    similar.dedup();
    RepoError::DatasetNotFound {
        name: name.clone(),
        similar,
    }
}

fn available_text(available: &[String]) -> String {
    if available.is_empty() {
        String::new()
    } else {
        format!(" (it has {})", available.join(", "))
    }
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

/// A handle on a repository: its directory, name defaults and wait policy; the store is opened per operation.
#[derive(Clone)]
pub struct Repo {
    dir: PathBuf,
    defaults: NameDefaults,
    wait_timeout: Duration,
    on_wait: Option<Arc<dyn Fn() + Send + Sync>>,
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RepoError + '_ {
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

    /// The repository directory (`.pail`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The namespace and project a short dataset name leaves out.
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

    /// Parses a dataset name with this repository's defaults.
    pub fn parse_name(&self, text: &str) -> Result<DatasetName, RepoError> {
        Ok(DatasetName::parse(text, &self.defaults)?)
    }

    /// Parses `NAME[@SPEC]` with this repository's defaults.
    pub fn parse_ref(&self, text: &str) -> Result<DatasetRef, RepoError> {
        Ok(DatasetRef::parse(text, &self.defaults)?)
    }

    // ---- commit ----------------------------------------------------------------------

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
            return Err(dataset_not_found(&reader, name));
        }
        let mut log = Vec::new();
        for (version, id) in versions.into_iter().rev() {
            let commit = reader.get_commit(&id)?;
            log.push((version, id, commit));
        }
        Ok(log)
    }

    /// Reads any commit by id.
    pub fn commit(&self, id: &CommitId) -> Result<Commit, RepoError> {
        let store = self.read_store()?;
        let reader = store.read()?;
        Ok(reader.get_commit(id)?)
    }

    /// Reads the schema object `id`.
    pub fn schema(&self, id: &ObjectId) -> Result<Schema, RepoError> {
        let store = self.read_store()?;
        let reader = store.read()?;
        Ok(reader.get_schema(id)?)
    }

    /// The bytes of a blob (an embedded code file).
    pub fn blob(&self, id: &ObjectId) -> Result<Vec<u8>, RepoError> {
        let store = self.read_store()?;
        let reader = store.read()?;
        Ok(reader.object_of_kind(id, Kind::Blob)?)
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
    /// `Schema::to_arrow`), in key order, until it returns false. See [`Repo::batches`].
    pub fn for_each_batch(
        &self,
        commit: &Commit,
        mut each: impl FnMut(RecordBatch) -> Result<bool, RepoError>,
    ) -> Result<(), RepoError> {
        for batch in self.batches(commit)? {
            if !each(batch?)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The record batches of a version, in key order, as an iterator. A thread of its own
    /// reads the leaves ahead of the caller, a group at a time (up to `BYTES_PER_READ` of
    /// leaf bytes), each group in its own short store transaction, decodes them on every
    /// core and concatenates them into one batch while the caller takes the previous
    /// group's: the store is never held open between groups, and memory stays bounded
    /// (`GROUPS_AHEAD` groups wait).
    pub fn batches(&self, commit: &Commit) -> Result<Batches, RepoError> {
        let store = self.read_store()?;
        let reader = store.read()?;
        let schema = reader.get_schema(&commit.schema)?;
        let objects = Objects {
            reader: &reader,
            staging: None,
        };
        let layout = Layout::read(&objects, &commit.rows)?;
        drop(reader);
        drop(store);
        let (sender, groups) = std::sync::mpsc::sync_channel(GROUPS_AHEAD);
        let ahead = ReadAhead {
            repo: self.clone(),
            parts: layout.parts().into_iter().peekable(),
            part_reader: layout.part_reader(),
            threads: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        };
        std::thread::Builder::new()
            .name("pail-batches".into())
            .spawn(move || ahead.run(&sender))
            .map_err(io_err(Path::new("starting a thread to read leaves")))?;
        Ok(Batches {
            arrow_schema: Arc::new(schema.to_arrow()),
            groups,
            ready: std::collections::VecDeque::new(),
        })
    }
}

/// Leaf bytes [`Batches`] reads per opening of the store (a group ends at the leaf that
/// reaches it, or at `LEAVES_PER_READ` leaves).
const BYTES_PER_READ: usize = 2 << 20;
const LEAVES_PER_READ: usize = 256;
/// Groups of decoded batches that wait for the caller of [`Batches`].
const GROUPS_AHEAD: usize = 1;

/// A group of decoded batches, or the error that ended the reading.
type Group = Result<Vec<RecordBatch>, RepoError>;

/// The record batches of a version, from [`Repo::batches`]. After an error it ends; when
/// it is dropped, the thread reading ahead stops at its next group.
pub struct Batches {
    arrow_schema: arrow_schema::SchemaRef,
    /// Groups the reading thread decoded, in key order.
    groups: std::sync::mpsc::Receiver<Group>,
    /// Batches received and not yet returned.
    ready: std::collections::VecDeque<RecordBatch>,
}

impl Batches {
    /// The Arrow schema of every batch: `Schema::to_arrow` of the version's schema.
    pub fn schema(&self) -> arrow_schema::SchemaRef {
        self.arrow_schema.clone()
    }

    /// These batches as an Arrow `RecordBatchReader` (for the Arrow C stream interface);
    /// a `RepoError` reaches it as `ArrowError::ExternalError`.
    pub fn into_reader(
        self,
    ) -> arrow_array::RecordBatchIterator<
        impl Iterator<Item = Result<RecordBatch, arrow_schema::ArrowError>> + Send,
    > {
        let schema = self.schema();
        arrow_array::RecordBatchIterator::new(
            self.map(|batch| {
                batch.map_err(|err| arrow_schema::ArrowError::ExternalError(Box::new(err)))
            }),
            schema,
        )
    }
}

/// What the thread behind [`Batches`] reads: the parts (leaves, edited or not) not read
/// yet, in key order.
struct ReadAhead {
    repo: Repo,
    parts: std::iter::Peekable<std::vec::IntoIter<Part>>,
    part_reader: PartReader,
    threads: usize,
}

impl ReadAhead {
    /// Sends every group, in order, until the parts end, an error (sent too), or the
    /// [`Batches`] is dropped.
    fn run(mut self, sender: &std::sync::mpsc::SyncSender<Group>) {
        while self.parts.peek().is_some() {
            let group = self.read_group();
            let failed = group.is_err();
            if sender.send(group).is_err() || failed {
                return;
            }
        }
    }

    /// Reads the next group of leaves in one short transaction, then decodes its plain
    /// leaves on every core (edited ones are read by the `PartReader`, in the
    /// transaction); the batches keep key order.
    fn read_group(&mut self) -> Group {
        let mut decoded: Vec<Option<Vec<RecordBatch>>> = Vec::new();
        let mut plain: Vec<(usize, ObjectId, Vec<u8>)> = Vec::new();
        {
            let store = self.repo.read_store()?;
            let reader = store.read()?;
            let objects = Objects {
                reader: &reader,
                staging: None,
            };
            let mut bytes = 0;
            while bytes < BYTES_PER_READ && decoded.len() < LEAVES_PER_READ {
                let Some(part) = self.parts.next() else {
                    break;
                };
                if part.edit.is_some() {
                    decoded.push(Some(self.part_reader.read(&objects, &part, None)?));
                } else {
                    let leaf = objects.get(&part.leaf, Kind::Leaf)?;
                    bytes += leaf.len();
                    plain.push((decoded.len(), part.leaf, leaf));
                    decoded.push(None);
                }
            }
        }
        for (index, batches) in decode_leaves(plain, self.threads) {
            decoded[index] = Some(batches.map_err(TreeError::from)?);
        }
        let batches: Vec<RecordBatch> = decoded
            .into_iter()
            .flatten()
            .flatten()
            .filter(|batch| batch.num_rows() > 0)
            .collect();
        Ok(one_batch(batches))
    }
}

/// A group's batches as one: a leaf holds a few hundred rows, and every batch costs its
/// reader (a C stream crossing, a pyarrow object, a release) more than the copy; the
/// small batches' memory is freed here, hot, on this thread. As they are when they
/// cannot be concatenated (they always can: one version, one schema).
fn one_batch(batches: Vec<RecordBatch>) -> Vec<RecordBatch> {
    if batches.len() < 2 {
        return batches;
    }
    match arrow_select::concat::concat_batches(&batches[0].schema(), &batches) {
        Ok(batch) => vec![batch],
        Err(_) => batches,
    }
}

/// Decodes leaves (index, id, bytes) on up to `threads` threads.
fn decode_leaves(
    leaves: Vec<(usize, ObjectId, Vec<u8>)>,
    threads: usize,
) -> Vec<(usize, Result<Vec<RecordBatch>, LeafError>)> {
    let threads = threads.min(leaves.len());
    let decode = |(index, id, bytes): (usize, ObjectId, Vec<u8>)| {
        (index, crate::rows::leaf::decode(&id.to_hex(), bytes))
    };
    if threads <= 1 {
        return leaves.into_iter().map(decode).collect();
    }
    // Contiguous shares, so that each thread reads its leaves in order.
    let per_thread = leaves.len().div_ceil(threads);
    let mut shares: Vec<Vec<(usize, ObjectId, Vec<u8>)>> = Vec::new();
    let mut leaves = leaves.into_iter();
    loop {
        let share: Vec<_> = leaves.by_ref().take(per_thread).collect();
        if share.is_empty() {
            break;
        }
        shares.push(share);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|share| scope.spawn(move || share.into_iter().map(decode).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a leaf decoder does not panic"))
            .collect()
    })
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, RepoError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(batch) = self.ready.pop_front() {
                return Some(Ok(batch));
            }
            // The thread ends after the last group or an error: then this ends too.
            match self.groups.recv().ok()? {
                Ok(batches) => self.ready.extend(batches),
                Err(err) => return Some(Err(err)),
            }
        }
    }
}

// ---- helpers shared by readers and writers -------------------------------------------

/// Names of the temporaries [`owned_temp_file`] makes.
pub(crate) const OWNED_TEMP_PREFIX: &str = "owned-";

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

pub(crate) enum RefKind {
    Version,
    Tag,
}

pub(crate) fn parse_dataset_ref(ref_name: &str) -> Option<(DatasetName, RefKind, String)> {
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

pub(crate) fn dataset_versions(
    reader: &Transaction<impl ReadTxn>,
    name: &DatasetName,
) -> Result<Vec<(semver::Version, CommitId)>, RepoError> {
    let prefix = format!("{}versions/", name.ref_prefix());
    let mut versions: Vec<(semver::Version, CommitId)> = reader
        .refs(&prefix)?
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

pub(crate) fn latest_version(
    reader: &Transaction<impl ReadTxn>,
    name: &DatasetName,
) -> Result<Option<(semver::Version, CommitId)>, RepoError> {
    Ok(dataset_versions(reader, name)?.pop())
}

pub(crate) fn version_of(
    reader: &Transaction<impl ReadTxn>,
    name: &DatasetName,
    id: &CommitId,
) -> Result<Option<semver::Version>, RepoError> {
    Ok(dataset_versions(reader, name)?
        .into_iter()
        .rev()
        .find(|(_, candidate)| candidate == id)
        .map(|(version, _)| version))
}

pub(crate) fn resolve_in(
    reader: &Transaction<impl ReadTxn>,
    dataset: &DatasetRef,
) -> Result<Resolved, RepoError> {
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
            commit: reader.get_commit(&id)?,
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
            None => Err(dataset_not_found(reader, name)),
        },
        VersionSpec::Semver(version) => {
            if versions.is_empty() {
                return Err(dataset_not_found(reader, name));
            }
            match versions.iter().find(|(candidate, _)| candidate == version) {
                Some((version, id)) => found(Some(version.clone()), *id),
                None => Err(not_found()),
            }
        }
        VersionSpec::TagOrPrefix(text) => {
            if let Some(id) = reader.get_ref(&name.tag_ref(text))? {
                let id = CommitId(id);
                return found(with_version(id), id);
            }
            let is_hex = text.len() >= 4 && text.chars().all(|c| c.is_ascii_hexdigit());
            if !is_hex {
                return Err(if versions.is_empty() {
                    dataset_not_found(reader, name)
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
                            dataset_not_found(reader, name)
                        } else {
                            not_found()
                        }),
                        1 => found(None, ids[0]),
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

/// RFC 3339 in UTC with microseconds.
pub(crate) fn format_time(micros: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(micros)
        .map(|time| time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_else(|| micros.to_string())
}
