//! Row diffs between two versions (or two datasets with the same key).
//!
//! `rows::compare` finds the parts (leaves, edited or not) the two versions do not share,
//! grouped into regions of overlapping key ranges, without reading a leaf. Only those
//! parts are decoded, a region at a time, so a diff costs about as much as the change, not
//! the dataset. A region with parts on one side only is all additions (or removals):
//! counting it needs no read at all. Rows are matched by their key columns and compared
//! in Arrow form; only rows that differ become JSON, and only when they are printed or
//! when an identity column's change needs a closer look.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StructArray, UInt32Array};
use arrow_row::{RowConverter, Rows, SortField};
use serde_json::Value;

use crate::object::{Child, ObjectId};
use crate::repo::{RepoError, Resolved};
use crate::rows::compare::{Differing, EditPair, Region, differing_regions};
use crate::rows::key;
use crate::rows::layout::{Objects, Part, PartEdit, PartReader, concat, read_leaf_projected};
use crate::rows::tree::{Staging, TreeError};
use crate::schema::{self, Compat, Schema, Type};
use crate::store::StoreError;
use crate::{DatasetName, Repo};

/// Why a diff could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The two sides match rows by different keys, so their rows cannot be paired.
    #[error(
        "cannot compare rows of {old} ({}) with {new} ({}): their row keys differ",
        key_text(.old_key),
        key_text(.new_key)
    )]
    KeysDiffer {
        /// The old side's label: `name@version`, or the source listed.
        old: String,
        old_key: Vec<String>,
        new: String,
        new_key: Vec<String>,
    },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<StoreError> for DiffError {
    fn from(err: StoreError) -> Self {
        DiffError::Repo(err.into())
    }
}

impl From<TreeError> for DiffError {
    fn from(err: TreeError) -> Self {
        DiffError::Repo(err.into())
    }
}

/// One side of a diff.
#[derive(Debug, Clone)]
pub struct DiffSide {
    pub name: DatasetName,
    /// None for a commit no version names, or for the uncommitted side of `status`.
    pub version: Option<semver::Version>,
    pub n_rows: u64,
    schema: Schema,
    key: Vec<String>,
    root: ObjectId,
}

impl DiffSide {
    /// The side of a committed version.
    pub fn from_resolved(repo: &Repo, resolved: &Resolved) -> Result<DiffSide, RepoError> {
        Ok(DiffSide {
            name: resolved.name.clone(),
            version: resolved.version.clone(),
            n_rows: resolved.commit.n_rows,
            schema: repo.schema(&resolved.commit.schema)?,
            key: resolved.commit.key.clone(),
            root: resolved.commit.rows,
        })
    }

    pub(crate) fn uncommitted(
        name: DatasetName,
        n_rows: u64,
        schema: Schema,
        key: Vec<String>,
        root: ObjectId,
    ) -> DiffSide {
        DiffSide {
            name,
            version: None,
            n_rows,
            schema,
            key,
            root,
        }
    }

    /// The schema of this side.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// `NAME@VERSION`, or the name alone.
    pub fn label(&self) -> String {
        match &self.version {
            Some(version) => format!("{}@{version}", self.name),
            None => self.name.to_string(),
        }
    }
}

/// Whether a row was added, removed or modified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    Modified,
}

impl ChangeKind {
    /// `added`, `removed` or `modified`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Modified => "modified",
        }
    }
}

/// One row that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    pub kind: ChangeKind,
    /// The key columns and their values; for rows keyed by content, the whole row.
    pub key: Vec<(String, Value)>,
    pub old: Option<Value>,
    pub new: Option<Value>,
    /// For a modified row: the columns that differ, as dotted paths (`file.size`).
    pub columns: Vec<String>,
}

/// Counts of a diff, and how much of the trees it had to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffStat {
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
    /// Leaves decoded to compare rows.
    pub leaves_read: u64,
    /// Leaves that differ but were counted from their entries alone (one-sided regions).
    pub leaves_counted: u64,
}

