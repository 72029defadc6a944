//! Which rows of two versions may differ, found without reading a leaf: the parts (leaves,
//! edited or not) one version holds and the other does not, grouped into regions of
//! overlapping key ranges. `diff`, `status` and the commit of a delta all start here.

use std::collections::HashSet;

use super::layout::{Layout, Objects, Part, PartEdit};
use super::tree::TreeError;
use crate::object::{Child, ObjectId};

/// Parts of both sides whose key ranges overlap: rows are matched within it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Region {
    pub old: Vec<Part>,
    pub new: Vec<Part>,
}

/// One base leaf two versions on the same base edit differently.
#[derive(Debug, Clone)]
pub(crate) struct EditPair {
    /// The base leaf's entry.
    pub leaf: Child,
    pub old: Option<PartEdit>,
    pub new: Option<PartEdit>,
}

/// Where two versions' rows may differ, and the patch leaves their edited parts read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Differing {
    pub regions: Vec<Region>,
    /// When both versions read the same base: the leaves they edit differently, in key
    /// order (and no regions). Everything else of the base is the same on both sides.
    pub pairs: Vec<EditPair>,
    /// Patch leaves of the old and the new side (empty for a plain tree).
    pub patches: [Vec<Child>; 2],
}

/// The regions where two versions' rows may differ, in key order. Two plain trees are
/// walked together from their roots, dropping every subtree they share before reading
/// below it; when either is a delta, their parts are compared by id.
pub(crate) fn differing_regions(
    objects: &Objects,
    old_root: &ObjectId,
    new_root: &ObjectId,
) -> Result<Differing, TreeError> {
    if old_root == new_root {
        return Ok(Differing::default());
    }
    let old_node = objects.node(old_root)?;
    let new_node = objects.node(new_root)?;
    if old_node.delta.is_none() && new_node.delta.is_none() {
        let (old, new) = differing_leaves(objects, old_node, new_node)?;
        return Ok(Differing {
            regions: regions(plain_parts(old), plain_parts(new)),
            ..Differing::default()
        });
    }
    let (old_layout, new_layout) = read_pair(objects, old_root, new_root)?;
    let mut old = old_layout.parts();
    let mut new = new_layout.parts();
    if old_layout.base == new_layout.base {
        // Parts line up leaf by leaf; a part whose id differs is edited differently.
        let pairs = old
            .into_iter()
            .zip(new)
            .zip(&old_layout.leaves)
            .filter(|((old, new), _)| old.child.id != new.child.id)
            .map(|((old, new), leaf)| EditPair {
                leaf: leaf.clone(),
                old: old.edit,
                new: new.edit,
            })
            .collect();
        return Ok(Differing {
            regions: Vec::new(),
            pairs,
            patches: [old_layout.patch, new_layout.patch],
        });
    }
    drop_common(&mut old, &mut new);
    Ok(Differing {
        regions: regions(old, new),
        pairs: Vec::new(),
        patches: [old_layout.patch, new_layout.patch],
    })
}

/// Both layouts, reading a shared base's nodes once when one side is the other's base
/// (a version and its delta child: the usual diff).
fn read_pair(
    objects: &Objects,
    old_root: &ObjectId,
    new_root: &ObjectId,
) -> Result<(Layout, Layout), TreeError> {
    let new = Layout::read(objects, new_root)?;
    if new.base == *old_root {
        return Ok((new.plain_base(), new));
    }
    let old = Layout::read(objects, old_root)?;
    if old.base == *new_root {
        let base = old.plain_base();
        return Ok((old, base));
    }
    Ok((old, new))
}

fn plain_parts(leaves: Vec<Child>) -> Vec<Part> {
    leaves
        .into_iter()
        .map(|child| Part {
            leaf: child.id,
            child,
            edit: None,
        })
        .collect()
}

/// Expands a frontier of node entries one level down.
fn expand(objects: &Objects, frontier: Vec<Child>, level: u32) -> Result<Vec<Child>, TreeError> {
    let mut children = Vec::new();
    for child in frontier {
        let node = objects.node(&child.id)?;
        if node.level != level || node.delta.is_some() {
            return Err(TreeError::Malformed {
                id: child.id,
                detail: format!("level {}, expected {level}", node.level),
            });
        }
        children.extend(node.children);
    }
    Ok(children)
}

