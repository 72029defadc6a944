//! Commit: a storage listing or JSON records become a new version of a dataset, written in
//! one transaction (rows, schema, summary, code, commit, version ref). Also `status`, which
//! plans the same listing without writing.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use arrow_array::{RecordBatch, RecordBatchOptions, RecordBatchReader};
use arrow_schema::{ArrowError, DataType, SchemaRef};
use serde_json::Value;

use crate::listing::{self, FileEntry, ListError, ListEvent, Source};
use crate::name::{DatasetName, DatasetRef, NameError, VersionSpec};
use crate::object::{
    COMMIT_FORMAT, Child, CodeFile, CodecError, Commit, CommitId, GitState, Input, Kind, ObjectId,
};
use crate::repo::{Repo, RepoError, Resolved, io_err, latest_version, owned_temp_file};
use crate::rows::key;
use crate::rows::sort::{Record, SortError, Sorter};
use crate::rows::{RowEncoder, Staging, TreeBuilder, TreeError, read_leaf};
use crate::schema::{self, Compat, Schema, SchemaError, Type, Violation};
use crate::store::{StoreError, Writer};
use crate::summary::{Changes, Lineage, RowStats, SUMMARY_FORMAT, Summary, SummaryBuilder};

/// Why a commit failed: its input (records, schema, key, listing) or the version it would make.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// `status` could not diff the latest version with the listing.
    #[error(transparent)]
    Diff(#[from] crate::diff::DiffError),
    #[error("could not read {what} {path}: {source}")]
    ReadInput {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    List(Box<ListError>),
    #[error("{0}")]
    Sort(#[from] SortError),
    #[error("line {line}: malformed JSON: {detail}")]
    BadJson { line: u64, detail: String },
    #[error(
        "line {line}: the integer {literal} is out of the int range (64-bit signed, \
         -9223372036854775808 to 9223372036854775807)"
    )]
    IntOutOfRange { line: u64, literal: String },
    #[error("line {line}: {violation}")]
    Violation { line: u64, violation: Violation },
    #[error("line {line}: duplicate row key {key} (first seen at line {first_line})")]
    DuplicateKey {
        line: u64,
        first_line: u64,
        key: String,
    },
    /// An Arrow column of a type pail has no column type for.
    #[error(transparent)]
    ArrowType(#[from] schema::UnsupportedArrowType),
    #[error("could not read the record batches: {source}")]
    ReadBatches {
        #[source]
        source: ArrowError,
    },
    #[error("column `{column}`: its Arrow {found} values do not fit the schema: {source}")]
    ConvertColumn {
        column: String,
        found: DataType,
        #[source]
        source: ArrowError,
    },
    #[error("key column `{column}` {reason}")]
    BadKey { column: String, reason: String },
    #[error("the schema of {name} changed ({}); this needs at least a {required} version bump", .changes.join("; "))]
    NeedsBump {
        name: DatasetName,
        required: Bump,
        changes: Vec<String>,
    },
    #[error("{name}@{} was not committed from a storage listing", .version.as_ref().map(ToString::to_string).unwrap_or_default())]
    NoSource {
        name: DatasetName,
        /// None when the latest commit is named by no version (not a state pail makes).
        version: Option<semver::Version>,
    },
    #[error("version {name}@{version} already exists")]
    VersionExists {
        name: DatasetName,
        version: semver::Version,
    },
    #[error("version {name}@{latest} has no next {bump} version: its number is at the limit")]
    VersionOverflow {
        name: DatasetName,
        latest: semver::Version,
        bump: Bump,
    },
}

/// Errors of the layers below the repository reach a commit through `RepoError`.
macro_rules! via_repo {
    ($($source:ty),*) => {$(
        impl From<$source> for CommitError {
            fn from(err: $source) -> Self {
                CommitError::Repo(err.into())
            }
        }
    )*};
}
via_repo!(StoreError, TreeError, SchemaError, CodecError, NameError);

impl From<ListError> for CommitError {
    fn from(err: ListError) -> Self {
        CommitError::List(Box::new(err))
    }
}

/// How a storage source is listed for a commit.
#[derive(Clone)]
pub struct ListingOptions {
    pub source: Source,
    /// Read every new or changed object and record its BLAKE3 digest.
    pub hash: bool,
    /// List every object version (on stores that keep versions), not only the latest.
    pub versions: bool,
    /// When the listing was taken, microseconds since the epoch.
    pub listed_at: i64,
}

/// Commits a storage listing as a new version of `options.name`.
pub fn listing(
    repo: &Repo,
    listing: &ListingOptions,
    options: &CommitOptions,
    progress: &dyn Progress,
) -> Result<CommitOutcome, CommitError> {
    let source = &listing.source;
    // Inputs first: a typo in --input should not cost a listing of a million objects.
    let named_inputs = resolve_inputs(repo, &options.inputs)?;
    let schema = Schema::listing();
    let (schema_id, schema_bytes) = schema_object(repo, &options.name, &schema)?;
    let staged = build_listing(repo, &options.name, listing, progress)?;
    let mut inputs = vec![Input::Source {
        uri: source.listed_uri(),
        listed_at: listing.listed_at,
    }];
    inputs.extend(named_inputs);
    finish_commit(
        repo,
        options,
        Prepared {
            schema: &schema,
            schema_id,
            schema_bytes,
            key: listing_key(),
            inputs,
            staged,
        },
    )
}

/// Lists a source into a row tree staged under `.pail/tmp/`, reusing the leaves of the
/// latest version of `name` where the rows are unchanged, and gathers the summary
/// statistics of the rows. Nothing is written to the store.
fn build_listing(
    repo: &Repo,
    name: &DatasetName,
    listing: &ListingOptions,
    progress: &dyn Progress,
) -> Result<Staged, CommitError> {
    let source = &listing.source;
    let (hash, versions) = (listing.hash, listing.versions);
    let schema = Schema::listing();
    let (schema_id, _) = schema_object(repo, name, &schema)?;
    let reusable = reusable(repo, name, &schema_id)?;
    let mut staging = Staging::new(&repo.tmp_dir())?;
    let base = source.base_uri();
    // The digests the latest version recorded, carried over to unchanged files; none
    // when it recorded none, so that a plain re-listing reads no old rows. Rows of
    // another source never match: the key holds the source.
    let known: listing::Known = if reusable.hashed {
        Some(Box::new(PreviousDigests {
            repo: repo.clone(),
            base: base.clone(),
            leaves: reusable.leaves.clone().into(),
            rows: std::collections::VecDeque::new(),
        }))
    } else {
        None
    };
    let reuse = reusable.leaves;
    let mut builder = TreeBuilder::new(
        FileEncoder {
            source: base.clone(),
        },
        schema.clone(),
        schema_id,
        reuse,
    );
    let mut stats = SummaryBuilder::new(&schema);
    let (sender, receiver) = std::sync::mpsc::sync_channel(4);
    let lister_source = source.clone();
    let lister =
        std::thread::spawn(move || listing::list(&lister_source, hash, versions, known, &sender));
    let mut problems = Vec::new();
    let mut n_files = 0u64;
    let mut n_bytes = 0u64;
    let mut result = Ok(());
    for event in receiver.iter() {
        match event {
            ListEvent::Files(files) => {
                // Examples are the first rows in listing order, which is key order,
                // as a reader will see them (`batch_to_rows`).
                if stats.wants_examples() {
                    let head = &files[..files.len().min(crate::summary::EXAMPLE_ROWS)];
                    let batch = crate::rows::leaf::files_batch(&base, head);
                    match schema::batch_to_rows(&schema, &batch) {
                        Ok(rows) => {
                            for row in &rows {
                                if !stats.example(row) {
                                    break;
                                }
                            }
                        }
                        Err(err) => {
                            result = Err(err.into());
                            break;
                        }
                    }
                }
                for file in &files {
                    stats.observe_listed(&base, file);
                }
                for file in files {
                    n_files += 1;
                    n_bytes += file.size;
                    let key = key::file_key(&base, &file.path);
                    if let Err(err) = builder.push(key, file, &mut staging) {
                        result = Err(CommitError::from(err));
                        break;
                    }
                }
                progress.listed(n_files, n_bytes);
            }
            ListEvent::Problem { path, reason } => {
                progress.problem(&path, &reason);
                problems.push((path, reason));
            }
            ListEvent::Fatal(err) => result = Err(err.into()),
        }
        if result.is_err() {
            break;
        }
    }
    drop(receiver);
    lister.join().expect("the listing thread does not panic");
    result?;
    let built = builder.finish(&mut staging)?;
    Ok(Staged {
        built,
        stats: stats.finish(),
        staging,
        problems,
    })
}

/// The latest version of a dataset and the source URI it was listed from.
/// The latest version of a dataset committed from a listing, and the URI listed.
#[derive(Debug, Clone)]
pub struct LatestSource {
    pub latest: Resolved,
    pub uri: String,
}

/// The latest version of a dataset and the source URI it was listed from.
pub fn latest_source(repo: &Repo, name: &DatasetName) -> Result<LatestSource, CommitError> {
    let latest = repo.resolve(&DatasetRef {
        name: name.clone(),
        version: VersionSpec::Latest,
    })?;
    let uri = latest.commit.inputs.iter().find_map(|input| match input {
        Input::Source { uri, .. } => Some(uri.clone()),
        Input::Dataset { .. } => None,
    });
    match uri {
        Some(uri) => Ok(LatestSource { latest, uri }),
        None => Err(CommitError::NoSource {
            name: name.clone(),
            version: latest.version,
        }),
    }
}

/// What `pail commit NAME SOURCE` would change: lists the source into a staged tree
/// (reusing unchanged leaves) and diffs the latest version against it. Writes nothing
/// to the store; the staged objects vanish with the returned `Status`.
pub fn status(
    repo: &Repo,
    name: &DatasetName,
    listing: &ListingOptions,
    progress: &dyn Progress,
) -> Result<Status, CommitError> {
    let latest = repo.resolve(&DatasetRef {
        name: name.clone(),
        version: VersionSpec::Latest,
    })?;
    let staged = build_listing(repo, name, listing, progress)?;
    let old = crate::diff::DiffSide::from_resolved(repo, &latest)?;
    let new = crate::diff::DiffSide::uncommitted(
        name.clone(),
        staged.built.n_rows,
        Schema::listing(),
        listing_key(),
        staged.built.root,
    );
    let diff = crate::diff::Diff::plan(repo, old, new, Some(staged.staging))?;
    Ok(Status {
        base: latest,
        source: listing.source.listed_uri(),
        diff,
        problems: staged.problems,
    })
}

/// The schema and key of a commit of records.
#[derive(Debug, Clone, Default)]
pub struct RecordsOptions {
    /// The declared schema. When None it is inferred from JSON records, or taken from
    /// the Arrow schema of record batches (`schema::from_arrow`, File-shaped structs as
    /// Files).
    pub schema: Option<Schema>,
    /// The row key columns; by default the first File column's source and path, or the
    /// whole row when there is none.
    pub key: Option<Vec<String>>,
}

/// Commits records (JSON lines or Arrow record batches) as a new version of `options.name`.
///
/// Arrow batches take the path JSON records take: each batch becomes rows (`batch_to_rows`),
/// validated, normalized and sorted like JSON records, one batch at a time, so memory
/// stays bounded however many batches the reader yields. Without a declared schema the
/// schema is the Arrow schema's (`schema::from_arrow`, with File-shaped structs as Files);
/// with one, Arrow's shapes of unions, tuples and dicts are read as their JSON first
/// (`schema::arrow_row_for`).
pub fn records(
    repo: &Repo,
    records: Records,
    shape: &RecordsOptions,
    options: &CommitOptions,
) -> Result<CommitOutcome, CommitError> {
    // The sort spills and a stream is spooled to `.pail/tmp/`.
    let tmp = repo.tmp_dir();
    std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let (schema, key_columns, sorted) = match records {
        Records::Batches(reader) => arrow_records(repo, reader, shape)?,
        Records::Path(path) => {
            let spooled = RecordsFile { path, _spool: None };
            json_records(repo, spooled, shape, &options.name)?
        }
        Records::Reader(reader) => {
            let spooled = RecordsFile::spool(repo, reader)?;
            json_records(repo, spooled, shape, &options.name)?
        }
    };
    commit_sorted(repo, &schema, key_columns, sorted, options)
}

/// Arrow record batches: the schema (declared, or the Arrow schema's), the key, and the
/// rows validated and sorted in one pass. Without a declared schema, nullability is
/// settled as JSON inference settles it: the pass validates against the Arrow schema as
/// declared (a nullable field optional) and counts the nulls each field holds; after it, a
/// nullable field that held none is required (the same rows as JSON lines get the same
/// schema, rows and commit). Validation does not depend on the difference: an optional
/// field's values are checked as its type's.
fn arrow_records(
    repo: &Repo,
    reader: Box<dyn RecordBatchReader + Send>,
    shape: &RecordsOptions,
) -> Result<(Schema, Vec<String>, SortedRows), CommitError> {
    let arrow = reader.schema();
    let read_as = schema::from_arrow(&arrow)?;
    if let Some(declared) = &shape.schema {
        let read_as = schema::with_bytes_of(&read_as, declared);
        let key_columns = key_columns(declared, shape)?;
        let sorted = sort_rows(repo, declared, &key_columns, Check::Validate, |each| {
            // Arrow's shapes of unions, tuples and dicts as their JSON (`arrow_row_for`).
            for_each_batch_row(reader, &read_as, None, &mut |line, row| {
                each(line, schema::arrow_row_for(&read_as, declared, row))
            })
        })?;
        return Ok((declared.clone(), key_columns, sorted));
    }
    let declared_nullable = schema::with_files(&read_as);
    declared_nullable.check_nesting(None)?;
    let key_columns = key_columns(&declared_nullable, shape)?;
    let mut nulls = schema::NullsSeen::new(&arrow);
    let check = if normalized_from_arrow(&declared_nullable.fields) {
        Check::Normalized
    } else {
        Check::Validate
    };
    let mut sorted = sort_rows(repo, &declared_nullable, &key_columns, check, |each| {
        for_each_batch_row(reader, &read_as, Some(&mut nulls), each)
    })?;
    let schema = schema::with_files(&nulls.settle(&read_as));
    sorted.stats.retype(&schema);
    Ok((schema, key_columns, sorted))
}

/// JSON lines: the schema (declared, or inferred in a first pass), the key, and the rows
/// validated and sorted in a second pass.
fn json_records(
    repo: &Repo,
    spooled: RecordsFile,
    shape: &RecordsOptions,
    name: &DatasetName,
) -> Result<(Schema, Vec<String>, SortedRows), CommitError> {
    let path = spooled.path.clone();
    let schema = match &shape.schema {
        Some(schema) => schema.clone(),
        None => {
            // With each line's text: fields are inferred in the order first seen.
            let mut inferrer = schema::Inferrer::new();
            for_each_record_text(&path, &mut |line, text, value| {
                inferrer.observe_text(line, &value, text)?;
                Ok(())
            })?;
            // Fields the latest version has keep its order, so the same rows written with
            // their keys in another order are the same schema.
            match parent_schema(repo, name)? {
                Some(parent) => schema::follow_order(inferrer.finish(), &parent),
                None => inferrer.finish(),
            }
        }
    };
    let key_columns = key_columns(&schema, shape)?;
    let sorted = sort_rows(repo, &schema, &key_columns, Check::Validate, |each| {
        for_each_record(&path, each)
    })?;
    drop(spooled);
    Ok((schema, key_columns, sorted))
}

/// The row key columns of a commit of records: as given, or the first File column's
/// source and path, or none (the whole row).
fn key_columns(schema: &Schema, shape: &RecordsOptions) -> Result<Vec<String>, CommitError> {
    Ok(match &shape.key {
        Some(columns) => expand_key_columns(schema, columns)?,
        None => match schema.file_columns().first() {
            Some(column) => vec![format!("{column}.source"), format!("{column}.path")],
            None => Vec::new(),
        },
    })
}

/// Calls back with each input row (its line or row number, from 1, and its value).
type EachRow<'a> = dyn FnMut(u64, Value) -> Result<(), CommitError> + 'a;

/// Records validated and sorted by key, with their summary statistics so far.
struct SortedRows {
    sorter: Sorter,
    stats: SummaryBuilder,
}

/// Validates and normalizes every row `rows` yields against `schema` and sorts it by key
/// (spilling to `.pail/tmp/` beyond a budget).
fn sort_rows(
    repo: &Repo,
    schema: &Schema,
    key_columns: &[String],
    check: Check,
    rows: impl FnOnce(&mut EachRow) -> Result<(), CommitError>,
) -> Result<SortedRows, CommitError> {
    let mut sorter = Sorter::new(&repo.tmp_dir(), SORT_BUDGET);
    let mut stats = SummaryBuilder::new(schema);
    rows(&mut |line, value| {
        let normalized = match check {
            Check::Validate => schema
                .validate(&value)
                .map_err(|violation| CommitError::Violation { line, violation })?,
            Check::Normalized => {
                debug_assert!(
                    schema
                        .validate(&value)
                        .is_ok_and(|checked| checked == value)
                );
                value
            }
        };
        stats.observe(&normalized);
        let payload = crate::rows::canonical::encode(&normalized);
        let key = row_key(key_columns, &normalized, &payload);
        sorter.push(Record { key, line, payload })?;
        Ok(())
    })?;
    Ok(SortedRows { sorter, stats })
}

/// How `sort_rows` takes each row.
#[derive(Clone, Copy)]
enum Check {
    /// Validated and normalized against the schema.
    Validate,
    /// As it is: rows `batch_to_rows` read from Arrow data of the schema's own Arrow form,
    /// when `normalized_from_arrow` says they are normalized already.
    Normalized,
}

/// Whether rows `batch_to_rows` reads from the Arrow form of these fields are what
/// `Schema::validate` would make of them: true when every type is a bool, int, float or
/// string (optional, in lists or structs), whose Arrow values are read as exactly those
/// JSON values (a float's NaN and infinities as validation writes them). A File, a
/// datetime, bytes and the other types are validated. Validation (a copy of every row)
/// is about a seventh of a commit from Arrow (issue 16: a commit of a pyarrow Table is to
/// be no slower than the CLI's of the same rows as JSON lines).
fn normalized_from_arrow(fields: &[schema::Field]) -> bool {
    fn plain(ty: &Type) -> bool {
        match ty {
            Type::Bool | Type::Int | Type::Float | Type::String => true,
            Type::Optional(inner) | Type::List(inner) => plain(inner),
            Type::Struct(fields) => normalized_from_arrow(fields),
            _ => false,
        }
    }
    fields.iter().all(|field| plain(&field.ty))
}

/// Builds the row tree of sorted records (refusing duplicate keys) and writes the version.
fn commit_sorted(
    repo: &Repo,
    schema: &Schema,
    key_columns: Vec<String>,
    sorted: SortedRows,
    options: &CommitOptions,
) -> Result<CommitOutcome, CommitError> {
    let SortedRows { sorter, mut stats } = sorted;
    let (schema_id, schema_bytes) = schema_object(repo, &options.name, schema)?;
    let reuse = reusable_leaves(repo, &options.name, &schema_id)?;
    let mut staging = Staging::new(&repo.tmp_dir())?;
    let mut builder = TreeBuilder::new(
        JsonEncoder {
            schema: schema.clone(),
        },
        schema.clone(),
        schema_id,
        reuse,
    );
    let mut previous: Option<(Vec<u8>, u64, Vec<u8>)> = None;
    for record in sorter.finish()? {
        let record = record?;
        if stats.wants_examples() {
            // Examples in key order, so the summary does not depend on input order.
            let value = decode_payload(&record.payload)?;
            stats.example(&value);
        }
        if let Some((prev_key, prev_line, prev_payload)) = &previous
            && *prev_key == record.key
        {
            let shown = if key_columns.is_empty() {
                "(the whole row; identical rows)".to_string()
            } else {
                let value = decode_payload(prev_payload)?;
                let parts: Vec<String> = key_columns
                    .iter()
                    .map(|column| format!("{column}={}", lookup(&value, column)))
                    .collect();
                format!("({})", parts.join(", "))
            };
            return Err(CommitError::DuplicateKey {
                line: record.line,
                first_line: *prev_line,
                key: shown,
            });
        }
        if let Some((prev_key, _, prev_payload)) = previous.take() {
            builder.push(prev_key, prev_payload, &mut staging)?;
        }
        previous = Some((record.key, record.line, record.payload));
    }
    if let Some((prev_key, _, prev_payload)) = previous {
        builder.push(prev_key, prev_payload, &mut staging)?;
    }
    let built = builder.finish(&mut staging)?;
    let inputs = resolve_inputs(repo, &options.inputs)?;
    finish_commit(
        repo,
        options,
        Prepared {
            schema,
            schema_id,
            schema_bytes,
            key: key_columns,
            inputs,
            staged: Staged {
                built,
                stats: stats.finish(),
                staging,
                problems: Vec::new(),
            },
        },
    )
}

/// Calls `each` with every row of every batch `reader` yields, numbered from 1, one batch
/// at a time, counting each batch's nulls into `nulls` when given. Each batch is cast to
/// the Arrow form of `read_as` (ints to 64 bits, large strings and lists to their plain
/// forms, timestamps to microseconds in UTC; a value that does not fit is an error, never
/// a null) and read into rows by `batch_to_rows`.
/// NaN and infinite floats are kept: `batch_to_rows` gives them as the strings "NaN",
/// "Infinity" and "-Infinity", which a float column stores as those floats.
fn for_each_batch_row(
    reader: Box<dyn RecordBatchReader + Send>,
    read_as: &Schema,
    mut nulls: Option<&mut schema::NullsSeen>,
    each: &mut EachRow,
) -> Result<(), CommitError> {
    let target = std::sync::Arc::new(read_as.to_arrow());
    let mut line = 0u64;
    for batch in reader {
        let batch = batch.map_err(|source| CommitError::ReadBatches { source })?;
        let batch = cast_batch(&batch, &target)?;
        if let Some(nulls) = nulls.as_deref_mut() {
            nulls.observe(&batch);
        }
        for row in schema::batch_to_rows(read_as, &batch)? {
            line += 1;
            each(line, row)?;
        }
    }
    Ok(())
}

/// `batch` with its columns (by name) cast to the types of `target`.
fn cast_batch(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch, CommitError> {
    use datafusion::arrow::compute::{CastOptions, cast_with_options};
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let columns = target
        .fields()
        .iter()
        .map(|field| {
            let column =
                batch
                    .column_by_name(field.name())
                    .ok_or_else(|| SchemaError::MissingColumn {
                        column: field.name().clone(),
                    })?;
            let convert = |source| CommitError::ConvertColumn {
                column: field.name().clone(),
                found: column.data_type().clone(),
                source,
            };
            // Durations in µs first: their cast to pail's int keeps the count of any unit.
            let column = match schema::micro_durations(column.data_type()) {
                Some(micros) => cast_with_options(column, &micros, &options).map_err(convert)?,
                None => column.clone(),
            };
            cast_with_options(&column, field.data_type(), &options).map_err(convert)
        })
        .collect::<Result<Vec<_>, CommitError>>()?;
    let row_count = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(target.clone(), columns, &row_count)
        .map_err(|source| CommitError::ReadBatches { source })
}

/// Records as a file that can be read twice: without a declared schema they are read once
/// to infer it and once to validate and sort, so a stream is spooled to `.pail/tmp/`.
struct RecordsFile {
    path: PathBuf,
    /// The spool of a stream, removed when this is dropped.
    _spool: Option<tempfile::NamedTempFile>,
}

impl RecordsFile {
    /// Spools a stream to `.pail/tmp/`, so that it can be read twice.
    fn spool(repo: &Repo, mut reader: Box<dyn Read + Send>) -> Result<RecordsFile, CommitError> {
        let tmp = repo.tmp_dir();
        let mut file = owned_temp_file(&tmp).map_err(io_err(&tmp))?;
        std::io::copy(&mut reader, &mut file).map_err(|source| CommitError::ReadInput {
            what: "records from",
            path: PathBuf::from("-"),
            source,
        })?;
        Ok(RecordsFile {
            path: file.path().to_path_buf(),
            _spool: Some(file),
        })
    }
}

/// Leaf entries of the latest version when it has the same schema, for reuse.
fn reusable_leaves(
    repo: &Repo,
    name: &DatasetName,
    schema_id: &ObjectId,
) -> Result<Vec<Child>, CommitError> {
    Ok(reusable(repo, name, schema_id)?.leaves)
}

/// What a new version of `name` with this schema may take from the latest one: its
/// leaf entries, and whether it recorded any BLAKE3 digest (its summary says so; a
/// version saved before summaries may have). Read in one transaction.
fn reusable(
    repo: &Repo,
    name: &DatasetName,
    schema_id: &ObjectId,
) -> Result<Reusable, CommitError> {
    let store = repo.read_store()?;
    let reader = store.read()?;
    let Some((_, id)) = latest_version(&reader, name)? else {
        return Ok(Reusable::default());
    };
    let commit = reader.get_commit(&id)?;
    if commit.schema != *schema_id {
        return Ok(Reusable::default());
    }
    let hashed = match commit.summary {
        Some(summary_id) => {
            let summary = Summary::decode(&reader.object_of_kind(&summary_id, Kind::Summary)?)?;
            summary
                .columns
                .iter()
                .any(|column| column.column == "file.blake3" && column.n_nulls < summary.n_rows)
        }
        None => true,
    };
    // A delta's base leaves only: patch leaves are cut by their own rule and never equal
    // a chunk of a plain tree.
    let objects = crate::rows::layout::Objects {
        reader: &reader,
        staging: None,
    };
    Ok(Reusable {
        leaves: crate::rows::layout::Layout::read(&objects, &commit.rows)?.leaves,
        hashed,
    })
}

fn resolve_inputs(repo: &Repo, inputs: &[DatasetRef]) -> Result<Vec<Input>, CommitError> {
    let mut resolved = Vec::new();
    for input in inputs {
        let found = repo.resolve(input)?;
        resolved.push(Input::Dataset {
            name: found.name.to_string(),
            version: found
                .version
                .map(|version| version.to_string())
                .unwrap_or_default(),
            commit: found.id,
        });
    }
    Ok(resolved)
}

/// Writes the version in one transaction: parent and version number are decided
/// inside it, so concurrent commits get distinct versions.
fn finish_commit(
    repo: &Repo,
    options: &CommitOptions,
    prepared: Prepared,
) -> Result<CommitOutcome, CommitError> {
    let name = &options.name;
    let code: Vec<(CodeFile, &[u8])> = options
        .code
        .iter()
        .map(|(path, bytes)| {
            (
                CodeFile {
                    path: path.clone(),
                    blob: ObjectId::compute(Kind::Blob, bytes),
                    size: bytes.len() as u64,
                },
                bytes.as_slice(),
            )
        })
        .collect();
    let prepared = layer_on_latest(repo, name, prepared)?;
    let store = repo.store()?;
    let writer = store.write()?;
    writer.create_tables()?;
    let Prepared {
        schema,
        schema_id,
        schema_bytes,
        key,
        inputs,
        staged,
    } = prepared;
    let Staged {
        built,
        stats,
        mut staging,
        problems,
    } = staged;
    let next = match next_version(&writer, options, schema, &schema_id, &built)? {
        Next::Unchanged { version, id } => {
            return Ok(CommitOutcome::Unchanged {
                name: name.clone(),
                version,
                id,
                problems,
            });
        }
        Next::New(next) => next,
    };
    let version_ref = name.version_ref(&next.version);
    if writer.get_ref(&version_ref)?.is_some() {
        return Err(CommitError::VersionExists {
            name: name.clone(),
            version: next.version,
        });
    }
    let parents: Vec<CommitId> = next.parent.iter().map(|(_, id)| *id).collect();
    let summary = Summary {
        format: SUMMARY_FORMAT,
        n_rows: built.n_rows,
        n_bytes: built.n_bytes,
        columns: stats.columns,
        files: stats.files,
        examples: stats.examples,
        lineage: Lineage {
            parents: parents.clone(),
            inputs: inputs.clone(),
            code: code.iter().map(|(file, _)| file.path.clone()).collect(),
            author: options.author.clone(),
            time: options.time,
            message: options.message.clone(),
            command: options.command.clone(),
        },
        changes: next.changes,
    };
    let (summary_id, summary_bytes) = summary.encode();
    let commit = Commit {
        format: COMMIT_FORMAT,
        parents,
        inputs,
        schema: schema_id,
        rows: built.root,
        n_rows: built.n_rows,
        n_bytes: built.n_bytes,
        key,
        author: options.author.clone(),
        time: options.time,
        message: options.message.clone(),
        command: options.command.clone(),
        git: options.git.clone(),
        code: code.iter().map(|(file, _)| file.clone()).collect(),
        summary: Some(summary_id),
    };
    let (commit_id, commit_bytes) = commit.encode();
    // Objects before the ref that names them, all in this one transaction.
    staging.write_into(&writer)?;
    writer.put_object(Kind::Schema, &schema_id, &schema_bytes)?;
    writer.put_object(Kind::Summary, &summary_id, &summary_bytes)?;
    for (file, bytes) in &code {
        writer.put_object(Kind::Blob, &file.blob, bytes)?;
    }
    writer.put_object(Kind::Commit, &commit_id, &commit_bytes)?;
    writer.set_ref(&version_ref, &commit_id)?;
    writer.commit()?;
    Ok(CommitOutcome::Created {
        name: name.clone(),
        version: next.version,
        id: CommitId(commit_id),
        parent: next.parent.map(|(version, _)| version),
        commit: Box::new(commit),
        leaves_written: built.leaves_written,
        leaves_reused: built.leaves_reused,
        problems,
    })
}

/// The version a commit makes, decided inside its write transaction.
enum Next {
    /// Rows and schema equal the latest version's.
    Unchanged {
        version: semver::Version,
        id: CommitId,
    },
    New(NewVersion),
}

struct NewVersion {
    version: semver::Version,
    /// The latest version, which becomes the parent.
    parent: Option<(semver::Version, CommitId)>,
    changes: Option<Changes>,
}

/// The next version of `options.name`: 1.0.0 for a new dataset, else the latest bumped
/// by `options.bump`, which must be at least what the schema change requires.
fn next_version(
    writer: &Writer,
    options: &CommitOptions,
    schema: &Schema,
    schema_id: &ObjectId,
    built: &crate::rows::BuiltTree,
) -> Result<Next, CommitError> {
    let name = &options.name;
    let Some((latest_version, latest_id)) = latest_version(writer, name)? else {
        return Ok(Next::New(NewVersion {
            version: semver::Version::new(1, 0, 0),
            parent: None,
            changes: None,
        }));
    };
    let latest_commit = writer.get_commit(&latest_id)?;
    if latest_commit.rows == built.root && latest_commit.schema == *schema_id {
        return Ok(Next::Unchanged {
            version: latest_version,
            id: latest_id,
        });
    }
    let old_schema = writer.get_schema(&latest_commit.schema)?;
    let (required, schema_changes) = match schema::compare(&old_schema, schema) {
        Compat::Same => (Bump::Patch, Vec::new()),
        Compat::Additive(changes) => (Bump::Minor, changes),
        Compat::Breaking(changes) => (Bump::Major, changes),
    };
    let bump = options.bump.unwrap_or(Bump::Patch);
    if bump < required {
        return Err(CommitError::NeedsBump {
            name: name.clone(),
            required,
            changes: schema_changes,
        });
    }
    let changes = Changes {
        parent: latest_id,
        n_rows_before: latest_commit.n_rows,
        n_bytes_before: latest_commit.n_bytes,
        schema_changes,
        leaves_reused: built.leaves_reused as u64,
        leaves_written: built.leaves_written as u64,
    };
    let version =
        bump_version(&latest_version, bump).ok_or_else(|| CommitError::VersionOverflow {
            name: name.clone(),
            latest: latest_version.clone(),
            bump,
        })?;
    Ok(Next::New(NewVersion {
        version,
        parent: Some((latest_version, latest_id)),
        changes: Some(changes),
    }))
}

/// Memory the JSON row sort may use before spilling to disk.
const SORT_BUDGET: usize = 64 * 1024 * 1024;

/// Which part of the version a commit increments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bump {
    Patch,
    Minor,
    Major,
}

impl std::fmt::Display for Bump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bump::Patch => "patch",
            Bump::Minor => "minor",
            Bump::Major => "major",
        })
    }
}

