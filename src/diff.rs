//! Row diffs between two versions (or two datasets with the same key).
//!
//! Both row trees are walked together from the roots; a subtree whose id appears on both
//! sides holds the same rows and is dropped without being read. What is left are the
//! leaves that differ, grouped into regions of overlapping key ranges. Only those leaves
//! are decoded, a region at a time, so a diff costs about as much as the change, not the
//! dataset. A region with leaves on one side only is all additions (or removals): counting
//! it needs no read at all.

use std::collections::{BTreeMap, HashSet, VecDeque};

use serde_json::Value;

use crate::object::{Child, Kind, Node, ObjectId};
use crate::repo::{RepoError, Resolved};
use crate::rows::key;
use crate::rows::leaf;
use crate::rows::tree::{Staging, TreeError};
use crate::schema::{self, Compat, Schema, Type};
use crate::store::{Reader, StoreError};
use crate::{DatasetName, Repo};

/// Deeper than this cannot come from a real tree; refuse it rather than loop.
const MAX_LEVEL: u32 = 16;

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

/// Reads objects from the store, and first from a staging file when one is given (the
/// not-yet-committed tree of `pail status`).
pub(crate) struct Objects<'a> {
    pub reader: &'a Reader,
    pub staging: Option<&'a Staging>,
}

