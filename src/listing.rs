//! Listing storage: a local directory or an object-store prefix becomes a stream of
//! `FileEntry` values in key order, sent in batches over a bounded channel.
//!
//! Local directories are walked directly rather than through object_store's local store,
//! which skips names such as `x#1` and broken symlinks without a word. Every entry that
//! cannot be listed is sent as a `ListEvent::Problem`, never dropped.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use futures::StreamExt;
use object_store::ObjectStore;

/// Entries per batch sent to the consumer; the channel holds a few batches at most.
pub const BATCH: usize = 1024;

/// One object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Key inside the source, `/`-separated.
    pub path: String,
    pub size: u64,
    pub etag: String,
    pub version: Option<String>,
    /// Microseconds since the Unix epoch.
    pub last_modified: i64,
    pub blake3: Option<[u8; 32]>,
}

/// Why a source could not be parsed or listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("`{text}` is not a source: {reason}")]
    BadSource { text: String, reason: String },
    #[error("source {path} does not exist or is not a directory")]
    NotADirectory { path: PathBuf },
    /// `url` and `detail` are redacted (see `redact`) when the error is built.
    #[error("could not configure the {scheme} store for {url}: {detail}")]
    Config {
        scheme: String,
        url: String,
        detail: String,
    },
    /// `url` and `detail` are redacted (see `redact`) when the error is built.
    #[error("listing {url} failed: {detail}")]
    Store { url: String, detail: String },
    #[error("could not read {path} to hash it: {source}")]
    Hash {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The repository could not read the earlier version (a `RepoError`, boxed: this module
    /// sits below the repository).
    #[error("could not read the digests the previous version recorded: {source}")]
    Previous {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The BLAKE3 digests an earlier version recorded. Asked once per listed entry, in listing
/// order (which is key order); answers the recorded digest when the entry's size, etag,
/// version and mtime are the recorded ones, so that only new or changed files are hashed
/// and an unchanged file keeps its digest.
pub trait KnownDigests: Send {
    fn lookup(&mut self, entry: &FileEntry) -> Result<Option<[u8; 32]>, ListError>;
}

/// What a listing may reuse: none, or the digests of an earlier version.
pub type Known = Option<Box<dyn KnownDigests>>;

/// Gives each entry without a digest the one `known` recorded for it, if any.
fn carry_digests(known: &mut Known, files: &mut [FileEntry]) -> Result<(), ListError> {
    if let Some(known) = known {
        for entry in files.iter_mut().filter(|entry| entry.blake3.is_none()) {
            entry.blake3 = known.lookup(entry)?;
        }
    }
    Ok(())
}

/// What a listing sends.
pub enum ListEvent {
    Files(Vec<FileEntry>),
    /// Something that could not be listed: its path and why.
    Problem {
        path: String,
        reason: String,
    },
    Fatal(ListError),
}

/// A parsed SOURCE argument.
#[derive(Clone)]
pub enum Source {
    Local {
        root: PathBuf,
    },
    Store {
        /// `s3://bucket`, `gs://bucket`, `az://container`: the File rows' `source`.
        base: String,
        /// The key prefix listed inside the bucket (may be empty).
        prefix: String,
        store: Arc<dyn ObjectStore>,
    },
}

impl Source {
    /// The File rows' `source` value: `file:///abs/dir` or `s3://bucket`.
    pub fn base_uri(&self) -> String {
        match self {
            Source::Local { root } => format!("file://{}", root.display()),
            Source::Store { base, .. } => base.clone(),
        }
    }

    /// The URI that was listed, for lineage: the base plus the prefix.
    pub fn listed_uri(&self) -> String {
        match self {
            Source::Local { .. } => self.base_uri(),
            Source::Store { base, prefix, .. } if prefix.is_empty() => base.clone(),
            Source::Store { base, prefix, .. } => format!("{base}/{prefix}"),
        }
    }
}

/// Parses a SOURCE: a local path (relative to `cwd`), `file://`, `s3://`, `gs://` or `az://`.
///
/// `options` are the store settings the caller took from its environment, as
/// `(AWS_ENDPOINT_URL, value)` pairs; the library reads no environment itself.
pub fn parse_source(
    text: &str,
    cwd: &Path,
    options: &[(String, String)],
) -> Result<Source, ListError> {
    let bad = |reason: &str| ListError::BadSource {
        text: redact(text),
        reason: reason.to_string(),
    };
    let local = |path: &Path| -> Result<Source, ListError> {
        let joined = cwd.join(path);
        let root = std::fs::canonicalize(&joined).map_err(|_| ListError::NotADirectory {
            path: joined.clone(),
        })?;
        if !root.is_dir() {
            return Err(ListError::NotADirectory { path: root });
        }
        Ok(Source::Local { root })
    };
    let Some((scheme, rest)) = text.split_once("://") else {
        return local(Path::new(text));
    };
    // What a URI must not carry: it would be stored in the lineage and pushed, and a
    // key prefix with `?…` in it lists nothing. Credentials come from the environment.
    if let Err(reason) = check_uri_secrets(scheme, rest) {
        return Err(bad(reason));
    }
    if scheme == "file" {
        if !rest.starts_with('/') {
            return Err(bad(
                "a file:// URI needs an absolute path, as in file:///data/photos",
            ));
        }
        return local(Path::new(rest));
    }
    let (bucket, prefix) = match rest.split_once('/') {
        Some((bucket, prefix)) => (bucket, prefix.trim_matches('/')),
        None => (rest, ""),
    };
    if bucket.is_empty() {
        return Err(bad("the bucket name is missing"));
    }
    let store = cloud_store(scheme, bucket, text, options)?;
    Ok(Source::Store {
        base: format!("{scheme}://{bucket}"),
        prefix: prefix.to_string(),
        store,
    })
}

/// Why a URI (`scheme` and what follows `://`) is refused: user info, a query string or
/// a fragment. Credentials come from the environment; a signed URL's signature would be
/// stored in the lineage and pushed with it.
pub fn check_uri_secrets(scheme: &str, rest: &str) -> Result<(), &'static str> {
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') || (scheme != "file" && authority.contains(':')) {
        return Err(
            "user info (`name@` or `name:password@`) is not accepted in a URI; credentials come from the environment",
        );
    }
    if rest.contains('?') {
        return Err(
            "a query string is not accepted in a URI (it would be stored in the lineage); credentials come from the environment",
        );
    }
    if rest.contains('#') {
        return Err("a fragment (`#…`) is not accepted in a URI");
    }
    Ok(())
}

/// `text` with what must never be shown hidden: in every `scheme://` URL in it, the
/// user info (`user:secret@` becomes `***@`) and any query string or fragment (`?***`).
/// Every error that carries a URL or a store's message is built through this.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ')' | '>'))
            .unwrap_or(after.len());
        let (url, tail) = after.split_at(end);
        let authority_end = url.find('/').unwrap_or(url.len());
        let (authority, path) = url.split_at(authority_end);
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        match path.find(['?', '#']) {
            Some(cut) => {
                out.push_str(&path[..cut]);
                out.push_str("?***");
            }
            None => out.push_str(path),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Builds the object store for `scheme://bucket`, configured from `options` (the
/// `AWS_*`, `AZURE_*` or `GOOGLE_*` variables the caller gathered).
pub fn cloud_store(
    scheme: &str,
    bucket: &str,
    url: &str,
    options: &[(String, String)],
) -> Result<Arc<dyn ObjectStore>, ListError> {
    // object_store reaches the network through rustls; ring is the provider we build with.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config_err = |source: object_store::Error| ListError::Config {
        scheme: scheme.to_string(),
        url: redact(url),
        detail: redact(&source.to_string()),
    };
    let store: Arc<dyn ObjectStore> = match scheme {
        "s3" => {
            let mut builder = object_store::aws::AmazonS3Builder::new().with_bucket_name(bucket);
            for (key, value) in options {
                if key.starts_with("AWS_")
                    && let Ok(config) = key.to_ascii_lowercase().parse()
                {
                    builder = builder.with_config(config, value);
                }
            }
            Arc::new(builder.build().map_err(config_err)?)
        }
        "gs" => {
            let mut builder =
                object_store::gcp::GoogleCloudStorageBuilder::new().with_bucket_name(bucket);
            for (key, value) in options {
                if key.starts_with("GOOGLE_")
                    && let Ok(config) = key.to_ascii_lowercase().parse()
                {
                    builder = builder.with_config(config, value);
                }
            }
            Arc::new(builder.build().map_err(config_err)?)
        }
        "az" | "azure" => {
            let mut builder =
                object_store::azure::MicrosoftAzureBuilder::new().with_container_name(bucket);
            for (key, value) in options {
                if key.starts_with("AZURE_")
                    && let Ok(config) = key.to_ascii_lowercase().parse()
                {
                    builder = builder.with_config(config, value);
                }
            }
            Arc::new(builder.build().map_err(config_err)?)
        }
        _ => {
            return Err(ListError::BadSource {
                text: redact(url),
                reason: "the scheme must be file://, s3://, gs:// or az://".into(),
            });
        }
    };
    Ok(store)
}

/// Lists `source` into `sender`, in ascending byte order of the path. Blocks until done
/// or until the receiver hangs up. With `hash`, every entry also gets its BLAKE3.
/// With `versions`, every object of a store source is asked (HEAD, in parallel) for its
/// version id, which listings never report; local directories have none. Digests `known`
/// from an earlier version are carried over to unchanged entries (and not recomputed).
pub fn list(
    source: &Source,
    hash: bool,
    versions: bool,
    mut known: Known,
    sender: &SyncSender<ListEvent>,
) {
    match source {
        Source::Local { root } => {
            if let Err(err) = list_local(root, hash, &mut known, sender) {
                let _ = sender.send(ListEvent::Fatal(err));
            }
        }
        Source::Store { prefix, store, .. } => {
            let runtime = crate::io_runtime();
            let url = source.listed_uri();
            if let Err(err) = runtime.block_on(list_store(
                store, prefix, &url, hash, versions, &mut known, sender,
            )) {
                let _ = sender.send(ListEvent::Fatal(err));
            }
        }
    }
}

struct DirEntryInfo {
    name: String,
    kind: EntryKind,
}

impl DirEntryInfo {
    /// Siblings sort by name with `/` appended to directories, so that a depth-first walk
    /// over sorted siblings yields paths in global byte order.
    fn sort_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        let slash = matches!(self.kind, EntryKind::Dir(_)).then_some(b'/');
        self.name.bytes().chain(slash)
    }
}

enum EntryKind {
    File(std::fs::Metadata),
    Dir(PathBuf),
}

/// The etag pail records for a local file; see docs/FORMAT.md.
pub fn local_etag(meta: &std::fs::Metadata) -> String {
    // inode + mtime (ns) + ctime (ns) + size: ctime cannot be set back by tools that
    // restore mtime, so a rewrite with the same size and mtime still changes the etag.
    let mtime = meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128;
    let ctime = meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128;
    // Hand-written hex: this runs once per listed file and `format!` showed in profiles.
    // Negative times print as their two's complement, as `{:x}` of an i128 does.
    let mut etag = String::with_capacity(64);
    push_hex(&mut etag, meta.ino() as u128);
    etag.push('-');
    push_hex(&mut etag, mtime as u128);
    etag.push('-');
    push_hex(&mut etag, ctime as u128);
    etag.push('-');
    push_hex(&mut etag, meta.len() as u128);
    etag
}

fn push_hex(text: &mut String, value: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    if value == 0 {
        text.push('0');
        return;
    }
    let mut buffer = [0u8; 32];
    let mut idx = buffer.len();
    let mut rest = value;
    while rest > 0 {
        idx -= 1;
        buffer[idx] = DIGITS[(rest & 0xf) as usize];
        rest >>= 4;
    }
    text.push_str(std::str::from_utf8(&buffer[idx..]).expect("hex digits are ASCII"));
}

fn mtime_micros(meta: &std::fs::Metadata) -> i64 {
    meta.mtime() * 1_000_000 + meta.mtime_nsec() / 1_000
}

fn read_dir_sorted(
    dir: &Path,
    rel: &str,
    ancestors: &HashSet<(u64, u64)>,
    sender: &SyncSender<ListEvent>,
) -> Option<Vec<DirEntryInfo>> {
    let problem = |path: String, reason: String| {
        let _ = sender.send(ListEvent::Problem { path, reason });
    };
    let reader = match std::fs::read_dir(dir) {
        Ok(reader) => reader,
        Err(err) => {
            problem(display_rel(rel), format!("cannot read directory: {err}"));
            return None;
        }
    };
    let mut entries = Vec::new();
    for entry in reader {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                problem(
                    display_rel(rel),
                    format!("cannot read directory entry: {err}"),
                );
                continue;
            }
        };
        let name: OsString = entry.file_name();
        let Some(name) = name.to_str().map(str::to_string) else {
            problem(
                join_rel(rel, &name.to_string_lossy()),
                "the file name is not valid UTF-8".into(),
            );
            continue;
        };
        // Paths are built only where needed: per-file allocations showed in profiles.
        let rel_path = || join_rel(rel, &name);
        let mut meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(err) => {
                problem(rel_path(), format!("cannot stat: {err}"));
                continue;
            }
        };
        if meta.file_type().is_symlink() {
            meta = match std::fs::metadata(entry.path()) {
                Ok(meta) => meta,
                Err(err) => {
                    problem(rel_path(), format!("broken symlink: {err}"));
                    continue;
                }
            };
        }
        if meta.is_dir() {
            if ancestors.contains(&(meta.dev(), meta.ino())) {
                problem(
                    rel_path(),
                    "symlink loop: the directory contains itself".into(),
                );
                continue;
            }
            entries.push(DirEntryInfo {
                name,
                kind: EntryKind::Dir(entry.path()),
            });
        } else if meta.is_file() {
            entries.push(DirEntryInfo {
                name,
                kind: EntryKind::File(meta),
            });
        } else {
            problem(
                rel_path(),
                "not a regular file or directory (socket, fifo or device)".into(),
            );
        }
    }
    entries.sort_by(|a, b| a.sort_bytes().cmp(b.sort_bytes()));
    Some(entries)
}

