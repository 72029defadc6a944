//! Errors as the user sees them: `error:` / `caused by:` / `hint:` on stderr, and the one
//! place that decides exit code 1 (the user can fix it) versus 2 (internal or I/O).

use std::error::Error as _;

use crate::RepoError;
use crate::checkout::CheckoutError;
use crate::commit::CommitError;
use crate::diff::DiffError;
use crate::listing::ListError;
use crate::lock::LockError;
use crate::map::MapError;
use crate::query::QueryError;
use crate::remote::RemoteError;
use crate::rows::TreeError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// A usage problem clap cannot see (flags that do not go together).
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    #[error("could not read {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// An environment variable pail reads holds something it cannot use.
    #[error("environment variable {name} is {value:?}, which is not {expected}")]
    Environment {
        name: String,
        value: String,
        expected: &'static str,
    },
    /// The command already said what was wrong on stdout; exit with this code.
    #[error("")]
    Silent(i32),
    #[error("could not write {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Map(#[from] MapError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Diff(#[from] DiffError),
    /// Writing to stdout failed; a closed pipe ends the command quietly.
    #[error("could not write output: {0}")]
    Output(#[from] std::io::Error),
}

impl From<crate::name::NameError> for CliError {
    fn from(err: crate::name::NameError) -> Self {
        CliError::Repo(err.into())
    }
}

/// Prints the error and returns the exit code.
pub fn report(err: &CliError) -> i32 {
    if let CliError::Output(io) = err
        && io.kind() == std::io::ErrorKind::BrokenPipe
    {
        return 0;
    }
    if let CliError::Silent(code) = err {
        return *code;
    }
    let (code, hint) = classify(err);
    // Messages can quote outside text (a remote's key, a path): escaped like all human
    // output.
    let escape = |text: &str| crate::escape::escape_text(text).into_owned();
    eprintln!("error: {}", escape(&err.to_string()));
    let mut source = err.source();
    // Transparent wrappers repeat their inner message as the first source: skip it. (Every
    // capability's error was a RepoError variant before issue 13 and was skipped so; they
    // still are, so the `caused by:` lines stay as they were.)
    if matches!(
        err,
        CliError::Repo(_)
            | CliError::Commit(_)
            | CliError::Checkout(_)
            | CliError::Lock(_)
            | CliError::Map(_)
            | CliError::Remote(_)
            | CliError::Diff(_)
    ) {
        source = source.and_then(|inner| inner.source());
    }
    let mut last = err.to_string();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !last.contains(&text) {
            eprintln!("  caused by: {}", escape(&text));
        }
        last = text;
        source = cause.source();
    }
    if let Some(hint) = hint {
        eprintln!("hint: {}", escape(&hint));
    }
    code
}

/// The exit code (1: the user can fix it, 2: internal or I/O) and hint of an error, as
/// `report` prints them; the Python package raises its exceptions from the same.
pub fn classify(err: &CliError) -> (i32, Option<String>) {
    match err {
        CliError::Repo(err) => classify_repo(err),
        CliError::Usage { hint, .. } => (1, hint.clone()),
        CliError::Io { .. } => (1, None),
        CliError::Environment { name, expected, .. } => {
            (1, Some(format!("set {name} to {expected}, or unset it")))
        }
        CliError::Write { .. } => (
            1,
            Some("check that the directory exists and is writable".into()),
        ),
        CliError::Commit(err) => classify_commit(err),
        CliError::Query(err) => classify_query(err),
        CliError::Checkout(err) => classify_checkout(err),
        CliError::Lock(err) => classify_lock(err),
        CliError::Map(err) => classify_map(err),
        CliError::Remote(err) => classify_remote(err),
        CliError::Diff(err) => classify_diff(err),
        CliError::Output(_) => (2, None),
        CliError::Silent(code) => (*code, None),
    }
}

/// The hint for an object the repository should hold and does not (or not as expected).
const FSCK_HINT: &str = "run `pail fsck` to check the repository; if it finds nothing, this is a bug in pail: please report it";
/// The hint for a manifest that does not decode.
const DAMAGED_HINT: &str = "the repository holds a damaged object; report a bug";

