//! Compiled summaries: per-version statistics computed while a commit streams its rows,
//! stored as a `summary` object the commit names, and rendered as a Markdown page with a
//! hard size bound so that an agent learns a dataset in one read.
//!
//! Every statistic is independent of the order rows arrive in (min/max, counts, a
//! k-minimum-values distinct estimate, maps dropped as a whole when they grow past a cap),
//! so the same rows always give the same summary bytes; only the example rows depend on
//! order, and they are taken in row-key order.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::listing::FileEntry;
use crate::object::{Child, CodecError, Commit, CommitId, Input, Kind, Manifest, ObjectId, encode};
use crate::repo::{Repo, RepoError, Resolved, version_of};
use crate::rows::leaf_children;
use crate::schema::Compat;
use crate::schema::{Field, Schema, Type};

/// The manifest format version of summary objects.
pub(crate) const SUMMARY_FORMAT: u32 = 1;
/// Example rows kept per version.
pub(crate) const EXAMPLE_ROWS: usize = 3;
/// Strings in min/max, top values and example rows are cut to this many characters.
pub(crate) const TEXT_MAX: usize = 64;
/// Values per column counted exactly; past this the column counts as high-cardinality.
const LOW_CARDINALITY: usize = 64;
/// Top values stored per column, sources and extensions per File column.
const TOP_VALUES: usize = 10;
const TOP_FILE_VALUES: usize = 16;
/// Distinct sources/extensions counted exactly per File column before giving up.
const FILE_VALUE_CAP: usize = 1024;
/// k of the k-minimum-values distinct estimate.
const KMV_K: usize = 256;
/// Upper bounds (inclusive) of the File size buckets; a last bucket holds the rest.
pub(crate) const SIZE_BUCKETS: [u64; 6] =
    [1 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20, 4 << 30];

/// What pail knows about one dataset version without reading its rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub format: u32,
    pub n_rows: u64,
    /// Sum of the sizes of the rows' top-level File columns (as the commit's `n_bytes`).
    pub n_bytes: u64,
    /// One entry per column, flattened through structs and File (`file.path`).
    pub columns: Vec<ColumnSummary>,
    /// One entry per File column (not inside a list).
    pub files: Vec<FileSummary>,
    /// The first rows in key order, compact JSON with long strings cut.
    pub examples: Vec<String>,
    pub lineage: Lineage,
    /// What changed since the first parent; None for a first version.
    pub changes: Option<Changes>,
}

/// Statistics of one flattened column. For a list column the value statistics are over
/// its items and `lengths` describes the lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSummary {
    pub column: String,
    /// The type as `pail schema` prints it (`optional<int>`, `list<string>`).
    pub ty: String,
    /// Rows where the column (or a struct holding it) is null.
    pub n_nulls: u64,
    pub min: Option<Scalar>,
    pub max: Option<Scalar>,
    /// Distinct non-null values (list items for a list column).
    pub distinct: u64,
    /// Whether `distinct` is exact rather than an estimate.
    pub distinct_exact: bool,
    /// Most frequent values, by count then value; every value of an enum, in declaration
    /// order; empty when the column has more than 64 distinct values.
    pub top: Vec<ValueCount>,
    pub lengths: Option<Lengths>,
}

/// A min or max value. Datetimes are RFC 3339 text in UTC with microseconds, which sorts
/// as time does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

/// A value and how many rows have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

/// Lengths of the non-null lists of a list column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lengths {
    pub min: u64,
    pub max: u64,
    pub total: u64,
}

/// The files a File column points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    pub column: String,
    pub n_files: u64,
    /// Most frequent sources; empty when there are more than 1,024.
    pub sources: Vec<ValueCount>,
    pub n_sources: u64,
    /// Most frequent extensions (lowercase, without the dot; `""` for none); empty when
    /// there are more than 1,024.
    pub extensions: Vec<ValueCount>,
    pub n_extensions: u64,
    pub sizes: SizeStats,
}

/// Distribution of the file sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeStats {
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub total: u64,
    /// Files per bucket: one count per bound of `SIZE_BUCKETS` (size ≤ bound) plus one for
    /// larger files.
    pub buckets: Vec<u64>,
    /// Files without a recorded size.
    pub unknown: u64,
}

/// Who made the version, from what, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    pub parents: Vec<CommitId>,
    pub inputs: Vec<Input>,
    /// Paths of the embedded code files.
    pub code: Vec<String>,
    pub author: String,
    /// Microseconds since the Unix epoch, UTC.
    pub time: i64,
    pub message: String,
    pub command: Vec<String>,
}

/// The difference to the first parent, in counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    pub parent: CommitId,
    pub n_rows_before: u64,
    pub n_bytes_before: u64,
    /// Human descriptions of schema changes; empty when the schema is the same.
    pub schema_changes: Vec<String>,
    /// Row-tree leaves shared with the parent, and written new.
    pub leaves_reused: u64,
    pub leaves_written: u64,
}

impl Summary {
    /// The object id and the canonical CBOR bytes.
    pub fn encode(&self) -> (ObjectId, Vec<u8>) {
        let bytes = encode(self);
        (ObjectId::compute(Kind::Summary, &bytes), bytes)
    }

    /// `Manifest::decode`, the one decoder of manifests, callable without importing
    /// the trait.
    pub fn decode(bytes: &[u8]) -> Result<Summary, CodecError> {
        <Summary as Manifest>::decode(bytes)
    }
}

impl Manifest for Summary {
    const KIND: Kind = Kind::Summary;
    const FORMAT: u32 = SUMMARY_FORMAT;
    fn format(&self) -> u32 {
        self.format
    }
}

// ---- computing -----------------------------------------------------------------------

/// How one flattened column is read out of a JSON row.
struct Plan {
    path: Vec<String>,
    column: String,
    ty: Type,
    /// The type with `optional` peeled off (the item type for a list).
    base: Type,
    list: bool,
}

fn plan_columns(fields: &[Field], prefix: &mut Vec<String>, plans: &mut Vec<Plan>) {
    for field in fields {
        prefix.push(field.name.clone());
        let mut base = &field.ty;
        if let Type::Optional(inner) = base {
            base = inner;
        }
        match base {
            Type::Struct(children) if !children.is_empty() => plan_columns(children, prefix, plans),
            Type::File | Type::FileWith(_) => plan_columns(
                &base.file_struct_fields().unwrap_or_default(),
                prefix,
                plans,
            ),
            Type::List(item) => {
                let mut item = item.as_ref();
                if let Type::Optional(inner) = item {
                    item = inner;
                }
                plans.push(Plan {
                    path: prefix.clone(),
                    column: prefix.join("."),
                    ty: field.ty.clone(),
                    base: item.clone(),
                    list: true,
                });
            }
            other => plans.push(Plan {
                path: prefix.clone(),
                column: prefix.join("."),
                ty: field.ty.clone(),
                base: other.clone(),
                list: false,
            }),
        }
        prefix.pop();
    }
}