/// A planned diff: schema changes known, differing leaves found, rows not read yet.
pub struct Diff {
    pub old: DiffSide,
    pub new: DiffSide,
    /// Schema changes from old to new.
    pub schema: Compat,
    work: Vec<Work>,
    /// The patch leaves of each side (empty for a plain tree), which edited parts read.
    patches: [Vec<Child>; 2],
    staging: Option<Staging>,
}

impl Diff {
    /// Plans the diff of two sides: compares the schemas and walks both row trees in one
    /// short read of the store, dropping every subtree the two have in common.
    pub(crate) fn plan(
        repo: &Repo,
        old: DiffSide,
        new: DiffSide,
        staging: Option<Staging>,
    ) -> Result<Diff, DiffError> {
        if old.key != new.key {
            return Err(DiffError::KeysDiffer {
                old: old.label(),
                old_key: old.key.clone(),
                new: new.label(),
                new_key: new.key.clone(),
            });
        }
        let schema = schema::compare(&old.schema, &new.schema);
        let differing = {
            let store = repo.read_store()?;
            let reader = store.read()?;
            let objects = Objects {
                reader: &reader,
                staging: staging.as_ref(),
            };
            differing_regions(&objects, &old.root, &new.root)?
        };
        let Differing {
            regions,
            pairs,
            patches,
        } = differing;
        let mut work: Vec<Work> = regions.into_iter().map(Work::Region).collect();
        work.extend(
            pairs
                .chunks(PAIRS_PER_READ)
                .map(|chunk| Work::Pairs(chunk.to_vec())),
        );
        Ok(Diff {
            old,
            new,
            schema,
            work,
            patches,
            staging,
        })
    }

    /// The key columns rows are matched by (empty: the row's content).
    pub fn key(&self) -> &[String] {
        &self.old.key
    }

    /// How many leaves differ (on either side): the most a full diff decodes.
    pub fn differing_leaves(&self) -> usize {
        self.work
            .iter()
            .map(|work| match work {
                Work::Region(region) => region.old.len() + region.new.len(),
                Work::Pairs(pairs) => 2 * pairs.len(),
            })
            .sum()
    }

    /// True when the rows are equal (the schemas may still differ).
    pub fn rows_equal(&self) -> bool {
        self.work.is_empty()
    }

    /// Counts added, removed and modified rows. One-sided regions are counted from the
    /// part entries; only regions with parts on both sides are read, and of those only
    /// the columns compared.
    pub fn stat(&self, repo: &Repo) -> Result<DiffStat, RepoError> {
        let mut stat = DiffStat::default();
        for work in &self.work {
            let region = match work {
                Work::Region(region) => region,
                Work::Pairs(pairs) => {
                    stat.leaves_read += 2 * pairs.len() as u64;
                    for compared in self.compare_pairs(repo, pairs, Detail::Counts)? {
                        stat.added += compared.added.len() as u64;
                        stat.removed += compared.removed.len() as u64;
                        stat.modified += compared.modified.len() as u64;
                    }
                    continue;
                }
            };
            if region.old.is_empty() || region.new.is_empty() {
                stat.added += region.new.iter().map(|part| part.child.n_rows).sum::<u64>();
                stat.removed += region.old.iter().map(|part| part.child.n_rows).sum::<u64>();
                stat.leaves_counted += (region.old.len() + region.new.len()) as u64;
                continue;
            }
            stat.leaves_read += (region.old.len() + region.new.len()) as u64;
            let compared = self.compare_region(repo, region, Detail::Counts)?;
            stat.added += compared.added.len() as u64;
            stat.removed += compared.removed.len() as u64;
            stat.modified += compared.modified.len() as u64;
        }
        Ok(stat)
    }

    /// The changed rows in key order, a region at a time (each read in its own short
    /// store transaction), so a consumer can stream them.
    pub fn rows<'a>(&'a self, repo: &'a Repo) -> DiffRows<'a> {
        DiffRows {
            diff: self,
            repo,
            next_region: 0,
            pending: VecDeque::new(),
        }
    }