/// Receives progress from long operations; the CLI draws it, tests ignore it.
pub trait Progress: Sync {
    /// Called as a listing goes, with the files and bytes listed so far.
    fn listed(&self, _n_files: u64, _n_bytes: u64) {}
    /// Called for a file that is left out, with the reason.
    fn problem(&self, _path: &str, _reason: &str) {}
}

/// A progress sink that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {}

/// Everything a commit records besides its rows.
#[derive(Debug, Clone)]
pub struct CommitOptions {
    pub name: DatasetName,
    pub message: String,
    pub bump: Option<Bump>,
    pub author: String,
    /// Microseconds since the epoch.
    pub time: i64,
    pub command: Vec<String>,
    pub git: Option<GitState>,
    /// Code files: the path as given and the bytes.
    pub code: Vec<(String, Vec<u8>)>,
    pub inputs: Vec<DatasetRef>,
}

/// Where records come from.
pub enum Records {
    /// A file of JSON lines.
    Path(PathBuf),
    /// JSON lines from a stream (spooled to `.pail/tmp/` when read twice).
    Reader(Box<dyn Read + Send>),
    /// Arrow record batches, read once, batch by batch; the reader's Arrow schema gives
    /// the commit's schema unless `RecordsOptions::schema` declares one.
    Batches(Box<dyn RecordBatchReader + Send>),
}

