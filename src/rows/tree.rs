//! The row tree: rows sorted by key, cut into leaves at content-defined boundaries (a hash
//! of the key), leaves grouped under CBOR nodes the same way. Equal content gives equal
//! ids, and a change rewrites only the leaves it touches and their ancestors.

use std::collections::HashMap;
use std::path::Path;

use arrow_array::RecordBatch;
use serde_bytes::ByteBuf;

use super::leaf::{self, LeafError};
use crate::object::{Child, CodecError, Kind, NODE_FORMAT, Node, ObjectId};
use crate::schema::Schema;
use crate::spool::{Spool, SpoolError};
use crate::store::{Reader, StoreError, Writer};

/// A leaf ends after a row whose key hash falls under this (1 in 256 on average), once it
/// holds `MIN_LEAF_ROWS`; it always ends at `MAX_LEAF_ROWS`.
const LEAF_BOUNDARY: u32 = u32::MAX / 256;
const MIN_LEAF_ROWS: usize = 64;
const MAX_LEAF_ROWS: usize = 8192;
/// Nodes group about 32 children, at least 2, at most 256.
const NODE_BOUNDARY: u32 = u32::MAX / 32;
const MIN_NODE_CHILDREN: usize = 2;
const MAX_NODE_CHILDREN: usize = 256;

/// Why a row tree could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Leaf(#[from] LeafError),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("could not stage objects in {path}: {source}")]
    Staging {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("object {id} is a {found}, expected a {expected}")]
    WrongKind {
        id: ObjectId,
        found: Kind,
        expected: Kind,
    },
    #[error("rows arrived out of key order at key {key:?}")]
    Unordered { key: String },
    #[error("row tree node {id} is malformed: {detail}")]
    Malformed { id: ObjectId, detail: String },
}

/// Objects produced by a build, kept in a spool until the commit transaction, so that a
/// failed commit writes nothing to the repository. Staged objects can be read back before
/// the commit.
pub struct Staging {
    spool: Spool,
    /// Rows of leaves encoded here, kept while they fit in `FRESH_BYTES` (see `fresh`).
    fresh: HashMap<ObjectId, RecordBatch>,
    fresh_bytes: usize,
}

/// Memory the rows of freshly encoded leaves may keep: a commit compares them with its
/// parent's rows (`rows::delta`) without decoding what it has just encoded.
const FRESH_BYTES: usize = 32 << 20;

impl From<SpoolError> for TreeError {
    fn from(err: SpoolError) -> Self {
        match err {
            SpoolError::Io { path, source } => TreeError::Staging {
                path: path.display().to_string(),
                source,
            },
            SpoolError::Store(err) => TreeError::Store(err),
        }
    }
}

impl Staging {
    pub fn new(dir: &Path) -> Result<Staging, TreeError> {
        Ok(Staging {
            spool: Spool::new(dir)?,
            fresh: HashMap::new(),
            fresh_bytes: 0,
        })
    }

    pub fn put(&mut self, kind: Kind, bytes: &[u8]) -> Result<ObjectId, TreeError> {
        Ok(self.spool.put(kind, bytes)?)
    }

    /// Stages a leaf encoded from `batch`, keeping the batch while the kept ones fit.
    pub fn put_leaf(&mut self, bytes: &[u8], batch: &RecordBatch) -> Result<ObjectId, TreeError> {
        let id = self.put(Kind::Leaf, bytes)?;
        let size = batch.get_array_memory_size();
        if self.fresh_bytes + size <= FRESH_BYTES && !self.fresh.contains_key(&id) {
            self.fresh_bytes += size;
            self.fresh.insert(id, batch.clone());
        }
        Ok(id)
    }

    /// The rows a staged leaf was encoded from, while kept: the batch given to
    /// `put_leaf`, before the encoding (its Arrow types may differ from a decoding's).
    pub fn fresh(&self, id: &ObjectId) -> Option<&RecordBatch> {
        self.fresh.get(id)
    }

    /// A staged object's bytes, if this staging holds it and it has the expected kind.
    pub fn get(&self, id: &ObjectId, expected: Kind) -> Result<Option<Vec<u8>>, TreeError> {
        let Some(entry) = self.spool.entry(id) else {
            return Ok(None);
        };
        if entry.kind != expected {
            return Err(TreeError::WrongKind {
                id: *id,
                found: entry.kind,
                expected,
            });
        }
        Ok(Some(self.spool.read(&entry)?))
    }

