//! `pail remote`, `push`, `pull` and `clone`: sync metadata through a bucket.

use std::io::Write;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use crate::Repo;
use crate::remote::{
    self, AddOptions, PullOptions, PullReport, PushOptions, PushReport, RemoteSettings,
    SyncProgress, normalize_url,
};
use crate::repo::PAIL_DIR;
use crate::view::{CloneView, IcebergView, PullView, PushView, RemoteView, to_json};

use super::output::{self, human_bytes};
use super::{CliError, Context};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pail remote add origin s3://team-bucket/pail
  pail remote add shared /mnt/shared/pail --trust-cache
  pail remote set origin --trust-cache true
  pail remote upgrade origin
  pail remote list
  pail remote remove origin")]
pub struct RemoteArgs {
    #[command(subcommand)]
    pub command: RemoteCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RemoteCommand {
    /// Add a remote: a prefix in a bucket (s3://, gs://, az://) or a directory
    Add {
        /// Remote name, e.g. origin
        name: String,
        /// s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, file:///dir or a path
        url: String,
        /// Use the `pail map` results this remote's cache holds (pulled by a full pull).
        /// Off by default: anyone who can write to the remote can plant a result
        #[arg(long)]
        trust_cache: bool,
    },
    /// Change a remote's settings
    Set {
        /// Remote name
        name: String,
        /// Whether to use the `pail map` results this remote's cache holds
        #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
        trust_cache: Option<bool>,
    },
    /// List remotes
    List {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove a remote and what this repository recorded about it
    Remove {
        /// Remote name
        name: String,
    },
    /// Move a remote to the current layout format (format 2: leaves are plain Parquet
    /// files that other engines read in place). Run it while nobody pushes; running it
    /// again finishes an upgrade that raced a push
    Upgrade {
        /// Remote name
        name: String,
    },
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pail push                  # every version and tag origin lacks
  pail push origin photos    # one dataset (and the inputs its lineage names)

On a format-2 remote a push then publishes each pushed dataset's Iceberg table
(`pail iceberg NAME` shows it); a table that already names the remote's refs is left as is.")]
pub struct PushArgs {
    /// Remote name (default: origin, or the only remote)
    pub remote: Option<String>,
    /// Datasets to push (default: all)
    pub datasets: Vec<String>,
    /// Move tags even if they moved on the remote since the last pull
    #[arg(long)]
    pub force: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pail iceberg team.vision.clips             # on origin (or the only remote)
  pail iceberg clips --remote backup --json

Each dataset pushed to a format-2 remote is an Iceberg v2 table: every version a snapshot
tagged with its semver, every pail tag a tag, the branch `main` the newest version.")]
pub struct IcebergArgs {
    /// Dataset name
    pub dataset: String,
    /// Remote name (default: origin, or the only remote)
    #[arg(long)]
    pub remote: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Remote name (default: origin, or the only remote)
    pub remote: Option<String>,
    /// Datasets to pull (default: all)
    pub datasets: Vec<String>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CloneArgs {
    /// The remote to clone: s3://bucket/prefix, gs://…, az://…, file:///dir or a path
    pub url: String,
    /// Directory to create (default: the last part of the URL)
    pub dir: Option<PathBuf>,
    /// Use the `pail map` results origin's cache holds (see `pail remote add --trust-cache`)
    #[arg(long)]
    pub trust_cache: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

struct SyncBar {
    bar: ProgressBar,
}

impl SyncBar {
    fn new(visible: bool, verb: &str) -> SyncBar {
        let bar = if visible {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{verb} {{bar:30}} {{pos}}/{{len}} objects, {{msg}}"
                ))
                .expect("the template is valid"),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        SyncBar { bar }
    }
}

impl SyncProgress for SyncBar {
    fn objects(&self, done: u64, total: u64, bytes: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
        self.bar.set_message(human_bytes(bytes));
    }
}

fn trust_note(settings: &RemoteSettings) -> &'static str {
    if settings.trust_cache {
        " (map cache trusted)"
    } else {
        ""
    }
}

pub fn cmd_remote(ctx: &Context, args: RemoteArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let mut out = output::stdout();
    match args.command {
        RemoteCommand::Add {
            name,
            url,
            trust_cache,
        } => {
            let settings = RemoteSettings { trust_cache };
            let url = remote::add(
                &repo,
                &AddOptions {
                    name: &name,
                    url: &url,
                    cwd: &ctx.cwd,
                    settings: settings.clone(),
                },
            )?;
            writeln!(out, "added remote {name} {url}{}", trust_note(&settings))?;
        }
        RemoteCommand::Set { name, trust_cache } => {
            let mut settings = remote::settings(&repo, &name)?;
            if let Some(trust_cache) = trust_cache {
                settings.trust_cache = trust_cache;
            }
            remote::set_settings(&repo, &name, &settings)?;
            writeln!(
                out,
                "remote {name}: {}",
                if settings.trust_cache {
                    "its map cache is trusted"
                } else {
                    "its map cache is not used"
                }
            )?;
        }
        RemoteCommand::List { json } => {
            let listed = remote::list(&repo)?;
            if json {
                output::print_json(
                    &mut out,
                    &to_json(&listed.iter().map(RemoteView::new).collect::<Vec<_>>()),
                )?;
            } else {
                for remote in listed {
                    writeln!(
                        out,
                        "{}\t{}{}",
                        remote.name,
                        remote.url,
                        trust_note(&remote.settings)
                    )?;
                }
            }
        }
        RemoteCommand::Remove { name } => {
            remote::remove(&repo, &name)?;
            writeln!(out, "removed remote {name}")?;
        }
        RemoteCommand::Upgrade { name } => {
            let report = remote::upgrade(&repo, &name, &ctx.store_options)?;
            if report.from == report.to && report.leaves_moved == 0 {
                writeln!(out, "remote {name} already has format {}", report.to)?;
            } else {
                writeln!(
                    out,
                    "remote {name}: format {} -> {}, {} leaves moved ({})",
                    report.from,
                    report.to,
                    report.leaves_moved,
                    human_bytes(report.bytes_moved)
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Splits `[REMOTE] [DATASET...]`: the first word is a remote when one has that name.
fn remote_and_datasets(
    repo: &Repo,
    remote: Option<String>,
    mut datasets: Vec<String>,
) -> Result<(String, Vec<crate::DatasetName>), CliError> {
    let names: Vec<String> = remote::list(repo)?
        .into_iter()
        .map(|remote| remote.name)
        .collect();
    let remote = match remote {
        Some(word) if names.contains(&word) => word,
        Some(word) => {
            datasets.insert(0, word);
            remote::default_name(repo)?
        }
        None => remote::default_name(repo)?,
    };
    let datasets = datasets
        .iter()
        .map(|text| repo.parse_name(text))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((remote, datasets))
}

pub fn cmd_push(ctx: &Context, args: PushArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let (remote, datasets) = remote_and_datasets(&repo, args.remote, args.datasets)?;
    let bar = SyncBar::new(ctx.stderr_is_terminal, "pushing");
    let options = PushOptions {
        remote: &remote,
        datasets: &datasets,
        force: args.force,
        store_options: &ctx.store_options,
    };
    let result = remote::push(&repo, &options, &bar);
    bar.bar.finish_and_clear();
    let report = result?;
    print_push(&remote, &report, args.json)
}

fn print_push(remote: &str, report: &PushReport, as_json: bool) -> Result<(), CliError> {
    let mut out = output::stdout();
    if as_json {
        output::print_json(&mut out, &to_json(&PushView::new(remote, report)))?;
    } else {
        for version in &report.versions_created {
            writeln!(out, "pushed {version}")?;
        }
        for tag in &report.tags_updated {
            writeln!(out, "pushed tag {tag}")?;
        }
        writeln!(
            out,
            "{remote}: {} objects uploaded ({}), {} already there, {} refs up to date",
            report.objects_uploaded,
            human_bytes(report.bytes_uploaded),
            report.objects_present,
            report.up_to_date
        )?;
        if report.remote_format < 2 {
            eprintln!(
                "note: {remote} has remote format {}: other engines cannot read its leaves in place; `pail remote upgrade {remote}` moves it to format 2",
                report.remote_format
            );
        }
    }
    out.flush()?;
    Ok(())
}

pub fn cmd_iceberg(ctx: &Context, args: IcebergArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let remote = match args.remote {
        Some(name) => name,
        None => remote::default_name(&repo)?,
    };
    let dataset = repo.parse_name(&args.dataset)?;
    let info = remote::iceberg_table(&repo, &remote, &ctx.store_options, &dataset)?;
    let view = IcebergView::new(&remote, &info);
    let mut out = output::stdout();
    if args.json {
        output::print_json(&mut out, &to_json(&view))?;
    } else {
        writeln!(out, "table     {}", view.location)?;
        writeln!(out, "metadata  {}", view.metadata)?;
        let refs: Vec<String> = view.refs.iter().map(|found| found.name.clone()).collect();
        writeln!(out, "refs      {}", refs.join(", "))?;
        for snippet in &view.snippets {
            let tested = if snippet.tested { "" } else { " (untested)" };
            writeln!(
                out,
                "\n# {}{tested}\n{}",
                snippet.engine,
                snippet.code.trim_end()
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

pub fn cmd_pull(ctx: &Context, args: PullArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let (remote, datasets) = remote_and_datasets(&repo, args.remote, args.datasets)?;
    let bar = SyncBar::new(ctx.stderr_is_terminal, "pulling");
    let options = PullOptions {
        remote: &remote,
        datasets: &datasets,
        store_options: &ctx.store_options,
    };
    let result = remote::pull(&repo, &options, &bar);
    bar.bar.finish_and_clear();
    let report = result?;
    print_pull(&remote, &report, args.json)
}

fn print_pull(remote: &str, report: &PullReport, as_json: bool) -> Result<(), CliError> {
    let mut out = output::stdout();
    for renumbered in &report.renumbered {
        eprintln!(
            "warning: your unpushed {} is now version {}: {remote} already had that number for another commit",
            renumbered.from, renumbered.to
        );
    }
    for diverged in &report.tags_diverged {
        eprintln!(
            "warning: tag {} diverged: yours points at {}, {remote}'s at {}; kept yours (push it with `--force`, or move it with `pail tag --force`)",
            diverged.tag,
            diverged.local.short(),
            diverged.remote.short()
        );
    }
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if as_json {
        output::print_json(&mut out, &to_json(&PullView::new(remote, report)))?;
    } else {
        for version in &report.versions_added {
            writeln!(out, "pulled {version}")?;
        }
        for tag in &report.tags_updated {
            writeln!(out, "updated tag {tag}")?;
        }
        writeln!(
            out,
            "{remote}: {} objects downloaded ({})",
            report.objects_downloaded,
            human_bytes(report.bytes_downloaded)
        )?;
    }
    out.flush()?;
    Ok(())
}

pub fn cmd_clone(ctx: &Context, args: CloneArgs) -> Result<(), CliError> {
    let url = normalize_url(&args.url, &ctx.cwd)?;
    let dir = match &args.dir {
        Some(dir) => ctx.cwd.join(dir),
        None => {
            let last = url
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .filter(|part| !part.is_empty())
                .unwrap_or("pail");
            ctx.cwd.join(last)
        }
    };
    let existed = dir.exists();
    if existed
        && std::fs::read_dir(&dir)
            .map(|mut it| it.next().is_some())
            .unwrap_or(true)
    {
        return Err(CliError::Usage {
            message: format!("{} already exists and is not empty", dir.display()),
            hint: Some("give another directory: `pail clone URL DIR`".into()),
        });
    }
    let result = (|| -> Result<PullReport, CliError> {
        let (repo, _) = Repo::init(&dir.join(PAIL_DIR))?;
        let settings = RemoteSettings {
            trust_cache: args.trust_cache,
        };
        remote::add(
            &repo,
            &AddOptions {
                name: "origin",
                url: &url,
                cwd: &ctx.cwd,
                settings,
            },
        )?;
        let bar = SyncBar::new(ctx.stderr_is_terminal, "cloning");
        let options = PullOptions {
            remote: "origin",
            datasets: &[],
            store_options: &ctx.store_options,
        };
        let result = remote::pull(&repo, &options, &bar);
        bar.bar.finish_and_clear();
        Ok(result?)
    })();
    match result {
        Ok(report) => {
            if args.json {
                let mut out = output::stdout();
                output::print_json(&mut out, &to_json(&CloneView::new(&dir, &url, &report)))?;
                out.flush()?;
                Ok(())
            } else {
                eprintln!("cloned {url} into {}", dir.display());
                print_pull("origin", &report, false)
            }
        }
        Err(err) => {
            // Like git: a failed clone leaves no half-made directory behind.
            if existed {
                let _ = std::fs::remove_dir_all(dir.join(PAIL_DIR));
            } else {
                let _ = std::fs::remove_dir_all(&dir);
            }
            Err(err)
        }
    }
}
