//! Storing a version as its parent's base tree plus a delta: the base's rows it removes
//! (position deletes) and the rows it inserts (a patch tree), when that is much smaller
//! than the leaves its own tree would rewrite. Scattered change touches most leaves of a
//! content-defined tree; a delta costs what changed.
//!
//! The choice is a function of the parent's layout and the new rows only: the new rows'
//! plain tree is built as always, compared with the parent's base, and the delta is used
//! when (a) it removes and inserts at most a tenth of the base's rows and (b) it is under a
//! quarter of the rows the plain tree would write. Otherwise the version is its plain tree,
//! which is exactly what a first commit of those rows makes (compaction), so the same
//! content saved from the same parent always gets the same root.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_row::{RowConverter, SortField};
use serde_bytes::ByteBuf;

use super::compare::{Region, differing_regions};
use super::layout::{Layout, Objects, Part, PartReader};
use super::leaf;
use super::tree::{BuiltTree, Staging, TreeError, build_nodes};
use crate::object::{Child, DELTA_NODE_FORMAT, Delta, Edit, Insert, Kind, Node, ObjectId};
use crate::schema::Schema;

/// A delta may remove and insert at most 1/`COMPACT_AT` of the base's rows.
const COMPACT_AT: u64 = 10;
/// A delta is kept only when the plain tree would write `PLAIN_OVER` times its rows.
const PLAIN_OVER: u64 = 4;
/// A patch leaf ends after a row whose hash falls under this (1 in 256), once it holds
/// `MIN_PATCH_ROWS`; it always ends at `MAX_PATCH_ROWS`.
const PATCH_BOUNDARY: u32 = u32::MAX / 256;
const MIN_PATCH_ROWS: usize = 64;
const MAX_PATCH_ROWS: usize = 8192;

/// A version stored as a delta: its root and the objects to write instead of the plain
/// tree's.
pub struct Layered {
    pub built: BuiltTree,
    pub staging: Staging,
}

/// What a new version's rows are to build: the plain tree just built, in `staging` (read
/// through `objects`), and the root of the parent version.
pub struct LayerInput<'a> {
    pub objects: &'a Objects<'a>,
    pub parent_root: &'a ObjectId,
    pub built: &'a BuiltTree,
    pub schema: &'a Schema,
    pub schema_id: &'a ObjectId,
    pub tmp_dir: &'a Path,
}

/// The delta to store instead of `built`, or `None` when the plain tree is what to store.
pub fn layer(input: &LayerInput) -> Result<Option<Layered>, TreeError> {
    let objects = input.objects;
    let parent = Layout::read(objects, input.parent_root)?;
    let base_rows: u64 = parent.leaves.iter().map(|child| child.n_rows).sum();
    if parent.leaves.is_empty() || input.built.root == parent.base {
        return Ok(None);
    }
    let regions = differing_regions(objects, &parent.base, &input.built.root)?.regions;
    let plain_rows: u64 = regions
        .iter()
        .flat_map(|region| &region.new)
        .map(|part| part.child.n_rows)
        .sum();
    let budget = (base_rows / COMPACT_AT).min(plain_rows / PLAIN_OVER);
    let index: HashMap<ObjectId, usize> = parent
        .leaves
        .iter()
        .enumerate()
        .map(|(index, child)| (child.id, index))
        .collect();
    let mut plan = Plan {
        leaves: &parent.leaves,
        index: &index,
        edits: Vec::new(),
        changed: 0,
        patch: PatchBuilder::new(input.schema, input.schema_id, input.tmp_dir)?,
    };
    for region in &regions {
        if !plan.region(objects, region)? || plan.changed > budget {
            return Ok(None);
        }
    }
    let Plan { edits, patch, .. } = plan;
    let (patch_root, patch_leaves, mut staging) = patch.finish()?;
    let delta = Node {
        format: DELTA_NODE_FORMAT,
        level: 0,
        children: Vec::new(),
        delta: Some(Delta {
            base: parent.base,
            patch: patch_root,
            edits,
        }),
    };
    let (_, bytes) = delta.encode();
    let root = staging.put(Kind::Node, &bytes)?;
    Ok(Some(Layered {
        built: BuiltTree {
            root,
            n_rows: input.built.n_rows,
            n_bytes: input.built.n_bytes,
            leaves_written: patch_leaves,
            leaves_reused: parent.leaves.len(),
        },
        staging,
    }))
}

/// The edits found so far.
struct Plan<'a> {
    leaves: &'a [Child],
    index: &'a HashMap<ObjectId, usize>,
    edits: Vec<Edit>,
    /// Rows removed plus rows inserted.
    changed: u64,
    patch: PatchBuilder,
}