    /// Copies every staged object into the transaction; returns how many were new.
    pub fn write_into(&mut self, writer: &Writer) -> Result<usize, TreeError> {
        Ok(self.spool.write_into(writer, |_| Ok(()))?)
    }
}

/// Turns a slice of rows into a record batch and feeds rows to the chunk digest.
pub trait RowEncoder {
    type Row;
    fn batch(&self, rows: &[Self::Row]) -> Result<RecordBatch, TreeError>;
    fn digest(&self, hasher: &mut blake3::Hasher, row: &Self::Row);
}

/// What a finished build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltTree {
    pub root: ObjectId,
    pub n_rows: u64,
    pub n_bytes: u64,
    pub leaves_written: usize,
    pub leaves_reused: usize,
}

fn prefix_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Builds a row tree from rows pushed in strictly ascending key order.
pub struct TreeBuilder<E: RowEncoder> {
    encoder: E,
    schema: Schema,
    schema_id: ObjectId,
    reuse: HashMap<ObjectId, Child>,
    rows: Vec<E::Row>,
    first_key: Vec<u8>,
    last_key: Vec<u8>,
    hasher: blake3::Hasher,
    leaves: Vec<Child>,
    leaves_written: usize,
    leaves_reused: usize,
    pushed: u64,
}

impl<E: RowEncoder> TreeBuilder<E> {
    /// `reuse` holds the leaf entries of an earlier version with the same schema: a chunk
    /// whose digest matches one of them is not encoded again.
    pub fn new(encoder: E, schema: Schema, schema_id: ObjectId, reuse: Vec<Child>) -> Self {
        let mut builder = TreeBuilder {
            encoder,
            schema,
            schema_id,
            reuse: reuse
                .into_iter()
                .map(|child| (child.digest, child))
                .collect(),
            rows: Vec::new(),
            first_key: Vec::new(),
            last_key: Vec::new(),
            hasher: blake3::Hasher::new(),
            leaves: Vec::new(),
            leaves_written: 0,
            leaves_reused: 0,
            pushed: 0,
        };
        builder.reset_hasher();
        builder
    }

    fn reset_hasher(&mut self) {
        self.hasher = blake3::Hasher::new();
        self.hasher.update(&self.schema_id.0);
    }

    /// Adds a row; the caller guarantees keys ascend strictly.
    pub fn push(
        &mut self,
        key: Vec<u8>,
        row: E::Row,
        staging: &mut Staging,
    ) -> Result<(), TreeError> {
        // A tree with keys out of order would be silently wrong for every reader: check.
        if self.pushed > 0 && key <= self.last_key {
            return Err(TreeError::Unordered {
                key: String::from_utf8_lossy(&key).into_owned(),
            });
        }
        self.pushed += 1;
        self.hasher.update(&(key.len() as u64).to_le_bytes());
        self.hasher.update(&key);
        self.encoder.digest(&mut self.hasher, &row);
        if self.rows.is_empty() {
            self.first_key.clone_from(&key);
        }
        self.rows.push(row);
        let n = self.rows.len();
        let boundary = n >= MAX_LEAF_ROWS
            || (n >= MIN_LEAF_ROWS && prefix_u32(blake3::hash(&key).as_bytes()) < LEAF_BOUNDARY);
        self.last_key = key;
        if boundary {
            self.flush(staging)?;
        }
        Ok(())
    }

