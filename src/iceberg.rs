//! Iceberg v2 tables on a remote: what `push` publishes per dataset under
//! `iceberg/<ns>/<project>/<name>/`, so engines read every pushed version in place
//! (docs/FORMAT.md, "Iceberg tables"). This module only builds bytes from the local
//! store: the table metadata JSON (serde), manifests and manifest lists (Avro, written
//! with `apache-avro`) and position-delete files (Parquet). `remote` writes them.
//!
//! Each pail version is a snapshot whose data files are its leaves, addressed by absolute
//! URI (`<remote>/objects/leaf/..`); a delta version adds one position-delete file. Data
//! files are grouped into manifests by content-defined chunks of leaves, each manifest
//! named by a hash of what it lists, so a later version that shares leaves reuses the
//! manifest (its entries inherit snapshot id and sequence numbers, as the spec requires).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use apache_avro::types::Value as Avro;
use serde_json::{Value, json};

use crate::name::DatasetName;
use crate::object::{Commit, CommitId, Kind, ObjectId};
use crate::rows::TreeError;
use crate::rows::layout::{Layout, Objects};
use crate::schema::{Field, Schema, Type};
use crate::store::{Reader, StoreError};

/// Why a table could not be built.
#[derive(Debug, thiserror::Error)]
pub enum IcebergError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Codec(#[from] crate::object::CodecError),
    #[error("could not write an Iceberg {what}: {detail}")]
    Write { what: &'static str, detail: String },
}

fn avro_err(what: &'static str) -> impl Fn(apache_avro::Error) -> IcebergError {
    move |err| IcebergError::Write {
        what,
        detail: err.to_string(),
    }
}

/// The Iceberg ref name of a pail tag: `main` is the latest version's branch, so a pail
/// tag named `main` is published as `pail-tag-main`.
pub fn tag_ref_name(tag: &str) -> String {
    if tag == "main" {
        "pail-tag-main".to_string()
    } else {
        tag.to_string()
    }
}

/// The table's directory under the remote prefix.
pub fn table_dir(dataset: &DatasetName) -> String {
    format!(
        "iceberg/{}/{}/{}",
        dataset.namespace, dataset.project, dataset.name
    )
}

/// A snapshot id from a commit id: its first 8 bytes, big-endian, as a positive i64.
pub fn snapshot_id(commit: &CommitId) -> i64 {
    let bytes = commit.object().0;
    let id = i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")) & i64::MAX;
    id.max(1)
}

/// What a dataset's refs on the remote are: versions (in version order) and tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableRefs {
    pub versions: Vec<(semver::Version, CommitId)>,
    pub tags: Vec<(String, CommitId)>,
}

/// A file of the table to write create-only (skipped when present), by its key under
/// the remote prefix.
pub struct TableFile {
    pub key: String,
    pub bytes: Vec<u8>,
}

/// A table as built: the files it needs (manifests, manifest lists, delete files) and
/// its metadata JSON, a pure function of the refs and the objects.
pub struct Table {
    pub files: Vec<TableFile>,
    pub metadata: String,
}

/// Where the table's files and the remote's leaves are, as URIs engines open.
pub struct Place<'a> {
    /// The remote's prefix as a URI (`s3://bucket/prefix`), or a local directory path.
    pub base: &'a str,
    pub dataset: &'a DatasetName,
}

impl Place<'_> {
    fn location(&self) -> String {
        format!("{}/{}", self.base, table_dir(self.dataset))
    }

    fn leaf_uri(&self, id: &ObjectId) -> String {
        let hex = id.to_hex();
        format!("{}/objects/leaf/{}/{}", self.base, &hex[..2], &hex[2..])
    }
}

/// One data file of a snapshot.
struct DataFile {
    path: String,
    records: u64,
    size: u64,
    /// Column bounds by field id (`leaf_bounds`); none for a delete file.
    bounds: Arc<Vec<Bound>>,
}

/// One column's lower and upper bound in Iceberg's single-value serialization.
struct Bound {
    field_id: i32,
    lower: Vec<u8>,
    upper: Vec<u8>,
}

/// What a data file needs of its leaf: its size and its column bounds.
struct LeafFacts {
    size: u64,
    bounds: Arc<Vec<Bound>>,
}

