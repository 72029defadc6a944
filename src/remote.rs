//! Remotes: a prefix in a bucket (or a local directory) that holds pail objects and refs,
//! reached through object_store. No server of our own: create-only writes are the only
//! coordination.
//!
//! Layout under the prefix: `pail-remote.json` (the format marker, with the remote's random
//! instance id), `objects/leaf/<2 hex>/<62 hex>` (a leaf's plain Parquet bytes, format 2),
//! `objects/<2 hex>/<62 hex>` (the kind code byte followed by the object's bytes: every
//! other kind, and leaves in format 1), `refs/datasets/.../versions/<semver>` and a tag's numbered moves
//! `refs/datasets/.../tag-moves/<tag>/<seq>`, each holding a commit id in hex and a newline
//! (docs/FORMAT.md, "Remote layout").

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use arrow_array::RecordBatch;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::name::{DatasetName, check_tag};
use crate::object::{CodecError, Commit, CommitId, Kind, Node, ObjectId};
use crate::repo::{Repo, RepoError};
use crate::rows::TreeError;
use crate::spool::{Spool, SpoolError};
use crate::store::{Reader, StoreError, Writer};
use crate::walk::Visit;

mod publish;
pub use publish::TableInfo;

/// The remote layout's major format, the one new remotes get; a remote with a newer one
/// is refused. Format 1 (every object behind a kind byte) is still read and pushed to.
pub(crate) const REMOTE_FORMAT: u32 = 2;
const MARKER: &str = "pail-remote.json";
/// The directory, beside `tags/`, that holds each tag's numbered moves.
const TAG_MOVES: &str = "tag-moves";
/// No object pail writes comes near this; a larger one on a remote is refused unread.
pub const MAX_OBJECT_BYTES: u64 = 1 << 30;
/// The largest `map` result-cache entry pulled from a remote.
pub const MAX_CACHE_ENTRY_BYTES: u64 = 16 * 1024 * 1024;
/// The largest ref object (a commit id in hex and a newline).
const MAX_REF_BYTES: u64 = 1024;
/// The largest major, minor or patch number pail follows in a remote version ref: numbering
/// a version after it must not overflow. Refs above it are skipped with a warning.
pub(crate) const MAX_VERSION_PART: u64 = u32::MAX as u64;
/// Requests in flight at once.
const CONCURRENCY: usize = 16;

/// The most bytes pull reads for one object of a kind, stored kind byte included, counted
/// while the bytes stream in: the size a remote states is not trusted. Manifests (commits,
/// nodes, schemas, summaries) are bounded by what their decoder accepts; leaves and code
/// blobs by `MAX_OBJECT_BYTES`.
pub fn max_download_bytes(kind: Kind) -> u64 {
    match kind {
        Kind::Commit | Kind::Node | Kind::Schema | Kind::Summary => {
            crate::object::MAX_MANIFEST_BYTES as u64 + 1
        }
        Kind::Leaf | Kind::Blob => MAX_OBJECT_BYTES,
    }
}

/// Why a remote operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("no remote named `{name}`")]
    UnknownRemote { name: String, known: Vec<String> },
    #[error("a remote named `{name}` already exists ({url})")]
    RemoteExists { name: String, url: String },
    #[error("`{name}` is not a valid remote name: use letters, digits, `_`, `-` or `.`")]
    BadRemoteName { name: String },
    #[error("`{url}` is not a remote URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{op} {key} on remote {url} failed: {source}")]
    Store {
        url: String,
        op: &'static str,
        key: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("{url} is not a pail remote (it has no {MARKER})")]
    NotARemote { url: String },
    #[error(
        "remote {url} has format {found}, newer than this pail understands ({REMOTE_FORMAT}); upgrade pail"
    )]
    NewerFormat { url: String, found: u64 },
    #[error("remote {url} holds a corrupt {key}: {detail}; nothing was written locally")]
    Corrupt {
        url: String,
        key: String,
        detail: String,
    },
    #[error("remote {url} has a ref with an invalid name: {key}; nothing was written locally")]
    BadRefName { url: String, key: String },
    #[error(
        "remote ref {ref_name} on {url} names object {id}, which the remote does not have; nothing was written locally"
    )]
    MissingObject {
        url: String,
        ref_name: String,
        id: ObjectId,
    },
    #[error("{} on remote `{remote}`", describe_conflicts(.conflicts))]
    PushConflicts {
        remote: String,
        conflicts: Vec<PushConflict>,
    },
    #[error(
        "remote `{remote}` changed version {version} from {} to {}, which pail never does; nothing was written locally",
        .seen.short(),
        .now.short()
    )]
    RewrittenVersion {
        remote: String,
        version: Box<DatasetVersion>,
        seen: CommitId,
        now: CommitId,
    },
    #[error(
        "remote `{remote}` has {version} as commit {theirs}, but that version is already published here as commit {ours}; nothing was written locally"
    )]
    PublishedVersionConflict {
        remote: String,
        version: Box<DatasetVersion>,
        ours: CommitId,
        theirs: CommitId,
    },
    #[error(
        "the next version number after {name}@{after} is out of range; nothing was written locally"
    )]
    VersionOverflow {
        name: DatasetName,
        after: semver::Version,
    },
    /// A pail.lock pin's version names another commit (here or on the remote).
    #[error(
        "{version} is pinned to commit {pinned}, but {place} has {found} under that version; pail never substitutes another commit"
    )]
    PinMoved {
        version: Box<DatasetVersion>,
        pinned: CommitId,
        found: CommitId,
        place: PinPlace,
    },
    /// A pail.lock pin's commit is neither here nor on the remote the lock names (None:
    /// the lock names no remote).
    #[error(
        "pinned commit {commit} of {name} is neither in this repository nor on {}",
        .remote.as_deref().unwrap_or("(no remote in pail.lock)")
    )]
    PinUnavailable {
        name: Box<DatasetName>,
        commit: CommitId,
        remote: Option<String>,
    },
    #[error("could not publish the Iceberg table on {url}: {source}")]
    Iceberg {
        url: String,
        #[source]
        source: Box<crate::iceberg::IcebergError>,
    },
    #[error("{dataset} has no Iceberg table on {url}: {hint}")]
    NoTable {
        url: String,
        dataset: Box<DatasetName>,
        hint: String,
    },
    #[error("could not spool objects in {path}: {source}")]
    Spool {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The repository failed under the remote operation.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<StoreError> for RemoteError {
    fn from(err: StoreError) -> Self {
        RemoteError::Repo(err.into())
    }
}

impl From<TreeError> for RemoteError {
    fn from(err: TreeError) -> Self {
        RemoteError::Repo(err.into())
    }
}

impl From<CodecError> for RemoteError {
    fn from(err: CodecError) -> Self {
        RemoteError::Repo(err.into())
    }
}

impl From<SpoolError> for RemoteError {
    fn from(err: SpoolError) -> Self {
        match err {
            SpoolError::Io { path, source } => RemoteError::Spool { path, source },
            SpoolError::Store(err) => err.into(),
        }
    }
}

/// Where a pinned version was found naming another commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinPlace {
    /// This repository's version ref.
    Local,
    /// The version ref on the remote at this URL.
    Remote { url: String },
}

impl std::fmt::Display for PinPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinPlace::Local => f.write_str("this repository"),
            PinPlace::Remote { url } => write!(f, "remote {url}"),
        }
    }
}

/// A version of a dataset, as `name@version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetVersion {
    pub name: DatasetName,
    pub version: semver::Version,
}

impl std::fmt::Display for DatasetVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// A remote ref: its name, the commit it names, and the token of the state read (the ref
/// object's etag; for a tag, its move's number).
struct RemoteRef {
    name: String,
    id: CommitId,
    etag: String,
}

/// An object `fsck --remote` looked at, with the ref it was reached from, and either a
/// problem or (for a commit or node) the bytes to follow.
struct CheckedObject {
    id: ObjectId,
    kind: Kind,
    via: String,
    outcome: Result<Option<Vec<u8>>, String>,
}

/// A verified download: the file holding its bytes and their length, and the ref it was
/// reached from.
struct Downloaded {
    id: ObjectId,
    kind: Kind,
    file: std::fs::File,
    len: u64,
    via: String,
}

/// A local tag that a pull kept although the remote's differs: both moved since they last
/// agreed, so pushing it needs `--force`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDivergence {
    /// `dataset@tag`.
    pub tag: String,
    pub local: CommitId,
    pub remote: CommitId,
}

/// A ref the remote would not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushConflict {
    /// The remote holds this version number for another commit.
    Version {
        name: DatasetName,
        version: semver::Version,
        local: CommitId,
        remote: CommitId,
    },
    /// The tag moved on the remote since it was last seen here.
    Tag {
        name: DatasetName,
        tag: String,
        local: CommitId,
        remote: CommitId,
    },
}

fn describe_conflicts(conflicts: &[PushConflict]) -> String {
    let parts: Vec<String> = conflicts
        .iter()
        .map(|conflict| match conflict {
            PushConflict::Version {
                name,
                version,
                local,
                remote,
            } => format!(
                "version {name}@{version} already exists as commit {} (yours is {})",
                remote.short(),
                local.short()
            ),
            PushConflict::Tag {
                name,
                tag,
                local,
                remote,
            } => format!(
                "tag {name}@{tag} was moved to commit {} since your last pull (yours points at {})",
                remote.short(),
                local.short()
            ),
        })
        .collect();
    parts.join("; ")
}

/// A remote's settings, beyond its URL (the `remote_settings` table).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemoteSettings {
    /// Use the `pail map` results this remote's cache holds (pulled into
    /// `remote_map_cache`). Off by default: an entry's key is computable from public data,
    /// so anyone who can write to the remote can plant one.
    #[serde(default)]
    pub trust_cache: bool,
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    pub objects_uploaded: usize,
    pub bytes_uploaded: u64,
    pub objects_present: usize,
    pub versions_created: Vec<String>,
    pub tags_updated: Vec<String>,
    pub up_to_date: usize,
    /// `pail map` result-cache entries uploaded.
    pub cache_uploaded: usize,
    /// The remote's layout format (`pail remote upgrade` moves a format-1 remote on).
    pub remote_format: u32,
    /// Datasets whose Iceberg table this push (re)published.
    pub tables_published: usize,
}

/// What `pail remote upgrade` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradeReport {
    /// The format the remote had.
    pub from: u32,
    /// The format it has now.
    pub to: u32,
    /// Leaves copied to their format-2 keys (and removed from their format-1 ones).
    pub leaves_moved: usize,
    /// Their bytes.
    pub bytes_moved: u64,
}

/// A local version a pull moved to a free number, because the remote had its number for
/// another commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renumbered {
    /// `dataset@old`.
    pub from: String,
    /// The new version.
    pub to: String,
}

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullReport {
    pub objects_downloaded: usize,
    pub bytes_downloaded: u64,
    pub versions_added: Vec<String>,
    pub tags_updated: Vec<String>,
    /// Local versions that the remote already had under the same number for another
    /// commit.
    pub renumbered: Vec<Renumbered>,
    /// `pail map` result-cache entries downloaded.
    pub cache_downloaded: usize,
    /// Local tags kept although the remote's moved elsewhere since the last pull.
    pub tags_diverged: Vec<TagDivergence>,
    /// Remote refs skipped: stray keys, versions pail cannot follow, refs outside their
    /// dataset's history.
    pub warnings: Vec<String>,
}

/// Receives progress from push and pull.
pub trait SyncProgress: Sync {
    /// Called as objects move, with the objects done, the total and the bytes so far.
    fn objects(&self, _done: u64, _total: u64, _bytes: u64) {}
}

/// A sync progress sink that ignores everything.
pub struct NoSyncProgress;
impl SyncProgress for NoSyncProgress {}

/// A remote, opened.
pub struct RemoteStore {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// The layout format its marker states, once read; `REMOTE_FORMAT` until then.
    format: AtomicU32,
}

fn check_remote_name(name: &str) -> Result<(), RemoteError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(RemoteError::BadRemoteName {
            name: name.to_string(),
        })
    }
}

/// Normalizes a remote URL: a local path becomes `file:///abs/path`; query strings and
/// user info are refused, since credentials belong in the environment.
pub(crate) fn normalize_url(text: &str, cwd: &FsPath) -> Result<String, RemoteError> {
    let bad = |reason: &str| RemoteError::BadUrl {
        url: crate::listing::redact(text),
        reason: reason.to_string(),
    };
    if text.contains('?') || text.contains('#') {
        return Err(bad(
            "query strings are not accepted; credentials come from the environment",
        ));
    }
    match text.split_once("://") {
        None => {
            let path = cwd.join(text);
            Ok(format!("file://{}", path.display()))
        }
        Some(("file", rest)) => {
            if !rest.starts_with('/') {
                return Err(bad("a file:// URL needs an absolute path"));
            }
            Ok(text.trim_end_matches('/').to_string())
        }
        Some((scheme @ ("s3" | "gs" | "az" | "azure"), rest)) => {
            let bucket = rest.split('/').next().unwrap_or_default();
            if bucket.is_empty() {
                return Err(bad("the bucket name is missing"));
            }
            if bucket.contains('@') || bucket.contains(':') {
                return Err(bad(
                    "user info is not accepted; credentials come from the environment",
                ));
            }
            Ok(format!("{scheme}://{}", rest.trim_end_matches('/')))
        }
        Some(_) => Err(bad("the scheme must be file://, s3://, gs:// or az://")),
    }
}

