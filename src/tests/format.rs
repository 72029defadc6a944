//! The test vectors of docs/FORMAT.md, read out of the document at test time and rebuilt
//! from the code, so the document cannot drift from the encoder. A vector there opens with a
//! `<!-- vector: NAME -->` line and runs to the next one or the next heading.

use std::path::Path;

use crate::commit::{CommitOptions, CommitOutcome, ListingOptions, NoProgress};
use crate::listing::{FileEntry, Source};
use crate::object::{
    COMMIT_FORMAT, Child, CodeFile, ColumnStats, Commit, CommitId, GitState, Input, Kind,
    NODE_FORMAT, Node, ObjectId, decode, encode,
};
use crate::rows::key::{file_key, push_value};
use crate::rows::leaf::{digest_file, files_batch};
use crate::rows::{RowEncoder, Staging, TreeBuilder, TreeError};
use crate::schema::{Field, Schema, Type};
use crate::summary::{
    Changes, ColumnSummary, FileSummary, Lengths, Lineage, SUMMARY_FORMAT, Scalar, SizeStats,
    Summary, ValueCount,
};
use crate::{DatasetName, NameDefaults, Repo};
use serde_bytes::ByteBuf;
use serde_json::json;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Hex as written in FORMAT.md: wrapped over lines, whitespace ignored.
fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn id(text: &str) -> ObjectId {
    ObjectId::from_hex(text).unwrap()
}

/// docs/FORMAT.md as it is now.
fn format_doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/FORMAT.md");
    std::fs::read_to_string(&path).unwrap()
}

/// The vectors this file checks, each in its own test. The document marks exactly these.
const VECTORS: [&str; 14] = [
    "empty-blob",
    "commit",
    "listing-schema",
    "every-type-schema",
    "column-ids-schema",
    "constraints-schema",
    "empty-tree",
    "one-child-node",
    "delta-root",
    "summary",
    "row-keys",
    "canonical-hash",
    "remote-keys",
    "iceberg-ids",
];

/// Every vector the document marks, as (name, its text up to the next marker or heading).
fn doc_vectors() -> Vec<(String, String)> {
    let mut vectors = Vec::new();
    let mut current: Option<(String, String)> = None;
    let mut fenced = false;
    for line in format_doc().lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        let marker = line
            .strip_prefix("<!-- vector: ")
            .and_then(|rest| rest.strip_suffix(" -->"));
        if marker.is_some() || (!fenced && line.starts_with('#')) {
            vectors.extend(current.take());
        }
        if let Some(name) = marker {
            current = Some((name.to_string(), String::new()));
        } else if let Some((_, text)) = &mut current {
            text.push_str(line);
            text.push('\n');
        }
    }
    vectors.extend(current);
    vectors
}

/// One test vector of docs/FORMAT.md.
struct DocVector {
    name: String,
    text: String,
}

fn doc_vector(name: &str) -> DocVector {
    let mut found = doc_vectors()
        .into_iter()
        .filter(|(marked, _)| marked == name);
    let (name, text) = found
        .next()
        .unwrap_or_else(|| panic!("docs/FORMAT.md has no vector `{name}`"));
    assert!(
        found.next().is_none(),
        "docs/FORMAT.md has two vectors `{name}`"
    );
    DocVector { name, text }
}

