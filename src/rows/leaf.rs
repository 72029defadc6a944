//! Parquet leaves: encoding rows to Parquet (zstd) and reading them back, plus the
//! per-leaf column statistics kept in the parent node.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, Int64Array, RecordBatch, StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow_schema::DataType;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::listing::FileEntry;
use crate::object::ColumnStats;
use crate::schema::{Schema, file_arrow_fields};

/// Why a Parquet leaf could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum LeafError {
    #[error("could not encode a Parquet leaf: {0}")]
    Encode(String),
    #[error("leaf {id} is not a readable Parquet file: {detail}")]
    Decode { id: String, detail: String },
}

/// Rows per Parquet row group; a leaf rarely reaches it.
const ROW_GROUP: usize = 64 * 1024;

/// Above this many columns (leaves of the Arrow schema, nested ones included) Parquet's
/// dictionary encoding is off: each column's dictionary encoder allocates about 75 KB up
/// front, 1.5 GB for one record of 20,000 keys. Below it, leaves are as they always were.
pub const DICTIONARY_MAX_COLUMNS: usize = 1024;

/// Whether a schema is narrow enough for dictionary encoding (`DICTIONARY_MAX_COLUMNS`).
pub fn dictionary_for(schema: &arrow_schema::Schema) -> bool {
    schema.flattened_fields().len() <= DICTIONARY_MAX_COLUMNS
}

fn writer_properties(dictionary: bool) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_created_by("pail".to_string())
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .set_dictionary_enabled(dictionary)
        .build()
}

/// Encodes one batch as a Parquet file, without field ids (leaves before field ids).
#[cfg(test)]
pub fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>, LeafError> {
    let mut bytes = Vec::new();
    let properties = writer_properties(dictionary_for(&batch.schema()));
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties))
        .map_err(|err| LeafError::Encode(err.to_string()))?;
    writer
        .write(batch)
        .map_err(|err| LeafError::Encode(err.to_string()))?;
    writer
        .close()
        .map_err(|err| LeafError::Encode(err.to_string()))?;
    Ok(bytes)
}

/// Encodes one batch of rows of `schema` as a leaf: a Parquet file whose columns carry
/// their column ids as Parquet field ids (`field_ids::annotated`). The `ARROW:schema`
/// footer entry is left out: readers here take the Arrow schema from the Parquet schema
/// (`reader_options`), and it would repeat every id.
pub fn encode_leaf(batch: &RecordBatch, schema: &Schema) -> Result<Vec<u8>, LeafError> {
    let mut bytes = Vec::new();
    let annotated = Arc::new(super::field_ids::annotated(schema));
    let options = ArrowWriterOptions::new()
        .with_properties(writer_properties(dictionary_for(&annotated)))
        .with_skip_arrow_metadata(true);
    let mut writer = ArrowWriter::try_new_with_options(&mut bytes, annotated, options)
        .map_err(|err| LeafError::Encode(err.to_string()))?;
    writer
        .write(batch)
        .map_err(|err| LeafError::Encode(err.to_string()))?;
    writer
        .close()
        .map_err(|err| LeafError::Encode(err.to_string()))?;
    Ok(bytes)
}

/// How every reader opens a leaf: the Arrow schema comes from the Parquet schema, not from
/// the `ARROW:schema` flatbuffer the writer embeds. That flatbuffer's verifier stops at 64
/// levels, about 30 levels of struct nesting, which would make a record that commit
/// accepts (`schema::MAX_NESTING`) unreadable; the Parquet schema gives the same types
/// (`isAdjustedToUTC` timestamps come back with the "UTC" zone).
pub fn reader_options() -> ArrowReaderOptions {
    ArrowReaderOptions::new().with_skip_arrow_metadata(true)
}

/// Opens a leaf for reading: its Arrow schema is the Parquet schema's, without the field
/// ids a leaf may carry, so leaves written before and after field ids read alike.
pub fn reader_builder(
    bytes: Bytes,
) -> Result<ParquetRecordBatchReaderBuilder<Bytes>, parquet::errors::ParquetError> {
    let metadata = ArrowReaderMetadata::load(&bytes, reader_options())?;
    let metadata = if super::field_ids::has_metadata(metadata.schema()) {
        let stripped = Arc::new(super::field_ids::strip(metadata.schema()));
        ArrowReaderMetadata::try_new(
            metadata.metadata().clone(),
            reader_options().with_schema(stripped),
        )?
    } else {
        metadata
    };
    Ok(ParquetRecordBatchReaderBuilder::new_with_metadata(
        bytes, metadata,
    ))
}

/// Reads a leaf back as record batches: the one decoder of leaf objects.
pub fn decode(id: &str, bytes: Vec<u8>) -> Result<Vec<RecordBatch>, LeafError> {
    let decode_err = |detail: String| LeafError::Decode {
        id: id.to_string(),
        detail,
    };
    let reader = reader_builder(Bytes::from(bytes))
        .map_err(|err| decode_err(err.to_string()))?
        .build()
        .map_err(|err| decode_err(err.to_string()))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| decode_err(err.to_string()))
}