/// The result of a commit.
#[derive(Debug, Clone)]
pub enum CommitOutcome {
    Created {
        name: DatasetName,
        version: semver::Version,
        id: CommitId,
        parent: Option<semver::Version>,
        commit: Box<Commit>,
        leaves_written: usize,
        leaves_reused: usize,
        problems: Vec<(String, String)>,
    },
    /// Rows and schema equal the latest version's: nothing was written.
    Unchanged {
        name: DatasetName,
        version: semver::Version,
        id: CommitId,
        problems: Vec<(String, String)>,
    },
}

/// A listing built into a staged row tree: the tree and its summary statistics, its
/// staging, and what could not be listed (path, reason).
struct Staged {
    built: crate::rows::BuiltTree,
    stats: RowStats,
    staging: Staging,
    /// Entries the listing could not read: path and reason.
    problems: Vec<(String, String)>,
}

/// Everything `finish_commit` writes besides what `CommitOptions` says.
struct Prepared<'a> {
    schema: &'a Schema,
    schema_id: ObjectId,
    schema_bytes: Vec<u8>,
    key: Vec<String>,
    inputs: Vec<Input>,
    staged: Staged,
}

/// Stores the new rows as a delta on the latest version's base when that is much smaller
/// than their plain tree (`rows::delta`): only for the same schema and key, read in one
/// short transaction before the commit's own.
fn layer_on_latest<'a>(
    repo: &Repo,
    name: &DatasetName,
    mut prepared: Prepared<'a>,
) -> Result<Prepared<'a>, CommitError> {
    let layered = {
        let store = repo.read_store()?;
        let reader = store.read()?;
        let Some((_, id)) = latest_version(&reader, name)? else {
            return Ok(prepared);
        };
        let latest = reader.get_commit(&id)?;
        if latest.schema != prepared.schema_id || latest.key != prepared.key {
            return Ok(prepared);
        }
        let objects = crate::rows::layout::Objects {
            reader: &reader,
            staging: Some(&prepared.staged.staging),
        };
        crate::rows::delta::layer(&crate::rows::delta::LayerInput {
            objects: &objects,
            parent_root: &latest.rows,
            built: &prepared.staged.built,
            schema: prepared.schema,
            schema_id: &prepared.schema_id,
            tmp_dir: &repo.tmp_dir(),
        })?
    };
    if let Some(layered) = layered {
        prepared.staged.built = layered.built;
        prepared.staged.staging = layered.staging;
    }
    Ok(prepared)
}

