//! `pail commit`: save a new version from a storage listing or from JSON records.

use std::io::Write;
use std::path::PathBuf;

use crate::commit::{self, CommitOptions, CommitOutcome, ListingOptions, Records, RecordsOptions};
use crate::listing::parse_source;
use crate::view::{CommitView, to_json};
use crate::{Bump, Schema, lineage};

use super::output::{self, ListingProgress, human_bytes};
use super::{CliError, Context};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pail commit photos ./photos -m \"first listing\"
  pail commit photos s3://bucket/images --hash
  pail commit team.vision.clips --from clips.jsonl --schema clip.schema.json --input photos@1.0.1 --code make_clips.py")]
pub struct CommitArgs {
    /// Dataset name: [namespace.[project.]]name
    pub name: String,
    /// Directory or URI to list: ./dir, file:///abs/dir, s3://bucket/prefix, gs://…, az://…
    pub source: Option<String>,
    /// Read JSON records (one object per line) from FILE, or - for stdin
    #[arg(long, value_name = "FILE", conflicts_with = "source")]
    pub from: Option<String>,
    /// Declared JSON Schema for the records (e.g. Pydantic's model_json_schema())
    #[arg(long, value_name = "FILE", requires = "from")]
    pub schema: Option<PathBuf>,
    /// Comma-separated key columns of the records (default: the File column, else the row's hash)
    #[arg(long, value_name = "COLS", requires = "from")]
    pub key: Option<String>,
    /// A dataset version this one was made from, NAME@V (can be repeated)
    #[arg(long, value_name = "NAME@V")]
    pub input: Vec<String>,
    /// A code file to embed in the lineage (can be repeated)
    #[arg(long, value_name = "FILE")]
    pub code: Vec<PathBuf>,
    /// Message describing the version
    #[arg(short, long, default_value = "")]
    pub message: String,
    /// Which part of the version to increment
    #[arg(long, value_enum)]
    pub bump: Option<BumpArg>,
    /// Also record the BLAKE3 hash of every file (reads every new or changed file; a file
    /// unchanged since the latest version keeps the hash it recorded, with or without
    /// --hash)
    #[arg(long, conflicts_with = "from")]
    pub hash: bool,
    /// Also record each object's version id (a HEAD per object), so checkout can fetch
    /// exactly these bytes after an overwrite; needs a store with versioning
    #[arg(long, conflicts_with = "from")]
    pub versions: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BumpArg {
    Patch,
    Minor,
    Major,
}

impl From<BumpArg> for Bump {
    fn from(arg: BumpArg) -> Bump {
        match arg {
            BumpArg::Patch => Bump::Patch,
            BumpArg::Minor => Bump::Minor,
            BumpArg::Major => Bump::Major,
        }
    }
}

/// The clock: PAIL_TIME (checked when the environment is read) or now, in µs.
fn now_micros(ctx: &Context) -> Result<i64, CliError> {
    Ok(ctx
        .time
        .unwrap_or_else(|| chrono::Utc::now().timestamp_micros()))
}

/// Reads a declared JSON Schema (`--schema FILE`), e.g. Pydantic's output.
pub fn read_schema_file(ctx: &Context, path: &std::path::Path) -> Result<Schema, CliError> {
    let text = std::fs::read_to_string(ctx.cwd.join(path)).map_err(|source| CliError::Io {
        what: format!("schema file {}", path.display()),
        source,
    })?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|err| CliError::Usage {
        message: format!("schema file {} is not JSON: {err}", path.display()),
        hint: Some("pass a JSON Schema document, e.g. Pydantic's Model.model_json_schema()".into()),
    })?;
    Schema::from_json_schema_text(&doc, &text).map_err(|err| CliError::Repo(err.into()))
}

