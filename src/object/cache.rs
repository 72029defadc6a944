//! Map cache entries: what `pail map` stores per (row identity, function) in the local
//! `map_cache` table and pushes to a remote's `cache/` (see docs/FORMAT.md).

use serde_json::{Map, Value};

/// A cache entry: `R` followed by the worker's result columns as one JSON object.
pub fn encode_cache_entry(result: &Map<String, Value>) -> Vec<u8> {
    let mut bytes = vec![b'R'];
    bytes.extend(serde_json::to_vec(result).expect("JSON values serialize"));
    bytes
}

/// Decodes a cache entry: the result columns, or None for anything that is not one (any
/// bytes give None or a map, never a panic).
pub fn decode_cache_entry(bytes: &[u8]) -> Option<Map<String, Value>> {
    let (&tag, rest) = bytes.split_first()?;
    if tag != b'R' {
        return None;
    }
    match serde_json::from_slice(rest).ok()? {
        Value::Object(fields) => Some(fields),
        _ => None,
    }
}