fn file_paths(fields: &[Field], prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for field in fields {
        prefix.push(field.name.clone());
        let mut base = &field.ty;
        if let Type::Optional(inner) = base {
            base = inner;
        }
        match base {
            Type::File | Type::FileWith(_) => out.push(prefix.clone()),
            Type::Struct(children) => file_paths(children, prefix, out),
            _ => {}
        }
        prefix.pop();
    }
}

fn at<'a>(row: &'a Value, path: &[String]) -> &'a Value {
    let mut current = row;
    for part in path {
        current = current.get(part).unwrap_or(&Value::Null);
    }
    current
}

/// Cuts a string to `max` characters, marking the cut with `…`.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn kmv_hash(text: &str) -> u64 {
    let hash = blake3::hash(text.as_bytes());
    u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"))
}

#[derive(Default)]
struct ValueStats {
    min: Option<Scalar>,
    max: Option<Scalar>,
    /// Exact counts while there are at most `LOW_CARDINALITY` values; None after.
    counts: Option<BTreeMap<String, u64>>,
    /// The `KMV_K` smallest hashes seen.
    kmv: BTreeSet<u64>,
}

impl ValueStats {
    fn new() -> ValueStats {
        ValueStats {
            counts: Some(BTreeMap::new()),
            ..ValueStats::default()
        }
    }

    fn observe(&mut self, base: &Type, value: &Value) {
        let (scalar, text) = match (base, value) {
            (Type::Bool, Value::Bool(b)) => (Some(Scalar::Bool(*b)), b.to_string()),
            (Type::Int, Value::Number(n)) => match n.as_i64() {
                Some(i) => (Some(Scalar::Int(i)), i.to_string()),
                None => return,
            },
            (Type::Float, Value::Number(n)) => {
                // Kept bit for bit, -0.0 included: `less` orders floats totally, so the
                // min and max do not depend on the order rows come in.
                let f = n.as_f64().unwrap_or(0.0);
                (Some(Scalar::Float(f)), f.to_string())
            }
            // NaN and ±inf (the strings "NaN", "Infinity", "-Infinity" in a row): counted
            // as values, but the min and max are of the finite floats.
            (Type::Float, Value::String(s)) => (None, s.clone()),
            // Bytes are base64: their order means nothing, so no min/max; nor is there one
            // across a union's variants.
            (Type::Bytes | Type::BytesAs(_) | Type::Union { .. }, Value::String(s)) => {
                (None, s.clone())
            }
            // Decimals and durations order by value, not by their text.
            (Type::Decimal { .. } | Type::Duration, Value::String(s)) => {
                let text = Scalar::Text(s.clone());
                let value_less = |a: &Scalar, b: &Scalar| match (a, b) {
                    (Scalar::Text(a), Scalar::Text(b)) => {
                        crate::schema::value_order(base, a, b).is_some_and(|order| order.is_lt())
                    }
                    _ => false,
                };
                self.observe_ordered(Some(text), s.clone(), &value_less);
                return;
            }
            (_, Value::String(s)) => (Some(Scalar::Text(s.clone())), s.clone()),
            (_, other) => (None, other.to_string()),
        };
        self.observe_text(scalar, text);
    }

    /// Counts one non-null value: its place in the order (None where order means
    /// nothing) and its text, which distinct counts and top values go by.
    fn observe_text(&mut self, scalar: Option<Scalar>, text: String) {
        self.observe_ordered(scalar, text, &less);
    }

    /// `observe_text` with the order `less` of the scalars.
    fn observe_ordered(
        &mut self,
        scalar: Option<Scalar>,
        text: String,
        less: &dyn Fn(&Scalar, &Scalar) -> bool,
    ) {
        if let Some(scalar) = scalar {
            if self.min.as_ref().is_none_or(|min| less(&scalar, min)) {
                self.min = Some(scalar.clone());
            }
            if self.max.as_ref().is_none_or(|max| less(max, &scalar)) {
                self.max = Some(scalar);
            }
        }
        self.count(&text);
    }

    /// `observe_text` of a text value, copied only where it is kept (a listing observes
    /// every file's path, etag and time).
    fn observe_str(&mut self, text: &str) {
        let is_less = |a: &str, b: &Scalar| matches!(b, Scalar::Text(b) if a < b.as_str());
        let is_more = |a: &str, b: &Scalar| matches!(b, Scalar::Text(b) if b.as_str() < a);
        if self.min.as_ref().is_none_or(|min| is_less(text, min)) {
            self.min = Some(Scalar::Text(text.to_string()));
        }
        if self.max.as_ref().is_none_or(|max| is_more(text, max)) {
            self.max = Some(Scalar::Text(text.to_string()));
        }
        self.count(text);
    }

    /// Counts a value's text for the distinct count and the top values.
    fn count(&mut self, text: &str) {
        let hash = kmv_hash(text);
        if self.kmv.len() < KMV_K {
            self.kmv.insert(hash);
        } else if let Some(&largest) = self.kmv.last()
            && hash < largest
            && self.kmv.insert(hash)
        {
            self.kmv.pop_last();
        }
        if let Some(counts) = &mut self.counts {
            if text.chars().count() > 4 * TEXT_MAX {
                // Long text is not a category.
                self.counts = None;
            } else {
                match counts.get_mut(text) {
                    Some(count) => *count += 1,
                    None => {
                        counts.insert(text.to_string(), 1);
                    }
                }
                if counts.len() > LOW_CARDINALITY {
                    self.counts = None;
                }
            }
        }
    }

    fn distinct(&self) -> (u64, bool) {
        if let Some(counts) = &self.counts {
            return (counts.len() as u64, true);
        }
        if self.kmv.len() < KMV_K {
            return (self.kmv.len() as u64, true);
        }
        let kth = *self.kmv.last().expect("k hashes") as f64;
        let estimate = (KMV_K as f64 - 1.0) * (u64::MAX as f64) / kth.max(1.0);
        (estimate.round() as u64, false)
    }

    fn top(&self, enum_values: Option<&[String]>) -> Vec<ValueCount> {
        if let Some(values) = enum_values {
            let counts = self.counts.clone().unwrap_or_default();
            return values
                .iter()
                .map(|value| ValueCount {
                    value: value.clone(),
                    count: counts.get(value).copied().unwrap_or(0),
                })
                .collect();
        }
        let Some(counts) = &self.counts else {
            return Vec::new();
        };
        let mut top: Vec<ValueCount> = counts
            .iter()
            .map(|(value, count)| ValueCount {
                value: truncate(value, TEXT_MAX),
                count: *count,
            })
            .collect();
        top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        top.truncate(TOP_VALUES);
        top
    }
}