/// The column bounds of a leaf, from its Parquet footer: for each column with a field
/// id, outside any list or map, whose physical type serializes as Iceberg's does (INT32:
/// int and date; INT64: long, time, timestamptz and duration as long; BYTE_ARRAY: string
/// and binary, whose Parquet bounds may be truncated, as Iceberg allows), the least
/// minimum and the greatest maximum over its row groups. A column any row group has no
/// statistics for gets no bound. Floats, booleans and decimals get none.
fn leaf_bounds(bytes: Vec<u8>) -> Result<Vec<Bound>, IcebergError> {
    use parquet::basic::Type as Physical;
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&bytes::Bytes::from(bytes))
        .map_err(|err| IcebergError::Write {
            what: "column bounds",
            detail: err.to_string(),
        })?;
    let schema = metadata.file_metadata().schema_descr();
    let mut bounds = Vec::new();
    'columns: for (index, column) in schema.columns().iter().enumerate() {
        let info = column.self_type().get_basic_info();
        let physical = column.physical_type();
        if !info.has_id()
            || column.max_rep_level() > 0
            || !matches!(
                physical,
                Physical::INT32 | Physical::INT64 | Physical::BYTE_ARRAY
            )
        {
            continue;
        }
        let mut lower: Option<Vec<u8>> = None;
        let mut upper: Option<Vec<u8>> = None;
        for group in metadata.row_groups() {
            let Some(stats) = group.column(index).statistics() else {
                continue 'columns;
            };
            let (Some(min), Some(max)) = (stats.min_bytes_opt(), stats.max_bytes_opt()) else {
                continue;
            };
            let less = |a: &[u8], b: &[u8]| match physical {
                Physical::INT32 => {
                    i32::from_le_bytes(a.try_into().unwrap_or_default())
                        < i32::from_le_bytes(b.try_into().unwrap_or_default())
                }
                Physical::INT64 => {
                    i64::from_le_bytes(a.try_into().unwrap_or_default())
                        < i64::from_le_bytes(b.try_into().unwrap_or_default())
                }
                _ => a < b,
            };
            if lower.as_deref().is_none_or(|found| less(min, found)) {
                lower = Some(min.to_vec());
            }
            if upper.as_deref().is_none_or(|found| less(found, max)) {
                upper = Some(max.to_vec());
            }
        }
        let width_ok = |value: &[u8]| match physical {
            Physical::INT32 => value.len() == 4,
            Physical::INT64 => value.len() == 8,
            _ => true,
        };
        if let (Some(lower), Some(upper)) = (lower, upper)
            && width_ok(&lower)
            && width_ok(&upper)
        {
            bounds.push(Bound {
                field_id: info.id(),
                lower,
                upper,
            });
        }
    }
    bounds.sort_by_key(|bound| bound.field_id);
    Ok(bounds)
}

/// One version's part of the table.
struct Snapshot {
    id: i64,
    version: semver::Version,
    commit: CommitId,
    time_ms: i64,
    schema_id: usize,
    /// Data-file groups (each one manifest), then the delete file, if any.
    groups: Vec<Vec<DataFile>>,
    deletes: Option<DataFile>,
}

/// Builds the table of one dataset from its refs and the local store.
pub fn build(reader: &Reader, place: &Place, refs: &TableRefs) -> Result<Table, IcebergError> {
    let mut files = Vec::new();
    let mut schemas: Vec<(ObjectId, Schema)> = Vec::new();
    let mut snapshots: Vec<Snapshot> = Vec::new();
    let mut leaves: HashMap<ObjectId, LeafFacts> = HashMap::new();
    for (version, commit_id) in &refs.versions {
        let commit = Commit::decode(&reader.object_of_kind(&commit_id.object(), Kind::Commit)?)?;
        let schema_id = match schemas.iter().position(|(id, _)| *id == commit.schema) {
            Some(index) => index,
            None => {
                let schema = Schema::decode(&reader.object_of_kind(&commit.schema, Kind::Schema)?)?;
                schemas.push((commit.schema, schema));
                schemas.len() - 1
            }
        };
        let objects = Objects {
            reader,
            staging: None,
        };
        let layout = Layout::read(&objects, &commit.rows)?;
        let mut data = Vec::new();
        for child in layout.data_leaves() {
            let facts = match leaves.entry(child.id) {
                std::collections::hash_map::Entry::Occupied(found) => found.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    let bytes = reader.object_of_kind(&child.id, Kind::Leaf)?;
                    slot.insert(LeafFacts {
                        size: bytes.len() as u64,
                        bounds: Arc::new(leaf_bounds(bytes)?),
                    })
                }
            };
            data.push((child.id, child.n_rows, facts.size, facts.bounds.clone()));
        }
        let deletes = delete_file(place, &layout)?.map(|(file, bytes)| {
            files.push(TableFile {
                key: file.path[place.base.len() + 1..].to_string(),
                bytes,
            });
            file
        });
        snapshots.push(Snapshot {
            id: snapshot_id(commit_id),
            version: version.clone(),
            commit: *commit_id,
            time_ms: commit.time / 1000,
            schema_id,
            groups: chunk(place, data),
            deletes,
        });
    }
    let schemas: Vec<Schema> = schemas.into_iter().map(|(_, schema)| schema).collect();
    let lists = manifest_lists(place, &schemas, &snapshots, &mut files)?;
    let metadata = metadata_json(place, &schemas, &snapshots, &lists, refs);
    Ok(Table { files, metadata })
}