fn classify_repo(err: &RepoError) -> (i32, Option<String>) {
    let user = |hint: &str| (1, Some(hint.to_string()));
    match err {
        RepoError::NotARepository { .. } => user("run `pail init` here, or set PAIL_DIR to a .pail directory"),
        RepoError::Io { .. } => (2, None),
        RepoError::Config { .. } => user("fix the file, or remove it to use the defaults"),
        RepoError::Name(_) => (1, None),
        RepoError::Store(err) => match err {
            StoreError::Busy { .. } => (
                2,
                Some("another pail command is still running; retry when it ends, or raise PAIL_LOCK_TIMEOUT (seconds)".into()),
            ),
            StoreError::Open { .. }
            | StoreError::Db(_)
            | StoreError::Corrupt { .. }
            | StoreError::BadObjectKey { .. }
            | StoreError::BadRef { .. } => (2, None),
            StoreError::Missing { .. } | StoreError::WrongKind { .. } => (2, Some(FSCK_HINT.into())),
            StoreError::Decode { .. } => (2, Some(DAMAGED_HINT.into())),
            StoreError::ReadOnly => (2, Some("this is a bug in pail: please report it".into())),
            StoreError::NewerFormat { .. } => user("use the newer pail that wrote this repository"),
        },
        RepoError::Tree(err) => match err {
            TreeError::Store(StoreError::Busy { .. }) => (2, None),
            TreeError::Store(_)
            | TreeError::Leaf(_)
            | TreeError::Codec(_)
            | TreeError::Staging { .. }
            | TreeError::WrongKind { .. }
            | TreeError::Malformed { .. }
            | TreeError::Unordered { .. } => (2, Some(FSCK_HINT.into())),
        },
        RepoError::Schema(_) => user("fix the schema or the records, or pass --schema to declare the types"),
        RepoError::Codec(_) => (2, Some(DAMAGED_HINT.into())),
        RepoError::DatasetNotFound { .. } => user("`pail ls` lists the datasets"),
        RepoError::VersionNotFound { name, .. } => (1, Some(format!("`pail log {name}` lists its versions"))),
        RepoError::AmbiguousPrefix { .. } => user("give more digits of the commit id"),
        RepoError::TagExists { .. } => user("pass --force to move the tag"),
        RepoError::TagNotFound { .. } => user("`pail tag --list` lists the tags"),
        RepoError::AmbiguousTag { tag, names } => (
            1,
            Some(format!("name the dataset, e.g. `pail tag --delete {}@{tag}`", names[0])),
        ),
    }
}

fn classify_commit(err: &CommitError) -> (i32, Option<String>) {
    let user = |hint: &str| (1, Some(hint.to_string()));
    match err {
        CommitError::Repo(err) => classify_repo(err),
        CommitError::Diff(err) => classify_diff(err),
        CommitError::ReadInput { .. } => user("check that the file exists and is readable"),
        CommitError::List(err) => match err.as_ref() {
            ListError::BadSource { .. } => {
                user("give a local directory or an s3://, gs://, az:// or file:/// URI")
            }
            ListError::NotADirectory { .. } => user("check the path; a source must be a directory"),
            ListError::Config { .. } => {
                user("check the store's environment variables (e.g. AWS_ENDPOINT_URL, AWS_REGION)")
            }
            ListError::Store { .. } => (
                2,
                Some("check the bucket name, network and credentials".into()),
            ),
            ListError::Hash { .. } => (2, None),
            ListError::Previous { .. } => {
                (2, Some("run `pail fsck` to check the repository".into()))
            }
        },
        CommitError::Sort(_) => (2, None),
        CommitError::BadJson { .. } => user("each line must be one JSON object"),
        CommitError::IntOutOfRange { .. } => user(
            "write it as a string, or as a float (with a decimal point) if the field is a float",
        ),
        CommitError::Violation { .. } => {
            user("fix the record, or change the schema and commit with the right --bump")
        }
        CommitError::DuplicateKey { .. } => {
            user("remove the duplicate, or pass --key with columns that identify a row")
        }
        CommitError::BadKey { .. } => {
            user("--key takes comma-separated column names, e.g. --key file,start")
        }
        CommitError::ArrowType(_) => user(
            "cast the column to a type pail stores (int, float, bool, string, binary, \
             timestamp, struct, list), or drop it",
        ),
        CommitError::ReadBatches { .. } => user("check the source of the record batches"),
        CommitError::ConvertColumn { .. } => {
            user("cast the column to a type whose values fit, or declare a schema")
        }
        CommitError::NeedsBump { required, .. } => (
            1,
            Some(format!(
                "commit again with `--bump {required}` to record the schema change"
            )),
        ),
        CommitError::VersionExists { .. } => {
            user("commit again: the next free version is chosen automatically")
        }
        CommitError::VersionOverflow { .. } => {
            user("save with a larger bump (`--bump minor` or `--bump major`)")
        }
        CommitError::NoSource { name, .. } => (
            1,
            Some(format!(
                "give the source to compare with: `pail status {name} SOURCE`"
            )),
        ),
    }
}