/// The row key of a listing: a file is its source and path.
fn listing_key() -> Vec<String> {
    vec!["file.source".to_string(), "file.path".to_string()]
}

/// What a commit of a source would change, from `commit::status`.
pub struct Status {
    /// The latest version, compared against.
    pub base: Resolved,
    /// The URI listed.
    pub source: String,
    pub diff: crate::diff::Diff,
    /// Entries the listing could not read: path and reason.
    pub problems: Vec<(String, String)>,
}

/// The schema object of a new version of `name`: its column ids are the latest
/// version's, by path, and new paths get new ids (`Schema::numbered_after`).
fn schema_object(
    repo: &Repo,
    name: &DatasetName,
    schema: &Schema,
) -> Result<(ObjectId, Vec<u8>), CommitError> {
    let parent = parent_schema(repo, name)?;
    Ok(schema.clone().numbered_after(parent.as_ref()).encode())
}

/// The schema of the latest version of `name`, if it has one.
fn parent_schema(repo: &Repo, name: &DatasetName) -> Result<Option<Schema>, CommitError> {
    let store = repo.read_store()?;
    let reader = store.read()?;
    Ok(match latest_version(&reader, name)? {
        Some((_, id)) => Some(reader.get_schema(&reader.get_commit(&id)?.schema)?),
        None => None,
    })
}

