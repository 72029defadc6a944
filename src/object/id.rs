use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The kind of an object; its tag is hashed into the id, so two kinds never share an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Commit,
    Node,
    Leaf,
    Schema,
    Blob,
    Summary,
}

impl Kind {
    /// Every kind, in code order.
    pub const ALL: [Kind; 6] = [
        Kind::Commit,
        Kind::Node,
        Kind::Leaf,
        Kind::Schema,
        Kind::Blob,
        Kind::Summary,
    ];

    /// The ASCII tag hashed into the id and used in the remote layout.
    pub fn tag(self) -> &'static str {
        match self {
            Kind::Commit => "commit",
            Kind::Node => "node",
            Kind::Leaf => "leaf",
            Kind::Schema => "schema",
            Kind::Blob => "blob",
            Kind::Summary => "summary",
        }
    }

    /// The one-byte code that prefixes an object's bytes in the local store.
    pub fn code(self) -> u8 {
        match self {
            Kind::Commit => 1,
            Kind::Node => 2,
            Kind::Leaf => 3,
            Kind::Schema => 4,
            Kind::Blob => 5,
            Kind::Summary => 6,
        }
    }

    /// The kind with this one-byte code, if any.
    pub fn from_code(code: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// Why text is not an object id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("`{text}` is not an object id (64 hex digits expected)")]
    NotHex { text: String },
}

/// A BLAKE3 hash of an object's kind tag, length and bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub [u8; 32]);

impl ObjectId {
    /// Hashes `"<tag> <len>\0"` followed by the bytes, the way git names its objects.
    pub fn compute(kind: Kind, bytes: &[u8]) -> ObjectId {
        let mut hasher = blake3::Hasher::new();
        hasher.update(kind.tag().as_bytes());
        hasher.update(b" ");
        hasher.update(bytes.len().to_string().as_bytes());
        hasher.update(b"\0");
        hasher.update(bytes);
        ObjectId(*hasher.finalize().as_bytes())
    }

    /// The 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        let mut text = String::with_capacity(64);
        for byte in self.0 {
            text.push_str(&format!("{byte:02x}"));
        }
        text
    }

    /// The first 12 hex digits, for human output.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<ObjectId, IdError> {
        let not_hex = || IdError::NotHex {
            text: text.to_string(),
        };
        // Byte-wise, so multibyte UTF-8 and signs (`u8::from_str_radix` takes `+`) are
        // refused rather than sliced or parsed.
        let digits = text.as_bytes();
        if digits.len() != 64 {
            return Err(not_hex());
        }
        let nibble = |digit: u8| (digit as char).to_digit(16).map(|value| value as u8);
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let (Some(high), Some(low)) = (nibble(pair[0]), nibble(pair[1])) else {
                return Err(not_hex());
            };
            *byte = high << 4 | low;
        }
        Ok(ObjectId(bytes))
    }

    /// The id of 32 bytes; None for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<ObjectId> {
        <[u8; 32]>::try_from(bytes).ok().map(ObjectId)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.short())
    }
}

impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ObjectId, D::Error> {
        let bytes: serde_bytes::ByteBuf = Deserialize::deserialize(deserializer)?;
        ObjectId::from_slice(&bytes).ok_or_else(|| {
            serde::de::Error::custom(format!("object id of {} bytes, expected 32", bytes.len()))
        })
    }
}

/// The id of a commit object: one dataset version's manifest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommitId(pub ObjectId);

impl CommitId {
    /// The commit object's id.
    pub fn object(&self) -> ObjectId {
        self.0
    }
    /// The 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.0.to_hex()
    }
    /// The first 12 hex digits, as shown to people.
    pub fn short(&self) -> String {
        self.0.short()
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommitId({})", self.0.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_of_empty_blob_is_pinned() {
        // Pinned so that a change to the id derivation cannot slip through.
        let id = ObjectId::compute(Kind::Blob, b"");
        let expected = blake3::hash(b"blob 0\0");
        assert_eq!(id.0, *expected.as_bytes());
    }

    #[test]
    fn kinds_never_share_an_id() {
        assert_ne!(
            ObjectId::compute(Kind::Blob, b"x"),
            ObjectId::compute(Kind::Leaf, b"x")
        );
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let id = ObjectId::compute(Kind::Commit, b"abc");
        assert_eq!(ObjectId::from_hex(&id.to_hex()), Ok(id));
        assert!(ObjectId::from_hex("zz").is_err());
        assert!(ObjectId::from_hex(&"g".repeat(64)).is_err());
        for kind in Kind::ALL {
            assert_eq!(Kind::from_code(kind.code()), Some(kind));
        }
    }

    #[test]
    fn from_hex_refuses_signs_and_multibyte_text_without_panicking() {
        let id = ObjectId::compute(Kind::Commit, b"abc").to_hex();
        // `+a` parses with from_str_radix; it must not here.
        let signed = format!("+{}", &id[1..]);
        assert!(ObjectId::from_hex(&signed).is_err());
        let signed_mid = format!("{}+{}", &id[..10], &id[11..]);
        assert!(ObjectId::from_hex(&signed_mid).is_err());
        // 63 ASCII digits and a 2-byte character: 65 bytes. 62 digits and "é": 64 bytes
        // whose byte pairs cut the character.
        assert!(ObjectId::from_hex(&format!("{}é", &id[..62])).is_err());
        assert!(ObjectId::from_hex(&format!("a{}é{}", &id[..30], &id[..31])).is_err());
        assert!(ObjectId::from_hex(&"é".repeat(32)).is_err());
        assert_eq!(
            ObjectId::from_hex(&id.to_uppercase()).map(|id| id.to_hex()),
            Ok(id)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn from_hex_never_panics(text in "\\PC{0,70}") {
            let _ = ObjectId::from_hex(&text);
        }

        #[test]
        fn from_hex_never_panics_at_length_64(text in "[0-9a-fA-F+\\-é€ 😀]{20,64}") {
            let _ = ObjectId::from_hex(&text);
            if let Ok(id) = ObjectId::from_hex(&text) {
                proptest::prop_assert_eq!(id.to_hex(), text.to_lowercase());
            }
        }

        #[test]
        fn hex_round_trips(bytes in proptest::prelude::any::<[u8; 32]>()) {
            let id = ObjectId(bytes);
            proptest::prop_assert_eq!(ObjectId::from_hex(&id.to_hex()), Ok(id));
        }
    }
}
