//! `pail map` and `pail jobs`: compute over the rows of a dataset.

use std::io::Write;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use crate::commit::CommitOutcome;
use crate::map::{MapOptions, MapProgress};
use crate::view::{JobView, MapView, to_json};

use super::output;
use super::{CliError, Context};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The command is started once per worker. It reads one JSON row per line on stdin
(with --fetch, plus \"local_path\": the file's bytes on local disk) and writes one JSON
object per line on stdout, in the same order. Its fields are added to the row (or, with
--replace, are the row). A JSON string instead of an object fails the row, with that
string as the reason. Output lines are read as commit reads records: a number keeps its
exact text for a decimal column, and NaN, Infinity and -Infinity are floats.

Examples:
  pail map docs --run 'python3 extract.py' --to docs_meta --jobs 8
  pail map docs --run 'python3 extract.py' --to docs_meta --delta   # only new and changed rows"
)]
pub struct MapArgs {
    /// The input version, NAME[@V]
    pub input: String,
    /// The command to run (through `sh -c`), once per worker
    #[arg(long, value_name = "CMD")]
    pub run: String,
    /// The dataset to save the results as
    #[arg(long, value_name = "NAME")]
    pub to: String,
    /// Workers running at once
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Results are the rows (instead of columns added to the input rows)
    #[arg(long)]
    pub replace: bool,
    /// JSON Schema the results must follow (a result that breaks it is an error for its row)
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Rows that may fail before the run refuses to save its output
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub max_errors: u64,
    /// Run every row even if a cached result exists
    #[arg(long)]
    pub no_cache: bool,
    /// Run only rows added or changed since the input version the last output was made from
    #[arg(long)]
    pub delta: bool,
    /// Discard what an interrupted run with the same arguments persisted, and start over
    #[arg(long)]
    pub restart: bool,
    /// Download each row's File first; the worker gets its path as "local_path"
    #[arg(long)]
    pub fetch: bool,
    /// A code file the results depend on, hashed into the cache key and embedded in the
    /// lineage (can be repeated)
    #[arg(long, value_name = "FILE")]
    pub code: Vec<PathBuf>,
    /// Message for the output version
    #[arg(short, long, default_value = "")]
    pub message: String,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    /// Discard an unfinished run, by job id (prefix)
    #[arg(long, value_name = "JOB")]
    pub discard: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

/// The progress bar `pail map` draws on a terminal (hidden otherwise); the Python
/// package's `repo.map` draws the same one.
pub struct MapBar {
    bar: ProgressBar,
}

impl MapBar {
    /// A bar drawn on stderr when `visible` (stderr is a terminal), else a hidden one.
    pub fn new(visible: bool) -> MapBar {
        let bar = if visible {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} rows ({eta})")
                    .expect("the template is valid"),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        MapBar { bar }
    }

    /// Clears the bar when the run ends.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl MapProgress for MapBar {
    fn rows(&self, done: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
    }
}

pub fn cmd_map(ctx: &Context, args: MapArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let input = repo.parse_ref(&args.input)?;
    let to = repo.parse_name(&args.to)?;
    let schema = args
        .schema
        .as_deref()
        .map(|path| super::commit::read_schema_file(ctx, path))
        .transpose()?;
    let mut code = Vec::new();
    for path in &args.code {
        let bytes = std::fs::read(ctx.cwd.join(path)).map_err(|source| CliError::Io {
            what: format!("code file {}", path.display()),
            source,
        })?;
        code.push((path.display().to_string(), bytes));
    }
    let commit =
        super::commit::commit_options(ctx, to.clone(), args.message.clone(), code.clone())?;
    let options = MapOptions {
        input,
        command: args.run.clone(),
        to,
        jobs: args.jobs,
        replace: args.replace,
        schema,
        max_errors: args.max_errors,
        no_cache: args.no_cache,
        delta: args.delta,
        restart: args.restart,
        named_files: crate::map::named_files(&args.run, &ctx.cwd),
        code,
        cwd: ctx.cwd.clone(),
        fetch: args.fetch,
        store_options: ctx.store_options.clone(),
        commit,
    };
    let progress = MapBar::new(ctx.stderr_is_terminal);
    let result = crate::map::map(&repo, &options, &progress);
    progress.finish();
    let result = result?;
    let report = &result.stats;
    let mut out = output::stdout();
    let (created, version) = match &result.outcome {
        CommitOutcome::Created { name, version, .. } => (true, format!("{name}@{version}")),
        CommitOutcome::Unchanged { name, version, .. } => (false, format!("{name}@{version}")),
    };
    if args.json {
        output::print_json(&mut out, &to_json(&MapView::new(&result)))?;
    } else {
        let remote_cached: String = report
            .remote_cached
            .iter()
            .map(|(remote, n)| format!(", {n} from {remote}'s cache"))
            .collect();
        writeln!(
            out,
            "{} {version}: {} rows ran, {} resumed, {} from cache{remote_cached}, {} carried over, {} removed, {} failed",
            if created {
                "created"
            } else {
                "nothing changed:"
            },
            report.ran,
            report.resumed,
            report.cached,
            report.carried,
            report.removed,
            report.failed
        )?;
    }
    out.flush()?;
    Ok(())
}

pub fn cmd_jobs(ctx: &Context, args: JobsArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let mut out = output::stdout();
    if let Some(job) = &args.discard {
        let discarded = crate::map::discard_job(&repo, job)?;
        writeln!(out, "discarded run {discarded}")?;
        out.flush()?;
        return Ok(());
    }
    let jobs = crate::map::jobs(&repo)?;
    if args.json {
        output::print_json(&mut out, &to_json(&JobView::all(&jobs)))?;
    } else if jobs.is_empty() {
        writeln!(out, "no unfinished runs")?;
    } else {
        let rows: Vec<Vec<String>> = jobs
            .iter()
            .map(|job| {
                vec![
                    job.job.clone(),
                    job.input.clone(),
                    job.to.clone(),
                    job.done.to_string(),
                    job.command.clone(),
                ]
            })
            .collect();
        output::print_table(&mut out, &["JOB", "INPUT", "TO", "DONE", "COMMAND"], &rows)?;
    }
    out.flush()?;
    Ok(())
}