impl RemoteStore {
    /// Opens a normalized URL. `options` are the store variables from the environment.
    pub fn open(url: &str, options: &[(String, String)]) -> Result<RemoteStore, RemoteError> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| RemoteError::BadUrl {
            url: url.to_string(),
            reason: "no scheme".into(),
        })?;
        if scheme == "file" {
            let dir = PathBuf::from(rest);
            std::fs::create_dir_all(&dir).map_err(|source| RemoteError::Spool {
                path: dir.clone(),
                source,
            })?;
            let store =
                object_store::local::LocalFileSystem::new_with_prefix(&dir).map_err(|source| {
                    RemoteError::Store {
                        url: url.to_string(),
                        op: "open",
                        key: String::new(),
                        source: Box::new(source),
                    }
                })?;
            return Ok(RemoteStore {
                url: url.to_string(),
                store: Arc::new(store),
                prefix: String::new(),
                format: AtomicU32::new(REMOTE_FORMAT),
            });
        }
        let (bucket, prefix) = match rest.split_once('/') {
            Some((bucket, prefix)) => (bucket, prefix.trim_matches('/')),
            None => (rest, ""),
        };
        let store = crate::listing::cloud_store(scheme, bucket, url, options).map_err(|err| {
            RemoteError::BadUrl {
                url: url.to_string(),
                reason: err.to_string(),
            }
        })?;
        Ok(RemoteStore {
            url: url.to_string(),
            store,
            prefix: prefix.to_string(),
            format: AtomicU32::new(REMOTE_FORMAT),
        })
    }

    /// Wraps an already-built store, e.g. one with faults injected for tests. `_local` is
    /// ignored: every kind of store moves tags by create-only writes (see `put_tag`).
    pub fn from_store(
        url: &str,
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        _local: bool,
    ) -> RemoteStore {
        RemoteStore {
            url: url.to_string(),
            store,
            prefix: prefix.trim_matches('/').to_string(),
            format: AtomicU32::new(REMOTE_FORMAT),
        }
    }

    fn path(&self, key: &str) -> Path {
        let full = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        Path::parse(&full).expect("pail builds keys from valid segments")
    }

    fn store_err(
        &self,
        op: &'static str,
        key: &str,
    ) -> impl FnOnce(object_store::Error) -> RemoteError {
        let url = self.url.clone();
        let key = key.to_string();
        move |source| RemoteError::Store {
            url,
            op,
            key,
            source: Box::new(source),
        }
    }

    /// The format-1 key of an object (every kind behind a kind byte); also what error
    /// messages name.
    fn object_key(id: &ObjectId) -> String {
        let hex = id.to_hex();
        format!("objects/{}/{}", &hex[..2], &hex[2..])
    }

    /// The layout format of this remote (its marker's, once read).
    pub fn format(&self) -> u32 {
        self.format.load(Ordering::Relaxed)
    }

    /// Where an object of a kind lives in a layout `format`, and whether it is stored
    /// plain (without the kind byte): format 2 keeps leaves as plain Parquet files.
    pub(crate) fn layout(format: u32, id: &ObjectId, kind: Kind) -> (String, bool) {
        if format >= 2 && kind == Kind::Leaf {
            let hex = id.to_hex();
            (format!("objects/leaf/{}/{}", &hex[..2], &hex[2..]), true)
        } else {
            (Self::object_key(id), false)
        }
    }

    /// The key of an object of a kind on this remote.
    pub fn key_of(&self, id: &ObjectId, kind: Kind) -> String {
        Self::layout(self.format(), id, kind).0
    }

    /// Reads the format marker: Ok(false) when there is none.
    async fn check_marker(&self) -> Result<bool, RemoteError> {
        Ok(self.read_marker().await?.is_some())
    }

    /// Reads the format marker: its instance id, `""` for a marker written before
    /// instance ids existed; None when there is no marker.
    async fn read_marker(&self) -> Result<Option<String>, RemoteError> {
        match self.store.get(&self.path(MARKER)).await {
            Ok(result) => {
                let corrupt = |detail: String| RemoteError::Corrupt {
                    url: self.url.clone(),
                    key: MARKER.into(),
                    detail,
                };
                if result.meta.size > 4096 {
                    return Err(corrupt("a marker larger than 4 KiB".into()));
                }
                let bytes = result
                    .bytes()
                    .await
                    .map_err(self.store_err("read", MARKER))?;
                let value: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|err| corrupt(err.to_string()))?;
                let format = value
                    .get("pail_remote_format")
                    .and_then(|v| v.as_u64())
                    .ok_or_else(|| corrupt("no pail_remote_format".into()))?;
                if format > REMOTE_FORMAT as u64 {
                    return Err(RemoteError::NewerFormat {
                        url: self.url.clone(),
                        found: format,
                    });
                }
                if format == 0 {
                    return Err(corrupt("pail_remote_format 0".into()));
                }
                self.format.store(format as u32, Ordering::Relaxed);
                let instance = match value.get("instance") {
                    None => String::new(),
                    Some(serde_json::Value::String(instance))
                        if instance.len() == 32
                            && instance
                                .bytes()
                                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
                    {
                        instance.clone()
                    }
                    Some(_) => return Err(corrupt("the instance is not 32 hex digits".into())),
                };
                Ok(Some(instance))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.store_err("read", MARKER)(source)),
        }
    }

    /// Reads the marker, creating it (with a new random instance id) when there is none.
    /// Returns the instance id.
    async fn ensure_marker(&self) -> Result<String, RemoteError> {
        let mode = match self.read_marker().await? {
            Some(instance) if !instance.is_empty() => return Ok(instance),
            // A marker from before instance ids: give it one. Two pushers doing this at
            // once cost one of them a full re-check on its next push, nothing more.
            Some(_) => PutMode::Overwrite,
            None => PutMode::Create,
        };
        let instance = new_instance()?;
        // A marker from before instance ids keeps its format (1); a new remote gets the
        // current one.
        let format = match mode {
            PutMode::Create => REMOTE_FORMAT,
            _ => self.format(),
        };
        self.format.store(format, Ordering::Relaxed);
        let body = marker_body(format, &instance);
        match self
            .store
            .put_opts(
                &self.path(MARKER),
                PutPayload::from(body.into_bytes()),
                PutOptions::from(mode),
            )
            .await
        {
            Ok(_) => Ok(instance),
            // Another pusher created it first: theirs is the instance.
            Err(object_store::Error::AlreadyExists { .. }) => {
                self.read_marker()
                    .await?
                    .ok_or_else(|| RemoteError::NotARemote {
                        url: self.url.clone(),
                    })
            }
            Err(source) => Err(self.store_err("write", MARKER)(source)),
        }
    }

    /// Uploads one object unless the remote has it. Returns the bytes uploaded.
    async fn upload(&self, id: ObjectId, kind: Kind, bytes: Vec<u8>) -> Result<u64, RemoteError> {
        self.upload_in(self.format(), id, kind, bytes).await
    }

    /// `upload` in the layout of a given format.
    async fn upload_in(
        &self,
        format: u32,
        id: ObjectId,
        kind: Kind,
        bytes: Vec<u8>,
    ) -> Result<u64, RemoteError> {
        let (key, plain) = Self::layout(format, &id, kind);
        let path = self.path(&key);
        match self.store.head(&path).await {
            Ok(_) => return Ok(0),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(source) => return Err(self.store_err("check", &key)(source)),
        }
        let stored = if plain {
            bytes
        } else {
            let mut stored = Vec::with_capacity(bytes.len() + 1);
            stored.push(kind.code());
            stored.extend_from_slice(&bytes);
            stored
        };
        let n_bytes = stored.len() as u64;
        match self
            .store
            .put_opts(
                &path,
                PutPayload::from(stored),
                PutOptions::from(PutMode::Create),
            )
            .await
        {
            Ok(_) => Ok(n_bytes),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(0),
            Err(source) => Err(self.store_err("upload", &key)(source)),
        }
    }

    /// Downloads and verifies one object (its size, kind and hash) into a temporary file
    /// in `dir`, reading at most `max_download_bytes` of its kind plus one chunk whatever
    /// the remote states; returns the kind, the file and the body's length.
    async fn download(
        &self,
        id: ObjectId,
        expected: Kind,
        ref_name: &str,
        dir: &FsPath,
    ) -> Result<(Kind, std::fs::File, u64), RemoteError> {
        self.download_in(self.format(), id, expected, ref_name, dir)
            .await
    }

    /// `download` from the layout of a given format: a plain object (a format-2 leaf) has
    /// no kind byte, its kind is the one its key implies.
    async fn download_in(
        &self,
        format: u32,
        id: ObjectId,
        expected: Kind,
        ref_name: &str,
        dir: &FsPath,
    ) -> Result<(Kind, std::fs::File, u64), RemoteError> {
        let (key, plain) = Self::layout(format, &id, expected);
        let header = if plain { 0 } else { 1 };
        let corrupt = |detail: String| RemoteError::Corrupt {
            url: self.url.clone(),
            key: key.clone(),
            detail,
        };
        let spool_err = |source| RemoteError::Spool {
            path: dir.to_path_buf(),
            source,
        };
        let limit = max_download_bytes(expected);
        let result = match self.store.get(&self.path(&key)).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(RemoteError::MissingObject {
                    url: self.url.clone(),
                    ref_name: ref_name.to_string(),
                    id,
                });
            }
            Err(source) => return Err(self.store_err("download", &key)(source)),
        };
        let too_large = |size: u64| {
            corrupt(format!(
                "{size} bytes or more, over the {limit}-byte limit for a {expected}"
            ))
        };
        let stated = result.meta.size;
        if stated > limit {
            return Err(too_large(stated));
        }
        if stated == 0 {
            return Err(corrupt("empty object".into()));
        }
        // The id hashes the body's length first: take the stated one and check it at the end.
        let mut hasher = blake3::Hasher::new();
        hasher.update(expected.tag().as_bytes());
        hasher.update(b" ");
        hasher.update((stated - header).to_string().as_bytes());
        hasher.update(b"\0");
        let mut file = tempfile::tempfile_in(dir).map_err(spool_err)?;
        let mut stream = result.into_stream();
        let mut read = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.store_err("download", &key))?;
            let body: &[u8] = if read == 0 && !plain {
                let Some((&code, body)) = chunk.split_first() else {
                    continue;
                };
                let kind = Kind::from_code(code)
                    .ok_or_else(|| corrupt(format!("unknown kind code {code}")))?;
                if kind != expected {
                    return Err(corrupt(format!("a {kind} where a {expected} was expected")));
                }
                body
            } else {
                &chunk
            };
            read += chunk.len() as u64;
            if read > stated {
                // More than the remote said: stop before reading past the limit.
                return Err(if read > limit {
                    too_large(read)
                } else {
                    corrupt("its bytes hash to another id (truncated or altered)".into())
                });
            }
            hasher.update(body);
            file.write_all(body).map_err(spool_err)?;
        }
        if read == 0 {
            return Err(corrupt("empty object".into()));
        }
        let actual = ObjectId(*hasher.finalize().as_bytes());
        if read != stated || actual != id {
            return Err(corrupt(format!(
                "its bytes hash to {} (truncated or altered)",
                if read == stated {
                    actual.short()
                } else {
                    "another id".to_string()
                }
            )));
        }
        file.seek(SeekFrom::Start(0)).map_err(spool_err)?;
        Ok((expected, file, read - header))
    }

    /// Reads a small object (a ref, a cache entry) whole, reading at most `limit` bytes
    /// plus one chunk whatever the remote states. None when absent.
    async fn get_capped(
        &self,
        key: &str,
        limit: u64,
    ) -> Result<Option<(Vec<u8>, String)>, RemoteError> {
        let result = match self.store.get(&self.path(key)).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => return Err(self.store_err("read", key)(source)),
        };
        let etag = result.meta.e_tag.clone().unwrap_or_default();
        let too_large = || RemoteError::Corrupt {
            url: self.url.clone(),
            key: key.to_string(),
            detail: format!("larger than the {limit}-byte limit"),
        };
        if result.meta.size > limit {
            return Err(too_large());
        }
        let mut stream = result.into_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.store_err("read", key))?;
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some((bytes, etag)))
    }

    /// Lists every ref name under `refs/`; keys that are not valid ref names (stray files,
    /// versions pail cannot follow) are returned apart, to be skipped with a warning.
    async fn list_refs(&self) -> Result<(Vec<String>, Vec<String>), RemoteError> {
        let refs_prefix = self.path("refs");
        let strip = format!("{}/", refs_prefix);
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&refs_prefix))
            .try_collect()
            .await
            .map_err(self.store_err("list", "refs/"))?;
        let mut names = Vec::new();
        let mut stray = Vec::new();
        for meta in metas {
            let key = meta.location.to_string();
            let name = key.strip_prefix(&strip).unwrap_or(&key).to_string();
            if parse_ref_name(&name).is_some() {
                names.push(name);
            } else if let Some((tag_ref, _)) = parse_tag_move(&name) {
                names.push(tag_ref);
            } else {
                stray.push(format!("refs/{name}"));
            }
        }
        names.sort();
        names.dedup();
        stray.sort();
        Ok((names, stray))
    }

    /// Reads a ref: the commit id and a token of the state read (for a tag, its move's
    /// sequence number); None when absent.
    async fn get_ref(&self, name: &str) -> Result<Option<(CommitId, String)>, RemoteError> {
        if let Some((_, RefKind::Tag(_))) = parse_ref_name(name) {
            let tag = self.get_tag(name).await?;
            return Ok(tag.map(|(id, seq)| (id, seq.to_string())));
        }
        self.read_ref_key(&format!("refs/{name}")).await
    }

    /// Reads the object at `key` holding a commit id: the id and the object's etag.
    async fn read_ref_key(&self, key: &str) -> Result<Option<(CommitId, String)>, RemoteError> {
        let key = key.to_string();
        let Some((bytes, etag)) = self.get_capped(&key, MAX_REF_BYTES).await? else {
            return Ok(None);
        };
        let id = parse_ref_body(&bytes).ok_or_else(|| RemoteError::Corrupt {
            url: self.url.clone(),
            key: key.clone(),
            detail: "the ref does not hold a commit id".into(),
        })?;
        Ok(Some((id, etag)))
    }

    /// Reads a tag (`datasets/.../tags/<tag>`): the commit of its highest-numbered move
    /// and that number; a tag written before moves were numbered (one key at the tag's
    /// name) is move 0. None when the tag is absent.
    async fn get_tag(&self, name: &str) -> Result<Option<(CommitId, u64)>, RemoteError> {
        let moves = tag_moves_key(name).expect("a tag ref name");
        let moves_path = self.path(&moves);
        let strip = format!("{}/", self.path("refs"));
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&moves_path))
            .try_collect()
            .await
            .map_err(self.store_err("list", &moves))?;
        let mut highest: Option<(u64, String)> = None;
        for meta in metas {
            let key = meta.location.to_string();
            let relative = key.strip_prefix(&strip).unwrap_or(&key);
            let Some((tag_ref, seq)) = parse_tag_move(relative) else {
                return Err(RemoteError::BadRefName {
                    url: self.url.clone(),
                    key,
                });
            };
            if tag_ref == name && highest.as_ref().is_none_or(|(best, _)| seq > *best) {
                highest = Some((seq, format!("refs/{relative}")));
            }
        }
        if let Some((seq, key)) = highest {
            let found = self.read_ref_key(&key).await?;
            // Moves are never deleted; one that vanished was removed by hand.
            let (id, _) = found.ok_or_else(|| RemoteError::Corrupt {
                url: self.url.clone(),
                key,
                detail: "the tag move disappeared while it was read".into(),
            })?;
            return Ok(Some((id, seq)));
        }
        let legacy = self.read_ref_key(&format!("refs/{name}")).await?;
        Ok(legacy.map(|(id, _)| (id, 0)))
    }

    /// Creates a version ref; returns Ok(None) when created, Ok(Some(existing)) when the
    /// remote already had one (the same commit or not).
    async fn create_ref(&self, name: &str, id: &CommitId) -> Result<Option<CommitId>, RemoteError> {
        let key = format!("refs/{name}");
        let body = format!("{}\n", id.to_hex());
        match self
            .store
            .put_opts(
                &self.path(&key),
                PutPayload::from(body.into_bytes()),
                PutOptions::from(PutMode::Create),
            )
            .await
        {
            Ok(_) => Ok(None),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let existing = self.get_ref(name).await?;
                Ok(existing.map(|(id, _)| id))
            }
            Err(source) => Err(self.store_err("write", &key)(source)),
        }
    }

    /// Moves a tag to `id` by creating its move number `seen + 1`, where `seen` is the
    /// number read before (0 when the tag was absent or in the old one-key form). The write
    /// is create-only, so of two pushers that read the same state exactly one succeeds, on
    /// every kind of store, and a killed pusher leaves nothing that blocks the next one.
    /// Returns the new number, or None when another move got there first.
    async fn put_tag(
        &self,
        name: &str,
        id: &CommitId,
        seen: u64,
    ) -> Result<Option<u64>, RemoteError> {
        let next = seen.checked_add(1).ok_or_else(|| RemoteError::Corrupt {
            url: self.url.clone(),
            key: format!("refs/{name}"),
            detail: "the tag has no move numbers left".into(),
        })?;
        let key = format!(
            "{}/{next:020}",
            tag_moves_key(name).expect("a tag ref name")
        );
        let body = PutPayload::from(format!("{}\n", id.to_hex()).into_bytes());
        match self
            .store
            .put_opts(&self.path(&key), body, PutOptions::from(PutMode::Create))
            .await
        {
            Ok(_) => Ok(Some(next)),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(None),
            Err(source) => Err(self.store_err("write", &key)(source)),
        }
    }
}