impl DocVector {
    /// Its bytes: the one fenced block that holds only hex (wrapped, whitespace ignored).
    fn bytes(&self) -> Vec<u8> {
        let blocks: Vec<&str> = self
            .text
            .split("```")
            .skip(1)
            .step_by(2)
            .filter(|block| {
                block.contains(|c: char| c.is_ascii_hexdigit())
                    && block
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() || c.is_whitespace())
            })
            .collect();
        let [block] = blocks.as_slice() else {
            panic!("vector {}: {} hex blocks", self.name, blocks.len())
        };
        unhex(block)
    }

    /// Its id, from its `` id: `HEX` `` line.
    fn id(&self) -> ObjectId {
        let line = self
            .text
            .lines()
            .find_map(|line| line.strip_prefix("id: `"))
            .unwrap_or_else(|| panic!("vector {}: no id line", self.name));
        id(line.trim_end_matches('`'))
    }

    /// Its inline code spans outside fenced blocks, in order, with the text between them:
    /// `[before, span, between, span, ...]`.
    fn prose_parts(&self) -> Vec<String> {
        let prose: Vec<&str> = self.text.split("```").step_by(2).collect();
        prose.join("\n").split('`').map(str::to_string).collect()
    }

    /// Its first fenced block (after the fence's info string), as text.
    fn fenced(&self) -> String {
        let block = self
            .text
            .split("```")
            .nth(1)
            .unwrap_or_else(|| panic!("vector {}: no fenced block", self.name));
        block
            .split_once('\n')
            .map_or("", |(_, body)| body)
            .to_string()
    }

    /// Its inline code spans outside fenced blocks, in order.
    fn spans(&self) -> Vec<String> {
        self.prose_parts().into_iter().skip(1).step_by(2).collect()
    }

    /// Its JSON notation: the first inline code span that opens with `{`.
    fn json(&self) -> serde_json::Value {
        let parts = self.prose_parts();
        let span = parts
            .iter()
            .skip(1)
            .step_by(2)
            .find(|span| span.starts_with('{'))
            .unwrap_or_else(|| panic!("vector {}: no JSON span", self.name));
        serde_json::from_str(span).unwrap_or_else(|err| panic!("vector {}: {err}", self.name))
    }

    /// Its inline `` `INPUT` = `HEX` `` pairs.
    fn pairs(&self) -> Vec<(String, Vec<u8>)> {
        let parts = self.prose_parts();
        let spans: Vec<&[String]> = parts[1..].chunks(4).collect();
        let pairs: Vec<(String, Vec<u8>)> = spans
            .iter()
            .filter(|chunk| chunk.len() >= 3)
            .map(|chunk| {
                assert_eq!(chunk[1].trim(), "=", "vector {}: {chunk:?}", self.name);
                (chunk[0].clone(), unhex(&chunk[2]))
            })
            .collect();
        assert!(!pairs.is_empty(), "vector {}: no pairs", self.name);
        pairs
    }

    /// The ids and byte strings its notation shows as `h'0123abcd…'` (abbreviated) or
    /// `h'0123abcd'`.
    fn byte_strings(&self) -> Vec<&str> {
        self.text
            .split("h'")
            .skip(1)
            .map(|rest| {
                let (shown, _) = rest.split_once('\'').unwrap();
                shown.trim_end_matches('…')
            })
            .collect()
    }
}

/// Compares what the code encodes with the document's vector `name`: its bytes, its id
/// (which must also be the id of its bytes as `kind`) and every byte string its notation
/// shows. Prints what the code produces, so a deliberate format change can be pasted into
/// the doc.
fn check(name: &str, kind: Kind, bytes: &[u8], id: ObjectId) {
    println!("{name}:\n  bytes {}\n  id    {id}", hex(bytes));
    let vector = doc_vector(name);
    assert_eq!(hex(bytes), hex(&vector.bytes()), "{name}: bytes");
    assert_eq!(id, vector.id(), "{name}: id");
    assert_eq!(
        ObjectId::compute(kind, &vector.bytes()),
        vector.id(),
        "{name}: the document's id is not its bytes' id"
    );
    for shown in vector.byte_strings() {
        assert!(
            hex(bytes).contains(shown),
            "{name}: h'{shown}' is not in the bytes"
        );
    }
}

/// The listing schema's id, as the code computes it.
fn listing_schema_id() -> ObjectId {
    ObjectId::compute(Kind::Schema, &encode(&Schema::listing()))
}

#[test]
fn the_document_marks_exactly_the_vectors_checked_here() {
    let mut marked: Vec<String> = doc_vectors().into_iter().map(|(name, _)| name).collect();
    marked.sort();
    let mut known: Vec<String> = VECTORS.iter().map(|name| name.to_string()).collect();
    known.sort();
    assert_eq!(marked, known);
}

// ---- ids ----------------------------------------------------------------------------

#[test]
fn empty_blob_id() {
    let id = ObjectId::compute(Kind::Blob, b"");
    assert_eq!(hex(&id.0), hex(&doc_vector("empty-blob").bytes()));
    assert_eq!(id.0, *blake3::hash(b"blob 0\0").as_bytes());
}

/// A leaf's keys and stored bytes on a remote of format 2 and of format 1.
#[test]
fn remote_keys_vector() {
    use crate::remote::RemoteStore;
    let bytes = b"PAR1";
    let id = ObjectId::compute(Kind::Leaf, bytes);
    let (v2, plain) = RemoteStore::layout(2, &id, Kind::Leaf);
    let (v1, kind_byte) = RemoteStore::layout(1, &id, Kind::Leaf);
    let (node, node_plain) = RemoteStore::layout(2, &id, Kind::Node);
    println!("id {id}\n{v2}\n{v1}");
    let vector = doc_vector("remote-keys");
    let spans = vector.spans();
    let spans: Vec<&str> = spans.iter().map(String::as_str).collect();
    assert!(plain && !kind_byte && !node_plain);
    assert_eq!(node, v1);
    assert_eq!(id, vector.id());
    assert!(spans.contains(&v2.as_str()), "{v2} not in {spans:?}");
    assert!(spans.contains(&v1.as_str()), "{v1} not in {spans:?}");
    assert!(spans.contains(&"50415231"), "the format-2 bytes");
    assert!(spans.contains(&"0350415231"), "the format-1 bytes");
}

#[test]
fn id_preimage_is_tag_space_decimal_length_nul_bytes() {
    let id = ObjectId::compute(Kind::Commit, b"hello world");
    assert_eq!(id.0, *blake3::hash(b"commit 11\0hello world").as_bytes());
}

