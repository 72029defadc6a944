//! Checkout: the bytes a version's File rows name, downloaded into a directory and
//! verified (size, etag, and BLAKE3 where recorded), in parallel and resumably.
//!
//! Every file is written to a temporary name beside its final path and renamed into
//! place, so a final path never holds half a file. `DIR/.pail-checkout` records what
//! was written (one JSON line per file), so a re-run skips files already in place and
//! `--clean` knows which files are pail's; a row named `.pail-checkout` (or under it) is
//! refused rather than allowed to collide with it.
//!
//! A row's File is input from whoever made the version. Before any byte is written,
//! every selected row passes `check_file`: its path is a plain relative path (the
//! target side), its source is a URI without secrets, and, unless the caller opted in,
//! it records something to verify and is not a `file://` source of a version fetched
//! from a remote. When reading a `file://` source, the file is resolved (symlinks
//! followed) and must stay inside the source's root (the source side). `verify` and
//! `map --fetch` apply the same rules.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use object_store::{GetOptions, ObjectStore};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::object::{Commit, CommitId};
use crate::repo::{Repo, RepoError};
use crate::schema::Type;

/// The record of what a checkout wrote, inside the checkout directory.
pub(crate) const STATE_FILE: &str = ".pail-checkout";
const CONCURRENCY: usize = 16;

/// Why a checkout or a verify could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("version has no File column to check out")]
    NoFileColumn,
    #[error("{} file(s) could not be checked out: {}", .problems.len(), summarize(.problems))]
    Failed { problems: Vec<Problem> },
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--include `{glob}` is not a glob: {detail}")]
    BadGlob { glob: String, detail: String },
    /// One File read on its own ([`open_file`], [`fetch_file`]) failed.
    #[error("could not read {problem}")]
    File { problem: Problem },
    #[error("could not reach the store of {source_uri}: {detail}")]
    Store { source_uri: String, detail: String },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

fn summarize(problems: &[Problem]) -> String {
    let mut shown: Vec<String> = problems.iter().take(5).map(|p| p.to_string()).collect();
    if problems.len() > 5 {
        shown.push(format!("and {} more", problems.len() - 5));
    }
    shown.join("; ")
}

/// Why one file could not be checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub kind: ProblemKind,
    pub detail: String,
}

/// What went wrong with one file of a checkout or a verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The row's path would land outside the directory.
    Unsafe,
    /// The store no longer has the object (or the recorded version).
    Missing,
    /// What arrived differs from what the version recorded.
    Changed,
    /// A file pail did not write is in the way.
    InTheWay,
    /// The store failed.
    Store,
    /// The row records no size, etag, version or BLAKE3: nothing to check the bytes by.
    Unverified,
    /// A `file://` source in a version fetched from a remote.
    LocalSource,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            ProblemKind::Unsafe => "unsafe path",
            ProblemKind::Missing => "missing",
            ProblemKind::Changed => "changed",
            ProblemKind::InTheWay => "in the way",
            ProblemKind::Store => "store error",
            ProblemKind::Unverified => "nothing to verify",
            ProblemKind::LocalSource => "local source",
        };
        write!(f, "{}: {kind}: {}", self.path, self.detail)
    }
}

/// What `checkout` fetches, where to, and how.
#[derive(Debug, Clone, Default)]
pub struct CheckoutOptions {
    /// Report every problem at the end instead of stopping at the first.
    pub keep_going: bool,
    /// Remove files in the directory that are not part of the version.
    pub clean: bool,
    /// Path globs (`*`, `?`, `**`); a row is checked out when any matches. Empty: all.
    pub include: Vec<String>,
    /// When set, only the files whose (source, path) is in it (from `--where`).
    pub only: Option<std::collections::HashSet<(String, String)>>,
    /// Also fetch rows that record nothing to verify the bytes by (no size, etag,
    /// version or BLAKE3); refused otherwise.
    pub allow_unverified: bool,
    /// Also read `file://` sources when the version was fetched from a remote (pulled,
    /// or fetched for a pail.lock); refused otherwise.
    pub allow_local_sources: bool,
    /// Store settings (from the environment) for the rows' sources.
    pub store_options: Vec<(String, String)>,
}

/// What a checkout did (`view::CheckoutView` is its JSON form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckoutReport {
    pub files_written: u64,
    pub bytes_written: u64,
    pub files_skipped: u64,
    pub files_removed: u64,
    /// Whether every file had a recorded object version (exact bytes even after an overwrite).
    pub all_versioned: bool,
}

/// Receives the progress of a checkout; the CLI draws it.
pub trait CheckoutProgress: Sync {
    /// Called once, with what the checkout will fetch.
    fn start(&self, _total_files: u64, _total_bytes: u64) {}
    /// Called as files arrive, with the files and bytes since the last call.
    fn advance(&self, _files: u64, _bytes: u64) {}
}

/// A checkout progress sink that ignores everything.
pub struct NoCheckoutProgress;
impl CheckoutProgress for NoCheckoutProgress {}

/// One File row, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub source: String,
    pub path: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub version: Option<String>,
    pub blake3: Option<String>,
}

impl FileRef {
    fn from_value(value: &Value) -> Option<FileRef> {
        let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_string);
        Some(FileRef {
            source: text("source")?,
            path: text("path")?,
            size: value.get("size").and_then(|v| v.as_u64()),
            etag: text("etag"),
            version: text("version"),
            blake3: text("blake3"),
        })
    }
}

/// A line of `.pail-checkout`: what was written, and how the file looked afterwards.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Written {
    path: String,
    etag: Option<String>,
    version: Option<String>,
    size: u64,
    blake3: Option<String>,
    ino: u64,
    mtime_ns: i64,
}

/// Checks that a row's path stays inside the checkout directory: relative, no `..`, no
/// empty or `.` parts, no NUL.
pub(crate) fn safe_relative_path(path: &str) -> Result<PathBuf, String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.contains('\0') {
        return Err("the path contains a NUL byte".into());
    }
    if path.starts_with('/') {
        return Err("the path is absolute".into());
    }
    let mut clean = PathBuf::new();
    for part in path.split('/') {
        match part {
            "" => return Err("the path has an empty part (`//` or a trailing `/`)".into()),
            "." => return Err("the path has a `.` part".into()),
            ".." => return Err("the path has a `..` part and could escape the directory".into()),
            _ => clean.push(part),
        }
    }
    if clean
        .components()
        .any(|component| !matches!(component, Component::Normal(_)))
    {
        return Err("the path is not a plain relative path".into());
    }
    Ok(clean)
}