fn join_rel(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

fn display_rel(rel: &str) -> String {
    if rel.is_empty() {
        ".".into()
    } else {
        rel.to_string()
    }
}

struct Frame {
    rel: String,
    id: (u64, u64),
    entries: std::vec::IntoIter<DirEntryInfo>,
}

fn list_local(
    root: &Path,
    hash: bool,
    known: &mut Known,
    sender: &SyncSender<ListEvent>,
) -> Result<(), ListError> {
    let root_meta = std::fs::metadata(root).map_err(|_| ListError::NotADirectory {
        path: root.to_path_buf(),
    })?;
    let mut ancestors = HashSet::new();
    let root_id = (root_meta.dev(), root_meta.ino());
    ancestors.insert(root_id);
    let Some(entries) = read_dir_sorted(root, "", &ancestors, sender) else {
        return Ok(());
    };
    let mut stack = vec![Frame {
        rel: String::new(),
        id: root_id,
        entries: entries.into_iter(),
    }];
    let mut batch: Vec<FileEntry> = Vec::with_capacity(BATCH);
    while let Some(frame) = stack.last_mut() {
        let Some(entry) = frame.entries.next() else {
            let done = stack.pop().expect("checked above: stack is not empty");
            ancestors.remove(&done.id);
            continue;
        };
        let rel_path = join_rel(&frame.rel, &entry.name);
        match entry.kind {
            EntryKind::File(meta) => {
                batch.push(FileEntry {
                    path: rel_path,
                    size: meta.len(),
                    etag: local_etag(&meta),
                    version: None,
                    last_modified: mtime_micros(&meta),
                    blake3: None,
                });
                if batch.len() >= BATCH && !send_local_batch(root, &mut batch, hash, known, sender)?
                {
                    return Ok(());
                }
            }
            EntryKind::Dir(path) => {
                let Ok(meta) = std::fs::metadata(&path) else {
                    let _ = sender.send(ListEvent::Problem {
                        path: rel_path,
                        reason: "directory vanished while listing".into(),
                    });
                    continue;
                };
                let id = (meta.dev(), meta.ino());
                ancestors.insert(id);
                match read_dir_sorted(&path, &rel_path, &ancestors, sender) {
                    Some(entries) => stack.push(Frame {
                        rel: rel_path,
                        id,
                        entries: entries.into_iter(),
                    }),
                    None => {
                        ancestors.remove(&id);
                    }
                }
            }
        }
    }
    send_local_batch(root, &mut batch, hash, known, sender)?;
    Ok(())
}

/// Sends a batch, with the digests known for it and hashing the rest first when asked;
/// false when the receiver hung up.
fn send_local_batch(
    root: &Path,
    batch: &mut Vec<FileEntry>,
    hash: bool,
    known: &mut Known,
    sender: &SyncSender<ListEvent>,
) -> Result<bool, ListError> {
    if batch.is_empty() {
        return Ok(true);
    }
    carry_digests(known, batch)?;
    if hash {
        hash_local(root, batch)?;
    }
    let files = std::mem::replace(batch, Vec::with_capacity(BATCH));
    Ok(sender.send(ListEvent::Files(files)).is_ok())
}

/// Hashes the files without a digest in parallel: a few threads, since small files are
/// bound by I/O latency.
fn hash_local(root: &Path, batch: &mut [FileEntry]) -> Result<(), ListError> {
    let n_threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8)
        * 2;
    let chunk = batch.len().div_ceil(n_threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks_mut(chunk)
            .map(|part| {
                scope.spawn(move || -> Result<(), ListError> {
                    for entry in part.iter_mut().filter(|entry| entry.blake3.is_none()) {
                        let mut hasher = blake3::Hasher::new();
                        hasher
                            .update_mmap(root.join(&entry.path))
                            .map_err(|source| ListError::Hash {
                                path: entry.path.clone(),
                                source,
                            })?;
                        entry.blake3 = Some(*hasher.finalize().as_bytes());
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("hash worker does not panic")?;
        }
        Ok(())
    })
}

async fn list_store(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    url: &str,
    hash: bool,
    versions: bool,
    known: &mut Known,
    sender: &SyncSender<ListEvent>,
) -> Result<(), ListError> {
    let store_err = |source: object_store::Error| ListError::Store {
        url: redact(url),
        detail: redact(&source.to_string()),
    };
    // `parse` keeps the key as it is; `from` would percent-encode characters such as `#`.
    let prefix_path = if prefix.is_empty() {
        None
    } else {
        Some(object_store::path::Path::parse(prefix).map_err(|err| store_err(err.into()))?)
    };
    let mut stream = store.list(prefix_path.as_ref());
    let mut batch = Vec::with_capacity(BATCH);
    let mut last: Option<String> = None;
    while let Some(meta) = stream.next().await {
        let meta = meta.map_err(store_err)?;
        let path = meta.location.to_string();
        if last.as_ref().is_some_and(|last| *last >= path) {
            return Err(ListError::Store {
                url: redact(url),
                detail: format!("the store listed `{path}` out of order"),
            });
        }
        last = Some(path.clone());
        batch.push(FileEntry {
            path,
            size: meta.size,
            etag: meta.e_tag.unwrap_or_default(),
            version: meta.version,
            last_modified: meta.last_modified.timestamp_micros(),
            blake3: None,
        });
        if batch.len() >= BATCH {
            let files = complete(
                store,
                std::mem::take(&mut batch),
                url,
                hash,
                versions,
                known,
            )
            .await?;
            if sender.send(ListEvent::Files(files)).is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        let files = complete(store, batch, url, hash, versions, known).await?;
        let _ = sender.send(ListEvent::Files(files));
    }
    Ok(())
}

/// Adds what the listing itself does not say: version ids (`versions`), the digests
/// already known, then BLAKE3 digests of the rest (`hash`).
async fn complete(
    store: &Arc<dyn ObjectStore>,
    mut files: Vec<FileEntry>,
    url: &str,
    hash: bool,
    versions: bool,
    known: &mut Known,
) -> Result<Vec<FileEntry>, ListError> {
    if versions {
        files = head_versions(store, files, url).await?;
    }
    carry_digests(known, &mut files)?;
    if hash {
        files = hash_store(store, files, url).await?;
    }
    Ok(files)
}

/// Runs `step` on every entry with its store location, 32 at a time, keeping their order.
/// A store error names the entry.
async fn per_entry<F, Fut>(
    files: Vec<FileEntry>,
    url: &str,
    step: F,
) -> Result<Vec<FileEntry>, ListError>
where
    F: Fn(FileEntry, object_store::path::Path) -> Fut,
    Fut: std::future::Future<Output = Result<FileEntry, object_store::Error>>,
{
    let step = &step;
    let results: Vec<Result<FileEntry, ListError>> = futures::stream::iter(files)
        .map(|entry| async move {
            let path = entry.path.clone();
            let located =
                object_store::path::Path::parse(&entry.path).map_err(object_store::Error::from);
            let result = match located {
                Ok(location) => step(entry, location).await,
                Err(err) => Err(err),
            };
            result.map_err(|source| ListError::Store {
                url: redact(&format!("{url} ({path})")),
                detail: redact(&source.to_string()),
            })
        })
        .buffered(32)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Asks the store for each object's current version id (a HEAD each, in parallel).
async fn head_versions(
    store: &Arc<dyn ObjectStore>,
    files: Vec<FileEntry>,
    url: &str,
) -> Result<Vec<FileEntry>, ListError> {
    use object_store::ObjectStoreExt;
    per_entry(files, url, |mut entry, location| async move {
        let meta = store.head(&location).await?;
        // The etag must be the one the version has; an object rewritten between the
        // listing and the HEAD takes the HEAD's view of both.
        if let Some(etag) = meta.e_tag {
            entry.etag = etag;
        }
        entry.size = meta.size;
        entry.last_modified = meta.last_modified.timestamp_micros();
        entry.version = meta.version;
        Ok(entry)
    })
    .await
}

/// Reads every object without a digest and records its BLAKE3 digest.
async fn hash_store(
    store: &Arc<dyn ObjectStore>,
    files: Vec<FileEntry>,
    url: &str,
) -> Result<Vec<FileEntry>, ListError> {
    use object_store::ObjectStoreExt;
    per_entry(files, url, |mut entry, location| async move {
        if entry.blake3.is_some() {
            return Ok(entry);
        }
        let mut stream = store.get(&location).await?.into_stream();
        let mut hasher = blake3::Hasher::new();
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk?);
        }
        entry.blake3 = Some(*hasher.finalize().as_bytes());
        Ok(entry)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(root: &Path) -> (Vec<FileEntry>, Vec<(String, String)>) {
        let (sender, receiver) = std::sync::mpsc::sync_channel(4);
        let source = Source::Local {
            root: root.to_path_buf(),
        };
        let handle = std::thread::spawn(move || list(&source, true, false, None, &sender));
        let mut files = Vec::new();
        let mut problems = Vec::new();
        for event in receiver {
            match event {
                ListEvent::Files(batch) => files.extend(batch),
                ListEvent::Problem { path, reason } => problems.push((path, reason)),
                ListEvent::Fatal(err) => panic!("{err}"),
            }
        }
        handle.join().unwrap();
        (files, problems)
    }

    #[test]
    fn local_listing_is_sorted_and_skips_nothing_silently() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in [
            "a/b.txt",
            "a-b",
            "a.txt",
            "x#12",
            "with space.jpg",
            ".hidden",
            "é.png",
            "a/c/d",
        ] {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, rel.as_bytes()).unwrap();
        }
        std::os::unix::fs::symlink(root.join("missing"), root.join("broken")).unwrap();
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(root, root.join("a/loop")).unwrap();
        let (files, problems) = collect(root);
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                ".hidden",
                "a-b",
                "a.txt",
                "a/b.txt",
                "a/c/d",
                "link.txt",
                "with space.jpg",
                "x#12",
                "é.png"
            ]
        );
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted, "byte order");
        let problem_paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(problem_paths, ["broken", "a/loop"]);
        assert!(problems[0].1.contains("broken symlink"), "{problems:?}");
        assert!(problems[1].1.contains("symlink loop"), "{problems:?}");
        let hidden = &files[0];
        assert_eq!(hidden.size, 7);
        assert_eq!(hidden.blake3, Some(*blake3::hash(b".hidden").as_bytes()));
    }

    /// Known digests are used as they are and not recomputed; the rest are hashed.
    #[test]
    fn known_digests_are_carried_and_not_recomputed() {
        struct Fake;
        impl KnownDigests for Fake {
            fn lookup(&mut self, entry: &FileEntry) -> Result<Option<[u8; 32]>, ListError> {
                Ok((entry.path == "b.txt").then_some([7; 32]))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.txt", "b.txt", "c.txt"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        let source = Source::Local {
            root: dir.path().to_path_buf(),
        };
        for hash in [true, false] {
            let (sender, receiver) = std::sync::mpsc::sync_channel(4);
            let source = source.clone();
            let handle = std::thread::spawn(move || {
                list(&source, hash, false, Some(Box::new(Fake)), &sender)
            });
            let mut digests = Vec::new();
            for event in receiver {
                if let ListEvent::Files(files) = event {
                    digests.extend(files.into_iter().map(|file| file.blake3));
                }
            }
            handle.join().unwrap();
            let computed = |name: &str| hash.then(|| *blake3::hash(name.as_bytes()).as_bytes());
            assert_eq!(
                digests,
                [computed("a.txt"), Some([7; 32]), computed("c.txt")],
                "hash = {hash}"
            );
        }
    }

    #[test]
    fn rewrite_with_same_size_and_mtime_changes_the_etag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"aaaa").unwrap();
        let before = std::fs::metadata(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"bbbb").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(before.modified().unwrap()).unwrap();
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(before.mtime_nsec(), after.mtime_nsec());
        assert_ne!(local_etag(&before), local_etag(&after));
    }

    #[test]
    fn hand_written_hex_matches_format() {
        for value in [
            0i128,
            1,
            15,
            16,
            0x1234_5678_9abc,
            -1,
            -1_000_000_000_000,
            i128::MAX,
        ] {
            let mut text = String::new();
            push_hex(&mut text, value as u128);
            assert_eq!(text, format!("{value:x}"));
        }
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact(
                "listing s3://AKIA:secret@bucket/p?X-Amz-Signature=abc failed: http://u:p@host:9000/b?x=1 (x#1)"
            ),
            "listing s3://***@bucket/p?*** failed: http://***@host:9000/b?*** (x#1)"
        );
        assert_eq!(redact("s3://bucket/key"), "s3://bucket/key");
        assert_eq!(redact("no url: a#b?c"), "no url: a#b?c");
        assert_eq!(redact("`file:///x#y`"), "`file:///x?***`");
    }

    #[test]
    fn sources_parse() {
        let cwd = std::env::temp_dir();
        assert!(matches!(
            parse_source(".", &cwd, &[]),
            Ok(Source::Local { .. })
        ));
        assert!(parse_source("ftp://x/y", &cwd, &[]).is_err());
        assert!(parse_source("file://relative", &cwd, &[]).is_err());
        assert!(matches!(
            parse_source("/definitely/not/here", &cwd, &[]),
            Err(ListError::NotADirectory { .. })
        ));
        for secret in [
            "s3://bucket/data?X-Amz-Signature=abc",
            "s3://bucket/data#frag",
            "s3://AKIA:secret@bucket/data",
            "gs://user@bucket",
            "file:///tmp?x=1",
            "file://user@host/tmp",
        ] {
            let err = parse_source(secret, &cwd, &[])
                .err()
                .expect(secret)
                .to_string();
            assert!(
                !err.contains("secret") && !err.contains("abc") && !err.contains("user@"),
                "{err}"
            );
        }
        let source = parse_source("s3://bucket/some/prefix/", &cwd, &[]).unwrap();
        assert_eq!(source.base_uri(), "s3://bucket");
        assert_eq!(source.listed_uri(), "s3://bucket/some/prefix");
    }
}