/// The key prefix (under the remote's prefix) of a tag's moves: for the tag ref
/// `datasets/<ns>/<project>/<name>/tags/<tag>`, `refs/datasets/<ns>/<project>/<name>/tag-moves/<tag>`.
/// A new random instance id: 16 bytes from the OS in lowercase hex.
fn new_instance() -> Result<String, RemoteError> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|err| RemoteError::Spool {
        path: PathBuf::from("(the system's random source)"),
        source: std::io::Error::other(err.to_string()),
    })?;
    Ok(random.iter().map(|b| format!("{b:02x}")).collect())
}

/// The marker's bytes: the layout format and the instance id, then a newline.
fn marker_body(format: u32, instance: &str) -> String {
    format!("{{\"pail_remote_format\": {format}, \"instance\": \"{instance}\"}}\n")
}

fn tag_moves_key(name: &str) -> Option<String> {
    let (dataset, tag) = name.rsplit_once("/tags/")?;
    Some(format!("refs/{dataset}/{TAG_MOVES}/{tag}"))
}

/// Parses a tag move key (relative to `refs/`):
/// `datasets/<ns>/<project>/<name>/tag-moves/<tag>/<20-digit number>`, into the tag's ref
/// name and the move's number. Only the canonical 20-digit spelling is accepted.
fn parse_tag_move(key: &str) -> Option<(String, u64)> {
    let (dir, seq) = key.rsplit_once('/')?;
    let (dataset, tag) = dir.rsplit_once(&format!("/{TAG_MOVES}/"))?;
    if seq.len() != 20 || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq: u64 = seq.parse().ok()?;
    let tag_ref = format!("{dataset}/tags/{tag}");
    match parse_ref_name(&tag_ref)? {
        (_, RefKind::Tag(_)) => Some((tag_ref, seq)),
        (_, RefKind::Version(_)) => None,
    }
}

enum RefKind {
    Version(semver::Version),
    Tag(String),
}

/// Parses `datasets/<ns>/<project>/<name>/versions/<semver>` or `.../tags/<tag>`.
fn parse_ref_name(name: &str) -> Option<(DatasetName, RefKind)> {
    let parts: Vec<&str> = name.split('/').collect();
    let ["datasets", namespace, project, dataset, kind, label] = parts.as_slice() else {
        return None;
    };
    let dataset = DatasetName::parse_full(&format!("{namespace}.{project}.{dataset}")).ok()?;
    let kind = match *kind {
        "versions" => {
            let version = semver::Version::parse(label).ok()?;
            // Only the canonical spelling, so one version has one key.
            if version.to_string() != *label {
                return None;
            }
            // Only numbers pail can count on from (see `MAX_VERSION_PART`).
            if [version.major, version.minor, version.patch]
                .iter()
                .any(|part| *part > MAX_VERSION_PART)
            {
                return None;
            }
            RefKind::Version(version)
        }
        "tags" => {
            check_tag(label).ok()?;
            RefKind::Tag(label.to_string())
        }
        _ => return None,
    };
    Some((dataset, kind))
}

/// Decodes a ref object's body: a commit id in 64 hex digits, then an optional newline.
pub(crate) fn parse_ref_body(bytes: &[u8]) -> Option<CommitId> {
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if text.len() != 64 || !text.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    ObjectId::from_hex(text).ok().map(CommitId)
}

/// Objects reachable from commits: the commits, their schemas, row trees, code blobs,
/// summaries, parents and input commits (see `crate::walk`). `skip` prunes objects known
/// to be elsewhere.
pub(crate) fn closure(
    reader: &Reader,
    roots: &[CommitId],
    skip: &dyn Fn(&ObjectId) -> Result<bool, RepoError>,
) -> Result<Vec<(ObjectId, Kind)>, RepoError> {
    let mut found = Vec::new();
    crate::walk::walk(
        roots.iter().map(|id| (id.object(), Kind::Commit)),
        |_, id, kind| -> Result<Visit, RepoError> {
            if skip(&id)? {
                return Ok(Visit::Stop);
            }
            found.push((id, kind));
            match kind {
                Kind::Commit | Kind::Node => {
                    let bytes = reader.object_of_kind(&id, kind)?;
                    Ok(Visit::Follow(crate::walk::children(kind, &id, &bytes)?))
                }
                Kind::Leaf | Kind::Schema | Kind::Blob | Kind::Summary => Ok(Visit::Stop),
            }
        },
    )?;
    Ok(found)
}

/// A version or tag ref of this repository, parsed.
struct LocalRef {
    name: String,
    dataset: DatasetName,
    kind: RefKind,
    id: CommitId,
}

/// All local version and tag refs, parsed.
fn local_refs(reader: &Reader) -> Result<Vec<LocalRef>, StoreError> {
    let mut refs = Vec::new();
    for (name, id) in reader.refs("datasets/")? {
        if let Some((dataset, kind)) = parse_ref_name(&name) {
            refs.push(LocalRef {
                name,
                dataset,
                kind,
                id: CommitId(id),
            });
        }
    }
    Ok(refs)
}

/// A remote in this repository's remotes table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteInfo {
    pub name: String,
    /// The normalized URL (see `normalize_url`).
    pub url: String,
    pub settings: RemoteSettings,
}

/// The remotes of a transaction, in name order, with their settings.
fn list_in(reader: &Reader) -> Result<Vec<RemoteInfo>, StoreError> {
    let mut listed = Vec::new();
    for (name, url) in reader.remotes()? {
        let settings = read_settings(reader, &name)?;
        listed.push(RemoteInfo {
            name,
            url,
            settings,
        });
    }
    Ok(listed)
}

/// This repository's remotes, in name order, with their settings.
pub fn list(repo: &Repo) -> Result<Vec<RemoteInfo>, RemoteError> {
    let store = repo.store()?;
    let reader = store.read()?;
    Ok(list_in(&reader)?)
}

/// The names of the remotes whose `pail map` result cache the user trusts
/// (`remote add --trust-cache`), in name order.
pub(crate) fn trusted_cache_remotes(reader: &Reader) -> Result<Vec<String>, StoreError> {
    Ok(list_in(reader)?
        .into_iter()
        .filter(|remote| remote.settings.trust_cache)
        .map(|remote| remote.name)
        .collect())
}

fn unknown_remote(name: &str, known: impl IntoIterator<Item = String>) -> RemoteError {
    RemoteError::UnknownRemote {
        name: name.to_string(),
        known: known.into_iter().collect(),
    }
}

/// A remote's URL.
pub fn url(repo: &Repo, name: &str) -> Result<String, RemoteError> {
    let remotes = list(repo)?;
    match remotes.iter().find(|remote| remote.name == name) {
        Some(remote) => Ok(remote.url.clone()),
        None => Err(unknown_remote(
            name,
            remotes.into_iter().map(|remote| remote.name),
        )),
    }
}

/// The remote to use when none is named: `origin`, or the only one there is.
pub fn default_name(repo: &Repo) -> Result<String, RemoteError> {
    let remotes = list(repo)?;
    let has_origin = remotes.iter().any(|remote| remote.name == "origin");
    if has_origin || remotes.is_empty() {
        return Ok("origin".to_string());
    }
    if remotes.len() != 1 {
        return Err(unknown_remote(
            "origin",
            remotes.into_iter().map(|remote| remote.name),
        ));
    }
    Ok(remotes[0].name.clone())
}

/// A remote to add.
#[derive(Debug, Clone)]
pub struct AddOptions<'a> {
    /// Letters, digits, `_`, `-` or `.`.
    pub name: &'a str,
    /// A URL or a local path (see `normalize_url`).
    pub url: &'a str,
    /// What a relative path is relative to.
    pub cwd: &'a FsPath,
    pub settings: RemoteSettings,
}