/// `listing::KnownDigests` over the rows of an earlier version: leaves are read a group at
/// a time (the database is open only while a group is read), and leaves whose key range
/// the listing passes by are never read.
struct PreviousDigests {
    repo: Repo,
    base: String,
    /// Leaves not read yet, in key order.
    leaves: std::collections::VecDeque<Child>,
    /// Rows read and not yet passed by the listing: key and file.
    rows: std::collections::VecDeque<(Vec<u8>, FileEntry)>,
}

/// What `reusable` found: the leaves a new version may take from the latest one.
#[derive(Default)]
struct Reusable {
    leaves: Vec<Child>,
    hashed: bool,
}

impl PreviousDigests {
    /// Reads the next group of leaves that can hold `key`, if any.
    fn read_towards(&mut self, key: &[u8]) -> Result<(), CommitError> {
        while self
            .leaves
            .front()
            .is_some_and(|leaf| leaf.last_key.as_slice() < key)
        {
            self.leaves.pop_front();
        }
        if self
            .leaves
            .front()
            .is_none_or(|leaf| leaf.first_key.as_slice() > key)
        {
            return Ok(());
        }
        let store = self.repo.read_store()?;
        let reader = store.read()?;
        for _ in 0..PREVIOUS_LEAVES_PER_READ {
            let Some(leaf) = self.leaves.pop_front() else {
                break;
            };
            for batch in read_leaf(&reader, &leaf.id)? {
                let files = crate::rows::leaf::files_from_batch(&batch).map_err(TreeError::from)?;
                for (source, file) in files {
                    self.rows
                        .push_back((key::file_key(&source, &file.path), file));
                }
            }
        }
        Ok(())
    }
}