#[test]
fn kind_tags_and_codes() {
    let table: Vec<(&str, u8)> = Kind::ALL.iter().map(|k| (k.tag(), k.code())).collect();
    assert_eq!(
        table,
        [
            ("commit", 1),
            ("node", 2),
            ("leaf", 3),
            ("schema", 4),
            ("blob", 5),
            ("summary", 6)
        ]
    );
}

// ---- schema ---------------------------------------------------------------------------

#[test]
fn listing_schema_vector() {
    let schema = Schema::listing();
    let bytes = encode(&schema);
    let id = ObjectId::compute(Kind::Schema, &bytes);
    check("listing-schema", Kind::Schema, &bytes, id);
    assert_eq!(doc_vector("listing-schema").json(), json!(schema));
    assert_eq!(decode::<Schema>("schema", &bytes).unwrap(), schema);
}

fn every_type_schema() -> Schema {
    let field = |name: &str, ty: Type| Field {
        name: name.into(),
        ty,
    };
    // Format 1: no `BytesAs`, so it is written as format 1 wrote it.
    Schema {
        format: 1,
        columns: None,
        constraints: None,
        fields: vec![
            field("a", Type::Bool),
            field("b", Type::Int),
            field("c", Type::Float),
            field("d", Type::String),
            field("e", Type::Bytes),
            field("f", Type::Datetime),
            field("g", Type::File),
            field("h", Type::Struct(vec![field("i", Type::Int)])),
            field("j", Type::List(Box::new(Type::String))),
            field("k", Type::Optional(Box::new(Type::Int))),
            field("l", Type::Enum(vec!["x".into(), "y".into()])),
        ],
    }
}

#[test]
fn every_type_schema_vector() {
    let schema = every_type_schema();
    let bytes = encode(&schema);
    let id = ObjectId::compute(Kind::Schema, &bytes);
    check("every-type-schema", Kind::Schema, &bytes, id);
    assert_eq!(doc_vector("every-type-schema").json(), json!(schema));
    assert_eq!(decode::<Schema>("schema", &bytes).unwrap(), schema);
}

/// Format 3: a second version that reorders `x` before a new `z` and drops `y`. `x`
/// keeps its id 1, `z` gets 3 (`y` had 2, never given again).
#[test]
fn column_ids_schema_vector() {
    let field = |name: &str, ty: Type| Field {
        name: name.into(),
        ty,
    };
    let parent = Schema::new(vec![field("x", Type::Int), field("y", Type::Int)]);
    let schema = Schema::new(vec![field("z", Type::String), field("x", Type::Int)])
        .numbered_after(Some(&parent));
    assert_eq!(schema.format, 3);
    let (id, bytes) = schema.encode();
    check("column-ids-schema", Kind::Schema, &bytes, id);
    assert_eq!(doc_vector("column-ids-schema").json(), json!(schema));
    assert_eq!(Schema::decode(&bytes).unwrap(), schema);
    // The same fields as a first version: the default numbering, written as format 1.
    let first = Schema::new(schema.fields.clone()).numbered_after(None);
    assert_eq!((first.format, first.columns), (1, None));
}

#[test]
fn constraints_schema_vector() {
    let text = r#"{"type": "object", "required": ["n", "tags"], "properties": {
        "n": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "maxItems": 2,
                 "items": {"type": "string", "pattern": "^[a-z]+$"}}}}"#;
    let doc: serde_json::Value = serde_json::from_str(text).unwrap();
    let schema = Schema::from_json_schema_text(&doc, text).unwrap();
    assert_eq!(schema.format, 3);
    let (id, bytes) = schema.encode();
    check("constraints-schema", Kind::Schema, &bytes, id);
    assert_eq!(doc_vector("constraints-schema").json(), json!(schema));
    assert_eq!(Schema::decode(&bytes).unwrap(), schema);
}

// ---- nodes ----------------------------------------------------------------------------

#[test]
fn empty_tree_node_vector() {
    let node = Node {
        format: NODE_FORMAT,
        level: 1,
        children: Vec::new(),
        delta: None,
    };
    let (id, bytes) = node.encode();
    check("empty-tree", Kind::Node, &bytes, id);
    assert_eq!(doc_vector("empty-tree").json(), json!(node));
    assert_eq!(Node::decode(&bytes).unwrap(), node);
}

fn one_child_node() -> Node {
    Node {
        format: NODE_FORMAT,
        level: 1,
        children: vec![Child {
            // Placeholders: a node stores its children's ids, whatever bytes they name.
            id: ObjectId::compute(Kind::Leaf, b"leaf"),
            first_key: ByteBuf::from(file_key("s3://b", "a")),
            last_key: ByteBuf::from(file_key("s3://b", "b")),
            n_rows: 2,
            n_bytes: 300,
            digest: ObjectId::compute(Kind::Blob, b""),
            stats: vec![ColumnStats {
                column: "file.size".into(),
                min: Some(100),
                max: Some(200),
                nulls: 0,
            }],
        }],
        delta: None,
    }
}