/// A leaf of a version: its id, rows, size and column bounds.
type LeafEntry = (ObjectId, u64, u64, Arc<Vec<Bound>>);

/// Groups a version's data files into manifests: a group ends after a leaf whose id's
/// first byte is below 16 (about 16 leaves a group, by content, so an unchanged run of
/// leaves makes the same group in every version that holds it).
fn chunk(place: &Place, data: Vec<LeafEntry>) -> Vec<Vec<DataFile>> {
    let mut groups = Vec::new();
    let mut group = Vec::new();
    for (id, records, size, bounds) in data {
        group.push(DataFile {
            path: place.leaf_uri(&id),
            records,
            size,
            bounds,
        });
        if id.0[0] < 16 {
            groups.push(std::mem::take(&mut group));
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

/// The position-delete file of a delta version (`file_path`, `pos`, sorted), or None.
fn delete_file(
    place: &Place,
    layout: &Layout,
) -> Result<Option<(DataFile, Vec<u8>)>, IcebergError> {
    let mut rows: Vec<(String, i64)> = Vec::new();
    for edit in &layout.edits {
        let path = place.leaf_uri(&edit.id);
        rows.extend(
            edit.deletes
                .iter()
                .map(|&pos| (path.clone(), i64::from(pos))),
        );
    }
    if rows.is_empty() {
        return Ok(None);
    }
    rows.sort();
    let field = |name: &str, ty, id: i64| {
        arrow_schema::Field::new(name, ty, false).with_metadata(HashMap::from([(
            parquet::arrow::PARQUET_FIELD_ID_META_KEY.to_string(),
            id.to_string(),
        )]))
    };
    let schema = Arc::new(arrow_schema::Schema::new(vec![
        field("file_path", arrow_schema::DataType::Utf8, 2_147_483_546),
        field("pos", arrow_schema::DataType::Int64, 2_147_483_545),
    ]));
    let write_err = |err: &dyn std::fmt::Display| IcebergError::Write {
        what: "delete file",
        detail: err.to_string(),
    };
    let batch = arrow_array::RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(arrow_array::StringArray::from_iter_values(
                rows.iter().map(|(path, _)| path.as_str()),
            )),
            Arc::new(arrow_array::Int64Array::from_iter_values(
                rows.iter().map(|(_, pos)| *pos),
            )),
        ],
    )
    .map_err(|err| write_err(&err))?;
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::LZ4_RAW)
        .set_created_by("pail".to_string())
        .build();
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, Some(properties))
        .map_err(|err| write_err(&err))?;
    writer.write(&batch).map_err(|err| write_err(&err))?;
    writer.close().map_err(|err| write_err(&err))?;
    let hash = blake3::hash(&bytes).to_hex();
    let file = DataFile {
        path: format!("{}/data/{hash}-deletes.parquet", place.location()),
        records: rows.len() as u64,
        size: bytes.len() as u64,
        bounds: Arc::new(Vec::new()),
    };
    Ok(Some((file, bytes)))
}

/// An entry of a manifest list: a manifest, where it first appeared.
#[derive(Clone)]
struct ListEntry {
    path: String,
    length: u64,
    deletes: bool,
    sequence: i64,
    snapshot: i64,
    files: usize,
    rows: u64,
}

/// Writes every snapshot's manifests (each first appearance decides its sequence number
/// and snapshot) and manifest list; returns each snapshot's manifest-list URI.
fn manifest_lists(
    place: &Place,
    schemas: &[Schema],
    snapshots: &[Snapshot],
    files: &mut Vec<TableFile>,
) -> Result<Vec<String>, IcebergError> {
    let mut first: HashMap<String, ListEntry> = HashMap::new();
    let mut lists = Vec::new();
    for (index, snapshot) in snapshots.iter().enumerate() {
        let sequence = index as i64 + 1;
        let schema = &schemas[snapshot.schema_id];
        let mut entries = Vec::new();
        let delete_group = snapshot
            .deletes
            .iter()
            .map(|file| (true, std::slice::from_ref(file)));
        let groups = snapshot
            .groups
            .iter()
            .map(|group| (false, group.as_slice()))
            .chain(delete_group);
        for (deletes, group) in groups {
            let name = manifest_name(deletes, group);
            let path = format!("{}/metadata/{name}-m0.avro", place.location());
            let entry = match first.get(&path) {
                Some(entry) => entry.clone(),
                None => {
                    let bytes = manifest(schema, snapshot.schema_id, deletes, group)?;
                    let entry = ListEntry {
                        path: path.clone(),
                        length: bytes.len() as u64,
                        deletes,
                        sequence,
                        snapshot: snapshot.id,
                        files: group.len(),
                        rows: group.iter().map(|file| file.records).sum(),
                    };
                    files.push(TableFile {
                        key: path[place.base.len() + 1..].to_string(),
                        bytes,
                    });
                    first.insert(path, entry.clone());
                    entry
                }
            };
            entries.push(entry);
        }
        let parent = index.checked_sub(1).map(|parent| snapshots[parent].id);
        let bytes = manifest_list(snapshot.id, parent, sequence, &entries)?;
        let path = format!(
            "{}/metadata/snap-{}-{}.avro",
            place.location(),
            snapshot.id,
            &blake3::hash(&list_key(&entries)).to_hex()[..16]
        );
        files.push(TableFile {
            key: path[place.base.len() + 1..].to_string(),
            bytes,
        });
        lists.push(path);
    }
    Ok(lists)
}