fn less(a: &Scalar, b: &Scalar) -> bool {
    match (a, b) {
        (Scalar::Bool(a), Scalar::Bool(b)) => a < b,
        (Scalar::Int(a), Scalar::Int(b)) => a < b,
        (Scalar::Float(a), Scalar::Float(b)) => a.total_cmp(b).is_lt(),
        (Scalar::Text(a), Scalar::Text(b)) => a < b,
        _ => false,
    }
}

fn cut_scalar(scalar: Option<Scalar>) -> Option<Scalar> {
    scalar.map(|scalar| match scalar {
        Scalar::Text(text) => Scalar::Text(truncate(&text, TEXT_MAX)),
        other => other,
    })
}

struct ColumnState {
    plan: Plan,
    n_nulls: u64,
    values: ValueStats,
    lengths: Option<Lengths>,
}

struct FileState {
    path: Vec<String>,
    n_files: u64,
    sources: Option<BTreeMap<String, u64>>,
    extensions: Option<BTreeMap<String, u64>>,
    sizes: SizeStats,
}

impl FileState {
    fn observe(&mut self, source: &str, path: &str, size: Option<u64>) {
        self.n_files += 1;
        count_capped(&mut self.sources, source);
        count_capped(&mut self.extensions, &extension(path));
        match size {
            Some(size) => {
                let sizes = &mut self.sizes;
                sizes.min = Some(sizes.min.map_or(size, |min| min.min(size)));
                sizes.max = Some(sizes.max.map_or(size, |max| max.max(size)));
                sizes.total += size;
                let bucket = SIZE_BUCKETS
                    .iter()
                    .position(|bound| size <= *bound)
                    .unwrap_or(SIZE_BUCKETS.len());
                sizes.buckets[bucket] += 1;
            }
            None => self.sizes.unknown += 1,
        }
    }
}

fn count_capped(map: &mut Option<BTreeMap<String, u64>>, key: &str) {
    if let Some(counts) = map {
        if let Some(count) = counts.get_mut(key) {
            *count += 1;
        } else {
            counts.insert(key.to_string(), 1);
            if counts.len() > FILE_VALUE_CAP {
                *map = None;
            }
        }
    }
}

fn top_of(map: &Option<BTreeMap<String, u64>>) -> (Vec<ValueCount>, u64) {
    let Some(counts) = map else {
        return (Vec::new(), 0);
    };
    let mut top: Vec<ValueCount> = counts
        .iter()
        .map(|(value, count)| ValueCount {
            value: truncate(value, TEXT_MAX),
            count: *count,
        })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    top.truncate(TOP_FILE_VALUES);
    (top, counts.len() as u64)
}

/// The extension of a storage path: lowercase, without the dot, `""` when there is none.
pub(crate) fn extension(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => ext.to_lowercase(),
        _ => String::new(),
    }
}

/// Accumulates the statistics of a version's rows in bounded memory: a few hundred values
/// per column, whatever the row count.
pub(crate) struct SummaryBuilder {
    /// The rows' schema: example rows are written in its declared field order.
    schema: Schema,
    columns: Vec<ColumnState>,
    files: Vec<FileState>,
    examples: Vec<String>,
    n_rows: u64,
}

/// What a builder produced: the part of a summary that comes from the rows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowStats {
    pub n_rows: u64,
    pub columns: Vec<ColumnSummary>,
    pub files: Vec<FileSummary>,
    pub examples: Vec<String>,
}

impl SummaryBuilder {
    pub fn new(schema: &Schema) -> SummaryBuilder {
        let mut plans = Vec::new();
        plan_columns(&schema.fields, &mut Vec::new(), &mut plans);
        let mut paths = Vec::new();
        file_paths(&schema.fields, &mut Vec::new(), &mut paths);
        SummaryBuilder {
            schema: schema.clone(),
            columns: plans
                .into_iter()
                .map(|plan| ColumnState {
                    lengths: None,
                    n_nulls: 0,
                    values: ValueStats::new(),
                    plan,
                })
                .collect(),
            files: paths
                .into_iter()
                .map(|path| FileState {
                    path,
                    n_files: 0,
                    sources: Some(BTreeMap::new()),
                    extensions: Some(BTreeMap::new()),
                    sizes: SizeStats {
                        min: None,
                        max: None,
                        total: 0,
                        buckets: vec![0; SIZE_BUCKETS.len() + 1],
                        unknown: 0,
                    },
                })
                .collect(),
            examples: Vec::new(),
            n_rows: 0,
        }
    }

    /// The statistics so far under `schema`, a schema with the same columns as the one
    /// they were counted under (some of its optional fields required): a commit of Arrow
    /// data settles nullability after its rows were counted.
    pub fn retype(&mut self, schema: &Schema) {
        let mut plans = Vec::new();
        plan_columns(&schema.fields, &mut Vec::new(), &mut plans);
        debug_assert_eq!(plans.len(), self.columns.len());
        for (state, plan) in self.columns.iter_mut().zip(plans) {
            debug_assert_eq!(state.plan.path, plan.path);
            state.plan = plan;
        }
        self.schema = schema.clone();
    }

    /// Counts one row (a JSON object as the schema normalizes it) into the statistics.
    /// Order does not matter here; examples come from `example`.
    pub fn observe(&mut self, row: &Value) {
        self.n_rows += 1;
        for state in &mut self.columns {
            let value = at(row, &state.plan.path);
            match value {
                Value::Null => state.n_nulls += 1,
                Value::Array(items) if state.plan.list => {
                    let len = items.len() as u64;
                    state.lengths = Some(match state.lengths.take() {
                        None => Lengths {
                            min: len,
                            max: len,
                            total: len,
                        },
                        Some(lengths) => Lengths {
                            min: lengths.min.min(len),
                            max: lengths.max.max(len),
                            total: lengths.total + len,
                        },
                    });
                    if !matches!(
                        state.plan.base,
                        Type::Struct(_) | Type::List(_) | Type::File | Type::FileWith(_)
                    ) {
                        for item in items.iter().filter(|item| !item.is_null()) {
                            state.values.observe(&state.plan.base, item);
                        }
                    }
                }
                value => state.values.observe(&state.plan.base, value),
            }
        }
        for state in &mut self.files {
            let file = at(row, &state.path);
            let Some(path) = file.get("path").and_then(Value::as_str) else {
                continue;
            };
            let source = file.get("source").and_then(Value::as_str).unwrap_or("");
            state.observe(source, path, file.get("size").and_then(Value::as_u64));
        }
    }