/// Adds a remote with its settings, in one transaction. Returns its normalized URL.
pub fn add(repo: &Repo, options: &AddOptions) -> Result<String, RemoteError> {
    check_remote_name(options.name)?;
    let url = normalize_url(options.url, options.cwd)?;
    let store = repo.store()?;
    let writer = store.write()?;
    writer.create_tables()?;
    if let Some((_, existing)) = writer
        .remotes()?
        .into_iter()
        .find(|(name, _)| name == options.name)
    {
        return Err(RemoteError::RemoteExists {
            name: options.name.to_string(),
            url: existing,
        });
    }
    writer.set_remote(options.name, &url)?;
    writer.set_remote_settings(options.name, &settings_json(&options.settings))?;
    writer.commit()?;
    Ok(url)
}

/// A remote's settings; the defaults for a name that is not in the remotes table.
pub fn settings(repo: &Repo, name: &str) -> Result<RemoteSettings, RemoteError> {
    let store = repo.store()?;
    let reader = store.read()?;
    Ok(read_settings(&reader, name)?)
}

/// Changes a remote's settings.
pub fn set_settings(repo: &Repo, name: &str, settings: &RemoteSettings) -> Result<(), RemoteError> {
    let store = repo.store()?;
    let writer = store.write()?;
    writer.create_tables()?;
    let remotes = writer.remotes()?;
    if !remotes.iter().any(|(known, _)| known == name) {
        return Err(unknown_remote(
            name,
            remotes.into_iter().map(|(name, _)| name),
        ));
    }
    writer.set_remote_settings(name, &settings_json(settings))?;
    writer.commit()?;
    Ok(())
}

/// Removes a remote and what this repository recorded about it.
pub fn remove(repo: &Repo, name: &str) -> Result<(), RemoteError> {
    let store = repo.store()?;
    let writer = store.write()?;
    writer.create_tables()?;
    if !writer.remove_remote(name)? {
        return Err(unknown_remote(
            name,
            writer.remotes()?.into_iter().map(|(name, _)| name),
        ));
    }
    writer.commit()?;
    Ok(())
}

/// What to push, and where.
#[derive(Debug, Clone, Copy, Default)]
pub struct PushOptions<'a> {
    /// The remote's name in the remotes table.
    pub remote: &'a str,
    /// The datasets whose versions and tags to push; all when empty.
    pub datasets: &'a [DatasetName],
    /// Move tags even when they moved on the remote since this repository last saw them.
    pub force: bool,
    /// The store variables from the environment, to open the remote's URL with (unused
    /// by `push_to`).
    pub store_options: &'a [(String, String)],
}

/// Pushes the versions and tags of the wanted datasets, with the objects they need, to a
/// remote: objects first, then version refs create-only, then tags by compare-and-swap.
pub fn push(
    repo: &Repo,
    options: &PushOptions,
    progress: &dyn SyncProgress,
) -> Result<PushReport, RemoteError> {
    let url = url(repo, options.remote)?;
    let remote = RemoteStore::open(&url, options.store_options)?;
    push_to(repo, &remote, options, progress)
}

/// `push` to an opened remote store: plan, upload, then write refs.
pub fn push_to(
    repo: &Repo,
    remote: &RemoteStore,
    options: &PushOptions,
    progress: &dyn SyncProgress,
) -> Result<PushReport, RemoteError> {
    let runtime = crate::io_runtime();
    // What this repository remembers of the remote's objects holds for one instance of
    // it: an emptied or replaced remote has another marker, so everything is checked
    // and uploaded again (objects before refs, against the remote as it is).
    let instance = runtime.block_on(remote.ensure_marker())?;
    {
        let store = repo.store()?;
        let writer = store.write()?;
        writer.create_tables()?;
        writer.set_remote_instance(options.remote, &instance)?;
        writer.commit()?;
    }
    let plan = plan_push(repo, options)?;
    let mut pushing = Pushing {
        repo,
        name: options.remote,
        remote,
        runtime: &runtime,
        report: PushReport::default(),
        conflicts: Vec::new(),
        seen_refs: Vec::new(),
        stopped: BTreeSet::new(),
    };
    pushing.upload_objects(&plan.objects, progress)?;
    pushing.upload_cache()?;
    pushing.push_versions(&plan.versions)?;
    pushing.push_tags(&plan.tags, options.force)?;
    pushing.report.remote_format = remote.format();
    let report = pushing.finish()?;
    publish_phase(repo, remote, &runtime, &plan, report)
}

/// Publishes the Iceberg tables of the pushed datasets, on a format-2 remote (format-1
/// leaves are not plain Parquet files).
fn publish_phase(
    repo: &Repo,
    remote: &RemoteStore,
    runtime: &tokio::runtime::Runtime,
    plan: &PushPlan,
    mut report: PushReport,
) -> Result<PushReport, RemoteError> {
    if remote.format() < 2 {
        return Ok(report);
    }
    let datasets: BTreeSet<DatasetName> = plan
        .versions
        .keys()
        .chain(plan.tags.keys())
        .filter_map(|name| parse_ref_name(name).map(|(dataset, _)| dataset))
        .collect();
    report.tables_published = publish::publish_tables(repo, remote, runtime, &datasets)?;
    Ok(report)
}

/// The Iceberg table of `dataset` on the remote named `remote`, as its newest metadata
/// has it (`pail iceberg`).
pub fn iceberg_table(
    repo: &Repo,
    remote: &str,
    store_options: &[(String, String)],
    dataset: &DatasetName,
) -> Result<TableInfo, RemoteError> {
    let url = url(repo, remote)?;
    let remote = RemoteStore::open(&url, store_options)?;
    publish::table_info(&remote, dataset)
}

/// Moves a remote to the current layout format: every leaf stored behind a kind byte is
/// copied, verified, to its plain format-2 key, then the marker states format 2 (same
/// instance), then the format-1 copies are removed. Run on a format-2 remote it moves the
/// leaves a pusher that still read format 1 left behind, so running it again finishes an
/// upgrade that raced a push. Nothing is removed before the marker is written.
pub fn upgrade(
    repo: &Repo,
    remote: &str,
    store_options: &[(String, String)],
) -> Result<UpgradeReport, RemoteError> {
    let url = url(repo, remote)?;
    let remote = RemoteStore::open(&url, store_options)?;
    upgrade_store(repo, &remote)
}

/// `upgrade` on an opened remote store.
pub fn upgrade_store(repo: &Repo, remote: &RemoteStore) -> Result<UpgradeReport, RemoteError> {
    let runtime = crate::io_runtime();
    let Some(instance) = runtime.block_on(remote.read_marker())? else {
        return Err(RemoteError::NotARemote {
            url: remote.url.clone(),
        });
    };
    let from = remote.format();
    let tmp = repo.tmp_dir();
    std::fs::create_dir_all(&tmp).map_err(|source| RemoteError::Spool {
        path: tmp.clone(),
        source,
    })?;
    let moved = runtime.block_on(remote.copy_old_leaves(&tmp))?;
    if from < REMOTE_FORMAT {
        let instance = if instance.is_empty() {
            new_instance()?
        } else {
            instance
        };
        let body = marker_body(REMOTE_FORMAT, &instance);
        runtime
            .block_on(remote.store.put_opts(
                &remote.path(MARKER),
                PutPayload::from(body.into_bytes()),
                PutOptions::from(PutMode::Overwrite),
            ))
            .map_err(remote.store_err("write", MARKER))?;
        remote.format.store(REMOTE_FORMAT, Ordering::Relaxed);
    }
    let mut report = UpgradeReport {
        from,
        to: REMOTE_FORMAT,
        ..UpgradeReport::default()
    };
    for (key, n_bytes) in moved {
        runtime
            .block_on(remote.store.delete(&remote.path(&key)))
            .map_err(remote.store_err("delete", &key))?;
        report.leaves_moved += 1;
        report.bytes_moved += n_bytes;
    }
    Ok(report)
}

impl RemoteStore {
    /// Copies every leaf stored at a format-1 key to its format-2 key (verified on the
    /// way); returns the format-1 keys copied, with their body sizes.
    async fn copy_old_leaves(&self, tmp: &FsPath) -> Result<Vec<(String, u64)>, RemoteError> {
        let objects = self.path("objects");
        let strip = format!("{objects}/");
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&objects))
            .try_collect()
            .await
            .map_err(self.store_err("list", "objects"))?;
        let ids: Vec<ObjectId> = metas
            .iter()
            .filter_map(|meta| {
                let rest = meta.location.as_ref().strip_prefix(&strip)?;
                let (dir, file) = rest.split_once('/')?;
                (dir.len() == 2)
                    .then(|| ObjectId::from_hex(&format!("{dir}{file}")).ok())
                    .flatten()
            })
            .collect();
        let copied: Vec<Result<Option<(String, u64)>, RemoteError>> =
            futures::stream::iter(ids.into_iter().map(|id| self.copy_old_leaf(id, tmp)))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        copied.into_iter().filter_map(Result::transpose).collect()
    }

    /// Copies one format-1 object to its format-2 key if it is a leaf.
    async fn copy_old_leaf(
        &self,
        id: ObjectId,
        tmp: &FsPath,
    ) -> Result<Option<(String, u64)>, RemoteError> {
        let key = Self::object_key(&id);
        let first = self
            .store
            .get_range(&self.path(&key), 0..1)
            .await
            .map_err(self.store_err("read", &key))?;
        if first.first() != Some(&Kind::Leaf.code()) {
            return Ok(None);
        }
        let (_, mut file, len) = self
            .download_in(1, id, Kind::Leaf, "pail remote upgrade", tmp)
            .await?;
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes)
            .map_err(|source| RemoteError::Spool {
                path: tmp.to_path_buf(),
                source,
            })?;
        self.upload_in(REMOTE_FORMAT, id, Kind::Leaf, bytes).await?;
        Ok(Some((key, len)))
    }
}

/// What a push sends: refs by name, and the objects the remote may lack, spooled.
struct PushPlan {
    versions: BTreeMap<String, CommitId>,
    tags: BTreeMap<String, CommitId>,
    objects: Spool,
}

/// Gathers the wanted refs and the objects the remote may lack, in one short read.
fn plan_push(repo: &Repo, options: &PushOptions) -> Result<PushPlan, RemoteError> {
    let mut objects = Spool::new(&repo.tmp_dir())?;
    let store = repo.read_store()?;
    let reader = store.read()?;
    let refs = local_refs(&reader)?;
    let wanted =
        |dataset: &DatasetName| options.datasets.is_empty() || options.datasets.contains(dataset);
    let mut versions: BTreeMap<String, CommitId> = BTreeMap::new();
    let mut tags: BTreeMap<String, CommitId> = BTreeMap::new();
    for local in refs.iter().filter(|local| wanted(&local.dataset)) {
        match local.kind {
            RefKind::Version(_) => versions.insert(local.name.clone(), local.id),
            RefKind::Tag(_) => tags.insert(local.name.clone(), local.id),
        };
    }
    let roots: Vec<CommitId> = versions.values().chain(tags.values()).copied().collect();
    let skip =
        |id: &ObjectId| -> Result<bool, RepoError> { Ok(reader.remote_has(options.remote, id)?) };
    let found = closure(&reader, &roots, &skip)?;
    // Lineage inputs travel with their version refs, so a pulled version is complete.
    let in_closure: HashSet<ObjectId> = found.iter().map(|(id, _)| *id).collect();
    for local in &refs {
        if matches!(local.kind, RefKind::Version(_)) && in_closure.contains(&local.id.object()) {
            versions.entry(local.name.clone()).or_insert(local.id);
        }
    }
    for (id, kind) in &found {
        let bytes = reader.object_of_kind(id, *kind)?;
        objects.insert(*id, *kind, &bytes)?;
    }
    Ok(PushPlan {
        versions,
        tags,
        objects,
    })
}

/// A ref a push found on the remote as this repository has it, with the token of the
/// state written or read (empty for a version).
struct SeenRef {
    name: String,
    id: CommitId,
    token: String,
}

/// One push under way: where to, and what it did so far.
struct Pushing<'a> {
    repo: &'a Repo,
    /// The remote's name in the remotes table.
    name: &'a str,
    remote: &'a RemoteStore,
    runtime: &'a tokio::runtime::Runtime,
    report: PushReport,
    conflicts: Vec<PushConflict>,
    seen_refs: Vec<SeenRef>,
    /// Datasets with a refused version: nothing more of them is published.
    stopped: BTreeSet<DatasetName>,
}