/// Where a row's `source` points.
enum SourceKind<'a> {
    /// `file:///root`: the root directory.
    Local(&'a str),
    Store,
}

/// Checks a row's `source` URI: a known scheme, no user info, query string or fragment.
fn parse_row_source(source: &str) -> Result<SourceKind<'_>, String> {
    let shown = crate::listing::redact(source);
    let Some((scheme, rest)) = source.split_once("://") else {
        return Err(format!("source `{shown}` is not a URI"));
    };
    crate::listing::check_uri_secrets(scheme, rest)
        .map_err(|reason| format!("source `{shown}`: {reason}"))?;
    match scheme {
        "file" if rest.starts_with('/') => Ok(SourceKind::Local(rest)),
        "file" => Err(format!("source `{shown}` is not an absolute file:/// URI")),
        "s3" | "gs" | "az" | "azure" if !rest.is_empty() => Ok(SourceKind::Store),
        _ => Err(format!(
            "source `{shown}`: the scheme must be file://, s3://, gs:// or az://"
        )),
    }
}

/// The rules every File row passes before checkout, verify or `map --fetch` reads or
/// writes anything for it:
/// - the path is a plain relative path (no `..`, not absolute; [`safe_relative_path`]);
/// - the source is a `file://`, `s3://`, `gs://` or `az://` URI without user info,
///   query string or fragment;
/// - unless `allow_unverified`, the row records a size, etag, version or BLAKE3;
/// - with `local_from` (the remote the version came from), the source is not `file://`.
///
/// The source side is checked again when a `file://` file is read: it must resolve
/// inside the root (see `resolve_local`).
pub(crate) fn check_file(
    file: &FileRef,
    allow_unverified: bool,
    local_from: Option<&str>,
) -> Result<(), Problem> {
    let problem = |kind: ProblemKind, detail: String| Problem {
        path: file.path.clone(),
        kind,
        detail,
    };
    safe_relative_path(&file.path).map_err(|detail| problem(ProblemKind::Unsafe, detail))?;
    let source =
        parse_row_source(&file.source).map_err(|detail| problem(ProblemKind::Unsafe, detail))?;
    if let (SourceKind::Local(_), Some(remote)) = (&source, local_from) {
        return Err(problem(
            ProblemKind::LocalSource,
            format!(
                "the version was fetched from {}, and its `{}` source would read this machine's files",
                crate::listing::redact(remote),
                crate::listing::redact(&file.source)
            ),
        ));
    }
    let unverified = file.size.is_none()
        && file.etag.is_none()
        && file.version.is_none()
        && file.blake3.is_none();
    if unverified && !allow_unverified {
        return Err(problem(
            ProblemKind::Unverified,
            "the row records no size, etag, version or blake3, so the bytes cannot be checked"
                .into(),
        ));
    }
    Ok(())
}

/// The file a `file://` row names, resolved (symlinks followed): it must stay inside
/// the source's root and be a regular file.
fn resolve_local(root: &str, path: &str) -> Result<PathBuf, (ProblemKind, String)> {
    let rel = safe_relative_path(path).map_err(|detail| (ProblemKind::Unsafe, detail))?;
    let root = std::fs::canonicalize(root).map_err(|err| {
        (
            ProblemKind::Missing,
            format!("source directory {root}: {err}"),
        )
    })?;
    let joined = root.join(rel);
    let full = std::fs::canonicalize(&joined)
        .map_err(|err| (ProblemKind::Missing, format!("{}: {err}", joined.display())))?;
    if !full.starts_with(&root) {
        return Err((
            ProblemKind::Unsafe,
            format!(
                "{} leads to {}, outside the source directory {}",
                joined.display(),
                full.display(),
                root.display()
            ),
        ));
    }
    if !std::fs::metadata(&full).is_ok_and(|meta| meta.is_file()) {
        return Err((
            ProblemKind::Unsafe,
            format!("{} is not a regular file", full.display()),
        ));
    }
    Ok(full)
}

/// The `--include` globs, compiled once into one automaton (the `globset` crate), so a
/// match takes time linear in the path whatever the patterns. `*` and `?` stay within a
/// path part, `**` spans parts (`**/*.jpg` also matches `a.jpg`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Include {
    set: Option<globset::GlobSet>,
}

impl Include {
    /// Compiles the globs; no globs selects every path.
    pub fn new(globs: &[String]) -> Result<Include, CheckoutError> {
        if globs.is_empty() {
            return Ok(Include { set: None });
        }
        let mut builder = globset::GlobSetBuilder::new();
        for glob in globs {
            let compiled = globset::GlobBuilder::new(glob)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|err| CheckoutError::BadGlob {
                    glob: glob.clone(),
                    detail: err.kind().to_string(),
                })?;
            builder.add(compiled);
        }
        let set = builder.build().map_err(|err| CheckoutError::BadGlob {
            glob: globs.join(" "),
            detail: err.to_string(),
        })?;
        Ok(Include { set: Some(set) })
    }

    pub fn matches(&self, path: &str) -> bool {
        self.set.as_ref().is_none_or(|set| set.is_match(path))
    }
}

/// Refuses a target whose parent directories inside `root` include a symlink, creating
/// the directories that are missing.
fn prepare_parent(root: &Path, rel: &Path) -> Result<PathBuf, String> {
    let mut current = root.to_path_buf();
    let parent = rel.parent().unwrap_or(Path::new(""));
    for component in parent.components() {
        current.push(component);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!(
                    "{} is a symlink; checkout never writes through one",
                    current.display()
                ));
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(format!("{} is a file, not a directory", current.display())),
            Err(_) => {
                std::fs::create_dir(&current)
                    .map_err(|err| format!("cannot create {}: {err}", current.display()))?;
            }
        }
    }
    let target = root.join(rel);
    if let Ok(meta) = std::fs::symlink_metadata(&target)
        && meta.file_type().is_symlink()
    {
        return Err(format!(
            "{} is a symlink; checkout never writes through one",
            target.display()
        ));
    }
    Ok(target)
}