impl Plan<'_> {
    /// Finds a region's removed and inserted rows by whole-row equality (keys are unique,
    /// so a row present on both sides is unchanged) and records them. False when a column
    /// type has no Arrow row format: the version is then stored plain.
    fn region(&mut self, objects: &Objects, region: &Region) -> Result<bool, TreeError> {
        let old = read_parts(objects, &region.old)?;
        let new = read_parts(objects, &region.new)?;
        let Some(new) = new else {
            // Rows only removed.
            for part in &region.old {
                let leaf = self.leaf_index(part)?;
                let all: Vec<u32> = (0..part.child.n_rows as u32).collect();
                self.changed += all.len() as u64;
                self.edit(leaf).deletes.extend(all);
            }
            return Ok(true);
        };
        let rows = match &old {
            Some(old) => row_bytes(&[old, &new]),
            None => row_bytes(&[&new]),
        };
        let Some(rows) = rows else {
            return Ok(false);
        };
        let no_rows: Vec<&[u8]> = Vec::new();
        let all: Vec<Vec<&[u8]>> = rows
            .iter()
            .map(|side| side.iter().map(|row| row.data()).collect())
            .collect();
        let (old_rows, new_rows) = match &old {
            Some(_) => (&all[0], &all[1]),
            None => (&no_rows, &all[0]),
        };
        let old_set: HashMap<&[u8], usize> = old_rows
            .iter()
            .enumerate()
            .map(|(index, row)| (*row, index))
            .collect();
        let new_set: std::collections::HashSet<&[u8]> = new_rows.iter().copied().collect();
        // Old rows' places: (leaf index, position) of each old row, in order.
        let mut places: Vec<(usize, u32)> = Vec::with_capacity(old_rows.len());
        for part in &region.old {
            let leaf = self.leaf_index(part)?;
            places.extend((0..part.child.n_rows as u32).map(|position| (leaf, position)));
        }
        if places.len() != old_rows.len() {
            return Err(malformed(
                &region.old[0],
                "row counts differ from the entries",
            ));
        }
        for (index, row) in old_rows.iter().enumerate() {
            if !new_set.contains(row) {
                let (leaf, position) = places[index];
                self.changed += 1;
                self.edit(leaf).deletes.push(position);
            }
        }
        // Inserted rows go after the last unchanged row before them, else where the region
        // starts.
        let start = match region.old.first() {
            Some(part) => (self.leaf_index(part)?, 0u32),
            None => self.place_before(&region.new[0].child.first_key),
        };
        let mut after: Option<usize> = None;
        let new = Arc::new(new);
        for (index, row) in new_rows.iter().enumerate() {
            if let Some(&old_index) = old_set.get(row) {
                after = Some(old_index);
                continue;
            }
            let (leaf, before) = match after {
                Some(old_index) => self.after(places[old_index]),
                None => start,
            };
            self.changed += 1;
            self.insert(leaf, before);
            self.patch.push(&new, index, row)?;
        }
        Ok(true)
    }

    fn leaf_index(&self, part: &Part) -> Result<usize, TreeError> {
        self.index
            .get(&part.leaf)
            .copied()
            .ok_or_else(|| malformed(part, "not a leaf of the base"))
    }

    /// The place just after an old row: before the next row of its leaf, or before the
    /// first row of the next leaf (the end of the last leaf).
    fn after(&self, (leaf, position): (usize, u32)) -> (usize, u32) {
        let rows = self.leaves[leaf].n_rows as u32;
        if position + 1 < rows || leaf + 1 == self.leaves.len() {
            (leaf, position + 1)
        } else {
            (leaf + 1, 0)
        }
    }

    /// Where rows go that fall between shared leaves: before the first leaf that starts
    /// after `key`, else at the end of the last leaf.
    fn place_before(&self, key: &ByteBuf) -> (usize, u32) {
        match self
            .leaves
            .iter()
            .position(|child| child.first_key.as_slice() > key.as_slice())
        {
            Some(leaf) => (leaf, 0),
            None => {
                let last = self.leaves.len() - 1;
                (last, self.leaves[last].n_rows as u32)
            }
        }
    }

    fn edit(&mut self, leaf: usize) -> &mut Edit {
        let position = match self
            .edits
            .binary_search_by_key(&(leaf as u64), |edit| edit.leaf)
        {
            Ok(position) => position,
            Err(position) => {
                self.edits.insert(
                    position,
                    Edit {
                        leaf: leaf as u64,
                        id: self.leaves[leaf].id,
                        deletes: Vec::new(),
                        inserts: Vec::new(),
                    },
                );
                position
            }
        };
        &mut self.edits[position]
    }

    fn insert(&mut self, leaf: usize, before: u32) {
        let edit = self.edit(leaf);
        match edit.inserts.last_mut() {
            Some(last) if last.before == before => last.rows += 1,
            _ => edit.inserts.push(Insert { before, rows: 1 }),
        }
    }
}

