//! Code provenance from git, read through gix: the repository around a directory, its
//! HEAD, branch and dirty flag, and the author configured there.

use std::path::Path;

use crate::object::GitState;

/// The git state of the repository containing `dir`, if there is one.
///
/// A repository that cannot be inspected fully (no commits yet, an unreadable index)
/// still yields what could be read; provenance is best effort, never a reason to fail.
pub fn git_state(dir: &Path) -> Option<GitState> {
    let repo = gix::discover(dir).ok()?;
    let repository = repo
        .workdir()
        .unwrap_or_else(|| repo.git_dir())
        .display()
        .to_string();
    let head = repo.head_id().ok().map(|id| id.to_string());
    let branch = repo
        .head_name()
        .ok()
        .flatten()
        .map(|name| name.shorten().to_string());
    let dirty = repo.is_dirty().unwrap_or(false);
    Some(GitState {
        repository,
        head,
        branch,
        dirty,
    })
}

/// `Name <email>` from the git configuration seen from `dir` (repository, then global).
pub fn git_author(dir: &Path) -> Option<String> {
    if let Ok(repo) = gix::discover(dir)
        && let Some(Ok(signature)) = repo.author()
    {
        return Some(format!("{} <{}>", signature.name, signature.email));
    }
    let config = gix::config::File::from_globals().ok()?;
    let name = config.string("user.name")?;
    let email = config.string("user.email");
    Some(match email {
        Some(email) => format!("{name} <{email}>"),
        None => name.to_string(),
    })
}
