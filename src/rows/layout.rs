//! A version's rows as readers see them. A plain tree's rows are its leaves in key order;
//! a delta root's rows are its base tree's leaves with position deletes applied and the
//! patch rows inserted where its edits say. Readers go through [`Layout::parts`]: one
//! part per base leaf, edited or not, each read by [`PartReader::read`].

use std::collections::HashSet;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use serde_bytes::ByteBuf;

use super::leaf;
use super::tree::{Staging, TreeError};
use crate::object::{Child, Edit, Insert, Kind, Node, ObjectId};
use crate::store::Reader;

/// Deeper than this cannot come from a real tree (32^16 leaves): refuse it.
pub(crate) const MAX_LEVEL: u32 = 16;

/// Greater than every row key: column keys start with a type byte below 0x07, and keys of
/// rows keyed by content are 32 bytes.
pub(crate) const KEY_END: [u8; 33] = [0xFF; 33];

/// Reads objects from the store, and first from a staging file when one is given (the
/// not-yet-committed tree of `pail status` or of a commit).
pub(crate) struct Objects<'a> {
    pub reader: &'a Reader,
    pub staging: Option<&'a Staging>,
}

impl Objects<'_> {
    pub fn get(&self, id: &ObjectId, kind: Kind) -> Result<Vec<u8>, TreeError> {
        if let Some(staging) = self.staging
            && let Some(bytes) = staging.get(id, kind)?
        {
            return Ok(bytes);
        }
        Ok(self.reader.object_of_kind(id, kind)?)
    }

    pub fn node(&self, id: &ObjectId) -> Result<Node, TreeError> {
        let node = Node::decode(&self.get(id, Kind::Node)?)?;
        if node.delta.is_none() && node.level > MAX_LEVEL {
            return Err(TreeError::Malformed {
                id: *id,
                detail: format!("level {} out of range", node.level),
            });
        }
        Ok(node)
    }

    /// The leaf entries of a plain tree, in key order, read through its nodes.
    pub fn plain_leaves(&self, root: &ObjectId) -> Result<Vec<Child>, TreeError> {
        let mut leaves = Vec::new();
        self.collect_leaves(root, None, &mut leaves)?;
        Ok(leaves)
    }

    fn collect_leaves(
        &self,
        id: &ObjectId,
        expected_level: Option<u32>,
        leaves: &mut Vec<Child>,
    ) -> Result<(), TreeError> {
        let node = self.node(id)?;
        let malformed = |detail: String| TreeError::Malformed { id: *id, detail };
        if node.delta.is_some() {
            return Err(malformed("a delta root where a tree node belongs".into()));
        }
        if let Some(expected) = expected_level
            && node.level != expected
        {
            return Err(malformed(format!(
                "level {}, expected {expected}",
                node.level
            )));
        }
        if node.level == 1 {
            leaves.extend(node.children);
            return Ok(());
        }
        for child in &node.children {
            self.collect_leaves(&child.id, Some(node.level - 1), leaves)?;
        }
        Ok(())
    }
}

/// The rows of a version: base leaves, their edits and the patch leaves.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The plain tree whose leaves are read: the root itself unless it is a delta root.
    pub base: ObjectId,
    /// The base's leaves, in key order.
    pub leaves: Vec<Child>,
    /// Edits of base leaves, by ascending leaf index (none for a plain tree).
    pub edits: Vec<Edit>,
    /// The patch tree's leaves, in key order (none for a plain tree).
    pub patch: Vec<Child>,
}

impl Layout {
    /// Reads a version's layout: every node of its tree (and of its patch), no leaf.
    pub fn read(objects: &Objects, root: &ObjectId) -> Result<Layout, TreeError> {
        let node = objects.node(root)?;
        let Some(delta) = node.delta else {
            return Ok(Layout {
                base: *root,
                leaves: objects.plain_leaves(root)?,
                edits: Vec::new(),
                patch: Vec::new(),
            });
        };
        let layout = Layout {
            base: delta.base,
            leaves: objects.plain_leaves(&delta.base)?,
            edits: delta.edits,
            patch: match &delta.patch {
                Some(patch) => objects.plain_leaves(patch)?,
                None => Vec::new(),
            },
        };
        layout
            .check()
            .map_err(|detail| TreeError::Malformed { id: *root, detail })?;
        Ok(layout)
    }

