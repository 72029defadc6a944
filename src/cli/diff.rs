//! `pail diff` and `pail status`: rows added, removed and modified, and schema changes.

use std::io::Write;

use serde_json::Value;

use crate::commit;

use crate::diff::{ChangeKind, Diff, DiffStat, RowChange};
use crate::listing::parse_source;
use crate::schema::Compat;
use crate::view::{
    DiffCountsView, DiffSideView, DiffView, ProblemView, RowChangeView, SchemaChangesView, to_json,
};

use super::output::{self, ListingProgress, Out};
use super::{CliError, Context};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pail diff photos@1.0.0 photos@1.0.1
  pail diff photos@1.0.0 photos --stat
  pail diff photos@golden photos_copy --json")]
pub struct DiffArgs {
    /// The old side, NAME[@V]
    pub old: String,
    /// The new side, NAME[@V] (another dataset with the same key works too)
    pub new: String,
    /// Print only the counts and schema changes
    #[arg(long)]
    pub stat: bool,
    /// Print the result as JSON (rows included unless --stat)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pail status photos
  pail status photos s3://bucket/images --stat")]
pub struct StatusArgs {
    /// Dataset name
    pub name: String,
    /// Directory or URI to list (default: the source the latest version was listed from)
    pub source: Option<String>,
    /// Also hash every new or changed file with BLAKE3, as `commit --hash` does
    #[arg(long)]
    pub hash: bool,
    /// Print only the counts
    #[arg(long)]
    pub stat: bool,
    /// Print the result as JSON (rows included unless --stat)
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_diff(ctx: &Context, args: DiffArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let old = repo.resolve(&repo.parse_ref(&args.old)?)?;
    let new = repo.resolve(&repo.parse_ref(&args.new)?)?;
    let diff = crate::diff::diff(&repo, &old, &new)?;
    let mut out = if args.json {
        output::stdout_exact()
    } else {
        output::stdout()
    };
    let header = DiffView {
        old: DiffSideView::version(&old),
        new: DiffSideView::version(&new),
        problems: None,
        schema: SchemaChangesView::new(&diff.schema),
        counts: None,
    };
    print_diff(&repo, &diff, header, args.stat, args.json, &mut out)?;
    out.flush()?;
    Ok(())
}

pub fn cmd_status(ctx: &Context, args: StatusArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let name = repo.parse_name(&args.name)?;
    let source_text = match &args.source {
        Some(text) => text.clone(),
        None => commit::latest_source(&repo, &name)?.uri,
    };
    let source = parse_source(&source_text, &ctx.cwd, &ctx.store_options)
        .map_err(|err| CliError::Commit(err.into()))?;
    let progress = ListingProgress::new(ctx.stderr_is_terminal);
    let listing = commit::ListingOptions {
        source,
        hash: args.hash,
        versions: false,
        listed_at: 0,
    };
    let result = commit::status(&repo, &name, &listing, &progress);
    progress.finish();
    let status = result?;
    let mut out = if args.json {
        output::stdout_exact()
    } else {
        output::stdout()
    };
    let base = &status.base;
    let header = DiffView {
        old: DiffSideView::version(base),
        new: DiffSideView::source(&status.source),
        problems: Some(ProblemView::all(&status.problems)),
        schema: SchemaChangesView::new(&status.diff.schema),
        counts: None,
    };
    if !args.json {
        let version = base.version_or_id();
        if status.diff.rows_equal() {
            writeln!(
                out,
                "nothing to commit: {} matches {}@{version}",
                status.source, base.name
            )?;
            out.flush()?;
            return Ok(());
        }
        writeln!(
            out,
            "changes in {} since {}@{version}:",
            status.source, base.name
        )?;
    }
    print_diff(&repo, &status.diff, header, args.stat, args.json, &mut out)?;
    out.flush()?;
    Ok(())
}

fn counts_text(stat: &DiffStat) -> String {
    format!(
        "+{} added, -{} removed, ~{} modified",
        stat.added, stat.removed, stat.modified
    )
}

/// Prints a diff: schema changes, then rows (streamed), then the counts. In JSON the
/// rows array is written one row at a time too, between `header`'s fields and the counts.
fn print_diff(
    repo: &crate::Repo,
    diff: &Diff,
    mut header: DiffView,
    stat_only: bool,
    as_json: bool,
    out: &mut Out,
) -> Result<(), CliError> {
    if stat_only {
        let stat = diff.stat(repo)?;
        if as_json {
            header.counts = Some(DiffCountsView::new(&stat));
            output::print_json(out, &to_json(&header))?;
        } else {
            print_schema_changes(&diff.schema, out)?;
            writeln!(out, "{}", counts_text(&stat))?;
        }
        return Ok(());
    }
    let mut stat = DiffStat::default();
    if as_json {
        // `header` minus its closing brace, then the rows, then the counts.
        let text = serde_json::to_string(&to_json(&header)).expect("JSON values serialize");
        write!(out, "{},\"rows\":[", &text[..text.len() - 1])?;
    } else {
        print_schema_changes(&diff.schema, out)?;
    }
    let path_key = is_path_key(diff);
    for change in diff.rows(repo) {
        let change = change?;
        match change.kind {
            ChangeKind::Added => stat.added += 1,
            ChangeKind::Removed => stat.removed += 1,
            ChangeKind::Modified => stat.modified += 1,
        }
        if as_json {
            if stat.added + stat.removed + stat.modified > 1 {
                write!(out, ",")?;
            }
            writeln!(out)?;
            serde_json::to_writer(&mut *out, &to_json(&RowChangeView::new(&change)))
                .map_err(std::io::Error::other)?;
        } else {
            writeln!(out, "{}", change_line(&change, path_key))?;
        }
    }
    if as_json {
        writeln!(
            out,
            "\n],\"added\":{},\"removed\":{},\"modified\":{}}}",
            stat.added, stat.removed, stat.modified
        )?;
    } else {
        writeln!(out, "{}", counts_text(&stat))?;
    }
    Ok(())
}

fn print_schema_changes(compat: &Compat, out: &mut Out) -> std::io::Result<()> {
    match compat {
        Compat::Same => Ok(()),
        Compat::Additive(changes) | Compat::Breaking(changes) => {
            for change in changes {
                writeln!(out, "schema: {change}")?;
            }
            Ok(())
        }
    }
}

/// A File key (`X.source`, `X.path`) prints as the path alone.
fn is_path_key(diff: &Diff) -> bool {
    let key = diff.key();
    key.len() == 2 && key[0].ends_with(".source") && key[1].ends_with(".path")
}

fn change_line(change: &RowChange, path_key: bool) -> String {
    let mark = match change.kind {
        ChangeKind::Added => '+',
        ChangeKind::Removed => '-',
        ChangeKind::Modified => '~',
    };
    let key = if path_key {
        output::cell(&change.key[1].1)
    } else {
        change
            .key
            .iter()
            .map(|(_, value)| match value {
                Value::Object(_) | Value::Array(_) => value.to_string(),
                other => output::cell(other),
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let key = output::escape_line(&key);
    if change.columns.is_empty() {
        format!("{mark} {key}")
    } else {
        format!(
            "{mark} {key}  ({})",
            output::escape_line(&change.columns.join(", "))
        )
    }
}