impl Pushing<'_> {
    /// Uploads the planned objects in parallel (nothing names them yet), then records
    /// that the remote has them.
    fn upload_objects(
        &mut self,
        objects: &Spool,
        progress: &dyn SyncProgress,
    ) -> Result<(), RemoteError> {
        let total = objects.len() as u64;
        let remote = self.remote;
        let uploads: Vec<Result<u64, RemoteError>> = self.runtime.block_on(async {
            let mut done = 0u64;
            let mut bytes_done = 0u64;
            let mut results = Vec::with_capacity(objects.len());
            let mut stream = futures::stream::iter(objects.entries().iter().map(|entry| {
                let bytes = objects.read(entry);
                async move { remote.upload(entry.id, entry.kind, bytes?).await }
            }))
            .buffer_unordered(CONCURRENCY);
            while let Some(result) = stream.next().await {
                done += 1;
                if let Ok(n) = &result {
                    bytes_done += n;
                }
                progress.objects(done, total, bytes_done);
                results.push(result);
            }
            results
        });
        for result in uploads {
            let n_bytes = result?;
            if n_bytes > 0 {
                self.report.objects_uploaded += 1;
                self.report.bytes_uploaded += n_bytes;
            } else {
                self.report.objects_present += 1;
            }
        }
        let store = self.repo.store()?;
        let writer = store.write()?;
        writer.create_tables()?;
        for entry in objects.entries() {
            writer.mark_remote_has(self.name, &entry.id)?;
        }
        writer.commit()?;
        Ok(())
    }

    /// Uploads the map result cache entries the remote lacks: entries are immutable under
    /// their key, so create-only.
    fn upload_cache(&mut self) -> Result<(), RemoteError> {
        let entries: Vec<(ObjectId, Vec<u8>)> = {
            let store = self.repo.store()?;
            let reader = store.read()?;
            let mut entries = Vec::new();
            for key in reader.map_cache_keys()? {
                let Some(id) = ObjectId::from_slice(&key) else {
                    continue;
                };
                if !reader.remote_has(self.name, &id)?
                    && let Some(bytes) = reader.map_cache(&key)?
                {
                    entries.push((id, bytes));
                }
            }
            entries
        };
        let remote = self.remote;
        let uploads: Vec<Result<ObjectId, RemoteError>> = self.runtime.block_on(
            futures::stream::iter(entries.into_iter().map(|(id, bytes)| async move {
                let key = format!("cache/{}", id.to_hex());
                match remote
                    .store
                    .put_opts(
                        &remote.path(&key),
                        PutPayload::from(bytes),
                        PutOptions::from(PutMode::Create),
                    )
                    .await
                {
                    Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(id),
                    Err(source) => Err(remote.store_err("upload", &key)(source)),
                }
            }))
            .buffer_unordered(CONCURRENCY)
            .collect(),
        );
        let store = self.repo.store()?;
        let writer = store.write()?;
        writer.create_tables()?;
        for upload in uploads {
            writer.mark_remote_has(self.name, &upload?)?;
            self.report.cache_uploaded += 1;
        }
        writer.commit()?;
        Ok(())
    }

    /// Version refs: create-only, each dataset's in semver order. A dataset stops at its
    /// first conflict: nothing of it after a version the remote refused is published
    /// (no later version, no tag), so no published version's parent is missing.
    fn push_versions(&mut self, versions: &BTreeMap<String, CommitId>) -> Result<(), RemoteError> {
        let mut ordered: Vec<(DatasetName, semver::Version, &String, &CommitId)> = versions
            .iter()
            .filter_map(|(name, id)| match parse_ref_name(name) {
                Some((dataset, RefKind::Version(version))) => Some((dataset, version, name, id)),
                _ => None,
            })
            .collect();
        ordered.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        for (dataset, version, name, id) in ordered {
            if self.stopped.contains(&dataset) {
                continue;
            }
            match self.runtime.block_on(self.remote.create_ref(name, id))? {
                None => {
                    self.report.versions_created.push(display_ref(name));
                    self.seen(name, *id, String::new());
                }
                Some(existing) if existing == *id => {
                    self.report.up_to_date += 1;
                    self.seen(name, *id, String::new());
                }
                Some(existing) => {
                    self.conflicts.push(PushConflict::Version {
                        name: dataset.clone(),
                        version,
                        local: *id,
                        remote: existing,
                    });
                    self.stopped.insert(dataset);
                }
            }
        }
        Ok(())
    }

    fn seen(&mut self, name: &str, id: CommitId, token: String) {
        self.seen_refs.push(SeenRef {
            name: name.to_string(),
            id,
            token,
        });
    }

    /// Tags: compare-and-swap against what this repository last saw on the remote.
    fn push_tags(
        &mut self,
        tags: &BTreeMap<String, CommitId>,
        force: bool,
    ) -> Result<(), RemoteError> {
        let last_seen: HashMap<String, (ObjectId, String)> = {
            let store = self.repo.read_store()?;
            let reader = store.read()?;
            let mut seen = HashMap::new();
            for name in tags.keys() {
                if let Some(state) = reader.remote_ref(self.name, name)? {
                    seen.insert(name.clone(), state);
                }
            }
            seen
        };
        for (name, id) in tags {
            let (dataset, _) = parse_ref_name(name).expect("local refs parse");
            if self.stopped.contains(&dataset) {
                continue;
            }
            let current = self.runtime.block_on(self.remote.get_tag(name))?;
            let seen_seq = match &current {
                None => 0,
                Some((remote_id, seq)) if remote_id == id => {
                    self.report.up_to_date += 1;
                    self.seen(name, *id, seq.to_string());
                    continue;
                }
                Some((remote_id, seq)) => {
                    let moved_since_seen = last_seen
                        .get(name)
                        .is_none_or(|(seen_id, _)| *seen_id != remote_id.object());
                    if moved_since_seen && !force {
                        self.conflicts.push(tag_conflict(name, *id, *remote_id));
                        continue;
                    }
                    *seq
                }
            };
            match self
                .runtime
                .block_on(self.remote.put_tag(name, id, seen_seq))?
            {
                Some(seq) => {
                    self.report.tags_updated.push(display_ref(name));
                    self.seen(name, *id, seq.to_string());
                }
                None => {
                    // Someone else moved it between our read and our write.
                    let now = self.runtime.block_on(self.remote.get_tag(name))?;
                    let now = now.map_or(*id, |(id, _)| id);
                    self.conflicts.push(tag_conflict(name, *id, now));
                }
            }
        }
        Ok(())
    }

    /// Records the refs the remote now has as this repository does; then fails with the
    /// conflicts, if any.
    fn finish(self) -> Result<PushReport, RemoteError> {
        let store = self.repo.store()?;
        let writer = store.write()?;
        writer.create_tables()?;
        for seen in &self.seen_refs {
            writer.set_remote_ref(self.name, &seen.name, &seen.id.object(), &seen.token)?;
            if let Some((_, RefKind::Version(_))) = parse_ref_name(&seen.name) {
                writer.set_published(&seen.name, &seen.id.object())?;
            }
        }
        writer.commit()?;
        if !self.conflicts.is_empty() {
            return Err(RemoteError::PushConflicts {
                remote: self.name.to_string(),
                conflicts: self.conflicts,
            });
        }
        Ok(self.report)
    }
}

fn tag_conflict(name: &str, local: CommitId, remote: CommitId) -> PushConflict {
    let (dataset, kind) = parse_ref_name(name).expect("local refs parse");
    let RefKind::Tag(tag) = kind else {
        unreachable!("a tag ref")
    };
    PushConflict::Tag {
        name: dataset,
        tag,
        local,
        remote,
    }
}

/// Which remote `fsck --remote` checks.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoteFsckOptions<'a> {
    /// The remote's name in the remotes table.
    pub remote: &'a str,
    /// The store variables from the environment, to open the remote's URL with.
    pub store_options: &'a [(String, String)],
}

/// What `fsck --remote` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteFsckReport {
    /// Objects checked.
    pub objects: u64,
    /// The problems found, one line each.
    pub problems: Vec<String>,
}

/// Checks a remote the way `fsck` checks this repository: every object every remote
/// ref needs is on the remote (a HEAD per object). Commits and nodes are read from
/// this repository when it has them, else downloaded and verified, to follow them.
pub fn fsck(
    repo: &Repo,
    options: &RemoteFsckOptions,
    progress: &dyn SyncProgress,
) -> Result<RemoteFsckReport, RemoteError> {
    let url = url(repo, options.remote)?;
    let remote = RemoteStore::open(&url, options.store_options)?;
    fsck_store(repo, &remote, progress)
}

/// An object a walk of the remote's graph reached (by `fsck --remote`, a pull or a pinned
/// fetch): its id, the kind it must have, and the ref it was reached from.
struct Reached {
    id: ObjectId,
    kind: Kind,
    via: String,
}

/// `fsck` on an opened remote store.
pub fn fsck_store(
    repo: &Repo,
    remote: &RemoteStore,
    progress: &dyn SyncProgress,
) -> Result<RemoteFsckReport, RemoteError> {
    let runtime = crate::io_runtime();
    if !runtime.block_on(remote.check_marker())? {
        return Err(RemoteError::NotARemote {
            url: remote.url.clone(),
        });
    }
    let mut problems = Vec::new();
    let mut frontier: Vec<Reached> = Vec::new();
    let (names, stray) = runtime.block_on(remote.list_refs())?;
    for key in stray {
        problems.push(format!("{key}: not a ref pail reads (a pull skips it)"));
    }
    // Commits and nodes the local store lacks are downloaded (capped, hashed) here.
    let tmp = repo.tmp_dir();
    std::fs::create_dir_all(&tmp).map_err(|source| RemoteError::Spool {
        path: tmp.clone(),
        source,
    })?;
    let mut found_refs = Vec::new();
    for name in names {
        match runtime.block_on(remote.get_ref(&name)) {
            Ok(Some((id, _))) => {
                found_refs.push((name.clone(), id));
                frontier.push(Reached {
                    id: id.object(),
                    kind: Kind::Commit,
                    via: name,
                })
            }
            Ok(None) => {}
            Err(err) => problems.push(format!("{name}: {err}")),
        }
    }
    problems.extend(publish::check_tables(remote, &runtime, &found_refs)?);
    // The graph walked level by level, so the HEADs of one level run concurrently;
    // what each object names comes from `walk::children`, as for every other walk.
    let mut seen: HashSet<ObjectId> = HashSet::new();
    let mut done = 0u64;
    while !frontier.is_empty() {
        let batch = local_manifests(repo, frontier.drain(..), &mut seen)?;
        let pending = batch.len() as u64;
        let tmp = &tmp;
        let checked: Vec<Result<CheckedObject, RemoteError>> = runtime.block_on(
            futures::stream::iter(
                batch
                    .into_iter()
                    .map(|pending| check_object(remote, pending, tmp)),
            )
            .buffer_unordered(CONCURRENCY)
            .collect(),
        );
        for result in checked {
            let CheckedObject {
                id,
                kind,
                via,
                outcome,
            } = result?;
            match outcome {
                Err(problem) => problems.push(problem),
                Ok(None) => {}
                Ok(Some(bytes)) => match crate::walk::children(kind, &id, &bytes) {
                    Ok(children) => {
                        frontier.extend(children.into_iter().map(|(id, kind)| Reached {
                            id,
                            kind,
                            via: via.clone(),
                        }))
                    }
                    Err(err) => problems.push(format!("{via}: {kind} {id} cannot be read: {err}")),
                },
            }
        }
        done += pending;
        progress.objects(done, done + frontier.len() as u64, 0);
    }
    Ok(RemoteFsckReport {
        objects: done,
        problems,
    })
}

/// An object `fsck --remote` is about to check, with its bytes when this repository has
/// them and they are to be followed.
struct Pending {
    object: Reached,
    local: Option<Vec<u8>>,
}

/// The objects of one level not checked yet, each with its bytes when it is a commit or a
/// node this repository has (one short read).
fn local_manifests(
    repo: &Repo,
    level: impl Iterator<Item = Reached>,
    seen: &mut HashSet<ObjectId>,
) -> Result<Vec<Pending>, RemoteError> {
    let store = repo.read_store()?;
    let reader = store.read()?;
    let mut batch = Vec::new();
    for object in level {
        if !seen.insert(object.id) {
            continue;
        }
        let local = match object.kind {
            Kind::Commit | Kind::Node => match reader.object(&object.id)? {
                Some((found, bytes)) if found == object.kind => Some(bytes),
                _ => None,
            },
            _ => None,
        };
        batch.push(Pending { object, local });
    }
    Ok(batch)
}

/// Checks that the remote has one object (a HEAD); a commit or node is also read (from
/// `local`, else downloaded and verified into `tmp`) to follow it.
async fn check_object(
    remote: &RemoteStore,
    pending: Pending,
    tmp: &FsPath,
) -> Result<CheckedObject, RemoteError> {
    let Pending {
        object: Reached { id, kind, via },
        local,
    } = pending;
    let checked = |outcome| CheckedObject {
        id,
        kind,
        via: via.clone(),
        outcome,
    };
    let key = remote.key_of(&id, kind);
    match remote.store.head(&remote.path(&key)).await {
        Ok(_) => {}
        Err(object_store::Error::NotFound { .. }) => {
            let problem = format!("{via}: {kind} {id} is missing from the remote");
            return Ok(checked(Err(problem)));
        }
        Err(source) => return Err(remote.store_err("check", &key)(source)),
    }
    let bytes = match (kind, local) {
        (Kind::Commit | Kind::Node, Some(bytes)) => Some(bytes),
        (Kind::Commit | Kind::Node, None) => match remote.download(id, kind, &via, tmp).await {
            Ok((_, mut file, len)) => {
                let mut bytes = Vec::with_capacity(len as usize);
                file.read_to_end(&mut bytes)
                    .map_err(|source| RemoteError::Spool {
                        path: tmp.to_path_buf(),
                        source,
                    })?;
                Some(bytes)
            }
            Err(err @ RemoteError::Corrupt { .. }) => {
                return Ok(checked(Err(format!("{via}: {err}"))));
            }
            Err(err) => return Err(err),
        },
        _ => None,
    };
    Ok(checked(Ok(bytes)))
}

