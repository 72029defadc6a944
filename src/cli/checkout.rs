//! `pail checkout`, `pail lock` and `pail verify`: exactly pinned bytes for CI.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::checkout::{CheckoutOptions, CheckoutProgress, CheckoutReport, VerifyOptions};
use crate::lock::{LockEntry, LockError, LockFile};
use crate::remote::{DatasetVersion, NoSyncProgress, Pin, PinPlace, RemoteError};
use crate::view::{CheckoutView, PinView, VerifyView, to_json};
use crate::{CommitId, DatasetName, ObjectId, Repo, RepoError};
use indicatif::{ProgressBar, ProgressStyle};

use super::output::{self, human_bytes};
use super::{CliError, Context};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pail checkout photos@1.0.1 --to data/photos
  pail checkout photos@golden --to data/photos --include '**/*.jpg'
  pail checkout --locked --to data/      # every dataset pinned in pail.lock, into data/<name>/")]
pub struct CheckoutArgs {
    /// The version to check out, NAME@V
    #[arg(required_unless_present = "locked")]
    pub target: Option<String>,
    /// Directory to write the files into (created if missing)
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Check out every dataset pinned in pail.lock, each into DIR/<full name>
    #[arg(long, conflicts_with = "target")]
    pub locked: bool,
    /// Only files whose path matches GLOB (`*`, `?`, `**`) (can be repeated)
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Only rows matching this SQL predicate, e.g. "file_ext(file.path) = 'jpg' AND file.size > 1000"
    #[arg(long = "where", value_name = "SQL", conflicts_with = "locked")]
    pub where_: Option<String>,
    /// Report every missing or changed file at the end instead of stopping at the first
    #[arg(long)]
    pub keep_going: bool,
    /// Remove files in DIR that are not part of the version
    #[arg(long)]
    pub clean: bool,
    /// Also fetch File rows that record no size, etag, version or blake3 (their bytes
    /// cannot be checked; refused otherwise)
    #[arg(long)]
    pub allow_unverified: bool,
    /// Also read file:// sources of a version fetched from a remote (pulled, or for
    /// pail.lock): they name files on this machine (refused otherwise)
    #[arg(long)]
    pub allow_local_sources: bool,
    /// With --locked: fetch from a remote pail.lock names even when it is not one of this
    /// repository's remotes (the environment's store credentials are sent to it)
    #[arg(long, requires = "locked")]
    pub allow_unlisted_remote: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pail lock add team.vision.clean_images@2.1.0
  pail lock list
  pail lock remove team.vision.clean_images")]
pub struct LockArgs {
    #[command(subcommand)]
    pub command: LockCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum LockCommand {
    /// Pin a version in pail.lock (at the git work tree's root, or the nearest existing one)
    Add {
        /// NAME@V to pin
        target: String,
        /// The remote CI fetches it from (default: origin, or the only remote)
        #[arg(long)]
        remote: Option<String>,
    },
    /// Unpin a dataset
    Remove {
        /// Dataset name
        name: String,
    },
    /// List pinned datasets
    List {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The version to verify, NAME@V
    pub target: String,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new(visible: bool) -> Bar {
        let bar = if visible {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} files, {msg}")
                    .expect("the template is valid"),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        Bar { bar }
    }
}

impl CheckoutProgress for Bar {
    fn start(&self, total_files: u64, _total_bytes: u64) {
        self.bar.set_length(total_files);
    }
    fn advance(&self, files: u64, bytes: u64) {
        self.bar.set_position(files);
        self.bar.set_message(human_bytes(bytes));
    }
}

fn print_report(
    out: &mut output::Out,
    name: &str,
    dir: &Path,
    report: &CheckoutReport,
) -> std::io::Result<()> {
    writeln!(
        out,
        "checked out {name} into {}: {} files written ({}), {} already in place{}",
        dir.display(),
        report.files_written,
        human_bytes(report.bytes_written),
        report.files_skipped,
        if report.files_removed > 0 {
            format!(", {} removed", report.files_removed)
        } else {
            String::new()
        }
    )
}

fn note_versions(report: &CheckoutReport) {
    if !report.all_versioned {
        eprintln!(
            "note: no object versions are recorded for (some of) these files, so checkout relied on etag and size checks; \
             commit with --versions on a versioned bucket to fetch exact bytes after an overwrite"
        );
    }
}

pub fn cmd_checkout(ctx: &Context, args: CheckoutArgs) -> Result<(), CliError> {
    let mut options = CheckoutOptions {
        keep_going: args.keep_going,
        clean: args.clean,
        include: args.include.clone(),
        only: None,
        allow_unverified: args.allow_unverified,
        allow_local_sources: args.allow_local_sources,
        store_options: ctx.store_options.clone(),
    };
    let to = ctx.cwd.join(&args.to);
    let mut out = output::stdout();
    if args.locked {
        return checkout_locked(ctx, &args, &options, &to);
    }
    let repo = ctx.repo()?;
    let target = repo.parse_ref(args.target.as_deref().expect("clap requires it"))?;
    let found = repo.resolve(&target)?;
    if let Some(predicate) = &args.where_ {
        options.only = Some(selected_files(&repo, &found, predicate)?);
    }
    let bar = Bar::new(ctx.stderr_is_terminal);
    let result = crate::checkout::checkout(&repo, &found.id, &to, &options, &bar);
    bar.bar.finish_and_clear();
    let report = result?;
    let label = found.label();
    if args.json {
        output::print_json(&mut out, &to_json(&CheckoutView::new(&label, &to, &report)))?;
    } else {
        print_report(&mut out, &label, &to, &report)?;
        note_versions(&report);
    }
    out.flush()?;
    Ok(())
}

/// The (source, path) of the files whose rows match a SQL predicate, through the query
/// engine, on exactly the resolved commit.
fn selected_files(
    repo: &Repo,
    found: &crate::repo::Resolved,
    predicate: &str,
) -> Result<std::collections::HashSet<(String, String)>, CliError> {
    let column = crate::checkout::file_column(repo, &found.commit)?;
    let sql = format!(
        "SELECT \"{column}\".source AS source, \"{column}\".path AS path FROM \"{}@{}\" WHERE {predicate}",
        found.name,
        found.id.to_hex()
    );
    let runtime = tokio::runtime::Runtime::new().map_err(|source| CliError::Io {
        what: "a runtime for the query".into(),
        source,
    })?;
    let rows = runtime
        .block_on(async {
            let frame = crate::query::sql(repo, &sql).await?;
            let batches = frame.collect().await?;
            crate::query::batches_to_json(&batches)
        })
        .map_err(|err| CliError::Usage {
            message: format!("--where {predicate}: {err}"),
            hint: Some(
                "give a SQL predicate over the version's columns, e.g. \"file.size > 1000\"".into(),
            ),
        })?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some((
                row.get("source")?.as_str()?.to_string(),
                row.get("path")?.as_str()?.to_string(),
            ))
        })
        .collect())
}

