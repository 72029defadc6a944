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

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
    let base = Base {
        leaves: &parent.leaves,
        index: &index,
    };
    let Some(changes) = scan_regions(objects, &base, &regions, budget)? else {
        return Ok(None);
    };
    let mut plan = Plan {
        base: &base,
        edits: Vec::new(),
        patch: PatchBuilder::new(input.schema, input.schema_id, input.tmp_dir)?,
    };
    for change in changes {
        plan.apply(change)?;
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

/// The parent's base leaves, and each leaf's index by id.
struct Base<'a> {
    leaves: &'a [Child],
    index: &'a HashMap<ObjectId, usize>,
}

/// A place in the base: (leaf index, row position in the leaf).
type Place = (usize, u32);

/// What one region changes, found apart from every other region.
struct RegionChange {
    /// Base rows the new version no longer has, in base order.
    deletes: Vec<Place>,
    /// Rows the new version inserts, in key order: where each goes, and its row in
    /// `rows` with its Arrow row bytes (the patch tree cuts leaves by their hash).
    inserts: Vec<(Place, Vec<u8>)>,
    rows: Option<Arc<RecordBatch>>,
}

impl RegionChange {
    fn changed(&self) -> u64 {
        (self.deletes.len() + self.inserts.len()) as u64
    }
}

/// Every region's change, in region order, found on two threads (each a contiguous half
/// of the regions); `None` when a column type has no Arrow row format or the change
/// exceeds `budget`, and the version is stored plain. The result does not depend on the
/// split: the regions are independent, and `budget` is checked against their total.
fn scan_regions(
    objects: &Objects,
    base: &Base,
    regions: &[Region],
    budget: u64,
) -> Result<Option<Vec<RegionChange>>, TreeError> {
    let changed = AtomicU64::new(0);
    let scan = |regions: &[Region]| -> Result<Option<Vec<RegionChange>>, TreeError> {
        let mut changes = Vec::with_capacity(regions.len());
        for region in regions {
            let Some(change) = base.region(objects, region)? else {
                return Ok(None);
            };
            let total = changed.fetch_add(change.changed(), Ordering::Relaxed) + change.changed();
            if total > budget {
                return Ok(None);
            }
            changes.push(change);
        }
        Ok(Some(changes))
    };
    let parts = |region: &Region| region.old.len() + region.new.len();
    let half = regions.iter().map(parts).sum::<usize>() / 2;
    let mut seen = 0;
    let split = regions
        .iter()
        .position(|region| {
            seen += parts(region);
            seen > half
        })
        .unwrap_or(regions.len());
    let (first, second) = regions.split_at(split);
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| scan(second));
        let first = scan(first);
        (first, second.join().expect("a region scan does not panic"))
    });
    Ok(match (first?, second?) {
        (Some(mut first), Some(second)) => {
            first.extend(second);
            Some(first)
        }
        _ => None,
    })
}