/// The lineage every saved version records: author, clock, command line, git state.
pub fn commit_options(
    ctx: &Context,
    name: crate::DatasetName,
    message: String,
    code: Vec<(String, Vec<u8>)>,
) -> Result<CommitOptions, CliError> {
    let author = ctx
        .author
        .clone()
        .or_else(|| lineage::git_author(&ctx.cwd))
        .unwrap_or_else(|| "unknown".to_string());
    Ok(CommitOptions {
        name,
        message,
        bump: None,
        author,
        time: now_micros(ctx)?,
        command: ctx.args.clone(),
        git: lineage::git_state(&ctx.cwd),
        code,
        inputs: Vec::new(),
    })
}

pub fn cmd_commit(ctx: &Context, args: CommitArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let name = repo.parse_name(&args.name)?;
    let inputs = args
        .input
        .iter()
        .map(|text| repo.parse_ref(text))
        .collect::<Result<Vec<_>, _>>()?;
    let mut code = Vec::new();
    for path in &args.code {
        let bytes = std::fs::read(ctx.cwd.join(path)).map_err(|source| CliError::Io {
            what: format!("code file {}", path.display()),
            source,
        })?;
        code.push((path.display().to_string(), bytes));
    }
    let mut options = commit_options(ctx, name, args.message.clone(), code)?;
    options.bump = args.bump.map(Bump::from);
    options.inputs = inputs;
    let time = options.time;
    let outcome = match (&args.source, &args.from) {
        (Some(source), None) => {
            let source = parse_source(source, &ctx.cwd, &ctx.store_options)
                .map_err(|err| CliError::Commit(err.into()))?;
            let progress = ListingProgress::new(ctx.stderr_is_terminal);
            let listing = ListingOptions {
                source,
                hash: args.hash,
                versions: args.versions,
                listed_at: time,
            };
            let result = commit::listing(&repo, &listing, &options, &progress);
            progress.finish();
            result?
        }
        (None, Some(from)) => {
            let declared = args
                .schema
                .as_deref()
                .map(|path| read_schema_file(ctx, path))
                .transpose()?;
            let records = if from == "-" {
                Records::Reader(Box::new(std::io::stdin()))
            } else {
                let path = ctx.cwd.join(from);
                if !path.is_file() {
                    return Err(CliError::Usage {
                        message: format!("records file {from} does not exist"),
                        hint: Some("pass a JSON-lines file, or - to read standard input".into()),
                    });
                }
                Records::Path(path)
            };
            let key = args.key.as_ref().map(|text| {
                text.split(',')
                    .map(|column| column.trim().to_string())
                    .filter(|column| !column.is_empty())
                    .collect()
            });
            let shape = RecordsOptions {
                schema: declared,
                key,
            };
            commit::records(&repo, records, &shape, &options)?
        }
        (None, None) => {
            return Err(CliError::Usage {
                message: "nothing to commit: give a SOURCE to list or --from FILE".into(),
                hint: Some(
                    "e.g. `pail commit photos ./photos` or `pail commit clips --from clips.jsonl`"
                        .into(),
                ),
            });
        }
        (Some(_), Some(_)) => unreachable!("clap rejects SOURCE with --from"),
    };
    print_outcome(&outcome, args.json)
}

fn print_outcome(outcome: &CommitOutcome, as_json: bool) -> Result<(), CliError> {
    let mut out = output::stdout();
    if as_json {
        output::print_json(&mut out, &to_json(&CommitView::new(outcome)))?;
        out.flush()?;
        return Ok(());
    }
    match outcome {
        CommitOutcome::Created {
            name,
            version,
            id,
            parent,
            commit,
            ..
        } => {
            let parent = parent
                .as_ref()
                .map(|version| format!(", parent {version}"))
                .unwrap_or_default();
            writeln!(
                out,
                "created {name}@{version} (commit {}): {} rows, {}{parent}",
                id.short(),
                commit.n_rows,
                human_bytes(commit.n_bytes),
            )?;
        }
        CommitOutcome::Unchanged {
            name, version, id, ..
        } => {
            writeln!(
                out,
                "nothing changed: {name}@{version} (commit {}) already has these rows and schema",
                id.short()
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