/// A delta root with placeholder ids: the empty tree's id as base, `id(node, "patch")`
/// as patch, one edit of leaf 3 deleting rows 0 and 7 and inserting 2 patch rows before
/// row 5.
fn delta_root() -> Node {
    Node {
        format: crate::object::DELTA_NODE_FORMAT,
        level: 0,
        children: Vec::new(),
        delta: Some(crate::object::Delta {
            base: doc_vector("empty-tree").id(),
            patch: Some(ObjectId::compute(Kind::Node, b"patch")),
            edits: vec![crate::object::Edit {
                leaf: 3,
                id: ObjectId::compute(Kind::Leaf, b"leaf"),
                deletes: vec![0, 7],
                inserts: vec![crate::object::Insert { before: 5, rows: 2 }],
            }],
        }),
    }
}

#[test]
fn delta_root_vector() {
    let node = delta_root();
    let (id, bytes) = node.encode();
    check("delta-root", Kind::Node, &bytes, id);
    assert_eq!(Node::decode(&bytes).unwrap(), node);
    // A tree node keeps format 1; a delta root must say 2 and have no level or children.
    let wrong = Node {
        format: NODE_FORMAT,
        ..delta_root()
    };
    let err = Node::decode(&wrong.encode().1).unwrap_err();
    assert!(err.to_string().contains("format 2"), "{err}");
    let wrong = Node {
        level: 1,
        ..delta_root()
    };
    assert!(Node::decode(&wrong.encode().1).is_err());
    let wrong = Node {
        format: crate::object::DELTA_NODE_FORMAT,
        delta: None,
        ..one_child_node()
    };
    assert!(Node::decode(&wrong.encode().1).is_err());
}

#[test]
fn one_child_node_vector() {
    let node = one_child_node();
    let (id, bytes) = node.encode();
    check("one-child-node", Kind::Node, &bytes, id);
    assert_eq!(Node::decode(&bytes).unwrap(), node);
}

// ---- commit ---------------------------------------------------------------------------

fn full_commit() -> Commit {
    Commit {
        format: COMMIT_FORMAT,
        parents: vec![CommitId(ObjectId::compute(Kind::Commit, b"parent"))],
        inputs: vec![
            Input::Source {
                uri: "s3://b/images".into(),
                listed_at: 1_700_000_000_000_000,
            },
            Input::Dataset {
                name: "local.default.photos".into(),
                version: "1.0.0".into(),
                commit: CommitId(ObjectId::compute(Kind::Commit, b"input")),
            },
        ],
        schema: listing_schema_id(),
        rows: one_child_node().encode().0,
        n_rows: 2,
        n_bytes: 300,
        key: vec!["file.source".into(), "file.path".into()],
        author: "Ada <ada@example.com>".into(),
        time: 1_700_000_000_000_001,
        message: "first".into(),
        command: vec!["pail".into(), "commit".into(), "photos".into()],
        git: Some(GitState {
            repository: "/src".into(),
            head: Some("abc123".into()),
            branch: Some("main".into()),
            dirty: true,
        }),
        code: vec![CodeFile {
            path: "make.py".into(),
            blob: ObjectId::compute(Kind::Blob, b"print()\n"),
            size: 8,
        }],
        summary: Some(ObjectId::compute(Kind::Summary, b"summary")),
    }
}

#[test]
fn commit_vector() {
    let commit = full_commit();
    let (id, bytes) = commit.encode();
    check("commit", Kind::Commit, &bytes, id);
    assert_eq!(Commit::decode(&bytes).unwrap(), commit);
}

// ---- compatibility ----------------------------------------------------------------------

#[test]
fn newer_format_is_refused_with_upgrade_pail() {
    let mut commit = full_commit();
    commit.format = COMMIT_FORMAT + 1;
    let err = Commit::decode(&commit.encode().1).unwrap_err();
    assert!(err.to_string().contains("upgrade pail"), "{err}");
    let node = Node {
        format: crate::object::DELTA_NODE_FORMAT + 1,
        ..one_child_node()
    };
    let err = Node::decode(&node.encode().1).unwrap_err();
    assert!(err.to_string().contains("upgrade pail"), "{err}");
}

#[test]
fn unknown_trailing_fields_are_ignored() {
    // A minor format adds fields at the end of a map; readers of format 1 skip them.
    #[derive(serde::Serialize)]
    struct Later {
        format: u32,
        level: u32,
        children: Vec<Child>,
        added: String,
    }
    let later = Later {
        format: NODE_FORMAT,
        level: 1,
        children: one_child_node().children,
        added: "x".into(),
    };
    assert_eq!(Node::decode(&encode(&later)).unwrap(), one_child_node());
    // Readers do not check field order either: only writers are canonical.
    #[derive(serde::Serialize)]
    struct Reordered {
        level: u32,
        children: Vec<Child>,
        format: u32,
    }
    let reordered = Reordered {
        level: 1,
        children: Vec::new(),
        format: NODE_FORMAT,
    };
    let bytes = encode(&reordered);
    let empty_tree = doc_vector("empty-tree");
    assert_ne!(bytes, empty_tree.bytes());
    assert_eq!(Node::decode(&bytes).unwrap().encode().0, empty_tree.id());
}