    fn flush(&mut self, staging: &mut Staging) -> Result<(), TreeError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let digest = ObjectId(*self.hasher.finalize().as_bytes());
        self.reset_hasher();
        let child = match self.reuse.get(&digest) {
            Some(child) => {
                self.leaves_reused += 1;
                child.clone()
            }
            None => {
                let batch = self.encoder.batch(&self.rows)?;
                let bytes = leaf::encode_leaf(&batch, &self.schema)?;
                // Rows are kept only for a delta on the earlier version (`rows::delta`).
                let id = if self.reuse.is_empty() {
                    staging.put(Kind::Leaf, &bytes)?
                } else {
                    staging.put_leaf(&bytes, &batch)?
                };
                self.leaves_written += 1;
                Child {
                    id,
                    first_key: ByteBuf::from(std::mem::take(&mut self.first_key)),
                    last_key: ByteBuf::from(self.last_key.clone()),
                    n_rows: self.rows.len() as u64,
                    n_bytes: leaf::file_bytes(&self.schema, &batch),
                    digest,
                    stats: leaf::column_stats(&batch),
                }
            }
        };
        self.rows.clear();
        self.leaves.push(child);
        Ok(())
    }

    pub fn finish(mut self, staging: &mut Staging) -> Result<BuiltTree, TreeError> {
        self.flush(staging)?;
        let n_rows = self.leaves.iter().map(|child| child.n_rows).sum();
        let n_bytes = self.leaves.iter().map(|child| child.n_bytes).sum();
        let root = build_nodes(std::mem::take(&mut self.leaves), staging)?;
        Ok(BuiltTree {
            root,
            n_rows,
            n_bytes,
            leaves_written: self.leaves_written,
            leaves_reused: self.leaves_reused,
        })
    }
}

/// Groups leaves into nodes, level by level, up to one root; returns the root's id.
pub(crate) fn build_nodes(
    leaves: Vec<Child>,
    staging: &mut Staging,
) -> Result<ObjectId, TreeError> {
    let mut level = 1;
    let mut children = leaves;
    loop {
        let nodes = group(level, children, staging)?;
        if nodes.len() == 1 {
            return Ok(nodes[0].id);
        }
        children = nodes;
        level += 1;
    }
}

/// Groups one level's children into nodes; returns the node entries of the next level.
fn group(level: u32, children: Vec<Child>, staging: &mut Staging) -> Result<Vec<Child>, TreeError> {
    let mut nodes = Vec::new();
    let mut current: Vec<Child> = Vec::new();
    let n_children = children.len();
    for (idx, child) in children.into_iter().enumerate() {
        let boundary_hash = prefix_u32(&child.id.0);
        current.push(child);
        let last = idx + 1 == n_children;
        let n = current.len();
        if last
            || n >= MAX_NODE_CHILDREN
            || (n >= MIN_NODE_CHILDREN && boundary_hash < NODE_BOUNDARY)
        {
            nodes.push(make_node(level, std::mem::take(&mut current), staging)?);
        }
    }
    if nodes.is_empty() {
        nodes.push(make_node(level, Vec::new(), staging)?);
    }
    Ok(nodes)
}

fn make_node(level: u32, children: Vec<Child>, staging: &mut Staging) -> Result<Child, TreeError> {
    let mut hasher = blake3::Hasher::new();
    for child in &children {
        hasher.update(&child.digest.0);
    }
    let node = Node {
        format: NODE_FORMAT,
        level,
        children,
        delta: None,
    };
    let (_, bytes) = node.encode();
    let id = staging.put(Kind::Node, &bytes)?;
    let first_key = node
        .children
        .first()
        .map(|child| child.first_key.clone())
        .unwrap_or_default();
    let last_key = node
        .children
        .last()
        .map(|child| child.last_key.clone())
        .unwrap_or_default();
    Ok(Child {
        id,
        first_key,
        last_key,
        n_rows: node.children.iter().map(|child| child.n_rows).sum(),
        n_bytes: node.children.iter().map(|child| child.n_bytes).sum(),
        digest: ObjectId(*hasher.finalize().as_bytes()),
        stats: Vec::new(),
    })
}

/// The leaves holding a version's rows: a plain tree's leaves in key order, or a delta's
/// base leaves then its patch leaves. Readers of rows go through `layout::Layout`.
pub fn leaf_children(reader: &Reader, root: &ObjectId) -> Result<Vec<Child>, TreeError> {
    let objects = super::layout::Objects {
        reader,
        staging: None,
    };
    Ok(super::layout::Layout::read(&objects, root)?.data_leaves())
}

/// Reads one leaf's rows as record batches.
pub fn read_leaf(reader: &Reader, id: &ObjectId) -> Result<Vec<RecordBatch>, TreeError> {
    let bytes = reader.object_of_kind(id, Kind::Leaf)?;
    Ok(leaf::decode(&id.to_hex(), bytes)?)
}