    /// The layout of this layout's base tree alone (itself when plain).
    pub(crate) fn plain_base(&self) -> Layout {
        Layout {
            base: self.base,
            leaves: self.leaves.clone(),
            edits: Vec::new(),
            patch: Vec::new(),
        }
    }

    /// A delta's layout from its parts, checked as `read` checks it.
    pub(crate) fn from_parts(
        base: ObjectId,
        leaves: Vec<Child>,
        edits: Vec<Edit>,
        patch: Vec<Child>,
    ) -> Result<Layout, String> {
        let layout = Layout {
            base,
            leaves,
            edits,
            patch,
        };
        layout.check()?;
        Ok(layout)
    }

    /// That the edits fit the base and the patch, so reading can never index out of range.
    fn check(&self) -> Result<(), String> {
        let mut previous: Option<u64> = None;
        let mut inserted: u64 = 0;
        for edit in &self.edits {
            if previous.is_some_and(|leaf| leaf >= edit.leaf) {
                return Err("edits are not in ascending leaf order".into());
            }
            previous = Some(edit.leaf);
            let Some(child) = usize::try_from(edit.leaf)
                .ok()
                .and_then(|index| self.leaves.get(index))
            else {
                return Err(format!("an edit names leaf {}, past the base", edit.leaf));
            };
            if child.id != edit.id {
                return Err(format!("edit of leaf {} names another leaf", edit.leaf));
            }
            if !ascending(edit.deletes.iter().copied())
                || edit
                    .deletes
                    .last()
                    .is_some_and(|&pos| u64::from(pos) >= child.n_rows)
            {
                return Err(format!(
                    "deletes of leaf {} out of order or range",
                    edit.leaf
                ));
            }
            if !ascending(edit.inserts.iter().map(|insert| insert.before))
                || edit
                    .inserts
                    .iter()
                    .any(|insert| u64::from(insert.before) > child.n_rows || insert.rows == 0)
            {
                return Err(format!(
                    "inserts of leaf {} out of order or range",
                    edit.leaf
                ));
            }
            inserted += edit
                .inserts
                .iter()
                .map(|insert| u64::from(insert.rows))
                .sum::<u64>();
        }
        let patch_rows: u64 = self.patch.iter().map(|child| child.n_rows).sum();
        if inserted != patch_rows {
            return Err(format!(
                "edits insert {inserted} rows, the patch holds {patch_rows}"
            ));
        }
        Ok(())
    }

    /// Rows the version holds (saturating: entries may claim anything).
    pub fn n_rows(&self) -> u64 {
        let sum = |leaves: &[Child]| {
            leaves
                .iter()
                .fold(0u64, |sum, child| sum.saturating_add(child.n_rows))
        };
        let deleted: u64 = self
            .edits
            .iter()
            .map(|edit| edit.deletes.len() as u64)
            .sum();
        sum(&self.leaves)
            .saturating_sub(deleted)
            .saturating_add(sum(&self.patch))
    }

    /// The objects holding the version's rows: base leaves, then patch leaves.
    pub fn data_leaves(&self) -> Vec<Child> {
        self.leaves.iter().chain(&self.patch).cloned().collect()
    }

    /// Position deletes by leaf id, for readers that take leaves in any order (SQL).
    pub fn deletes(&self) -> std::collections::HashMap<ObjectId, Vec<u32>> {
        self.edits
            .iter()
            .filter(|edit| !edit.deletes.is_empty())
            .map(|edit| (edit.id, edit.deletes.clone()))
            .collect()
    }

