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

/// Decodes the leading values of a key made by `push_value`, as far as they are scalars:
/// null, bool, int, float and string. Stops at anything else or at malformed bytes, so
/// the result may be shorter than the key's tuple; never panics.
pub fn decode_prefix(key: &[u8]) -> Vec<Value> {
    let mut values = Vec::new();
    let mut rest = key;
    while let Some((&tag, tail)) = rest.split_first() {
        let value = match tag {
            NULL => {
                rest = tail;
                Value::Null
            }
            FALSE | TRUE => {
                rest = tail;
                Value::Bool(tag == TRUE)
            }
            INT | FLOAT => {
                let Some(bytes) = tail.get(..8) else {
                    break;
                };
                let bits = u64::from_be_bytes(bytes.try_into().expect("8 bytes"));
                rest = &tail[8..];
                if tag == INT {
                    Value::from((bits ^ (1 << 63)) as i64)
                } else {
                    let bits = if bits >> 63 == 1 {
                        bits ^ (1 << 63)
                    } else {
                        !bits
                    };
                    match serde_json::Number::from_f64(f64::from_bits(bits)) {
                        Some(number) => Value::Number(number),
                        None => break,
                    }
                }
            }
            STRING => {
                let mut text = Vec::new();
                let mut idx = 0;
                let mut ended = false;
                while idx < tail.len() {
                    let byte = tail[idx];
                    if byte == 0 {
                        match tail.get(idx + 1) {
                            Some(0) => {
                                ended = true;
                                idx += 2;
                                break;
                            }
                            Some(0xff) => {
                                text.push(0);
                                idx += 2;
                                continue;
                            }
                            _ => break,
                        }
                    }
                    text.push(byte);
                    idx += 1;
                }
                let Ok(text) = String::from_utf8(text) else {
                    break;
                };
                if !ended {
                    break;
                }
                rest = &tail[idx..];
                Value::String(text)
            }
            _ => break,
        };
        values.push(value);
    }
    values
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
    fn keys_decode_back_to_their_values() {
        let values = vec![
            json!(null),
            json!(true),
            json!(-5),
            json!(2.25),
            json!("a\u{0}b"),
            json!(""),
            json!(i64::MAX),
        ];
        assert_eq!(decode_prefix(&encode(&values)), values);
        assert_eq!(
            decode_prefix(&file_key("s3://b", "d/x.jpg")),
            [json!("s3://b"), json!("d/x.jpg")]
        );
        // Truncated and junk bytes stop the decoding, they never panic.
        let key = file_key("s3://b", "d/x.jpg");
        assert_eq!(decode_prefix(&key[..key.len() - 1]), [json!("s3://b")]);
        assert!(decode_prefix(&[0x03, 1, 2]).is_empty());
    }

    #[test]
    fn file_keys_sort_by_path() {
        assert!(file_key("s3://b", "a-b") < file_key("s3://b", "a/b"));
        assert!(file_key("s3://b", "a") < file_key("s3://b", "a/b"));
    }
}
