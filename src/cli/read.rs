//! Read commands: ls, log, show, schema, rows.

use std::io::Write;

use crate::object::Input;
use crate::repo::format_time;
use crate::view::{
    DatasetView, FsckView, GcView, LineageGraphView, LogEntryView, SchemaView, VersionView, to_json,
};
use crate::{DatasetName, Repo, Schema};

use super::output::{self, human_bytes, short_time};
use super::{CliError, Context};

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// Dataset name (default: every dataset)
    pub name: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// NAME[@V]: V is a semver, a tag, `latest` (default) or a commit id prefix
    pub target: String,
    /// Print every field of the commit as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// NAME[@V]
    pub target: String,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
    /// Print every column path with its stable id (as Iceberg field ids), one per line
    #[arg(long, conflicts_with = "json")]
    pub ids: bool,
}

#[derive(Debug, clap::Args)]
pub struct RowsArgs {
    /// NAME[@V]
    pub target: String,
    /// Print at most N rows
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: RowsFormat,
    /// Same as --format jsonl: one JSON object per row
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RowsFormat {
    Table,
    Jsonl,
    Csv,
}

pub fn cmd_ls(ctx: &Context, args: LsArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let datasets = repo.datasets()?;
    let mut listed = Vec::new();
    for info in &datasets {
        let (version, id) = info
            .versions
            .last()
            .expect("datasets without versions are dropped");
        let commit = repo.commit(id)?;
        listed.push((info, version, id, commit));
    }
    let mut out = output::stdout();
    if args.json {
        let items: Vec<DatasetView> = listed
            .iter()
            .map(|(info, _, _, commit)| DatasetView::new(info, commit))
            .collect();
        output::print_json(&mut out, &to_json(&items))?;
    } else if listed.is_empty() {
        writeln!(out, "no datasets yet; `pail commit NAME SOURCE` saves one")?;
    } else {
        let rows: Vec<Vec<String>> = listed
            .iter()
            .map(|(info, version, _, commit)| {
                vec![
                    info.name.to_string(),
                    version.to_string(),
                    info.versions.len().to_string(),
                    commit.n_rows.to_string(),
                    human_bytes(commit.n_bytes),
                    short_time(commit.time),
                ]
            })
            .collect();
        output::print_table(
            &mut out,
            &["NAME", "LATEST", "VERSIONS", "ROWS", "SIZE", "UPDATED"],
            &rows,
        )?;
    }
    out.flush()?;
    Ok(())
}

pub fn cmd_log(ctx: &Context, args: LogArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let names: Vec<DatasetName> = match &args.name {
        Some(name) => vec![repo.parse_name(name)?],
        None => repo.datasets()?.into_iter().map(|info| info.name).collect(),
    };
    let mut entries = Vec::new();
    for name in &names {
        for (version, id, commit) in repo.log(name)? {
            entries.push((name.clone(), version, id, commit));
        }
    }
    if args.name.is_none() {
        // Across datasets, newest first like `git log --all`.
        entries.sort_by(|a, b| b.3.time.cmp(&a.3.time).then_with(|| a.0.cmp(&b.0)));
    }
    let mut out = output::stdout();
    if args.json {
        let items: Vec<LogEntryView> = entries
            .iter()
            .map(|(name, version, id, commit)| LogEntryView::new(name, version, id, commit))
            .collect();
        output::print_json(&mut out, &to_json(&items))?;
    } else {
        // One line per version: the author and message are escaped as one line each.
        for (name, version, id, commit) in &entries {
            let message = if commit.message.is_empty() {
                String::new()
            } else {
                format!("  {}", output::escape_line(&commit.message))
            };
            writeln!(
                out,
                "{name}@{version}  {}  {}  {}  {} rows, {}{message}",
                id.short(),
                short_time(commit.time),
                output::escape_line(&commit.author),
                commit.n_rows,
                human_bytes(commit.n_bytes),
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

pub fn cmd_show(ctx: &Context, args: ShowArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let target = repo.parse_ref(&args.target)?;
    let found = repo.resolve(&target)?;
    let tags = crate::tags::tags_of(&repo, &found.id)?;
    let mut out = output::stdout();
    if args.json {
        output::print_json(&mut out, &to_json(&VersionView::new(&found, &tags)))?;
        out.flush()?;
        return Ok(());
    }
    let commit = &found.commit;
    let version = found
        .version
        .as_ref()
        .map(|v| v.to_string())
        .unwrap_or_else(|| "(no version)".into());
    let mut lines: Vec<(&str, String)> = vec![
        ("dataset", found.name.to_string()),
        ("version", version),
        ("commit", found.id.to_hex()),
    ];
    for parent in &commit.parents {
        lines.push(("parent", parent.to_hex()));
    }
    if !tags.is_empty() {
        lines.push(("tags", tags.join(", ")));
    }
    lines.push(("rows", commit.n_rows.to_string()));
    lines.push((
        "bytes",
        format!("{} ({})", commit.n_bytes, human_bytes(commit.n_bytes)),
    ));
    lines.push(("schema", commit.schema.to_hex()));
    lines.push(("row tree", commit.rows.to_hex()));
    let key = if commit.key.is_empty() {
        "(row content hash)".to_string()
    } else {
        commit.key.join(", ")
    };
    lines.push(("key", key));
    lines.push(("author", commit.author.clone()));
    lines.push(("time", format_time(commit.time)));
    if !commit.message.is_empty() {
        lines.push(("message", commit.message.clone()));
    }
    lines.push(("command", crate::lineage::shell_words(&commit.command)));
    if let Some(git) = &commit.git {
        let mut text = git.repository.clone();
        if let Some(head) = &git.head {
            text.push_str(&format!(" @ {head}"));
        }
        if let Some(branch) = &git.branch {
            text.push_str(&format!(" ({branch})"));
        }
        if git.dirty {
            text.push_str(" dirty");
        }
        lines.push(("git", text));
    }
    for input in &commit.inputs {
        let text = match input {
            Input::Dataset {
                name,
                version,
                commit,
            } => format!("dataset {name}@{version} ({})", commit.short()),
            Input::Source { uri, listed_at } => {
                format!("source {uri} (listed {})", format_time(*listed_at))
            }
        };
        lines.push(("input", text));
    }
    for file in &commit.code {
        lines.push((
            "code",
            format!(
                "{} (blob {}, {} bytes)",
                file.path,
                file.blob.short(),
                file.size
            ),
        ));
    }
    // One field per line; only the message may span lines.
    for (label, value) in lines {
        let value = if label == "message" {
            output::escape_text(&value)
        } else {
            output::escape_line(&value)
        };
        writeln!(out, "{label:<9} {value}")?;
    }
    out.flush()?;
    Ok(())
}

pub fn cmd_schema(ctx: &Context, args: SchemaArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let target = repo.parse_ref(&args.target)?;
    let found = repo.resolve(&target)?;
    let schema = repo.schema(&found.commit.schema)?;
    let mut out = output::stdout();
    if args.json {
        output::print_json(&mut out, &to_json(&SchemaView::new(&found, &schema)))?;
    } else if args.ids {
        for column in schema.column_ids() {
            writeln!(
                out,
                "{:>4}  {}",
                column.id,
                output::escape_line(&column.path)
            )?;
        }
    } else {
        write!(out, "{}", schema.render_tree())?;
    }
    out.flush()?;
    Ok(())
}

pub fn cmd_rows(ctx: &Context, args: RowsArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let target = repo.parse_ref(&args.target)?;
    let found = repo.resolve(&target)?;
    let schema = repo.schema(&found.commit.schema)?;
    let format = if args.json {
        RowsFormat::Jsonl
    } else {
        args.format
    };
    let mut out = if format == RowsFormat::Table {
        output::stdout()
    } else {
        output::stdout_exact()
    };
    print_rows(&repo, &found.commit, &schema, format, args.limit, &mut out)?;
    out.flush()?;
    Ok(())
}

/// Table widths come from the first rows; later rows reuse them, so output streams.
const TABLE_SAMPLE: usize = 200;
const TABLE_CELL_MAX: usize = 60;

pub(super) fn print_rows(
    repo: &Repo,
    commit: &crate::Commit,
    schema: &Schema,
    format: RowsFormat,
    limit: Option<u64>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let columns = schema.flat_columns();
    // A cell holding a struct (in a list, map or union) prints its fields in the declared
    // order, as `rows --json` does.
    let column_types: Vec<Option<crate::schema::Type>> = columns
        .iter()
        .map(|column| schema.type_at(column))
        .collect();
    let cell = |idx: usize, row: &serde_json::Value| -> String {
        let value = output::lookup(row, &columns[idx]);
        match (value, &column_types[idx]) {
            (serde_json::Value::Object(_) | serde_json::Value::Array(_), Some(ty)) => {
                serde_json::to_string(&ty.ordered(value)).unwrap_or_else(|_| output::cell(value))
            }
            _ => output::cell(value),
        }
    };
    // The table's header: one line per column name.
    let table_columns: Vec<String> = columns
        .iter()
        .map(|column| output::escape_line(column).into_owned())
        .collect();
    let limit = limit.unwrap_or(u64::MAX);
    let mut n_printed = 0u64;
    let mut pending: Vec<Vec<String>> = Vec::new();
    let mut widths: Option<Vec<usize>> = None;
    let mut write_error: Option<std::io::Error> = None;
    if format == RowsFormat::Csv {
        let header: Vec<String> = columns.iter().map(|c| output::csv_field(c)).collect();
        writeln!(out, "{}", header.join(","))?;
    }
    let table_line = |cells: &[String], widths: &[usize]| -> String {
        let mut line = String::new();
        for (idx, cell) in cells.iter().enumerate() {
            line.push_str(cell);
            if idx + 1 < cells.len() {
                let pad = widths[idx].saturating_sub(cell.chars().count()) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        line.trim_end().to_string()
    };
    let truncate = |text: String| -> String {
        if text.chars().count() > TABLE_CELL_MAX {
            let cut: String = text.chars().take(TABLE_CELL_MAX - 1).collect();
            format!("{cut}…")
        } else {
            text
        }
    };
    repo.for_each_row(commit, |row| {
        if n_printed >= limit {
            return Ok(false);
        }
        n_printed += 1;
        let result = match format {
            RowsFormat::Jsonl => serde_json::to_string(&schema.ordered(&row))
                .map_err(std::io::Error::other)
                .and_then(|line| writeln!(out, "{line}")),
            RowsFormat::Csv => {
                let cells: Vec<String> = (0..columns.len())
                    .map(|idx| output::csv_field(&cell(idx, &row)))
                    .collect();
                writeln!(out, "{}", cells.join(","))
            }
            RowsFormat::Table => {
                let cells: Vec<String> = (0..columns.len())
                    .map(|idx| truncate(output::escape_line(&cell(idx, &row)).into_owned()))
                    .collect();
                match &widths {
                    Some(widths) => writeln!(out, "{}", table_line(&cells, widths)),
                    None => {
                        pending.push(cells);
                        if pending.len() >= TABLE_SAMPLE {
                            let computed = table_widths(&table_columns, &pending);
                            let mut result =
                                writeln!(out, "{}", table_line(&table_columns, &computed));
                            for cells in pending.drain(..) {
                                if result.is_ok() {
                                    result = writeln!(out, "{}", table_line(&cells, &computed));
                                }
                            }
                            widths = Some(computed);
                            result
                        } else {
                            Ok(())
                        }
                    }
                }
            }
        };
        match result {
            Ok(()) => Ok(true),
            Err(err) => {
                write_error = Some(err);
                Ok(false)
            }
        }
    })?;
    if let Some(err) = write_error {
        return Err(CliError::Output(err));
    }
    if format == RowsFormat::Table && widths.is_none() {
        let computed = table_widths(&table_columns, &pending);
        writeln!(out, "{}", table_line(&table_columns, &computed))?;
        for cells in &pending {
            writeln!(out, "{}", table_line(cells, &computed))?;
        }
    }
    Ok(())
}

fn table_widths(columns: &[String], rows: &[Vec<String>]) -> Vec<usize> {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in rows {
        for (idx, cell) in row.iter().enumerate() {
            widths[idx] = widths[idx].max(cell.chars().count());
        }
    }
    widths
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pail lineage team.vision.clips           # what it was made from, recursively
  pail lineage photos@1.0.1 --down         # what was made from it
  pail lineage clips --format dot | dot -Tsvg > lineage.svg")]
pub struct LineageArgs {
    /// NAME[@V]
    pub target: String,
    /// Follow lineage downstream: the versions made from this one
    #[arg(long)]
    pub down: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: LineageFormat,
    /// Same as --format json
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LineageFormat {
    Text,
    Dot,
    Json,
}

pub fn cmd_lineage(ctx: &Context, args: LineageArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let found = repo.resolve(&repo.parse_ref(&args.target)?)?;
    let direction = if args.down {
        crate::lineage::Direction::Downstream
    } else {
        crate::lineage::Direction::Upstream
    };
    let crate::lineage::LineageReport { graph, start: root } =
        crate::lineage::lineage(&repo, &found, direction)?;
    let format = if args.json {
        LineageFormat::Json
    } else {
        args.format
    };
    let mut out = if format == LineageFormat::Text {
        output::stdout()
    } else {
        output::stdout_exact()
    };
    match format {
        LineageFormat::Text => write!(out, "{}", graph.to_text(root, args.down))?,
        LineageFormat::Dot => write!(out, "{}", graph.to_dot())?,
        LineageFormat::Json => output::print_json(
            &mut out,
            &to_json(&LineageGraphView::new(&graph, root, args.down)),
        )?,
    }
    out.flush()?;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct FsckArgs {
    /// Check a remote instead: every object every remote ref needs is there (a HEAD per
    /// object; manifests this repository lacks are downloaded to follow them), and on a
    /// format-2 remote each dataset's Iceberg table names exactly the remote's refs
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

/// A progress bar on a terminal for `fsck --remote`; hidden when stderr is piped.
struct CheckBar {
    bar: indicatif::ProgressBar,
}

impl crate::remote::SyncProgress for CheckBar {
    fn objects(&self, done: u64, total: u64, _bytes: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
    }
}

pub fn cmd_fsck(ctx: &Context, args: FsckArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let view = match &args.remote {
        None => FsckView::new(&crate::maintain::fsck(&repo)?),
        Some(remote) => {
            let bar = if ctx.stderr_is_terminal {
                let bar = indicatif::ProgressBar::new(0);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "checking {bar:30} {pos}/{len} objects",
                    )
                    .expect("the template is valid"),
                );
                bar
            } else {
                indicatif::ProgressBar::hidden()
            };
            let bar = CheckBar { bar };
            let options = crate::remote::RemoteFsckOptions {
                remote,
                store_options: &ctx.store_options,
            };
            let result = crate::remote::fsck(&repo, &options, &bar);
            bar.bar.finish_and_clear();
            FsckView::remote(&result?)
        }
    };
    let mut out = output::stdout();
    if args.json {
        output::print_json(&mut out, &to_json(&view))?;
    } else {
        for problem in &view.problems {
            writeln!(out, "{problem}")?;
        }
        writeln!(
            out,
            "checked {} objects: {} problems",
            view.objects,
            view.problems.len()
        )?;
    }
    out.flush()?;
    if view.problems.is_empty() {
        Ok(())
    } else {
        Err(CliError::Silent(1))
    }
}

pub fn cmd_gc(ctx: &Context, args: GcArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let removed = crate::maintain::gc(&repo)?;
    let temporaries = crate::maintain::remove_stale_temporaries(&repo)?;
    let crate::maintain::Removed {
        count: n_objects,
        bytes: n_bytes,
    } = removed;
    let crate::maintain::Removed {
        count: n_temporaries,
        bytes: temporary_bytes,
    } = temporaries;
    let mut out = output::stdout();
    if args.json {
        output::print_json(&mut out, &to_json(&GcView::new(&removed, &temporaries)))?;
    } else {
        writeln!(
            out,
            "removed {n_objects} unreachable objects ({})",
            human_bytes(n_bytes)
        )?;
        if n_temporaries > 0 {
            writeln!(
                out,
                "removed {n_temporaries} temporary files left by killed processes ({})",
                human_bytes(temporary_bytes)
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