    /// Reads one side of a region: its parts' rows as one batch.
    fn read_side(
        &self,
        objects: &Objects,
        side: usize,
        parts: &[Part],
        projection: Option<&HashSet<String>>,
    ) -> Result<Option<RecordBatch>, RepoError> {
        let mut reader = PartReader::new(self.patches[side].clone());
        let mut batches = Vec::new();
        for part in parts {
            batches.extend(reader.read(objects, part, projection)?);
        }
        let Some(first) = batches.first() else {
            return Ok(None);
        };
        let batch =
            arrow_select::concat::concat_batches(&first.schema(), &batches).map_err(|err| {
                RepoError::from(TreeError::Malformed {
                    id: parts[0].leaf,
                    detail: err.to_string(),
                })
            })?;
        Ok(Some(batch))
    }

    /// Top-level columns to decode: those compared for counts, all for rows.
    fn projection(&self, detail: Detail) -> Option<HashSet<String>> {
        match detail {
            Detail::Counts => Some(self.compared_columns()),
            Detail::Rows => None,
        }
    }

    /// Compares pairs of differently edited base leaves, in one store transaction: each
    /// side's candidates are the base rows only the other side deletes and its own
    /// inserted rows; every other row of the leaf is on both sides.
    fn compare_pairs(
        &self,
        repo: &Repo,
        pairs: &[EditPair],
        detail: Detail,
    ) -> Result<Vec<Compared>, RepoError> {
        let projection = self.projection(detail);
        let store = repo.read_store()?;
        let reader = store.read()?;
        let objects = Objects {
            reader: &reader,
            staging: self.staging.as_ref(),
        };
        let mut readers = [
            PartReader::new(self.patches[0].clone()),
            PartReader::new(self.patches[1].clone()),
        ];
        let mut out = Vec::with_capacity(pairs.len());
        for pair in pairs {
            let (old, new) = pair_batches(&objects, &mut readers, pair, projection.as_ref())?;
            out.push(self.compare_batches(old, new)?);
        }
        Ok(out)
    }

    /// Compares a region's rows: matched by key, compared in Arrow form. Rows become JSON
    /// only where they differ and `detail` asks for them, or where a File column's
    /// identity needs the exact rule (`changed_columns`).
    fn compare_region(
        &self,
        repo: &Repo,
        region: &Region,
        detail: Detail,
    ) -> Result<Compared, RepoError> {
        let projection = self.projection(detail);
        let (old, new) = {
            let store = repo.read_store()?;
            let reader = store.read()?;
            let objects = Objects {
                reader: &reader,
                staging: self.staging.as_ref(),
            };
            (
                self.read_side(&objects, 0, &region.old, projection.as_ref())?,
                self.read_side(&objects, 1, &region.new, projection.as_ref())?,
            )
        };
        self.compare_batches(old, new)
    }

    /// Matches two sides' rows by key and compares the pairs.
    fn compare_batches(
        &self,
        old: Option<RecordBatch>,
        new: Option<RecordBatch>,
    ) -> Result<Compared, RepoError> {
        let (old, new) = match (old, new) {
            (Some(old), Some(new)) => (old, new),
            (old, new) => {
                let all = |batch: &Option<RecordBatch>| {
                    (0..batch.as_ref().map_or(0, RecordBatch::num_rows)).collect::<Vec<usize>>()
                };
                return Ok(Compared {
                    added: all(&new),
                    removed: all(&old),
                    modified: Vec::new(),
                    old,
                    new,
                });
            }
        };
        let matched = match self.match_rows(&old, &new) {
            Some(matched) => matched?,
            // Types Arrow's row format cannot take, or sides whose columns differ in type:
            // compare as JSON.
            None => self.match_json(&old, &new)?,
        };
        Ok(Compared {
            old: Some(old),
            new: Some(new),
            ..matched
        })
    }

