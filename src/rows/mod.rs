//! Rows: keys, Parquet leaves, the content-defined row tree and the external sort.

pub mod canonical;
pub mod compare;
pub mod delta;
pub mod field_ids;
pub mod json;
pub mod key;
pub mod layout;
pub mod leaf;
pub mod sort;
pub mod tree;

pub use tree::{BuiltTree, RowEncoder, Staging, TreeBuilder, TreeError, leaf_children, read_leaf};
