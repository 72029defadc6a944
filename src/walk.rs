//! The object graph, defined once: which objects an object names, and what "decodes as
//! readers do" means for each kind. `push`'s closure, `gc`'s reachability, `fsck` and
//! `fsck --remote` all walk through [`walk`] and [`children`], so no kind of object can be
//! followed by one of them and forgotten by another.

use std::collections::HashSet;

use crate::object::{CodecError, Commit, Input, Kind, Node, ObjectId};
use crate::rows::tree::TreeError;

/// Why an object does not decode as its readers decode it. Transparent: its text is the
/// decoder's.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WalkError {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    Tree(#[from] TreeError),
}

/// A row tree is at most this deep (the same bound the tree reader applies).
const MAX_LEVEL: u32 = 16;

/// The objects `bytes` (an object of `kind`) names, each with the kind it must have:
/// a commit names its schema, row tree, code blobs, summary, parents and the commits of its
/// dataset inputs; a node names its children (nodes, or leaves at level 1), a delta root
/// its base and patch trees. Leaves,
/// schemas, blobs and summaries name nothing.
pub(crate) fn children(
    kind: Kind,
    id: &ObjectId,
    bytes: &[u8],
) -> Result<Vec<(ObjectId, Kind)>, WalkError> {
    let mut found = Vec::new();
    match kind {
        Kind::Commit => commit_children(&Commit::decode(bytes)?, &mut found),
        Kind::Node => {
            let node = Node::decode(bytes)?;
            if let Some(delta) = &node.delta {
                found.push((delta.base, Kind::Node));
                found.extend(delta.patch.map(|patch| (patch, Kind::Node)));
                return Ok(found);
            }
            if node.level == 0 || node.level > MAX_LEVEL {
                return Err(TreeError::Malformed {
                    id: *id,
                    detail: format!("level {} out of range", node.level),
                }
                .into());
            }
            let child_kind = if node.level == 1 {
                Kind::Leaf
            } else {
                Kind::Node
            };
            found.extend(node.children.iter().map(|child| (child.id, child_kind)));
        }
        Kind::Leaf | Kind::Schema | Kind::Blob | Kind::Summary => {}
    }
    Ok(found)
}

/// What a commit names (see [`children`]).
pub(crate) fn commit_children(commit: &Commit, found: &mut Vec<(ObjectId, Kind)>) {
    found.push((commit.schema, Kind::Schema));
    found.push((commit.rows, Kind::Node));
    found.extend(commit.code.iter().map(|file| (file.blob, Kind::Blob)));
    if let Some(summary) = commit.summary {
        found.push((summary, Kind::Summary));
    }
    found.extend(
        commit
            .parents
            .iter()
            .map(|parent| (parent.object(), Kind::Commit)),
    );
    for input in &commit.inputs {
        if let Input::Dataset { commit, .. } = input {
            found.push((commit.object(), Kind::Commit));
        }
    }
}

/// Decodes an object with the functions its readers use, so that anything this accepts
/// every command can read.
pub(crate) fn check_decodes(kind: Kind, id: &ObjectId, bytes: &[u8]) -> Result<(), WalkError> {
    match kind {
        Kind::Commit => {
            Commit::decode(bytes)?;
        }
        Kind::Node => {
            children(kind, id, bytes)?;
        }
        Kind::Schema => {
            crate::schema::Schema::decode(bytes)?;
        }
        Kind::Summary => {
            crate::summary::Summary::decode(bytes)?;
        }
        Kind::Leaf => {
            crate::rows::leaf::decode(&id.to_hex(), bytes.to_vec()).map_err(TreeError::from)?;
        }
        Kind::Blob => {}
    }
    Ok(())
}

/// What a visit decided about one object.
pub(crate) enum Visit {
    /// Follow these objects next.
    Follow(Vec<(ObjectId, Kind)>),
    /// Do not look past this object.
    Stop,
}

/// Walks the graph from `roots` (each with the index of the root it came from, for
/// reporting), visiting every object once, depth first. `visit` reads the object (from
/// wherever the caller walks) and returns what to follow, usually through [`children`].
pub(crate) fn walk<E>(
    roots: impl IntoIterator<Item = (ObjectId, Kind)>,
    mut visit: impl FnMut(usize, ObjectId, Kind) -> Result<Visit, E>,
) -> Result<(), E> {
    let mut seen: HashSet<ObjectId> = HashSet::new();
    let mut stack: Vec<(usize, ObjectId, Kind)> = roots
        .into_iter()
        .enumerate()
        .map(|(root, (id, kind))| (root, id, kind))
        .collect();
    stack.reverse();
    while let Some((root, id, kind)) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Visit::Follow(next) = visit(root, id, kind)? {
            stack.extend(next.into_iter().map(|(id, kind)| (root, id, kind)));
        }
    }
    Ok(())
}

/// Walk errors reach a repository's callers as the errors they were before the walker
/// had its own type, so hints do not change.
impl From<WalkError> for crate::repo::RepoError {
    fn from(err: WalkError) -> Self {
        match err {
            WalkError::Codec(err) => crate::repo::RepoError::Codec(err),
            WalkError::Tree(err) => crate::repo::RepoError::Tree(err),
        }
    }
}
