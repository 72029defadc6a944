//! The test vectors of docs/FORMAT.md, rebuilt from the code: every hex string and id in
//! the document appears here, so the document cannot drift from the encoder.

use std::path::Path;

use pail::listing::{FileEntry, Source};
use pail::object::{
    COMMIT_FORMAT, Child, CodeFile, ColumnStats, Commit, CommitId, GitState, Input, Kind,
    NODE_FORMAT, Node, ObjectId, decode, encode,
};
use pail::repo::{CommitOptions, CommitOutcome, NoProgress};
use pail::rows::key::{file_key, push_value};
use pail::rows::leaf::{digest_file, files_batch};
use pail::rows::{RowEncoder, Staging, TreeBuilder, TreeError};
use pail::schema::{Field, Schema, Type};
use pail::summary::{
    Changes, ColumnSummary, FileSummary, Lengths, Lineage, SUMMARY_FORMAT, Scalar, SizeStats,
    Summary, ValueCount,
};
use pail::{DatasetName, NameDefaults, Repo};
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

/// Prints what the code produces, so a deliberate format change can be pasted into the doc.
fn check(what: &str, bytes: &[u8], expected_hex: &str, id: ObjectId, expected_id: &str) {
    println!("{what}:\n  bytes {}\n  id    {id}", hex(bytes));
    assert_eq!(hex(bytes), hex(&unhex(expected_hex)), "{what}: bytes");
    assert_eq!(id.to_hex(), expected_id, "{what}: id");
}

// ---- ids ----------------------------------------------------------------------------

const EMPTY_BLOB_ID: &str = "4a0b6603381c7c38c557e9ceb3cba8876f0a7863146e7309801352e80b073b65";