/// A manifest's name: a hash of what it lists, so equal groups share one manifest.
fn manifest_name(deletes: bool, group: &[DataFile]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(if deletes { b"deletes\n" } else { b"data\n" });
    for file in group {
        hasher.update(format!("{} {} {}\n", file.path, file.records, file.size).as_bytes());
    }
    hasher.finalize().to_hex().to_string()
}

fn list_key(entries: &[ListEntry]) -> Vec<u8> {
    let mut key = Vec::new();
    for entry in entries {
        key.extend_from_slice(
            format!("{} {} {}\n", entry.path, entry.sequence, entry.snapshot).as_bytes(),
        );
    }
    key
}

const MANIFEST_SCHEMA: &str = r#"{"type":"record","name":"manifest_entry","fields":[
{"name":"status","type":"int","field-id":0},
{"name":"snapshot_id","type":["null","long"],"default":null,"field-id":1},
{"name":"sequence_number","type":["null","long"],"default":null,"field-id":3},
{"name":"file_sequence_number","type":["null","long"],"default":null,"field-id":4},
{"name":"data_file","field-id":2,"type":{"type":"record","name":"r2","fields":[
 {"name":"content","type":"int","field-id":134},
 {"name":"file_path","type":"string","field-id":100},
 {"name":"file_format","type":"string","field-id":101},
 {"name":"partition","type":{"type":"record","name":"r102","fields":[]},"field-id":102},
 {"name":"record_count","type":"long","field-id":103},
 {"name":"file_size_in_bytes","type":"long","field-id":104},
 {"name":"column_sizes","type":["null",{"type":"array","logicalType":"map","items":{"type":"record","name":"k117_v118","fields":[{"name":"key","type":"int","field-id":117},{"name":"value","type":"long","field-id":118}]}}],"default":null,"field-id":108},
 {"name":"value_counts","type":["null",{"type":"array","logicalType":"map","items":{"type":"record","name":"k119_v120","fields":[{"name":"key","type":"int","field-id":119},{"name":"value","type":"long","field-id":120}]}}],"default":null,"field-id":109},
 {"name":"null_value_counts","type":["null",{"type":"array","logicalType":"map","items":{"type":"record","name":"k121_v122","fields":[{"name":"key","type":"int","field-id":121},{"name":"value","type":"long","field-id":122}]}}],"default":null,"field-id":110},
 {"name":"nan_value_counts","type":["null",{"type":"array","logicalType":"map","items":{"type":"record","name":"k138_v139","fields":[{"name":"key","type":"int","field-id":138},{"name":"value","type":"long","field-id":139}]}}],"default":null,"field-id":137},
 {"name":"lower_bounds","type":["null",{"type":"array","logicalType":"map","items":{"type":"record","name":"k126_v127","fields":[{"name":"key","type":"int","field-id":126},{"name":"value","type":"bytes","field-id":127}]}}],"default":null,"field-id":125},
 {"name":"upper_bounds","type":["null",{"type":"array","logicalType":"map","items":{"type":"record","name":"k129_v130","fields":[{"name":"key","type":"int","field-id":129},{"name":"value","type":"bytes","field-id":130}]}}],"default":null,"field-id":128},
 {"name":"key_metadata","type":["null","bytes"],"default":null,"field-id":131},
 {"name":"split_offsets","type":["null",{"type":"array","items":"long","element-id":133}],"default":null,"field-id":132},
 {"name":"equality_ids","type":["null",{"type":"array","items":"int","element-id":136}],"default":null,"field-id":135},
 {"name":"sort_order_id","type":["null","int"],"default":null,"field-id":140}
]}}]}"#;

/// The optional `data_file` fields pail leaves null (after `file_size_in_bytes`).
const DATA_FILE_OPTIONAL_FIELDS: [&str; 10] = [
    "column_sizes",
    "value_counts",
    "null_value_counts",
    "nan_value_counts",
    "lower_bounds",
    "upper_bounds",
    "key_metadata",
    "split_offsets",
    "equality_ids",
    "sort_order_id",
];