fn malformed(part: &Part, detail: &str) -> TreeError {
    TreeError::Malformed {
        id: part.leaf,
        detail: detail.to_string(),
    }
}

/// Plain parts' rows as one batch; `None` when there are none.
fn read_parts(objects: &Objects, parts: &[Part]) -> Result<Option<RecordBatch>, TreeError> {
    let mut reader = PartReader::new(Vec::new());
    let mut batches = Vec::new();
    for part in parts {
        batches.extend(reader.read(objects, part, None)?);
    }
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let batch = arrow_select::concat::concat_batches(&first.schema(), &batches)
        .map_err(|err| malformed(&parts[0], &err.to_string()))?;
    Ok(Some(batch))
}

/// Every row of each batch in Arrow's row format, through one converter; `None` when a
/// column type has none or the batches' types differ.
fn row_bytes(batches: &[&RecordBatch]) -> Option<Vec<arrow_row::Rows>> {
    let types: Vec<_> = batches[0]
        .columns()
        .iter()
        .map(|a| a.data_type().clone())
        .collect();
    if batches.iter().any(|batch| {
        batch.num_columns() != types.len()
            || batch
                .columns()
                .iter()
                .zip(&types)
                .any(|(a, t)| a.data_type() != t)
    }) {
        return None;
    }
    let fields = types.into_iter().map(SortField::new).collect();
    let converter = RowConverter::new(fields).ok()?;
    batches
        .iter()
        .map(|batch| converter.convert_columns(batch.columns()).ok())
        .collect()
}

/// Builds the patch tree from inserted rows in key order, cut where a row's hash says.
struct PatchBuilder {
    schema: Schema,
    schema_id: ObjectId,
    staging: Staging,
    pending: Vec<(Arc<RecordBatch>, usize)>,
    hasher: blake3::Hasher,
    leaves: Vec<Child>,
}

impl PatchBuilder {
    fn new(schema: &Schema, schema_id: &ObjectId, tmp_dir: &Path) -> Result<Self, TreeError> {
        Ok(PatchBuilder {
            schema: schema.clone(),
            schema_id: *schema_id,
            staging: Staging::new(tmp_dir)?,
            pending: Vec::new(),
            hasher: blake3::Hasher::new(),
            leaves: Vec::new(),
        })
    }

    fn push(
        &mut self,
        batch: &Arc<RecordBatch>,
        index: usize,
        row: &[u8],
    ) -> Result<(), TreeError> {
        if self.pending.is_empty() {
            self.hasher = blake3::Hasher::new();
            self.hasher.update(&self.schema_id.0);
        }
        self.hasher.update(&(row.len() as u64).to_le_bytes());
        self.hasher.update(row);
        self.pending.push((batch.clone(), index));
        let hash = blake3::hash(row);
        let prefix = u32::from_le_bytes(hash.as_bytes()[..4].try_into().expect("4 bytes"));
        let n = self.pending.len();
        if n >= MAX_PATCH_ROWS || (n >= MIN_PATCH_ROWS && prefix < PATCH_BOUNDARY) {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TreeError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut sources: Vec<Arc<RecordBatch>> = Vec::new();
        let mut indices = Vec::with_capacity(self.pending.len());
        for (batch, row) in self.pending.drain(..) {
            let source = match sources.iter().position(|known| Arc::ptr_eq(known, &batch)) {
                Some(source) => source,
                None => {
                    sources.push(batch);
                    sources.len() - 1
                }
            };
            indices.push((source, row));
        }
        let refs: Vec<&RecordBatch> = sources.iter().map(|batch| batch.as_ref()).collect();
        let batch = arrow_select::interleave::interleave_record_batch(&refs, &indices)
            .map_err(|err| TreeError::Leaf(leaf::LeafError::Encode(err.to_string())))?;
        let bytes = leaf::encode_leaf(&batch, &self.schema)?;
        let id = self.staging.put(Kind::Leaf, &bytes)?;
        self.leaves.push(Child {
            id,
            // Patch leaves are never looked up by key: their range is left open.
            first_key: ByteBuf::new(),
            last_key: ByteBuf::from(super::layout::KEY_END.to_vec()),
            n_rows: batch.num_rows() as u64,
            n_bytes: leaf::file_bytes(&self.schema, &batch),
            digest: ObjectId(*self.hasher.finalize().as_bytes()),
            stats: leaf::column_stats(&batch),
        });
        Ok(())
    }

    /// The patch root (none without rows), its leaf count, and the staging holding it.
    fn finish(mut self) -> Result<(Option<ObjectId>, usize, Staging), TreeError> {
        self.flush()?;
        if self.leaves.is_empty() {
            return Ok((None, 0, self.staging));
        }
        let n_leaves = self.leaves.len();
        let root = build_nodes(std::mem::take(&mut self.leaves), &mut self.staging)?;
        Ok((Some(root), n_leaves, self.staging))
    }
}
