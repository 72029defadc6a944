//! Command-line interface: clap structs, one file per command, and all printing.

mod agents;
mod checkout;
mod commit;
mod completions;
mod diff;
mod error;
mod map;
mod mcp;
mod output;
mod query;
mod read;
mod remote;
mod summary;
mod tag;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::Repo;
use crate::repo::PAIL_DIR;

/// The error of a command, and its exit code and hint (`classify`), for callers that report
/// errors their own way (the Python package).
pub use error::{CliError, classify};
pub use map::MapBar;

/// Git for datasets of files in object storage.
///
/// pail versions what a bucket folder lacks: which files, their exact versions, typed
/// columns, names, semver versions and lineage. The bytes stay where they are.
#[derive(Debug, Parser)]
#[command(name = "pail", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a pail repository (.pail/) in the current directory
    Init(InitArgs),
    /// Save a new version of a dataset from a storage listing or JSON records
    Commit(commit::CommitArgs),
    /// List datasets
    Ls(read::LsArgs),
    /// Show the versions of a dataset (or of all datasets), newest first
    Log(read::LogArgs),
    /// Show one version: commit id, counts, schema, lineage
    Show(read::ShowArgs),
    /// Print the schema of a version
    ///
    /// One line per field, as `name: type`, a struct's fields indented below it. A
    /// `datetime (UTC)` column holds UTC (a record's offset is converted, one without an
    /// offset is taken as UTC), as does a `time (UTC)`; a decimal(p, s) is exact. A field's
    /// constraints follow its type as Pydantic's `Field(...)`, those not checked at
    /// commit marked `(kept, not checked)`.
    Schema(read::SchemaArgs),
    /// Print the rows of a version
    Rows(read::RowsArgs),
    /// Show what a version was made from (or, with --down, what was made from it)
    Lineage(read::LineageArgs),
    /// Show rows added, removed and modified between two versions, and schema changes
    Diff(diff::DiffArgs),
    /// Show what committing a dataset's source again would change, without writing
    Status(diff::StatusArgs),
    /// Run SQL over datasets (tables are dataset refs: photos, "photos@1.0.1")
    Query(query::QueryArgs),
    /// Write a version's rows to one Parquet, JSON-lines or CSV file
    Export(query::ExportArgs),
    /// Add, move, list or delete tags (movable labels on versions)
    Tag(tag::TagArgs),
    /// Add, list or remove remotes (prefixes in a bucket that hold pail metadata)
    Remote(remote::RemoteArgs),
    /// Show where a dataset's Iceberg table is on a remote, with snippets for engines
    Iceberg(remote::IcebergArgs),
    /// Upload versions and tags a remote lacks, with the objects they need
    Push(remote::PushArgs),
    /// Download new versions and moved tags from a remote, verified
    Pull(remote::PullArgs),
    /// Create a repository from a remote: init + remote add origin + pull
    Clone(remote::CloneArgs),
    /// Download the files of a version into a directory, verified
    Checkout(checkout::CheckoutArgs),
    /// Pin dataset versions in pail.lock for reproducible checkouts
    Lock(checkout::LockArgs),
    /// Check that live storage still holds every file of a version (no download)
    Verify(checkout::VerifyArgs),
    /// Run a command over the rows of a dataset and save the results as a new version
    Map(map::MapArgs),
    /// List unfinished `pail map` runs
    Jobs(map::JobsArgs),
    /// Check that every object is intact and every version is complete
    Fsck(read::FsckArgs),
    /// Delete objects no version or tag reaches, and temporaries killed processes left
    Gc(read::GcArgs),
    /// Print the compiled summary of a version: a Markdown page with a size bound
    Summary(summary::SummaryArgs),
    /// Serve the repository to AI agents over the Model Context Protocol (stdio)
    Mcp(mcp::McpArgs),
    /// Wire a coding agent (Claude Code, Cursor, Codex) to pail: MCP config and instructions
    Agents(agents::AgentsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell)
    Completions(completions::CompletionsArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

/// What every command gets from the process: the working directory and the environment
/// variables pail reads, gathered in one place.
pub(crate) struct Context {
    pub cwd: PathBuf,
    pub pail_dir: Option<PathBuf>,
    pub author: Option<String>,
    /// PAIL_TIME, in µs since the epoch: the clock commits record instead of now.
    pub time: Option<i64>,
    pub wait_timeout: Duration,
    /// AWS_*, AZURE_* and GOOGLE_* variables, for the object stores.
    pub store_options: Vec<(String, String)>,
    pub args: Vec<String>,
    pub stderr_is_terminal: bool,
    pub home: Option<PathBuf>,
    /// PAIL_CACHE_DIR: where `checkout --locked` keeps fetched manifests outside a repository.
    pub cache_dir: Option<PathBuf>,
}

/// What PAIL_TIME must be.
const TIME_FORM: &str = "an RFC 3339 time (2026-01-02T03:04:05Z) or whole seconds since the epoch";
/// What PAIL_LOCK_TIMEOUT must be.
const TIMEOUT_FORM: &str = "a whole number of seconds (e.g. 60)";

/// An environment variable pail reads as text: unset or empty is None, and a value that is
/// not Unicode is an error naming the variable (never silently dropped).
fn env_text(name: &str, expected: &'static str) -> Result<Option<String>, CliError> {
    match std::env::var_os(name) {
        None => Ok(None),
        Some(value) if value.is_empty() => Ok(None),
        Some(value) => value
            .into_string()
            .map(Some)
            .map_err(|value| CliError::Environment {
                name: name.to_string(),
                value: value.to_string_lossy().into_owned(),
                expected,
            }),
    }
}

/// An environment variable that names a path: any bytes; unset or empty is None.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// PAIL_TIME: RFC 3339 or whole seconds since the epoch, in µs.
fn parse_time(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<i64>() {
        return seconds.checked_mul(1_000_000);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.timestamp_micros())
}

impl Context {
    fn from_process(process_args: &[OsString]) -> Result<Context, CliError> {
        let cwd = std::env::current_dir().map_err(|source| CliError::Io {
            what: "the current directory".into(),
            source,
        })?;
        let malformed = |name: &str, value: &str, expected: &'static str| CliError::Environment {
            name: name.to_string(),
            value: value.to_string(),
            expected,
        };
        let wait_timeout = match env_text("PAIL_LOCK_TIMEOUT", TIMEOUT_FORM)? {
            None => Duration::from_secs(60),
            Some(text) => text
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| malformed("PAIL_LOCK_TIMEOUT", &text, TIMEOUT_FORM))?,
        };
        let time = match env_text("PAIL_TIME", TIME_FORM)? {
            None => None,
            Some(text) => {
                Some(parse_time(&text).ok_or_else(|| malformed("PAIL_TIME", &text, TIME_FORM))?)
            }
        };
        // Store settings; `std::env::vars` would panic on any variable that is not Unicode.
        let mut store_options = Vec::new();
        for (key, value) in std::env::vars_os() {
            let lossy = key.to_string_lossy();
            if !(lossy.starts_with("AWS_")
                || lossy.starts_with("AZURE_")
                || lossy.starts_with("GOOGLE_"))
            {
                continue;
            }
            match (key.to_str(), value.to_str()) {
                (Some(key), Some(value)) => {
                    store_options.push((key.to_string(), value.to_string()))
                }
                _ => {
                    return Err(malformed(
                        &lossy,
                        &value.to_string_lossy(),
                        "Unicode text (a storage setting)",
                    ));
                }
            }
        }
        let args = std::iter::once("pail".to_string())
            .chain(
                process_args
                    .iter()
                    .skip(1)
                    .map(|arg| arg.to_string_lossy().into_owned()),
            )
            .collect();
        Ok(Context {
            cwd,
            pail_dir: env_path("PAIL_DIR"),
            author: env_text("PAIL_AUTHOR", "Unicode text (the author commits record)")?,
            time,
            wait_timeout,
            store_options,
            args,
            stderr_is_terminal: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            home: env_path("HOME"),
            cache_dir: env_path("PAIL_CACHE_DIR"),
        })
    }

    /// The repository: `PAIL_DIR`, else `.pail/` here or in the nearest parent.
    pub fn repo(&self) -> Result<Repo, CliError> {
        let mut repo = match &self.pail_dir {
            Some(dir) => {
                let dir = self.cwd.join(dir);
                if !dir.join("pail.redb").is_file() {
                    return Err(CliError::Repo(crate::RepoError::NotARepository {
                        start: dir,
                    }));
                }
                Repo::open(&dir)?
            }
            None => Repo::discover(&self.cwd)?,
        };
        let on_wait: Arc<dyn Fn() + Send + Sync> = Arc::new(|| {
            eprintln!("waiting for another pail process to finish with the repository...");
        });
        repo.set_wait(self.wait_timeout, Some(on_wait));
        Ok(repo)
    }
}