impl listing::KnownDigests for PreviousDigests {
    fn lookup(&mut self, entry: &FileEntry) -> Result<Option<[u8; 32]>, ListError> {
        let key = key::file_key(&self.base, &entry.path);
        loop {
            while self
                .rows
                .front()
                .is_some_and(|(row_key, _)| row_key.as_slice() < key.as_slice())
            {
                self.rows.pop_front();
            }
            if let Some((row_key, old)) = self.rows.front() {
                let same = *row_key == key
                    && old.size == entry.size
                    && old.etag == entry.etag
                    && old.version == entry.version
                    && old.last_modified == entry.last_modified;
                return Ok(if same { old.blake3 } else { None });
            }
            let before = self.leaves.len();
            self.read_towards(&key).map_err(|err| ListError::Previous {
                source: Box::new(err),
            })?;
            if self.rows.is_empty() && self.leaves.len() == before {
                return Ok(None);
            }
        }
    }
}

/// The version after `version`; None when its number is at the limit (a version number can
/// come from a remote, so it is never incremented unchecked).
fn bump_version(version: &semver::Version, bump: Bump) -> Option<semver::Version> {
    Some(match bump {
        Bump::Patch => {
            semver::Version::new(version.major, version.minor, version.patch.checked_add(1)?)
        }
        Bump::Minor => semver::Version::new(version.major, version.minor.checked_add(1)?, 0),
        Bump::Major => semver::Version::new(version.major.checked_add(1)?, 0, 0),
    })
}