    /// Counts one listed file exactly as `observe` counts the row `{"file": {…}}` that a
    /// listing stores for it, without building that row: a listing commit sees every file
    /// of a bucket, and the JSON detour cost more than listing them. Only for a builder
    /// made from `Schema::listing()`.
    pub fn observe_listed(&mut self, source: &str, file: &FileEntry) {
        self.n_rows += 1;
        let [
            source_c,
            path_c,
            size_c,
            etag_c,
            version_c,
            modified_c,
            blake3_c,
        ] = &mut self.columns[..]
        else {
            panic!("observe_listed needs a builder of the listing schema");
        };
        let text = |state: &mut ColumnState, value: Option<&str>| match value {
            Some(value) => state.values.observe_str(value),
            None => state.n_nulls += 1,
        };
        text(source_c, Some(source));
        text(path_c, Some(&file.path));
        let size = file.size as i64;
        size_c
            .values
            .observe_text(Some(Scalar::Int(size)), size.to_string());
        text(etag_c, Some(&file.etag));
        text(version_c, file.version.as_deref());
        // A time chrono cannot represent has no text; the row's reader fails on it too.
        let modified = chrono::DateTime::from_timestamp_micros(file.last_modified)
            .map(|datetime| crate::schema::format_datetime(&datetime));
        text(modified_c, modified.as_deref());
        let hash = file.blake3.as_ref().map(crate::rows::leaf::hex);
        text(blake3_c, hash.as_deref());
        self.files[0].observe(source, &file.path, Some(file.size));
    }

    /// Offers a row as an example; rows must be offered in key order. Returns whether more
    /// examples are wanted.
    pub fn example(&mut self, row: &Value) -> bool {
        if self.examples.len() < EXAMPLE_ROWS {
            let cut = cut_strings(row);
            self.examples.push(
                serde_json::to_string(&self.schema.ordered(&cut)).expect("JSON values serialize"),
            );
        }
        self.examples.len() < EXAMPLE_ROWS
    }

    pub fn wants_examples(&self) -> bool {
        self.examples.len() < EXAMPLE_ROWS
    }

    pub fn finish(self) -> RowStats {
        let columns = self
            .columns
            .into_iter()
            .map(|state| {
                let enum_values = match &state.plan.base {
                    Type::Enum(values) => Some(values.as_slice()),
                    _ => None,
                };
                let (distinct, distinct_exact) = state.values.distinct();
                ColumnSummary {
                    column: state.plan.column.clone(),
                    ty: state.plan.ty.to_string(),
                    n_nulls: state.n_nulls,
                    top: state.values.top(enum_values),
                    min: cut_scalar(state.values.min),
                    max: cut_scalar(state.values.max),
                    distinct,
                    distinct_exact,
                    lengths: if state.plan.list {
                        Some(state.lengths.unwrap_or(Lengths {
                            min: 0,
                            max: 0,
                            total: 0,
                        }))
                    } else {
                        None
                    },
                }
            })
            .collect();
        let files = self
            .files
            .into_iter()
            .map(|state| {
                let (sources, n_sources) = top_of(&state.sources);
                let (extensions, n_extensions) = top_of(&state.extensions);
                FileSummary {
                    column: state.path.join("."),
                    n_files: state.n_files,
                    sources,
                    n_sources,
                    extensions,
                    n_extensions,
                    sizes: state.sizes,
                }
            })
            .collect();
        RowStats {
            n_rows: self.n_rows,
            columns,
            files,
            examples: self.examples,
        }
    }
}

fn cut_strings(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(truncate(text, TEXT_MAX)),
        Value::Array(items) => {
            let mut cut: Vec<Value> = items.iter().take(8).map(cut_strings).collect();
            if items.len() > 8 {
                cut.push(Value::String(format!("… {} more", items.len() - 8)));
            }
            Value::Array(cut)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), cut_strings(value)))
                .collect(),
        ),
        other => other.clone(),
    }
}

// ---- rendering -----------------------------------------------------------------------

/// Tokens are estimated at this many characters each.
pub(crate) const CHARS_PER_TOKEN: usize = 4;
/// The default token budget of a summary page.
pub const DEFAULT_MAX_TOKENS: usize = 2000;

/// What a page says about the version besides its summary: the names refs give it.
#[derive(Debug, Clone)]
pub struct PageInfo {
    pub name: String,
    pub version: Option<String>,
    pub id: CommitId,
    pub tags: Vec<String>,
    /// Column paths of the row key; empty: the row's content hash.
    pub key: Vec<String>,
    /// Versions of the parents where refs name them, parallel to `lineage.parents`.
    pub parent_versions: Vec<Option<String>>,
}

/// A page that refuses any line that would take it over its bound.
struct Page {
    out: String,
    used: usize,
    budget: usize,
}

impl Page {
    fn fits(&self, chars: usize) -> bool {
        self.used + chars <= self.budget
    }

    fn line_cost(line: &str) -> usize {
        crate::escape::escape_text(line).chars().count() + 1
    }

    /// Adds a line if it fits, whole. Control characters from the data (authors,
    /// messages, column names, values) are escaped: agents and terminals read this page.
    fn line(&mut self, line: &str) -> bool {
        let line = crate::escape::escape_text(line);
        let line = line.as_ref();
        let cost = Page::line_cost(line);
        if !self.fits(cost) {
            return false;
        }
        self.out.push_str(line);
        self.out.push('\n');
        self.used += cost;
        true
    }

    /// Adds all lines or none.
    fn block(&mut self, lines: &[String]) -> bool {
        let cost: usize = lines.iter().map(|line| Page::line_cost(line)).sum();
        if !self.fits(cost) {
            return false;
        }
        for line in lines {
            self.line(line);
        }
        true
    }
}

/// `1.2 MiB`-style sizes.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn scalar_text(scalar: &Scalar) -> String {
    match scalar {
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Text(text) => text.clone(),
    }
}

/// Makes text safe inside a Markdown table cell and one line long.
fn cell(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    truncate(&flat, max).replace('|', "\\|")
}

fn column_row(column: &ColumnSummary) -> String {
    let range = match (&column.min, &column.max) {
        (Some(min), Some(max)) if min == max => cell(&scalar_text(min), 40),
        (Some(min), Some(max)) => format!(
            "{} … {}",
            cell(&scalar_text(min), 30),
            cell(&scalar_text(max), 30)
        ),
        _ => String::new(),
    };
    let distinct = if column.distinct_exact {
        column.distinct.to_string()
    } else {
        format!("~{}", column.distinct)
    };
    let mut notes = Vec::new();
    if let Some(lengths) = &column.lengths {
        notes.push(format!("len {}–{}", lengths.min, lengths.max));
    }
    // Values seen once each say nothing a reader can use; an enum's counts always do.
    let is_enum = column.ty.contains("enum(");
    let repeats = column.top.first().is_some_and(|value| value.count > 1);
    if !column.top.is_empty() && column.distinct > 1 && (is_enum || repeats) {
        let top: Vec<String> = column
            .top
            .iter()
            .take(5)
            .map(|value| format!("{} ({})", cell(&value.value, 24), value.count))
            .collect();
        let more = if column.top.len() > 5 { ", …" } else { "" };
        notes.push(format!("{}{more}", top.join(", ")));
    }
    format!(
        "| {} | {} | {} | {} | {} | {} |",
        cell(&column.column, 48),
        cell(&column.ty, 40),
        column.n_nulls,
        distinct,
        range,
        notes.join("; ")
    )
}