#[test]
fn absent_options_are_cbor_null() {
    assert_eq!(encode(&Option::<ObjectId>::None), [0xf6]);
}

// ---- row keys -------------------------------------------------------------------------

fn key_of(values: &[serde_json::Value]) -> String {
    let mut key = Vec::new();
    for value in values {
        push_value(&mut key, value);
    }
    hex(&key)
}

#[test]
fn row_key_vectors() {
    for (input, expected) in doc_vector("row-keys").pairs() {
        let key = match input
            .strip_prefix("file_key(")
            .and_then(|args| args.strip_suffix(')'))
        {
            Some(args) => {
                let [source, path]: [String; 2] =
                    serde_json::from_str(&format!("[{args}]")).unwrap();
                file_key(&source, &path)
            }
            None => {
                let value: serde_json::Value = serde_json::from_str(&input).unwrap();
                let mut key = Vec::new();
                push_value(&mut key, &value);
                key
            }
        };
        assert_eq!(hex(&key), hex(&expected), "row key of {input}");
    }
    assert_eq!(key_of(&[json!(null)]), "00");
    assert_eq!(key_of(&[json!(false), json!(true)]), "0102");
}

/// The canonical hash encoding's vector in FORMAT.md, and the keyless row key it gives.
#[test]
fn canonical_hash_encoding_vector_and_keyless_row_key() {
    let pairs = doc_vector("canonical-hash").pairs();
    let [(input, expected)] = pairs.as_slice() else {
        panic!("one canonical-hash vector: {pairs:?}")
    };
    let value: serde_json::Value = serde_json::from_str(input).unwrap();
    let bytes = crate::rows::canonical::encode(&value);
    assert_eq!(hex(&bytes), hex(expected));
    // Keys are sorted by their bytes, whatever order the value declares them in.
    assert_eq!(
        crate::rows::canonical::encode(&json!({"b": 1, "a": 0.1})),
        bytes
    );
    assert_eq!(crate::rows::canonical::decode(&bytes).unwrap(), value);
    let key = crate::commit::row_key(&[], &value, &bytes);
    assert_eq!(key, blake3::hash(&bytes).as_bytes().to_vec());
}

// ---- the row tree ---------------------------------------------------------------------

struct Files;

impl RowEncoder for Files {
    type Row = FileEntry;
    fn batch(&self, rows: &[FileEntry]) -> Result<arrow_array::RecordBatch, TreeError> {
        Ok(files_batch("s3://b", rows))
    }
    fn digest(&self, hasher: &mut blake3::Hasher, row: &FileEntry) {
        digest_file(hasher, row);
    }
}

fn file(path: &str, size: u64) -> FileEntry {
    FileEntry {
        path: path.into(),
        size,
        etag: "\"e\"".into(),
        version: None,
        last_modified: 1_700_000_000_000_000,
        blake3: None,
    }
}

/// Builds a tree in a scratch store and returns the root node.
fn build(files: &[FileEntry], dir: &Path) -> (ObjectId, Node) {
    let schema = Schema::listing();
    let schema_id = listing_schema_id();
    let mut staging = Staging::new(&dir.join("tmp")).unwrap();
    let mut builder = TreeBuilder::new(Files, schema, schema_id, Vec::new());
    for entry in files {
        builder
            .push(file_key("s3://b", &entry.path), entry.clone(), &mut staging)
            .unwrap();
    }
    let built = builder.finish(&mut staging).unwrap();
    let store = crate::store::Store::open(&dir.join("db.redb"), &Default::default()).unwrap();
    let writer = store.write().unwrap();
    staging.write_into(&writer).unwrap();
    writer.commit().unwrap();
    let reader = store.read().unwrap();
    let (kind, bytes) = reader.object(&built.root).unwrap().unwrap();
    assert_eq!(kind, Kind::Node);
    (built.root, Node::decode(&bytes).unwrap())
}

#[test]
fn an_empty_tree_is_one_empty_level_1_node() {
    let dir = tempfile::tempdir().unwrap();
    let (root, node) = build(&[], dir.path());
    assert_eq!(root, doc_vector("empty-tree").id());
    assert!(node.children.is_empty());
}

