//! Remotes: a prefix in a bucket (or a local directory) that holds pail objects and refs,
//! reached through object_store. No server of our own: create-only writes and
//! compare-and-swap on etags are the only coordination.
//!
//! Layout under the prefix: `pail-remote.json` (the format marker), `objects/<2 hex>/<62 hex>`
//! (the kind code byte followed by the object's bytes), and `refs/datasets/...` mirroring the
//! local refs, each holding a commit id in hex and a newline.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use crate::name::{DatasetName, check_tag};
use crate::object::{Commit, CommitId, Input, Kind, Node, ObjectId};
use crate::repo::{Repo, RepoError};
use crate::store::{Reader, Writer};

/// The remote layout's major format; a remote with a newer one is refused.
pub const REMOTE_FORMAT: u32 = 1;
const MARKER: &str = "pail-remote.json";
/// No object pail writes comes near this; a larger one on a remote is refused unread.
pub const MAX_OBJECT_BYTES: u64 = 1 << 30;
/// Requests in flight at once.
const CONCURRENCY: usize = 16;

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
    NewerFormat { url: String, found: String },
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
        id: String,
    },
    #[error("{} on remote `{remote}`", describe_conflicts(.conflicts))]
    PushConflicts {
        remote: String,
        conflicts: Vec<PushConflict>,
    },
    #[error(
        "remote `{remote}` changed version {name}@{version} from {seen} to {now}, which pail never does; nothing was written locally"
    )]
    RewrittenVersion {
        remote: String,
        name: String,
        version: String,
        seen: String,
        now: String,
    },
    #[error("could not spool objects in {path}: {source}")]
    Spool {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A remote ref: its name, the commit it names, and the etag of the ref object.
type RemoteRef = (String, CommitId, String);
/// A verified download: id, kind, bytes, and the ref it was reached from.
type Downloaded = (ObjectId, Kind, Vec<u8>, String);

/// A ref the remote would not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushConflict {
    /// The remote holds this version number for another commit.
    Version {
        name: String,
        version: String,
        local: CommitId,
        remote: CommitId,
    },
    /// The tag moved on the remote since it was last seen here.
    Tag {
        name: String,
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
}

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullReport {
    pub objects_downloaded: usize,
    pub bytes_downloaded: u64,
    pub versions_added: Vec<String>,
    pub tags_updated: Vec<String>,
    /// Local versions that the remote already had under the same number for another
    /// commit: (dataset@old, new version).
    pub renumbered: Vec<(String, String)>,
    /// `pail map` result-cache entries downloaded.
    pub cache_downloaded: usize,
}

/// Receives progress from push and pull.
pub trait SyncProgress: Sync {
    fn objects(&self, _done: u64, _total: u64, _bytes: u64) {}
}

pub struct NoSyncProgress;
impl SyncProgress for NoSyncProgress {}

/// A remote, opened.
pub struct RemoteStore {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// Local directories cannot compare-and-swap; see `put_tag`.
    local: bool,
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
pub fn normalize_url(text: &str, cwd: &FsPath) -> Result<String, RemoteError> {
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
                local: true,
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
            local: false,
        })
    }

    /// Wraps an already-built store, e.g. one with faults injected for tests. `local`
    /// marks a store that cannot compare-and-swap (tags are then checked, then written).
    pub fn from_store(
        url: &str,
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        local: bool,
    ) -> RemoteStore {
        RemoteStore {
            url: url.to_string(),
            store,
            prefix: prefix.trim_matches('/').to_string(),
            local,
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

    fn object_key(id: &ObjectId) -> String {
        let hex = id.to_hex();
        format!("objects/{}/{}", &hex[..2], &hex[2..])
    }

    /// Reads the format marker: Ok(false) when there is none.
    async fn check_marker(&self) -> Result<bool, RemoteError> {
        match self.store.get(&self.path(MARKER)).await {
            Ok(result) => {
                let bytes = result
                    .bytes()
                    .await
                    .map_err(self.store_err("read", MARKER))?;
                let value: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|err| RemoteError::Corrupt {
                        url: self.url.clone(),
                        key: MARKER.into(),
                        detail: err.to_string(),
                    })?;
                let format = value
                    .get("pail_remote_format")
                    .and_then(|v| v.as_u64())
                    .ok_or_else(|| RemoteError::Corrupt {
                        url: self.url.clone(),
                        key: MARKER.into(),
                        detail: "no pail_remote_format".into(),
                    })?;
                if format > REMOTE_FORMAT as u64 {
                    return Err(RemoteError::NewerFormat {
                        url: self.url.clone(),
                        found: format.to_string(),
                    });
                }
                Ok(true)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(self.store_err("read", MARKER)(source)),
        }
    }

    async fn ensure_marker(&self) -> Result<(), RemoteError> {
        if self.check_marker().await? {
            return Ok(());
        }
        let body = format!("{{\"pail_remote_format\": {REMOTE_FORMAT}}}\n");
        match self
            .store
            .put_opts(
                &self.path(MARKER),
                PutPayload::from(body.into_bytes()),
                PutOptions::from(PutMode::Create),
            )
            .await
        {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(source) => Err(self.store_err("write", MARKER)(source)),
        }
    }

    /// Uploads one object unless the remote has it. Returns the bytes uploaded.
    async fn upload(&self, id: ObjectId, kind: Kind, bytes: Vec<u8>) -> Result<u64, RemoteError> {
        let key = Self::object_key(&id);
        let path = self.path(&key);
        match self.store.head(&path).await {
            Ok(_) => return Ok(0),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(source) => return Err(self.store_err("check", &key)(source)),
        }
        let mut stored = Vec::with_capacity(bytes.len() + 1);
        stored.push(kind.code());
        stored.extend_from_slice(&bytes);
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

    /// Downloads and verifies one object: its size, kind and hash.
    async fn download(
        &self,
        id: ObjectId,
        expected: Option<Kind>,
        ref_name: &str,
    ) -> Result<(Kind, Vec<u8>), RemoteError> {
        let key = Self::object_key(&id);
        let corrupt = |detail: String| RemoteError::Corrupt {
            url: self.url.clone(),
            key: key.clone(),
            detail,
        };
        let result = match self.store.get(&self.path(&key)).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(RemoteError::MissingObject {
                    url: self.url.clone(),
                    ref_name: ref_name.to_string(),
                    id: id.to_hex(),
                });
            }
            Err(source) => return Err(self.store_err("download", &key)(source)),
        };
        if result.meta.size > MAX_OBJECT_BYTES {
            return Err(corrupt(format!(
                "{} bytes, over the {MAX_OBJECT_BYTES}-byte limit",
                result.meta.size
            )));
        }
        let bytes = result
            .bytes()
            .await
            .map_err(self.store_err("download", &key))?;
        let (&code, body) = bytes
            .split_first()
            .ok_or_else(|| corrupt("empty object".into()))?;
        let kind =
            Kind::from_code(code).ok_or_else(|| corrupt(format!("unknown kind code {code}")))?;
        if let Some(expected) = expected
            && expected != kind
        {
            return Err(corrupt(format!("a {kind} where a {expected} was expected")));
        }
        let actual = ObjectId::compute(kind, body);
        if actual != id {
            return Err(corrupt(format!(
                "its bytes hash to {} (truncated or altered)",
                actual.short()
            )));
        }
        Ok((kind, body.to_vec()))
    }

    /// Lists every ref: (ref name, key). A key that is not a valid ref name is an error.
    async fn list_refs(&self) -> Result<Vec<String>, RemoteError> {
        let refs_prefix = self.path("refs");
        let strip = format!("{}/", refs_prefix);
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&refs_prefix))
            .try_collect()
            .await
            .map_err(self.store_err("list", "refs/"))?;
        let mut names = Vec::new();
        for meta in metas {
            let key = meta.location.to_string();
            let name = key.strip_prefix(&strip).unwrap_or(&key).to_string();
            if parse_ref_name(&name).is_none() {
                return Err(RemoteError::BadRefName {
                    url: self.url.clone(),
                    key,
                });
            }
            names.push(name);
        }
        names.sort();
        Ok(names)
    }

    /// Reads a ref: the commit id and the ref object's etag; None when absent.
    async fn get_ref(&self, name: &str) -> Result<Option<(CommitId, String)>, RemoteError> {
        let key = format!("refs/{name}");
        let result = match self.store.get(&self.path(&key)).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => return Err(self.store_err("read", &key)(source)),
        };
        let etag = result.meta.e_tag.clone().unwrap_or_default();
        if result.meta.size > 1024 {
            return Err(RemoteError::Corrupt {
                url: self.url.clone(),
                key,
                detail: "a ref larger than 1 KiB".into(),
            });
        }
        let bytes = result.bytes().await.map_err(self.store_err("read", &key))?;
        let text = std::str::from_utf8(&bytes)
            .unwrap_or_default()
            .trim_end_matches('\n');
        let id = ObjectId::from_hex(text).map_err(|_| RemoteError::Corrupt {
            url: self.url.clone(),
            key: key.clone(),
            detail: "the ref does not hold a commit id".into(),
        })?;
        Ok(Some((CommitId(id), etag)))
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

    /// Writes a tag if the remote still holds `expected` (by etag), or creates it when
    /// `expected` is None. Returns the new etag, or None when the remote changed first.
    ///
    /// A local directory cannot compare-and-swap, so there the check and the write are two
    /// steps; concurrent pushers to one directory can race on a tag.
    async fn put_tag(
        &self,
        name: &str,
        id: &CommitId,
        expected: Option<&str>,
    ) -> Result<Option<String>, RemoteError> {
        let key = format!("refs/{name}");
        let body = PutPayload::from(format!("{}\n", id.to_hex()).into_bytes());
        let mode = match expected {
            None => PutMode::Create,
            Some(_) if self.local => PutMode::Overwrite,
            Some(etag) => PutMode::Update(UpdateVersion {
                e_tag: Some(etag.to_string()),
                version: None,
            }),
        };
        match self
            .store
            .put_opts(&self.path(&key), body, PutOptions::from(mode))
            .await
        {
            Ok(result) => Ok(Some(result.e_tag.unwrap_or_default())),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(None),
            Err(source) => Err(self.store_err("write", &key)(source)),
        }
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

/// Objects reachable from commits: the commits, their schemas, row trees, code blobs,
/// summaries, parents and input commits. `skip` prunes objects known to be elsewhere.
pub(crate) fn closure(
    reader: &Reader,
    roots: &[CommitId],
    skip: &dyn Fn(&ObjectId) -> Result<bool, RepoError>,
) -> Result<Vec<(ObjectId, Kind)>, RepoError> {
    let mut seen = HashSet::new();
    let mut stack: Vec<(ObjectId, Kind)> =
        roots.iter().map(|id| (id.object(), Kind::Commit)).collect();
    let mut found = Vec::new();
    while let Some((id, kind)) = stack.pop() {
        if !seen.insert(id) || skip(&id)? {
            continue;
        }
        found.push((id, kind));
        match kind {
            Kind::Commit => {
                let bytes = crate::rows::tree::read_object(reader, &id, Kind::Commit)?;
                let commit = Commit::decode(&bytes)?;
                push_commit_children(&commit, &mut stack);
            }
            Kind::Node => {
                let bytes = crate::rows::tree::read_object(reader, &id, Kind::Node)?;
                let node = Node::decode(&bytes)?;
                let child_kind = if node.level == 1 {
                    Kind::Leaf
                } else {
                    Kind::Node
                };
                stack.extend(node.children.iter().map(|child| (child.id, child_kind)));
            }
            Kind::Leaf | Kind::Schema | Kind::Blob | Kind::Summary => {}
        }
    }
    Ok(found)
}

fn push_commit_children(commit: &Commit, stack: &mut Vec<(ObjectId, Kind)>) {
    stack.push((commit.schema, Kind::Schema));
    stack.push((commit.rows, Kind::Node));
    stack.extend(commit.code.iter().map(|file| (file.blob, Kind::Blob)));
    if let Some(summary) = commit.summary {
        stack.push((summary, Kind::Summary));
    }
    stack.extend(
        commit
            .parents
            .iter()
            .map(|parent| (parent.object(), Kind::Commit)),
    );
    for input in &commit.inputs {
        if let Input::Dataset { commit, .. } = input {
            stack.push((commit.object(), Kind::Commit));
        }
    }
}

/// A temporary file holding objects between a read transaction and their upload, or
/// between their download and the write transaction, so memory stays bounded.
struct Spool {
    file: std::fs::File,
    path: PathBuf,
    entries: Vec<(ObjectId, Kind, u64, u64)>,
    offset: u64,
}

impl Spool {
    fn new(dir: &FsPath) -> Result<Spool, RemoteError> {
        let spool_err = |source| RemoteError::Spool {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(spool_err)?;
        let file = tempfile::tempfile_in(dir).map_err(|source| RemoteError::Spool {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Spool {
            file,
            path: dir.to_path_buf(),
            entries: Vec::new(),
            offset: 0,
        })
    }

    fn push(&mut self, id: ObjectId, kind: Kind, bytes: &[u8]) -> Result<(), RemoteError> {
        self.file
            .seek(SeekFrom::Start(self.offset))
            .and_then(|_| self.file.write_all(bytes))
            .map_err(|source| RemoteError::Spool {
                path: self.path.clone(),
                source,
            })?;
        self.entries
            .push((id, kind, self.offset, bytes.len() as u64));
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, RemoteError> {
        let mut buffer = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut buffer, offset)
            .map_err(|source| RemoteError::Spool {
                path: self.path.clone(),
                source,
            })?;
        Ok(buffer)
    }

    /// Stores the objects; commits new to this repository are recorded as fetched from
    /// `origin` (see `Reader::fetched_from`).
    fn write_into(&self, writer: &Writer, origin: &str) -> Result<(), RepoError> {
        for (id, kind, offset, len) in &self.entries {
            let bytes = self.read(*offset, *len)?;
            if writer.put_object(*kind, id, &bytes)? && *kind == Kind::Commit {
                writer.mark_fetched(id, origin)?;
            }
        }
        Ok(())
    }
}

/// All local version and tag refs, parsed.
fn local_refs(reader: &Reader) -> Result<Vec<(String, DatasetName, RefKind, CommitId)>, RepoError> {
    let mut refs = Vec::new();
    for (name, id) in reader.refs("datasets/")? {
        if let Some((dataset, kind)) = parse_ref_name(&name) {
            refs.push((name, dataset, kind, CommitId(id)));
        }
    }
    Ok(refs)
}

impl Repo {
    pub fn remotes(&self) -> Result<Vec<(String, String)>, RepoError> {
        let store = self.store()?;
        let reader = store.read()?;
        Ok(reader.remotes()?)
    }

    pub fn remote_url(&self, name: &str) -> Result<String, RepoError> {
        let remotes = self.remotes()?;
        remotes
            .iter()
            .find(|(candidate, _)| candidate == name)
            .map(|(_, url)| url.clone())
            .ok_or_else(|| {
                RemoteError::UnknownRemote {
                    name: name.to_string(),
                    known: remotes.iter().map(|(name, _)| name.clone()).collect(),
                }
                .into()
            })
    }

    /// The remote to use when none is named: `origin`, or the only one there is.
    pub fn default_remote(&self) -> Result<String, RepoError> {
        let remotes = self.remotes()?;
        if remotes.iter().any(|(name, _)| name == "origin") || remotes.len() != 1 {
            if remotes.is_empty() || remotes.iter().any(|(name, _)| name == "origin") {
                return Ok("origin".to_string());
            }
            return Err(RemoteError::UnknownRemote {
                name: "origin".into(),
                known: remotes.iter().map(|(name, _)| name.clone()).collect(),
            }
            .into());
        }
        Ok(remotes[0].0.clone())
    }

    pub fn add_remote(&self, name: &str, url: &str, cwd: &FsPath) -> Result<String, RepoError> {
        check_remote_name(name)?;
        let url = normalize_url(url, cwd)?;
        let store = self.store()?;
        let writer = store.write()?;
        writer.create_tables()?;
        if let Some((_, existing)) = writer.remotes()?.into_iter().find(|(n, _)| n == name) {
            return Err(RemoteError::RemoteExists {
                name: name.to_string(),
                url: existing,
            }
            .into());
        }
        writer.set_remote(name, &url)?;
        writer.commit()?;
        Ok(url)
    }

    pub fn remove_remote(&self, name: &str) -> Result<(), RepoError> {
        let store = self.store()?;
        let writer = store.write()?;
        writer.create_tables()?;
        if !writer.remove_remote(name)? {
            return Err(RemoteError::UnknownRemote {
                name: name.to_string(),
                known: writer
                    .remotes()?
                    .into_iter()
                    .map(|(name, _)| name)
                    .collect(),
            }
            .into());
        }
        writer.commit()?;
        Ok(())
    }

    /// Pushes the versions and tags of `datasets` (all when empty), with the objects they
    /// need, to a remote: objects first, then version refs create-only, then tags by
    /// compare-and-swap.
    pub fn push(
        &self,
        remote_name: &str,
        datasets: &[DatasetName],
        force: bool,
        options: &[(String, String)],
        progress: &dyn SyncProgress,
    ) -> Result<PushReport, RepoError> {
        let url = self.remote_url(remote_name)?;
        let remote = RemoteStore::open(&url, options)?;
        self.push_to(remote_name, &remote, datasets, force, progress)
    }

    /// `push` to an opened remote store.
    pub fn push_to(
        &self,
        remote_name: &str,
        remote: &RemoteStore,
        datasets: &[DatasetName],
        force: bool,
        progress: &dyn SyncProgress,
    ) -> Result<PushReport, RepoError> {
        let runtime = crate::io_runtime();
        runtime.block_on(remote.ensure_marker())?;

        // Gather refs and the objects the remote may lack, in one short read.
        let mut spool = Spool::new(&self.tmp_dir())?;
        let (versions, tags, pending) = {
            let store = self.read_store()?;
            let reader = store.read()?;
            let refs = local_refs(&reader)?;
            let wanted = |dataset: &DatasetName| datasets.is_empty() || datasets.contains(dataset);
            let mut versions: BTreeMap<String, CommitId> = BTreeMap::new();
            let mut tags: BTreeMap<String, CommitId> = BTreeMap::new();
            for (name, dataset, kind, id) in &refs {
                if !wanted(dataset) {
                    continue;
                }
                match kind {
                    RefKind::Version(_) => {
                        versions.insert(name.clone(), *id);
                    }
                    RefKind::Tag(_) => {
                        tags.insert(name.clone(), *id);
                    }
                }
            }
            let roots: Vec<CommitId> = versions.values().chain(tags.values()).copied().collect();
            let skip = |id: &ObjectId| -> Result<bool, RepoError> {
                Ok(reader.remote_has(remote_name, id)?)
            };
            let objects = closure(&reader, &roots, &skip)?;
            // Lineage inputs travel with their version refs, so a pulled version is complete.
            let in_closure: HashSet<ObjectId> = objects.iter().map(|(id, _)| *id).collect();
            for (name, _, kind, id) in &refs {
                if matches!(kind, RefKind::Version(_)) && in_closure.contains(&id.object()) {
                    versions.entry(name.clone()).or_insert(*id);
                }
            }
            for (id, kind) in &objects {
                let bytes = crate::rows::tree::read_object(&reader, id, *kind)?;
                spool.push(*id, *kind, &bytes)?;
            }
            (versions, tags, objects)
        };

        // Upload in parallel; nothing names these objects yet.
        let total = spool.entries.len() as u64;
        let mut report = PushReport::default();
        let uploads: Vec<Result<u64, RemoteError>> = runtime.block_on(async {
            let mut done = 0u64;
            let mut bytes_done = 0u64;
            let mut results = Vec::with_capacity(spool.entries.len());
            let mut stream =
                futures::stream::iter(spool.entries.iter().map(|(id, kind, offset, len)| {
                    let bytes = spool.read(*offset, *len);
                    let remote = &remote;
                    async move { remote.upload(*id, *kind, bytes?).await }
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
                report.objects_uploaded += 1;
                report.bytes_uploaded += n_bytes;
            } else {
                report.objects_present += 1;
            }
        }
        {
            let store = self.store()?;
            let writer = store.write()?;
            writer.create_tables()?;
            for (id, _) in &pending {
                writer.mark_remote_has(remote_name, id)?;
            }
            writer.commit()?;
        }

        // The map result cache: entries are immutable under their key, so create-only.
        let cache_entries: Vec<(ObjectId, Vec<u8>)> = {
            let store = self.store()?;
            let reader = store.read()?;
            let mut entries = Vec::new();
            for key in reader.map_cache_keys()? {
                let Some(id) = ObjectId::from_slice(&key) else {
                    continue;
                };
                if !reader.remote_has(remote_name, &id)?
                    && let Some(bytes) = reader.map_cache(&key)?
                {
                    entries.push((id, bytes));
                }
            }
            entries
        };
        let uploads: Vec<Result<ObjectId, RemoteError>> = runtime.block_on(
            futures::stream::iter(cache_entries.into_iter().map(|(id, bytes)| async move {
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
        {
            let store = self.store()?;
            let writer = store.write()?;
            writer.create_tables()?;
            for upload in uploads {
                writer.mark_remote_has(remote_name, &upload?)?;
                report.cache_uploaded += 1;
            }
            writer.commit()?;
        }

        // Version refs: create-only.
        let mut conflicts = Vec::new();
        let mut seen_refs: Vec<(String, CommitId, String)> = Vec::new();
        for (name, id) in &versions {
            match runtime.block_on(remote.create_ref(name, id))? {
                None => {
                    report.versions_created.push(display_ref(name));
                    seen_refs.push((name.clone(), *id, String::new()));
                }
                Some(existing) if existing == *id => {
                    report.up_to_date += 1;
                    seen_refs.push((name.clone(), *id, String::new()));
                }
                Some(existing) => {
                    let (dataset, kind) = parse_ref_name(name).expect("local refs parse");
                    let RefKind::Version(version) = kind else {
                        unreachable!("a version ref")
                    };
                    conflicts.push(PushConflict::Version {
                        name: dataset.to_string(),
                        version: version.to_string(),
                        local: *id,
                        remote: existing,
                    });
                }
            }
        }

        // Tags: compare-and-swap against what this repository last saw on the remote.
        let last_seen: HashMap<String, (ObjectId, String)> = {
            let store = self.read_store()?;
            let reader = store.read()?;
            let mut seen = HashMap::new();
            for name in tags.keys() {
                if let Some(state) = reader.remote_ref(remote_name, name)? {
                    seen.insert(name.clone(), state);
                }
            }
            seen
        };
        for (name, id) in &tags {
            let current = runtime.block_on(remote.get_ref(name))?;
            let written = match &current {
                None => runtime.block_on(remote.put_tag(name, id, None))?,
                Some((remote_id, etag)) if remote_id == id => {
                    report.up_to_date += 1;
                    seen_refs.push((name.clone(), *id, etag.clone()));
                    continue;
                }
                Some((remote_id, etag)) => {
                    let moved_since_seen = last_seen
                        .get(name)
                        .is_none_or(|(seen_id, _)| *seen_id != remote_id.object());
                    if moved_since_seen && !force {
                        let (dataset, kind) = parse_ref_name(name).expect("local refs parse");
                        let RefKind::Tag(tag) = kind else {
                            unreachable!("a tag ref")
                        };
                        conflicts.push(PushConflict::Tag {
                            name: dataset.to_string(),
                            tag,
                            local: *id,
                            remote: *remote_id,
                        });
                        continue;
                    }
                    runtime.block_on(remote.put_tag(name, id, Some(etag)))?
                }
            };
            match written {
                Some(etag) => {
                    report.tags_updated.push(display_ref(name));
                    seen_refs.push((name.clone(), *id, etag));
                }
                None => {
                    // Someone else wrote it between our read and our write.
                    let now = runtime.block_on(remote.get_ref(name))?;
                    let (dataset, kind) = parse_ref_name(name).expect("local refs parse");
                    let RefKind::Tag(tag) = kind else {
                        unreachable!("a tag ref")
                    };
                    conflicts.push(PushConflict::Tag {
                        name: dataset.to_string(),
                        tag,
                        local: *id,
                        remote: now.map(|(id, _)| id).unwrap_or(*id),
                    });
                }
            }
        }
        {
            let store = self.store()?;
            let writer = store.write()?;
            writer.create_tables()?;
            for (name, id, etag) in &seen_refs {
                writer.set_remote_ref(remote_name, name, &id.object(), etag)?;
            }
            writer.commit()?;
        }
        if !conflicts.is_empty() {
            return Err(RemoteError::PushConflicts {
                remote: remote_name.to_string(),
                conflicts,
            }
            .into());
        }
        Ok(report)
    }

    /// Pulls versions and tags of `datasets` (all when empty) and everything they need.
    /// Every object is verified before anything is written; refs change in one
    /// transaction at the end, so a failed pull changes nothing.
    pub fn pull(
        &self,
        remote_name: &str,
        datasets: &[DatasetName],
        options: &[(String, String)],
        progress: &dyn SyncProgress,
    ) -> Result<PullReport, RepoError> {
        let url = self.remote_url(remote_name)?;
        let remote = RemoteStore::open(&url, options)?;
        self.pull_from(remote_name, &remote, datasets, progress)
    }

    /// `pull` from an opened remote store.
    pub fn pull_from(
        &self,
        remote_name: &str,
        remote: &RemoteStore,
        datasets: &[DatasetName],
        progress: &dyn SyncProgress,
    ) -> Result<PullReport, RepoError> {
        let url = remote.url.clone();
        let runtime = crate::io_runtime();
        if !runtime.block_on(remote.check_marker())? {
            return Err(RemoteError::NotARemote { url }.into());
        }
        let ref_names = runtime.block_on(remote.list_refs())?;
        // Read every ref of the wanted datasets, and every version ref (cheap, small) so
        // that lineage inputs can be given their names.
        let remote_refs: Vec<(String, CommitId, String)> = runtime.block_on(async {
            let results: Vec<Result<Option<RemoteRef>, RemoteError>> =
                futures::stream::iter(ref_names.iter().map(|name| async move {
                    Ok(remote
                        .get_ref(name)
                        .await?
                        .map(|(id, etag)| (name.clone(), id, etag)))
                }))
                .buffered(CONCURRENCY)
                .collect()
                .await;
            results
                .into_iter()
                .filter_map(|result| result.transpose())
                .collect::<Result<Vec<_>, _>>()
        })?;
        let wanted = |dataset: &DatasetName| datasets.is_empty() || datasets.contains(dataset);
        let roots: Vec<(String, CommitId)> = remote_refs
            .iter()
            .filter(|(name, _, _)| {
                parse_ref_name(name).is_some_and(|(dataset, _)| wanted(&dataset))
            })
            .map(|(name, id, _)| (name.clone(), *id))
            .collect();

        // Fetch the closure of the wanted commits, verifying each object.
        let roots: Vec<(ObjectId, Kind, String)> = roots
            .iter()
            .map(|(name, id)| (id.object(), Kind::Commit, name.clone()))
            .collect();
        let mut report = PullReport::default();
        let (spool, fetched_commits) =
            self.fetch_closure(remote, &runtime, roots, progress, &mut report)?;

        // A teammate's map results: cache entries this repository lacks (only on a full pull).
        let cache_entries = if datasets.is_empty() {
            self.fetch_cache(remote, &runtime)?
        } else {
            Vec::new()
        };

        // Refs to apply: the wanted datasets' refs, and version refs naming fetched commits.
        let store = self.store()?;
        let writer = store.write()?;
        writer.create_tables()?;
        let mut remote_versions: BTreeMap<DatasetName, Vec<semver::Version>> = BTreeMap::new();
        for (name, _, _) in &remote_refs {
            if let Some((dataset, RefKind::Version(version))) = parse_ref_name(name) {
                remote_versions.entry(dataset).or_default().push(version);
            }
        }
        let mut renumber: Vec<(DatasetName, semver::Version, CommitId)> = Vec::new();
        for (name, id, etag) in &remote_refs {
            let (dataset, kind) = parse_ref_name(name).expect("listed refs were checked");
            let applies = wanted(&dataset) || fetched_commits.contains(&id.object());
            if !applies {
                continue;
            }
            match kind {
                RefKind::Version(version) => {
                    match writer.get_ref(name)? {
                        Some(local) if local == id.object() => {}
                        Some(local) => {
                            if let Some((seen, _)) = writer.remote_ref(remote_name, name)?
                                && seen == local
                            {
                                return Err(RemoteError::RewrittenVersion {
                                    remote: remote_name.to_string(),
                                    name: dataset.to_string(),
                                    version: version.to_string(),
                                    seen: seen.short(),
                                    now: id.short(),
                                }
                                .into());
                            }
                            renumber.push((dataset.clone(), version.clone(), CommitId(local)));
                            writer.set_ref(name, &id.object())?;
                            report.versions_added.push(display_ref(name));
                        }
                        None => {
                            writer.set_ref(name, &id.object())?;
                            report.versions_added.push(display_ref(name));
                        }
                    }
                    writer.set_remote_ref(remote_name, name, &id.object(), etag)?;
                }
                RefKind::Tag(_) => {
                    if writer.get_ref(name)? != Some(id.object()) {
                        writer.set_ref(name, &id.object())?;
                        report.tags_updated.push(display_ref(name));
                    }
                    writer.set_remote_ref(remote_name, name, &id.object(), etag)?;
                }
            }
        }
        // A local version the remote already has under its number for another commit was
        // never pushed: it moves to the next free number, its commit unchanged.
        for (dataset, old_version, local_id) in renumber {
            let mut taken: Vec<semver::Version> = writer
                .refs(&format!("{}versions/", dataset.ref_prefix()))?
                .into_iter()
                .filter_map(|(name, _)| {
                    parse_ref_name(&name).and_then(|(_, kind)| match kind {
                        RefKind::Version(version) => Some(version),
                        RefKind::Tag(_) => None,
                    })
                })
                .collect();
            taken.extend(remote_versions.get(&dataset).cloned().unwrap_or_default());
            let max = taken
                .into_iter()
                .max()
                .expect("the conflicting version exists");
            let next = semver::Version::new(max.major, max.minor, max.patch + 1);
            writer.set_ref(&dataset.version_ref(&next), &local_id.object())?;
            report
                .renumbered
                .push((format!("{dataset}@{old_version}"), next.to_string()));
        }
        spool.write_into(&writer, &url)?;
        for (id, _, _, _) in &spool.entries {
            writer.mark_remote_has(remote_name, id)?;
        }
        for (id, bytes) in &cache_entries {
            writer.set_map_cache(id, bytes)?;
            writer.mark_remote_has(remote_name, id)?;
        }
        report.cache_downloaded = cache_entries.len();
        writer.commit()?;
        Ok(report)
    }
}

impl Repo {
    /// Downloads, level by level, every object reachable from `roots` that this repository
    /// lacks, verifying each; returns them in a spool, with the ids of the commits fetched.
    fn fetch_closure(
        &self,
        remote: &RemoteStore,
        runtime: &tokio::runtime::Runtime,
        mut queue: Vec<(ObjectId, Kind, String)>,
        progress: &dyn SyncProgress,
        report: &mut PullReport,
    ) -> Result<(Spool, HashSet<ObjectId>), RepoError> {
        let url = remote.url.clone();
        let mut spool = Spool::new(&self.tmp_dir())?;
        let mut fetched: HashSet<ObjectId> = HashSet::new();
        let mut fetched_commits: HashSet<ObjectId> = HashSet::new();
        let mut done = 0u64;
        while !queue.is_empty() {
            // Drop what is already here.
            let batch: Vec<(ObjectId, Kind, String)> = {
                let store = self.read_store()?;
                let reader = store.read()?;
                let mut batch = Vec::new();
                for (id, kind, via) in queue.drain(..) {
                    if fetched.contains(&id) || reader.has_object(&id)? {
                        continue;
                    }
                    fetched.insert(id);
                    batch.push((id, kind, via));
                }
                batch
            };
            let downloads: Vec<Result<Downloaded, RemoteError>> = runtime.block_on(async {
                futures::stream::iter(batch.into_iter().map(|(id, kind, via)| async move {
                    let (kind, bytes) = remote.download(id, Some(kind), &via).await?;
                    Ok((id, kind, bytes, via))
                }))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await
            });
            for download in downloads {
                let (id, kind, bytes, via) = download?;
                let corrupt = |detail: String| RemoteError::Corrupt {
                    url: url.clone(),
                    key: RemoteStore::object_key(&id),
                    detail,
                };
                match kind {
                    Kind::Commit => {
                        let commit =
                            Commit::decode(&bytes).map_err(|err| corrupt(err.to_string()))?;
                        let mut children = Vec::new();
                        push_commit_children(&commit, &mut children);
                        queue.extend(
                            children
                                .into_iter()
                                .map(|(id, kind)| (id, kind, via.clone())),
                        );
                        fetched_commits.insert(id);
                    }
                    Kind::Node => {
                        let node = Node::decode(&bytes).map_err(|err| corrupt(err.to_string()))?;
                        if node.level == 0 || node.level > 16 {
                            return Err(corrupt(format!("node level {}", node.level)).into());
                        }
                        let child_kind = if node.level == 1 {
                            Kind::Leaf
                        } else {
                            Kind::Node
                        };
                        queue.extend(
                            node.children
                                .iter()
                                .map(|child| (child.id, child_kind, via.clone())),
                        );
                    }
                    Kind::Schema => {
                        let _: crate::schema::Schema = crate::object::decode("schema", &bytes)
                            .map_err(|err| corrupt(err.to_string()))?;
                    }
                    Kind::Summary => {
                        let _: crate::summary::Summary = crate::object::decode("summary", &bytes)
                            .map_err(|err| corrupt(err.to_string()))?;
                    }
                    Kind::Leaf | Kind::Blob => {}
                }
                done += 1;
                report.objects_downloaded += 1;
                report.bytes_downloaded += bytes.len() as u64 + 1;
                progress.objects(done, done + queue.len() as u64, report.bytes_downloaded);
                spool.push(id, kind, &bytes)?;
            }
        }
        Ok((spool, fetched_commits))
    }

    /// Downloads the map cache entries the remote has and this repository lacks. An entry
    /// must be a result row (JSON); anything else is refused.
    fn fetch_cache(
        &self,
        remote: &RemoteStore,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Vec<(ObjectId, Vec<u8>)>, RepoError> {
        let prefix = remote.path("cache");
        let strip = format!("{prefix}/");
        let metas: Vec<object_store::ObjectMeta> = runtime
            .block_on(remote.store.list(Some(&prefix)).try_collect())
            .map_err(remote.store_err("list", "cache/"))?;
        let missing: Vec<ObjectId> = {
            let store = self.read_store()?;
            let reader = store.read()?;
            let mut missing = Vec::new();
            for meta in metas {
                let key = meta.location.to_string();
                let name = key.strip_prefix(&strip).unwrap_or(&key);
                let id = ObjectId::from_hex(name).map_err(|_| RemoteError::BadRefName {
                    url: remote.url.clone(),
                    key: key.clone(),
                })?;
                if meta.size > 16 * 1024 * 1024 {
                    return Err(RemoteError::Corrupt {
                        url: remote.url.clone(),
                        key,
                        detail: "a cache entry larger than 16 MiB".into(),
                    }
                    .into());
                }
                if reader.map_cache(&id.0)?.is_none() {
                    missing.push(id);
                }
            }
            missing
        };
        let fetched: Vec<Result<(ObjectId, Vec<u8>), RemoteError>> = runtime.block_on(
            futures::stream::iter(missing.into_iter().map(|id| async move {
                let key = format!("cache/{}", id.to_hex());
                let bytes = remote
                    .store
                    .get(&remote.path(&key))
                    .await
                    .map_err(remote.store_err("download", &key))?
                    .bytes()
                    .await
                    .map_err(remote.store_err("download", &key))?;
                let valid = bytes.first() == Some(&b'R')
                    && serde_json::from_slice::<serde_json::Value>(&bytes[1..])
                        .is_ok_and(|v| v.is_object());
                if !valid {
                    return Err(RemoteError::Corrupt {
                        url: remote.url.clone(),
                        key,
                        detail: "not a map result".into(),
                    });
                }
                Ok((id, bytes.to_vec()))
            }))
            .buffer_unordered(CONCURRENCY)
            .collect(),
        );
        Ok(fetched.into_iter().collect::<Result<Vec<_>, _>>()?)
    }

    /// Fetches pinned commits (and everything they need) from a remote URL, checking that
    /// the remote's version refs still name them. A pin becomes a local version ref only
    /// when `url` is in the remotes table (a trusted remote) and that remote's own ref
    /// names the pinned commit; otherwise the fetched commit stays unnamed (checkout
    /// reads it by id), so a lock cannot inject versions.
    pub fn fetch_pinned(
        &self,
        url: &str,
        pins: &[(DatasetName, semver::Version, CommitId)],
        options: &[(String, String)],
        progress: &dyn SyncProgress,
    ) -> Result<(), RepoError> {
        let remote = RemoteStore::open(url, options)?;
        let runtime = crate::io_runtime();
        if !runtime.block_on(remote.check_marker())? {
            return Err(RemoteError::NotARemote {
                url: url.to_string(),
            }
            .into());
        }
        let trusted = self.remotes()?.iter().any(|(_, known)| known == url);
        let mut roots = Vec::new();
        let mut named = Vec::new();
        for (name, version, commit) in pins {
            let ref_name = name.version_ref(version);
            let found = runtime.block_on(remote.get_ref(&ref_name))?;
            named.push(trusted && found.is_some());
            if let Some((found, _)) = found
                && found != *commit
            {
                return Err(RepoError::PinMoved {
                    name: name.to_string(),
                    version: version.to_string(),
                    pinned: commit.to_hex(),
                    found: found.to_hex(),
                    place: format!("remote {url}"),
                });
            }
            roots.push((commit.object(), Kind::Commit, ref_name));
        }
        let mut report = PullReport::default();
        let (spool, _) = match self.fetch_closure(&remote, &runtime, roots, progress, &mut report) {
            Ok(fetched) => fetched,
            Err(RepoError::Remote(err))
                if matches!(err.as_ref(), RemoteError::MissingObject { .. }) =>
            {
                let RemoteError::MissingObject { ref_name, id, .. } = *err else {
                    unreachable!("matched above")
                };
                let name = pins
                    .iter()
                    .find(|(name, version, _)| name.version_ref(version) == ref_name)
                    .map(|(name, _, _)| name.to_string())
                    .unwrap_or(ref_name);
                return Err(RepoError::PinUnavailable {
                    name,
                    commit: id,
                    remote: url.to_string(),
                });
            }
            Err(err) => return Err(err),
        };
        let store = self.store()?;
        let writer = store.write()?;
        writer.create_tables()?;
        spool.write_into(&writer, url)?;
        for ((name, version, commit), named) in pins.iter().zip(named) {
            let ref_name = name.version_ref(version);
            match writer.get_ref(&ref_name)? {
                Some(local) if local != commit.object() => {
                    return Err(RepoError::PinMoved {
                        name: name.to_string(),
                        version: version.to_string(),
                        pinned: commit.to_hex(),
                        found: local.to_hex(),
                        place: "this repository".into(),
                    });
                }
                Some(_) => {}
                None if named => writer.set_ref(&ref_name, &commit.object())?,
                None => {}
            }
        }
        writer.commit()?;
        Ok(())
    }
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
    fn urls_are_normalized_and_credentials_refused() {
        let cwd = FsPath::new("/work");
        assert_eq!(normalize_url("shared", cwd).unwrap(), "file:///work/shared");
        assert_eq!(normalize_url("s3://b/p/", cwd).unwrap(), "s3://b/p");
        assert!(normalize_url("s3://b/p?sig=secret", cwd).is_err());
        assert!(normalize_url("s3://key:secret@b/p", cwd).is_err());
        assert!(normalize_url("http://b/p", cwd).is_err());
    }
}