/// Reads a leaf back with only the named top-level columns decoded (all when `None`).
pub fn decode_projected(
    id: &str,
    bytes: Vec<u8>,
    columns: Option<&std::collections::HashSet<String>>,
) -> Result<Vec<RecordBatch>, LeafError> {
    let Some(columns) = columns else {
        return decode(id, bytes);
    };
    let decode_err = |detail: String| LeafError::Decode {
        id: id.to_string(),
        detail,
    };
    let builder = reader_builder(Bytes::from(bytes)).map_err(|err| decode_err(err.to_string()))?;
    let roots: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, field)| columns.contains(field.name()))
        .map(|(index, _)| index)
        .collect();
    let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), roots);
    builder
        .with_projection(mask)
        .build()
        .map_err(|err| decode_err(err.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| decode_err(err.to_string()))
}

/// A BLAKE3 digest as rows store it: 64 lowercase hex digits.
pub(crate) fn hex(bytes: &[u8; 32]) -> String {
    blake3::Hash::from_bytes(*bytes).to_hex().to_string()
}

/// The batch of a storage listing: one `file` column.
pub fn files_batch(source: &str, files: &[FileEntry]) -> RecordBatch {
    let fields = file_arrow_fields();
    let sources: ArrayRef = Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
        source,
        files.len(),
    )));
    let paths: ArrayRef = Arc::new(StringArray::from_iter_values(
        files.iter().map(|file| file.path.as_str()),
    ));
    let sizes: ArrayRef = Arc::new(Int64Array::from_iter_values(
        files.iter().map(|file| file.size as i64),
    ));
    let etags: ArrayRef = Arc::new(StringArray::from_iter(
        files.iter().map(|file| Some(file.etag.as_str())),
    ));
    let versions: ArrayRef = Arc::new(StringArray::from_iter(
        files.iter().map(|file| file.version.as_deref()),
    ));
    let modified: ArrayRef = Arc::new(
        TimestampMicrosecondArray::from_iter_values(files.iter().map(|file| file.last_modified))
            .with_timezone("UTC"),
    );
    let hashes: ArrayRef = Arc::new(StringArray::from_iter(
        files.iter().map(|file| file.blake3.as_ref().map(hex)),
    ));
    let file = StructArray::new(
        fields,
        vec![sources, paths, sizes, etags, versions, modified, hashes],
        None,
    );
    RecordBatch::try_new(
        Arc::new(Schema::listing().to_arrow()),
        vec![Arc::new(file) as ArrayRef],
    )
    .expect("the listing batch matches the listing schema")
}

/// The files a listing leaf's batch holds, each with its row's `source`: the inverse of
/// `files_batch`.
pub fn files_from_batch(batch: &RecordBatch) -> Result<Vec<(String, FileEntry)>, LeafError> {
    let bad = |detail: String| LeafError::Decode {
        id: "(a listing leaf)".into(),
        detail,
    };
    let file = batch
        .column_by_name("file")
        .and_then(|column| column.as_struct_opt())
        .ok_or_else(|| bad("no `file` struct column".into()))?;
    let column = |name: &str| {
        file.column_by_name(name)
            .ok_or_else(|| bad(format!("no `file.{name}` column")))
    };
    let strings = |name: &str| {
        column(name)?
            .as_string_opt::<i32>()
            .ok_or_else(|| bad(format!("`file.{name}` is not a string column")))
    };
    let (sources, paths, etags) = (strings("source")?, strings("path")?, strings("etag")?);
    let (versions, hashes) = (strings("version")?, strings("blake3")?);
    let sizes = column("size")?
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| bad("`file.size` is not an int64 column".into()))?;
    let modified = column("last_modified")?
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| bad("`file.last_modified` is not a timestamp column".into()))?;
    (0..batch.num_rows())
        .map(|row| {
            let blake3 = if hashes.is_null(row) {
                None
            } else {
                let hash = blake3::Hash::from_hex(hashes.value(row))
                    .map_err(|err| bad(format!("`file.blake3` of row {row}: {err}")))?;
                Some(*hash.as_bytes())
            };
            let entry = FileEntry {
                path: paths.value(row).to_string(),
                size: sizes.value(row) as u64,
                etag: etags.value(row).to_string(),
                version: (!versions.is_null(row)).then(|| versions.value(row).to_string()),
                last_modified: modified.value(row),
                blake3,
            };
            Ok((sources.value(row).to_string(), entry))
        })
        .collect()
}

/// Feeds a file entry's canonical bytes to a digest.
pub fn digest_file(hasher: &mut blake3::Hasher, file: &FileEntry) {
    hasher.update(&(file.path.len() as u64).to_le_bytes());
    hasher.update(file.path.as_bytes());
    hasher.update(&file.size.to_le_bytes());
    hasher.update(&(file.etag.len() as u64).to_le_bytes());
    hasher.update(file.etag.as_bytes());
    match &file.version {
        Some(version) => {
            hasher.update(&[1]);
            hasher.update(&(version.len() as u64).to_le_bytes());
            hasher.update(version.as_bytes());
        }
        None => {
            hasher.update(&[0]);
        }
    }
    hasher.update(&file.last_modified.to_le_bytes());
    match &file.blake3 {
        Some(hash) => {
            hasher.update(&[1]);
            hasher.update(hash);
        }
        None => {
            hasher.update(&[0]);
        }
    }
}