#[test]
fn leaf_entry_digest_keys_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let files = [file("a", 100), file("b", 200)];
    let (_, node) = build(&files, dir.path());
    assert_eq!(node.level, 1);
    let [leaf] = node.children.as_slice() else {
        panic!("two rows make one leaf")
    };
    // digest = BLAKE3(schema id ‖ per row: u64le(key length) ‖ key ‖ the row's canonical bytes)
    let mut preimage = listing_schema_id().0.to_vec();
    for entry in &files {
        let key = file_key("s3://b", &entry.path);
        preimage.extend_from_slice(&(key.len() as u64).to_le_bytes());
        preimage.extend_from_slice(&key);
        preimage.extend_from_slice(&(entry.path.len() as u64).to_le_bytes());
        preimage.extend_from_slice(entry.path.as_bytes());
        preimage.extend_from_slice(&entry.size.to_le_bytes());
        preimage.extend_from_slice(&(entry.etag.len() as u64).to_le_bytes());
        preimage.extend_from_slice(entry.etag.as_bytes());
        preimage.push(0); // no version
        preimage.extend_from_slice(&entry.last_modified.to_le_bytes());
        preimage.push(0); // no blake3
    }
    assert_eq!(leaf.digest.0, *blake3::hash(&preimage).as_bytes());
    assert_eq!(leaf.first_key.as_slice(), file_key("s3://b", "a"));
    assert_eq!(leaf.last_key.as_slice(), file_key("s3://b", "b"));
    assert_eq!((leaf.n_rows, leaf.n_bytes), (2, 300));
    let stats: Vec<(&str, Option<i64>, Option<i64>, u64)> = leaf
        .stats
        .iter()
        .map(|s| (s.column.as_str(), s.min, s.max, s.nulls))
        .collect();
    assert_eq!(
        stats,
        [
            ("file.size", Some(100), Some(200), 0),
            (
                "file.last_modified",
                Some(1_700_000_000_000_000),
                Some(1_700_000_000_000_000),
                0
            ),
        ]
    );
}

#[test]
fn leaf_bytes_are_parquet_with_the_listing_arrow_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (_, node) = build(&[file("a", 1)], dir.path());
    let store =
        crate::store::Store::open(&dir.path().join("db.redb"), &Default::default()).unwrap();
    let reader = store.read().unwrap();
    let (kind, bytes) = reader.object(&node.children[0].id).unwrap().unwrap();
    assert_eq!(kind, Kind::Leaf);
    assert_eq!(&bytes[..4], b"PAR1");
    let batches = crate::rows::leaf::decode("leaf", bytes).unwrap();
    let arrow = batches[0].schema();
    let described: Vec<String> = match arrow.field(0).data_type() {
        arrow_schema::DataType::Struct(fields) => fields
            .iter()
            .map(|f| format!("{}:{}:{}", f.name(), f.data_type(), f.is_nullable()))
            .collect(),
        other => panic!("file is {other}"),
    };
    assert_eq!(arrow.field(0).name(), "file");
    assert!(!arrow.field(0).is_nullable());
    assert_eq!(
        described,
        [
            "source:Utf8:false",
            "path:Utf8:false",
            "size:Int64:true",
            "etag:Utf8:true",
            "version:Utf8:true",
            "last_modified:Timestamp(µs, \"UTC\"):true",
            "blake3:Utf8:true",
        ]
    );
}

// ---- the local repository ---------------------------------------------------------------

#[test]
fn redb_tables_refs_and_meta() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("photos");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("x.jpg"), b"x").unwrap();
    let pail_dir = work.path().join(".pail");
    let (repo, created) = Repo::init(&pail_dir).unwrap();
    assert!(created);
    let config = std::fs::read_to_string(pail_dir.join("config.toml")).unwrap();
    let config: toml::Table = config.parse().unwrap();
    assert_eq!(config["defaults"]["namespace"].as_str(), Some("local"));
    assert_eq!(config["defaults"]["project"].as_str(), Some("default"));
    let name = DatasetName::parse("photos", &NameDefaults::default()).unwrap();
    let options = CommitOptions {
        name: name.clone(),
        message: String::new(),
        bump: None,
        author: "Ada".into(),
        time: 0,
        command: Vec::new(),
        git: None,
        code: vec![("make.py".into(), b"print()\n".to_vec())],
        inputs: Vec::new(),
    };
    let root = std::fs::canonicalize(&data).unwrap();
    let source = Source::Local { root: root.clone() };
    let CommitOutcome::Created {
        id: commit_id,
        commit,
        ..
    } = crate::commit::listing(
        &repo,
        &ListingOptions {
            source,
            hash: false,
            versions: false,
            listed_at: 0,
        },
        &options,
        &NoProgress,
    )
    .unwrap()
    else {
        panic!("a first commit creates 1.0.0")
    };
    assert_eq!(commit.schema, doc_vector("listing-schema").id());
    assert_eq!(commit.key, ["file.source", "file.path"]);
    let mut rows = Vec::new();
    repo.for_each_row(&commit, |row| {
        rows.push(row);
        Ok(true)
    })
    .unwrap();
    // A local file's source is the listed directory itself; its path is relative to it.
    assert_eq!(
        rows[0]["file"]["source"],
        format!("file://{}", root.display())
    );
    assert_eq!(rows[0]["file"]["path"], "x.jpg");
    drop(repo);

    use redb::{ReadableDatabase, ReadableTable, TableDefinition};
    let objects: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
    let refs: TableDefinition<&str, &[u8]> = TableDefinition::new("refs");
    let meta: TableDefinition<&str, &str> = TableDefinition::new("meta");
    let db = redb::Database::open(pail_dir.join("pail.redb")).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(meta).unwrap();
    assert_eq!(meta.get("format").unwrap().unwrap().value(), "1");
    let refs = txn.open_table(refs).unwrap();
    let names: Vec<String> = refs
        .iter()
        .unwrap()
        .map(|entry| entry.unwrap().0.value().to_string())
        .collect();
    assert_eq!(names, ["datasets/local/default/photos/versions/1.0.0"]);
    let target = refs.get(names[0].as_str()).unwrap().unwrap();
    assert_eq!(target.value(), commit_id.0.0.as_slice());
    let objects = txn.open_table(objects).unwrap();
    let stored = objects.get(commit_id.0.0.as_slice()).unwrap().unwrap();
    let stored = stored.value();
    assert_eq!(stored[0], Kind::Commit.code());
    assert_eq!(ObjectId::compute(Kind::Commit, &stored[1..]), commit_id.0);
    let schema = objects
        .get(listing_schema_id().0.as_slice())
        .unwrap()
        .unwrap();
    assert_eq!(schema.value()[0], Kind::Schema.code());
    assert_eq!(
        hex(&schema.value()[1..]),
        hex(&doc_vector("listing-schema").bytes())
    );
    let blob = objects
        .get(commit.code[0].blob.0.as_slice())
        .unwrap()
        .unwrap();
    assert_eq!(blob.value(), b"\x05print()\n");
}