/// What to pull, and from where.
#[derive(Debug, Clone, Copy, Default)]
pub struct PullOptions<'a> {
    /// The remote's name in the remotes table.
    pub remote: &'a str,
    /// The datasets whose versions and tags to pull; all when empty (only a full pull
    /// takes the remote's map cache, and only from a remote with `trust_cache`).
    pub datasets: &'a [DatasetName],
    /// The store variables from the environment, to open the remote's URL with (unused
    /// by `pull_from`).
    pub store_options: &'a [(String, String)],
}

/// Pulls the versions and tags of the wanted datasets and everything they need. Every
/// object is verified before anything is written; refs change in one transaction at the
/// end, so a failed pull changes nothing.
pub fn pull(
    repo: &Repo,
    options: &PullOptions,
    progress: &dyn SyncProgress,
) -> Result<PullReport, RemoteError> {
    let url = url(repo, options.remote)?;
    let remote = RemoteStore::open(&url, options.store_options)?;
    pull_from(repo, &remote, options, progress)
}

/// `pull` from an opened remote store: read refs, fetch, then write in one transaction.
pub fn pull_from(
    repo: &Repo,
    remote: &RemoteStore,
    options: &PullOptions,
    progress: &dyn SyncProgress,
) -> Result<PullReport, RemoteError> {
    let url = remote.url.clone();
    let runtime = crate::io_runtime();
    if !runtime.block_on(remote.check_marker())? {
        return Err(RemoteError::NotARemote { url });
    }
    let mut report = PullReport::default();
    let remote_refs = read_wanted_refs(remote, &runtime, options.datasets, &mut report)?;

    // Fetch the closure of the wanted commits, verifying each object.
    let roots: Vec<Reached> = remote_refs
        .iter()
        .map(|found| Reached {
            id: found.id.object(),
            kind: Kind::Commit,
            via: found.name.clone(),
        })
        .collect();
    let fetched = fetch_closure(repo, remote, &runtime, roots, progress, &mut report)?;

    // A teammate's map results: cache entries this repository lacks, only on a full pull
    // and only from a remote the user trusts with them (`remote add --trust-cache`).
    let trust_cache = {
        let store = repo.read_store()?;
        let reader = store.read()?;
        read_settings(&reader, options.remote)?.trust_cache
    };
    let cache_entries = if options.datasets.is_empty() && trust_cache {
        Some(fetch_cache(repo, options.remote, remote, &runtime)?)
    } else {
        None
    };

    let store = repo.store()?;
    let writer = store.write()?;
    writer.create_tables()?;
    fetched.write_into(&writer, &url)?;
    let remotes: Vec<String> = writer
        .remotes()?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let mut by_dataset: BTreeMap<DatasetName, Vec<PulledRef>> = BTreeMap::new();
    for found in remote_refs {
        let (dataset, kind) = parse_ref_name(&found.name).expect("listed refs were checked");
        by_dataset.entry(dataset).or_default().push(PulledRef {
            name: found.name,
            kind,
            id: found.id,
            etag: found.etag,
        });
    }
    for (dataset, refs) in by_dataset {
        let applying = ApplyRefs {
            writer: &writer,
            remote_name: options.remote,
            remotes: &remotes,
            dataset: &dataset,
        };
        applying.apply(refs, &mut report)?;
    }
    for entry in fetched.objects.entries() {
        writer.mark_remote_has(options.remote, &entry.id)?;
    }
    if let Some(cache) = &cache_entries {
        for entry in cache.entries() {
            writer.set_remote_map_cache(options.remote, &entry.id, &cache.read(entry)?)?;
            writer.mark_remote_has(options.remote, &entry.id)?;
        }
        report.cache_downloaded = cache.len();
    }
    writer.commit()?;
    Ok(report)
}

/// Lists the remote's refs of the wanted datasets (all when `datasets` is empty) and reads
/// them; stray keys become warnings.
fn read_wanted_refs(
    remote: &RemoteStore,
    runtime: &tokio::runtime::Runtime,
    datasets: &[DatasetName],
    report: &mut PullReport,
) -> Result<Vec<RemoteRef>, RemoteError> {
    let (ref_names, stray) = runtime.block_on(remote.list_refs())?;
    for key in stray {
        report.warnings.push(format!(
            "skipped {key} on the remote: not a ref pail can follow (a dataset version or tag)"
        ));
    }
    // Only the wanted datasets' refs are read and applied.
    let wanted = |dataset: &DatasetName| datasets.is_empty() || datasets.contains(dataset);
    let ref_names: Vec<String> = ref_names
        .into_iter()
        .filter(|name| parse_ref_name(name).is_some_and(|(dataset, _)| wanted(&dataset)))
        .collect();
    runtime.block_on(async {
        let results: Vec<Result<Option<RemoteRef>, RemoteError>> =
            futures::stream::iter(ref_names.iter().map(|name| async move {
                Ok(remote.get_ref(name).await?.map(|(id, etag)| RemoteRef {
                    name: name.clone(),
                    id,
                    etag,
                }))
            }))
            .buffered(CONCURRENCY)
            .collect()
            .await;
        results
            .into_iter()
            .filter_map(|result| result.transpose())
            .collect::<Result<Vec<_>, _>>()
    })
}

/// The verified objects a pull or a pinned fetch downloaded, spooled, with the ids of the
/// commits among them.
struct Fetched {
    objects: Spool,
    commits: HashSet<ObjectId>,
}

impl Fetched {
    /// Stores the objects in the write transaction, recording new commits as fetched from
    /// `url` (see `Reader::fetched_from`), and checks their row trees before any ref is set.
    fn write_into(&self, writer: &Writer, url: &str) -> Result<(), RemoteError> {
        self.objects.write_into(writer, |entry| {
            if entry.kind == Kind::Commit {
                writer.mark_fetched(&entry.id, url)?;
            }
            Ok(())
        })?;
        let fetched: HashSet<ObjectId> = self.objects.entries().iter().map(|e| e.id).collect();
        let commits: Vec<ObjectId> = self.commits.iter().copied().collect();
        verify_fetched_trees(writer, url, &fetched, &commits)
    }
}

/// Downloads, level by level, every object reachable from `roots` that this repository
/// lacks, verifying each; returns them spooled, with the ids of the commits fetched.
fn fetch_closure(
    repo: &Repo,
    remote: &RemoteStore,
    runtime: &tokio::runtime::Runtime,
    mut queue: Vec<Reached>,
    progress: &dyn SyncProgress,
    report: &mut PullReport,
) -> Result<Fetched, RemoteError> {
    let mut spool = Spool::new(&repo.tmp_dir())?;
    let mut fetched: HashSet<ObjectId> = HashSet::new();
    let mut fetched_commits: HashSet<ObjectId> = HashSet::new();
    let mut done = 0u64;
    while !queue.is_empty() {
        // Drop what is already here.
        let batch: Vec<Reached> = {
            let store = repo.read_store()?;
            let reader = store.read()?;
            let mut batch = Vec::new();
            for reached in queue.drain(..) {
                if fetched.contains(&reached.id) || reader.has_object(&reached.id)? {
                    continue;
                }
                fetched.insert(reached.id);
                batch.push(reached);
            }
            batch
        };
        // Each download streams to its own temporary file; they are checked one at a
        // time as they finish, so memory holds at most one manifest and a chunk per
        // request in flight, whatever the remote holds.
        let tmp = repo.tmp_dir();
        let tmp = tmp.as_path();
        runtime.block_on(async {
            let mut downloads = futures::stream::iter(batch.into_iter().map(
                |Reached { id, kind, via }| async move {
                    let (kind, file, len) = remote.download(id, kind, &via, tmp).await?;
                    Ok::<Downloaded, RemoteError>(Downloaded {
                        id,
                        kind,
                        file,
                        len,
                        via,
                    })
                },
            ))
            .buffer_unordered(CONCURRENCY);
            while let Some(download) = downloads.next().await {
                let mut download = download?;
                queue.extend(check_download(&remote.url, &download, tmp)?);
                if download.kind == Kind::Commit {
                    fetched_commits.insert(download.id);
                }
                done += 1;
                report.objects_downloaded += 1;
                report.bytes_downloaded += download.len + 1;
                progress.objects(done, done + queue.len() as u64, report.bytes_downloaded);
                spool.insert_file(download.id, download.kind, &mut download.file, download.len)?;
            }
            Ok::<(), RemoteError>(())
        })?;
    }
    Ok(Fetched {
        objects: spool,
        commits: fetched_commits,
    })
}

/// Decodes a downloaded manifest (a leaf or a blob is only hashed); returns what it names,
/// to fetch next.
fn check_download(
    url: &str,
    download: &Downloaded,
    tmp: &FsPath,
) -> Result<Vec<Reached>, RemoteError> {
    let Downloaded {
        id,
        kind,
        file,
        len,
        via,
    } = download;
    let corrupt = |detail: String| RemoteError::Corrupt {
        url: url.to_string(),
        key: RemoteStore::object_key(id),
        detail,
    };
    let manifest = || -> Result<Vec<u8>, RemoteError> {
        let mut bytes = Vec::with_capacity(*len as usize);
        std::io::Read::read_to_end(&mut (&*file), &mut bytes).map_err(|source| {
            RemoteError::Spool {
                path: tmp.to_path_buf(),
                source,
            }
        })?;
        Ok(bytes)
    };
    let mut next = Vec::new();
    match kind {
        // Decoded as every reader decodes them; what a commit names comes from the walker.
        Kind::Commit | Kind::Schema | Kind::Summary => {
            let bytes = manifest()?;
            let children = crate::walk::check_decodes(*kind, id, &bytes)
                .and_then(|()| crate::walk::children(*kind, id, &bytes))
                .map_err(|err| corrupt(err.to_string()))?;
            next.extend(children.into_iter().map(|(id, kind)| Reached {
                id,
                kind,
                via: via.clone(),
            }));
        }
        // Not through the walker: its error for a level out of range says "row tree node
        // … is malformed", where a pull has always said "node level N".
        Kind::Node => {
            let node = Node::decode(&manifest()?).map_err(|err| corrupt(err.to_string()))?;
            if let Some(delta) = &node.delta {
                let trees = std::iter::once(delta.base).chain(delta.patch);
                next.extend(trees.map(|id| Reached {
                    id,
                    kind: Kind::Node,
                    via: via.clone(),
                }));
                return Ok(next);
            }
            if node.level == 0 || node.level > 16 {
                return Err(corrupt(format!("node level {}", node.level)));
            }
            let child_kind = if node.level == 1 {
                Kind::Leaf
            } else {
                Kind::Node
            };
            next.extend(node.children.iter().map(|child| Reached {
                id: child.id,
                kind: child_kind,
                via: via.clone(),
            }));
        }
        Kind::Leaf | Kind::Blob => {}
    }
    Ok(next)
}

/// Downloads the map cache entries the remote has and this repository lacks, into a
/// spool. An entry that does not decode as one (`map::decode_cache_entry`), whose key is
/// not an id, or that is larger than `MAX_CACHE_ENTRY_BYTES` (counted while it streams,
/// whatever the listing says) is skipped.
fn fetch_cache(
    repo: &Repo,
    remote_name: &str,
    remote: &RemoteStore,
    runtime: &tokio::runtime::Runtime,
) -> Result<Spool, RemoteError> {
    let prefix = remote.path("cache");
    let strip = format!("{prefix}/");
    let metas: Vec<object_store::ObjectMeta> = runtime
        .block_on(remote.store.list(Some(&prefix)).try_collect())
        .map_err(remote.store_err("list", "cache/"))?;
    let missing: Vec<ObjectId> = {
        let store = repo.read_store()?;
        let reader = store.read()?;
        let mut missing = Vec::new();
        for meta in metas {
            let key = meta.location.to_string();
            let name = key.strip_prefix(&strip).unwrap_or(&key);
            // Not an entry pail writes (a stray key, or larger than 16 MiB): skipped.
            if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let Ok(id) = ObjectId::from_hex(name) else {
                continue;
            };
            if meta.size > MAX_CACHE_ENTRY_BYTES {
                continue;
            }
            if reader.remote_map_cache(remote_name, &id)?.is_none() {
                missing.push(id);
            }
        }
        missing
    };
    // Spooled to disk as they arrive, so memory holds only the entries in flight.
    let mut spool = Spool::new(&repo.tmp_dir())?;
    runtime.block_on(async {
        let mut fetched = futures::stream::iter(missing.into_iter().map(|id| async move {
            let key = format!("cache/{}", id.to_hex());
            // Capped while streaming: the listed size is not trusted. Too large, gone
            // since the listing, or not an entry: skipped, like a stray key.
            let bytes = match remote.get_capped(&key, MAX_CACHE_ENTRY_BYTES).await {
                Ok(Some((bytes, _))) => bytes,
                Ok(None) | Err(RemoteError::Corrupt { .. }) => return Ok(None),
                Err(err) => return Err(err),
            };
            if crate::object::decode_cache_entry(&bytes).is_none() {
                return Ok(None);
            }
            Ok(Some((id, bytes)))
        }))
        .buffer_unordered(CONCURRENCY);
        while let Some(entry) = fetched.next().await {
            if let Some((id, bytes)) = entry? {
                // The kind is a placeholder: cache entries are not objects.
                spool.insert(id, Kind::Blob, &bytes)?;
            }
        }
        Ok::<(), RemoteError>(())
    })?;
    Ok(spool)
}