/// Calls `each` for every non-blank line of a JSON-lines file, parsed.
fn for_each_record(path: &Path, each: &mut EachRow) -> Result<(), CommitError> {
    for_each_record_text(path, &mut |line, _, value| each(line, value))
}

/// `for_each_record`, with each record's line text.
fn for_each_record_text(
    path: &Path,
    each: &mut dyn FnMut(u64, &str, Value) -> Result<(), CommitError>,
) -> Result<(), CommitError> {
    let file = std::fs::File::open(path).map_err(|source| CommitError::ReadInput {
        what: "records from",
        path: path.to_path_buf(),
        source,
    })?;
    let reader = BufReader::with_capacity(1 << 20, file);
    for (idx, line) in reader.lines().enumerate() {
        let line_no = idx as u64 + 1;
        let line = line.map_err(|source| {
            if source.kind() == std::io::ErrorKind::InvalidData {
                CommitError::BadJson {
                    line: line_no,
                    detail: "the line is not valid UTF-8".into(),
                }
            } else {
                CommitError::ReadInput {
                    what: "records from",
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        if line.trim().is_empty() {
            continue;
        }
        // Exact floats, named int overflows and the NaN / ±Infinity tokens; see `rows::json`.
        let value: Value = crate::rows::json::parse_record(&line).map_err(|err| match err {
            crate::rows::json::ParseError::IntOutOfRange { literal } => {
                CommitError::IntOutOfRange {
                    line: line_no,
                    literal,
                }
            }
            other => CommitError::BadJson {
                line: line_no,
                detail: other.to_string(),
            },
        })?;
        each(line_no, &line, value)?;
    }
    Ok(())
}

/// A spooled record back as a value: the spool holds what `rows::canonical::encode` wrote.
fn decode_payload(payload: &[u8]) -> Result<Value, CommitError> {
    crate::rows::canonical::decode(payload).map_err(|err| {
        CommitError::Repo(RepoError::Tree(TreeError::Leaf(
            crate::rows::leaf::LeafError::Encode(err.to_string()),
        )))
    })
}

/// The row key of a normalized record: its key columns in order, or, with none, the
/// BLAKE3 of its canonical hash encoding (`payload`, from `rows::canonical::encode`).
pub(crate) fn row_key(key_columns: &[String], normalized: &Value, payload: &[u8]) -> Vec<u8> {
    if key_columns.is_empty() {
        return blake3::hash(payload).as_bytes().to_vec();
    }
    let mut key = Vec::new();
    for column in key_columns {
        key::push_value(&mut key, lookup(normalized, column));
    }
    key
}

/// Looks up a dotted column path in a normalized record.
fn lookup<'a>(value: &'a Value, path: &str) -> &'a Value {
    let mut current = value;
    for part in path.split('.') {
        current = current.get(part).unwrap_or(&Value::Null);
    }
    current
}

/// Checks key columns against the schema; a File column stands for its source and path.
fn expand_key_columns(schema: &Schema, columns: &[String]) -> Result<Vec<String>, CommitError> {
    let mut expanded = Vec::new();
    for column in columns {
        let column = column.trim();
        let mut fields = &schema.fields;
        let mut ty: Option<&Type> = None;
        for part in column.split('.') {
            let field = fields
                .iter()
                .find(|field| field.name == part)
                .ok_or_else(|| CommitError::BadKey {
                    column: column.to_string(),
                    reason: "is not a column of the schema".into(),
                })?;
            let mut inner = &field.ty;
            if let Type::Optional(boxed) = inner {
                inner = boxed;
            }
            ty = Some(inner);
            fields = match inner {
                Type::Struct(children) => children,
                Type::File | Type::FileWith(_) => &FILE_FIELDS,
                _ => &EMPTY_FIELDS,
            };
        }
        match ty {
            Some(Type::File | Type::FileWith(_)) => {
                expanded.push(format!("{column}.source"));
                expanded.push(format!("{column}.path"));
            }
            Some(Type::Struct(_)) | Some(Type::List(_)) | Some(Type::Map(_)) => {
                return Err(CommitError::BadKey {
                    column: column.to_string(),
                    reason: "is a struct or list; key columns must be scalars or File".into(),
                });
            }
            _ => expanded.push(column.to_string()),
        }
    }
    Ok(expanded)
}

struct FileEncoder {
    source: String,
}

impl RowEncoder for FileEncoder {
    type Row = FileEntry;

    fn batch(&self, rows: &[FileEntry]) -> Result<RecordBatch, TreeError> {
        Ok(crate::rows::leaf::files_batch(&self.source, rows))
    }

    fn digest(&self, hasher: &mut blake3::Hasher, row: &FileEntry) {
        crate::rows::leaf::digest_file(hasher, row);
    }
}

struct JsonEncoder {
    schema: Schema,
}

impl RowEncoder for JsonEncoder {
    type Row = Vec<u8>;

    fn batch(&self, rows: &[Vec<u8>]) -> Result<RecordBatch, TreeError> {
        let values: Vec<Value> = rows
            .iter()
            .map(|payload| {
                crate::rows::canonical::decode(payload).map_err(|err| {
                    TreeError::Leaf(crate::rows::leaf::LeafError::Encode(err.to_string()))
                })
            })
            .collect::<Result<_, _>>()?;
        schema::rows_to_batch(&self.schema, &values)
            .map_err(|err| TreeError::Leaf(crate::rows::leaf::LeafError::Encode(err.to_string())))
    }

    fn digest(&self, hasher: &mut blake3::Hasher, row: &Vec<u8>) {
        hasher.update(&(row.len() as u64).to_le_bytes());
        hasher.update(row);
    }
}

/// Leaves read per opening of the database.
const PREVIOUS_LEAVES_PER_READ: usize = 16;

static EMPTY_FIELDS: Vec<schema::Field> = Vec::new();

static FILE_FIELDS: std::sync::LazyLock<Vec<schema::Field>> =
    std::sync::LazyLock::new(schema::file_fields);

/// What a node entry must say about a leaf, recomputed from the leaf's rows the way the
/// commit that names it built them (`FileEncoder` for a listing, `JsonEncoder` otherwise):
/// row count, key range, digest, File bytes and column stats. Pull checks pulled entries
/// against it, so a forged entry cannot pass a leaf off under another chunk's digest.
pub(crate) fn describe_leaf(
    commit: &Commit,
    schema: &Schema,
    batches: &[RecordBatch],
) -> Result<Child, String> {
    let listing = commit
        .inputs
        .iter()
        .any(|input| matches!(input, Input::Source { .. }));
    let mut hasher = blake3::Hasher::new();
    hasher.update(&commit.schema.0);
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut n_bytes = 0u64;
    let mut add = |key: Vec<u8>, hasher: &mut blake3::Hasher| -> Result<(), String> {
        if keys.last().is_some_and(|last| *last >= key) {
            return Err("its rows' keys do not ascend".into());
        }
        hasher.update(&(key.len() as u64).to_le_bytes());
        hasher.update(&key);
        // Only the first and last keys are needed.
        if keys.len() == 2 {
            keys.pop();
        }
        keys.push(key);
        Ok(())
    };
    for batch in batches {
        n_bytes = n_bytes.saturating_add(crate::rows::leaf::file_bytes(schema, batch));
        if listing {
            let files =
                crate::rows::leaf::files_from_batch(batch).map_err(|err| err.to_string())?;
            for (source, file) in files {
                add(key::file_key(&source, &file.path), &mut hasher)?;
                crate::rows::leaf::digest_file(&mut hasher, &file);
            }
        } else {
            let rows = schema::batch_to_rows(schema, batch).map_err(|err| err.to_string())?;
            for value in rows {
                let normalized = schema
                    .validate(&value)
                    .map_err(|violation| violation.to_string())?;
                // The payload the commit hashed: the canonical hash encoding since commit
                // format 2, JSON text before it.
                let payload = if commit.format >= 2 {
                    crate::rows::canonical::encode(&normalized)
                } else {
                    serde_json::to_vec(&normalized).map_err(|err| err.to_string())?
                };
                add(row_key(&commit.key, &normalized, &payload), &mut hasher)?;
                hasher.update(&(payload.len() as u64).to_le_bytes());
                hasher.update(&payload);
            }
        }
    }
    let n_rows = batches.iter().map(|batch| batch.num_rows() as u64).sum();
    let stats = match batches {
        [] => Vec::new(),
        [batch] => crate::rows::leaf::column_stats(batch),
        _ => {
            let all = datafusion::arrow::compute::concat_batches(&batches[0].schema(), batches)
                .map_err(|err| err.to_string())?;
            crate::rows::leaf::column_stats(&all)
        }
    };
    let last_key = keys.last().cloned().unwrap_or_default();
    let first_key = keys.into_iter().next().unwrap_or_default();
    Ok(Child {
        id: ObjectId([0; 32]),
        first_key: serde_bytes::ByteBuf::from(first_key),
        last_key: serde_bytes::ByteBuf::from(last_key),
        n_rows,
        n_bytes,
        digest: ObjectId(*hasher.finalize().as_bytes()),
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // #12 item 11: a version number from outside never wraps when bumped.
    #[test]
    fn a_version_at_the_limit_has_no_next_version() {
        let max = u64::MAX;
        let at = |major, minor, patch| semver::Version::new(major, minor, patch);
        assert_eq!(bump_version(&at(1, 0, max), Bump::Patch), None);
        assert_eq!(bump_version(&at(1, max, 0), Bump::Minor), None);
        assert_eq!(bump_version(&at(max, 0, 0), Bump::Major), None);
        assert_eq!(bump_version(&at(1, 0, max), Bump::Minor), Some(at(1, 1, 0)));
        assert_eq!(bump_version(&at(1, 2, 3), Bump::Patch), Some(at(1, 2, 4)));
        assert_eq!(bump_version(&at(1, 2, 3), Bump::Major), Some(at(2, 0, 0)));
    }
}