    /// The version's rows as parts in key order, one per base leaf. An unedited part is
    /// its leaf; an edited one has an id of its own (equal ids: equal rows) and a key range
    /// that holds every row it may contain.
    pub fn parts(&self) -> Vec<Part> {
        let mut parts = Vec::with_capacity(self.leaves.len());
        let mut edits = self.edits.iter().peekable();
        let mut patch_from: u64 = 0;
        for (index, child) in self.leaves.iter().enumerate() {
            let edit = edits.next_if(|edit| edit.leaf == index as u64);
            let Some(edit) = edit else {
                parts.push(Part {
                    child: child.clone(),
                    leaf: child.id,
                    edit: None,
                });
                continue;
            };
            let inserted: u64 = edit
                .inserts
                .iter()
                .map(|insert| u64::from(insert.rows))
                .sum();
            let mut part = child.clone();
            if edit
                .inserts
                .first()
                .is_some_and(|insert| insert.before == 0)
            {
                part.first_key = match index.checked_sub(1) {
                    // The smallest key above the previous leaf's last.
                    Some(previous) => {
                        let mut key = self.leaves[previous].last_key.to_vec();
                        key.push(0);
                        ByteBuf::from(key)
                    }
                    None => ByteBuf::new(),
                };
            }
            if edit
                .inserts
                .last()
                .is_some_and(|insert| u64::from(insert.before) == child.n_rows)
            {
                // Commits put rows after a leaf before the next leaf's first row, so only
                // the last leaf inserts at its end; any other is bounded conservatively.
                part.last_key = ByteBuf::from(KEY_END.to_vec());
            }
            part.n_rows = child.n_rows - edit.deletes.len() as u64 + inserted;
            part.id = self.part_id(edit, patch_from, inserted);
            parts.push(Part {
                child: part,
                leaf: child.id,
                edit: Some(PartEdit {
                    deletes: edit.deletes.clone(),
                    inserts: edit.inserts.clone(),
                    patch_from,
                    leaf_rows: child.n_rows,
                }),
            });
            patch_from += inserted;
        }
        parts
    }

    /// An edited part's id: its leaf, its edit, and the patch leaves and offsets its
    /// inserted rows come from.
    fn part_id(&self, edit: &Edit, patch_from: u64, inserted: u64) -> ObjectId {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"pail part\0");
        hasher.update(&edit.id.0);
        for position in &edit.deletes {
            hasher.update(&position.to_le_bytes());
        }
        hasher.update(b"\0inserts");
        for insert in &edit.inserts {
            hasher.update(&insert.before.to_le_bytes());
            hasher.update(&insert.rows.to_le_bytes());
        }
        let mut start: u64 = 0;
        for child in &self.patch {
            let end = start + child.n_rows;
            if end > patch_from && start < patch_from + inserted {
                hasher.update(&child.id.0);
                hasher.update(&(patch_from.saturating_sub(start)).to_le_bytes());
            }
            start = end;
        }
        hasher.update(&inserted.to_le_bytes());
        ObjectId(*hasher.finalize().as_bytes())
    }

    /// A reader of this layout's parts.
    pub fn part_reader(&self) -> PartReader {
        PartReader::new(self.patch.clone())
    }
}

/// True when the values ascend strictly.
fn ascending(values: impl Iterator<Item = u32>) -> bool {
    let mut last: Option<u32> = None;
    for value in values {
        if last.is_some_and(|last| last >= value) {
            return false;
        }
        last = Some(value);
    }
    true
}

/// One base leaf as a version has it.
#[derive(Debug, Clone)]
pub struct Part {
    /// The part's entry: the leaf's own when unedited; else with the part's id, row count
    /// and a key range that holds its inserted rows too.
    pub child: Child,
    /// The base leaf read.
    pub leaf: ObjectId,
    pub edit: Option<PartEdit>,
}

/// How a part edits its leaf.
#[derive(Debug, Clone)]
pub struct PartEdit {
    pub deletes: Vec<u32>,
    pub inserts: Vec<Insert>,
    /// Index of the first patch row the inserts take.
    pub patch_from: u64,
    /// Rows of the base leaf.
    pub leaf_rows: u64,
}

/// Top-level columns to decode; `None` decodes them all.
pub type Projection<'a> = Option<&'a HashSet<String>>;

/// Reads parts, keeping the last patch leaf decoded (edits take patch rows in order).
pub struct PartReader {
    patch: Vec<Child>,
    cached: Option<(usize, RecordBatch)>,
}

