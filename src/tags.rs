//! Tags: names a team gives versions (`golden`), as refs beside the version refs. A tag
//! moves only when asked (`force`), and never silently.

use crate::name::{DatasetName, DatasetRef, check_tag};
use crate::object::CommitId;
use crate::repo::{RefKind, Repo, RepoError, Resolved, parse_dataset_ref, resolve_in, version_of};

/// How `tag` treats a tag that already points elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct TagOptions {
    /// Move the tag when it points at another version (otherwise that is `TagExists`).
    pub force: bool,
}

/// What `tag` did.
#[derive(Debug, Clone)]
pub struct Tagged {
    /// The version the tag now points at.
    pub target: Resolved,
    /// The commit it pointed at before, if it existed.
    pub previous: Option<CommitId>,
}

/// Tags pointing at a commit, as (dataset, tag).
pub fn tags_of(repo: &Repo, id: &CommitId) -> Result<Vec<String>, RepoError> {
    Ok(tags(repo)?
        .into_iter()
        .filter(|tag| tag.id == *id)
        .map(|tag| tag.tag)
        .collect())
}

/// Points `tag` at a version. Returns the commit the tag pointed at before, if any.
pub fn tag(
    repo: &Repo,
    dataset: &DatasetRef,
    tag: &str,
    options: &TagOptions,
) -> Result<Tagged, RepoError> {
    check_tag(tag)?;
    let store = repo.store()?;
    let writer = store.write()?;
    writer.create_tables()?;
    let resolved = resolve_in(&writer, dataset)?;
    let tag_ref = resolved.name.tag_ref(tag);
    let previous = writer.get_ref(&tag_ref)?.map(CommitId);
    if let Some(previous) = previous
        && previous != resolved.id
        && !options.force
    {
        let version = version_of(&writer, &resolved.name, &previous)?
            .map(|version| version.to_string())
            .unwrap_or_else(|| previous.short());
        return Err(RepoError::TagExists {
            tag: tag.to_string(),
            name: resolved.name.to_string(),
            version,
        });
    }
    writer.set_ref(&tag_ref, &resolved.id.object())?;
    writer.commit()?;
    Ok(Tagged {
        target: resolved,
        previous,
    })
}

/// Every tag of every dataset.
pub fn tags(repo: &Repo) -> Result<Vec<TagInfo>, RepoError> {
    let store = repo.read_store()?;
    let reader = store.read()?;
    let mut tags = Vec::new();
    for (ref_name, id) in reader.refs("datasets/")? {
        if let Some((name, RefKind::Tag, tag)) = parse_dataset_ref(&ref_name) {
            let id = CommitId(id);
            let version = version_of(&reader, &name, &id)?;
            tags.push(TagInfo {
                name,
                tag,
                id,
                version,
            });
        }
    }
    Ok(tags)
}

/// Deletes a tag given as `TAG` (unique across datasets) or `NAME@TAG`.
pub fn delete_tag(repo: &Repo, text: &str) -> Result<TagInfo, RepoError> {
    let (dataset, tag) = match text.split_once('@') {
        Some((name, tag)) => (Some(repo.parse_name(name)?), tag.to_string()),
        None => (None, text.to_string()),
    };
    let matches: Vec<TagInfo> = tags(repo)?
        .into_iter()
        .filter(|info| info.tag == tag && dataset.as_ref().is_none_or(|name| *name == info.name))
        .collect();
    let found = match matches.len() {
        0 => return Err(RepoError::TagNotFound { tag, dataset }),
        1 => matches
            .into_iter()
            .next()
            .expect("checked above: one match"),
        _ => {
            return Err(RepoError::AmbiguousTag {
                tag,
                names: matches.iter().map(|info| info.name.to_string()).collect(),
            });
        }
    };
    let store = repo.store()?;
    let writer = store.write()?;
    writer.delete_ref(&found.name.tag_ref(&found.tag))?;
    writer.commit()?;
    Ok(found)
}

/// One tag in `tag --list`.
#[derive(Debug, Clone)]
pub struct TagInfo {
    pub name: DatasetName,
    pub tag: String,
    pub id: CommitId,
    pub version: Option<semver::Version>,
}
