//! `pail tag`: movable labels on versions.

use std::io::Write;

use crate::view::{TagDeletedView, TagSetView, TagView, to_json};

use super::output::{self};
use super::{CliError, Context};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pail tag photos@1.0.0 golden
  pail tag photos@1.0.2 golden --force
  pail tag --list
  pail tag --delete photos@golden")]
pub struct TagArgs {
    /// The version to tag, NAME@V
    pub target: Option<String>,
    /// The tag name
    pub tag: Option<String>,
    /// Move the tag if it already points at another version
    #[arg(long)]
    pub force: bool,
    /// List tags (of one dataset when NAME is given)
    #[arg(long, conflicts_with_all = ["tag", "delete", "force"])]
    pub list: bool,
    /// Delete a tag: TAG, or NAME@TAG when several datasets have it
    #[arg(long, value_name = "TAG", conflicts_with_all = ["target", "tag", "force"])]
    pub delete: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_tag(ctx: &Context, args: TagArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let mut out = output::stdout();
    if args.list {
        let filter = match &args.target {
            Some(name) => Some(repo.parse_name(name)?),
            None => None,
        };
        let tags: Vec<_> = crate::tags::tags(&repo)?
            .into_iter()
            .filter(|info| filter.as_ref().is_none_or(|name| *name == info.name))
            .collect();
        if args.json {
            let items: Vec<TagView> = tags.iter().map(TagView::new).collect();
            output::print_json(&mut out, &to_json(&items))?;
        } else {
            let rows: Vec<Vec<String>> = tags
                .iter()
                .map(|info| {
                    vec![
                        info.name.to_string(),
                        info.tag.clone(),
                        info.version
                            .as_ref()
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "-".into()),
                        info.id.short(),
                    ]
                })
                .collect();
            output::print_table(&mut out, &["NAME", "TAG", "VERSION", "COMMIT"], &rows)?;
        }
    } else if let Some(text) = &args.delete {
        let info = crate::tags::delete_tag(&repo, text)?;
        if args.json {
            output::print_json(&mut out, &to_json(&TagDeletedView::new(&info)))?;
        } else {
            writeln!(
                out,
                "deleted tag {} of {} (was {})",
                info.tag,
                info.name,
                info.id.short()
            )?;
        }
    } else {
        let (Some(target), Some(tag)) = (&args.target, &args.tag) else {
            return Err(CliError::Usage {
                message: "give a version and a tag, or --list, or --delete TAG".into(),
                hint: Some("e.g. `pail tag photos@1.0.0 golden`".into()),
            });
        };
        let target = repo.parse_ref(target)?;
        let crate::tags::Tagged {
            target: found,
            previous,
        } = crate::tags::tag(
            &repo,
            &target,
            tag,
            &crate::tags::TagOptions { force: args.force },
        )?;
        let version = found.version_or_id();
        if args.json {
            let view = TagSetView::new(&found, tag, previous.as_ref());
            output::print_json(&mut out, &to_json(&view))?;
        } else {
            match previous {
                Some(previous) if previous != found.id => writeln!(
                    out,
                    "moved tag {tag} to {}@{version} (was {})",
                    found.name,
                    previous.short()
                )?,
                _ => writeln!(out, "tagged {}@{version} as {tag}", found.name)?,
            }
        }
    }
    out.flush()?;
    Ok(())
}