impl PartReader {
    /// A reader of parts whose inserts take rows of these patch leaves.
    pub fn new(patch: Vec<Child>) -> PartReader {
        PartReader {
            patch,
            cached: None,
        }
    }

    /// A part's rows, in key order, as one or more batches.
    pub(crate) fn read(
        &mut self,
        objects: &Objects,
        part: &Part,
        projection: Projection,
    ) -> Result<Vec<RecordBatch>, TreeError> {
        let batches = read_leaf_projected(objects, &part.leaf, projection)?;
        let Some(edit) = &part.edit else {
            return Ok(batches);
        };
        let leaf = concat(&batches, &part.leaf)?;
        if leaf.num_rows() as u64 != edit.leaf_rows {
            return Err(TreeError::Malformed {
                id: part.leaf,
                detail: format!(
                    "holds {} rows, its entry says {}",
                    leaf.num_rows(),
                    edit.leaf_rows
                ),
            });
        }
        let inserted: u64 = edit
            .inserts
            .iter()
            .map(|insert| u64::from(insert.rows))
            .sum();
        let patch = self
            .patch_rows(objects, edit.patch_from, inserted, projection)?
            .unwrap_or_else(|| leaf.slice(0, 0));
        let mut indices: Vec<(usize, usize)> = Vec::with_capacity(part.child.n_rows as usize);
        let mut deletes = edit.deletes.iter().peekable();
        let mut inserts = edit.inserts.iter().peekable();
        let mut next_patch = 0usize;
        for position in 0..=leaf.num_rows() {
            if let Some(insert) = inserts.next_if(|insert| insert.before as usize == position) {
                let rows = insert.rows as usize;
                indices.extend((next_patch..next_patch + rows).map(|row| (1, row)));
                next_patch += rows;
            }
            if position == leaf.num_rows() {
                break;
            }
            if deletes.next_if(|&&pos| pos as usize == position).is_none() {
                indices.push((0, position));
            }
        }
        let batch = arrow_select::interleave::interleave_record_batch(&[&leaf, &patch], &indices)
            .map_err(|err| TreeError::Malformed {
            id: part.leaf,
            detail: format!("its rows and the patch's do not combine: {err}"),
        })?;
        Ok(vec![batch])
    }

    /// Patch rows `from..from + n`, as one batch; `None` when `n` is 0.
    pub(crate) fn patch_rows(
        &mut self,
        objects: &Objects,
        from: u64,
        n: u64,
        projection: Projection,
    ) -> Result<Option<RecordBatch>, TreeError> {
        let mut pieces = Vec::new();
        let mut start: u64 = 0;
        for index in 0..self.patch.len() {
            let rows = self.patch[index].n_rows;
            let (lo, hi) = (from.max(start), (from + n).min(start + rows));
            if lo < hi {
                let batch = match &self.cached {
                    Some((cached, batch)) if *cached == index => batch.clone(),
                    _ => {
                        let id = self.patch[index].id;
                        let batch = concat(&read_leaf_projected(objects, &id, projection)?, &id)?;
                        if batch.num_rows() as u64 != rows {
                            return Err(TreeError::Malformed {
                                id,
                                detail: format!(
                                    "holds {} rows, its entry says {rows}",
                                    batch.num_rows()
                                ),
                            });
                        }
                        self.cached = Some((index, batch.clone()));
                        batch
                    }
                };
                pieces.push(batch.slice((lo - start) as usize, (hi - lo) as usize));
            }
            start += rows;
            if start >= from + n {
                break;
            }
        }
        if pieces.is_empty() {
            return Ok(None);
        }
        Ok(Some(concat(&pieces, &self.patch[0].id)?))
    }
}

pub(crate) fn concat(batches: &[RecordBatch], id: &ObjectId) -> Result<RecordBatch, TreeError> {
    let schema: SchemaRef = match batches.first() {
        Some(batch) => batch.schema(),
        None => {
            return Err(TreeError::Malformed {
                id: *id,
                detail: "a leaf without rows".into(),
            });
        }
    };
    if batches.len() == 1 {
        return Ok(batches[0].clone());
    }
    arrow_select::concat::concat_batches(&schema, batches).map_err(|err| TreeError::Malformed {
        id: *id,
        detail: err.to_string(),
    })
}

