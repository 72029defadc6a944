//! `pail summary`: the compiled summary of a version as a Markdown page with a size bound.

use std::io::Write;
use std::path::PathBuf;

use crate::summary::DEFAULT_MAX_TOKENS;
use crate::view::{SummaryPageView, SummaryPagesView, SummaryView, to_json};
use crate::{DatasetRef, VersionSpec};

use super::output;
use super::{CliError, Context};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pail summary team.vision.clips@1.0.2
  pail summary clips --max-tokens 500
  pail summary --all -o dataset-pages/")]
pub struct SummaryArgs {
    /// NAME[@V]: V is a semver, a tag, `latest` (default) or a commit id prefix
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub target: Option<String>,
    /// Bound the page to N tokens (estimated at 4 characters each); lines are never cut
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_TOKENS)]
    pub max_tokens: usize,
    /// Write a page per dataset (latest version) and an index.md into DIR
    #[arg(long, requires = "output")]
    pub all: bool,
    /// Directory for --all
    #[arg(short = 'o', long = "output", value_name = "DIR", requires = "all")]
    pub output: Option<PathBuf>,
    /// Print the summary object as JSON instead of Markdown
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_summary(ctx: &Context, args: SummaryArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let mut out = output::stdout();
    if args.all {
        let dir = ctx
            .cwd
            .join(args.output.as_ref().expect("clap requires -o with --all"));
        let io_err = |source| CliError::Io {
            what: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io_err)?;
        let mut index = String::from("# Datasets\n\n");
        let mut written = Vec::new();
        for info in repo.datasets()? {
            let found = repo.resolve(&DatasetRef {
                name: info.name.clone(),
                version: VersionSpec::Latest,
            })?;
            let page = crate::summary::page(&repo, &found, args.max_tokens)?;
            let file_name = format!("{}.md", info.name);
            let path = dir.join(&file_name);
            std::fs::write(&path, &page).map_err(|source| CliError::Io {
                what: path.display().to_string(),
                source,
            })?;
            let version = found
                .version
                .as_ref()
                .map(|version| version.to_string())
                .unwrap_or_default();
            let message = if found.commit.message.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    crate::summary::truncate(&found.commit.message.replace('\n', " "), 100)
                )
            };
            index.push_str(&format!(
                "- [{}@{version}]({file_name}): {} rows, {}{message}\n",
                info.name,
                found.commit.n_rows,
                crate::summary::human_bytes(found.commit.n_bytes),
            ));
            written.push(SummaryPageView {
                name: info.name.to_string(),
                version,
                path: path.display().to_string(),
            });
        }
        let index_path = dir.join("index.md");
        // Messages come from commits, maybe pulled ones: escaped like the pages.
        let index = output::escape_text(&index);
        std::fs::write(&index_path, index.as_bytes()).map_err(|source| CliError::Io {
            what: index_path.display().to_string(),
            source,
        })?;
        if args.json {
            let view = SummaryPagesView {
                index: index_path.display().to_string(),
                pages: written,
            };
            output::print_json(&mut out, &to_json(&view))?;
        } else {
            writeln!(
                out,
                "wrote {} pages and {}",
                written.len(),
                index_path.display()
            )?;
        }
        out.flush()?;
        return Ok(());
    }
    let target = repo.parse_ref(args.target.as_deref().expect("clap requires NAME"))?;
    let found = repo.resolve(&target)?;
    if args.json {
        let summary = crate::summary::load(&repo, &found.commit)?;
        let info = crate::summary::page_info(&repo, &found)?;
        output::print_json(&mut out, &to_json(&SummaryView::new(&summary, &info)))?;
    } else {
        write!(
            out,
            "{}",
            crate::summary::page(&repo, &found, args.max_tokens)?
        )?;
    }
    out.flush()?;
    Ok(())
}
