//! The canonical hash encoding of a JSON value: the one byte form pail hashes whenever it
//! hashes a value (row keys of keyless records, leaf digests, map cache identities). It
//! is exact (a float is its 64 bits, never a decimal text) and independent of how values
//! are displayed (object keys are sorted bytewise, whatever order a `Map` iterates in).
//!
//! Each value is a tag byte and a body; lengths and counts are u64 little-endian:
//!
//! | value  | tag    | body |
//! |--------|--------|------|
//! | null   | `0x00` | none |
//! | false  | `0x01` | none |
//! | true   | `0x02` | none |
//! | int    | `0x03` | i64, 8 bytes little-endian |
//! | uint   | `0x04` | u64 above `i64::MAX`, 8 bytes little-endian |
//! | float  | `0x05` | the f64's bits, 8 bytes little-endian |
//! | string | `0x06` | length ‖ UTF-8 |
//! | array  | `0x07` | count ‖ each item |
//! | object | `0x08` | count ‖ for each key in ascending byte order: length ‖ key ‖ value |
//!
//! The same bytes are the spooled form of a record during a commit, so `decode` gives
//! back exactly the value that was encoded.

use serde_json::{Map, Number, Value};

const NULL: u8 = 0x00;
const FALSE: u8 = 0x01;
const TRUE: u8 = 0x02;
const INT: u8 = 0x03;
const UINT: u8 = 0x04;
const FLOAT: u8 = 0x05;
const STRING: u8 = 0x06;
const ARRAY: u8 = 0x07;
const OBJECT: u8 = 0x08;

/// The canonical bytes of `value`.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, value);
    out
}

fn write_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&(len as u64).to_le_bytes());
}

fn write_str(out: &mut Vec<u8>, text: &str) {
    write_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

/// Appends the canonical bytes of `value`.
pub fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                out.push(INT);
                out.extend_from_slice(&int.to_le_bytes());
            } else if let Some(uint) = number.as_u64() {
                out.push(UINT);
                out.extend_from_slice(&uint.to_le_bytes());
            } else {
                let float = number.as_f64().unwrap_or(f64::NAN);
                out.push(FLOAT);
                out.extend_from_slice(&float.to_bits().to_le_bytes());
            }
        }
        Value::String(text) => {
            out.push(STRING);
            write_str(out, text);
        }
        Value::Array(items) => {
            out.push(ARRAY);
            write_len(out, items.len());
            for item in items {
                write(out, item);
            }
        }
        Value::Object(object) => {
            out.push(OBJECT);
            write_len(out, object.len());
            let mut entries: Vec<(&String, &Value)> = object.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            for (key, item) in entries {
                write_str(out, key);
                write(out, item);
            }
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed canonical value at byte {at}: {detail}")]
pub struct CanonicalError {
    pub at: usize,
    pub detail: &'static str,
}

/// Decodes bytes made by `encode`. Malformed bytes are an error, never a panic.
pub fn decode(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let mut reader = Reader { bytes, at: 0 };
    let value = reader.value(0)?;
    if reader.at != bytes.len() {
        return Err(reader.error("trailing bytes"));
    }
    Ok(value)
}

/// Deeper than any value serde_json parses (128 levels); a bound on the decoder's recursion.
const MAX_DEPTH: usize = 256;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn error(&self, detail: &'static str) -> CanonicalError {
        CanonicalError {
            at: self.at,
            detail,
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], CanonicalError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| self.error("truncated"))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn eight(&mut self) -> Result<[u8; 8], CanonicalError> {
        Ok(self.take(8)?.try_into().expect("8 bytes"))
    }

    fn len(&mut self) -> Result<usize, CanonicalError> {
        let len = u64::from_le_bytes(self.eight()?);
        // Every item takes at least one byte, so no honest count exceeds what is left.
        usize::try_from(len)
            .ok()
            .filter(|len| *len <= self.bytes.len() - self.at)
            .ok_or_else(|| self.error("length beyond the end"))
    }

    fn string(&mut self) -> Result<String, CanonicalError> {
        let len = self.len()?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.error("string is not UTF-8"))
    }

    fn value(&mut self, depth: usize) -> Result<Value, CanonicalError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deep"));
        }
        let tag = self.take(1)?[0];
        Ok(match tag {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INT => Value::from(i64::from_le_bytes(self.eight()?)),
            UINT => Value::from(u64::from_le_bytes(self.eight()?)),
            FLOAT => {
                let float = f64::from_bits(u64::from_le_bytes(self.eight()?));
                Value::Number(Number::from_f64(float).ok_or_else(|| self.error("not finite"))?)
            }
            STRING => Value::String(self.string()?),
            ARRAY => {
                let count = self.len()?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            OBJECT => {
                let count = self.len()?;
                let mut object = Map::new();
                for _ in 0..count {
                    let key = self.string()?;
                    let item = self.value(depth + 1)?;
                    object.insert(key, item);
                }
                Value::Object(object)
            }
            _ => return Err(self.error("unknown tag")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_and_floats_exact() {
        let mut first = Map::new();
        first.insert("b".into(), json!(1));
        first.insert("a".into(), json!(0.1));
        let a = encode(&Value::Object(first));
        let b = encode(&json!({"a": 0.1, "b": 1}));
        assert_eq!(a, b);
        assert_eq!(
            hex(&encode(&json!({"a": 0.1, "b": 1}))),
            "08020000000000000001000000000000006105\
             9a9999999999b93f01000000000000006203\
             0100000000000000"
        );
        // 1 and 1.0 are different values; so are 0.0 and -0.0.
        assert_ne!(encode(&json!(1)), encode(&json!(1.0)));
        assert_ne!(encode(&json!(0.0)), encode(&json!(-0.0)));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    #[test]
    fn malformed_bytes_are_errors() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[9]).is_err());
        assert!(decode(&[STRING, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode(&[NULL, NULL]).is_err());
        let mut deep = vec![ARRAY, 1, 0, 0, 0, 0, 0, 0, 0];
        deep = deep.repeat(1000);
        deep.push(NULL);
        assert!(decode(&deep).is_err());
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |float| float.is_finite())
                .prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("\\PC{0,4}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn round_trips(value in arb_value()) {
            let bytes = encode(&value);
            let back = decode(&bytes).unwrap();
            prop_assert_eq!(encode(&back), bytes);
            prop_assert_eq!(back, value);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}