fn file_lines(file: &FileSummary) -> Vec<String> {
    let list = |values: &[ValueCount], n_total: u64, empty: &str| -> String {
        if values.is_empty() && n_total == 0 {
            return empty.to_string();
        }
        let shown: Vec<String> = values
            .iter()
            .take(6)
            .map(|value| {
                let name = if value.value.is_empty() {
                    "(none)".to_string()
                } else {
                    cell(&value.value, 40)
                };
                format!("{name} ({})", value.count)
            })
            .collect();
        let more = n_total.saturating_sub(shown.len() as u64);
        if more > 0 {
            format!("{}, and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    let sizes = &file.sizes;
    let mut lines = vec![format!(
        "- `{}`: {} files, {} in total",
        file.column,
        file.n_files,
        human_bytes(sizes.total)
    )];
    lines.push(format!(
        "  - sources: {}",
        list(&file.sources, file.n_sources, "more than 1024")
    ));
    lines.push(format!(
        "  - extensions: {}",
        list(&file.extensions, file.n_extensions, "more than 1024")
    ));
    if let (Some(min), Some(max)) = (sizes.min, sizes.max) {
        let mut buckets = Vec::new();
        for (idx, count) in sizes.buckets.iter().enumerate() {
            if *count == 0 {
                continue;
            }
            let label = match SIZE_BUCKETS.get(idx) {
                Some(bound) => format!("≤{}", human_bytes(*bound)),
                None => format!(">{}", human_bytes(SIZE_BUCKETS[SIZE_BUCKETS.len() - 1])),
            };
            buckets.push(format!("{label}: {count}"));
        }
        lines.push(format!(
            "  - sizes: {} … {}; {}",
            human_bytes(min),
            human_bytes(max),
            buckets.join(", ")
        ));
    }
    if sizes.unknown > 0 {
        lines.push(format!("  - {} files without a size", sizes.unknown));
    }
    lines
}

fn format_time(micros: i64) -> String {
    crate::repo::format_time(micros)
}

/// Renders the page: at most `max_tokens` × 4 characters, made of whole lines. Sections
/// that do not fit are left out or shortened (the column table keeps as many rows as fit
/// and says how many it left out).
pub(crate) fn render_markdown(summary: &Summary, info: &PageInfo, max_tokens: usize) -> String {
    let mut page = Page {
        out: String::new(),
        used: 0,
        budget: max_tokens.saturating_mul(CHARS_PER_TOKEN),
    };
    let title = match &info.version {
        Some(version) => format!("{}@{version}", info.name),
        None => format!("{}@{}", info.name, info.id.short()),
    };
    for line in &header_lines(summary, info, &title) {
        if !page.line(line) {
            return page.out;
        }
    }

    // Smaller sections are written after the table but reserved first, so a wide table
    // cannot crowd out lineage and changes.
    let changes_lines = changes_lines(summary, info);
    let lineage_lines = lineage_lines(&summary.lineage, info);
    let file_section = file_section(&summary.files);
    let remaining = page.budget.saturating_sub(page.used);
    let reserve =
        (lines_cost(&changes_lines) + lines_cost(&lineage_lines) + lines_cost(&file_section))
            .min(remaining / 3);
    write_columns(&mut page, &summary.columns, &title, reserve);
    page.block(&changes_lines);
    page.block(&file_section);
    if !page.block(&lineage_lines) {
        // Whatever lineage lines fit, in order.
        for line in &lineage_lines {
            if !page.line(line) {
                break;
            }
        }
    }
    write_examples(&mut page, &summary.examples, &title);
    page.out
}

fn lines_cost(lines: &[String]) -> usize {
    lines.iter().map(|line| Page::line_cost(line)).sum()
}

/// The title, the counts, who saved it when, the row key and tags.
fn header_lines(summary: &Summary, info: &PageInfo, title: &str) -> Vec<String> {
    let lineage = &summary.lineage;
    let mut header = vec![
        format!("# {title}"),
        String::new(),
        format!(
            "{} rows, {}, {} columns. Commit {}.",
            summary.n_rows,
            human_bytes(summary.n_bytes),
            summary.columns.len(),
            info.id.to_hex()
        ),
    ];
    header.push(format!(
        "Saved {} by {}{}.",
        format_time(lineage.time),
        truncate(&lineage.author, 80),
        if lineage.message.is_empty() {
            String::new()
        } else {
            format!(
                ": \"{}\"",
                truncate(&lineage.message.replace('\n', " "), 200)
            )
        }
    ));
    let key = if info.key.is_empty() {
        "the row's content hash".to_string()
    } else {
        info.key.join(", ")
    };
    let mut facts = format!("Row key: {key}.");
    if !info.tags.is_empty() {
        facts.push_str(&format!(" Tags: {}.", info.tags.join(", ")));
    }
    header.push(facts);
    header
}

/// `## Changes since PARENT`; empty for a first version.
fn changes_lines(summary: &Summary, info: &PageInfo) -> Vec<String> {
    let mut changes_lines = Vec::new();
    let Some(changes) = &summary.changes else {
        return changes_lines;
    };
    changes_lines.push(String::new());
    let parent = info
        .parent_versions
        .first()
        .cloned()
        .flatten()
        .unwrap_or_else(|| changes.parent.short());
    changes_lines.push(format!("## Changes since {parent}"));
    changes_lines.push(String::new());
    let delta = summary.n_rows as i128 - changes.n_rows_before as i128;
    changes_lines.push(format!(
        "- rows: {} → {} ({delta:+})",
        changes.n_rows_before, summary.n_rows
    ));
    changes_lines.push(format!(
        "- bytes: {} → {}",
        human_bytes(changes.n_bytes_before),
        human_bytes(summary.n_bytes)
    ));
    if changes.schema_changes.is_empty() {
        changes_lines.push("- schema: unchanged".to_string());
    } else {
        for change in changes.schema_changes.iter().take(10) {
            changes_lines.push(format!("- schema: {}", truncate(change, 160)));
        }
        if changes.schema_changes.len() > 10 {
            changes_lines.push(format!(
                "- schema: … {} more changes",
                changes.schema_changes.len() - 10
            ));
        }
    }
    changes_lines.push(format!(
        "- row-tree leaves: {} shared with the parent, {} new",
        changes.leaves_reused, changes.leaves_written
    ));
    changes_lines
}

/// `## Lineage`: parents, inputs, code and command.
fn lineage_lines(lineage: &Lineage, info: &PageInfo) -> Vec<String> {
    let mut lineage_lines = vec![String::new(), "## Lineage".to_string(), String::new()];
    if lineage.parents.is_empty() {
        lineage_lines.push("- parent: none (first version)".to_string());
    }
    for (idx, parent) in lineage.parents.iter().enumerate() {
        let version = info
            .parent_versions
            .get(idx)
            .cloned()
            .flatten()
            .map(|version| format!("{version} "))
            .unwrap_or_default();
        lineage_lines.push(format!("- parent: {version}({})", parent.short()));
    }
    for input in lineage.inputs.iter().take(10) {
        lineage_lines.push(match input {
            Input::Dataset {
                name,
                version,
                commit,
            } => format!("- input: dataset {name}@{version} ({})", commit.short()),
            Input::Source { uri, listed_at } => format!(
                "- input: source {} (listed {})",
                truncate(uri, 120),
                format_time(*listed_at)
            ),
        });
    }
    if !lineage.code.is_empty() {
        let code: Vec<String> = lineage.code.iter().map(|path| truncate(path, 80)).collect();
        lineage_lines.push(format!("- code: {}", truncate(&code.join(", "), 240)));
    }
    if !lineage.command.is_empty() {
        lineage_lines.push(format!(
            "- command: `{}`",
            truncate(&crate::lineage::shell_words(&lineage.command), 240).replace('`', "'")
        ));
    }
    lineage_lines
}

/// `## Files`; empty without File columns.
fn file_section(files: &[FileSummary]) -> Vec<String> {
    let mut file_section = Vec::new();
    if !files.is_empty() {
        file_section.push(String::new());
        file_section.push("## Files".to_string());
        file_section.push(String::new());
        for file in files {
            file_section.extend(file_lines(file));
        }
    }
    file_section
}

/// The column table, as many rows as fit with `reserve` left for the smaller sections,
/// or one line pointing at `pail schema` when not even its head fits.
fn write_columns(page: &mut Page, columns: &[ColumnSummary], title: &str, reserve: usize) {
    let n_columns = columns.len();
    let table_head = vec![
        String::new(),
        format!("## Columns ({n_columns})"),
        String::new(),
        "| column | type | nulls | distinct | min … max | notes |".to_string(),
        "|---|---|---|---|---|---|".to_string(),
    ];
    if page.fits(lines_cost(&table_head) + reserve) {
        page.block(&table_head);
        for (idx, column) in columns.iter().enumerate() {
            let row = column_row(column);
            let left = n_columns - idx;
            let note =
                format!("| … {left} more columns | `pail schema {title}` lists them all | | | | |");
            let last = idx + 1 == n_columns;
            let needed =
                Page::line_cost(&row) + if last { 0 } else { Page::line_cost(&note) } + reserve;
            if page.fits(needed) {
                page.line(&row);
            } else {
                page.line(&note);
                break;
            }
        }
    } else {
        page.block(&[
            String::new(),
            format!("{n_columns} columns: `pail schema {title}` lists them."),
        ]);
    }
}

/// `## Example rows`: as many whole rows as fit, or a pointer to `pail rows`.
fn write_examples(page: &mut Page, rows: &[String], title: &str) {
    if rows.is_empty() {
        return;
    }
    let mut examples = vec![
        String::new(),
        "## Example rows".to_string(),
        String::new(),
        "```json".to_string(),
    ];
    let closing = "```".to_string();
    let head_cost = lines_cost(&examples) + Page::line_cost(&closing);
    let mut shown = 0;
    let mut used = head_cost;
    for example in rows {
        let line_cost = Page::line_cost(example);
        if page.fits(used + line_cost) {
            examples.push(example.clone());
            used += line_cost;
            shown += 1;
        } else {
            break;
        }
    }
    if shown > 0 {
        examples.push(closing);
        page.block(&examples);
    } else {
        page.line(&format!(
            "\nExample rows: `pail rows {title} --limit 3 --json`."
        ));
    }
}

/// The summary of a version: the stored object, or, for a commit saved before
/// summaries existed, one computed now by streaming its rows (nothing is written).
pub fn load(repo: &Repo, commit: &Commit) -> Result<Summary, RepoError> {
    if let Some(id) = commit.summary {
        let store = repo.read_store()?;
        let reader = store.read()?;
        return Ok(Summary::decode(
            &reader.object_of_kind(&id, Kind::Summary)?,
        )?);
    }
    let schema = repo.schema(&commit.schema)?;
    let mut stats = SummaryBuilder::new(&schema);
    repo.for_each_row(commit, |row| {
        stats.observe(&row);
        stats.example(&row);
        Ok(true)
    })?;
    let stats = stats.finish();
    let changes = match commit.parents.first() {
        None => None,
        Some(parent_id) => {
            let store = repo.read_store()?;
            let reader = store.read()?;
            let parent = reader.get_commit(parent_id)?;
            let schema_changes =
                match crate::schema::compare(&reader.get_schema(&parent.schema)?, &schema) {
                    Compat::Same => Vec::new(),
                    Compat::Additive(changes) | Compat::Breaking(changes) => changes,
                };
            let before: std::collections::HashSet<ObjectId> = leaf_children(&reader, &parent.rows)?
                .into_iter()
                .map(|child| child.id)
                .collect();
            let after = leaf_children(&reader, &commit.rows)?;
            let reused = after
                .iter()
                .filter(|child| before.contains(&child.id))
                .count();
            Some(Changes {
                parent: *parent_id,
                n_rows_before: parent.n_rows,
                n_bytes_before: parent.n_bytes,
                schema_changes,
                leaves_reused: reused as u64,
                leaves_written: (after.len() - reused) as u64,
            })
        }
    };
    Ok(Summary {
        format: SUMMARY_FORMAT,
        n_rows: commit.n_rows,
        n_bytes: commit.n_bytes,
        columns: stats.columns,
        files: stats.files,
        examples: stats.examples,
        lineage: Lineage {
            parents: commit.parents.clone(),
            inputs: commit.inputs.clone(),
            code: commit.code.iter().map(|file| file.path.clone()).collect(),
            author: commit.author.clone(),
            time: commit.time,
            message: commit.message.clone(),
            command: commit.command.clone(),
        },
        changes,
    })
}

/// Leaves and the rows they hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct LeafCount {
    pub leaves: u64,
    pub rows: u64,
}

/// Row-tree leaves two versions share and hold alone. Shared leaves hold identical rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct LeafOverlap {
    pub shared: LeafCount,
    pub only_old: LeafCount,
    pub only_new: LeafCount,
}

/// Row-tree leaves two versions share and hold alone.
pub(crate) fn leaf_overlap(
    repo: &Repo,
    old: &Commit,
    new: &Commit,
) -> Result<LeafOverlap, RepoError> {
    let store = repo.read_store()?;
    let reader = store.read()?;
    let old_leaves = leaf_children(&reader, &old.rows)?;
    let new_leaves = leaf_children(&reader, &new.rows)?;
    let old_ids: std::collections::HashSet<ObjectId> =
        old_leaves.iter().map(|child| child.id).collect();
    let new_ids: std::collections::HashSet<ObjectId> =
        new_leaves.iter().map(|child| child.id).collect();
    let tally = |leaves: &[Child], keep: &dyn Fn(&ObjectId) -> bool| -> LeafCount {
        leaves
            .iter()
            .filter(|child| keep(&child.id))
            .fold(LeafCount::default(), |count, child| LeafCount {
                leaves: count.leaves + 1,
                rows: count.rows + child.n_rows,
            })
    };
    Ok(LeafOverlap {
        shared: tally(&new_leaves, &|id| old_ids.contains(id)),
        only_old: tally(&old_leaves, &|id| !new_ids.contains(id)),
        only_new: tally(&new_leaves, &|id| !old_ids.contains(id)),
    })
}

/// What a summary page says besides the summary: names, tags, parents' versions.
pub fn page_info(repo: &Repo, found: &Resolved) -> Result<PageInfo, RepoError> {
    let tags = crate::tags::tags_of(repo, &found.id)?;
    let store = repo.read_store()?;
    let reader = store.read()?;
    let parent_versions = found
        .commit
        .parents
        .iter()
        .map(|parent| {
            version_of(&reader, &found.name, parent)
                .map(|version| version.map(|version| version.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PageInfo {
        name: found.name.to_string(),
        version: found.version.as_ref().map(|version| version.to_string()),
        id: found.id,
        tags,
        key: found.commit.key.clone(),
        parent_versions,
    })
}

/// The Markdown summary page of a version, at most `max_tokens` (4 characters each).
pub fn page(repo: &Repo, found: &Resolved, max_tokens: usize) -> Result<String, RepoError> {
    let summary = load(repo, &found.commit)?;
    let info = page_info(repo, found)?;
    Ok(render_markdown(&summary, &info, max_tokens))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SCHEMA_FORMAT;
    use serde_json::json;

    /// The listing fast path must give the very statistics (hence summary bytes and
    /// commit ids) that observing the rows a reader sees gives.
    #[test]
    fn listed_files_count_as_their_rows_do() {
        let schema = Schema::listing();
        let source = "s3://bucket/prefix";
        let files: Vec<FileEntry> = (0..300u64)
            .map(|i| FileEntry {
                path: match i % 4 {
                    0 => format!("d{}/f{i}.JPG", i % 7),
                    1 => format!("noext{i}"),
                    2 => format!(".hidden{i}"),
                    _ => format!("a/b/ünï{i}.tar.gz"),
                },
                size: [0, 1024, 1025, 70_000, 5 << 30][(i % 5) as usize] + i,
                etag: format!("\"etag-{}\"", i % 50),
                version: (i % 3 == 0).then(|| format!("v{}", i % 2)),
                last_modified: -1_000_000 + (i as i64) * 1_234_567_891,
                blake3: (i % 2 == 0).then(|| *blake3::hash(&i.to_le_bytes()).as_bytes()),
            })
            .collect();
        let mut by_rows = SummaryBuilder::new(&schema);
        let batch = crate::rows::leaf::files_batch(source, &files);
        for row in crate::schema::batch_to_rows(&schema, &batch).unwrap() {
            by_rows.observe(&row);
        }
        let mut listed = SummaryBuilder::new(&schema);
        for file in &files {
            listed.observe_listed(source, file);
        }
        let (by_rows, listed) = (by_rows.finish(), listed.finish());
        assert_eq!(listed, by_rows);
        // The sample reaches the caps and both kinds of null.
        let column = |name: &str| listed.columns.iter().find(|c| c.column == name).unwrap();
        assert_eq!(column("file.version").n_nulls, 200);
        assert_eq!(column("file.blake3").n_nulls, 150);
        assert!(!column("file.path").distinct_exact);
        assert_eq!(column("file.etag").top.len(), TOP_VALUES);
    }

    fn field(name: &str, ty: Type) -> Field {
        Field {
            name: name.into(),
            ty,
        }
    }

    #[test]
    fn statistics_do_not_depend_on_row_order() {
        let schema = Schema {
            format: SCHEMA_FORMAT,
            columns: None,
            constraints: None,
            fields: vec![
                field("n", Type::Int),
                field("x", Type::Optional(Box::new(Type::Float))),
                field("tags", Type::List(Box::new(Type::String))),
            ],
        };
        let rows: Vec<Value> = (0..500)
            .map(|i| json!({"n": i, "x": if i % 7 == 0 { Value::Null } else { json!(i as f64 / 3.0) }, "tags": (0..i % 4).map(|t| format!("t{t}")).collect::<Vec<_>>()}))
            .collect();
        let mut forward = SummaryBuilder::new(&schema);
        rows.iter().for_each(|row| forward.observe(row));
        let mut backward = SummaryBuilder::new(&schema);
        rows.iter().rev().for_each(|row| backward.observe(row));
        let (a, b) = (forward.finish(), backward.finish());
        assert_eq!(a, b);
        let n = &a.columns[0];
        assert_eq!(n.min, Some(Scalar::Int(0)));
        assert_eq!(n.max, Some(Scalar::Int(499)));
        assert!(!n.distinct_exact);
        assert!((400..=650).contains(&n.distinct), "{}", n.distinct);
        assert!(n.top.is_empty());
        assert_eq!(a.columns[1].n_nulls, 72);
        let tags = &a.columns[2];
        assert_eq!(tags.distinct, 3);
        assert_eq!(
            tags.lengths,
            Some(Lengths {
                min: 0,
                max: 3,
                total: 125 * 6
            })
        );
        assert_eq!(
            tags.top[0],
            ValueCount {
                value: "t0".into(),
                count: 375
            }
        );
    }

    fn summary_with(floats: &[f64], text: &str, n_rows: u64) -> Summary {
        Summary {
            format: SUMMARY_FORMAT,
            n_rows,
            n_bytes: n_rows / 2,
            columns: floats
                .iter()
                .map(|float| ColumnSummary {
                    column: text.into(),
                    ty: "float".into(),
                    n_nulls: 1,
                    min: Some(Scalar::Float(*float)),
                    max: Some(Scalar::Text(text.into())),
                    distinct: 2,
                    distinct_exact: true,
                    top: vec![ValueCount {
                        value: text.into(),
                        count: n_rows,
                    }],
                    lengths: Some(Lengths {
                        min: 0,
                        max: n_rows,
                        total: n_rows,
                    }),
                })
                .collect(),
            files: Vec::new(),
            examples: vec![text.into()],
            lineage: Lineage {
                parents: Vec::new(),
                inputs: vec![Input::Source {
                    uri: text.into(),
                    listed_at: -1,
                }],
                code: Vec::new(),
                author: text.into(),
                time: 0,
                message: String::new(),
                command: Vec::new(),
            },
            changes: None,
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn summaries_round_trip_with_exact_floats(
            bits in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..4),
            text in "\\PC{0,12}",
            n_rows in proptest::prelude::any::<u64>(),
        ) {
            let floats: Vec<f64> = bits
                .into_iter()
                .map(f64::from_bits)
                .filter(|float| float.is_finite())
                .collect();
            let summary = summary_with(&floats, &text, n_rows);
            let (_, bytes) = summary.encode();
            let back = Summary::decode(&bytes).unwrap();
            proptest::prop_assert_eq!(&back, &summary);
            // Bit for bit, -0.0 included (PartialEq alone says -0.0 == 0.0).
            for (column, float) in back.columns.iter().zip(&floats) {
                let Some(Scalar::Float(read)) = &column.min else { panic!("a float") };
                proptest::prop_assert_eq!(read.to_bits(), float.to_bits());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_summary_decoder(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let _ = Summary::decode(&bytes);
        }

        #[test]
        fn mutated_summaries_never_panic(idx in 0usize..400, byte in proptest::prelude::any::<u8>()) {
            mutated_summary_round_trips(idx, byte);
        }
    }

    /// A summary with one byte changed decodes to an error or to a summary whose encoding
    /// decodes back to the same bytes. Bytes, not values, are compared: a mutation can make
    /// a float NaN, which is not equal to itself.
    fn mutated_summary_round_trips(idx: usize, byte: u8) {
        let (_, mut bytes) = summary_with(&[0.5, -0.0], "abc", 7).encode();
        let idx = idx % bytes.len();
        bytes[idx] = byte;
        if let Ok(summary) = Summary::decode(&bytes) {
            let (_, again) = summary.encode();
            assert_eq!(Summary::decode(&again).unwrap().encode().1, again);
        }
    }

    // A mutation that turned the minimum into NaN failed the value comparison in CI.
    #[test]
    fn a_mutated_minimum_that_becomes_nan_round_trips() {
        mutated_summary_round_trips(77, 125);
    }

    #[test]
    fn min_and_max_keep_negative_zero_whatever_the_order() {
        let schema = Schema::new(vec![field("x", Type::Float)]);
        let rows = [json!({"x": 0.0}), json!({"x": -0.0}), json!({"x": 0.0})];
        let mut forward = SummaryBuilder::new(&schema);
        rows.iter().for_each(|row| forward.observe(row));
        let mut backward = SummaryBuilder::new(&schema);
        rows.iter().rev().for_each(|row| backward.observe(row));
        let (a, b) = (forward.finish(), backward.finish());
        let bits = |scalar: &Option<Scalar>| match scalar {
            Some(Scalar::Float(float)) => float.to_bits(),
            other => panic!("{other:?}"),
        };
        assert_eq!(bits(&a.columns[0].min), (-0.0f64).to_bits());
        assert_eq!(bits(&a.columns[0].max), 0.0f64.to_bits());
        assert_eq!(bits(&b.columns[0].min), (-0.0f64).to_bits());
        assert_eq!(bits(&b.columns[0].max), 0.0f64.to_bits());
    }

    /// Decimals and durations order by value (their texts do not), a union has no order.
    #[test]
    fn decimals_and_durations_min_and_max_by_value() {
        let schema = Schema::new(vec![
            field(
                "amount",
                Type::Decimal {
                    precision: 38,
                    scale: 1,
                },
            ),
            field("took", Type::Duration),
            field(
                "answer",
                Type::Union {
                    variants: vec![field("int", Type::Int), field("string", Type::String)],
                    discriminator: None,
                },
            ),
        ]);
        let rows = [
            json!({"amount": "9.5", "took": "PT9S", "answer": "b"}),
            json!({"amount": "10.0", "took": "P1D", "answer": 1}),
            json!({"amount": "-2.0", "took": "-PT1S", "answer": "a"}),
            json!({"amount": "-10.0", "took": "PT10S", "answer": 2}),
        ];
        let mut builder = SummaryBuilder::new(&schema);
        rows.iter().for_each(|row| builder.observe(row));
        let stats = builder.finish();
        let text = |scalar: &Option<Scalar>| match scalar {
            Some(Scalar::Text(text)) => text.clone(),
            other => panic!("{other:?}"),
        };
        let amount = &stats.columns[0];
        assert_eq!(
            (text(&amount.min), text(&amount.max)),
            ("-10.0".into(), "10.0".into())
        );
        let took = &stats.columns[1];
        assert_eq!(
            (text(&took.min), text(&took.max)),
            ("-PT1S".into(), "P1D".into())
        );
        assert_eq!(
            (&stats.columns[2].min, &stats.columns[2].max),
            (&None, &None)
        );
    }

    #[test]
    fn extensions_are_lowercase_without_the_dot() {
        assert_eq!(extension("a/b/c.JPG"), "jpg");
        assert_eq!(extension("a/b.d/c"), "");
        assert_eq!(extension(".hidden"), "");
        assert_eq!(extension("x.tar.gz"), "gz");
    }

    #[test]
    fn the_page_never_exceeds_its_bound() {
        let schema = Schema {
            format: SCHEMA_FORMAT,
            columns: None,
            constraints: None,
            fields: (0..300)
                .map(|i| field(&format!("column_with_a_long_name_{i:03}"), Type::String))
                .collect(),
        };
        let mut builder = SummaryBuilder::new(&schema);
        let row: Value = Value::Object(
            (0..300)
                .map(|i| {
                    (
                        format!("column_with_a_long_name_{i:03}"),
                        json!("v".repeat(100)),
                    )
                })
                .collect(),
        );
        builder.observe(&row);
        builder.example(&row);
        let stats = builder.finish();
        let summary = Summary {
            format: SUMMARY_FORMAT,
            n_rows: stats.n_rows,
            n_bytes: 0,
            columns: stats.columns,
            files: stats.files,
            examples: stats.examples,
            lineage: Lineage {
                parents: Vec::new(),
                inputs: Vec::new(),
                code: Vec::new(),
                author: "a".into(),
                time: 0,
                message: "m".into(),
                command: vec!["pail".into()],
            },
            changes: None,
        };
        let info = PageInfo {
            name: "local.default.wide".into(),
            version: Some("1.0.0".into()),
            id: CommitId(ObjectId::compute(Kind::Commit, b"x")),
            tags: Vec::new(),
            key: Vec::new(),
            parent_versions: Vec::new(),
        };
        for tokens in [0, 10, 50, 200, 2000, 100_000] {
            let page = render_markdown(&summary, &info, tokens);
            assert!(page.chars().count() <= tokens * CHARS_PER_TOKEN, "{tokens}");
            assert!(page.is_empty() || page.ends_with('\n'));
        }
        let page = render_markdown(&summary, &info, 2000);
        assert!(page.contains("more columns"), "{page}");
        assert!(page.contains("## Lineage"), "{page}");
    }
}