/// Drops the entries whose id appears on both sides: equal ids hold equal rows.
fn drop_common<T: HasId>(old: &mut Vec<T>, new: &mut Vec<T>) {
    let old_ids: HashSet<ObjectId> = old.iter().map(HasId::id).collect();
    let common: HashSet<ObjectId> = new
        .iter()
        .map(HasId::id)
        .filter(|id| old_ids.contains(id))
        .collect();
    if !common.is_empty() {
        old.retain(|entry| !common.contains(&entry.id()));
        new.retain(|entry| !common.contains(&entry.id()));
    }
}

trait HasId {
    fn id(&self) -> ObjectId;
}

impl HasId for Child {
    fn id(&self) -> ObjectId {
        self.id
    }
}

impl HasId for Part {
    fn id(&self) -> ObjectId {
        self.child.id
    }
}

/// The leaf entries of two plain trees that the other does not share, in key order.
///
/// Frontiers of node entries are expanded level by level (the taller tree first, until
/// both stand at the same level); at each level the entries both sides share are dropped
/// before anything below them is read.
fn differing_leaves(
    objects: &Objects,
    old_node: crate::object::Node,
    new_node: crate::object::Node,
) -> Result<(Vec<Child>, Vec<Child>), TreeError> {
    // Entries at `*_level` are leaves when it is 0, else nodes of that level.
    let (mut old_level, mut old) = (old_node.level - 1, old_node.children);
    let (mut new_level, mut new) = (new_node.level - 1, new_node.children);
    loop {
        while old_level > new_level {
            old = expand(objects, old, old_level)?;
            old_level -= 1;
        }
        while new_level > old_level {
            new = expand(objects, new, new_level)?;
            new_level -= 1;
        }
        drop_common(&mut old, &mut new);
        if old_level == 0 || (old.is_empty() && new.is_empty()) {
            break;
        }
        old = expand(objects, old, old_level)?;
        new = expand(objects, new, new_level)?;
        old_level -= 1;
        new_level -= 1;
    }
    if old_level != 0 {
        // Both frontiers emptied above the leaves: nothing differs.
        return Ok((Vec::new(), Vec::new()));
    }
    Ok((old, new))
}

/// Groups differing parts into regions of overlapping key ranges, in key order.
pub(crate) fn regions(old: Vec<Part>, new: Vec<Part>) -> Vec<Region> {
    let mut tagged: Vec<(bool, Part)> = old
        .into_iter()
        .map(|part| (false, part))
        .chain(new.into_iter().map(|part| (true, part)))
        .collect();
    tagged.sort_by(|a, b| a.1.child.first_key.cmp(&b.1.child.first_key));
    let mut regions: Vec<Region> = Vec::new();
    let mut region_end: Vec<u8> = Vec::new();
    for (is_new, part) in tagged {
        let starts_new = match regions.last() {
            None => true,
            Some(_) => part.child.first_key.as_slice() > region_end.as_slice(),
        };
        if starts_new {
            regions.push(Region::default());
            region_end.clear();
        }
        if part.child.last_key.as_slice() > region_end.as_slice() {
            region_end = part.child.last_key.to_vec();
        }
        let region = regions.last_mut().expect("pushed above");
        if is_new {
            region.new.push(part);
        } else {
            region.old.push(part);
        }
    }
    regions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Kind;
    use serde_bytes::ByteBuf;

    fn child(tag: &str, first: &[u8], last: &[u8], n_rows: u64) -> Part {
        let child = Child {
            id: ObjectId::compute(Kind::Leaf, tag.as_bytes()),
            first_key: ByteBuf::from(first.to_vec()),
            last_key: ByteBuf::from(last.to_vec()),
            n_rows,
            n_bytes: 0,
            digest: ObjectId::compute(Kind::Blob, tag.as_bytes()),
            stats: Vec::new(),
        };
        Part {
            leaf: child.id,
            child,
            edit: None,
        }
    }

    #[test]
    fn regions_group_overlapping_leaves_only() {
        let old = vec![child("a", b"a", b"c", 3), child("b", b"m", b"p", 4)];
        let new = vec![
            child("a2", b"b", b"d", 3),
            child("x", b"f", b"g", 2),
            child("b2", b"p", b"q", 4),
        ];
        let regions = regions(old, new);
        let shape: Vec<(usize, usize)> = regions
            .iter()
            .map(|region| (region.old.len(), region.new.len()))
            .collect();
        // [a..c] overlaps [b..d]; [f..g] stands alone; [m..p] touches [p..q] at p.
        assert_eq!(shape, [(1, 1), (0, 1), (1, 1)]);
    }
}