/// The repository to check pinned versions out of: this one, or a cache for the lock's
/// remotes when there is none (a fresh CI runner).
fn locked_repo(ctx: &Context) -> Result<Repo, CliError> {
    match ctx.repo() {
        Ok(repo) => Ok(repo),
        Err(CliError::Repo(RepoError::NotARepository { .. })) => {
            let base = match (&ctx.cache_dir, &ctx.home) {
                (Some(dir), _) => dir.clone(),
                (None, Some(home)) => home.join(".cache/pail"),
                (None, None) => ctx.cwd.join(".pail-cache"),
            };
            let (repo, _) = Repo::init(&base.join("locked/.pail"))?;
            Ok(repo)
        }
        Err(err) => Err(err),
    }
}

fn checkout_locked(
    ctx: &Context,
    args: &CheckoutArgs,
    options: &CheckoutOptions,
    to: &Path,
) -> Result<(), CliError> {
    let lock_path = crate::lock::find(&ctx.cwd).ok_or_else(|| LockError::NotFound {
        start: ctx.cwd.clone(),
    })?;
    let lock = LockFile::read(&lock_path)?;
    let repo = locked_repo(ctx)?;
    let mut out = output::stdout();
    let mut results = Vec::new();
    for entry in &lock.entries {
        let name = DatasetName::parse_full(&entry.name)?;
        let version = semver::Version::parse(&entry.version).map_err(|_| CliError::Usage {
            message: format!(
                "{}: `{}` in {} is not a semver",
                entry.name,
                entry.version,
                lock_path.display()
            ),
            hint: Some("fix pail.lock, or pin again with `pail lock add NAME@V`".into()),
        })?;
        let commit_id =
            CommitId(ObjectId::from_hex(&entry.commit).expect("checked when the lock was read"));
        let pin = Pin {
            name,
            version,
            commit: commit_id,
        };
        if repo.commit(&commit_id).is_err() {
            fetch_pin(ctx, args, &repo, entry, &pin)?;
        }
        let Pin { name, version, .. } = pin;
        // The local version ref, if any, must still name the pinned commit.
        if let Ok(found) = repo.resolve(&crate::DatasetRef {
            name: name.clone(),
            version: crate::VersionSpec::Semver(version.clone()),
        }) && found.id != commit_id
        {
            return Err(RemoteError::PinMoved {
                version: Box::new(DatasetVersion {
                    name: name.clone(),
                    version: version.clone(),
                }),
                pinned: commit_id,
                found: found.id,
                place: PinPlace::Local,
            }
            .into());
        }
        let dir = to.join(&entry.name);
        let bar = Bar::new(ctx.stderr_is_terminal);
        let result = crate::checkout::checkout(&repo, &commit_id, &dir, options, &bar);
        bar.bar.finish_and_clear();
        let report = result?;
        let label = format!("{}@{}", entry.name, entry.version);
        if !args.json {
            print_report(&mut out, &label, &dir, &report)?;
            note_versions(&report);
        }
        results.push((label, dir, report));
    }
    if args.json {
        let shown: Vec<CheckoutView> = results
            .iter()
            .zip(&lock.entries)
            .map(|((label, dir, report), entry)| {
                CheckoutView::new(label, dir, report).with_remote(&entry.remote)
            })
            .collect();
        output::print_json(&mut out, &to_json(&shown))?;
    } else if lock.entries.is_empty() {
        writeln!(
            out,
            "{} pins nothing; `pail lock add NAME@V` pins a version",
            lock_path.display()
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Fetches a pinned commit this repository lacks from the remote pail.lock names.
fn fetch_pin(
    ctx: &Context,
    args: &CheckoutArgs,
    repo: &Repo,
    entry: &LockEntry,
    pin: &Pin,
) -> Result<(), CliError> {
    if entry.remote.is_empty() {
        return Err(RemoteError::PinUnavailable {
            name: Box::new(pin.name.clone()),
            commit: pin.commit,
            remote: None,
        }
        .into());
    }
    // The lock's remote (normalised when read) is input: the environment's
    // credentials go only to a remote in the remotes table, unless asked.
    let listed = crate::remote::list(repo)?
        .iter()
        .any(|remote| remote.url == entry.remote);
    if !listed && !args.allow_unlisted_remote {
        return Err(LockError::UnlistedRemote {
            name: pin.name.clone(),
            remote: entry.remote.clone(),
        }
        .into());
    }
    eprintln!(
        "fetching {}@{} ({}) from {}{}",
        entry.name,
        entry.version,
        pin.commit.short(),
        entry.remote,
        if listed {
            ""
        } else {
            " (not one of this repository's remotes)"
        }
    );
    crate::remote::fetch_pinned(
        repo,
        &crate::remote::FetchPinnedOptions {
            url: &entry.remote,
            pins: std::slice::from_ref(pin),
            store_options: &ctx.store_options,
        },
        &NoSyncProgress,
    )?;
    Ok(())
}

pub fn cmd_lock(ctx: &Context, args: LockArgs) -> Result<(), CliError> {
    let mut out = output::stdout();
    match args.command {
        LockCommand::Add { target, remote } => {
            let repo = ctx.repo()?;
            let found = repo.resolve(&repo.parse_ref(&target)?)?;
            let Some(version) = found.version.clone() else {
                return Err(CliError::Usage {
                    message: format!("{target} names a commit that no version points at"),
                    hint: Some("pin a version: NAME@1.2.3, a tag or `latest`".into()),
                });
            };
            let remote_url = match remote {
                Some(name) => crate::remote::url(&repo, &name)?,
                None => match crate::remote::default_name(&repo)
                    .and_then(|name| crate::remote::url(&repo, &name))
                {
                    Ok(url) => url,
                    Err(_) => {
                        eprintln!(
                            "warning: no remote: a runner without this repository cannot fetch the pin; add one with `pail remote add origin URL` and pin again"
                        );
                        String::new()
                    }
                },
            };
            let path = crate::lock::default_location(&ctx.cwd);
            let mut lock = if path.is_file() {
                LockFile::read(&path)?
            } else {
                LockFile::default()
            };
            lock.pin(LockEntry {
                name: found.name.to_string(),
                version: version.to_string(),
                commit: found.id.to_hex(),
                remote: remote_url,
            });
            lock.write(&path)?;
            writeln!(
                out,
                "pinned {}@{version} ({}) in {}",
                found.name,
                found.id.short(),
                path.display()
            )?;
        }
        LockCommand::Remove { name } => {
            let path = crate::lock::find(&ctx.cwd).ok_or_else(|| LockError::NotFound {
                start: ctx.cwd.clone(),
            })?;
            let mut lock = LockFile::read(&path)?;
            let full = DatasetName::parse(&name, &crate::NameDefaults::default())
                .map(|n| n.to_string())
                .unwrap_or(name.clone());
            if !lock.unpin(&full) && !lock.unpin(&name) {
                return Err(LockError::NotPinned { name, path }.into());
            }
            lock.write(&path)?;
            writeln!(out, "unpinned {full}")?;
        }
        LockCommand::List { json } => {
            let lock = match crate::lock::find(&ctx.cwd) {
                Some(path) => LockFile::read(&path)?,
                None => LockFile::default(),
            };
            if json {
                output::print_json(&mut out, &to_json(&PinView::all(&lock.entries)))?;
            } else {
                let rows: Vec<Vec<String>> = lock
                    .entries
                    .iter()
                    .map(|e| {
                        vec![
                            e.name.clone(),
                            e.version.clone(),
                            e.commit[..12].to_string(),
                            e.remote.clone(),
                        ]
                    })
                    .collect();
                output::print_table(&mut out, &["NAME", "VERSION", "COMMIT", "REMOTE"], &rows)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

pub fn cmd_verify(ctx: &Context, args: VerifyArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let found = repo.resolve(&repo.parse_ref(&args.target)?)?;
    let bar = Bar::new(ctx.stderr_is_terminal);
    let options = VerifyOptions {
        store_options: ctx.store_options.clone(),
    };
    let result = crate::checkout::verify(&repo, &found.commit, &options, &bar);
    bar.bar.finish_and_clear();
    let report = result?;
    let label = found.label();
    let mut out = output::stdout();
    if args.json {
        output::print_json(&mut out, &to_json(&VerifyView::new(&label, &report)))?;
    } else {
        for problem in &report.missing {
            writeln!(out, "missing  {}: {}", problem.path, problem.detail)?;
        }
        for problem in &report.changed {
            writeln!(out, "changed  {}: {}", problem.path, problem.detail)?;
        }
        writeln!(
            out,
            "{label}: {} unchanged, {} changed, {} missing",
            report.unchanged,
            report.changed.len(),
            report.missing.len()
        )?;
        let any_problem = !report.changed.is_empty() || !report.missing.is_empty();
        if !report.all_versioned && any_problem {
            writeln!(
                out,
                "note: no object versions were recorded (the store has no versioning, or the commit was made without --versions): a changed object cannot be recovered"
            )?;
        } else if !report.all_versioned {
            eprintln!(
                "note: no object versions were recorded: if an object changes, its old bytes cannot be recovered"
            );
        }
    }
    out.flush()?;
    if !report.changed.is_empty() || !report.missing.is_empty() {
        return Err(CliError::Silent(1));
    }
    Ok(())
}