impl Base<'_> {
    /// Finds a region's removed and inserted rows by whole-row equality (keys are unique,
    /// so a row present on both sides is unchanged). `None` when a column type has no
    /// Arrow row format.
    fn region(
        &self,
        objects: &Objects,
        region: &Region,
    ) -> Result<Option<RegionChange>, TreeError> {
        let old = read_parts(objects, &region.old)?;
        let new = match fresh_parts(objects, &region.new, old.as_ref())? {
            Some(new) => Some(new),
            None => read_parts(objects, &region.new)?,
        };
        // Old rows' places: (leaf index, position) of each old row, in order.
        let mut places: Vec<Place> = Vec::new();
        for part in &region.old {
            let leaf = self.leaf_index(part)?;
            places.extend((0..part.child.n_rows as u32).map(|position| (leaf, position)));
        }
        let Some(new) = new else {
            // Rows only removed.
            return Ok(Some(RegionChange {
                deletes: places,
                inserts: Vec::new(),
                rows: None,
            }));
        };
        let rows = match &old {
            Some(old) => row_bytes(&[old, &new]),
            None => row_bytes(&[&new]),
        };
        let Some(rows) = rows else {
            return Ok(None);
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
        if places.len() != old_rows.len() {
            return Err(malformed(
                &region.old[0],
                "row counts differ from the entries",
            ));
        }
        let old_set: HashMap<&[u8], usize> = old_rows
            .iter()
            .enumerate()
            .map(|(index, row)| (*row, index))
            .collect();
        let new_set: HashSet<&[u8]> = new_rows.iter().copied().collect();
        let deletes = old_rows
            .iter()
            .zip(&places)
            .filter(|(row, _)| !new_set.contains(*row))
            .map(|(_, place)| *place)
            .collect();
        // Inserted rows go after the last unchanged row before them, else where the region
        // starts.
        let start = match region.old.first() {
            Some(part) => (self.leaf_index(part)?, 0u32),
            None => self.place_before(&region.new[0].child.first_key),
        };
        let mut after: Option<usize> = None;
        let mut inserts = Vec::new();
        let mut taken: Vec<u32> = Vec::new();
        for (index, row) in new_rows.iter().enumerate() {
            if let Some(&old_index) = old_set.get(row) {
                after = Some(old_index);
                continue;
            }
            let place = match after {
                Some(old_index) => self.after(places[old_index]),
                None => start,
            };
            inserts.push((place, row.to_vec()));
            taken.push(index as u32);
        }
        let rows = if taken.is_empty() {
            None
        } else {
            let taken = arrow_array::UInt32Array::from(taken);
            let batch = arrow_select::take::take_record_batch(&new, &taken)
                .map_err(|err| malformed(&region.new[0], &err.to_string()))?;
            Some(Arc::new(batch))
        };
        Ok(Some(RegionChange {
            deletes,
            inserts,
            rows,
        }))
    }

    fn leaf_index(&self, part: &Part) -> Result<usize, TreeError> {
        self.index
            .get(&part.leaf)
            .copied()
            .ok_or_else(|| malformed(part, "not a leaf of the base"))
    }

    /// The place just after an old row: before the next row of its leaf, or before the
    /// first row of the next leaf (the end of the last leaf).
    fn after(&self, (leaf, position): Place) -> Place {
        let rows = self.leaves[leaf].n_rows as u32;
        if position + 1 < rows || leaf + 1 == self.leaves.len() {
            (leaf, position + 1)
        } else {
            (leaf + 1, 0)
        }
    }

    /// Where rows go that fall between shared leaves: before the first leaf that starts
    /// after `key`, else at the end of the last leaf.
    fn place_before(&self, key: &ByteBuf) -> Place {
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
}

/// The edits and patch rows found so far.
struct Plan<'a> {
    base: &'a Base<'a>,
    edits: Vec<Edit>,
    patch: PatchBuilder,
}

impl Plan<'_> {
    /// Records a region's change: its deletes, then its inserts in key order.
    fn apply(&mut self, change: RegionChange) -> Result<(), TreeError> {
        for (leaf, position) in change.deletes {
            self.edit(leaf).deletes.push(position);
        }
        for (index, ((leaf, before), row)) in change.inserts.iter().enumerate() {
            self.insert(*leaf, *before);
            let rows = change.rows.as_ref().expect("inserted rows are taken");
            self.patch.push(rows, index, row)?;
        }
        Ok(())
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
                        id: self.base.leaves[leaf].id,
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

/// New parts' rows as the commit encoded them (`Staging::fresh`), when it kept every one
/// and their Arrow types are those the old side decoded to: the row bytes compared and
/// hashed are then the ones a decoding would give. `None` sends the caller to decoding.
fn fresh_parts(
    objects: &Objects,
    parts: &[Part],
    old: Option<&RecordBatch>,
) -> Result<Option<RecordBatch>, TreeError> {
    let (Some(staging), Some(old)) = (objects.staging, old) else {
        return Ok(None);
    };
    let types = |batch: &RecordBatch| -> Vec<arrow_schema::DataType> {
        batch
            .columns()
            .iter()
            .map(|column| column.data_type().clone())
            .collect()
    };
    let old_types = types(old);
    let mut batches = Vec::with_capacity(parts.len());
    for part in parts {
        match staging.fresh(&part.leaf) {
            Some(batch) if part.edit.is_none() && types(batch) == old_types => batches.push(batch),
            _ => return Ok(None),
        }
    }
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let batch = arrow_select::concat::concat_batches(&first.schema(), batches.iter().copied())
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
