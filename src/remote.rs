//! Remotes: a prefix in a bucket (or a local directory) that holds pail objects and refs,
//! reached through object_store. No server of our own: create-only writes are the only
//! coordination.
//!
//! Layout under the prefix: `pail-remote.json` (the format marker, with the remote's random
//! instance id), `objects/<2 hex>/<62 hex>` (the kind code byte followed by the object's
//! bytes), `refs/datasets/.../versions/<semver>` and a tag's numbered moves
//! `refs/datasets/.../tag-moves/<tag>/<seq>`, each holding a commit id in hex and a newline
//! (docs/FORMAT.md, "Remote layout").

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::name::{DatasetName, check_tag};
use crate::object::{Commit, CommitId, Kind, Node, ObjectId};
use crate::repo::{Repo, RepoError};
use crate::store::{Reader, Writer};
use crate::walk::Visit;

/// The remote layout's major format; a remote with a newer one is refused.
pub const REMOTE_FORMAT: u32 = 1;
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
pub const MAX_VERSION_PART: u64 = u32::MAX as u64;
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
    #[error(
        "remote `{remote}` has {name}@{version} as commit {theirs}, but that version is already published here as commit {ours}; nothing was written locally"
    )]
    PublishedVersionConflict {
        remote: String,
        name: String,
        version: String,
        ours: String,
        theirs: String,
    },
    #[error(
        "the next version number after {name}@{after} is out of range; nothing was written locally"
    )]
    VersionOverflow { name: String, after: String },
    #[error("could not spool objects in {path}: {source}")]
    Spool {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A remote ref: its name, the commit it names, and the etag of the ref object.
type RemoteRef = (String, CommitId, String);
/// An object `fsck --remote` looked at: id, kind, the ref it was reached from, and either a
/// problem or (for a commit or node) the bytes to follow.
type Checked = (ObjectId, Kind, String, Result<Option<Vec<u8>>, String>);
/// A verified download: id, kind, the file holding its bytes and their length, and the ref
/// it was reached from.
type Downloaded = (ObjectId, Kind, std::fs::File, u64, String);

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
    /// Local tags kept although the remote's moved elsewhere since the last pull.
    pub tags_diverged: Vec<TagDivergence>,
    /// Remote refs skipped: stray keys, versions pail cannot follow, refs outside their
    /// dataset's history.
    pub warnings: Vec<String>,
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
                        found: format.to_string(),
                    });
                }
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
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|err| RemoteError::Spool {
            path: PathBuf::from("(the system's random source)"),
            source: std::io::Error::other(err.to_string()),
        })?;
        let instance: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let body =
            format!("{{\"pail_remote_format\": {REMOTE_FORMAT}, \"instance\": \"{instance}\"}}\n");
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
        let key = Self::object_key(&id);
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
                    id: id.to_hex(),
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
        hasher.update((stated - 1).to_string().as_bytes());
        hasher.update(b"\0");
        let mut file = tempfile::tempfile_in(dir).map_err(spool_err)?;
        let mut stream = result.into_stream();
        let mut read = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.store_err("download", &key))?;
            let body: &[u8] = if read == 0 {
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
        Ok((expected, file, read - 1))
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
pub fn parse_ref_body(bytes: &[u8]) -> Option<CommitId> {
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
                    let bytes = crate::rows::tree::read_object(reader, &id, kind)?;
                    Ok(Visit::Follow(crate::walk::children(kind, &id, &bytes)?))
                }
                Kind::Leaf | Kind::Schema | Kind::Blob | Kind::Summary => Ok(Visit::Stop),
            }
        },
    )?;
    Ok(found)
}

