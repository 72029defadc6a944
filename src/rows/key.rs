//! Row keys: an order-preserving byte encoding of a tuple of column values, so that
//! comparing encoded keys bytewise orders rows as the values order.

use serde_json::Value;

const NULL: u8 = 0x00;
const FALSE: u8 = 0x01;
const TRUE: u8 = 0x02;
const INT: u8 = 0x03;
const FLOAT: u8 = 0x04;
const STRING: u8 = 0x05;
const OTHER: u8 = 0x06;

/// Appends a string: 0x00 bytes are escaped as 0x00 0xFF and the end is 0x00 0x00, so a
/// string sorts before any longer string it prefixes.
pub fn push_str(key: &mut Vec<u8>, text: &str) {
    key.push(STRING);
    for &byte in text.as_bytes() {
        key.push(byte);
        if byte == 0 {
            key.push(0xff);
        }
    }
    key.extend_from_slice(&[0, 0]);
}

pub fn push_value(key: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => key.push(NULL),
        Value::Bool(false) => key.push(FALSE),
        Value::Bool(true) => key.push(TRUE),
        Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                key.push(INT);
                key.extend_from_slice(&((int as u64) ^ (1 << 63)).to_be_bytes());
            } else {
                let float = number.as_f64().unwrap_or(0.0);
                let bits = float.to_bits();
                // Total order: flip all bits of negatives, the sign bit of positives.
                let ordered = if bits >> 63 == 1 {
                    !bits
                } else {
                    bits ^ (1 << 63)
                };
                key.push(FLOAT);
                key.extend_from_slice(&ordered.to_be_bytes());
            }
        }
        Value::String(text) => push_str(key, text),
        other => {
            // Structs and lists are not valid key columns; encoded for completeness.
            key.push(OTHER);
            push_str(key, &other.to_string());
        }
    }
}

/// The key of a listed file: (source, path).
pub fn file_key(source: &str, path: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(source.len() + path.len() + 6);
    push_str(&mut key, source);
    push_str(&mut key, path);
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encode(values: &[Value]) -> Vec<u8> {
        let mut key = Vec::new();
        for value in values {
            push_value(&mut key, value);
        }
        key
    }

    #[test]
    fn order_is_preserved() {
        let ordered = [
            vec![json!(null)],
            vec![json!(false)],
            vec![json!(true)],
            vec![json!(-5)],
            vec![json!(0)],
            vec![json!(7)],
            vec![json!(-1.5)],
            vec![json!(2.25)],
            vec![json!("")],
            vec![json!("a")],
            vec![json!("a"), json!("z")],
            vec![json!("a\u{0}")],
            vec![json!("ab")],
        ];
        for pair in ordered.windows(2) {
            assert!(
                encode(&pair[0]) < encode(&pair[1]),
                "{:?} < {:?}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn file_keys_sort_by_path() {
        assert!(file_key("s3://b", "a-b") < file_key("s3://b", "a/b"));
        assert!(file_key("s3://b", "a") < file_key("s3://b", "a/b"));
    }
}