/// Sum of the `size` of every File column (top-level or optional File) in the batch.
pub fn file_bytes(schema: &Schema, batch: &RecordBatch) -> u64 {
    let mut total = 0u64;
    for column in schema.file_columns() {
        let Some(array) = batch.column_by_name(&column) else {
            continue;
        };
        let Some(file) = array.as_struct_opt() else {
            continue;
        };
        if let Some(sizes) = file.column_by_name("size") {
            let Some(sizes) = sizes.as_primitive_opt::<Int64Type>() else {
                continue;
            };
            for idx in 0..sizes.len() {
                if sizes.is_valid(idx) && file.is_valid(idx) {
                    total += sizes.value(idx).max(0) as u64;
                }
            }
        }
    }
    total
}

/// Min/max/nulls of the integer and datetime columns, top-level and one struct deep
/// (which covers `file.size` and `file.last_modified`).
pub fn column_stats(batch: &RecordBatch) -> Vec<ColumnStats> {
    let mut stats = Vec::new();
    let schema = batch.schema();
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        collect_stats(field.name(), array, &mut stats);
        if let DataType::Struct(children) = field.data_type() {
            let parent = array.as_struct();
            for (child, child_array) in children.iter().zip(parent.columns()) {
                collect_stats(
                    &format!("{}.{}", field.name(), child.name()),
                    child_array,
                    &mut stats,
                );
            }
        }
    }
    stats
}

fn collect_stats(name: &str, array: &ArrayRef, stats: &mut Vec<ColumnStats>) {
    let values: Box<dyn Iterator<Item = Option<i64>>> = match array.data_type() {
        DataType::Int64 => Box::new(array.as_primitive::<Int64Type>().iter()),
        DataType::Timestamp(_, _) => {
            Box::new(array.as_primitive::<TimestampMicrosecondType>().iter())
        }
        _ => return,
    };
    let mut min: Option<i64> = None;
    let mut max: Option<i64> = None;
    let mut nulls = 0u64;
    for value in values {
        match value {
            Some(value) => {
                min = Some(min.map_or(value, |min| min.min(value)));
                max = Some(max.map_or(value, |max| max.max(value)));
            }
            None => nulls += 1,
        }
    }
    stats.push(ColumnStats {
        column: name.to_string(),
        min,
        max,
        nulls,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<FileEntry> {
        (0..3)
            .map(|i| FileEntry {
                path: format!("d/f{i}.jpg"),
                size: 100 + i,
                etag: format!("e{i}"),
                version: (i == 1).then(|| "v1".to_string()),
                last_modified: 1_700_000_000_000_000 + i as i64,
                blake3: (i == 2).then(|| *blake3::hash(b"x").as_bytes()),
            })
            .collect()
    }

    /// A wide leaf is written without dictionaries (memory linear in its columns), a
    /// narrow one with them, and both read back.
    #[test]
    fn dictionary_encoding_stops_at_the_column_limit() {
        let has_dictionary = |n_columns: usize| {
            let fields: Vec<arrow_schema::Field> = (0..n_columns)
                .map(|idx| arrow_schema::Field::new(format!("c{idx}"), DataType::Int64, false))
                .collect();
            let columns: Vec<ArrayRef> = (0..n_columns)
                .map(|idx| Arc::new(Int64Array::from(vec![idx as i64; 3])) as ArrayRef)
                .collect();
            let batch =
                RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns).unwrap();
            let bytes = encode_batch(&batch).unwrap();
            let builder =
                ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes.clone())).unwrap();
            let dictionary = builder
                .metadata()
                .row_group(0)
                .column(0)
                .dictionary_page_offset();
            assert_eq!(decode("wide", bytes).unwrap()[0], batch);
            dictionary.is_some()
        };
        assert!(has_dictionary(DICTIONARY_MAX_COLUMNS));
        assert!(!has_dictionary(DICTIONARY_MAX_COLUMNS + 1));
    }

    /// Leaves written before the switch to LZ4_RAW are zstd: both must stay readable.
    #[test]
    fn leaves_of_either_codec_read_back() {
        let batch = files_batch("s3://b", &files());
        let zstd = {
            let mut bytes = Vec::new();
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(
                    parquet::basic::ZstdLevel::try_new(1).unwrap(),
                ))
                .build();
            let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props)).unwrap();
            writer.write(&batch).unwrap();
            writer.close().unwrap();
            bytes
        };
        for bytes in [encode_batch(&batch).unwrap(), zstd] {
            let decoded = decode("leaf", bytes).unwrap();
            assert_eq!(decoded, vec![batch.clone()]);
            let back: Vec<FileEntry> = files_from_batch(&decoded[0])
                .unwrap()
                .into_iter()
                .map(|(source, file)| {
                    assert_eq!(source, "s3://b");
                    file
                })
                .collect();
            assert_eq!(back, files());
        }
    }
}
