//! Content-addressed objects: ids, the CBOR codec and the manifests.

mod cache;
mod codec;
mod id;
mod manifest;

pub use cache::{decode_cache_entry, encode_cache_entry};
#[cfg(test)]
pub use codec::decode;
pub use codec::{CodecError, MAX_MANIFEST_BYTES, encode};
pub use id::{CommitId, IdError, Kind, ObjectId};
pub use manifest::{
    COMMIT_FORMAT, Child, CodeFile, ColumnStats, Commit, DELTA_NODE_FORMAT, Delta, Edit, GitState,
    Input, Insert, Manifest, NODE_FORMAT, Node,
};