/// The stores the rows name, built once per source.
struct Stores {
    options: Vec<(String, String)>,
    cache: std::sync::Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl Stores {
    fn new(store_options: &[(String, String)]) -> Stores {
        Stores {
            options: store_options.to_vec(),
            cache: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, source: &str) -> Result<Arc<dyn ObjectStore>, CheckoutError> {
        let mut cache = self.cache.lock().expect("the store cache is not poisoned");
        if let Some(store) = cache.get(source) {
            return Ok(store.clone());
        }
        let store_err = |detail: String| CheckoutError::Store {
            source_uri: crate::listing::redact(source),
            detail,
        };
        parse_row_source(source).map_err(store_err)?;
        let (scheme, bucket) = source
            .split_once("://")
            .ok_or_else(|| store_err("not a URI".into()))?;
        let store = crate::listing::cloud_store(scheme, bucket, source, &self.options)
            .map_err(|err| store_err(crate::listing::redact(&err.to_string())))?;
        cache.insert(source.to_string(), store.clone());
        Ok(store)
    }
}

/// Downloads single files, verified, for `pail map --fetch`, under the rules of
/// [`check_file`] (rows with nothing to verify are allowed).
pub(crate) struct FileFetcher {
    stores: Stores,
    runtime: tokio::runtime::Runtime,
    local_from: Option<String>,
}

impl FileFetcher {
    /// `local_from`: the remote the rows' version was fetched from
    /// ([`fetched_from`]); its `file://` sources are then refused.
    pub fn new(store_options: &[(String, String)], local_from: Option<String>) -> FileFetcher {
        FileFetcher {
            stores: Stores::new(store_options),
            runtime: crate::io_runtime(),
            local_from,
        }
    }

    /// Downloads `file` to `dest` (through a temporary name) unless it is already there.
    pub fn fetch(&self, file: &FileRef, dest: &Path) -> Result<(), Problem> {
        check_file(file, true, self.local_from.as_deref())?;
        if dest.is_file() {
            return Ok(());
        }
        let tmp = dest.with_extension(format!("pail-tmp-{}", std::process::id()));
        let result = self.runtime.block_on(fetch(&self.stores, file, &tmp));
        match result {
            Ok(_) => std::fs::rename(&tmp, dest).map_err(|err| Problem {
                path: file.path.clone(),
                kind: ProblemKind::Store,
                detail: err.to_string(),
            }),
            Err(problem) => {
                let _ = std::fs::remove_file(&tmp);
                Err(problem)
            }
        }
    }
}

impl FileRef {
    /// The first top-level File of a row.
    pub fn first_in(row: &Value) -> Option<FileRef> {
        row.as_object()?.values().find_map(|value| {
            value.as_object()?;
            FileRef::from_value(value)
        })
    }
}

/// A problem with `file`, its detail redacted (it can quote a store's error).
fn redacted_problem(file: &FileRef, kind: ProblemKind, detail: String) -> Problem {
    Problem {
        path: file.path.clone(),
        kind,
        detail: crate::listing::redact(&detail),
    }
}

/// Fetches one file to `tmp`, verifying it; returns the bytes written.
async fn fetch(stores: &Stores, file: &FileRef, tmp: &Path) -> Result<u64, Problem> {
    let source = parse_row_source(&file.source)
        .map_err(|detail| redacted_problem(file, ProblemKind::Unsafe, detail))?;
    match source {
        SourceKind::Local(root) => fetch_local(root, file, tmp).await,
        SourceKind::Store => fetch_from_store(stores, file, tmp).await,
    }
}

/// Copies a `file://` row's file (resolved inside its root) to `tmp`, verifying it.
/// A local file's etag (size and mtime) against the one its row records, if any.
fn local_etag_matches(
    file: &FileRef,
    meta: &std::fs::Metadata,
) -> Result<(), (ProblemKind, String)> {
    let etag = crate::listing::local_etag(meta);
    match &file.etag {
        Some(expected) if *expected != etag => Err((
            ProblemKind::Changed,
            format!(
                "expected etag {expected}, found {etag} (the file was modified after the commit)"
            ),
        )),
        _ => Ok(()),
    }
}

async fn fetch_local(root: &str, file: &FileRef, tmp: &Path) -> Result<u64, Problem> {
    let problem = |kind: ProblemKind, detail: String| redacted_problem(file, kind, detail);
    let from = resolve_local(root, &file.path).map_err(|(kind, detail)| problem(kind, detail))?;
    let meta = std::fs::metadata(&from)
        .map_err(|err| problem(ProblemKind::Missing, format!("{}: {err}", from.display())))?;
    local_etag_matches(file, &meta).map_err(|(kind, detail)| problem(kind, detail))?;
    let from_path = from.clone();
    let tmp_path = tmp.to_path_buf();
    let (n, hash) = tokio::task::spawn_blocking(move || -> std::io::Result<(u64, blake3::Hash)> {
        let mut reader = std::fs::File::open(&from_path)?;
        let mut writer = std::fs::File::create(&tmp_path)?;
        let mut hasher = blake3::Hasher::new();
        let mut buffer = vec![0u8; 256 * 1024];
        let mut n = 0u64;
        loop {
            let read = std::io::Read::read(&mut reader, &mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            writer.write_all(&buffer[..read])?;
            n += read as u64;
        }
        Ok((n, hasher.finalize()))
    })
    .await
    .expect("the copy task does not panic")
    .map_err(|err| {
        problem(
            ProblemKind::Store,
            format!("copying {}: {err}", from.display()),
        )
    })?;
    check_bytes(file, n, Some(hash)).map_err(|detail| problem(ProblemKind::Changed, detail))
}

/// Downloads a store row's object (at its recorded version) to `tmp`, verifying it.
async fn fetch_from_store(stores: &Stores, file: &FileRef, tmp: &Path) -> Result<u64, Problem> {
    let problem = |kind: ProblemKind, detail: String| redacted_problem(file, kind, detail);
    let mut hasher = blake3::Hasher::new();
    let mut stream = open_in_store(stores, file).await?;
    let mut writer = std::fs::File::create(tmp)
        .map_err(|err| problem(ProblemKind::Store, format!("{}: {err}", tmp.display())))?;
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| problem(ProblemKind::Store, err.to_string()))?;
        hasher.update(&chunk);
        writer
            .write_all(&chunk)
            .map_err(|err| problem(ProblemKind::Store, format!("{}: {err}", tmp.display())))?;
        n += chunk.len() as u64;
    }
    check_bytes(file, n, Some(hasher.finalize()))
        .map_err(|detail| problem(ProblemKind::Changed, detail))
}

fn check_bytes(file: &FileRef, size: u64, hash: Option<blake3::Hash>) -> Result<u64, String> {
    if let Some(expected) = file.size
        && expected != size
    {
        return Err(format!("expected {expected} bytes, found {size}"));
    }
    if let (Some(expected), Some(hash)) = (&file.blake3, hash) {
        let found = hash.to_hex().to_string();
        if *expected != found {
            return Err(format!("expected blake3 {expected}, found {found}"));
        }
    }
    Ok(size)
}

fn load_state(dir: &Path) -> HashMap<String, Written> {
    let Ok(text) = std::fs::read_to_string(dir.join(STATE_FILE)) else {
        return HashMap::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str::<Written>(line).ok())
        .map(|written| (written.path.clone(), written))
        .collect()
}

fn still_in_place(written: &Written, file: &FileRef, target: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(target) else {
        return false;
    };
    meta.is_file()
        && written.etag == file.etag
        && written.version == file.version
        && written.blake3 == file.blake3
        && Some(written.size) == file.size.or(Some(written.size))
        && meta.len() == written.size
        && meta.ino() == written.ino
        && meta.mtime() * 1_000_000_000 + meta.mtime_nsec() == written.mtime_ns
}

/// The File column a checkout takes: the first top-level one.
pub(crate) fn file_column(repo: &Repo, commit: &Commit) -> Result<String, CheckoutError> {
    let schema = repo.schema(&commit.schema)?;
    schema
        .fields
        .iter()
        .find(|field| match &field.ty {
            Type::File | Type::FileWith(_) => true,
            Type::Optional(inner) => inner.is_file(),
            _ => false,
        })
        .map(|field| field.name.clone())
        .ok_or(CheckoutError::NoFileColumn)
}

/// Calls `each` with every File of a version (the first File column) whose path `include`
/// selects, in key order, until it returns false.
pub(crate) fn for_each_file(
    repo: &Repo,
    commit: &Commit,
    include: &Include,
    mut each: impl FnMut(FileRef) -> Result<bool, CheckoutError>,
) -> Result<(), CheckoutError> {
    let column = file_column(repo, commit)?;
    // The rows' callback can only fail with a RepoError: an error of `each` stops the
    // walk and is returned after it.
    let mut failed = None;
    repo.for_each_row(commit, |row| {
        let Some(file) = row.get(&column).and_then(FileRef::from_value) else {
            return Ok(true);
        };
        if !include.matches(&file.path) {
            return Ok(true);
        }
        each(file).or_else(|err| {
            failed = Some(err);
            Ok(false)
        })
    })?;
    failed.map_or(Ok(()), Err)
}

/// The remote URL a commit was fetched from (pull, or a pail.lock fetch), or None for a
/// commit made in this repository.
pub fn fetched_from(repo: &Repo, id: &CommitId) -> Result<Option<String>, RepoError> {
    let store = repo.read_store()?;
    let reader = store.read()?;
    Ok(reader.fetched_from(&id.object())?)
}

/// What the first pass over the selected rows found: their count, bytes and whether each
/// records an object version.
struct Selection {
    total_files: u64,
    total_bytes: u64,
    all_versioned: bool,
}

impl CheckoutOptions {
    fn selects(&self, file: &FileRef) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.contains(&(file.source.clone(), file.path.clone())))
    }
}