    /// Top-level columns a count needs: the key's and those both sides have.
    fn compared_columns(&self) -> HashSet<String> {
        let mut columns: HashSet<String> = self
            .old
            .key
            .iter()
            .map(|path| path.split('.').next().unwrap_or(path).to_string())
            .collect();
        for field in &self.old.schema.fields {
            if self.new.schema.fields.iter().any(|f| f.name == field.name) {
                columns.insert(field.name.clone());
            }
        }
        columns
    }

    /// Matches rows by key in Arrow's row format and compares the matched pairs the same
    /// way; pairs whose compared columns differ get the exact rule. `None` when a column's
    /// type has no row format or the two sides' types differ.
    fn match_rows(
        &self,
        old: &RecordBatch,
        new: &RecordBatch,
    ) -> Option<Result<Compared, RepoError>> {
        let (old_keys, new_keys) = key_rows(old, new, &self.old.key)?;
        let compared = self.compared_columns();
        let (old_values, new_values) = value_rows(old, new, &compared, &self.old.schema)?;
        let mut by_key: HashMap<&[u8], usize> = HashMap::with_capacity(old.num_rows());
        for index in 0..old.num_rows() {
            by_key.insert(old_keys.row(index).data(), index);
        }
        let mut result = Compared::default();
        let mut matched = vec![false; old.num_rows()];
        let mut closer = Vec::new();
        for index in 0..new.num_rows() {
            match by_key.get(new_keys.row(index).data()) {
                None => result.added.push(index),
                Some(&old_index) => {
                    matched[old_index] = true;
                    if old_values.row(old_index) != new_values.row(index) {
                        closer.push((old_index, index));
                    }
                }
            }
        }
        result.removed = (0..old.num_rows())
            .filter(|&index| !matched[index])
            .collect();
        for (old_index, new_index) in closer {
            let rows = self.json_pair(old, new, old_index, new_index);
            match rows {
                Ok((old_row, new_row)) => {
                    if !changed_columns(&self.old.schema, &self.new.schema, &old_row, &new_row)
                        .is_empty()
                    {
                        result.modified.push((old_index, new_index));
                    }
                }
                Err(err) => return Some(Err(err)),
            }
        }
        Some(Ok(result))
    }

    fn json_pair(
        &self,
        old: &RecordBatch,
        new: &RecordBatch,
        old_index: usize,
        new_index: usize,
    ) -> Result<(Value, Value), RepoError> {
        let old_row = rows_of(&self.old.schema, &old.slice(old_index, 1))?;
        let new_row = rows_of(&self.new.schema, &new.slice(new_index, 1))?;
        Ok((
            old_row.into_iter().next().unwrap_or(Value::Null),
            new_row.into_iter().next().unwrap_or(Value::Null),
        ))
    }

    /// Matches and compares rows as JSON: the slow path, for what Arrow's row format
    /// cannot take.
    fn match_json(&self, old: &RecordBatch, new: &RecordBatch) -> Result<Compared, RepoError> {
        let old_rows = rows_of(&self.old.schema, old)?;
        let new_rows = rows_of(&self.new.schema, new)?;
        let mut by_key: HashMap<Vec<u8>, usize> = HashMap::new();
        for (index, row) in old_rows.iter().enumerate() {
            by_key.insert(self.row_key(row), index);
        }
        let mut result = Compared::default();
        let mut matched = vec![false; old_rows.len()];
        for (index, row) in new_rows.iter().enumerate() {
            match by_key.get(&self.row_key(row)) {
                None => result.added.push(index),
                Some(&old_index) => {
                    matched[old_index] = true;
                    let old_row = &old_rows[old_index];
                    if !changed_columns(&self.old.schema, &self.new.schema, old_row, row).is_empty()
                    {
                        result.modified.push((old_index, index));
                    }
                }
            }
        }
        result.removed = (0..old_rows.len())
            .filter(|&index| !matched[index])
            .collect();
        Ok(result)
    }