fn classify_checkout(err: &CheckoutError) -> (i32, Option<String>) {
    let user = |hint: &str| (1, Some(hint.to_string()));
    match err {
        CheckoutError::NoFileColumn => (1, None),
        CheckoutError::Failed { problems } => {
            use crate::checkout::ProblemKind;
            let has = |kind: ProblemKind| problems.iter().any(|p| p.kind == kind);
            if has(ProblemKind::LocalSource) {
                user(
                    "a version from a remote names files on this machine: if you trust it, pass --allow-local-sources",
                )
            } else if has(ProblemKind::Unverified) {
                user(
                    "record sizes or hashes when committing (e.g. `pail commit NAME DIR --hash`), or pass --allow-unverified to fetch these rows unchecked",
                )
            } else {
                user(
                    "`--keep-going` lists every problem; `pail verify NAME@V` checks without downloading",
                )
            }
        }
        CheckoutError::File { problem } => classify_file_problem(problem.kind),
        CheckoutError::Write { .. } => (2, None),
        CheckoutError::BadGlob { .. } => {
            user("use `*` and `?` within a path part, `**` across parts, e.g. --include '**/*.jpg'")
        }
        CheckoutError::Store { .. } => (
            2,
            Some("check the store's credentials in the environment".into()),
        ),
        CheckoutError::Repo(err) => classify_repo(err),
    }
}

/// The hint for one File read on its own (the Python package's `File.read()`).
fn classify_file_problem(kind: crate::checkout::ProblemKind) -> (i32, Option<String>) {
    use crate::checkout::ProblemKind;
    let user = |hint: &str| (1, Some(hint.to_string()));
    match kind {
        ProblemKind::Changed | ProblemKind::Missing => user(
            "the storage no longer holds the bytes this version recorded: commit the source again to record what it holds now",
        ),
        ProblemKind::Unverified => user(
            "record sizes or hashes when committing (e.g. `pail commit NAME DIR --hash`), or allow unverified reads",
        ),
        ProblemKind::LocalSource => user(
            "a version from a remote names files on this machine: allow local sources only if you trust it",
        ),
        ProblemKind::Unsafe | ProblemKind::InTheWay => (1, None),
        ProblemKind::Store => (
            2,
            Some("check the store's credentials in the environment".into()),
        ),
    }
}

fn classify_lock(err: &LockError) -> (i32, Option<String>) {
    let user = |hint: &str| (1, Some(hint.to_string()));
    match err {
        LockError::Read { .. } | LockError::Write { .. } => (2, None),
        LockError::Malformed { .. } => {
            user("fix pail.lock, or pin again with `pail lock add NAME@V`")
        }
        LockError::NotFound { .. } => user("`pail lock add NAME@V` writes one"),
        LockError::NotPinned { .. } => user("`pail lock list` shows what is pinned"),
        LockError::UnlistedRemote { .. } => user(
            "if you trust it, add it with `pail remote add NAME URL`, or pass --allow-unlisted-remote (the environment's store credentials are sent to it)",
        ),
    }
}

fn classify_map(err: &MapError) -> (i32, Option<String>) {
    let user = |hint: &str| (1, Some(hint.to_string()));
    match err {
        MapError::Commit(err) => classify_commit(err),
        MapError::Spawn { .. } => user("check the --run command"),
        MapError::TooManyErrors { .. } => user(
            "fix the command and run again: finished rows resume, failed ones are retried (or raise --max-errors)",
        ),
        MapError::NoEarlierOutput { .. } => user("run once without --delta first"),
        MapError::DeltaNeedsMerge => (1, None),
        MapError::Io { .. } => (2, None),
        MapError::NoSuchJob { .. } => user("`pail jobs` lists unfinished runs"),
        MapError::Stopped => user("run it again: the rows it finished are not run again"),
        MapError::Repo(err) => classify_repo(err),
    }
}