/// The first pass: every selected row must pass the rules ([`check_file`]) before any
/// byte is written.
fn check_selection(
    repo: &Repo,
    commit: &Commit,
    include: &Include,
    options: &CheckoutOptions,
    local_from: Option<&str>,
) -> Result<Selection, CheckoutError> {
    let mut problems = Vec::new();
    let mut selection = Selection {
        total_files: 0,
        total_bytes: 0,
        all_versioned: true,
    };
    for_each_file(repo, commit, include, |file| {
        if !options.selects(&file) {
            return Ok(true);
        }
        if let Err(problem) = check_file(&file, options.allow_unverified, local_from) {
            problems.push(problem);
        } else if file.path == STATE_FILE || file.path.starts_with(&format!("{STATE_FILE}/")) {
            problems.push(Problem {
                path: file.path.clone(),
                kind: ProblemKind::Unsafe,
                detail: format!("the path collides with checkout's state file {STATE_FILE}"),
            });
        }
        selection.total_files += 1;
        selection.total_bytes += file.size.unwrap_or(0);
        // Local directories have no versions; the note about them is for stores.
        selection.all_versioned &= file.version.is_some() || file.source.starts_with("file://");
        Ok(true)
    })?;
    if !problems.is_empty() {
        return Err(CheckoutError::Failed { problems });
    }
    Ok(selection)
}

/// The second pass's state: downloads files in batches, in parallel, and logs what it
/// wrote to the state file.
struct Downloader<'a> {
    root: PathBuf,
    state: HashMap<String, Written>,
    state_path: PathBuf,
    state_log: std::fs::File,
    stores: Stores,
    runtime: tokio::runtime::Runtime,
    done_files: AtomicU64,
    done_bytes: AtomicU64,
    tmp_counter: AtomicU64,
    progress: &'a dyn CheckoutProgress,
    report: CheckoutReport,
    problems: Vec<Problem>,
}

impl Downloader<'_> {
    /// Checks out a batch of files at once; what went wrong with a file is kept in
    /// `problems`.
    fn run_batch(&mut self, batch: &mut Vec<FileRef>) -> Result<(), CheckoutError> {
        let jobs: Vec<FileRef> = std::mem::take(batch);
        let results: Vec<Result<Option<Written>, Problem>> = self.runtime.block_on(async {
            futures::stream::iter(jobs.into_iter().map(|file| {
                let stores = &self.stores;
                let root = &self.root;
                let state = &self.state;
                let done_files = &self.done_files;
                let done_bytes = &self.done_bytes;
                let tmp_counter = &self.tmp_counter;
                let progress = self.progress;
                async move {
                    let result = checkout_one(stores, root, state, &file, tmp_counter).await;
                    let size = file.size.unwrap_or(0);
                    progress.advance(
                        done_files.fetch_add(1, Ordering::Relaxed) + 1,
                        done_bytes.fetch_add(size, Ordering::Relaxed) + size,
                    );
                    result
                }
            }))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await
        });
        for result in results {
            match result {
                Ok(Some(written)) => {
                    self.report.files_written += 1;
                    self.report.bytes_written += written.size;
                    let line = serde_json::to_string(&written).expect("state lines serialize");
                    writeln!(self.state_log, "{line}").map_err(|source| CheckoutError::Write {
                        path: self.root.join(STATE_FILE),
                        source,
                    })?;
                }
                Ok(None) => self.report.files_skipped += 1,
                Err(problem) => self.problems.push(problem),
            }
        }
        Ok(())
    }
}