    /// The changes of one unit of work as rows, in key order.
    fn work_changes(&self, repo: &Repo, work: &Work) -> Result<Vec<RowChange>, RepoError> {
        match work {
            Work::Region(region) => {
                self.changes(self.compare_region(repo, region, Detail::Rows)?)
            }
            Work::Pairs(pairs) => {
                let mut changes = Vec::new();
                for compared in self.compare_pairs(repo, pairs, Detail::Rows)? {
                    changes.extend(self.changes(compared)?);
                }
                Ok(changes)
            }
        }
    }

    /// A comparison's changes as rows, in key order.
    fn changes(&self, compared: Compared) -> Result<Vec<RowChange>, RepoError> {
        let take = |batch: &Option<RecordBatch>,
                    schema: &Schema,
                    indices: &[usize]|
         -> Result<Vec<Value>, RepoError> {
            let Some(batch) = batch else {
                return Ok(Vec::new());
            };
            if indices.is_empty() {
                return Ok(Vec::new());
            }
            let indices = UInt32Array::from_iter_values(indices.iter().map(|&i| i as u32));
            let taken = arrow_select::take::take_record_batch(batch, &indices).map_err(|err| {
                RepoError::from(TreeError::Malformed {
                    id: ObjectId([0; 32]),
                    detail: err.to_string(),
                })
            })?;
            Ok(schema::batch_to_rows(schema, &taken)?)
        };
        let (old_schema, new_schema) = (&self.old.schema, &self.new.schema);
        let modified_old: Vec<usize> = compared.modified.iter().map(|pair| pair.0).collect();
        let modified_new: Vec<usize> = compared.modified.iter().map(|pair| pair.1).collect();
        let mut changes = Vec::new();
        for row in take(&compared.new, new_schema, &compared.added)? {
            changes.push(RowChange {
                kind: ChangeKind::Added,
                key: self.key_values(&row),
                old: None,
                new: Some(row),
                columns: Vec::new(),
            });
        }
        for row in take(&compared.old, old_schema, &compared.removed)? {
            changes.push(RowChange {
                kind: ChangeKind::Removed,
                key: self.key_values(&row),
                old: Some(row),
                new: None,
                columns: Vec::new(),
            });
        }
        let olds = take(&compared.old, old_schema, &modified_old)?;
        let news = take(&compared.new, new_schema, &modified_new)?;
        for (old, new) in olds.into_iter().zip(news) {
            changes.push(RowChange {
                kind: ChangeKind::Modified,
                key: self.key_values(&new),
                columns: changed_columns(old_schema, new_schema, &old, &new),
                old: Some(old),
                new: Some(new),
            });
        }
        let mut keyed: Vec<(Vec<u8>, RowChange)> = changes
            .into_iter()
            .map(|change| {
                let row = change.new.as_ref().or(change.old.as_ref()).expect("a side");
                (self.row_key(row), change)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(keyed.into_iter().map(|(_, change)| change).collect())
    }

    /// The row key as the commit computed it; rows keyed by content use their canonical
    /// JSON, which orders them the same way within a region.
    fn row_key(&self, row: &Value) -> Vec<u8> {
        if self.old.key.is_empty() {
            return serde_json::to_vec(row).expect("JSON values serialize");
        }
        let mut bytes = Vec::new();
        for column in &self.old.key {
            key::push_value(&mut bytes, lookup(row, column));
        }
        bytes
    }

    fn key_values(&self, row: &Value) -> Vec<(String, Value)> {
        if self.old.key.is_empty() {
            return vec![("row".to_string(), row.clone())];
        }
        self.old
            .key
            .iter()
            .map(|column| (column.clone(), lookup(row, column).clone()))
            .collect()
    }
}

/// Edit pairs compared per store transaction.
const PAIRS_PER_READ: usize = 64;

/// One unit of a diff's reading: a region of parts, or pairs of differently edited leaves
/// of a shared base.
enum Work {
    Region(Region),
    Pairs(Vec<EditPair>),
}

/// The rows of one edit pair that may differ: on each side, the base rows only the other
/// side deletes, then the rows this side inserts.
fn pair_batches(
    objects: &Objects,
    readers: &mut [PartReader; 2],
    pair: &EditPair,
    projection: Option<&HashSet<String>>,
) -> Result<(Option<RecordBatch>, Option<RecordBatch>), RepoError> {
    let no_deletes = Vec::new();
    let deletes = |edit: &Option<PartEdit>| -> HashSet<u32> {
        edit.as_ref()
            .map_or(&no_deletes, |edit| &edit.deletes)
            .iter()
            .copied()
            .collect()
    };
    let (old_deleted, new_deleted) = (deletes(&pair.old), deletes(&pair.new));
    let only = |a: &HashSet<u32>, b: &HashSet<u32>| -> Vec<u32> {
        let mut only: Vec<u32> = a.difference(b).copied().collect();
        only.sort_unstable();
        only
    };
    // Base rows the old side has and the new side deletes, and the reverse.
    let (old_base, new_base) = (
        only(&new_deleted, &old_deleted),
        only(&old_deleted, &new_deleted),
    );
    let base = if old_base.is_empty() && new_base.is_empty() {
        None
    } else {
        let batches = read_leaf_projected(objects, &pair.leaf.id, projection)?;
        let base = concat(&batches, &pair.leaf.id)?;
        if base.num_rows() as u64 != pair.leaf.n_rows {
            return Err(TreeError::Malformed {
                id: pair.leaf.id,
                detail: format!(
                    "holds {} rows, its entry says {}",
                    base.num_rows(),
                    pair.leaf.n_rows
                ),
            }
            .into());
        }
        Some(base)
    };
    let mut sides = [None, None];
    for (side, (edit, positions)) in [(&pair.old, old_base), (&pair.new, new_base)]
        .into_iter()
        .enumerate()
    {
        let mut pieces = Vec::new();
        if let Some(base) = &base
            && !positions.is_empty()
        {
            let indices = UInt32Array::from_iter_values(positions);
            pieces.push(
                arrow_select::take::take_record_batch(base, &indices).map_err(|err| {
                    TreeError::Malformed {
                        id: pair.leaf.id,
                        detail: err.to_string(),
                    }
                })?,
            );
        }
        if let Some(edit) = edit {
            let inserted: u64 = edit
                .inserts
                .iter()
                .map(|insert| u64::from(insert.rows))
                .sum();
            pieces.extend(readers[side].patch_rows(
                objects,
                edit.patch_from,
                inserted,
                projection,
            )?);
        }
        if !pieces.is_empty() {
            sides[side] = Some(concat(&pieces, &pair.leaf.id)?);
        }
    }
    let [old, new] = sides;
    Ok((old, new))
}

/// How much a region comparison keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// Counts only: the compared columns are decoded, no row becomes JSON unless its
    /// identity needs the exact rule.
    Counts,
    /// The changed rows, whole.
    Rows,
}

/// A region compared: row indices into the two sides' batches.
#[derive(Debug, Default)]
struct Compared {
    old: Option<RecordBatch>,
    new: Option<RecordBatch>,
    added: Vec<usize>,
    removed: Vec<usize>,
    /// (old index, new index) of rows whose compared columns differ.
    modified: Vec<(usize, usize)>,
}

/// A batch's rows as JSON, by the schema's fields the batch has (a count decodes only
/// the columns it compares).
fn rows_of(schema: &Schema, batch: &RecordBatch) -> Result<Vec<Value>, RepoError> {
    let mut present = schema.clone();
    present
        .fields
        .retain(|field| batch.schema().column_with_name(&field.name).is_some());
    Ok(schema::batch_to_rows(&present, batch)?)
}

/// The array at a dotted column path (`file.path`), if the batch has it.
fn column_at(batch: &RecordBatch, path: &str) -> Option<ArrayRef> {
    let mut parts = path.split('.');
    let mut array = batch.column_by_name(parts.next()?)?.clone();
    for part in parts {
        let strukt = array.as_any().downcast_ref::<StructArray>()?;
        array = strukt.column_by_name(part)?.clone();
    }
    Some(array)
}

/// The key of each row of both sides in Arrow's row format (one converter, so equal keys
/// have equal bytes): the key columns, or (keyed by content) every column. `None` when a
/// type has no row format or the sides' types differ.
fn key_rows(old: &RecordBatch, new: &RecordBatch, key: &[String]) -> Option<(Rows, Rows)> {
    let arrays = |batch: &RecordBatch| -> Option<Vec<ArrayRef>> {
        if key.is_empty() {
            return Some(batch.columns().to_vec());
        }
        key.iter().map(|path| column_at(batch, path)).collect()
    };
    same_rows(&arrays(old)?, &arrays(new)?)
}

/// Both sides' arrays in Arrow's row format through one converter.
fn same_rows(old: &[ArrayRef], new: &[ArrayRef]) -> Option<(Rows, Rows)> {
    let same_types = old.len() == new.len()
        && old
            .iter()
            .zip(new)
            .all(|(a, b)| a.data_type() == b.data_type());
    if !same_types {
        return None;
    }
    let fields: Vec<SortField> = old
        .iter()
        .map(|array| SortField::new(array.data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields).ok()?;
    let old_rows = converter.convert_columns(old).ok()?;
    let new_rows = converter.convert_columns(new).ok()?;
    Some((old_rows, new_rows))
}

/// The compared columns of both sides in Arrow's row format, a File column without its
/// `last_modified` (never a change). `None` when the sides' types differ.
fn value_rows(
    old: &RecordBatch,
    new: &RecordBatch,
    compared: &HashSet<String>,
    schema: &Schema,
) -> Option<(Rows, Rows)> {
    let arrays = |batch: &RecordBatch| -> Option<Vec<ArrayRef>> {
        let mut arrays = Vec::new();
        for field in &schema.fields {
            if !compared.contains(&field.name) {
                continue;
            }
            let array = batch.column_by_name(&field.name)?.clone();
            if is_file(&field.ty) {
                let strukt = array.as_any().downcast_ref::<StructArray>()?;
                let (fields, columns, nulls) = strukt.clone().into_parts();
                let keep: Vec<usize> = (0..fields.len())
                    .filter(|&i| fields[i].name() != "last_modified")
                    .collect();
                let rebuilt = StructArray::try_new(
                    keep.iter().map(|&i| fields[i].clone()).collect(),
                    keep.iter().map(|&i| columns[i].clone()).collect(),
                    nulls,
                )
                .ok()?;
                arrays.push(Arc::new(rebuilt) as ArrayRef);
            } else {
                arrays.push(array);
            }
        }
        Some(arrays)
    };
    same_rows(&arrays(old)?, &arrays(new)?)
}

/// Iterator over the changed rows of a `Diff`.
pub struct DiffRows<'a> {
    diff: &'a Diff,
    repo: &'a Repo,
    next_region: usize,
    pending: VecDeque<RowChange>,
}

impl Iterator for DiffRows<'_> {
    type Item = Result<RowChange, RepoError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(change) = self.pending.pop_front() {
                return Some(Ok(change));
            }
            let work = self.diff.work.get(self.next_region)?;
            self.next_region += 1;
            match self.diff.work_changes(self.repo, work) {
                Ok(changes) => self.pending.extend(changes),
                Err(err) => {
                    self.next_region = self.diff.work.len();
                    return Some(Err(err));
                }
            }
        }
    }
}

