use serde::Serialize;
use serde::de::DeserializeOwned;

/// Manifests larger than this are refused before decoding: no honest manifest comes near it.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024 * 1024;

/// The deepest JSON any writer could commit: serde_json's recursion limit, which bounded
/// format-1 writers (they had no nesting limit of their own). Writers now refuse records
/// beyond `schema::MAX_NESTING` (64), well inside it.
const DEEPEST_WRITABLE_RECORD: usize = 128;

/// The CBOR nesting readers accept. A schema with N levels of nesting is at most
/// 2 + 4·N CBOR levels deep (schema map, fields array, then per level a Field map, an
/// `Optional` map, a `Struct`/`List` map and a fields array), plus the leaf type. Format
/// 1 decoded with a limit of 64, so a record 21 levels deep committed and pushed fine but
/// could not be read back; this covers every schema any writer could have produced.
pub const MAX_CBOR_DEPTH: usize = 2 + 4 * DEEPEST_WRITABLE_RECORD + 8;

/// Reads only a manifest's `format` field, so a newer major is reported as such even when
/// its other fields no longer fit this version's structs.
pub fn peek_format(bytes: &[u8]) -> Option<u32> {
    #[derive(serde::Deserialize)]
    struct FormatOnly {
        format: u32,
    }
    if bytes.len() > MAX_MANIFEST_BYTES {
        return None;
    }
    ciborium::de::from_reader_with_recursion_limit::<FormatOnly, _>(bytes, MAX_CBOR_DEPTH)
        .ok()
        .map(|found| found.format)
}

/// Why stored bytes do not decode as the object they should be.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("{what} is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error(
        "{what} has format version {found}, newer than this pail understands ({known}); upgrade pail"
    )]
    NewerFormat {
        what: &'static str,
        found: u32,
        known: u32,
    },
    #[error("{what} has format version {found}, which no pail wrote")]
    UnknownFormat { what: &'static str, found: u32 },
}

/// Encodes a manifest as CBOR. Determinism comes from the types: structs in field order,
/// no hash maps, byte strings through serde_bytes.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    ciborium::into_writer(value, &mut bytes).expect("writing CBOR into a Vec cannot fail");
    bytes
}

/// Decodes a manifest. Arbitrary bytes give an error, never a panic; nesting is capped at
/// `MAX_CBOR_DEPTH` levels and the length by `MAX_MANIFEST_BYTES`.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(CodecError::TooLarge {
            what,
            len: bytes.len(),
            max: MAX_MANIFEST_BYTES,
        });
    }
    let mut rest = bytes;
    let value: T = ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_CBOR_DEPTH)
        .map_err(|err| CodecError::Malformed {
            what,
            detail: err.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(CodecError::Malformed {
            what,
            detail: format!("{} trailing bytes after the value", rest.len()),
        });
    }
    Ok(value)
}