const MANIFEST_LIST_SCHEMA: &str = r#"{"type":"record","name":"manifest_file","fields":[
{"name":"manifest_path","type":"string","field-id":500},
{"name":"manifest_length","type":"long","field-id":501},
{"name":"partition_spec_id","type":"int","field-id":502},
{"name":"content","type":"int","field-id":517},
{"name":"sequence_number","type":"long","field-id":515},
{"name":"min_sequence_number","type":"long","field-id":516},
{"name":"added_snapshot_id","type":"long","field-id":503},
{"name":"added_files_count","type":"int","field-id":504},
{"name":"existing_files_count","type":"int","field-id":505},
{"name":"deleted_files_count","type":"int","field-id":506},
{"name":"added_rows_count","type":"long","field-id":512},
{"name":"existing_rows_count","type":"long","field-id":513},
{"name":"deleted_rows_count","type":"long","field-id":514},
{"name":"partitions","type":["null",{"type":"array","element-id":508,"items":{"type":"record","name":"r508","fields":[
 {"name":"contains_null","type":"boolean","field-id":509},
 {"name":"contains_nan","type":["null","boolean"],"default":null,"field-id":518},
 {"name":"lower_bound","type":["null","bytes"],"default":null,"field-id":510},
 {"name":"upper_bound","type":["null","bytes"],"default":null,"field-id":511}]}}],"default":null,"field-id":507},
{"name":"key_metadata","type":["null","bytes"],"default":null,"field-id":519}
]}"#;

fn long(value: u64) -> Avro {
    Avro::Long(i64::try_from(value).unwrap_or(i64::MAX))
}

/// One manifest: every entry ADDED with its snapshot id and sequence numbers inherited.
fn manifest(
    schema: &Schema,
    schema_id: usize,
    deletes: bool,
    group: &[DataFile],
) -> Result<Vec<u8>, IcebergError> {
    let avro = apache_avro::Schema::parse_str(MANIFEST_SCHEMA).map_err(avro_err("manifest"))?;
    let mut writer = apache_avro::Writer::new(&avro, Vec::new());
    let meta = [
        ("schema", iceberg_schema(schema, schema_id).to_string()),
        ("schema-id", schema_id.to_string()),
        ("partition-spec", "[]".to_string()),
        ("partition-spec-id", "0".to_string()),
        ("format-version", "2".to_string()),
        (
            "content",
            if deletes { "deletes" } else { "data" }.to_string(),
        ),
    ];
    for (key, value) in meta {
        writer
            .add_user_metadata(key.to_string(), value)
            .map_err(avro_err("manifest"))?;
    }
    for file in group {
        let mut fields = vec![
            ("content".into(), Avro::Int(if deletes { 1 } else { 0 })),
            ("file_path".into(), Avro::String(file.path.clone())),
            ("file_format".into(), Avro::String("PARQUET".into())),
            ("partition".into(), Avro::Record(Vec::new())),
            ("record_count".into(), long(file.records)),
            ("file_size_in_bytes".into(), long(file.size)),
        ];
        let bounds = |pick: fn(&Bound) -> &Vec<u8>| {
            if file.bounds.is_empty() {
                return Avro::Union(0, Box::new(Avro::Null));
            }
            let entries = file
                .bounds
                .iter()
                .map(|bound| {
                    Avro::Record(vec![
                        ("key".into(), Avro::Int(bound.field_id)),
                        ("value".into(), Avro::Bytes(pick(bound).clone())),
                    ])
                })
                .collect();
            Avro::Union(1, Box::new(Avro::Array(entries)))
        };
        fields.extend(DATA_FILE_OPTIONAL_FIELDS.iter().map(|name| {
            let value = match *name {
                "lower_bounds" => bounds(|bound| &bound.lower),
                "upper_bounds" => bounds(|bound| &bound.upper),
                _ => Avro::Union(0, Box::new(Avro::Null)),
            };
            (name.to_string(), value)
        }));
        let data_file = Avro::Record(fields);
        let entry = Avro::Record(vec![
            ("status".into(), Avro::Int(1)),
            ("snapshot_id".into(), Avro::Union(0, Box::new(Avro::Null))),
            (
                "sequence_number".into(),
                Avro::Union(0, Box::new(Avro::Null)),
            ),
            (
                "file_sequence_number".into(),
                Avro::Union(0, Box::new(Avro::Null)),
            ),
            ("data_file".into(), data_file),
        ]);
        writer.append(entry).map_err(avro_err("manifest"))?;
    }
    writer.into_inner().map_err(avro_err("manifest"))
}