#[test]
fn empty_blob_id() {
    let id = ObjectId::compute(Kind::Blob, b"");
    assert_eq!(id.to_hex(), EMPTY_BLOB_ID);
    assert_eq!(id.0, *blake3::hash(b"blob 0\0").as_bytes());
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

const LISTING_SCHEMA_HEX: &str =
    "a266666f726d617401666669656c647381a2646e616d656466696c656274796446696c65";
const LISTING_SCHEMA_ID: &str = "af28a150aefe7f28b63ce545b670a0181c4f44274e25de5b972b08771c8ba6ca";

#[test]
fn listing_schema_vector() {
    let schema = Schema::listing();
    let bytes = encode(&schema);
    let id = ObjectId::compute(Kind::Schema, &bytes);
    check(
        "listing schema",
        &bytes,
        LISTING_SCHEMA_HEX,
        id,
        LISTING_SCHEMA_ID,
    );
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

const EVERY_TYPE_SCHEMA_HEX: &str = "
    a266666f726d617401666669656c64738ba2646e616d65616162747964426f6f
    6ca2646e616d65616262747963496e74a2646e616d65616362747965466c6f61
    74a2646e616d65616462747966537472696e67a2646e616d6561656274796542
    79746573a2646e616d656166627479684461746574696d65a2646e616d656167
    6274796446696c65a2646e616d656168627479a16653747275637481a2646e61
    6d65616962747963496e74a2646e616d65616a627479a1644c69737466537472
    696e67a2646e616d65616b627479a1684f7074696f6e616c63496e74a2646e61
    6d65616c627479a164456e756d8261786179
";
const EVERY_TYPE_SCHEMA_ID: &str =
    "b84a42b4f52280c58952256bdd140835473f513f4f8913b079248210fdd0337c";

#[test]
fn every_type_schema_vector() {
    let schema = every_type_schema();
    let bytes = encode(&schema);
    let id = ObjectId::compute(Kind::Schema, &bytes);
    check(
        "every-type schema",
        &bytes,
        EVERY_TYPE_SCHEMA_HEX,
        id,
        EVERY_TYPE_SCHEMA_ID,
    );
    assert_eq!(decode::<Schema>("schema", &bytes).unwrap(), schema);
}

// ---- nodes ----------------------------------------------------------------------------

const EMPTY_TREE_HEX: &str = "a366666f726d617401656c6576656c01686368696c6472656e80";
const EMPTY_TREE_ID: &str = "2c6e0dbcf5bed20d4467db0c45e702099727d52eab673ca4f1068f85396cc181";

#[test]
fn empty_tree_node_vector() {
    let node = Node {
        format: NODE_FORMAT,
        level: 1,
        children: Vec::new(),
    };
    let (id, bytes) = node.encode();
    check("empty tree", &bytes, EMPTY_TREE_HEX, id, EMPTY_TREE_ID);
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
    }
}

const ONE_CHILD_NODE_HEX: &str = "
    a366666f726d617401656c6576656c01686368696c6472656e81a76269645820
    90b89b90097d0bf1f00f8da28495ae43acfac5a1d7130832f871913ec7a56ec6
    6966697273745f6b65794d0573333a2f2f62000005610000686c6173745f6b65
    794d0573333a2f2f62000005620000666e5f726f777302676e5f627974657319
    012c6664696765737458204a0b6603381c7c38c557e9ceb3cba8876f0a786314
    6e7309801352e80b073b6565737461747381a466636f6c756d6e6966696c652e
    73697a65636d696e1864636d617818c8656e756c6c7300
";
const ONE_CHILD_NODE_ID: &str = "66fb6ae661668c70f5670e2676e231275470691ba74e174f325bd8e3377369ef";

#[test]
fn one_child_node_vector() {
    let node = one_child_node();
    let (id, bytes) = node.encode();
    check(
        "one-child node",
        &bytes,
        ONE_CHILD_NODE_HEX,
        id,
        ONE_CHILD_NODE_ID,
    );
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
        schema: id(LISTING_SCHEMA_ID),
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

const COMMIT_HEX: &str = "
    af66666f726d61740267706172656e7473815820a6da09f73f8aa495f370dc78
    bec49b3a0cf3a18a0b52bbb4711fa996c92b6e2866696e7075747382a166536f
    75726365a2637572696d73333a2f2f622f696d61676573696c69737465645f61
    741b00060a24181e4000a16744617461736574a3646e616d65746c6f63616c2e
    64656661756c742e70686f746f736776657273696f6e65312e302e3066636f6d
    6d6974582052e40de6083a532665943f5780571b1d860eb375b7c379093a5f83
    17177fcbd166736368656d615820af28a150aefe7f28b63ce545b670a0181c4f
    44274e25de5b972b08771c8ba6ca64726f7773582066fb6ae661668c70f5670e
    2676e231275470691ba74e174f325bd8e3377369ef666e5f726f777302676e5f
    627974657319012c636b6579826b66696c652e736f757263656966696c652e70
    61746866617574686f7275416461203c616461406578616d706c652e636f6d3e
    6474696d651b00060a24181e4001676d65737361676565666972737467636f6d
    6d616e6483647061696c66636f6d6d69746670686f746f7363676974a46a7265
    706f7369746f7279642f737263646865616466616263313233666272616e6368
    646d61696e656469727479f564636f646581a36470617468676d616b652e7079
    64626c6f625820955751b636985eae4a1e50c86da7a37a288b44e204f77fca53
    32e54a285e133c6473697a65086773756d6d61727958203fecf1b1015de89d09
    fb7d41332506e3b7cc9c49aa7723c678b2fb9ac0a5ebe0
";
const COMMIT_ID: &str = "3e06ffc3d01346fd0544e33102cabf7274720e8c1f4a5da9f9672e97e60e9e06";

#[test]
fn commit_vector() {
    let commit = full_commit();
    let (id, bytes) = commit.encode();
    check("commit", &bytes, COMMIT_HEX, id, COMMIT_ID);
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
        format: NODE_FORMAT + 1,
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
    assert_ne!(hex(&bytes), EMPTY_TREE_HEX);
    assert_eq!(
        Node::decode(&bytes).unwrap().encode().0.to_hex(),
        EMPTY_TREE_ID
    );
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
    assert_eq!(hex(&file_key("s3://b", "a")), "0573333a2f2f62000005610000");
    assert_eq!(key_of(&[json!("a\u{0}b")]), "056100ff620000");
    assert_eq!(key_of(&[json!(null)]), "00");
    assert_eq!(key_of(&[json!(false), json!(true)]), "0102");
    assert_eq!(key_of(&[json!(-1)]), "037fffffffffffffff");
    assert_eq!(key_of(&[json!(1)]), "038000000000000001");
    assert_eq!(key_of(&[json!(1.5)]), "04bff8000000000000");
    assert_eq!(key_of(&[json!(-1.5)]), "044007ffffffffffff");
}

/// The canonical hash encoding's vector in FORMAT.md, and the keyless row key it gives.
#[test]
fn canonical_hash_encoding_vector_and_keyless_row_key() {
    let value = json!({"b": 1, "a": 0.1});
    let bytes = pail::rows::canonical::encode(&value);
    assert_eq!(
        hex(&bytes),
        hex(&unhex(
            "08 0200000000000000 0100000000000000 61 05 9a9999999999b93f \
             0100000000000000 62 03 0100000000000000"
        ))
    );
    assert_eq!(pail::rows::canonical::decode(&bytes).unwrap(), value);
    let key = pail::repo::row_key(&[], &value, &bytes);
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
    let schema_id = id(LISTING_SCHEMA_ID);
    let mut staging = Staging::new(&dir.join("tmp")).unwrap();
    let mut builder = TreeBuilder::new(Files, schema, schema_id, Vec::new());
    for entry in files {
        builder
            .push(file_key("s3://b", &entry.path), entry.clone(), &mut staging)
            .unwrap();
    }
    let built = builder.finish(&mut staging).unwrap();
    let store = pail::store::Store::open(&dir.join("db.redb"), &Default::default()).unwrap();
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
    assert_eq!(root.to_hex(), EMPTY_TREE_ID);
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
    let mut preimage = id(LISTING_SCHEMA_ID).0.to_vec();
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
    let store = pail::store::Store::open(&dir.path().join("db.redb"), &Default::default()).unwrap();
    let reader = store.read().unwrap();
    let (kind, bytes) = reader.object(&node.children[0].id).unwrap().unwrap();
    assert_eq!(kind, Kind::Leaf);
    assert_eq!(&bytes[..4], b"PAR1");
    let batches = pail::rows::leaf::decode("leaf", bytes).unwrap();
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
    } = repo
        .commit_listing(&source, false, false, 0, &options, &NoProgress)
        .unwrap()
    else {
        panic!("a first commit creates 1.0.0")
    };
    assert_eq!(commit.schema.to_hex(), LISTING_SCHEMA_ID);
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
        .get(id(LISTING_SCHEMA_ID).0.as_slice())
        .unwrap()
        .unwrap();
    assert_eq!(schema.value()[0], Kind::Schema.code());
    assert_eq!(hex(&schema.value()[1..]), LISTING_SCHEMA_HEX);
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

const SUMMARY_HEX: &str = "
    a866666f726d617401666e5f726f777302676e5f627974657319012c67636f6c
    756d6e7383a966636f6c756d6e6966696c652e73697a656274796d6f7074696f
    6e616c3c696e743e676e5f6e756c6c7300636d696ea163496e741864636d6178
    a163496e7418c86864697374696e6374026e64697374696e63745f6578616374
    f563746f7082a26576616c75656331303065636f756e7401a26576616c756563
    32303065636f756e7401676c656e67746873f6a966636f6c756d6e6474616773
    6274796c6c6973743c737472696e673e676e5f6e756c6c7301636d696ea16454
    6578746178636d6178a1645465787461786864697374696e6374016e64697374
    696e63745f6578616374f563746f7081a26576616c7565617865636f756e7401
    676c656e67746873a3636d696e01636d61780165746f74616c01a966636f6c75
    6d6e6573636f726562747965666c6f6174676e5f6e756c6c7300636d696ea165
    466c6f6174f93800636d6178a165466c6f6174f93c006864697374696e637402
    6e64697374696e63745f6578616374f463746f7080676c656e67746873f66566
    696c657381a766636f6c756d6e6466696c65676e5f66696c65730267736f7572
    63657381a26576616c75656673333a2f2f6265636f756e7402696e5f736f7572
    636573016a657874656e73696f6e7381a26576616c7565636a706765636f756e
    74026c6e5f657874656e73696f6e73016573697a6573a5636d696e1864636d61
    7818c865746f74616c19012c676275636b657473870200000000000067756e6b
    6e6f776e00686578616d706c657381677b2261223a317d676c696e65616765a7
    67706172656e7473815820a6da09f73f8aa495f370dc78bec49b3a0cf3a18a0b
    52bbb4711fa996c92b6e2866696e7075747381a166536f75726365a263757269
    6673333a2f2f62696c69737465645f61740164636f646581676d616b652e7079
    66617574686f72634164616474696d6502676d657373616765616d67636f6d6d
    616e6481647061696c676368616e676573a666706172656e745820a6da09f73f
    8aa495f370dc78bec49b3a0cf3a18a0b52bbb4711fa996c92b6e286d6e5f726f
    77735f6265666f7265016e6e5f62797465735f6265666f726518646e73636865
    6d615f6368616e676573806d6c65617665735f726575736564006e6c65617665
    735f7772697474656e01
";
const SUMMARY_ID: &str = "d7dbfde46273dde0a7b03a26a199495fb70077cd1198d0a64e1617733253bb83";

#[test]
fn summary_vector() {
    let summary = small_summary();
    let (id, bytes) = summary.encode();
    check("summary", &bytes, SUMMARY_HEX, id, SUMMARY_ID);
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
    use pail::object::Kind::{
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
                let batches = pail::rows::leaf::decode(&id.to_hex(), bytes.clone())
                    .unwrap_or_else(|err| panic!("leaf {id}: {err}"));
                // Every leaf converts back to rows under one of the fixtures' schemas.
                let arrow = batches[0].schema();
                let schema = schemas
                    .values()
                    .find(|schema| schema.to_arrow().fields() == arrow.fields())
                    .unwrap_or_else(|| panic!("leaf {id}: no schema fits {arrow:?}"));
                for batch in &batches {
                    pail::schema::batch_to_rows(schema, batch)
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