/// A version pinned to a commit (an entry of `pail.lock`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub name: DatasetName,
    pub version: semver::Version,
    pub commit: CommitId,
}

/// Pinned commits to fetch, and from where.
#[derive(Debug, Clone, Copy)]
pub struct FetchPinnedOptions<'a> {
    /// The remote's URL (normalized), in the remotes table or not.
    pub url: &'a str,
    pub pins: &'a [Pin],
    /// The store variables from the environment, to open the URL with.
    pub store_options: &'a [(String, String)],
}

/// Fetches pinned commits (and everything they need) from a remote URL, checking that
/// the remote's version refs still name them. A pin becomes a local version ref only
/// when the URL is in the remotes table (a trusted remote) and that remote's own ref
/// names the pinned commit; otherwise the fetched commit stays unnamed (checkout
/// reads it by id), so a lock cannot inject versions.
pub fn fetch_pinned(
    repo: &Repo,
    options: &FetchPinnedOptions,
    progress: &dyn SyncProgress,
) -> Result<(), RemoteError> {
    let FetchPinnedOptions {
        url,
        pins,
        store_options,
    } = *options;
    let remote = RemoteStore::open(url, store_options)?;
    let runtime = crate::io_runtime();
    if !runtime.block_on(remote.check_marker())? {
        return Err(RemoteError::NotARemote {
            url: url.to_string(),
        });
    }
    let trusted = list(repo)?.iter().any(|known| known.url == url);
    let mut roots = Vec::new();
    let mut named = Vec::new();
    for pin in pins {
        let ref_name = pin.name.version_ref(&pin.version);
        let found = runtime.block_on(remote.get_ref(&ref_name))?;
        named.push(trusted && found.is_some());
        if let Some((found, _)) = found
            && found != pin.commit
        {
            return Err(pin_moved(
                pin,
                found,
                PinPlace::Remote {
                    url: url.to_string(),
                },
            ));
        }
        roots.push(Reached {
            id: pin.commit.object(),
            kind: Kind::Commit,
            via: ref_name,
        });
    }
    let mut report = PullReport::default();
    let fetched = match fetch_closure(repo, &remote, &runtime, roots, progress, &mut report) {
        Ok(fetched) => fetched,
        Err(RemoteError::MissingObject {
            ref_name,
            id,
            url: missing_url,
        }) => {
            let Some(pin) = pins
                .iter()
                .find(|pin| pin.name.version_ref(&pin.version) == ref_name)
            else {
                return Err(RemoteError::MissingObject {
                    ref_name,
                    id,
                    url: missing_url,
                });
            };
            return Err(RemoteError::PinUnavailable {
                name: Box::new(pin.name.clone()),
                commit: CommitId(id),
                remote: Some(url.to_string()),
            });
        }
        Err(err) => return Err(err),
    };
    let store = repo.store()?;
    let writer = store.write()?;
    writer.create_tables()?;
    fetched.write_into(&writer, url)?;
    for (pin, named) in pins.iter().zip(named) {
        let ref_name = pin.name.version_ref(&pin.version);
        match writer.get_ref(&ref_name)? {
            Some(local) if local != pin.commit.object() => {
                return Err(pin_moved(pin, CommitId(local), PinPlace::Local));
            }
            Some(_) => {}
            None if named => writer.set_ref(&ref_name, &pin.commit.object())?,
            None => {}
        }
    }
    writer.commit()?;
    Ok(())
}

fn pin_moved(pin: &Pin, found: CommitId, place: PinPlace) -> RemoteError {
    RemoteError::PinMoved {
        version: Box::new(DatasetVersion {
            name: pin.name.clone(),
            version: pin.version.clone(),
        }),
        pinned: pin.commit,
        found,
        place,
    }
}

/// An object the pull's write transaction holds (fetched or already local), of a kind.
fn object_in(
    writer: &Writer,
    url: &str,
    id: &ObjectId,
    kind: Kind,
) -> Result<Vec<u8>, RemoteError> {
    match writer.object(id)? {
        Some((found, bytes)) if found == kind => Ok(bytes),
        found => Err(RemoteError::Corrupt {
            url: url.to_string(),
            key: RemoteStore::object_key(id),
            detail: match found {
                Some((found, _)) => format!("a {found} where a {kind} was expected"),
                None => format!("a {kind} that is missing"),
            },
        }),
    }
}

/// Checks every entry of the fetched row-tree nodes against what it names, since a hash
/// only proves an object intact, not that an entry describes it: a child node's key range,
/// row and byte counts and digest; a leaf's Parquet schema against its commit's schema and
/// its rows, recomputed as the commit built them (count, key range, digest, bytes, column
/// stats). Also each fetched commit's counts against its root. Nodes already local were
/// built or checked here before. Runs inside the pull's write transaction, before any
/// ref is set: an error leaves nothing written.
fn verify_fetched_trees(
    writer: &Writer,
    url: &str,
    fetched: &HashSet<ObjectId>,
    commits: &[ObjectId],
) -> Result<(), RemoteError> {
    let mut checked: HashSet<(ObjectId, ObjectId)> = HashSet::new();
    for commit_id in commits {
        let commit = Commit::decode(&object_in(writer, url, commit_id, Kind::Commit)?)?;
        let schema =
            crate::schema::Schema::decode(&object_in(writer, url, &commit.schema, Kind::Schema)?)?;
        let tree = TreeCheck {
            writer,
            url,
            fetched,
            commit_id,
            arrow: schema.to_arrow(),
            commit: &commit,
            schema: &schema,
        };
        let root = tree.node(&commit.rows)?;
        let tree_root = match &root.delta {
            Some(delta) => {
                tree.check_delta(&root)?;
                delta.base
            }
            None => {
                tree.check_root()?;
                commit.rows
            }
        };
        let mut stack = vec![tree_root];
        while let Some(node_id) = stack.pop() {
            if !checked.insert((node_id, commit.schema)) {
                continue;
            }
            tree.check_node(node_id, &mut stack)?;
        }
    }
    Ok(())
}

/// The check of one fetched commit's row tree (see `verify_fetched_trees`).
struct TreeCheck<'a> {
    writer: &'a Writer,
    url: &'a str,
    fetched: &'a HashSet<ObjectId>,
    commit_id: &'a ObjectId,
    commit: &'a Commit,
    schema: &'a crate::schema::Schema,
    arrow: arrow_schema::Schema,
}