/// A leaf's rows, with only the projected top-level columns decoded.
pub(crate) fn read_leaf_projected(
    objects: &Objects,
    id: &ObjectId,
    projection: Projection,
) -> Result<Vec<RecordBatch>, TreeError> {
    let bytes = objects.get(id, Kind::Leaf)?;
    Ok(leaf::decode_projected(&id.to_hex(), bytes, projection)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(tag: &str, n_rows: u64) -> Child {
        Child {
            id: ObjectId::compute(Kind::Leaf, tag.as_bytes()),
            first_key: ByteBuf::from(tag.as_bytes().to_vec()),
            last_key: ByteBuf::from(tag.as_bytes().to_vec()),
            n_rows,
            n_bytes: 0,
            digest: ObjectId::compute(Kind::Blob, tag.as_bytes()),
            stats: Vec::new(),
        }
    }

    fn edit(leaf: u64, id: &Child, deletes: Vec<u32>, inserts: Vec<Insert>) -> Edit {
        Edit {
            leaf,
            id: id.id,
            deletes,
            inserts,
        }
    }

    #[test]
    fn edits_that_do_not_fit_their_base_and_patch_are_refused() {
        let (a, b) = (leaf("a", 10), leaf("b", 5));
        let patch = vec![leaf("p", 3)];
        let base = ObjectId::compute(Kind::Node, b"base");
        let layout = |edits: Vec<Edit>| {
            Layout::from_parts(base, vec![a.clone(), b.clone()], edits, patch.clone())
        };
        let insert = |before, rows| Insert { before, rows };
        // Fits: rows 0 and 9 of a removed, 3 rows before b's end.
        let ok = layout(vec![
            edit(0, &a, vec![0, 9], Vec::new()),
            edit(1, &b, Vec::new(), vec![insert(5, 3)]),
        ])
        .unwrap();
        assert_eq!(ok.n_rows(), 10 - 2 + 5 + 3);
        let refused = [
            // A position past the leaf, unsorted deletes, a leaf past the base.
            vec![edit(0, &a, vec![10], vec![insert(0, 3)])],
            vec![edit(0, &a, vec![3, 1], vec![insert(0, 3)])],
            vec![edit(2, &b, Vec::new(), vec![insert(0, 3)])],
            // Another leaf's id, inserts after the end, inserts not taking the patch.
            vec![edit(0, &b, Vec::new(), vec![insert(0, 3)])],
            vec![edit(1, &b, Vec::new(), vec![insert(6, 3)])],
            vec![edit(1, &b, Vec::new(), vec![insert(0, 2)])],
            // Edits out of leaf order, an empty insert.
            vec![
                edit(1, &b, Vec::new(), vec![insert(0, 3)]),
                edit(0, &a, vec![1], Vec::new()),
            ],
            vec![edit(0, &a, Vec::new(), vec![insert(0, 3), insert(1, 0)])],
        ];
        for edits in refused {
            assert!(layout(edits.clone()).is_err(), "{edits:?}");
        }
    }

    #[test]
    fn parts_of_equal_edits_share_an_id_and_differ_otherwise() {
        let (a, b) = (leaf("a", 10), leaf("b", 5));
        let base = ObjectId::compute(Kind::Node, b"base");
        let make = |deletes: Vec<u32>| {
            Layout::from_parts(
                base,
                vec![a.clone(), b.clone()],
                vec![Edit {
                    leaf: 1,
                    id: b.id,
                    deletes,
                    inserts: Vec::new(),
                }],
                Vec::new(),
            )
            .unwrap()
            .parts()
        };
        let (one, again, other) = (make(vec![2]), make(vec![2]), make(vec![3]));
        assert_eq!(one[0].child.id, a.id, "an unedited part is its leaf");
        assert_eq!(one[1].child.id, again[1].child.id);
        assert_ne!(one[1].child.id, other[1].child.id);
        assert_ne!(one[1].child.id, b.id);
        assert_eq!(one[1].child.n_rows, 4);
    }
}