fn key_text(key: &[String]) -> String {
    if key.is_empty() {
        "keyed by row content".to_string()
    } else {
        format!("key {}", key.join(", "))
    }
}

fn lookup<'a>(value: &'a Value, path: &str) -> &'a Value {
    let mut current = value;
    for part in path.split('.') {
        current = current.get(part).unwrap_or(&Value::Null);
    }
    current
}

/// The columns of two rows that differ, among the columns both schemas have. A File
/// column differs when its size, etag, version or blake3 does (version and blake3 only
/// where both sides recorded one); `last_modified` alone does not make a change.
fn changed_columns(
    old_schema: &Schema,
    new_schema: &Schema,
    old: &Value,
    new: &Value,
) -> Vec<String> {
    let mut columns = Vec::new();
    for field in &old_schema.fields {
        let Some(new_field) = new_schema.fields.iter().find(|f| f.name == field.name) else {
            continue;
        };
        let old_value = old.get(&field.name).unwrap_or(&Value::Null);
        let new_value = new.get(&field.name).unwrap_or(&Value::Null);
        if is_file(&field.ty) && is_file(&new_field.ty) {
            file_changes(&field.name, old_value, new_value, &mut columns);
        } else {
            value_changes(&field.name, old_value, new_value, &mut columns);
        }
    }
    columns
}