impl Objects<'_> {
    fn get(&self, id: &ObjectId, kind: Kind) -> Result<Vec<u8>, TreeError> {
        if let Some(staging) = self.staging
            && let Some(bytes) = staging.get(id, kind)?
        {
            return Ok(bytes);
        }
        Ok(self.reader.object_of_kind(id, kind)?)
    }

    fn node(&self, id: &ObjectId) -> Result<Node, TreeError> {
        let node = Node::decode(&self.get(id, Kind::Node)?)?;
        if node.level == 0 || node.level > MAX_LEVEL {
            return Err(TreeError::Malformed {
                id: *id,
                detail: format!("level {} out of range", node.level),
            });
        }
        Ok(node)
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

/// Leaves of both sides whose key ranges overlap; rows are matched within it.
#[derive(Debug, Clone)]
struct Region {
    old: Vec<Child>,
    new: Vec<Child>,
}

/// A planned diff: schema changes known, differing leaves found, rows not read yet.
pub struct Diff {
    pub old: DiffSide,
    pub new: DiffSide,
    /// Schema changes from old to new.
    pub schema: Compat,
    regions: Vec<Region>,
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
        let (old_leaves, new_leaves) = {
            let store = repo.read_store()?;
            let reader = store.read()?;
            let objects = Objects {
                reader: &reader,
                staging: staging.as_ref(),
            };
            differing_leaves(&objects, &old.root, &new.root)?
        };
        let regions = regions(old_leaves, new_leaves);
        Ok(Diff {
            old,
            new,
            schema,
            regions,
            staging,
        })
    }

    /// The key columns rows are matched by (empty: the row's content).
    pub fn key(&self) -> &[String] {
        &self.old.key
    }

    /// How many leaves differ (on either side): the most a full diff decodes.
    pub fn differing_leaves(&self) -> usize {
        self.regions
            .iter()
            .map(|region| region.old.len() + region.new.len())
            .sum()
    }

    /// True when the rows are equal (the schemas may still differ).
    pub fn rows_equal(&self) -> bool {
        self.regions.is_empty()
    }

    /// Counts added, removed and modified rows. One-sided regions are counted from the
    /// leaf entries; only regions with leaves on both sides are read.
    pub fn stat(&self, repo: &Repo) -> Result<DiffStat, RepoError> {
        let mut stat = DiffStat::default();
        for region in &self.regions {
            if region.old.is_empty() || region.new.is_empty() {
                stat.added += region.new.iter().map(|child| child.n_rows).sum::<u64>();
                stat.removed += region.old.iter().map(|child| child.n_rows).sum::<u64>();
                stat.leaves_counted += (region.old.len() + region.new.len()) as u64;
                continue;
            }
            stat.leaves_read += (region.old.len() + region.new.len()) as u64;
            for change in self.compare_region(repo, region)? {
                match change.kind {
                    ChangeKind::Added => stat.added += 1,
                    ChangeKind::Removed => stat.removed += 1,
                    ChangeKind::Modified => stat.modified += 1,
                }
            }
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

    fn compare_region(&self, repo: &Repo, region: &Region) -> Result<Vec<RowChange>, RepoError> {
        let (old_rows, new_rows) = {
            let store = repo.read_store()?;
            let reader = store.read()?;
            let objects = Objects {
                reader: &reader,
                staging: self.staging.as_ref(),
            };
            (
                read_rows(&objects, &self.old.schema, &region.old)?,
                read_rows(&objects, &self.new.schema, &region.new)?,
            )
        };
        let mut matched: BTreeMap<Vec<u8>, (Option<Value>, Option<Value>)> = BTreeMap::new();
        for row in old_rows {
            let key = self.row_key(&row);
            matched.entry(key).or_default().0 = Some(row);
        }
        for row in new_rows {
            let key = self.row_key(&row);
            matched.entry(key).or_default().1 = Some(row);
        }
        let mut changes = Vec::new();
        for (_, pair) in matched {
            let change = match pair {
                (Some(old), Some(new)) => {
                    let columns = changed_columns(&self.old.schema, &self.new.schema, &old, &new);
                    if columns.is_empty() {
                        continue;
                    }
                    RowChange {
                        kind: ChangeKind::Modified,
                        key: self.key_values(&new),
                        old: Some(old),
                        new: Some(new),
                        columns,
                    }
                }
                (Some(old), None) => RowChange {
                    kind: ChangeKind::Removed,
                    key: self.key_values(&old),
                    old: Some(old),
                    new: None,
                    columns: Vec::new(),
                },
                (None, Some(new)) => RowChange {
                    kind: ChangeKind::Added,
                    key: self.key_values(&new),
                    old: None,
                    new: Some(new),
                    columns: Vec::new(),
                },
                (None, None) => continue,
            };
            changes.push(change);
        }
        Ok(changes)
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
            let region = self.diff.regions.get(self.next_region)?;
            self.next_region += 1;
            match self.diff.compare_region(self.repo, region) {
                Ok(changes) => self.pending.extend(changes),
                Err(err) => {
                    self.next_region = self.diff.regions.len();
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

fn read_rows(
    objects: &Objects,
    schema: &Schema,
    leaves: &[Child],
) -> Result<Vec<Value>, RepoError> {
    let mut rows = Vec::new();
    for child in leaves {
        let bytes = objects.get(&child.id, Kind::Leaf)?;
        for batch in leaf::decode(&child.id.to_hex(), bytes).map_err(TreeError::from)? {
            rows.extend(schema::batch_to_rows(schema, &batch)?);
        }
    }
    Ok(rows)
}

/// Expands a frontier of node entries one level down.
fn expand(objects: &Objects, frontier: Vec<Child>, level: u32) -> Result<Vec<Child>, TreeError> {
    let mut children = Vec::new();
    for child in frontier {
        let node = objects.node(&child.id)?;
        if node.level != level {
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
fn drop_common(old: &mut Vec<Child>, new: &mut Vec<Child>) {
    let old_ids: HashSet<ObjectId> = old.iter().map(|child| child.id).collect();
    let common: HashSet<ObjectId> = new
        .iter()
        .filter(|child| old_ids.contains(&child.id))
        .map(|child| child.id)
        .collect();
    if !common.is_empty() {
        old.retain(|child| !common.contains(&child.id));
        new.retain(|child| !common.contains(&child.id));
    }
}

/// The leaf entries of each tree that the other tree does not share, in key order.
///
/// Frontiers of node entries are expanded level by level (the taller tree first, until
/// both stand at the same level); at each level the entries both sides share are dropped
/// before anything below them is read.
fn differing_leaves(
    objects: &Objects,
    old_root: &ObjectId,
    new_root: &ObjectId,
) -> Result<(Vec<Child>, Vec<Child>), TreeError> {
    if old_root == new_root {
        return Ok((Vec::new(), Vec::new()));
    }
    let old_node = objects.node(old_root)?;
    let new_node = objects.node(new_root)?;
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

/// Groups differing leaves into regions of overlapping key ranges, in key order.
fn regions(old: Vec<Child>, new: Vec<Child>) -> Vec<Region> {
    let mut tagged: Vec<(bool, Child)> = old
        .into_iter()
        .map(|child| (false, child))
        .chain(new.into_iter().map(|child| (true, child)))
        .collect();
    tagged.sort_by(|a, b| a.1.first_key.cmp(&b.1.first_key));
    let mut regions: Vec<Region> = Vec::new();
    let mut region_end: Vec<u8> = Vec::new();
    for (is_new, child) in tagged {
        let starts_new = match regions.last() {
            None => true,
            Some(_) => child.first_key.as_slice() > region_end.as_slice(),
        };
        if starts_new {
            regions.push(Region {
                old: Vec::new(),
                new: Vec::new(),
            });
            region_end.clear();
        }
        if child.last_key.as_slice() > region_end.as_slice() {
            region_end = child.last_key.to_vec();
        }
        let region = regions.last_mut().expect("pushed above");
        if is_new {
            region.new.push(child);
        } else {
            region.old.push(child);
        }
    }
    regions
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
    use serde_bytes::ByteBuf;
    use serde_json::json;

    fn child(tag: &str, first: &[u8], last: &[u8], n_rows: u64) -> Child {
        Child {
            id: ObjectId::compute(Kind::Leaf, tag.as_bytes()),
            first_key: ByteBuf::from(first.to_vec()),
            last_key: ByteBuf::from(last.to_vec()),
            n_rows,
            n_bytes: 0,
            digest: ObjectId::compute(Kind::Blob, tag.as_bytes()),
            stats: Vec::new(),
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
