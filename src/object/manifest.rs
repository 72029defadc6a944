//! The CBOR manifests. Field names are CBOR map keys and field order is encoding order,
//! so renaming or reordering a field changes every id: add fields at the end, with a
//! format bump, and document them in docs/FORMAT.md.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::codec::{CodecError, decode, encode, peek_format};
use super::id::{CommitId, Kind, ObjectId};

/// A manifest: a CBOR object of one kind whose first field is its format number. Commit,
/// Node, Schema and Summary implement it; [`Manifest::decode`] is the one decoder of all
/// of them, for the store's readers, `fsck`, push and pull alike.
pub trait Manifest: DeserializeOwned {
    /// The kind its objects are stored as.
    const KIND: Kind;
    /// The newest format this pail reads. Every format from 1 up to it decodes.
    const FORMAT: u32;

    /// The format this value was written with.
    fn format(&self) -> u32;

    /// What the decoded value must satisfy beyond its structure (e.g. that it uses only
    /// what its format has), as a reason when it does not.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    /// Decodes a manifest of a format this pail knows. Arbitrary bytes give an error,
    /// never a panic. A newer format is `CodecError::NewerFormat` even when the rest no
    /// longer fits this version's structs (the `format` field is read first); format 0,
    /// which no pail wrote, is `CodecError::UnknownFormat`; anything else that does not
    /// decode is `CodecError::Malformed` (or `TooLarge`). Not meant to be overridden.
    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let what = Self::KIND.tag();
        let check = |found: u32| match found {
            0 => Err(CodecError::UnknownFormat { what, found }),
            found if found > Self::FORMAT => Err(CodecError::NewerFormat {
                what,
                found,
                known: Self::FORMAT,
            }),
            _ => Ok(()),
        };
        if let Some(found) = peek_format(bytes) {
            check(found)?;
        }
        let value: Self = decode(what, bytes)?;
        check(value.format())?;
        value
            .check()
            .map_err(|detail| CodecError::Malformed { what, detail })?;
        Ok(value)
    }
}

/// 2: row keys of keyless records and leaf digests of JSON rows hash the canonical hash
/// encoding (`rows::canonical`), and floats are read exactly. Format 1 commits decode as
/// they are.
pub const COMMIT_FORMAT: u32 = 2;
pub const NODE_FORMAT: u32 = 1;

/// 2: a delta root (`Node::delta`): a version stored as a base tree's rows with edits.
/// Plain tree nodes are still written as format 1.
pub const DELTA_NODE_FORMAT: u32 = 2;

/// One dataset version. It names neither the dataset nor the version: refs do that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    pub format: u32,
    pub parents: Vec<CommitId>,
    pub inputs: Vec<Input>,
    pub schema: ObjectId,
    /// Root node of the row tree.
    pub rows: ObjectId,
    pub n_rows: u64,
    /// Sum of the sizes of the rows' File columns.
    pub n_bytes: u64,
    /// Column paths the row key is made of; empty means the row's content hash.
    pub key: Vec<String>,
    pub author: String,
    /// Microseconds since the Unix epoch, UTC.
    pub time: i64,
    pub message: String,
    pub command: Vec<String>,
    pub git: Option<GitState>,
    pub code: Vec<CodeFile>,
    pub summary: Option<ObjectId>,
}

/// Where a version's rows came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// Another dataset version, by full name, version and commit id.
    Dataset {
        name: String,
        version: String,
        commit: CommitId,
    },
    /// A storage listing: the URI listed and when (µs since the epoch).
    Source { uri: String, listed_at: i64 },
}

/// The state of the code's git repository when the version was saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitState {
    pub repository: String,
    pub head: Option<String>,
    pub branch: Option<String>,
    pub dirty: bool,
}

/// A code file embedded as a blob object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeFile {
    pub path: String,
    pub blob: ObjectId,
    pub size: u64,
}

/// An inner node of the row tree, or (format 2) the root of a version stored as another
/// tree's rows with edits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub format: u32,
    /// 1 when the children are leaves, 2 when they are level-1 nodes, and so on; 0 for a
    /// delta root.
    pub level: u32,
    pub children: Vec<Child>,
    /// Format 2 only: the version's rows are `delta.base`'s rows edited. Absent from the
    /// bytes of every other node, so format-1 nodes keep their bytes and ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta>,
}

/// A version's rows as a base tree's rows with some removed and some inserted: Iceberg's
/// merge-on-read with position deletes. The base is a plain tree (never another delta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Root node of the plain tree whose rows are edited.
    pub base: ObjectId,
    /// Root node of a plain tree of the inserted rows, in key order; none when rows are
    /// only removed. Edits take its rows in order.
    pub patch: Option<ObjectId>,
    /// The edited leaves of the base, by ascending leaf index.
    pub edits: Vec<Edit>,
}