fn is_file(ty: &Type) -> bool {
    match ty {
        Type::File | Type::FileWith(_) => true,
        Type::Optional(inner) => inner.is_file(),
        _ => false,
    }
}

fn file_changes(column: &str, old: &Value, new: &Value, columns: &mut Vec<String>) {
    if old.is_null() || new.is_null() {
        if old != new {
            columns.push(column.to_string());
        }
        return;
    }
    for part in ["source", "path", "size", "etag"] {
        if old.get(part) != new.get(part) {
            columns.push(format!("{column}.{part}"));
        }
    }
    for part in ["version", "blake3"] {
        let (a, b) = (
            old.get(part).unwrap_or(&Value::Null),
            new.get(part).unwrap_or(&Value::Null),
        );
        if !a.is_null() && !b.is_null() && a != b {
            columns.push(format!("{column}.{part}"));
        }
    }
}

fn value_changes(path: &str, old: &Value, new: &Value, columns: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(old_map), Value::Object(new_map)) => {
            for (name, old_value) in old_map {
                if let Some(new_value) = new_map.get(name) {
                    value_changes(&format!("{path}.{name}"), old_value, new_value, columns);
                }
            }
        }
        _ if old != new => columns.push(path.to_string()),
        _ => {}
    }
}

/// Plans the diff from one version to another (of one dataset, or of two datasets
/// with the same key). Reads only the tree nodes; rows are read by `Diff::stat` or
/// `Diff::rows`, and only where the trees differ.
pub fn diff(repo: &Repo, old: &Resolved, new: &Resolved) -> Result<crate::diff::Diff, DiffError> {
    let old = crate::diff::DiffSide::from_resolved(repo, old)?;
    let new = crate::diff::DiffSide::from_resolved(repo, new)?;
    crate::diff::Diff::plan(repo, old, new, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn file_columns_compare_identity_not_mtime() {
        let schema = Schema::listing();
        let old = json!({"file": {"source": "s", "path": "p", "size": 1, "etag": "e", "version": null, "last_modified": "2024-01-01T00:00:00Z", "blake3": null}});
        let mut new = old.clone();
        new["file"]["last_modified"] = json!("2025-01-01T00:00:00Z");
        new["file"]["blake3"] = json!("ab");
        assert!(changed_columns(&schema, &schema, &old, &new).is_empty());
        new["file"]["size"] = json!(2);
        assert_eq!(changed_columns(&schema, &schema, &old, &new), ["file.size"]);
    }

    #[test]
    fn nested_values_name_the_changed_field() {
        let schema = Schema {
            format: schema::SCHEMA_FORMAT,
            columns: None,
            constraints: None,
            fields: vec![schema::Field {
                name: "meta".into(),
                ty: Type::Struct(vec![
                    schema::Field {
                        name: "w".into(),
                        ty: Type::Int,
                    },
                    schema::Field {
                        name: "h".into(),
                        ty: Type::Int,
                    },
                ]),
            }],
        };
        let old = json!({"meta": {"w": 1, "h": 2}});
        let new = json!({"meta": {"w": 1, "h": 3}});
        assert_eq!(changed_columns(&schema, &schema, &old, &new), ["meta.h"]);
    }
}