fn push_commit_children(commit: &Commit, stack: &mut Vec<(ObjectId, Kind)>) {
    crate::walk::commit_children(commit, stack);
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

    /// Appends `len` bytes from a download's file, without holding them in memory.
    fn push_file(
        &mut self,
        id: ObjectId,
        kind: Kind,
        source: &mut std::fs::File,
        len: u64,
    ) -> Result<(), RemoteError> {
        let spool_err = |source| RemoteError::Spool {
            path: self.path.clone(),
            source,
        };
        self.file
            .seek(SeekFrom::Start(self.offset))
            .map_err(spool_err)?;
        let copied = std::io::copy(&mut std::io::Read::take(source, len), &mut self.file)
            .map_err(spool_err)?;
        if copied != len {
            return Err(spool_err(std::io::ErrorKind::UnexpectedEof.into()));
        }
        self.entries.push((id, kind, self.offset, len));
        self.offset += len;
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
        self.add_remote_with(name, url, cwd, &RemoteSettings::default())
    }

    /// Adds a remote with its settings, in one transaction.
    pub fn add_remote_with(
        &self,
        name: &str,
        url: &str,
        cwd: &FsPath,
        settings: &RemoteSettings,
    ) -> Result<String, RepoError> {
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
        writer.set_remote_settings(name, &settings_json(settings))?;
        writer.commit()?;
        Ok(url)
    }

    /// A remote's settings; the defaults for a name that is not in the remotes table.
    pub fn remote_settings(&self, name: &str) -> Result<RemoteSettings, RepoError> {
        let store = self.store()?;
        let reader = store.read()?;
        Ok(read_settings(&reader, name)?)
    }

    /// Changes a remote's settings.
    pub fn set_remote_settings(
        &self,
        name: &str,
        settings: &RemoteSettings,
    ) -> Result<(), RepoError> {
        let store = self.store()?;
        let writer = store.write()?;
        writer.create_tables()?;
        let remotes = writer.remotes()?;
        if !remotes.iter().any(|(known, _)| known == name) {
            return Err(RemoteError::UnknownRemote {
                name: name.to_string(),
                known: remotes.into_iter().map(|(name, _)| name).collect(),
            }
            .into());
        }
        writer.set_remote_settings(name, &settings_json(settings))?;
        writer.commit()?;
        Ok(())
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
        // What this repository remembers of the remote's objects holds for one instance of
        // it: an emptied or replaced remote has another marker, so everything is checked
        // and uploaded again (objects before refs, against the remote as it is).
        let instance = runtime.block_on(remote.ensure_marker())?;
        {
            let store = self.store()?;
            let writer = store.write()?;
            writer.create_tables()?;
            writer.set_remote_instance(remote_name, &instance)?;
            writer.commit()?;
        }

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

        // Version refs: create-only, each dataset's in semver order. A dataset stops at its
        // first conflict: nothing of it after a version the remote refused is published
        // (no later version, no tag), so no published version's parent is missing.
        let mut conflicts = Vec::new();
        let mut seen_refs: Vec<(String, CommitId, String)> = Vec::new();
        let mut ordered: Vec<(DatasetName, semver::Version, &String, &CommitId)> = versions
            .iter()
            .filter_map(|(name, id)| match parse_ref_name(name) {
                Some((dataset, RefKind::Version(version))) => Some((dataset, version, name, id)),
                _ => None,
            })
            .collect();
        ordered.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let mut stopped: BTreeSet<DatasetName> = BTreeSet::new();
        for (dataset, version, name, id) in ordered {
            if stopped.contains(&dataset) {
                continue;
            }
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
                    conflicts.push(PushConflict::Version {
                        name: dataset.to_string(),
                        version: version.to_string(),
                        local: *id,
                        remote: existing,
                    });
                    stopped.insert(dataset);
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
        let tag_conflict = |name: &str, local: CommitId, remote: CommitId| {
            let (dataset, kind) = parse_ref_name(name).expect("local refs parse");
            let RefKind::Tag(tag) = kind else {
                unreachable!("a tag ref")
            };
            PushConflict::Tag {
                name: dataset.to_string(),
                tag,
                local,
                remote,
            }
        };
        for (name, id) in &tags {
            let (dataset, _) = parse_ref_name(name).expect("local refs parse");
            if stopped.contains(&dataset) {
                continue;
            }
            let current = runtime.block_on(remote.get_tag(name))?;
            let seen_seq = match &current {
                None => 0,
                Some((remote_id, seq)) if remote_id == id => {
                    report.up_to_date += 1;
                    seen_refs.push((name.clone(), *id, seq.to_string()));
                    continue;
                }
                Some((remote_id, seq)) => {
                    let moved_since_seen = last_seen
                        .get(name)
                        .is_none_or(|(seen_id, _)| *seen_id != remote_id.object());
                    if moved_since_seen && !force {
                        conflicts.push(tag_conflict(name, *id, *remote_id));
                        continue;
                    }
                    *seq
                }
            };
            match runtime.block_on(remote.put_tag(name, id, seen_seq))? {
                Some(seq) => {
                    report.tags_updated.push(display_ref(name));
                    seen_refs.push((name.clone(), *id, seq.to_string()));
                }
                None => {
                    // Someone else moved it between our read and our write.
                    let now = runtime.block_on(remote.get_tag(name))?;
                    conflicts.push(tag_conflict(name, *id, now.map_or(*id, |(id, _)| id)));
                }
            }
        }
        {
            let store = self.store()?;
            let writer = store.write()?;
            writer.create_tables()?;
            for (name, id, etag) in &seen_refs {
                writer.set_remote_ref(remote_name, name, &id.object(), etag)?;
                if let Some((_, RefKind::Version(_))) = parse_ref_name(name) {
                    writer.set_published(name, &id.object())?;
                }
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

    /// Checks a remote the way `fsck` checks this repository: every object every remote
    /// ref needs is on the remote (a HEAD per object). Commits and nodes are read from
    /// this repository when it has them, else downloaded and verified, to follow them.
    /// Returns the number of objects checked and the problems found.
    pub fn fsck_remote(
        &self,
        remote_name: &str,
        options: &[(String, String)],
        progress: &dyn SyncProgress,
    ) -> Result<(u64, Vec<String>), RepoError> {
        let url = self.remote_url(remote_name)?;
        let remote = RemoteStore::open(&url, options)?;
        self.fsck_remote_store(&remote, progress)
    }

    /// `fsck_remote` on an opened remote store.
    pub fn fsck_remote_store(
        &self,
        remote: &RemoteStore,
        progress: &dyn SyncProgress,
    ) -> Result<(u64, Vec<String>), RepoError> {
        let runtime = crate::io_runtime();
        if !runtime.block_on(remote.check_marker())? {
            return Err(RemoteError::NotARemote {
                url: remote.url.clone(),
            }
            .into());
        }
        let mut problems = Vec::new();
        let mut frontier: Vec<(ObjectId, Kind, String)> = Vec::new();
        let (names, stray) = runtime.block_on(remote.list_refs())?;
        for key in stray {
            problems.push(format!("{key}: not a ref pail reads (a pull skips it)"));
        }
        // Commits and nodes the local store lacks are downloaded (capped, hashed) here.
        let tmp = self.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(|source| RemoteError::Spool {
            path: tmp.clone(),
            source,
        })?;
        let tmp = &tmp;
        for name in names {
            match runtime.block_on(remote.get_ref(&name)) {
                Ok(Some((id, _))) => frontier.push((id.object(), Kind::Commit, name)),
                Ok(None) => {}
                Err(err) => problems.push(format!("{name}: {err}")),
            }
        }
        // The graph walked level by level, so the HEADs of one level run concurrently;
        // what each object names comes from `walk::children`, as for every other walk.
        let mut seen: HashSet<ObjectId> = HashSet::new();
        let mut done = 0u64;
        while !frontier.is_empty() {
            let batch: Vec<(ObjectId, Kind, String, Option<Vec<u8>>)> = {
                let store = self.read_store()?;
                let reader = store.read()?;
                let mut batch = Vec::new();
                for (id, kind, via) in frontier.drain(..) {
                    if !seen.insert(id) {
                        continue;
                    }
                    let local = match kind {
                        Kind::Commit | Kind::Node => match reader.object(&id)? {
                            Some((found, bytes)) if found == kind => Some(bytes),
                            _ => None,
                        },
                        _ => None,
                    };
                    batch.push((id, kind, via, local));
                }
                batch
            };
            let pending = batch.len() as u64;
            let checked: Vec<Result<Checked, RemoteError>> = runtime.block_on(
                futures::stream::iter(batch.into_iter().map(|(id, kind, via, local)| async move {
                    let key = RemoteStore::object_key(&id);
                    match remote.store.head(&remote.path(&key)).await {
                        Ok(_) => {}
                        Err(object_store::Error::NotFound { .. }) => {
                            let problem = format!("{via}: {kind} {id} is missing from the remote");
                            return Ok((id, kind, via, Err(problem)));
                        }
                        Err(source) => return Err(remote.store_err("check", &key)(source)),
                    }
                    let bytes = match (kind, local) {
                        (Kind::Commit | Kind::Node, Some(bytes)) => Some(bytes),
                        (Kind::Commit | Kind::Node, None) => {
                            match remote.download(id, kind, &via, tmp).await {
                                Ok((_, mut file, len)) => {
                                    let mut bytes = Vec::with_capacity(len as usize);
                                    file.read_to_end(&mut bytes).map_err(|source| {
                                        RemoteError::Spool {
                                            path: tmp.clone(),
                                            source,
                                        }
                                    })?;
                                    Some(bytes)
                                }
                                Err(err @ RemoteError::Corrupt { .. }) => {
                                    return Ok((
                                        id,
                                        kind,
                                        via.clone(),
                                        Err(format!("{via}: {err}")),
                                    ));
                                }
                                Err(err) => return Err(err),
                            }
                        }
                        _ => None,
                    };
                    Ok((id, kind, via, Ok(bytes)))
                }))
                .buffer_unordered(CONCURRENCY)
                .collect(),
            );
            for result in checked {
                let (id, kind, via, outcome) = result?;
                match outcome {
                    Err(problem) => problems.push(problem),
                    Ok(None) => {}
                    Ok(Some(bytes)) => match crate::walk::children(kind, &id, &bytes) {
                        Ok(children) => frontier.extend(
                            children
                                .into_iter()
                                .map(|(id, kind)| (id, kind, via.clone())),
                        ),
                        Err(err) => {
                            problems.push(format!("{via}: {kind} {id} cannot be read: {err}"))
                        }
                    },
                }
            }
            done += pending;
            progress.objects(done, done + frontier.len() as u64, 0);
        }
        Ok((done, problems))
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
        let mut report = PullReport::default();
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

        // Fetch the closure of the wanted commits, verifying each object.
        let roots: Vec<(ObjectId, Kind, String)> = remote_refs
            .iter()
            .map(|(name, id, _)| (id.object(), Kind::Commit, name.clone()))
            .collect();
        let (spool, fetched_commits) =
            self.fetch_closure(remote, &runtime, roots, progress, &mut report)?;

        // A teammate's map results: cache entries this repository lacks, only on a full pull
        // and only from a remote the user trusts with them (`remote add --trust-cache`).
        let trust_cache = {
            let store = self.read_store()?;
            let reader = store.read()?;
            read_settings(&reader, remote_name)?.trust_cache
        };
        let cache_entries = if datasets.is_empty() && trust_cache {
            Some(self.fetch_cache(remote_name, remote, &runtime)?)
        } else {
            None
        };

        let store = self.store()?;
        let writer = store.write()?;
        writer.create_tables()?;
        spool.write_into(&writer, &url)?;
        let fetched: HashSet<ObjectId> = spool.entries.iter().map(|entry| entry.0).collect();
        let fetched_commits: Vec<ObjectId> = fetched_commits.into_iter().collect();
        verify_fetched_trees(&writer, &url, &fetched, &fetched_commits)?;
        let remotes: Vec<String> = writer
            .remotes()?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let mut by_dataset: BTreeMap<DatasetName, Vec<(String, RefKind, CommitId, String)>> =
            BTreeMap::new();
        for (name, id, etag) in &remote_refs {
            let (dataset, kind) = parse_ref_name(name).expect("listed refs were checked");
            by_dataset
                .entry(dataset)
                .or_default()
                .push((name.clone(), kind, *id, etag.clone()));
        }
        for (dataset, refs) in by_dataset {
            apply_dataset_refs(&writer, remote_name, &remotes, &dataset, refs, &mut report)?;
        }
        for (id, _, _, _) in &spool.entries {
            writer.mark_remote_has(remote_name, id)?;
        }
        if let Some(cache) = &cache_entries {
            for (id, _, offset, len) in &cache.entries {
                writer.set_remote_map_cache(remote_name, id, &cache.read(*offset, *len)?)?;
                writer.mark_remote_has(remote_name, id)?;
            }
            report.cache_downloaded = cache.entries.len();
        }
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
            // Each download streams to its own temporary file; they are checked one at a
            // time as they finish, so memory holds at most one manifest and a chunk per
            // request in flight, whatever the remote holds.
            let tmp = self.tmp_dir();
            let tmp = tmp.as_path();
            runtime.block_on(async {
                let mut downloads =
                    futures::stream::iter(batch.into_iter().map(|(id, kind, via)| async move {
                        let (kind, file, len) = remote.download(id, kind, &via, tmp).await?;
                        Ok::<Downloaded, RemoteError>((id, kind, file, len, via))
                    }))
                    .buffer_unordered(CONCURRENCY);
                while let Some(download) = downloads.next().await {
                    let (id, kind, mut file, len, via) = download?;
                    let corrupt = |detail: String| RemoteError::Corrupt {
                        url: url.clone(),
                        key: RemoteStore::object_key(&id),
                        detail,
                    };
                    let manifest = || -> Result<Vec<u8>, RemoteError> {
                        let mut bytes = Vec::with_capacity(len as usize);
                        std::io::Read::read_to_end(&mut (&file), &mut bytes).map_err(|source| {
                            RemoteError::Spool {
                                path: tmp.to_path_buf(),
                                source,
                            }
                        })?;
                        Ok(bytes)
                    };
                    match kind {
                        Kind::Commit => {
                            let commit = Commit::decode(&manifest()?)
                                .map_err(|err| corrupt(err.to_string()))?;
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
                            let node = Node::decode(&manifest()?)
                                .map_err(|err| corrupt(err.to_string()))?;
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
                            crate::schema::Schema::decode(&manifest()?)
                                .map_err(|err| corrupt(err.to_string()))?;
                        }
                        Kind::Summary => {
                            crate::summary::Summary::decode(&manifest()?)
                                .map_err(|err| corrupt(err.to_string()))?;
                        }
                        Kind::Leaf | Kind::Blob => {}
                    }
                    done += 1;
                    report.objects_downloaded += 1;
                    report.bytes_downloaded += len + 1;
                    progress.objects(done, done + queue.len() as u64, report.bytes_downloaded);
                    file.seek(SeekFrom::Start(0))
                        .map_err(|source| RemoteError::Spool {
                            path: tmp.to_path_buf(),
                            source,
                        })?;
                    spool.push_file(id, kind, &mut file, len)?;
                }
                Ok::<(), RepoError>(())
            })?;
        }
        Ok((spool, fetched_commits))
    }

    /// Downloads the map cache entries the remote has and this repository lacks, into a
    /// spool. An entry that does not decode as one (`map::decode_cache_entry`), whose key is
    /// not an id, or that is larger than `MAX_CACHE_ENTRY_BYTES` (counted while it streams,
    /// whatever the listing says) is skipped.
    fn fetch_cache(
        &self,
        remote_name: &str,
        remote: &RemoteStore,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Spool, RepoError> {
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
        let mut spool = Spool::new(&self.tmp_dir())?;
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
                if crate::map::decode_cache_entry(&bytes).is_none() {
                    return Ok(None);
                }
                Ok(Some((id, bytes)))
            }))
            .buffer_unordered(CONCURRENCY);
            while let Some(entry) = fetched.next().await {
                if let Some((id, bytes)) = entry? {
                    // The kind is a placeholder: cache entries are not objects.
                    spool.push(id, Kind::Blob, &bytes)?;
                }
            }
            Ok::<(), RemoteError>(())
        })?;
        Ok(spool)
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
        let (spool, fetched_commits) =
            match self.fetch_closure(&remote, &runtime, roots, progress, &mut report) {
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
        let fetched: HashSet<ObjectId> = spool.entries.iter().map(|entry| entry.0).collect();
        let fetched_commits: Vec<ObjectId> = fetched_commits.into_iter().collect();
        verify_fetched_trees(&writer, url, &fetched, &fetched_commits)?;
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

/// An object the pull's write transaction holds (fetched or already local), of a kind.
fn object_in(writer: &Writer, url: &str, id: &ObjectId, kind: Kind) -> Result<Vec<u8>, RepoError> {
    match writer.object(id)? {
        Some((found, bytes)) if found == kind => Ok(bytes),
        found => Err(RemoteError::Corrupt {
            url: url.to_string(),
            key: RemoteStore::object_key(id),
            detail: match found {
                Some((found, _)) => format!("a {found} where a {kind} was expected"),
                None => format!("a {kind} that is missing"),
            },
        }
        .into()),
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
) -> Result<(), RepoError> {
    let corrupt = |id: &ObjectId, detail: String| -> RepoError {
        RemoteError::Corrupt {
            url: url.to_string(),
            key: RemoteStore::object_key(id),
            detail,
        }
        .into()
    };
    let mut checked: HashSet<(ObjectId, ObjectId)> = HashSet::new();
    for commit_id in commits {
        let commit = Commit::decode(&object_in(writer, url, commit_id, Kind::Commit)?)?;
        let schema =
            crate::schema::Schema::decode(&object_in(writer, url, &commit.schema, Kind::Schema)?)?;
        let arrow = schema.to_arrow();
        let root = Node::decode(&object_in(writer, url, &commit.rows, Kind::Node)?)?;
        let root_rows = root
            .children
            .iter()
            .try_fold(0u64, |sum, child| sum.checked_add(child.n_rows));
        if root_rows != Some(commit.n_rows) {
            return Err(corrupt(
                commit_id,
                format!(
                    "the commit says {} rows, its row tree holds {}",
                    commit.n_rows,
                    root_rows.map_or("too many".into(), |n| n.to_string())
                ),
            ));
        }
        let leaf_matches = |leaf: &ObjectId, batches: &[RecordBatch]| -> Result<(), RepoError> {
            for batch in batches {
                let fields = batch.schema_ref().fields().clone();
                let same = fields.len() == arrow.fields().len()
                    && fields.iter().zip(arrow.fields()).all(|(found, want)| {
                        found.name() == want.name()
                            && found.data_type().equals_datatype(want.data_type())
                    });
                if !same {
                    return Err(corrupt(
                        leaf,
                        format!(
                            "the leaf's columns do not match the schema of commit {}",
                            commit_id.short()
                        ),
                    ));
                }
            }
            Ok(())
        };
        let mut stack = vec![commit.rows];
        while let Some(node_id) = stack.pop() {
            if !checked.insert((node_id, commit.schema)) {
                continue;
            }
            let node = Node::decode(&object_in(writer, url, &node_id, Kind::Node)?)?;
            if !fetched.contains(&node_id) {
                // Built or checked here before, all under one schema: its leftmost leaf
                // tells whether that is this commit's.
                let mut node = node;
                while let Some(first) = node.children.first() {
                    if node.level == 1 {
                        let bytes = object_in(writer, url, &first.id, Kind::Leaf)?;
                        let batches = crate::rows::leaf::decode(&first.id.to_hex(), bytes)
                            .map_err(|err| corrupt(&first.id, err.to_string()))?;
                        leaf_matches(&first.id, &batches)?;
                        break;
                    }
                    node = Node::decode(&object_in(writer, url, &first.id, Kind::Node)?)?;
                }
                continue;
            }
            for pair in node.children.windows(2) {
                if pair[0].last_key >= pair[1].first_key {
                    return Err(corrupt(&node_id, "its entries' key ranges overlap".into()));
                }
            }
            for entry in &node.children {
                let mismatch = |what: &str| {
                    corrupt(
                        &entry.id,
                        format!(
                            "node {}'s entry for it has the wrong {what} (a forged entry)",
                            node_id.short()
                        ),
                    )
                };
                let described = if node.level > 1 {
                    let child = Node::decode(&object_in(writer, url, &entry.id, Kind::Node)?)?;
                    if child.level + 1 != node.level {
                        return Err(mismatch("level"));
                    }
                    stack.push(entry.id);
                    let mut hasher = blake3::Hasher::new();
                    for grandchild in &child.children {
                        hasher.update(&grandchild.digest.0);
                    }
                    let sum = |of: fn(&crate::object::Child) -> u64| {
                        child
                            .children
                            .iter()
                            .try_fold(0u64, |sum, grandchild| sum.checked_add(of(grandchild)))
                            .ok_or_else(|| mismatch("counts"))
                    };
                    crate::object::Child {
                        id: entry.id,
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
                    }
                } else {
                    let bytes = object_in(writer, url, &entry.id, Kind::Leaf)?;
                    let batches = crate::rows::leaf::decode(&entry.id.to_hex(), bytes)
                        .map_err(|err| corrupt(&entry.id, err.to_string()))?;
                    leaf_matches(&entry.id, &batches)?;
                    let mut described = crate::commit::describe_leaf(&commit, &schema, &batches)
                        .map_err(|detail| corrupt(&entry.id, detail))?;
                    described.id = entry.id;
                    described
                };
                for (what, differs) in [
                    ("row count", described.n_rows != entry.n_rows),
                    (
                        "key range",
                        described.first_key != entry.first_key
                            || described.last_key != entry.last_key,
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
        }
    }
    Ok(())
}

/// Whether a local version ref is published as `id`: pulled from or pushed to a remote.
/// Repositories from before the `published` table have only the per-remote record.
fn is_published(
    writer: &Writer,
    remotes: &[String],
    name: &str,
    id: &ObjectId,
) -> Result<bool, RepoError> {
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

/// Applies one wanted dataset's remote refs, in the pull's write transaction (the fetched
/// objects are already in it).
///
/// Versions: a new number is taken; a number this repository uses for another commit that
/// is published is refused; an unpublished local version there moves, with every
/// unpublished local version above it, after the highest number, in semver order, so
/// parents stay below their children. Tags: taken only when they name a commit of the
/// dataset's history as the remote publishes it (its versions and their ancestors), and
/// only when the local tag has not moved since the remote and this repository last agreed.
fn apply_dataset_refs(
    writer: &Writer,
    remote_name: &str,
    remotes: &[String],
    dataset: &DatasetName,
    refs: Vec<(String, RefKind, CommitId, String)>,
    report: &mut PullReport,
) -> Result<(), RepoError> {
    let mut history: HashSet<ObjectId> = HashSet::new();
    let mut stack: Vec<ObjectId> = refs
        .iter()
        .filter(|(_, kind, _, _)| matches!(kind, RefKind::Version(_)))
        .map(|(_, _, id, _)| id.object())
        .collect();
    while let Some(id) = stack.pop() {
        if !history.insert(id) {
            continue;
        }
        if let Some((Kind::Commit, bytes)) = writer.object(&id)? {
            let commit = Commit::decode(&bytes)?;
            stack.extend(commit.parents.iter().map(|parent| parent.object()));
        }
    }

    let mut remote_numbers: HashSet<semver::Version> = HashSet::new();
    let mut conflicts: Vec<(semver::Version, CommitId)> = Vec::new();
    for (name, kind, id, etag) in &refs {
        let RefKind::Version(version) = kind else {
            continue;
        };
        remote_numbers.insert(version.clone());
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
                if is_published(writer, remotes, name, &local)? {
                    return Err(RemoteError::PublishedVersionConflict {
                        remote: remote_name.to_string(),
                        name: dataset.to_string(),
                        version: version.to_string(),
                        ours: local.to_hex(),
                        theirs: id.to_hex(),
                    }
                    .into());
                }
                conflicts.push((version.clone(), CommitId(local)));
                writer.set_ref(name, &id.object())?;
                report.versions_added.push(display_ref(name));
            }
            None => {
                writer.set_ref(name, &id.object())?;
                report.versions_added.push(display_ref(name));
            }
        }
        writer.set_remote_ref(remote_name, name, &id.object(), etag)?;
        writer.set_published(name, &id.object())?;
    }

    // Unpublished local versions the remote's numbers displaced move after the highest
    // number, with every unpublished local version above the lowest displaced one.
    if let Some(lowest) = conflicts.iter().map(|(version, _)| version.clone()).min() {
        let prefix = format!("{}versions/", dataset.ref_prefix());
        let mut moving = conflicts;
        for (name, id) in writer.refs(&prefix)? {
            let Some((_, RefKind::Version(version))) = parse_ref_name(&name) else {
                continue;
            };
            if version > lowest
                && !remote_numbers.contains(&version)
                && !is_published(writer, remotes, &name, &id)?
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
                        name: dataset.to_string(),
                        after: highest.to_string(),
                    })?;
            let next = semver::Version::new(highest.major, highest.minor, patch);
            writer.set_ref(&dataset.version_ref(&next), &id.object())?;
            report
                .renumbered
                .push((format!("{dataset}@{old}"), next.to_string()));
            highest = next;
        }
    }

    for (name, kind, id, etag) in &refs {
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
        let seen = writer.remote_ref(remote_name, name)?.map(|(seen, _)| seen);
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
        writer.set_remote_ref(remote_name, name, &id.object(), etag)?;
    }
    Ok(())
}

/// `datasets/ns/p/n/versions/1.0.0` as `ns.p.n@1.0.0`.
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