/// The edits of one base leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    /// The leaf's index among the base's leaves in key order.
    pub leaf: u64,
    /// The leaf's id (a check, and the data file its position deletes name).
    pub id: ObjectId,
    /// Positions (0-based, ascending, distinct) of the leaf's rows that are removed.
    pub deletes: Vec<u32>,
    /// Where inserted rows go, by ascending, distinct `before`.
    pub inserts: Vec<Insert>,
}

/// `rows` rows of the patch, taken in order, go before the leaf's row at position
/// `before` (after its last row when `before` is its row count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Insert {
    pub before: u32,
    pub rows: u32,
}

/// What a node knows about one child without reading it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Child {
    pub id: ObjectId,
    pub first_key: ByteBuf,
    pub last_key: ByteBuf,
    pub n_rows: u64,
    pub n_bytes: u64,
    /// BLAKE3 of the schema id and the rows' canonical bytes (for a node child: of its
    /// children's digests), so an unchanged chunk is recognised without encoding it.
    pub digest: ObjectId,
    pub stats: Vec<ColumnStats>,
}

/// Min/max of a numeric or datetime column (datetimes as µs) within a child.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub column: String,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub nulls: u64,
}

impl Manifest for Commit {
    const KIND: Kind = Kind::Commit;
    const FORMAT: u32 = COMMIT_FORMAT;
    fn format(&self) -> u32 {
        self.format
    }
}

impl Manifest for Node {
    const KIND: Kind = Kind::Node;
    const FORMAT: u32 = DELTA_NODE_FORMAT;
    fn format(&self) -> u32 {
        self.format
    }

    /// A node's format is the one its contents need: 1 for tree nodes, 2 for delta roots,
    /// which have level 0 and no children.
    fn check(&self) -> Result<(), String> {
        match &self.delta {
            None if self.format != NODE_FORMAT => Err(format!(
                "a tree node must have format {NODE_FORMAT}, found {}",
                self.format
            )),
            None if self.level == 0 => Err("a tree node has level 0".into()),
            Some(_) if self.format != DELTA_NODE_FORMAT => Err(format!(
                "a delta root must have format {DELTA_NODE_FORMAT}, found {}",
                self.format
            )),
            Some(_) if self.level != 0 || !self.children.is_empty() => {
                Err("a delta root has a level or children".into())
            }
            _ => Ok(()),
        }
    }
}

impl Commit {
    /// The object id and the canonical CBOR bytes.
    pub fn encode(&self) -> (ObjectId, Vec<u8>) {
        let bytes = encode(self);
        (ObjectId::compute(Kind::Commit, &bytes), bytes)
    }

    /// `Manifest::decode`, callable without importing the trait.
    pub fn decode(bytes: &[u8]) -> Result<Commit, CodecError> {
        <Commit as Manifest>::decode(bytes)
    }
}

impl Node {
    /// The object id and the canonical CBOR bytes.
    pub fn encode(&self) -> (ObjectId, Vec<u8>) {
        let bytes = encode(self);
        (ObjectId::compute(Kind::Node, &bytes), bytes)
    }