// ---- summary ------------------------------------------------------------------------------

fn small_summary() -> Summary {
    Summary {
        format: SUMMARY_FORMAT,
        n_rows: 2,
        n_bytes: 300,
        columns: vec![
            ColumnSummary {
                column: "file.size".into(),
                ty: "optional<int>".into(),
                n_nulls: 0,
                min: Some(Scalar::Int(100)),
                max: Some(Scalar::Int(200)),
                distinct: 2,
                distinct_exact: true,
                top: vec![
                    ValueCount {
                        value: "100".into(),
                        count: 1,
                    },
                    ValueCount {
                        value: "200".into(),
                        count: 1,
                    },
                ],
                lengths: None,
            },
            ColumnSummary {
                column: "tags".into(),
                ty: "list<string>".into(),
                n_nulls: 1,
                min: Some(Scalar::Text("x".into())),
                max: Some(Scalar::Text("x".into())),
                distinct: 1,
                distinct_exact: true,
                top: vec![ValueCount {
                    value: "x".into(),
                    count: 1,
                }],
                lengths: Some(Lengths {
                    min: 1,
                    max: 1,
                    total: 1,
                }),
            },
            ColumnSummary {
                column: "score".into(),
                ty: "float".into(),
                n_nulls: 0,
                min: Some(Scalar::Float(0.5)),
                max: Some(Scalar::Float(1.0)),
                distinct: 2,
                distinct_exact: false,
                top: Vec::new(),
                lengths: None,
            },
        ],
        files: vec![FileSummary {
            column: "file".into(),
            n_files: 2,
            sources: vec![ValueCount {
                value: "s3://b".into(),
                count: 2,
            }],
            n_sources: 1,
            extensions: vec![ValueCount {
                value: "jpg".into(),
                count: 2,
            }],
            n_extensions: 1,
            sizes: SizeStats {
                min: Some(100),
                max: Some(200),
                total: 300,
                buckets: vec![2, 0, 0, 0, 0, 0, 0],
                unknown: 0,
            },
        }],
        examples: vec![r#"{"a":1}"#.into()],
        lineage: Lineage {
            parents: vec![CommitId(ObjectId::compute(Kind::Commit, b"parent"))],
            inputs: vec![Input::Source {
                uri: "s3://b".into(),
                listed_at: 1,
            }],
            code: vec!["make.py".into()],
            author: "Ada".into(),
            time: 2,
            message: "m".into(),
            command: vec!["pail".into()],
        },
        changes: Some(Changes {
            parent: CommitId(ObjectId::compute(Kind::Commit, b"parent")),
            n_rows_before: 1,
            n_bytes_before: 100,
            schema_changes: Vec::new(),
            leaves_reused: 0,
            leaves_written: 1,
        }),
    }
}

#[test]
fn summary_vector() {
    let summary = small_summary();
    let (id, bytes) = summary.encode();
    check("summary", Kind::Summary, &bytes, id);
    assert_eq!(Summary::decode(&bytes).unwrap(), summary);
    let newer = Summary {
        format: SUMMARY_FORMAT + 1,
        ..small_summary()
    };
    let err = Summary::decode(&newer.encode().1).unwrap_err();
    assert!(err.to_string().contains("upgrade pail"), "{err}");
}

// ---- format-1 fixtures ---------------------------------------------------------------

/// The objects of `fixtures/format/v1/`: what format 1's writer produced (see its
/// README.md), as a local-directory remote holds them: `kind code ‖ bytes` under the id.
fn v1_fixture_objects() -> Vec<(Kind, ObjectId, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/format/v1");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST")).unwrap();
    manifest
        .lines()
        .map(|line| {
            let (kind, id) = line.split_once(' ').unwrap();
            let kind = *Kind::ALL.iter().find(|k| k.tag() == kind).unwrap();
            let id = ObjectId::from_hex(id).unwrap();
            let hex = id.to_hex();
            let path = dir.join("remote/objects").join(&hex[..2]).join(&hex[2..]);
            let stored = std::fs::read(&path).unwrap();
            assert_eq!(Kind::from_code(stored[0]), Some(kind), "{hex}: kind code");
            (kind, id, stored[1..].to_vec())
        })
        .collect()
}