fn manifest_list(
    snapshot: i64,
    parent: Option<i64>,
    sequence: i64,
    entries: &[ListEntry],
) -> Result<Vec<u8>, IcebergError> {
    let avro =
        apache_avro::Schema::parse_str(MANIFEST_LIST_SCHEMA).map_err(avro_err("manifest list"))?;
    let mut writer = apache_avro::Writer::new(&avro, Vec::new());
    let mut meta = vec![
        ("snapshot-id", snapshot.to_string()),
        ("sequence-number", sequence.to_string()),
        ("format-version", "2".to_string()),
    ];
    if let Some(parent) = parent {
        meta.push(("parent-snapshot-id", parent.to_string()));
    }
    for (key, value) in meta {
        writer
            .add_user_metadata(key.to_string(), value)
            .map_err(avro_err("manifest list"))?;
    }
    for entry in entries {
        let added = entry.snapshot == snapshot;
        let count = |n: usize| Avro::Int(i32::try_from(n).unwrap_or(i32::MAX));
        let record = Avro::Record(vec![
            ("manifest_path".into(), Avro::String(entry.path.clone())),
            ("manifest_length".into(), long(entry.length)),
            ("partition_spec_id".into(), Avro::Int(0)),
            ("content".into(), Avro::Int(i32::from(entry.deletes))),
            ("sequence_number".into(), Avro::Long(entry.sequence)),
            ("min_sequence_number".into(), Avro::Long(entry.sequence)),
            ("added_snapshot_id".into(), Avro::Long(entry.snapshot)),
            (
                "added_files_count".into(),
                count(if added { entry.files } else { 0 }),
            ),
            (
                "existing_files_count".into(),
                count(if added { 0 } else { entry.files }),
            ),
            ("deleted_files_count".into(), Avro::Int(0)),
            (
                "added_rows_count".into(),
                long(if added { entry.rows } else { 0 }),
            ),
            (
                "existing_rows_count".into(),
                long(if added { 0 } else { entry.rows }),
            ),
            ("deleted_rows_count".into(), Avro::Long(0)),
            ("partitions".into(), Avro::Union(0, Box::new(Avro::Null))),
            ("key_metadata".into(), Avro::Union(0, Box::new(Avro::Null))),
        ]);
        writer.append(record).map_err(avro_err("manifest list"))?;
    }
    writer.into_inner().map_err(avro_err("manifest list"))
}

/// One ref of a table: the snapshot it names, and whether it is a branch (`main`) or a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRef {
    pub snapshot_id: i64,
    pub branch: bool,
}

impl TableRef {
    fn to_json(self) -> Value {
        json!({"snapshot-id": self.snapshot_id, "type": if self.branch { "branch" } else { "tag" }})
    }
}

/// The refs a table's metadata carries for a dataset's refs: each version a tag named by
/// its semver, each pail tag on a version a tag (`tag_ref_name`), and the branch `main`
/// at the newest version.
pub fn ref_map(refs: &TableRefs) -> BTreeMap<String, TableRef> {
    let mut map = BTreeMap::new();
    let mut by_commit: HashMap<CommitId, i64> = HashMap::new();
    for (version, commit) in &refs.versions {
        let id = snapshot_id(commit);
        by_commit.insert(*commit, id);
        map.insert(
            version.to_string(),
            TableRef {
                snapshot_id: id,
                branch: false,
            },
        );
    }
    for (tag, commit) in &refs.tags {
        if let Some(id) = by_commit.get(commit) {
            map.insert(
                tag_ref_name(tag),
                TableRef {
                    snapshot_id: *id,
                    branch: false,
                },
            );
        }
    }
    if let Some((_, latest)) = refs.versions.last() {
        map.insert(
            "main".into(),
            TableRef {
                snapshot_id: snapshot_id(latest),
                branch: true,
            },
        );
    }
    map
}

/// The refs a table metadata file names, or None when it is not table metadata pail can
/// read (its `refs` map of `{"snapshot-id", "type"}`).
pub fn refs_in_metadata(bytes: &[u8]) -> Option<BTreeMap<String, TableRef>> {
    let metadata: Value = serde_json::from_slice(bytes).ok()?;
    metadata
        .get("refs")?
        .as_object()?
        .iter()
        .map(|(name, found)| {
            let snapshot_id = found.get("snapshot-id")?.as_i64()?;
            let branch = match found.get("type")?.as_str()? {
                "branch" => true,
                "tag" => false,
                _ => return None,
            };
            Some((
                name.clone(),
                TableRef {
                    snapshot_id,
                    branch,
                },
            ))
        })
        .collect()
}