    /// `Manifest::decode`, callable without importing the trait.
    pub fn decode(bytes: &[u8]) -> Result<Node, CodecError> {
        <Node as Manifest>::decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample_commit() -> Commit {
        Commit {
            format: COMMIT_FORMAT,
            parents: vec![CommitId(ObjectId::compute(Kind::Commit, b"parent"))],
            inputs: vec![
                Input::Source {
                    uri: "file:///data/photos".into(),
                    listed_at: 1_700_000_000_000_000,
                },
                Input::Dataset {
                    name: "local.default.photos".into(),
                    version: "1.0.0".into(),
                    commit: CommitId(ObjectId::compute(Kind::Commit, b"input")),
                },
            ],
            schema: ObjectId::compute(Kind::Schema, b"s"),
            rows: ObjectId::compute(Kind::Node, b"n"),
            n_rows: 3,
            n_bytes: 42,
            key: vec!["file.source".into(), "file.path".into()],
            author: "Ada <ada@example.com>".into(),
            time: 1_700_000_000_000_000,
            message: "first".into(),
            command: vec!["pail".into(), "commit".into()],
            git: Some(GitState {
                repository: "/src".into(),
                head: Some("abc".into()),
                branch: Some("main".into()),
                dirty: true,
            }),
            code: vec![CodeFile {
                path: "make.py".into(),
                blob: ObjectId::compute(Kind::Blob, b"print()"),
                size: 7,
            }],
            summary: None,
        }
    }

    #[test]
    fn commit_round_trips_and_encodes_deterministically() {
        let commit = sample_commit();
        let (id1, bytes1) = commit.encode();
        let (id2, bytes2) = commit.clone().encode();
        assert_eq!(id1, id2);
        assert_eq!(bytes1, bytes2);
        assert_eq!(Commit::decode(&bytes1).unwrap(), commit);
    }

    #[test]
    fn newer_format_is_refused() {
        let mut commit = sample_commit();
        commit.format = COMMIT_FORMAT + 1;
        let (_, bytes) = commit.encode();
        let err = Commit::decode(&bytes).unwrap_err();
        assert!(err.to_string().contains("upgrade pail"), "{err}");
    }

    #[test]
    fn a_newer_format_that_no_longer_fits_says_upgrade() {
        #[derive(serde::Serialize)]
        struct Future {
            format: u32,
            parents: String,
        }
        let bytes = encode(&Future {
            format: COMMIT_FORMAT + 1,
            parents: "a new shape".into(),
        });
        let err = Commit::decode(&bytes).unwrap_err();
        assert!(err.to_string().contains("upgrade pail"), "{err}");
        assert!(
            Node::decode(&bytes)
                .unwrap_err()
                .to_string()
                .contains("upgrade pail")
        );
    }

    /// The one decode path, for every manifest type: a newer format is `NewerFormat`,
    /// format 0 `UnknownFormat`, truncated bytes `Malformed`.
    #[test]
    fn the_one_decode_path_types_its_errors() {
        fn check<M: Manifest + std::fmt::Debug>() {
            #[derive(serde::Serialize)]
            struct Only {
                format: u32,
            }
            let what = M::KIND.tag();
            let newer = encode(&Only {
                format: M::FORMAT + 1,
            });
            assert!(
                matches!(
                    M::decode(&newer),
                    Err(CodecError::NewerFormat { what: w, found, known })
                        if w == what && found == M::FORMAT + 1 && known == M::FORMAT
                ),
                "{what}"
            );
            let zero = encode(&Only { format: 0 });
            assert!(
                matches!(
                    M::decode(&zero),
                    Err(CodecError::UnknownFormat { what: w, found: 0 }) if w == what
                ),
                "{what}"
            );
            let current = encode(&Only { format: M::FORMAT });
            assert!(
                matches!(M::decode(&current), Err(CodecError::Malformed { what: w, .. }) if w == what),
                "{what}: a format alone is not a manifest"
            );
        }
        check::<Commit>();
        check::<Node>();
        check::<crate::schema::Schema>();
        check::<crate::summary::Summary>();

        let (_, bytes) = sample_commit().encode();
        for len in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                matches!(
                    <Commit as Manifest>::decode(&bytes[..len]),
                    Err(CodecError::Malformed { what: "commit", .. })
                ),
                "truncated to {len}"
            );
        }
        let mut older = sample_commit();
        older.format = 1;
        assert_eq!(Commit::decode(&older.encode().1).unwrap(), older);
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let (_, mut bytes) = sample_commit().encode();
        bytes.push(0);
        assert!(Commit::decode(&bytes).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        // 100k nested arrays: a CBOR bomb that would overflow a naive recursive decoder.
        let bytes = vec![0x81u8; 100_000];
        assert!(Commit::decode(&bytes).is_err());
        assert!(Node::decode(&bytes).is_err());
    }

    #[test]
    fn huge_declared_length_is_an_error() {
        // A map claiming 2^32 entries, and a byte string claiming 2^62 bytes.
        assert!(Commit::decode(&[0xba, 0xff, 0xff, 0xff, 0xff]).is_err());
        let mut bytes = vec![0x5b];
        bytes.extend_from_slice(&(1u64 << 62).to_be_bytes());
        assert!(Node::decode(&bytes).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Commit::decode(&bytes);
            let _ = Node::decode(&bytes);
        }

        #[test]
        fn mutated_commits_never_panic(idx in 0usize..400, byte in any::<u8>()) {
            let (_, mut bytes) = sample_commit().encode();
            let idx = idx % bytes.len();
            bytes[idx] = byte;
            if let Ok(commit) = Commit::decode(&bytes) {
                let (_, again) = commit.encode();
                prop_assert_eq!(Commit::decode(&again).unwrap(), commit);
            }
        }

        #[test]
        fn node_round_trips(n_rows in any::<u64>(), first in proptest::collection::vec(any::<u8>(), 0..40)) {
            let node = Node {
                format: NODE_FORMAT,
                level: 1,
                children: vec![Child {
                    id: ObjectId::compute(Kind::Leaf, &first),
                    first_key: ByteBuf::from(first.clone()),
                    last_key: ByteBuf::from(first),
                    n_rows,
                    n_bytes: 1,
                    digest: ObjectId::compute(Kind::Blob, b""),
                    stats: vec![ColumnStats { column: "file.size".into(), min: Some(-1), max: None, nulls: 2 }],
                }],
                delta: None,
            };
            let (_, bytes) = node.encode();
            prop_assert_eq!(Node::decode(&bytes).unwrap(), node);
        }
    }
}