impl TreeCheck<'_> {
    fn corrupt(&self, id: &ObjectId, detail: String) -> RemoteError {
        RemoteError::Corrupt {
            url: self.url.to_string(),
            key: RemoteStore::object_key(id),
            detail,
        }
    }

    fn object(&self, id: &ObjectId, kind: Kind) -> Result<Vec<u8>, RemoteError> {
        object_in(self.writer, self.url, id, kind)
    }

    fn node(&self, id: &ObjectId) -> Result<Node, RemoteError> {
        Ok(Node::decode(&self.object(id, Kind::Node)?)?)
    }

    fn leaf(&self, id: &ObjectId) -> Result<Vec<RecordBatch>, RemoteError> {
        let bytes = self.object(id, Kind::Leaf)?;
        let batches = crate::rows::leaf::decode(&id.to_hex(), bytes)
            .map_err(|err| self.corrupt(id, err.to_string()))?;
        self.leaf_matches(id, &batches)?;
        Ok(batches)
    }

    /// The commit's row count against its root's.
    fn check_root(&self) -> Result<(), RemoteError> {
        let root = self.node(&self.commit.rows)?;
        let root_rows = root
            .children
            .iter()
            .try_fold(0u64, |sum, child| sum.checked_add(child.n_rows));
        if root_rows != Some(self.commit.n_rows) {
            return Err(self.corrupt(
                self.commit_id,
                format!(
                    "the commit says {} rows, its row tree holds {}",
                    self.commit.n_rows,
                    root_rows.map_or("too many".into(), |n| n.to_string())
                ),
            ));
        }
        Ok(())
    }

    /// A delta root: its edits fit its base and patch, the rows they make are the
    /// commit's, and every patch leaf holds what its entry says in the commit's columns.
    /// The base is checked as any tree is.
    fn check_delta(&self, root: &Node) -> Result<(), RemoteError> {
        let delta = root.delta.as_ref().expect("a delta root");
        let corrupt = |detail: String| self.corrupt(&self.commit.rows, detail);
        let leaves = self.plain_leaves(&delta.base)?;
        let patch = match &delta.patch {
            Some(patch) => self.plain_leaves(patch)?,
            None => Vec::new(),
        };
        for entry in &patch {
            let batches = self.leaf(&entry.id)?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            if rows as u64 != entry.n_rows {
                return Err(self.corrupt(&entry.id, "its entry has the wrong row count".into()));
            }
        }
        let layout =
            crate::rows::layout::Layout::from_parts(delta.base, leaves, delta.edits.clone(), patch)
                .map_err(corrupt)?;
        if layout.n_rows() != self.commit.n_rows {
            return Err(corrupt(format!(
                "the commit says {} rows, its delta holds {}",
                self.commit.n_rows,
                layout.n_rows()
            )));
        }
        Ok(())
    }

    /// The leaf entries under a plain tree's root, levels checked on the way down.
    fn plain_leaves(&self, root: &ObjectId) -> Result<Vec<crate::object::Child>, RemoteError> {
        let mut leaves = Vec::new();
        let mut stack = vec![(*root, None::<u32>)];
        while let Some((id, expected)) = stack.pop() {
            let node = self.node(&id)?;
            let level_ok = node.delta.is_none()
                && (1..=16).contains(&node.level)
                && expected.is_none_or(|level| level == node.level);
            if !level_ok {
                return Err(self.corrupt(&id, format!("node level {}", node.level)));
            }
            if node.level == 1 {
                leaves.extend(node.children);
            } else {
                // Reversed onto the stack so that leaves come out in key order.
                for child in node.children.iter().rev() {
                    stack.push((child.id, Some(node.level - 1)));
                }
            }
        }
        Ok(leaves)
    }

    /// A leaf's columns against the commit's schema.
    fn leaf_matches(&self, leaf: &ObjectId, batches: &[RecordBatch]) -> Result<(), RemoteError> {
        for batch in batches {
            let fields = batch.schema_ref().fields().clone();
            let same = fields.len() == self.arrow.fields().len()
                && fields.iter().zip(self.arrow.fields()).all(|(found, want)| {
                    found.name() == want.name()
                        && found.data_type().equals_datatype(want.data_type())
                });
            if !same {
                return Err(self.corrupt(
                    leaf,
                    format!(
                        "the leaf's columns do not match the schema of commit {}",
                        self.commit_id.short()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks one node's entries against what they name; child nodes go on `stack`.
    fn check_node(&self, node_id: ObjectId, stack: &mut Vec<ObjectId>) -> Result<(), RemoteError> {
        let node = self.node(&node_id)?;
        if !self.fetched.contains(&node_id) {
            // Built or checked here before, all under one schema: its leftmost leaf
            // tells whether that is this commit's.
            let mut node = node;
            while let Some(first) = node.children.first() {
                if node.level == 1 {
                    self.leaf(&first.id)?;
                    break;
                }
                node = self.node(&first.id)?;
            }
            return Ok(());
        }
        for pair in node.children.windows(2) {
            if pair[0].last_key >= pair[1].first_key {
                return Err(self.corrupt(&node_id, "its entries' key ranges overlap".into()));
            }
        }
        for entry in &node.children {
            let mismatch = |what: &str| {
                self.corrupt(
                    &entry.id,
                    format!(
                        "node {}'s entry for it has the wrong {what} (a forged entry)",
                        node_id.short()
                    ),
                )
            };
            let described = if node.level > 1 {
                let child = self.node(&entry.id)?;
                if child.level + 1 != node.level {
                    return Err(mismatch("level"));
                }
                stack.push(entry.id);
                describe_node(entry.id, &child).ok_or_else(|| mismatch("counts"))?
            } else {
                let batches = self.leaf(&entry.id)?;
                let mut described =
                    crate::commit::describe_leaf(self.commit, self.schema, &batches)
                        .map_err(|detail| self.corrupt(&entry.id, detail))?;
                described.id = entry.id;
                described
            };
            for (what, differs) in [
                ("row count", described.n_rows != entry.n_rows),
                (
                    "key range",
                    described.first_key != entry.first_key || described.last_key != entry.last_key,
                ),
                ("digest", described.digest != entry.digest),
                ("byte count", described.n_bytes != entry.n_bytes),
                (
                    "column stats",
                    node.level == 1 && described.stats != entry.stats,
                ),
            ] {
                if differs {
                    return Err(mismatch(what));
                }
            }
        }
        Ok(())
    }
}

/// The entry a parent node should hold for `child`; None when its counts overflow.
fn describe_node(id: ObjectId, child: &Node) -> Option<crate::object::Child> {
    let mut hasher = blake3::Hasher::new();
    for grandchild in &child.children {
        hasher.update(&grandchild.digest.0);
    }
    let sum = |of: fn(&crate::object::Child) -> u64| {
        child
            .children
            .iter()
            .try_fold(0u64, |sum, grandchild| sum.checked_add(of(grandchild)))
    };
    Some(crate::object::Child {
        id,
        first_key: child
            .children
            .first()
            .map(|c| c.first_key.clone())
            .unwrap_or_default(),
        last_key: child
            .children
            .last()
            .map(|c| c.last_key.clone())
            .unwrap_or_default(),
        n_rows: sum(|c| c.n_rows)?,
        n_bytes: sum(|c| c.n_bytes)?,
        digest: ObjectId(*hasher.finalize().as_bytes()),
        stats: Vec::new(),
    })
}

/// Whether a local version ref is published as `id`: pulled from or pushed to a remote.
/// Repositories from before the `published` table have only the per-remote record.
fn is_published(
    writer: &Writer,
    remotes: &[String],
    name: &str,
    id: &ObjectId,
) -> Result<bool, StoreError> {
    if writer.published(name)? == Some(*id) {
        return Ok(true);
    }
    for remote in remotes {
        if writer
            .remote_ref(remote, name)?
            .is_some_and(|(seen, _)| seen == *id)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A wanted remote ref, parsed, as a pull applies it.
struct PulledRef {
    name: String,
    kind: RefKind,
    id: CommitId,
    etag: String,
}

/// Applies one wanted dataset's remote refs, in the pull's write transaction (the fetched
/// objects are already in it).
///
/// Versions: a new number is taken; a number this repository uses for another commit that
/// is published is refused; an unpublished local version there moves, with every
/// unpublished local version above it, after the highest number, in semver order, so
/// parents stay below their children. Tags: taken only when they name a commit of the
/// dataset's history as the remote publishes it (its versions and their ancestors), and
/// only when the local tag has not moved since the remote and this repository last agreed.
struct ApplyRefs<'a> {
    writer: &'a Writer,
    remote_name: &'a str,
    /// Every remote's name.
    remotes: &'a [String],
    dataset: &'a DatasetName,
}

impl ApplyRefs<'_> {
    fn version(&self, version: &semver::Version) -> Box<DatasetVersion> {
        Box::new(DatasetVersion {
            name: self.dataset.clone(),
            version: version.clone(),
        })
    }

    fn apply(&self, refs: Vec<PulledRef>, report: &mut PullReport) -> Result<(), RemoteError> {
        let history = self.history(&refs)?;
        let displaced = self.apply_versions(&refs, report)?;
        if !displaced.is_empty() {
            let remote_numbers: HashSet<semver::Version> = refs
                .iter()
                .filter_map(|pulled| match &pulled.kind {
                    RefKind::Version(version) => Some(version.clone()),
                    RefKind::Tag(_) => None,
                })
                .collect();
            self.renumber(displaced, &remote_numbers, report)?;
        }
        self.apply_tags(&refs, &history, report)
    }

    /// The dataset's history as the remote publishes it: its versions and their ancestors.
    fn history(&self, refs: &[PulledRef]) -> Result<HashSet<ObjectId>, RemoteError> {
        let mut history: HashSet<ObjectId> = HashSet::new();
        let mut stack: Vec<ObjectId> = refs
            .iter()
            .filter(|pulled| matches!(pulled.kind, RefKind::Version(_)))
            .map(|pulled| pulled.id.object())
            .collect();
        while let Some(id) = stack.pop() {
            if !history.insert(id) {
                continue;
            }
            if let Some((Kind::Commit, bytes)) = self.writer.object(&id)? {
                let commit = Commit::decode(&bytes)?;
                stack.extend(commit.parents.iter().map(|parent| parent.object()));
            }
        }
        Ok(history)
    }

    /// Takes the remote's version refs; returns the unpublished local versions whose
    /// numbers they took.
    fn apply_versions(
        &self,
        refs: &[PulledRef],
        report: &mut PullReport,
    ) -> Result<Vec<(semver::Version, CommitId)>, RemoteError> {
        let writer = self.writer;
        let mut displaced = Vec::new();
        for PulledRef {
            name,
            kind,
            id,
            etag,
        } in refs
        {
            let RefKind::Version(version) = kind else {
                continue;
            };
            match writer.get_ref(name)? {
                Some(local) if local == id.object() => {}
                Some(local) => {
                    if let Some((seen, _)) = writer.remote_ref(self.remote_name, name)?
                        && seen == local
                    {
                        return Err(RemoteError::RewrittenVersion {
                            remote: self.remote_name.to_string(),
                            version: self.version(version),
                            seen: CommitId(seen),
                            now: *id,
                        });
                    }
                    if is_published(writer, self.remotes, name, &local)? {
                        return Err(RemoteError::PublishedVersionConflict {
                            remote: self.remote_name.to_string(),
                            version: self.version(version),
                            ours: CommitId(local),
                            theirs: *id,
                        });
                    }
                    displaced.push((version.clone(), CommitId(local)));
                    writer.set_ref(name, &id.object())?;
                    report.versions_added.push(display_ref(name));
                }
                None => {
                    writer.set_ref(name, &id.object())?;
                    report.versions_added.push(display_ref(name));
                }
            }
            writer.set_remote_ref(self.remote_name, name, &id.object(), etag)?;
            writer.set_published(name, &id.object())?;
        }
        Ok(displaced)
    }

    /// Unpublished local versions the remote's numbers displaced move after the highest
    /// number, with every unpublished local version above the lowest displaced one.
    fn renumber(
        &self,
        displaced: Vec<(semver::Version, CommitId)>,
        remote_numbers: &HashSet<semver::Version>,
        report: &mut PullReport,
    ) -> Result<(), RemoteError> {
        let writer = self.writer;
        let dataset = self.dataset;
        let Some(lowest) = displaced.iter().map(|(version, _)| version.clone()).min() else {
            return Ok(());
        };
        let prefix = format!("{}versions/", dataset.ref_prefix());
        let mut moving = displaced;
        for (name, id) in writer.refs(&prefix)? {
            let Some((_, RefKind::Version(version))) = parse_ref_name(&name) else {
                continue;
            };
            if version > lowest
                && !remote_numbers.contains(&version)
                && !is_published(writer, self.remotes, &name, &id)?
            {
                writer.delete_ref(&name)?;
                moving.push((version, CommitId(id)));
            }
        }
        moving.sort_by(|a, b| a.0.cmp(&b.0));
        let mut highest = writer
            .refs(&prefix)?
            .into_iter()
            .filter_map(|(name, _)| match parse_ref_name(&name) {
                Some((_, RefKind::Version(version))) => Some(version),
                _ => None,
            })
            .max()
            .unwrap_or(lowest);
        for (old, id) in moving {
            let patch =
                highest
                    .patch
                    .checked_add(1)
                    .ok_or_else(|| RemoteError::VersionOverflow {
                        name: dataset.clone(),
                        after: highest.clone(),
                    })?;
            let next = semver::Version::new(highest.major, highest.minor, patch);
            writer.set_ref(&dataset.version_ref(&next), &id.object())?;
            report.renumbered.push(Renumbered {
                from: format!("{dataset}@{old}"),
                to: next.to_string(),
            });
            highest = next;
        }
        Ok(())
    }

    /// Takes the remote's tags that name a commit of `history`, unless the local tag moved
    /// since the last agreement.
    fn apply_tags(
        &self,
        refs: &[PulledRef],
        history: &HashSet<ObjectId>,
        report: &mut PullReport,
    ) -> Result<(), RemoteError> {
        let writer = self.writer;
        for PulledRef {
            name,
            kind,
            id,
            etag,
        } in refs
        {
            let RefKind::Tag(_) = kind else {
                continue;
            };
            if !history.contains(&id.object()) {
                report.warnings.push(format!(
                    "skipped tag {} on the remote: it names commit {}, which is not in the history of that dataset's versions there",
                    display_ref(name),
                    id.short()
                ));
                continue;
            }
            let seen = writer
                .remote_ref(self.remote_name, name)?
                .map(|(seen, _)| seen);
            match writer.get_ref(name)? {
                Some(local) if local == id.object() => {}
                Some(local) if seen != Some(local) => {
                    // Moved here since the last agreement: kept. When the remote moved too,
                    // they diverged, and the last agreed value stays the base for push.
                    if seen != Some(id.object()) {
                        report.tags_diverged.push(TagDivergence {
                            tag: display_ref(name),
                            local: CommitId(local),
                            remote: *id,
                        });
                    }
                    continue;
                }
                _ => {
                    writer.set_ref(name, &id.object())?;
                    report.tags_updated.push(display_ref(name));
                }
            }
            writer.set_remote_ref(self.remote_name, name, &id.object(), etag)?;
        }
        Ok(())
    }
}

fn settings_json(settings: &RemoteSettings) -> String {
    serde_json::to_string(settings).expect("settings serialize")
}

/// A remote's recorded settings. Unreadable settings (never written by pail) count as the
/// defaults, which trust nothing.
fn read_settings(reader: &Reader, name: &str) -> Result<RemoteSettings, crate::store::StoreError> {
    Ok(reader
        .remote_settings(name)?
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default())
}

/// `datasets/ns/p/n/versions/1.0.0` as `ns.p.n@1.0.0`.
fn display_ref(name: &str) -> String {
    match parse_ref_name(name) {
        Some((dataset, RefKind::Version(version))) => format!("{dataset}@{version}"),
        Some((dataset, RefKind::Tag(tag))) => format!("{dataset}@{tag}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_names_are_checked() {
        assert!(parse_ref_name("datasets/a/b/c/versions/1.0.0").is_some());
        assert!(parse_ref_name("datasets/a/b/c/tags/golden").is_some());
        assert!(parse_ref_name("datasets/a/b/c/versions/01.0.0").is_none());
        assert!(parse_ref_name("datasets/A/b/c/versions/1.0.0").is_none());
        assert!(parse_ref_name("datasets/a/b/c/tags/../x").is_none());
        assert!(parse_ref_name("datasets/a/b/versions/1.0.0").is_none());
        assert!(parse_ref_name("other/a/b/c/versions/1.0.0").is_none());
    }

    #[test]
    fn unfollowable_versions_and_bad_bodies_are_refused() {
        assert!(parse_ref_name("datasets/a/b/c/versions/1.0.4294967295").is_some());
        assert!(parse_ref_name("datasets/a/b/c/versions/1.0.18446744073709551615").is_none());
        assert!(parse_ref_name("datasets/a/b/c/versions/4294967296.0.0").is_none());
        assert!(parse_ref_name("README.txt").is_none());
        let hex = "ab".repeat(32);
        assert!(parse_ref_body(format!("{hex}\n").as_bytes()).is_some());
        assert!(parse_ref_body(hex.as_bytes()).is_some());
        assert!(parse_ref_body(format!("+{}", &hex[1..]).as_bytes()).is_none());
        assert!(parse_ref_body("é".repeat(32).as_bytes()).is_none());
        assert!(parse_ref_body(format!("{hex}\n\n").as_bytes()).is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Ref keys and bodies come from the remote: any of them is a value or a refusal.
        #[test]
        fn remote_ref_decoding_never_panics(
            name in r"datasets/[a-zA-Z0-9_.]{0,6}/[a-z]{1,4}/[a-z]{1,4}/(versions|tags|other)/[0-9a-z.+é-]{0,24}|\PC{0,60}",
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            hexish in r"[0-9a-fA-F+é-]{60,66}\n?",
        ) {
            if let Some((dataset, kind)) = parse_ref_name(&name) {
                let rebuilt = match kind {
                    RefKind::Version(version) => dataset.version_ref(&version),
                    RefKind::Tag(tag) => format!("{}tags/{tag}", dataset.ref_prefix()),
                };
                proptest::prop_assert_eq!(rebuilt, name.clone());
            }
            let _ = display_ref(&name);
            let _ = parse_ref_body(&body);
            if let Some(id) = parse_ref_body(hexish.as_bytes()) {
                proptest::prop_assert_eq!(id.to_hex(), hexish.trim_end().to_ascii_lowercase());
            }
        }
    }

    #[test]
    fn urls_are_normalized_and_credentials_refused() {
        let cwd = FsPath::new("/work");
        assert_eq!(normalize_url("shared", cwd).unwrap(), "file:///work/shared");
        assert_eq!(normalize_url("s3://b/p/", cwd).unwrap(), "s3://b/p");
        assert!(normalize_url("s3://b/p?sig=secret", cwd).is_err());
        assert!(normalize_url("s3://key:secret@b/p", cwd).is_err());
        assert!(normalize_url("http://b/p", cwd).is_err());
    }
}