fn classify_query(err: &QueryError) -> (i32, Option<String>) {
    let user = |hint: &str| (1, Some(hint.to_string()));
    match err {
        QueryError::Syntax(_) => user(
            "check the SQL at that position; quote dataset refs with @ or dots: SELECT * FROM \"photos@1.0.1\"",
        ),
        QueryError::Plan { .. } => {
            user("`pail schema NAME` lists the columns; struct fields read as file.path")
        }
        QueryError::NotSupported { .. } => (1, None),
        QueryError::Data { .. } | QueryError::RowType { .. } => {
            user("check the types and values the query computes with")
        }
        QueryError::ReadOnly { .. } => user(
            "datasets change by commits: `pail commit`, `pail map`; export a result with --format parquet -o FILE",
        ),
        QueryError::LeafMismatch { .. } => user(
            "the store was damaged, or the leaf written by another tool: `pail fsck` checks every leaf",
        ),
        QueryError::Repo(err) => classify_repo(err),
        QueryError::Internal { .. } => (
            2,
            Some("this is a bug in pail or its query engine; report it with the query".into()),
        ),
    }
}

fn classify_diff(err: &DiffError) -> (i32, Option<String>) {
    match err {
        DiffError::KeysDiffer { .. } => (
            1,
            Some("diff matches rows by key: compare versions (or datasets) saved with the same --key".into()),
        ),
        DiffError::Repo(err) => classify_repo(err),
    }
}

fn classify_remote(err: &RemoteError) -> (i32, Option<String>) {
    let user = |hint: &str| (1, Some(hint.to_string()));
    match err {
        RemoteError::UnknownRemote { known, .. } if known.is_empty() => {
            user("add one: `pail remote add origin s3://bucket/prefix`")
        }
        RemoteError::UnknownRemote { known, .. } => (1, Some(format!("known remotes: {}", known.join(", ")))),
        RemoteError::RemoteExists { .. } => user("remove it first (`pail remote remove NAME`) or pick another name"),
        RemoteError::BadRemoteName { .. } => (1, None),
        RemoteError::BadUrl { .. } => user("e.g. s3://bucket/prefix, az://container/prefix, gs://bucket/prefix or /shared/dir; credentials come from the environment"),
        RemoteError::Store { .. } => (2, Some("check the URL, the network and the store's credentials in the environment".into())),
        RemoteError::NotARemote { .. } => user("check the URL; `pail push` creates a remote at a new prefix"),
        RemoteError::NewerFormat { .. } => (1, None),
        RemoteError::Corrupt { .. } | RemoteError::MissingObject { .. } | RemoteError::BadRefName { .. } => (
            1,
            Some("the remote is damaged or was written by something else; ask whoever pushed it to push again, or pull only the datasets you need".into()),
        ),
        RemoteError::PushConflicts { remote, .. } => (
            1,
            Some(format!("pull first (`pail pull {remote}`): your unpushed versions are renumbered after theirs; then push again (tags: `--force` to overwrite)")),
        ),
        RemoteError::RewrittenVersion { .. } => (1, Some("versions are immutable: find out who rewrote the remote".into())),
        RemoteError::PublishedVersionConflict { remote, version, .. } => (
            1,
            Some(format!("a published version is never renumbered, so the two remotes disagree on {name}; pull the other datasets by name (`pail pull {remote} DATASET...`) and ask whoever pushed {name} to `{remote}` which commit is right", name = version.name)),
        ),
        RemoteError::VersionOverflow { .. } => (1, Some("pull only the other datasets by name (`pail pull REMOTE DATASET...`)".into())),
        RemoteError::PinMoved { .. } => user("pail.lock pins a commit, not a name: pin again with `pail lock add NAME@V` if the new commit is intended"),
        RemoteError::PinUnavailable { .. } => user("push the version (`pail push`) to the remote pail.lock names, or pin one that is there"),
        RemoteError::NoTable { .. } => (1, None),
        RemoteError::Spool { .. } | RemoteError::Iceberg { .. } => (2, None),
        RemoteError::Repo(err) => classify_repo(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_errors_are_user_errors_but_engine_bugs() {
        let internal = QueryError::Internal {
            source: "a bug".into(),
        };
        assert_eq!(classify_query(&internal).0, 2);
        for user in [
            QueryError::ReadOnly {
                statement: "CREATE TABLE".into(),
            },
            QueryError::LeafMismatch {
                leaf: "abc".into(),
                detail: "column `x` is Int64".into(),
            },
        ] {
            let (code, hint) = classify_query(&user);
            assert_eq!(code, 1, "{user}");
            assert!(hint.is_some(), "{user}");
        }
    }
}