#[test]
fn format_1_fixtures_keep_their_ids_and_decode_forever() {
    use crate::object::Kind::{
        Blob, Commit as CommitKind, Leaf, Node as NodeKind, Schema as SchemaKind,
        Summary as SummaryKind,
    };
    let objects = v1_fixture_objects();
    let mut schemas = std::collections::HashMap::new();
    for (kind, id, bytes) in &objects {
        assert_eq!(
            ObjectId::compute(*kind, bytes),
            *id,
            "{kind} {id}: id from bytes"
        );
        if *kind == SchemaKind {
            let schema = Schema::decode(bytes).unwrap_or_else(|err| panic!("schema {id}: {err}"));
            assert_eq!(schema.format, 1, "{id}");
            schemas.insert(*id, schema);
        }
    }
    let mut seen = std::collections::BTreeMap::new();
    let mut leaves_read = 0;
    for (kind, id, bytes) in &objects {
        *seen.entry(kind.tag()).or_insert(0) += 1;
        match kind {
            CommitKind => {
                let commit =
                    Commit::decode(bytes).unwrap_or_else(|err| panic!("commit {id}: {err}"));
                assert_eq!(commit.format, 1);
                assert!(
                    schemas.contains_key(&commit.schema),
                    "commit {id}: schema present"
                );
            }
            NodeKind => {
                let node = Node::decode(bytes).unwrap_or_else(|err| panic!("node {id}: {err}"));
                assert_eq!(node.format, 1);
            }
            SummaryKind => {
                let summary =
                    Summary::decode(bytes).unwrap_or_else(|err| panic!("summary {id}: {err}"));
                assert_eq!(summary.format, 1);
            }
            Leaf => {
                let batches = crate::rows::leaf::decode(&id.to_hex(), bytes.clone())
                    .unwrap_or_else(|err| panic!("leaf {id}: {err}"));
                // Every leaf converts back to rows under one of the fixtures' schemas.
                let arrow = batches[0].schema();
                let schema = schemas
                    .values()
                    .find(|schema| schema.to_arrow().fields() == arrow.fields())
                    .unwrap_or_else(|| panic!("leaf {id}: no schema fits {arrow:?}"));
                for batch in &batches {
                    crate::schema::batch_to_rows(schema, batch)
                        .unwrap_or_else(|err| panic!("leaf {id}: {err}"));
                }
                leaves_read += 1;
            }
            SchemaKind | Blob => {}
        }
    }
    for kind in Kind::ALL {
        assert!(
            seen.get(kind.tag()).copied().unwrap_or(0) > 0,
            "no {kind} fixture: {seen:?}"
        );
    }
    assert!(leaves_read >= 5, "{seen:?}");
}

#[test]
fn iceberg_ids_and_listing_schema_vector() {
    let commit = crate::object::CommitId(
        ObjectId::from_hex("8e13e82cdc877a625dacf1d50746bbfe6ff2cf086e2ad6899b082ebe2217b32e")
            .unwrap(),
    );
    let snapshot = crate::iceberg::snapshot_id(&commit);
    let dataset = crate::DatasetName::parse_full("team.vision.clips").unwrap();
    let uuid = crate::iceberg::table_uuid(&dataset);
    let schema = crate::iceberg::iceberg_schema(&Schema::listing(), 0);
    println!("{snapshot}\n{uuid}\n{schema}");
    let vector = doc_vector("iceberg-ids");
    let spans = vector.spans();
    let spans: Vec<&str> = spans.iter().map(String::as_str).collect();
    assert!(
        spans.contains(&snapshot.to_string().as_str()),
        "{snapshot} not in {spans:?}"
    );
    assert!(spans.contains(&uuid.as_str()), "{uuid} not in {spans:?}");
    let shown: serde_json::Value = serde_json::from_str(&vector.fenced()).unwrap();
    assert_eq!(shown, schema);
}