/// The table's UUID: BLAKE3 of `pail iceberg table <dataset>`, formatted as a version-4
/// UUID, so every pusher names the table alike.
pub fn table_uuid(dataset: &DatasetName) -> String {
    let hash = blake3::hash(format!("pail iceberg table {dataset}").as_bytes());
    let hex = hash.to_hex();
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// The table metadata JSON (format v2). Deterministic: no metadata log, the
/// last-updated time is the newest commit's.
fn metadata_json(
    place: &Place,
    schemas: &[Schema],
    snapshots: &[Snapshot],
    lists: &[String],
    refs: &TableRefs,
) -> String {
    let uuid = table_uuid(place.dataset);
    let snapshot_json: Vec<Value> = snapshots
        .iter()
        .zip(lists)
        .enumerate()
        .map(|(index, (snapshot, list))| {
            let mut value = json!({
                "snapshot-id": snapshot.id,
                "sequence-number": index + 1,
                "timestamp-ms": snapshot.time_ms,
                "manifest-list": list,
                "summary": {
                    "operation": "overwrite",
                    "pail.version": snapshot.version.to_string(),
                    "pail.commit": snapshot.commit.to_hex(),
                },
                "schema-id": snapshot.schema_id,
            });
            if index > 0 {
                value["parent-snapshot-id"] = json!(snapshots[index - 1].id);
            }
            value
        })
        .collect();
    let refs_json: BTreeMap<String, Value> = ref_map(refs)
        .into_iter()
        .map(|(name, found)| (name, found.to_json()))
        .collect();
    let latest = snapshots.last();
    let current_schema = latest.map_or(0, |snapshot| snapshot.schema_id);
    let last_column_id = schemas
        .iter()
        .map(Schema::last_column_id)
        .max()
        .unwrap_or(0);
    let name_mapping = schemas
        .get(current_schema)
        .map(name_mapping)
        .unwrap_or_else(|| json!([]));
    let metadata = json!({
        "format-version": 2,
        "table-uuid": uuid,
        "location": place.location(),
        "last-sequence-number": snapshots.len(),
        "last-updated-ms": latest.map_or(0, |snapshot| snapshot.time_ms),
        "last-column-id": last_column_id,
        "schemas": schemas.iter().enumerate().map(|(id, schema)| iceberg_schema(schema, id)).collect::<Vec<_>>(),
        "current-schema-id": current_schema,
        "partition-specs": [{"spec-id": 0, "fields": []}],
        "default-spec-id": 0,
        "last-partition-id": 999,
        "properties": {
            "gc.enabled": "false",
            "schema.name-mapping.default": name_mapping.to_string(),
            "pail.dataset": place.dataset.to_string(),
        },
        "current-snapshot-id": latest.map_or(json!(null), |snapshot| json!(snapshot.id)),
        "snapshots": snapshot_json,
        "snapshot-log": snapshots.iter().map(|snapshot| json!({"snapshot-id": snapshot.id, "timestamp-ms": snapshot.time_ms})).collect::<Vec<_>>(),
        "metadata-log": [],
        "sort-orders": [{"order-id": 0, "fields": []}],
        "default-sort-order-id": 0,
        "refs": refs_json,
    });
    serde_json::to_string_pretty(&metadata).expect("JSON values serialize")
}

/// Column ids by path.
fn ids_of(schema: &Schema) -> HashMap<String, u32> {
    schema
        .column_ids()
        .into_iter()
        .map(|column| (column.path, column.id))
        .collect()
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// The Iceberg schema of a pail schema, field ids from its column ids.
pub fn iceberg_schema(schema: &Schema, schema_id: usize) -> Value {
    let ids = ids_of(schema);
    json!({
        "type": "struct",
        "schema-id": schema_id,
        "fields": struct_fields(&schema.fields, "", &ids),
    })
}

fn struct_fields(fields: &[Field], path: &str, ids: &HashMap<String, u32>) -> Vec<Value> {
    fields
        .iter()
        .map(|field| {
            let path = join(path, &field.name);
            let (required, ty) = unwrap_optional(&field.ty);
            json!({
                "id": ids.get(&path).copied().unwrap_or(0),
                "name": field.name,
                "required": required,
                "type": iceberg_type(ty, &path, ids),
            })
        })
        .collect()
}

fn unwrap_optional(ty: &Type) -> (bool, &Type) {
    match ty {
        Type::Optional(inner) => (false, unwrap_optional(inner).1),
        other => (true, other),
    }
}

/// The Iceberg type of a pail type at a column path (docs/FORMAT.md, "Iceberg tables").
fn iceberg_type(ty: &Type, path: &str, ids: &HashMap<String, u32>) -> Value {
    let id = |path: &str| ids.get(path).copied().unwrap_or(0);
    match ty {
        Type::Optional(inner) => iceberg_type(inner, path, ids),
        Type::Bool => json!("boolean"),
        Type::Int | Type::IntEnum(_) | Type::Duration => json!("long"),
        Type::Float => json!("double"),
        Type::String | Type::Enum(_) | Type::Uuid => json!("string"),
        Type::Bytes | Type::BytesAs(_) => json!("binary"),
        Type::Datetime => json!("timestamptz"),
        Type::Date => json!("date"),
        Type::Time => json!("time"),
        Type::Decimal { precision, scale } => json!(format!("decimal({precision}, {scale})")),
        Type::Struct(fields) => {
            json!({"type": "struct", "fields": struct_fields(fields, path, ids)})
        }
        Type::File | Type::FileWith(_) => {
            let fields = ty.file_struct_fields().expect("a File");
            json!({"type": "struct", "fields": struct_fields(&fields, path, ids)})
        }
        Type::Tuple(items) => {
            let fields: Vec<Value> = items
                .iter()
                .enumerate()
                .map(|(idx, item)| {
                    let item_path = format!("{path}[{idx}]");
                    let (required, inner) = unwrap_optional(item);
                    json!({"id": id(&item_path), "name": format!("_{idx}"), "required": required,
                           "type": iceberg_type(inner, &item_path, ids)})
                })
                .collect();
            json!({"type": "struct", "fields": fields})
        }
        Type::Union { variants, .. } => {
            let tag_path = format!("{path}|tag");
            let mut fields = vec![
                json!({"id": id(&tag_path), "name": "tag", "required": true, "type": "string"}),
            ];
            fields.extend(variants.iter().map(|variant| {
                let variant_path = format!("{path}|{}", variant.name);
                json!({"id": id(&variant_path), "name": variant.name, "required": false,
                       "type": iceberg_type(&variant.ty, &variant_path, ids)})
            }));
            json!({"type": "struct", "fields": fields})
        }
        Type::List(item) => {
            let item_path = format!("{path}[]");
            let (required, inner) = unwrap_optional(item);
            json!({"type": "list", "element-id": id(&item_path), "element-required": required,
                   "element": iceberg_type(inner, &item_path, ids)})
        }
        Type::Map(value) => {
            let value_path = format!("{path}{{value}}");
            let (required, inner) = unwrap_optional(value);
            json!({"type": "map", "key-id": id(&format!("{path}{{key}}")), "key": "string",
                   "value-id": id(&value_path), "value-required": required,
                   "value": iceberg_type(inner, &value_path, ids)})
        }
    }
}

/// `schema.name-mapping.default`: every column path's id by the names its Parquet node
/// has in leaves written before field ids (a list's element is `item`, a map's key and
/// value `keys` and `values`; the Iceberg names are listed too).
pub fn name_mapping(schema: &Schema) -> Value {
    let ids = ids_of(schema);
    Value::Array(mapping_fields(&schema.fields, "", &ids))
}

fn mapping_fields(fields: &[Field], path: &str, ids: &HashMap<String, u32>) -> Vec<Value> {
    fields
        .iter()
        .map(|field| {
            let path = join(path, &field.name);
            mapping_entry(&[field.name.as_str()], &field.ty, &path, ids)
        })
        .collect()
}

fn mapping_entry(names: &[&str], ty: &Type, path: &str, ids: &HashMap<String, u32>) -> Value {
    let mut entry = json!({"names": names});
    if let Some(id) = ids.get(path) {
        entry["field-id"] = json!(id);
    }
    let children = mapping_children(ty, path, ids);
    if !children.is_empty() {
        entry["fields"] = Value::Array(children);
    }
    entry
}

fn mapping_children(ty: &Type, path: &str, ids: &HashMap<String, u32>) -> Vec<Value> {
    match ty {
        Type::Optional(inner) => mapping_children(inner, path, ids),
        Type::Struct(fields) => mapping_fields(fields, path, ids),
        Type::File | Type::FileWith(_) => {
            mapping_fields(&ty.file_struct_fields().expect("a File"), path, ids)
        }
        Type::Tuple(items) => items
            .iter()
            .enumerate()
            .map(|(idx, item)| {
                let name = format!("_{idx}");
                mapping_entry(&[name.as_str()], item, &format!("{path}[{idx}]"), ids)
            })
            .collect(),
        Type::Union { variants, .. } => {
            let mut entries = vec![mapping_entry(
                &["tag"],
                &Type::String,
                &format!("{path}|tag"),
                ids,
            )];
            entries.extend(variants.iter().map(|variant| {
                mapping_entry(
                    &[variant.name.as_str()],
                    &variant.ty,
                    &format!("{path}|{}", variant.name),
                    ids,
                )
            }));
            entries
        }
        Type::List(item) => vec![mapping_entry(
            &["element", "item"],
            item,
            &format!("{path}[]"),
            ids,
        )],
        Type::Map(value) => vec![
            mapping_entry(
                &["key", "keys"],
                &Type::String,
                &format!("{path}{{key}}"),
                ids,
            ),
            mapping_entry(
                &["value", "values"],
                value,
                &format!("{path}{{value}}"),
                ids,
            ),
        ],
        _ => Vec::new(),
    }
}