/// Opens the checkout directory's state for the second pass.
fn open_downloader<'a>(
    root: PathBuf,
    options: &CheckoutOptions,
    selection: &Selection,
    progress: &'a dyn CheckoutProgress,
) -> Result<Downloader<'a>, CheckoutError> {
    let state = load_state(&root);
    let state_path = root.join(STATE_FILE);
    let state_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&state_path)
        .map_err(|source| CheckoutError::Write {
            path: state_path.clone(),
            source,
        })?;
    Ok(Downloader {
        root,
        state,
        state_path,
        state_log,
        stores: Stores::new(&options.store_options),
        runtime: crate::io_runtime(),
        done_files: AtomicU64::new(0),
        done_bytes: AtomicU64::new(0),
        tmp_counter: AtomicU64::new(0),
        progress,
        report: CheckoutReport {
            all_versioned: selection.all_versioned && selection.total_files > 0,
            ..Default::default()
        },
        problems: Vec::new(),
    })
}

/// Downloads the files of version `id` into `dir`, verified. See the module docs.
pub fn checkout(
    repo: &Repo,
    id: &CommitId,
    dir: &Path,
    options: &CheckoutOptions,
    progress: &dyn CheckoutProgress,
) -> Result<CheckoutReport, CheckoutError> {
    let commit = &repo.commit(id)?;
    let local_from = if options.allow_local_sources {
        None
    } else {
        fetched_from(repo, id)?
    };
    std::fs::create_dir_all(dir).map_err(|source| CheckoutError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let root = std::fs::canonicalize(dir).map_err(|source| CheckoutError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let include = Include::new(&options.include)?;
    let selection = check_selection(repo, commit, &include, options, local_from.as_deref())?;
    let mut downloader = open_downloader(root, options, &selection, progress)?;
    progress.start(selection.total_files, selection.total_bytes);

    // The second pass: download in batches, stopping at the first problem unless asked
    // to keep going.
    let mut wanted: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    let mut batch: Vec<FileRef> = Vec::new();
    let mut stop = false;
    for_each_file(repo, commit, &include, |file| {
        if !options.selects(&file) {
            return Ok(true);
        }
        wanted.insert(safe_relative_path(&file.path).expect("checked in the first pass"));
        batch.push(file);
        if batch.len() >= 256 {
            downloader.run_batch(&mut batch)?;
            if !downloader.problems.is_empty() && !options.keep_going {
                stop = true;
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    if !stop {
        downloader.run_batch(&mut batch)?;
    }
    downloader
        .state_log
        .sync_all()
        .map_err(|source| CheckoutError::Write {
            path: downloader.state_path.clone(),
            source,
        })?;
    if !downloader.problems.is_empty() {
        return Err(CheckoutError::Failed {
            problems: downloader.problems,
        });
    }
    let mut report = downloader.report;
    if options.clean {
        report.files_removed = clean(&downloader.root, &wanted)?;
    }
    Ok(report)
}

/// Checks out one file: Ok(None) when it is already in place.
async fn checkout_one(
    stores: &Stores,
    root: &Path,
    state: &HashMap<String, Written>,
    file: &FileRef,
    tmp_counter: &AtomicU64,
) -> Result<Option<Written>, Problem> {
    let problem = |kind: ProblemKind, detail: String| Problem {
        path: file.path.clone(),
        kind,
        detail,
    };
    let rel =
        safe_relative_path(&file.path).map_err(|detail| problem(ProblemKind::Unsafe, detail))?;
    let target =
        prepare_parent(root, &rel).map_err(|detail| problem(ProblemKind::Unsafe, detail))?;
    if let Ok(meta) = std::fs::symlink_metadata(&target) {
        let ours = state.get(&file.path);
        if let Some(written) = ours
            && still_in_place(written, file, &target)
        {
            return Ok(None);
        }
        if ours.is_none() {
            // Not ours: leave it unless it is exactly the recorded content.
            let same = meta.is_file()
                && file.size == Some(meta.len())
                && file.blake3.as_ref().is_some_and(|expected| {
                    let mut hasher = blake3::Hasher::new();
                    hasher.update_mmap(&target).is_ok()
                        && hasher.finalize().to_hex().as_str() == expected.as_str()
                });
            if !same {
                return Err(problem(
                    ProblemKind::InTheWay,
                    format!(
                        "{} exists and was not written by pail checkout; move it away or pass --clean",
                        target.display()
                    ),
                ));
            }
        }
    }
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = target.with_file_name(format!(
        ".{name}.pail-tmp-{}-{}",
        std::process::id(),
        tmp_counter.fetch_add(1, Ordering::Relaxed)
    ));
    let result = fetch(stores, file, &tmp).await;
    let size = match result {
        Ok(size) => size,
        Err(err) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(err);
        }
    };
    if let Err(err) = std::fs::rename(&tmp, &target) {
        let _ = std::fs::remove_file(&tmp);
        return Err(problem(
            ProblemKind::Store,
            format!("renaming into {}: {err}", target.display()),
        ));
    }
    let meta =
        std::fs::metadata(&target).map_err(|err| problem(ProblemKind::Store, err.to_string()))?;
    Ok(Some(Written {
        path: file.path.clone(),
        etag: file.etag.clone(),
        version: file.version.clone(),
        size,
        blake3: file.blake3.clone(),
        ino: meta.ino(),
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
    }))
}

/// What `verify` found (`view::VerifyView` is its JSON form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub unchanged: u64,
    pub changed: Vec<Problem>,
    pub missing: Vec<Problem>,
    /// Whether every file had a recorded object version.
    pub all_versioned: bool,
}

/// Compares one file's recorded metadata with the store's, without downloading it.
async fn verify_one(stores: &Stores, file: &FileRef) -> Result<(), Problem> {
    let problem = |kind: ProblemKind, detail: String| Problem {
        path: file.path.clone(),
        kind,
        detail: crate::listing::redact(&detail),
    };
    let source =
        parse_row_source(&file.source).map_err(|detail| problem(ProblemKind::Unsafe, detail))?;
    let (size, etag) = if let SourceKind::Local(root) = source {
        let from =
            resolve_local(root, &file.path).map_err(|(kind, detail)| problem(kind, detail))?;
        let meta = std::fs::metadata(&from)
            .map_err(|err| problem(ProblemKind::Missing, format!("{}: {err}", from.display())))?;
        (meta.len(), Some(crate::listing::local_etag(&meta)))
    } else {
        let store = stores
            .get(&file.source)
            .map_err(|err| problem(ProblemKind::Store, err.to_string()))?;
        let location = object_store::path::Path::parse(&file.path)
            .map_err(|err| problem(ProblemKind::Store, err.to_string()))?;
        let options = GetOptions {
            version: file.version.clone(),
            head: true,
            ..Default::default()
        };
        match store.get_opts(&location, options).await {
            Ok(result) => (result.meta.size, result.meta.e_tag),
            Err(object_store::Error::NotFound { .. }) => {
                return Err(problem(
                    ProblemKind::Missing,
                    "the store has no such object".into(),
                ));
            }
            Err(err) => return Err(problem(ProblemKind::Store, err.to_string())),
        }
    };
    if let Some(expected) = file.size
        && expected != size
    {
        return Err(problem(
            ProblemKind::Changed,
            format!("expected {expected} bytes, found {size}"),
        ));
    }
    if let (Some(expected), Some(found)) = (&file.etag, &etag)
        && expected != found
    {
        return Err(problem(
            ProblemKind::Changed,
            format!("expected etag {expected}, found {found}"),
        ));
    }
    Ok(())
}

/// What `verify` needs besides the version.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Store settings (from the environment) for the rows' sources.
    pub store_options: Vec<(String, String)>,
}

/// Compares a batch of files with the store at once, adding what it found to `report`.
/// An unsafe row or a failing store stops the run.
fn verify_batch(
    stores: &Stores,
    runtime: &tokio::runtime::Runtime,
    batch: &mut Vec<FileRef>,
    report: &mut VerifyReport,
) -> Result<u64, CheckoutError> {
    let files = std::mem::take(batch);
    let results: Vec<Result<(), Problem>> = runtime.block_on(
        futures::stream::iter(files.iter().map(|file| verify_one(stores, file)))
            .buffer_unordered(CONCURRENCY)
            .collect(),
    );
    let mut done = 0;
    for result in results {
        done += 1;
        match result {
            Ok(()) => report.unchanged += 1,
            Err(problem) if problem.kind == ProblemKind::Missing => report.missing.push(problem),
            Err(problem) if problem.kind == ProblemKind::Unsafe => {
                return Err(CheckoutError::Failed {
                    problems: vec![problem],
                });
            }
            Err(problem) if problem.kind == ProblemKind::Store => {
                return Err(CheckoutError::Store {
                    source_uri: problem.path.clone(),
                    detail: problem.detail,
                });
            }
            Err(problem) => report.changed.push(problem),
        }
    }
    Ok(done)
}

/// Checks every File of a version against live storage metadata (no download), after
/// checking every row's path and source as checkout does (`check_file`; rows with
/// nothing to verify, and local sources, are only stat'ed, never read).
pub fn verify(
    repo: &Repo,
    commit: &Commit,
    options: &VerifyOptions,
    progress: &dyn CheckoutProgress,
) -> Result<VerifyReport, CheckoutError> {
    let stores = Stores::new(&options.store_options);
    let runtime = crate::io_runtime();
    let every = Include::default();
    let mut report = VerifyReport {
        all_versioned: true,
        ..Default::default()
    };
    let mut problems = Vec::new();
    for_each_file(repo, commit, &every, |file| {
        if let Err(problem) = check_file(&file, true, None) {
            problems.push(problem);
        }
        Ok(true)
    })?;
    if !problems.is_empty() {
        return Err(CheckoutError::Failed { problems });
    }
    let mut any = false;
    let mut batch = Vec::new();
    let mut done = 0u64;
    for_each_file(repo, commit, &every, |file| {
        any = true;
        report.all_versioned &= file.version.is_some() || file.source.starts_with("file://");
        batch.push(file);
        if batch.len() >= 256 {
            done += verify_batch(&stores, &runtime, &mut batch, &mut report)?;
            progress.advance(done, 0);
        }
        Ok(true)
    })?;
    done += verify_batch(&stores, &runtime, &mut batch, &mut report)?;
    progress.advance(done, 0);
    report.all_versioned &= any;
    Ok(report)
}

/// How [`open_file`] and [`fetch_file`] read one File.
#[derive(Debug, Clone, Default)]
pub struct FileReadOptions {
    /// Store settings (from the environment) for the File's source.
    pub store_options: Vec<(String, String)>,
    /// Also read a File that records nothing to verify the bytes by (no size, etag,
    /// version or BLAKE3); refused otherwise, as by checkout.
    pub allow_unverified: bool,
    /// The remote the File's version was fetched from ([`fetched_from`]): a `file://`
    /// source is then refused, as by checkout. None: a version made here, or a File
    /// the caller made.
    pub local_from: Option<String>,
}

/// Where a [`FileReader`] reads from.
enum Body {
    Local(std::fs::File),
    Store {
        runtime: tokio::runtime::Runtime,
        stream: futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
        /// The rest of the last chunk the store sent.
        pending: bytes::Bytes,
    },
}

/// One File's bytes as a stream, verified as checkout verifies them: the row's rules
/// ([`check_file`]) and its etag before the first byte; its size and BLAKE3 when the end
/// is reached, where the last read fails instead of reporting the end. Memory stays
/// bounded: the store's chunks pass through. `std::io::Read` gives the same, with
/// the error as an `io::Error` holding the [`CheckoutError`].
pub struct FileReader {
    file: FileRef,
    body: Body,
    /// Only when the row records a BLAKE3 to compare with.
    hasher: Option<blake3::Hasher>,
    read: u64,
    done: bool,
}

impl FileRef {
    /// A File as a JSON object: `source` and `path`, and the optional `size`, `etag`,
    /// `version` and `blake3`. None when `source` or `path` is missing.
    pub fn from_json(value: &Value) -> Option<FileRef> {
        FileRef::from_value(value)
    }
}

/// Opens one File for reading, verified (see [`FileReader`]): the store is asked for the
/// recorded version, and a `file://` source is read inside its root.
pub fn open_file(file: &FileRef, options: &FileReadOptions) -> Result<FileReader, CheckoutError> {
    let failed = |problem: Problem| CheckoutError::File { problem };
    check_file(
        file,
        options.allow_unverified,
        options.local_from.as_deref(),
    )
    .map_err(failed)?;
    let problem = |kind: ProblemKind, detail: String| failed(redacted_problem(file, kind, detail));
    let body = match parse_row_source(&file.source).map_err(|d| problem(ProblemKind::Unsafe, d))? {
        SourceKind::Local(root) => {
            let from = resolve_local(root, &file.path).map_err(|(kind, d)| problem(kind, d))?;
            let opened = std::fs::File::open(&from).map_err(|err| {
                problem(ProblemKind::Missing, format!("{}: {err}", from.display()))
            })?;
            let meta = opened
                .metadata()
                .map_err(|err| problem(ProblemKind::Store, format!("{}: {err}", from.display())))?;
            local_etag_matches(file, &meta).map_err(|(kind, d)| problem(kind, d))?;
            Body::Local(opened)
        }
        SourceKind::Store => {
            let stores = Stores::new(&options.store_options);
            let runtime = crate::io_runtime();
            let stream = runtime
                .block_on(open_in_store(&stores, file))
                .map_err(failed)?;
            Body::Store {
                runtime,
                stream,
                pending: bytes::Bytes::new(),
            }
        }
    };
    Ok(FileReader {
        file: file.clone(),
        body,
        hasher: file.blake3.as_ref().map(|_| blake3::Hasher::new()),
        read: 0,
        done: false,
    })
}

/// Asks the store for a row's object at its recorded version and checks its etag.
async fn open_in_store(
    stores: &Stores,
    file: &FileRef,
) -> Result<futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>, Problem> {
    let problem = |kind: ProblemKind, detail: String| redacted_problem(file, kind, detail);
    let store = stores
        .get(&file.source)
        .map_err(|err| problem(ProblemKind::Store, err.to_string()))?;
    let location = object_store::path::Path::parse(&file.path)
        .map_err(|err| problem(ProblemKind::Store, err.to_string()))?;
    let options = GetOptions {
        version: file.version.clone(),
        ..Default::default()
    };
    let result = match store.get_opts(&location, options).await {
        Ok(result) => result,
        Err(object_store::Error::NotFound { .. }) => {
            let what = match &file.version {
                Some(version) => {
                    format!("the store has no object at this path with version {version}")
                }
                None => "the store has no object at this path".to_string(),
            };
            return Err(problem(ProblemKind::Missing, what));
        }
        Err(err) => return Err(problem(ProblemKind::Store, err.to_string())),
    };
    if let (Some(expected), Some(found)) = (&file.etag, &result.meta.e_tag)
        && expected != found
    {
        return Err(problem(
            ProblemKind::Changed,
            format!(
                "expected etag {expected}, found {found} (the object was overwritten after the commit)"
            ),
        ));
    }
    Ok(result.into_stream())
}

impl FileReader {
    /// The File being read.
    pub fn file(&self) -> &FileRef {
        &self.file
    }

    /// Reads up to `buf.len()` bytes; 0 only at the end, once the size and BLAKE3 the
    /// row records match what was read (else the error says what differs).
    pub fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, CheckoutError> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let problem = |file: &FileRef, kind: ProblemKind, detail: String| CheckoutError::File {
            problem: redacted_problem(file, kind, detail),
        };
        let n = match &mut self.body {
            Body::Local(reader) => std::io::Read::read(reader, buf)
                .map_err(|err| problem(&self.file, ProblemKind::Store, err.to_string()))?,
            Body::Store {
                runtime,
                stream,
                pending,
            } => {
                while pending.is_empty() {
                    match runtime.block_on(stream.next()) {
                        Some(Ok(chunk)) => *pending = chunk,
                        Some(Err(err)) => {
                            return Err(problem(&self.file, ProblemKind::Store, err.to_string()));
                        }
                        None => break,
                    }
                }
                let n = pending.len().min(buf.len());
                buf[..n].copy_from_slice(&pending.split_to(n));
                n
            }
        };
        if n == 0 {
            let hash = self.hasher.as_ref().map(blake3::Hasher::finalize);
            check_bytes(&self.file, self.read, hash)
                .map_err(|detail| problem(&self.file, ProblemKind::Changed, detail))?;
            self.done = true;
            return Ok(0);
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.read += n as u64;
        if let Some(expected) = self.file.size
            && self.read > expected
        {
            let detail = format!("expected {expected} bytes, found more");
            return Err(problem(&self.file, ProblemKind::Changed, detail));
        }
        Ok(n)
    }
}

impl std::io::Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.read_some(buf).map_err(std::io::Error::other)
    }
}

/// Downloads one File, verified, to `dir/PATH` (PATH: the row's path, which must be a
/// plain relative path; no parent directory may be a symlink) through a temporary name,
/// replacing a file already there. Returns the path written.
pub fn fetch_file(
    file: &FileRef,
    dir: &Path,
    options: &FileReadOptions,
) -> Result<PathBuf, CheckoutError> {
    let failed = |kind: ProblemKind, detail: String| CheckoutError::File {
        problem: redacted_problem(file, kind, detail),
    };
    check_file(
        file,
        options.allow_unverified,
        options.local_from.as_deref(),
    )
    .map_err(|problem| CheckoutError::File { problem })?;
    let rel = safe_relative_path(&file.path).map_err(|d| failed(ProblemKind::Unsafe, d))?;
    std::fs::create_dir_all(dir).map_err(|source| CheckoutError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let target = prepare_parent(dir, &rel).map_err(|d| failed(ProblemKind::Unsafe, d))?;
    let mut reader = open_file(file, options)?;
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = target.with_file_name(format!(".{name}.pail-tmp-{}", std::process::id()));
    let written = (|| {
        let mut out = std::fs::File::create(&tmp).map_err(|source| CheckoutError::Write {
            path: tmp.clone(),
            source,
        })?;
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read_some(&mut buffer)?;
            if n == 0 {
                break;
            }
            out.write_all(&buffer[..n])
                .map_err(|source| CheckoutError::Write {
                    path: tmp.clone(),
                    source,
                })?;
        }
        std::fs::rename(&tmp, &target).map_err(|source| CheckoutError::Write {
            path: target.clone(),
            source,
        })
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map(|()| target)
}

/// Removes files under `root` that are not in `wanted` (except the state file).
fn clean(root: &Path, wanted: &std::collections::HashSet<PathBuf>) -> Result<u64, CheckoutError> {
    let mut removed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| CheckoutError::Write {
            path: dir.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if rel != Path::new(STATE_FILE) && !wanted.contains(&rel) {
                std::fs::remove_file(&path).map_err(|source| CheckoutError::Write {
                    path: path.clone(),
                    source,
                })?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_paths_are_refused() {
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/./b",
            "",
            "a/",
            "x\0y",
        ] {
            assert!(safe_relative_path(bad).is_err(), "{bad:?}");
        }
        for good in [
            "a",
            "a/b.jpg",
            ".hidden",
            "x#12",
            "with space",
            "é/ü",
            "a..b",
            "..x",
        ] {
            assert!(safe_relative_path(good).is_ok(), "{good:?}");
        }
    }

    fn glob_match(glob: &str, path: &str) -> bool {
        Include::new(&[glob.to_string()]).unwrap().matches(path)
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.jpg", "a.jpg"));
        assert!(!glob_match("*.jpg", "d/a.jpg"));
        assert!(glob_match("**/*.jpg", "d/e/a.jpg"));
        assert!(glob_match("**/*.jpg", "a.jpg"));
        assert!(glob_match("d/?.png", "d/a.png"));
        assert!(!glob_match("d/?.png", "d/ab.png"));
        assert!(!glob_match("d?a.png", "d/a.png"), "? stays within a part");
        assert!(glob_match("2024-*/**", "2024-05/x/y.bin"));
        assert!(!glob_match("2024-*/**", "2023-05/x/y.bin"));
        assert!(glob_match("d*/f*", "d1/f001.jpg"));
        assert!(!glob_match("d*", "d1/f001.jpg"), "* stays within a part");
        let none = Include::new(&[]).unwrap();
        assert!(none.matches("anything/at/all"));
        let any = Include::new(&["*.png".into(), "**/*.jpg".into()]).unwrap();
        assert!(any.matches("x.png") && any.matches("a/b.jpg") && !any.matches("a/b.png"));
        assert!(matches!(
            Include::new(&["[".into()]),
            Err(CheckoutError::BadGlob { .. })
        ));
    }

    /// The pattern that took over a minute with backtracking: one compiled automaton
    /// answers it in one pass. Correctness only; bench/checkout.sh times it.
    #[test]
    fn many_stars_match_and_miss() {
        let glob = "*a".repeat(15) + "*b";
        let name = "a".repeat(60);
        assert!(!glob_match(&glob, &name));
        assert!(glob_match(&glob, &(name + "b")));
    }

    /// A File read on its own: its bytes when they match the row, an error naming what
    /// differs when they do not, and `fetch_file` writing them under the row's path.
    #[test]
    fn one_file_is_read_and_verified() {
        let source = tempfile::tempdir().unwrap();
        std::fs::create_dir(source.path().join("d")).unwrap();
        let bytes = b"hello, pail".repeat(50_000);
        std::fs::write(source.path().join("d/a.bin"), &bytes).unwrap();
        let file = FileRef {
            source: format!("file://{}", source.path().display()),
            path: "d/a.bin".into(),
            size: Some(bytes.len() as u64),
            etag: None,
            version: None,
            blake3: Some(blake3::hash(&bytes).to_hex().to_string()),
        };
        let options = FileReadOptions::default();
        let mut read = Vec::new();
        std::io::Read::read_to_end(&mut open_file(&file, &options).unwrap(), &mut read).unwrap();
        assert_eq!(read, bytes);
        let out = tempfile::tempdir().unwrap();
        let written = fetch_file(&file, out.path(), &options).unwrap();
        assert_eq!(written, out.path().join("d/a.bin"));
        assert_eq!(std::fs::read(&written).unwrap(), bytes);

        // Same size, other bytes: the BLAKE3 differs, and the last read says so.
        let mut changed = bytes.clone();
        changed[7] ^= 1;
        std::fs::write(source.path().join("d/a.bin"), &changed).unwrap();
        let mut reader = open_file(&file, &options).unwrap();
        let err = std::io::Read::read_to_end(&mut reader, &mut Vec::new()).unwrap_err();
        assert!(
            err.to_string().contains("changed: expected blake3"),
            "{err}"
        );
        let err = fetch_file(&file, out.path(), &options).unwrap_err();
        assert!(
            matches!(&err, CheckoutError::File { problem } if problem.kind == ProblemKind::Changed)
        );
        assert_eq!(
            std::fs::read(&written).unwrap(),
            bytes,
            "the old copy stays"
        );
        std::fs::write(source.path().join("d/a.bin"), b"short").unwrap();
        let err = fetch_file(&file, out.path(), &options).unwrap_err();
        assert!(err.to_string().contains("bytes, found 5"), "{err}");

        // Nothing to verify by, a path out of the source, a pulled local source: refused.
        let bare = FileRef {
            size: None,
            blake3: None,
            ..file.clone()
        };
        let err = open_file(&bare, &options).err().unwrap();
        assert!(
            matches!(&err, CheckoutError::File { problem } if problem.kind == ProblemKind::Unverified)
        );
        let allowed = FileReadOptions {
            allow_unverified: true,
            ..Default::default()
        };
        assert!(open_file(&bare, &allowed).is_ok());
        let escaping = FileRef {
            path: "../x".into(),
            ..file.clone()
        };
        assert!(open_file(&escaping, &options).is_err());
        let pulled = FileReadOptions {
            local_from: Some("s3://bucket/pail".into()),
            ..Default::default()
        };
        let err = open_file(&file, &pulled).err().unwrap();
        assert!(
            matches!(&err, CheckoutError::File { problem } if problem.kind == ProblemKind::LocalSource)
        );
    }

    #[test]
    fn a_symlinked_parent_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let err = prepare_parent(dir.path(), Path::new("link/x.txt")).unwrap_err();
        assert!(err.contains("symlink"), "{err}");
        assert!(prepare_parent(dir.path(), Path::new("ok/x.txt")).is_ok());
    }
}