/// Parses arguments, runs the command, prints errors; returns the exit code.
pub fn run() -> i32 {
    run_with(std::env::args_os())
}

/// Runs the `pail` command line with these arguments (the first one names the program), as
/// the `pail` binary and the Python package do; returns the exit code. It prints and reads
/// the environment, as a command line does.
pub fn run_with(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => {
            let code = match err.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 1,
            };
            let _ = err.print();
            return code;
        }
    };
    let result = Context::from_process(&args).and_then(|ctx| dispatch(&ctx, cli.command));
    match result {
        Ok(()) => 0,
        Err(err) => error::report(&err),
    }
}

fn dispatch(ctx: &Context, command: Command) -> Result<(), CliError> {
    match command {
        Command::Init(args) => cmd_init(ctx, args),
        Command::Commit(args) => commit::cmd_commit(ctx, args),
        Command::Ls(args) => read::cmd_ls(ctx, args),
        Command::Log(args) => read::cmd_log(ctx, args),
        Command::Show(args) => read::cmd_show(ctx, args),
        Command::Schema(args) => read::cmd_schema(ctx, args),
        Command::Rows(args) => read::cmd_rows(ctx, args),
        Command::Lineage(args) => read::cmd_lineage(ctx, args),
        Command::Diff(args) => diff::cmd_diff(ctx, args),
        Command::Status(args) => diff::cmd_status(ctx, args),
        Command::Query(args) => query::cmd_query(ctx, args),
        Command::Export(args) => query::cmd_export(ctx, args),
        Command::Tag(args) => tag::cmd_tag(ctx, args),
        Command::Remote(args) => remote::cmd_remote(ctx, args),
        Command::Iceberg(args) => remote::cmd_iceberg(ctx, args),
        Command::Push(args) => remote::cmd_push(ctx, args),
        Command::Pull(args) => remote::cmd_pull(ctx, args),
        Command::Clone(args) => remote::cmd_clone(ctx, args),
        Command::Checkout(args) => checkout::cmd_checkout(ctx, args),
        Command::Lock(args) => checkout::cmd_lock(ctx, args),
        Command::Verify(args) => checkout::cmd_verify(ctx, args),
        Command::Map(args) => map::cmd_map(ctx, args),
        Command::Jobs(args) => map::cmd_jobs(ctx, args),
        Command::Fsck(args) => read::cmd_fsck(ctx, args),
        Command::Gc(args) => read::cmd_gc(ctx, args),
        Command::Summary(args) => summary::cmd_summary(ctx, args),
        Command::Mcp(args) => mcp::cmd_mcp(ctx, args),
        Command::Agents(args) => agents::cmd_agents(ctx, args),
        Command::Completions(args) => completions::cmd_completions(args),
    }
}

fn cmd_init(ctx: &Context, args: InitArgs) -> Result<(), CliError> {
    let dir = match &ctx.pail_dir {
        Some(dir) => ctx.cwd.join(dir),
        None => ctx.cwd.join(PAIL_DIR),
    };
    let (repo, created) = Repo::init(&dir)?;
    let mut out = output::stdout();
    if args.json {
        output::print_json(
            &mut out,
            &crate::view::to_json(&crate::view::InitView::new(repo.dir(), created)),
        )?;
    } else if created {
        writeln!(
            out,
            "Initialized empty pail repository in {}",
            repo.dir().display()
        )?;
    } else {
        writeln!(
            out,
            "Reinitialized existing pail repository in {}",
            repo.dir().display()
        )?;
    }
    out.flush()?;
    Ok(())
}
