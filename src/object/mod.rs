//! Content-addressed objects: ids, the CBOR codec and the manifests.

mod cache;
mod codec;
mod id;
mod manifest;

pub use cache::{decode_cache_entry, encode_cache_entry};
pub use codec::{CodecError, MAX_CBOR_DEPTH, MAX_MANIFEST_BYTES, decode, encode, peek_format};
pub use id::{CommitId, IdError, Kind, ObjectId};
pub use manifest::{
    COMMIT_FORMAT, Child, CodeFile, ColumnStats, Commit, GitState, Input, Manifest, NODE_FORMAT,
    Node,
};
