//! Row schemas: the type system, JSON Schema import, inference from JSON records, validation and normalization of
//! records, schema comparison for version bumps, and the mapping between JSON rows and Arrow record batches.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, LazyLock};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, ListArray, RecordBatch,
    RecordBatchOptions, StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{ArrowError, DataType, Fields, TimeUnit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::object::Manifest;

pub use arrow_in::{arrow_row_for, micro_durations};
pub use constraints::Constraint;
pub use nulls::NullsSeen;

mod arrow_in;
mod constraints;
mod map;
mod nulls;
mod scalar;
mod tuple;
mod variants;

pub use scalar::{DECIMAL_PRECISION, DECIMAL_SCALE, value_order};

/// The manifest format version of schema objects. A schema is written with the lowest
/// format that can say it: 3 when it carries explicit column ids (`Schema::columns`),
/// 2 when it uses `Type::BytesAs` (format 2 added it), else 1, so the schemas an older
/// format could write keep their ids.
pub const SCHEMA_FORMAT: u32 = 3;

/// The most levels of nesting a record or a schema may have: the record itself is level 1,
/// and each struct, File or list inside it adds one. Commit refuses anything deeper, and
/// every reader accepts everything up to it (`object::MAX_CBOR_DEPTH` is derived from the
/// deepest schema any writer, old or new, could produce).
pub const MAX_NESTING: usize = 64;

/// How a bytes column is written in JSON, as the declared JSON Schema says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BytesEncoding {
    /// Standard base64 with padding (RFC 4648 §4): `contentEncoding: base64`, and every
    /// bytes column of a format-1 schema (`Type::Bytes`).
    Base64,
    /// URL-safe base64 (RFC 4648 §5), written with padding: `format: base64url`,
    /// Pydantic's `ser_json_bytes='base64'`. Read as Pydantic reads it: either alphabet,
    /// padding optional.
    Base64Url,
    /// The bytes are the UTF-8 of the JSON string: `format: binary`, Pydantic's default.
    Utf8,
}

impl BytesEncoding {
    /// The name in a schema (`base64`, `hex`, ...).
    pub fn name(self) -> &'static str {
        match self {
            BytesEncoding::Base64 => "base64",
            BytesEncoding::Base64Url => "base64url",
            BytesEncoding::Utf8 => "utf8",
        }
    }

    /// The bytes a JSON string stands for, or None when it is not in this encoding.
    pub fn decode(self, text: &str) -> Option<Vec<u8>> {
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
        match self {
            BytesEncoding::Base64 => BASE64.decode(text).ok(),
            // As leniently as Pydantic reads it: either alphabet, padded or not.
            BytesEncoding::Base64Url => [&URL_SAFE, &URL_SAFE_NO_PAD, &BASE64, &STANDARD_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok()),
            BytesEncoding::Utf8 => Some(text.as_bytes().to_vec()),
        }
    }

    /// The JSON string for some bytes, or None when they cannot be written (non-UTF-8
    /// bytes in a `Utf8` column).
    pub fn encode(self, bytes: &[u8]) -> Option<String> {
        use base64::engine::general_purpose::URL_SAFE;
        match self {
            BytesEncoding::Base64 => Some(BASE64.encode(bytes)),
            BytesEncoding::Base64Url => Some(URL_SAFE.encode(bytes)),
            BytesEncoding::Utf8 => String::from_utf8(bytes.to_vec()).ok(),
        }
    }
}

/// A column type. Serialized into content-addressed CBOR, so variant and field order are part of the format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Type {
    Bool,
    Int,
    Float,
    String,
    Bytes,
    Datetime,
    File,
    Struct(Vec<Field>),
    List(Box<Type>),
    Optional(Box<Type>),
    Enum(Vec<String>),
    /// Bytes written in JSON in a declared encoding (since format 2). `Bytes` is the
    /// format-1 type, standard base64.
    BytesAs(BytesEncoding),
    /// A calendar date, `YYYY-MM-DD` (since format 3).
    Date,
    /// A time of day in µs, `HH:MM:SS.ffffff`; an offset is taken to UTC (since format 3).
    Time,
    /// A signed span in µs, ISO 8601 in JSON (`P1DT2.5S`), an int of µs in leaves and SQL
    /// (since format 3).
    Duration,
    /// A UUID kept as its lowercase hyphenated text (since format 3).
    Uuid,
    /// An exact decimal number (since format 3), written in JSON as a string with `scale`
    /// digits after the point.
    Decimal {
        precision: u8,
        scale: i8,
    },
    /// Integer literals (`IntEnum`, `Literal[1, 2]`) (since format 3).
    IntEnum(Vec<i64>),
    /// A File with extra fields after pail's File fields: a File subclass (since format
    /// 3). Still a File for keys, checkout, verify and summaries.
    FileWith(Vec<Field>),
    /// A `dict[str, X]`: string keys, values of this type (since format 3).
    Map(Box<Type>),
    /// A fixed-length `tuple[X, Y]`: a JSON array of exactly these items (since format 3).
    Tuple(Vec<Type>),
    /// `A | B`: one of the variants, each named (by its discriminator value, else its
    /// model or type name); chosen by the `discriminator` field when there is one, else
    /// the first variant that validates (since format 3).
    Union {
        variants: Vec<Field>,
        discriminator: Option<String>,
    },
}

impl Type {
    /// Whether this is a File, with or without extra fields (not through `Optional`).
    pub fn is_file(&self) -> bool {
        matches!(self, Type::File | Type::FileWith(_))
    }

    /// A File's struct fields: pail's File fields, then a File subclass's extra ones;
    /// None when this is not a File.
    pub fn file_struct_fields(&self) -> Option<std::borrow::Cow<'_, [Field]>> {
        match self {
            Type::File => Some(std::borrow::Cow::Borrowed(FILE_FIELDS.as_slice())),
            Type::FileWith(extra) => Some(std::borrow::Cow::Owned(
                FILE_FIELDS.iter().chain(extra).cloned().collect(),
            )),
            _ => None,
        }
    }

    /// How a bytes type is written in JSON; None for other types.
    pub fn bytes_encoding(&self) -> Option<BytesEncoding> {
        match self {
            Type::Bytes => Some(BytesEncoding::Base64),
            Type::BytesAs(encoding) => Some(*encoding),
            _ => None,
        }
    }

    /// Levels of nesting: 0 for a scalar, 1 + the deepest child for a struct, File or list.
    pub fn nesting(&self) -> usize {
        match self {
            Type::Optional(inner) => inner.nesting(),
            Type::List(item) => 1 + item.nesting(),
            Type::File => 1,
            Type::FileWith(extra) => 1 + fields_nesting(extra),
            Type::Map(value) => 1 + value.nesting(),
            Type::Tuple(items) => 1 + items.iter().map(Type::nesting).max().unwrap_or(0),
            Type::Union { variants, .. } => 1 + fields_nesting(variants),
            Type::Struct(fields) => 1 + fields_nesting(fields),
            _ => 0,
        }
    }

    /// Whether this type, anywhere inside, needs format 3.
    fn needs_format_3(&self) -> bool {
        match self {
            Type::Date
            | Type::Time
            | Type::Duration
            | Type::Uuid
            | Type::Decimal { .. }
            | Type::IntEnum(_)
            | Type::FileWith(_)
            | Type::Map(_)
            | Type::Tuple(_)
            | Type::Union { .. } => true,
            Type::Optional(inner) | Type::List(inner) => inner.needs_format_3(),
            Type::Struct(fields) => fields.iter().any(|field| field.ty.needs_format_3()),
            _ => false,
        }
    }

    /// Whether this type, anywhere inside, needs format 2.
    fn needs_format_2(&self) -> bool {
        match self {
            Type::BytesAs(_) => true,
            Type::Optional(inner) | Type::List(inner) => inner.needs_format_2(),
            Type::Struct(fields) => fields.iter().any(|field| field.ty.needs_format_2()),
            _ => false,
        }
    }
}

/// Ids 1, 2, ... in path order with nothing given beyond them: what no ids mean.
fn is_default_numbering(columns: &ColumnIds) -> bool {
    columns.last as usize == columns.ids.len()
        && (1u32..).zip(&columns.ids).all(|(id, c)| c.id == id)
}

fn fields_nesting(fields: &[Field]) -> usize {
    fields
        .iter()
        .map(|field| field.ty.nesting())
        .max()
        .unwrap_or(0)
}

/// A named, typed column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub ty: Type,
}

/// A dataset version's row schema: a top-level struct, its fields in the declared order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub format: u32,
    pub fields: Vec<Field>,
    /// The stable column ids (format 3) when they are not the default numbering (see
    /// [`Schema::column_ids`]); None when they are, and in every format-1 and -2 schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<ColumnIds>,
    /// Value constraints (format 3) by column path, in path order; None when there are
    /// none (see `schema::constraints`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Vec<Constraint>>,
}

/// Explicit stable column ids: one per column path, in [`Schema::column_paths`] order.
/// A dataset's column keeps its id from version to version (a new version takes its
/// parent's ids by path), and a new path gets `last + 1`, so an id is never reused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnIds {
    /// The highest id ever given in the dataset's history up to this version.
    pub last: u32,
    pub ids: Vec<ColumnId>,
}

/// One column path and its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnId {
    pub path: String,
    pub id: u32,
}

impl Manifest for Schema {
    const KIND: crate::object::Kind = crate::object::Kind::Schema;
    const FORMAT: u32 = SCHEMA_FORMAT;
    fn format(&self) -> u32 {
        self.format
    }

    /// A schema says the format its types and ids need, as pail writes it: a format-1
    /// schema with a type of format 2 (or the reverse) is forged, and would not re-encode
    /// to its id; so are explicit ids that do not number its column paths, or that are the
    /// default numbering (pail writes those as no ids).
    fn check(&self) -> Result<(), String> {
        let needed = self.needed_format();
        if needed != self.format {
            return Err(format!(
                "it says format {} but its types and ids are those of format {needed}",
                self.format
            ));
        }
        if let Some(constraints) = &self.constraints {
            let paths = self.column_paths();
            let at: Vec<Option<usize>> = constraints
                .iter()
                .map(|c| paths.iter().position(|path| *path == c.path))
                .collect();
            if constraints.is_empty()
                || at.iter().any(Option::is_none)
                || !at.windows(2).all(|pair| pair[0] < pair[1])
            {
                return Err(
                    "its constraints do not name its column paths once each, in order".to_string(),
                );
            }
        }
        match &self.columns {
            Some(columns) => self.check_columns(columns),
            None => Ok(()),
        }
    }
}

/// Why a schema or a record does not hold.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("JSON Schema{}: {reason}", location(.pointer, .field))]
    JsonSchema {
        pointer: String,
        field: String,
        reason: String,
    },
    #[error(
        "JSON Schema{}: `$ref` {reference} refers back to itself (a recursive model); \
         hint: pail schemas must be finite, so replace the self-reference with an id column",
        location(.pointer, .field)
    )]
    RecursiveRef {
        pointer: String,
        field: String,
        reference: String,
    },
    #[error("line {line}: expected a JSON object, found {found}")]
    NotAnObject { line: u64, found: String },
    #[error(
        "{}field `{path}` is nested {levels} levels deep, over the limit of {max}; \
         hint: flatten the record (move deep structs into columns of their own)",
        .line.map(|line| format!("line {line}: ")).unwrap_or_default()
    )]
    TooDeep {
        /// The record's line; None for a declared schema.
        line: Option<u64>,
        path: String,
        levels: usize,
        max: usize,
    },
    #[error(
        "line {line}: field `{field}` is {found} but was {earlier} at line {earlier_line}; \
         hint: pass --schema to declare it"
    )]
    Conflict {
        line: u64,
        field: String,
        found: String,
        earlier: String,
        earlier_line: u64,
    },
    #[error(
        "row value at `{path}` does not fit the schema: {message}; hint: validate rows before converting them"
    )]
    NotNormalized { path: String, message: String },
    #[error("Arrow column `{path}` has type {found}, but the schema says {expected}")]
    ArrowType {
        path: String,
        expected: String,
        found: DataType,
    },
    #[error("Arrow batch has no column `{column}`")]
    MissingColumn { column: String },
    #[error("could not build Arrow column `{path}`")]
    Arrow {
        path: String,
        #[source]
        source: ArrowError,
    },
}

fn location(pointer: &str, field: &str) -> String {
    if field.is_empty() {
        format!(" at {pointer}")
    } else {
        format!(" field `{field}` (at {pointer})")
    }
}

/// A record that breaks the schema. `path` is the field path (`"file.size"`, `"tags[2]"`, `""` for the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for Violation {}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Int => f.write_str("int"),
            Type::Float => f.write_str("float"),
            Type::String => f.write_str("string"),
            Type::Bytes => f.write_str("bytes"),
            Type::BytesAs(encoding) => write!(f, "bytes ({})", encoding.name()),
            Type::Datetime => f.write_str("datetime"),
            Type::File => f.write_str("File"),
            Type::Map(value) => write!(f, "map<string, {value}>"),
            Type::Tuple(items) => {
                let items: Vec<String> = items.iter().map(Type::to_string).collect();
                write!(f, "tuple<{}>", items.join(", "))
            }
            Type::Union {
                variants,
                discriminator,
            } => {
                let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
                write!(f, "union<{}>", names.join(", "))?;
                match discriminator {
                    Some(field) => write!(f, " by {field}"),
                    None => Ok(()),
                }
            }
            Type::FileWith(extra) => {
                let names: Vec<&str> = extra.iter().map(|field| field.name.as_str()).collect();
                write!(f, "File (with {})", names.join(", "))
            }
            Type::Struct(_) => f.write_str("struct"),
            Type::List(item) => write!(f, "list<{item}>"),
            Type::Optional(inner) => write!(f, "optional<{inner}>"),
            Type::Enum(values) => write!(f, "enum({})", values.join(", ")),
            Type::Date => f.write_str("date"),
            Type::Time => f.write_str("time (UTC)"),
            Type::Duration => f.write_str("duration"),
            Type::Uuid => f.write_str("string (uuid)"),
            Type::Decimal { precision, scale } => write!(f, "decimal({precision}, {scale})"),
            Type::IntEnum(values) => {
                let values: Vec<String> = values.iter().map(i64::to_string).collect();
                write!(f, "int enum({})", values.join(", "))
            }
        }
    }
}

/// A type as `pail schema` shows it: its name, with a datetime marked `(UTC)` as a time
/// is. The name alone stays `datetime`: summaries stored in commits carry it.
fn shown(ty: &Type) -> String {
    match ty {
        Type::Datetime => "datetime (UTC)".to_string(),
        Type::Map(value) => format!("map<string, {}>", shown(value)),
        Type::Tuple(items) => {
            let items: Vec<String> = items.iter().map(shown).collect();
            format!("tuple<{}>", items.join(", "))
        }
        Type::List(item) => format!("list<{}>", shown(item)),
        Type::Optional(inner) => format!("optional<{}>", shown(inner)),
        other => other.to_string(),
    }
}

/// The JSON Schema key that marks a model as a File: `"x-pail-type": "file"`.
pub const FILE_MARKER: &str = "x-pail-type";

static FILE_FIELDS: LazyLock<Vec<Field>> = LazyLock::new(|| {
    let optional = |ty: Type| Type::Optional(Box::new(ty));
    let field = |name: &str, ty: Type| Field {
        name: name.to_string(),
        ty,
    };
    vec![
        field("source", Type::String),
        field("path", Type::String),
        field("size", optional(Type::Int)),
        field("etag", optional(Type::String)),
        field("version", optional(Type::String)),
        field("last_modified", optional(Type::Datetime)),
        field("blake3", optional(Type::String)),
    ]
});

/// The fields of the File type, in their fixed order.
pub fn file_fields() -> Vec<Field> {
    FILE_FIELDS.clone()
}

/// Arrow fields for the File struct.
pub fn file_arrow_fields() -> Fields {
    arrow_fields(&FILE_FIELDS)
}

fn is_file_field(name: &str) -> bool {
    FILE_FIELDS.iter().any(|field| field.name == name)
}

fn make_optional(ty: Type) -> Type {
    match ty {
        Type::Optional(_) => ty,
        other => Type::Optional(Box::new(other)),
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// The fields a type opens into in trees and flat column lists: structs and Files, also when optional.
fn struct_children(ty: &Type) -> Option<std::borrow::Cow<'_, [Field]>> {
    match ty {
        Type::Struct(fields) => Some(std::borrow::Cow::Borrowed(fields)),
        Type::File | Type::FileWith(_) => ty.file_struct_fields(),
        Type::Optional(inner) => struct_children(inner),
        _ => None,
    }
}

impl Schema {
    /// A schema of these fields, with the default column ids and the lowest format that
    /// can say them.
    pub fn new(fields: Vec<Field>) -> Schema {
        let format = Schema::written_format(&fields, None, None);
        Schema {
            format,
            fields,
            columns: None,
            constraints: None,
        }
    }

    /// Levels of nesting of a record of this schema (the record itself is level 1).
    pub fn nesting(&self) -> usize {
        1 + fields_nesting(&self.fields)
    }

    /// Refuses a schema nested deeper than `MAX_NESTING`, naming its deepest field.
    pub fn check_nesting(&self, line: Option<u64>) -> Result<(), SchemaError> {
        fn deepest(fields: &[Field], prefix: &str, level: usize) -> Option<(String, usize)> {
            let field = fields.iter().max_by_key(|field| field.ty.nesting())?;
            let path = join(prefix, &field.name);
            let mut ty = &field.ty;
            let mut level = level;
            let mut path = path;
            loop {
                match ty {
                    Type::Optional(inner) => ty = inner,
                    Type::List(item) => {
                        level += 1;
                        path.push_str("[]");
                        ty = item;
                    }
                    Type::Struct(children) => {
                        return deepest(children, &path, level + 1).or(Some((path, level + 1)));
                    }
                    Type::File | Type::FileWith(_) => return Some((path, level + 1)),
                    _ => return Some((path, level)),
                }
            }
        }
        let levels = self.nesting();
        if levels <= MAX_NESTING {
            return Ok(());
        }
        let path = deepest(&self.fields, "", 1)
            .map(|(path, _)| path)
            .unwrap_or_default();
        Err(SchemaError::TooDeep {
            line,
            path,
            levels,
            max: MAX_NESTING,
        })
    }

    /// The schema object: CBOR with the lowest format that can say this schema (so a
    /// schema format 1 could write keeps its id), and its id.
    pub fn encode(&self) -> (crate::object::ObjectId, Vec<u8>) {
        #[derive(Serialize)]
        struct Written<'a> {
            format: u32,
            fields: &'a [Field],
            #[serde(skip_serializing_if = "Option::is_none")]
            columns: Option<&'a ColumnIds>,
            #[serde(skip_serializing_if = "Option::is_none")]
            constraints: Option<&'a [Constraint]>,
        }
        let format = self.needed_format();
        let bytes = crate::object::encode(&Written {
            format,
            fields: &self.fields,
            columns: self.columns.as_ref(),
            constraints: self.constraints.as_deref(),
        });
        (
            crate::object::ObjectId::compute(crate::object::Kind::Schema, &bytes),
            bytes,
        )
    }

    /// The format this schema is written with.
    fn needed_format(&self) -> u32 {
        Schema::written_format(
            &self.fields,
            self.columns.as_ref(),
            self.constraints.as_deref(),
        )
    }

    fn written_format(
        fields: &[Field],
        columns: Option<&ColumnIds>,
        constraints: Option<&[Constraint]>,
    ) -> u32 {
        if columns.is_some()
            || constraints.is_some()
            || fields.iter().any(|field| field.ty.needs_format_3())
        {
            3
        } else if fields.iter().any(|field| field.ty.needs_format_2()) {
            2
        } else {
            1
        }
    }

    /// Every column path, depth first in declared order: a field (`a`, `a.b` inside a
    /// struct or File), then what it holds; a list's item is `a[]` (its struct fields
    /// `a[].b`); a map's keys are `a{key}`, its values `a{value}`; a tuple's items `a[0]`,
    /// `a[1]`, ...; a union's tag `a|tag` and variants `a|name`. Optional adds no path.
    /// Each path has a stable id ([`Schema::column_ids`]).
    pub fn column_paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        column_paths_of(&self.fields, "", &mut |path, _| out.push(path));
        out
    }

    /// The type at a column path ([`Schema::column_paths`]); a union's tag and a map's
    /// keys are strings. None for a path the schema does not have.
    pub fn type_at(&self, wanted: &str) -> Option<Type> {
        let mut found = None;
        column_paths_of(&self.fields, "", &mut |path, ty| {
            if found.is_none() && path == wanted {
                found = Some(ty.clone());
            }
        });
        found
    }

    /// The stable id of every column path, in [`Schema::column_paths`] order: the explicit
    /// ids, else the default numbering 1, 2, ... in that order (what every format-1 and -2
    /// schema, and a dataset's first version, has).
    pub fn column_ids(&self) -> Vec<ColumnId> {
        match &self.columns {
            Some(columns) => columns.ids.clone(),
            None => (1u32..)
                .zip(self.column_paths())
                .map(|(id, path)| ColumnId { path, id })
                .collect(),
        }
    }

    /// The highest column id given so far in the dataset (a new path gets one more).
    pub fn last_column_id(&self) -> u32 {
        match &self.columns {
            Some(columns) => columns.last,
            None => u32::try_from(self.column_paths().len()).unwrap_or(u32::MAX),
        }
    }

    /// This schema with its column ids taken from `parent` (the dataset's latest version)
    /// by path, a new path getting the parent's last id + 1, in path order. Without a
    /// parent, or when the result is the default numbering, the ids stay implicit.
    pub fn numbered_after(mut self, parent: Option<&Schema>) -> Schema {
        self.columns = None;
        if let Some(parent) = parent {
            let mut inherited: std::collections::HashMap<String, u32> =
                std::collections::HashMap::new();
            for column in parent.column_ids() {
                inherited.entry(column.path).or_insert(column.id);
            }
            let mut used = std::collections::HashSet::new();
            let mut last = parent.last_column_id();
            let mut ids = Vec::new();
            for path in self.column_paths() {
                let id = match inherited.get(&path) {
                    Some(id) if used.insert(*id) => *id,
                    _ => {
                        last = last.saturating_add(1);
                        used.insert(last);
                        last
                    }
                };
                ids.push(ColumnId { path, id });
            }
            let columns = ColumnIds { last, ids };
            if !is_default_numbering(&columns) {
                self.columns = Some(columns);
            }
        }
        self.format = self.needed_format();
        self
    }

    fn check_columns(&self, columns: &ColumnIds) -> Result<(), String> {
        let paths = self.column_paths();
        let listed: Vec<&str> = columns.ids.iter().map(|c| c.path.as_str()).collect();
        if listed != paths.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err("its column ids do not list its column paths in order".to_string());
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(bad) = columns
            .ids
            .iter()
            .find(|c| c.id == 0 || c.id > columns.last || !seen.insert(c.id))
        {
            return Err(format!(
                "column `{}` has id {}, which is 0, over `last` ({}) or given twice",
                bad.path, bad.id, columns.last
            ));
        }
        if is_default_numbering(columns) {
            return Err("its explicit column ids are the default numbering".to_string());
        }
        Ok(())
    }

    /// Decodes a schema object of any format this pail knows: `Manifest::decode`, the
    /// one decoder of manifests, callable without importing the trait.
    pub fn decode(bytes: &[u8]) -> Result<Schema, crate::object::CodecError> {
        <Schema as Manifest>::decode(bytes)
    }

    /// The schema of a storage listing: one non-optional column `file` of type File.
    pub fn listing() -> Schema {
        Schema::new(vec![Field {
            name: "file".to_string(),
            ty: Type::File,
        }])
    }

    /// From a JSON Schema document as Pydantic v2 `Model.model_json_schema()` or Rust `schemars` emit it.
    /// A `Value` has lost the order of `properties`: fields come out sorted by name. Use
    /// [`Schema::from_json_schema_text`] to keep the model's declared order.
    pub fn from_json_schema(doc: &Value) -> Result<Schema, SchemaError> {
        Schema::read_json_schema(doc, None)
    }

    /// From a JSON Schema document and the text it was parsed from, with every model's
    /// fields in the order its `properties` declare them (Pydantic writes a model's fields
    /// in declaration order; a `Value` sorts them).
    /// Numbers (constraint bounds) are read from the text exactly, as `rows::json` reads
    /// records: serde_json may round a float to a neighbouring f64.
    pub fn from_json_schema_text(doc: &Value, text: &str) -> Result<Schema, SchemaError> {
        let order: Option<KeyOrder> = serde_json::from_str(text).ok();
        let exact = crate::rows::json::parse(text).ok();
        Schema::read_json_schema(exact.as_ref().unwrap_or(doc), order.as_ref())
    }

    fn read_json_schema(doc: &Value, order: Option<&KeyOrder>) -> Result<Schema, SchemaError> {
        let mut reader = JsonSchemaReader {
            doc,
            order,
            expanding: Vec::new(),
            n_nodes: 0,
            depth: 0,
            constraints: Vec::new(),
        };
        let root = At {
            pointer: "#".to_string(),
            field: String::new(),
        };
        match reader.read(doc, &root, None)? {
            Type::Struct(fields) => {
                let mut schema = Schema::new(fields);
                schema.check_nesting(None)?;
                schema.set_constraints(reader.constraints);
                Ok(schema)
            }
            other => Err(SchemaError::JsonSchema {
                pointer: "#".to_string(),
                field: String::new(),
                reason: format!(
                    "the root must be a model (an object with properties), found {other}"
                ),
            }),
        }
    }

    /// Checks a record and returns it normalized. The error names the first violation.
    pub fn validate(&self, record: &Value) -> Result<Value, Violation> {
        let normalized = check_struct(&self.fields, record, "", "object")?;
        if let Some(constraints) = &self.constraints {
            constraints::check_record(&self.fields, constraints, &normalized)?;
        }
        Ok(normalized)
    }

    /// Keeps `found` (constraints by column path, any order) in path order, one per path;
    /// a path this schema does not have is left out.
    fn set_constraints(&mut self, found: Vec<Constraint>) {
        let paths = self.column_paths();
        let mut kept: Vec<(usize, Constraint)> = found
            .into_iter()
            .filter_map(|c| Some((paths.iter().position(|path| *path == c.path)?, c)))
            .collect();
        kept.sort_by_key(|(at, _)| *at);
        kept.dedup_by_key(|(at, _)| *at);
        self.constraints = (!kept.is_empty()).then(|| kept.into_iter().map(|(_, c)| c).collect());
        self.format = self.needed_format();
    }

    /// The constraints on `path`, if any.
    pub fn constraint(&self, path: &str) -> Option<&Constraint> {
        self.constraints
            .as_ref()?
            .iter()
            .find(|constraint| constraint.path == path)
    }

    /// The Arrow schema of the Parquet leaves.
    pub fn to_arrow(&self) -> arrow_schema::Schema {
        arrow_schema::Schema::new(arrow_fields(&self.fields))
    }

    /// Human tree, one line per field, nested fields indented two spaces; every line ends with a newline.
    pub fn render_tree(&self) -> String {
        let mut out = String::new();
        self.render(&self.fields, "", 0, &mut out);
        out
    }

    /// `render_tree` of `fields` at column path `prefix`. A field's constraints follow
    /// its type, as Pydantic's `Field(...)`; those of what it holds (a list's items, a
    /// map's values, a tuple's items, a union's variants) follow as `a[]: Field(...)`,
    /// except those of the struct fields shown on lines of their own.
    fn render(&self, fields: &[Field], prefix: &str, depth: usize, out: &mut String) {
        for field in fields {
            let path = join(prefix, &field.name);
            let mut ty = &field.ty;
            let mut child_prefix = path.clone();
            while let Type::Optional(inner) | Type::List(inner) = ty {
                if matches!(ty, Type::List(_)) {
                    child_prefix.push_str("[]");
                }
                ty = inner;
            }
            let children = struct_children(ty);
            let shown_below = format!("{}.", &child_prefix[path.len()..]);
            let mut line = format!("{}{}: {}", "  ".repeat(depth), field.name, shown(&field.ty));
            for constraint in self.constraints.iter().flatten() {
                match constraint.path.strip_prefix(path.as_str()) {
                    Some("") => line.push_str(&format!(
                        " {}",
                        constraint.render(self.type_at(&constraint.path).as_ref())
                    )),
                    Some(below)
                        if below.starts_with(['[', '{', '|'])
                            && !(children.is_some() && below.starts_with(&shown_below)) =>
                    {
                        let shown = constraint.render(self.type_at(&constraint.path).as_ref());
                        line.push_str(&format!(" {below}: {shown}"));
                    }
                    _ => {}
                }
            }
            out.push_str(&line);
            out.push('\n');
            if let Some(children) = children {
                self.render(&children, &child_prefix, depth + 1, out);
            }
        }
    }

    /// Top-level columns of type File (or optional File), in order.
    pub fn file_columns(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|field| match &field.ty {
                Type::File | Type::FileWith(_) => true,
                Type::Optional(inner) => inner.is_file(),
                _ => false,
            })
            .map(|field| field.name.clone())
            .collect()
    }

    /// Column paths flattened through structs and File ("file.path"); lists stay one column.
    pub fn flat_columns(&self) -> Vec<String> {
        fn flatten(prefix: &str, fields: &[Field], out: &mut Vec<String>) {
            for field in fields {
                let path = join(prefix, &field.name);
                match struct_children(&field.ty) {
                    Some(children) if !children.is_empty() => flatten(&path, &children, out),
                    _ => out.push(path),
                }
            }
        }
        let mut out = Vec::new();
        flatten("", &self.fields, &mut out);
        out
    }
}

/// A row as JSON with its fields in the schema's order (`Schema::ordered`).
pub struct Ordered<'a> {
    shape: Shape<'a>,
    value: &'a Value,
}

#[derive(Clone, Copy)]
enum Shape<'a> {
    Fields(&'a [Field]),
    Of(&'a Type),
}

/// Calls `each` with every column path under `fields` (at `prefix`) and its type, depth
/// first in declared order (see [`Schema::column_paths`]).
fn column_paths_of(fields: &[Field], prefix: &str, each: &mut dyn FnMut(String, &Type)) {
    for field in fields {
        let path = join(prefix, &field.name);
        each(path.clone(), &field.ty);
        column_paths_in(&field.ty, &path, each);
    }
}

fn column_paths_in(ty: &Type, path: &str, each: &mut dyn FnMut(String, &Type)) {
    match ty {
        Type::Optional(inner) => column_paths_in(inner, path, each),
        Type::List(item) => {
            let item_path = format!("{path}[]");
            each(item_path.clone(), item);
            column_paths_in(item, &item_path, each);
        }
        Type::Struct(fields) => column_paths_of(fields, path, each),
        Type::Union { variants, .. } => {
            each(format!("{path}|{}", variants::TAG), &Type::String);
            for variant in variants {
                let variant_path = format!("{path}|{}", variant.name);
                each(variant_path.clone(), &variant.ty);
                column_paths_in(&variant.ty, &variant_path, each);
            }
        }
        Type::Tuple(items) => {
            for (idx, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{idx}]");
                each(item_path.clone(), item);
                column_paths_in(item, &item_path, each);
            }
        }
        Type::Map(value) => {
            each(format!("{path}{{key}}"), &Type::String);
            let value_path = format!("{path}{{value}}");
            each(value_path.clone(), value);
            column_paths_in(value, &value_path, each);
        }
        Type::File | Type::FileWith(_) => {
            let fields = ty.file_struct_fields().expect("a File");
            column_paths_of(&fields, path, each)
        }
        _ => {}
    }
}

impl Type {
    /// A value of this type (normalized, as `batch_to_rows` gives it) that serializes with
    /// every struct's fields in the schema's declared order.
    pub fn ordered<'a>(&'a self, value: &'a Value) -> Ordered<'a> {
        Ordered {
            shape: Shape::Of(self),
            value,
        }
    }
}

impl Schema {
    /// A row (as `batch_to_rows` or `validate` give it) that serializes with every
    /// struct's fields in the schema's declared order; a `Value` alone sorts them by name.
    pub fn ordered<'a>(&'a self, row: &'a Value) -> Ordered<'a> {
        Ordered {
            shape: Shape::Fields(&self.fields),
            value: row,
        }
    }
}

impl Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        let fields = match (self.shape, self.value) {
            (Shape::Fields(fields), _) => fields,
            (Shape::Of(Type::Struct(fields)), _) => fields.as_slice(),
            (Shape::Of(Type::File), _) => FILE_FIELDS.as_slice(),
            (Shape::Of(file @ Type::FileWith(_)), value) => {
                let fields = file.file_struct_fields().expect("a File");
                return Ordered {
                    shape: Shape::Fields(&fields),
                    value,
                }
                .serialize(serializer);
            }
            (Shape::Of(Type::Optional(inner)), value) => {
                return Ordered {
                    shape: Shape::Of(inner),
                    value,
                }
                .serialize(serializer);
            }
            (Shape::Of(Type::List(item)), Value::Array(items)) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for value in items {
                    seq.serialize_element(&Ordered {
                        shape: Shape::Of(item),
                        value,
                    })?;
                }
                return seq.end();
            }
            (
                Shape::Of(Type::Union {
                    variants,
                    discriminator,
                }),
                value,
            ) if !value.is_null() => {
                return match variants::choose(variants, discriminator.as_deref(), value, "") {
                    Ok((idx, _)) => Ordered {
                        shape: Shape::Of(&variants[idx].ty),
                        value,
                    }
                    .serialize(serializer),
                    Err(_) => value.serialize(serializer),
                };
            }
            (Shape::Of(Type::Tuple(types)), Value::Array(items)) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for (item, value) in types.iter().zip(items) {
                    seq.serialize_element(&Ordered {
                        shape: Shape::Of(item),
                        value,
                    })?;
                }
                return seq.end();
            }
            (Shape::Of(Type::Map(item)), Value::Object(entries)) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(
                        key,
                        &Ordered {
                            shape: Shape::Of(item),
                            value,
                        },
                    )?;
                }
                return map.end();
            }
            (Shape::Of(_), value) => return value.serialize(serializer),
        };
        let Value::Object(object) = self.value else {
            return self.value.serialize(serializer);
        };
        let mut map = serializer.serialize_map(Some(object.len()))?;
        let mut written = 0;
        for field in fields {
            if let Some(value) = object.get(&field.name) {
                written += 1;
                map.serialize_entry(
                    &field.name,
                    &Ordered {
                        shape: Shape::Of(&field.ty),
                        value,
                    },
                )?;
            }
        }
        if written < object.len() {
            let named: std::collections::HashSet<&str> =
                fields.iter().map(|field| field.name.as_str()).collect();
            for (key, value) in object
                .iter()
                .filter(|(key, _)| !named.contains(key.as_str()))
            {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

// ------------------------------------------------------------
// Validation

fn violation(path: &str, message: impl Into<String>) -> Violation {
    Violation {
        path: path.to_string(),
        message: message.into(),
    }
}

/// A short description of a JSON value for messages: `string "12"`, `int 3`, `object`.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Number(n) if n.is_f64() => format!("float {n}"),
        Value::Number(n) => format!("int {n}"),
        Value::String(s) if crate::rows::json::is_bare_non_finite(value) => {
            s.trim_start_matches('\u{0}').to_string()
        }
        Value::String(_) if let Some(text) = crate::rows::json::exact_number(value) => {
            format!("float {text}")
        }
        Value::String(s) => format!("string {}", quote(s)),
        Value::Array(_) => "array".to_string(),
        Value::Object(_) => "object".to_string(),
    }
}

fn quote(s: &str) -> String {
    const MAX_CHARS: usize = 60;
    let shown: String = if s.chars().count() > MAX_CHARS {
        s.chars()
            .take(MAX_CHARS)
            .chain(std::iter::once('…'))
            .collect()
    } else {
        s.to_string()
    };
    serde_json::to_string(&shown).expect("a string always serializes")
}

fn mismatch(path: &str, expected: &dyn fmt::Display, value: &Value) -> Violation {
    violation(
        path,
        format!("expected {expected}, found {}", describe(value)),
    )
}

fn check(ty: &Type, value: Option<&Value>, path: &str) -> Result<Value, Violation> {
    match (ty, value) {
        (Type::Optional(_), None | Some(Value::Null)) => Ok(Value::Null),
        (Type::Optional(inner), Some(value)) => check(inner, Some(value), path),
        (_, None) => Err(violation(path, MISSING)),
        (_, Some(value)) => check_present(ty, value, path),
    }
}

/// A float: a number, or NaN and ±inf as bare tokens or as Pydantic's strings,
/// normalized to the strings "NaN", "Infinity" and "-Infinity", which `build_array` stores
/// as the floats.
fn check_float(value: &Value, path: &str) -> Result<Value, Violation> {
    match value {
        Value::Number(n) => Ok(Value::from(
            n.as_f64()
                .expect("serde_json numbers without arbitrary precision are f64-convertible"),
        )),
        // Pydantic writes NaN and ±inf as null unless told otherwise.
        Value::Null => Err(violation(
            path,
            "expected float, found null; hint: Pydantic writes NaN and infinite floats as null \
             by default: declare the field optional (`float | None`) if null is meant, or dump \
             with `ser_json_inf_nan='constants'` (in the model's `model_config`), whose `NaN`, \
             `Infinity` and `-Infinity` a float column reads",
        )),
        _ => match crate::rows::json::non_finite(value)
            .or_else(|| crate::rows::json::exact_number_f64(value))
        {
            Some(float) => Ok(crate::rows::json::float_value(float)),
            None => Err(mismatch(path, &Type::Float, value)),
        },
    }
}

fn check_present(ty: &Type, value: &Value, path: &str) -> Result<Value, Violation> {
    match (ty, value) {
        (Type::Optional(_), _) => check(ty, Some(value), path),
        (Type::Bool, Value::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Int, Value::Number(n)) if n.is_i64() => Ok(value.clone()),
        (Type::Int, Value::Number(n)) if n.is_u64() => Err(violation(
            path,
            format!("expected int, found int {n} (outside the 64-bit range)"),
        )),
        (Type::Float, _) => check_float(value, path),
        // A bare NaN or ±Infinity token is a float, whatever else a column takes; a
        // number literal no f64 holds is a float or an exact decimal.
        (_, Value::String(_))
            if crate::rows::json::is_bare(value)
                && !matches!(ty, Type::Union { .. })
                && !(matches!(ty, Type::Decimal { .. } | Type::Duration)
                    && crate::rows::json::exact_number(value).is_some()) =>
        {
            Err(mismatch(path, ty, value))
        }
        (Type::String, Value::String(_)) => Ok(value.clone()),
        // Normalized bytes are standard base64 whatever the declared encoding: the
        // internal form between validation and Arrow. Output encodes them back.
        (Type::Bytes | Type::BytesAs(_), Value::String(s)) => {
            let encoding = ty.bytes_encoding().expect("a bytes type");
            match encoding.decode(s) {
                Some(bytes) => Ok(Value::String(BASE64.encode(bytes))),
                None => Err(violation(
                    path,
                    format!(
                        "expected bytes as {} (the schema's declared encoding), found {}",
                        match encoding {
                            BytesEncoding::Base64 => "standard base64 with padding",
                            BytesEncoding::Base64Url => "URL-safe base64",
                            BytesEncoding::Utf8 => "text",
                        },
                        describe(value)
                    ),
                )),
            }
        }
        (Type::Datetime, Value::String(s)) => match parse_datetime(s) {
            Some(datetime) => Ok(Value::String(format_datetime(&datetime))),
            None => Err(mismatch(
                path,
                &"datetime (RFC 3339, e.g. 2024-05-01T12:00:00Z)",
                value,
            )),
        },
        (Type::Enum(values), Value::String(s)) => {
            if values.contains(s) {
                Ok(value.clone())
            } else {
                Err(violation(
                    path,
                    format!("{} is not one of {}", quote(s), values.join(", ")),
                ))
            }
        }
        (Type::Date | Type::Time | Type::Duration | Type::Uuid | Type::Decimal { .. }, _) => {
            scalar::check(ty, value, path)
        }
        (Type::Map(value_ty), _) => map::check_map(ty, value_ty, value, path),
        (Type::Tuple(items), _) => tuple::check_tuple(ty, items, value, path),
        (
            Type::Union {
                variants,
                discriminator,
            },
            _,
        ) => variants::choose(variants, discriminator.as_deref(), value, path).map(|(_, v)| v),
        (Type::IntEnum(values), Value::Number(n)) if n.is_i64() => {
            let int = n.as_i64().expect("an i64");
            if values.contains(&int) {
                Ok(value.clone())
            } else {
                let values: Vec<String> = values.iter().map(i64::to_string).collect();
                Err(violation(
                    path,
                    format!("{int} is not one of {}", values.join(", ")),
                ))
            }
        }
        (Type::File | Type::FileWith(_), _) => {
            let fields = ty.file_struct_fields().expect("a File");
            let file = check_struct(&fields, value, path, "File")?;
            if let Some(size) = file
                .get("size")
                .and_then(Value::as_i64)
                .filter(|size| *size < 0)
            {
                return Err(violation(
                    &join(path, "size"),
                    format!("expected a non-negative int, found int {size}"),
                ));
            }
            Ok(file)
        }
        (Type::Struct(fields), _) => check_struct(fields, value, path, "struct"),
        (Type::List(item), Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(idx, item_value)| check(item, Some(item_value), &format!("{path}[{idx}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        _ => Err(mismatch(path, ty, value)),
    }
}

fn check_struct(
    fields: &[Field],
    value: &Value,
    path: &str,
    expected: &str,
) -> Result<Value, Violation> {
    let Value::Object(object) = value else {
        return Err(mismatch(path, &expected, value));
    };
    let mut out = Map::new();
    for field in fields {
        let field_path = join(path, &field.name);
        let normalized = check(&field.ty, object.get(&field.name), &field_path)
            .map_err(|missing| alias_hint(missing, &field_path, fields, object))?;
        out.insert(field.name.clone(), normalized);
    }
    // `out` holds exactly the schema's fields: a lookup there, not a scan of `fields`,
    // keeps a record with many keys linear.
    if object.len() != out.len()
        && let Some(unknown) = object.keys().find(|key| !out.contains_key(*key))
    {
        return Err(violation(
            &join(path, unknown),
            "unknown field (not in the schema)",
        ));
    }
    Ok(Value::Object(out))
}

/// A missing field in a record that has keys the schema does not: most likely a model
/// with `Field(alias=…)`, whose JSON Schema names the aliases, dumped by field name.
fn alias_hint(
    violation: Violation,
    field_path: &str,
    fields: &[Field],
    object: &Map<String, Value>,
) -> Violation {
    if violation.path != field_path || violation.message != MISSING {
        return violation;
    }
    let declared: std::collections::HashSet<&str> =
        fields.iter().map(|field| field.name.as_str()).collect();
    match object.keys().find(|key| !declared.contains(key.as_str())) {
        Some(unknown) => Violation {
            message: format!(
                "{MISSING} (the record has `{unknown}`, which the schema does not); hint: the \
                 schema names fields by their aliases: if the model declares `Field(alias=…)`, \
                 write records with `model_dump_json(by_alias=True)`"
            ),
            ..violation
        },
        None => violation,
    }
}

const MISSING: &str = "missing required field";

/// RFC 3339 with an offset, or a naive `YYYY-MM-DDTHH:MM:SS[.f]` taken as UTC.
fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(datetime) = DateTime::parse_from_rfc3339(s) {
        return Some(datetime.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|naive| naive.and_utc())
}

/// Always six fractional digits, so the normalized text is unique and sorts like the instant.
/// Written digit by digit: a listing formats every file's time for its summary, and
/// chrono's format strings cost a tenth of a commit's CPU there.
pub(crate) fn format_datetime(datetime: &DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (datetime.year(), datetime.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        // Years chrono writes with a sign, and leap seconds.
        return datetime.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    }
    let mut text = String::with_capacity(27);
    let mut digits = |value: u32, width: u32, after: char| {
        for place in (0..width).rev() {
            let digit = value / 10u32.pow(place) % 10;
            text.push(char::from(b'0' + digit as u8));
        }
        text.push(after);
    };
    digits(year as u32, 4, '-');
    digits(datetime.month(), 2, '-');
    digits(datetime.day(), 2, 'T');
    digits(datetime.hour(), 2, ':');
    digits(datetime.minute(), 2, ':');
    digits(datetime.second(), 2, '.');
    digits(nanos / 1000, 6, 'Z');
    text
}

// ------------------------------------------------------------
// JSON Schema import

/// The key order of every object of a JSON text, which a `Value` does not keep.
#[derive(Default)]
enum KeyOrder {
    Object(Vec<(String, KeyOrder)>),
    Array(Vec<KeyOrder>),
    #[default]
    Scalar,
}

impl<'de> Deserialize<'de> for KeyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Scalar)
            }
            fn visit_unit<E>(self) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Scalar)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<KeyOrder, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(KeyOrder::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<KeyOrder, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(KeyOrder::Object(entries))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

impl KeyOrder {
    /// The keys of the `properties` object of the node at a `#/a/b` pointer, in order.
    fn properties_at(&self, pointer: &str) -> Option<Vec<&str>> {
        let mut node = self;
        let tokens = pointer.strip_prefix('#')?;
        for token in tokens.split('/').skip(1) {
            let token = token.replace("~1", "/").replace("~0", "~");
            node = match node {
                KeyOrder::Object(entries) => {
                    &entries.iter().rev().find(|(key, _)| *key == token)?.1
                }
                KeyOrder::Array(items) => items.get(token.parse::<usize>().ok()?)?,
                KeyOrder::Scalar => return None,
            };
        }
        let KeyOrder::Object(entries) = node else {
            return None;
        };
        match &entries.iter().rev().find(|(key, _)| key == "properties")?.1 {
            KeyOrder::Object(properties) => {
                Some(properties.iter().map(|(key, _)| key.as_str()).collect())
            }
            _ => None,
        }
    }
}

struct JsonSchemaReader<'a> {
    doc: &'a Value,
    /// The document's key order, when it was read from text: fields in declared order.
    order: Option<&'a KeyOrder>,
    /// The `$ref`s being expanded, outermost first: seeing one again means the model contains itself.
    expanding: Vec<String>,
    /// Nodes read so far: shared `$ref`s are expanded in place, so a small document can describe a huge tree.
    n_nodes: usize,
    /// Levels of nesting open (objects and arrays), refused past `MAX_NESTING` before the
    /// recursion goes deeper.
    depth: usize,
    /// The constraints read so far, by column path (`At::field`).
    constraints: Vec<Constraint>,
}

const MAX_SCHEMA_NODES: usize = 100_000;

/// Where a schema node sits, for error messages: its JSON pointer and the field path it declares.
struct At {
    pointer: String,
    field: String,
}

impl At {
    fn error(&self, reason: impl Into<String>) -> SchemaError {
        SchemaError::JsonSchema {
            pointer: self.pointer.clone(),
            field: self.field.clone(),
            reason: reason.into(),
        }
    }

    fn child(&self, pointer_suffix: &str, field: String) -> At {
        At {
            pointer: format!("{}/{pointer_suffix}", self.pointer),
            field,
        }
    }

    fn keyword(&self, keyword: &str) -> At {
        self.child(keyword, self.field.clone())
    }

    fn union_error(&self) -> SchemaError {
        self.error(
            "unions written as a `type` list are not supported (only `X | None`); hint: write the \
             alternatives as `anyOf`, as Pydantic does",
        )
    }
}

fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn is_null_schema(node: &Value) -> bool {
    node.get("type").and_then(Value::as_str) == Some("null")
}

impl JsonSchemaReader<'_> {
    /// `def_name` is the `$defs` key the node was reached through, which identifies Pydantic's `File` model.
    fn read(&mut self, node: &Value, at: &At, def_name: Option<&str>) -> Result<Type, SchemaError> {
        self.n_nodes += 1;
        if self.n_nodes > MAX_SCHEMA_NODES {
            return Err(at.error(format!(
                "the schema expands to more than {MAX_SCHEMA_NODES} types"
            )));
        }
        let Value::Object(object) = node else {
            return Err(at.error(format!(
                "expected a schema object, found {}",
                describe(node)
            )));
        };
        if let Some(reference) = object.get("$ref") {
            let reference = reference
                .as_str()
                .ok_or_else(|| at.error("`$ref` must be a string"))?;
            return self.read_ref(reference, at);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = object.get(key) {
                return self.read_union(branches, object.get("discriminator"), &at.keyword(key));
            }
        }
        if let Some(all_of) = object.get("allOf") {
            // Older Pydantic v2 wraps a `$ref` with siblings as `allOf: [{"$ref": ...}]`.
            return match all_of.as_array().map(Vec::as_slice) {
                Some([only]) => self.read(only, &at.keyword("allOf/0"), def_name),
                _ => Err(at.error("`allOf` with several schemas is not supported")),
            };
        }
        if let Some(values) = object.get("enum") {
            return read_enum(values, &at.keyword("enum"));
        }
        if let Some(constant) = object.get("const") {
            return match constant {
                Value::String(s) => Ok(Type::Enum(vec![s.clone()])),
                Value::Number(n) if n.is_i64() => Ok(Type::IntEnum(vec![n.as_i64().expect("i64")])),
                other => Err(at.error(format!(
                    "only string and integer constants are supported, found {}",
                    describe(other)
                ))),
            };
        }
        match object.get("type") {
            Some(Value::String(type_name)) => self.read_typed(type_name, object, at, def_name),
            Some(Value::Array(type_names)) => {
                let mut nullable = false;
                let mut others = Vec::new();
                for type_name in type_names {
                    match type_name.as_str() {
                        Some("null") => nullable = true,
                        Some(name) => others.push(name),
                        None => return Err(at.error("`type` list entries must be strings")),
                    }
                }
                let ty = match others.as_slice() {
                    [] => Type::String,
                    [only] => self.read_typed(only, object, at, def_name)?,
                    _ => return Err(at.union_error()),
                };
                Ok(if nullable { make_optional(ty) } else { ty })
            }
            None if object.contains_key("properties") => {
                self.read_typed("object", object, at, def_name)
            }
            None => Err(
                at.error("no `type` (an unconstrained value, like Python's Any, is not supported)")
            ),
            Some(other) => Err(at.error(format!(
                "`type` must be a string or list, found {}",
                describe(other)
            ))),
        }
    }

    fn enter(&mut self, at: &At) -> Result<(), SchemaError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            self.depth -= 1;
            return Err(SchemaError::TooDeep {
                line: None,
                path: at.field.clone(),
                levels: self.depth + 1,
                max: MAX_NESTING,
            });
        }
        Ok(())
    }

    fn read_ref(&mut self, reference: &str, at: &At) -> Result<Type, SchemaError> {
        let Some(target_pointer) = reference.strip_prefix('#') else {
            return Err(at.error(format!(
                "`$ref` {reference} is not local (like #/$defs/Name)"
            )));
        };
        if self.expanding.iter().any(|open| open == reference) {
            return Err(SchemaError::RecursiveRef {
                pointer: at.pointer.clone(),
                field: at.field.clone(),
                reference: reference.to_string(),
            });
        }
        let target = self.doc.pointer(target_pointer);
        let target =
            target.ok_or_else(|| at.error(format!("`$ref` {reference} points at nothing")))?;
        let def_name = target_pointer.rsplit('/').next();
        self.expanding.push(reference.to_string());
        let result = self.read(
            target,
            &At {
                pointer: reference.to_string(),
                field: at.field.clone(),
            },
            def_name,
        );
        self.expanding.pop();
        result
    }

    fn read_union(
        &mut self,
        branches: &Value,
        discriminator: Option<&Value>,
        at: &At,
    ) -> Result<Type, SchemaError> {
        let Some(branches) = branches.as_array() else {
            return Err(at.error("expected an array of schemas"));
        };
        let nullable = branches.iter().any(is_null_schema);
        let others: Vec<(usize, &Value)> = branches
            .iter()
            .enumerate()
            .filter(|(_, branch)| !is_null_schema(branch))
            .collect();
        // schemars writes a Rust enum with documented variants as a union of string constants.
        let all_literals = others
            .iter()
            .all(|(_, branch)| branch.get("enum").is_some() || branch.get("const").is_some());
        let ty = match others.as_slice() {
            [] => Type::String,
            [(idx, only)] => self.read(only, &at.keyword(&idx.to_string()), None)?,
            // Pydantic's `Decimal`: a number or a (decimal) string. `Field(ge=…)` puts
            // its bounds on the number.
            [(_, first), (_, second)] if is_decimal_pair(first, second) => {
                let constraints = [first, second]
                    .into_iter()
                    .filter_map(|node| Constraint::read(&at.field, node.as_object()?));
                self.constraints.extend(constraints);
                Type::Decimal {
                    precision: DECIMAL_PRECISION,
                    scale: DECIMAL_SCALE,
                }
            }
            _ if all_literals => {
                let mut merged: Vec<String> = Vec::new();
                let mut merged_ints: Vec<i64> = Vec::new();
                for (idx, branch) in &others {
                    match self.read(branch, &at.keyword(&idx.to_string()), None)? {
                        Type::Enum(values) => merged.extend(values),
                        Type::IntEnum(values) => merged_ints.extend(values),
                        _ => return Err(at.union_error()),
                    }
                }
                dedup_in_order(&mut merged);
                dedup_in_order(&mut merged_ints);
                match (merged.is_empty(), merged_ints.is_empty()) {
                    (_, true) => Type::Enum(merged),
                    (true, false) => Type::IntEnum(merged_ints),
                    (false, false) => {
                        return Err(at.error(
                            "literals mixing strings and integers are not supported; hint: use one kind",
                        ));
                    }
                }
            }
            _ => self.read_variants(&others, discriminator, at)?,
        };
        Ok(if nullable { make_optional(ty) } else { ty })
    }

    fn read_typed(
        &mut self,
        type_name: &str,
        object: &Map<String, Value>,
        at: &At,
        def_name: Option<&str>,
    ) -> Result<Type, SchemaError> {
        if let Some(constraint) = Constraint::read(&at.field, object) {
            self.constraints.push(constraint);
        }
        let text = |key: &str| object.get(key).and_then(Value::as_str);
        match type_name {
            "string" => Ok(match (text("format"), text("contentEncoding")) {
                (Some("date-time"), _) => Type::Datetime,
                (Some("date"), _) => Type::Date,
                (Some("time"), _) => Type::Time,
                (Some("duration"), _) => Type::Duration,
                (Some(uuid), _) if uuid.starts_with("uuid") => Type::Uuid,
                // Pydantic's default JSON for bytes is their UTF-8 text, declared so.
                (Some("binary"), _) => Type::BytesAs(BytesEncoding::Utf8),
                // Pydantic with `ser_json_bytes='base64'`.
                (Some("base64url"), _) => Type::BytesAs(BytesEncoding::Base64Url),
                // JSON Schema's own keyword: standard base64, as format 1 read all bytes.
                (_, Some("base64")) => Type::Bytes,
                _ => Type::String,
            }),
            "integer" => Ok(Type::Int),
            "number" => Ok(Type::Float),
            "boolean" => Ok(Type::Bool),
            "null" => Ok(make_optional(Type::String)),
            "array" if object.contains_key("prefixItems") => self.read_tuple(object, at),
            "array" => {
                let items = object
                    .get("items")
                    .ok_or_else(|| at.error("an array without `items` is not supported"))?;
                self.enter(at)?;
                let item = self.read(items, &at.child("items", format!("{}[]", at.field)), None);
                self.depth -= 1;
                Ok(Type::List(Box::new(item?)))
            }
            "object" => {
                self.enter(at)?;
                let ty = self.read_object(object, at, def_name);
                self.depth -= 1;
                ty
            }
            other => Err(at.error(format!("unknown type `{other}`"))),
        }
    }

    /// The variants of `A | B`: named by the discriminator's mapping (Pydantic's
    /// discriminated union), else by their `$defs` name or type.
    fn read_variants(
        &mut self,
        branches: &[(usize, &Value)],
        discriminator: Option<&Value>,
        at: &At,
    ) -> Result<Type, SchemaError> {
        let property = discriminator
            .and_then(|d| d.get("propertyName"))
            .and_then(Value::as_str);
        let mapping = discriminator
            .and_then(|d| d.get("mapping"))
            .and_then(Value::as_object);
        self.enter(at)?;
        let mut variants: Vec<Field> = Vec::new();
        for (idx, branch) in branches {
            let reference = branch.get("$ref").and_then(Value::as_str);
            let branch_at = at.child(&idx.to_string(), at.field.clone());
            let n_constraints = self.constraints.len();
            let ty = self.read(branch, &branch_at, None);
            let ty = match ty {
                Ok(ty) => ty,
                Err(err) => {
                    self.depth -= 1;
                    return Err(err);
                }
            };
            let mapped = mapping.and_then(|mapping| {
                mapping
                    .iter()
                    .find(|(_, target)| target.as_str() == reference)
                    .map(|(name, _)| name.clone())
            });
            let mut name = mapped
                .or_else(|| {
                    reference
                        .and_then(|r| r.rsplit('/').next())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| ty.to_string().replace(' ', "_"));
            while variants.iter().any(|variant| variant.name == name) {
                name.push('_');
            }
            // A variant's constraints are under its path, `a|name`.
            for constraint in &mut self.constraints[n_constraints..] {
                let below = constraint.path[at.field.len()..].to_string();
                constraint.path = format!("{}|{name}{below}", at.field);
            }
            variants.push(Field { name, ty });
        }
        self.depth -= 1;
        if property.is_some() && mapping.is_none_or(|m| m.len() != variants.len()) {
            return Err(at.error(
                "a discriminated union needs a `mapping` naming every variant; hint: use \
                 `Literal` discriminator fields, as Pydantic's `Field(discriminator=…)` does",
            ));
        }
        Ok(Type::Union {
            variants,
            discriminator: property.map(str::to_string),
        })
    }

    /// `tuple[X, Y]`: `prefixItems` and no further items (Pydantic sets `minItems` and
    /// `maxItems` to the length). A tuple with a variadic tail is refused.
    fn read_tuple(&mut self, object: &Map<String, Value>, at: &At) -> Result<Type, SchemaError> {
        let Some(prefix) = object.get("prefixItems").and_then(Value::as_array) else {
            return Err(at.error("`prefixItems` must be an array"));
        };
        let closed = match object.get("items") {
            None | Some(Value::Bool(false)) => true,
            Some(_) => false,
        };
        let fixed = object.get("maxItems").and_then(Value::as_u64) == Some(prefix.len() as u64);
        if !closed || !fixed || prefix.is_empty() {
            return Err(at.error(
                "only fixed-length tuples (`tuple[X, Y]`) are supported; hint: use a list for a \
                 variable number of items",
            ));
        }
        self.enter(at)?;
        let items: Result<Vec<Type>, SchemaError> = prefix
            .iter()
            .enumerate()
            .map(|(idx, item)| {
                let item_at = at.child(
                    &format!("prefixItems/{idx}"),
                    format!("{}[{idx}]", at.field),
                );
                self.read(item, &item_at, None)
            })
            .collect();
        self.depth -= 1;
        Ok(Type::Tuple(items?))
    }

    fn read_object(
        &mut self,
        object: &Map<String, Value>,
        at: &At,
        def_name: Option<&str>,
    ) -> Result<Type, SchemaError> {
        if let (None, Some(values)) = (object.get("properties"), object.get("additionalProperties"))
            && values.is_object()
        {
            // `dict[str, X]`: any string keys, values of one type.
            let value_at = at.child("additionalProperties", format!("{}{{value}}", at.field));
            return Ok(Type::Map(Box::new(self.read(values, &value_at, None)?)));
        }
        let Some(properties) = object.get("properties").and_then(Value::as_object) else {
            return Err(at.error(
                "an object without `properties` (a map or dict) is not supported; hint: declare a model with named fields",
            ));
        };
        let required = object.get("required").and_then(Value::as_array);
        let required: Vec<&str> = required
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        // A File: a model titled `File`, or one marked `x-pail-type: file` (set on the
        // File model through `json_schema_extra`, so every subclass inherits it).
        let named_file =
            object.get("title").and_then(Value::as_str) == Some("File") || def_name == Some("File");
        let marked_file = object.get(FILE_MARKER).and_then(Value::as_str) == Some("file");
        let is_file = (named_file || marked_file)
            && properties.contains_key("source")
            && properties.contains_key("path");
        if is_file && properties.keys().all(|key| is_file_field(key)) {
            return Ok(Type::File);
        }
        let mut fields = Vec::new();
        for (name, property) in properties {
            let property_at = at.child(
                &format!("properties/{}", escape_pointer_token(name)),
                join(&at.field, name),
            );
            let ty = self.read(property, &property_at, None)?;
            let ty = if required.contains(&name.as_str()) {
                ty
            } else {
                make_optional(ty)
            };
            fields.push(Field {
                name: name.clone(),
                ty,
            });
        }
        // `properties` is a sorted map here: the declared order, when known, is restored.
        if let Some(declared) = self
            .order
            .and_then(|order| order.properties_at(&at.pointer))
        {
            let position: std::collections::HashMap<&str, usize> = declared
                .iter()
                .enumerate()
                .map(|(idx, key)| (*key, idx))
                .collect();
            fields.sort_by_key(|field| position.get(field.name.as_str()).copied());
        }
        if is_file {
            // A File subclass: pail's File fields, then its own in declared order.
            fields.retain(|field| !is_file_field(&field.name));
            return Ok(Type::FileWith(fields));
        }
        Ok(Type::Struct(fields))
    }
}

fn dedup_in_order<T: PartialEq + Clone>(values: &mut Vec<T>) {
    let mut kept: Vec<T> = Vec::with_capacity(values.len());
    for value in values.drain(..) {
        if !kept.contains(&value) {
            kept.push(value);
        }
    }
    *values = kept;
}

/// `anyOf: [{type: number}, {type: string}]`, as Pydantic declares a `Decimal`.
fn is_decimal_pair(first: &Value, second: &Value) -> bool {
    let type_of = |node: &Value| node.get("type").and_then(Value::as_str).map(str::to_string);
    let mut types = [type_of(first), type_of(second)];
    types.sort();
    types == [Some("number".to_string()), Some("string".to_string())]
        && [first, second].iter().all(|node| {
            node.get("format").is_none()
                && node.get("enum").is_none()
                && node.get("const").is_none()
        })
}

/// String literals, or integer literals (an `IntEnum`, `Literal[1, 2]`); not both.
fn read_enum(values: &Value, at: &At) -> Result<Type, SchemaError> {
    let Some(values) = values.as_array() else {
        return Err(at.error("`enum` must be an array"));
    };
    let mut names: Vec<String> = Vec::new();
    let mut ints: Vec<i64> = Vec::new();
    let mut nullable = false;
    for value in values {
        match value {
            Value::String(s) => names.push(s.clone()),
            Value::Number(n) if n.is_i64() => ints.push(n.as_i64().expect("an i64")),
            Value::Null => nullable = true,
            other => {
                return Err(at.error(format!(
                    "only string or integer enum values are supported, found {}",
                    describe(other)
                )));
            }
        }
    }
    dedup_in_order(&mut names);
    dedup_in_order(&mut ints);
    let ty = match (names.is_empty(), ints.is_empty()) {
        (false, true) => Type::Enum(names),
        (true, false) => Type::IntEnum(ints),
        (true, true) => return Err(at.error("`enum` has no string or integer values")),
        (false, false) => {
            return Err(at.error(
                "`enum` mixes strings and integers, which is not supported; hint: use one kind",
            ));
        }
    };
    Ok(if nullable { make_optional(ty) } else { ty })
}

// ------------------------------------------------------------
// Comparison

/// Schema comparison for semver bump rules. The descriptions are for humans; `Breaking` lists the breaking changes
/// first, then any additive ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compat {
    Same,
    Additive(Vec<String>),
    Breaking(Vec<String>),
}

#[derive(Default)]
struct Changes {
    additive: Vec<String>,
    breaking: Vec<String>,
}

pub fn compare(old: &Schema, new: &Schema) -> Compat {
    let mut changes = Changes::default();
    compare_fields("", &old.fields, &new.fields, &mut changes);
    compare_constraints(old, new, &mut changes);
    if !changes.breaking.is_empty() {
        changes.breaking.extend(changes.additive);
        Compat::Breaking(changes.breaking)
    } else if !changes.additive.is_empty() {
        Compat::Additive(changes.additive)
    } else {
        Compat::Same
    }
}

/// Constraints by column path, from the validation side, like the rest of the rules: one
/// added or changed may reject rows the old schema accepted (breaking); one removed only
/// accepts more (additive). Only what commit checks is weighed so: a key kept and shown
/// but not checked (`Constraint::unchecked`) rejects nothing, so adding, changing or
/// removing one is additive. A column's own removal already says its constraint went.
fn compare_constraints(old: &Schema, new: &Schema, changes: &mut Changes) {
    let by_path = |schema: &Schema| -> BTreeMap<String, Constraint> {
        schema
            .constraints
            .iter()
            .flatten()
            .map(|constraint| (constraint.path.clone(), constraint.clone()))
            .collect()
    };
    let (old_by_path, new_by_path) = (by_path(old), by_path(new));
    let columns: HashSet<String> = new
        .column_ids()
        .into_iter()
        .map(|column| column.path)
        .collect();
    let before_text = |c: &Constraint| c.render(old.type_at(&c.path).as_ref());
    let after_text = |c: &Constraint| c.render(new.type_at(&c.path).as_ref());
    // What commit checks of a constraint, and whether that is anything at all.
    let checked = |schema: &Schema, c: &Constraint| -> Option<Constraint> {
        let checked = match schema.type_at(&c.path) {
            Some(ty) => c.checked(&ty),
            None => c.clone(),
        };
        let empty = Constraint {
            path: c.path.clone(),
            ..Constraint::default()
        };
        (checked != empty).then_some(checked)
    };
    for (path, before) in &old_by_path {
        match new_by_path.get(path) {
            None if columns.contains(path) => changes.additive.push(format!(
                "constraint on `{path}` removed (was {})",
                before_text(before)
            )),
            None => {}
            Some(after) if after != before => {
                let text = format!(
                    "constraint on `{path}` changed from {} to {}",
                    before_text(before),
                    after_text(after)
                );
                // Breaking when what is checked changed (a checked key added or moved).
                if checked(new, after).is_some() && checked(old, before) != checked(new, after) {
                    changes.breaking.push(text);
                } else {
                    changes.additive.push(text);
                }
            }
            Some(_) => {}
        }
    }
    for (path, after) in &new_by_path {
        if !old_by_path.contains_key(path) {
            let text = format!("constraint on `{path}` added: {}", after_text(after));
            if checked(new, after).is_some() {
                changes.breaking.push(text);
            } else {
                changes.additive.push(text);
            }
        }
    }
}

fn compare_fields(prefix: &str, old: &[Field], new: &[Field], changes: &mut Changes) {
    // Indexed by name, so a record with many columns compares in linear time.
    let new_by_name: std::collections::HashMap<&str, &Field> = new
        .iter()
        .map(|field| (field.name.as_str(), field))
        .collect();
    let old_names: std::collections::HashSet<&str> =
        old.iter().map(|field| field.name.as_str()).collect();
    for old_field in old {
        let path = join(prefix, &old_field.name);
        match new_by_name.get(old_field.name.as_str()) {
            Some(new_field) => compare_types(&path, &old_field.ty, &new_field.ty, changes),
            None => changes.breaking.push(format!("column `{path}` removed")),
        }
    }
    for new_field in new
        .iter()
        .filter(|field| !old_names.contains(field.name.as_str()))
    {
        changes
            .additive
            .push(format!("column `{}` added", join(prefix, &new_field.name)));
    }
}

fn compare_types(path: &str, old: &Type, new: &Type, changes: &mut Changes) {
    match (old, new) {
        _ if old == new => {}
        (Type::Optional(old_inner), Type::Optional(new_inner)) => {
            compare_types(path, old_inner, new_inner, changes)
        }
        (_, Type::Optional(new_inner)) => {
            changes
                .additive
                .push(format!("column `{path}` made optional"));
            compare_types(path, old, new_inner, changes);
        }
        (Type::Optional(old_inner), _) => {
            changes
                .breaking
                .push(format!("column `{path}` made required"));
            compare_types(path, old_inner, new, changes);
        }
        (Type::Struct(old_fields), Type::Struct(new_fields)) => {
            compare_fields(path, old_fields, new_fields, changes)
        }
        (Type::Tuple(old_items), Type::Tuple(new_items)) if old_items.len() == new_items.len() => {
            for (idx, (old_item, new_item)) in old_items.iter().zip(new_items).enumerate() {
                compare_types(&format!("{path}[{idx}]"), old_item, new_item, changes);
            }
        }
        (
            Type::Union {
                variants: old_variants,
                discriminator: old_discriminator,
            },
            Type::Union {
                variants: new_variants,
                discriminator: new_discriminator,
            },
        ) if old_discriminator == new_discriminator => {
            let mut variant_changes = Changes::default();
            compare_fields(
                &format!("{path}|"),
                old_variants,
                new_variants,
                &mut variant_changes,
            );
            let rename = |text: String| text.replacen("column", "union variant", 1);
            changes
                .additive
                .extend(variant_changes.additive.into_iter().map(rename));
            changes
                .breaking
                .extend(variant_changes.breaking.into_iter().map(rename));
        }
        (Type::Map(old_value), Type::Map(new_value)) => {
            compare_types(&format!("{path}{{value}}"), old_value, new_value, changes)
        }
        (Type::List(old_item), Type::List(new_item)) => {
            compare_types(&format!("{path}[]"), old_item, new_item, changes)
        }
        (Type::IntEnum(old_values), Type::IntEnum(new_values)) => {
            let text = |values: &[i64]| values.iter().map(i64::to_string).collect::<Vec<_>>();
            compare_types(
                path,
                &Type::Enum(text(old_values)),
                &Type::Enum(text(new_values)),
                changes,
            )
        }
        (Type::Enum(old_values), Type::Enum(new_values)) => {
            for value in new_values
                .iter()
                .filter(|value| !old_values.contains(value))
            {
                changes
                    .additive
                    .push(format!("column `{path}` enum value `{value}` added"));
            }
            for value in old_values
                .iter()
                .filter(|value| !new_values.contains(value))
            {
                changes
                    .breaking
                    .push(format!("column `{path}` enum value `{value}` removed"));
            }
        }
        _ => changes
            .breaking
            .push(format!("column `{path}` retyped from {old} to {new}")),
    }
}

// ------------------------------------------------------------
// Inference

/// Infers a schema from JSON records (each a JSON object) in one pass.
#[derive(Default)]
pub struct Inferrer {
    fields: BTreeMap<String, Slot>,
    n_records: u64,
}

/// What has been seen at one field path.
#[derive(Default)]
struct Slot {
    kind: Kind,
    nullable: bool,
    /// The line where `kind` was settled, for conflict messages.
    kind_line: u64,
    /// How many parent objects had this key: fewer than the parent's `n_objects` makes the field optional.
    n_present: u64,
    /// Its place among its parent's keys, in the order first seen.
    seen: usize,
}

#[derive(Default)]
enum Kind {
    /// Nothing but nulls (or, for list items, nothing at all) so far.
    #[default]
    Unknown,
    Bool,
    Int,
    Float,
    String,
    Object {
        fields: BTreeMap<String, Slot>,
        n_objects: u64,
    },
    Array(Box<Slot>),
}

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Unknown => "null",
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::String => "string",
            Kind::Object { .. } => "object",
            Kind::Array(_) => "array",
        }
    }

    fn of(value: &Value) -> Kind {
        match value {
            Value::Null => Kind::Unknown,
            Value::Bool(_) => Kind::Bool,
            Value::Number(n) if n.is_i64() => Kind::Int,
            Value::Number(_) => Kind::Float,
            Value::String(_) if crate::rows::json::is_bare(value) => Kind::Float,
            Value::String(_) => Kind::String,
            Value::Object(_) => Kind::Object {
                fields: BTreeMap::new(),
                n_objects: 0,
            },
            Value::Array(_) => Kind::Array(Box::default()),
        }
    }
}

impl Inferrer {
    pub fn new() -> Self {
        Self::default()
    }

    /// `line` is the 1-based line number, used in errors.
    pub fn observe(&mut self, line: u64, record: &Value) -> Result<(), SchemaError> {
        let Value::Object(object) = record else {
            return Err(SchemaError::NotAnObject {
                line,
                found: describe(record),
            });
        };
        self.observe_object(line, record, object, None)
    }

    /// Records one object, its new keys placed by `order` when given (else by name).
    fn observe_object(
        &mut self,
        line: u64,
        record: &Value,
        object: &serde_json::Map<String, Value>,
        order: Option<&KeyOrder>,
    ) -> Result<(), SchemaError> {
        if let Some((path, levels)) = too_deep(record, String::new(), 1) {
            return Err(SchemaError::TooDeep {
                line: Some(line),
                path,
                levels,
                max: MAX_NESTING,
            });
        }
        observe_object(
            &mut self.fields,
            &mut self.n_records,
            line,
            object,
            "",
            order,
        )
    }

    /// `observe`, with the record's JSON text (`record` is its parse): a key first seen in
    /// this record takes its place in the text's key order, so fields are inferred in the
    /// order they were first seen (a `Value` sorts keys by name). The text is read again
    /// only when the record has a key not seen before.
    pub fn observe_text(
        &mut self,
        line: u64,
        record: &Value,
        text: &str,
    ) -> Result<(), SchemaError> {
        let Value::Object(object) = record else {
            return self.observe(line, record);
        };
        if !has_new_key(&self.fields, object) {
            return self.observe(line, record);
        }
        // A text serde_json cannot read (NaN tokens) keeps name order for its new keys.
        let Ok(order) = serde_json::from_str::<KeyOrder>(text) else {
            return self.observe(line, record);
        };
        self.observe_object(line, record, object, Some(&order))
    }

    pub fn finish(self) -> Schema {
        Schema::new(infer_fields(self.fields, self.n_records))
    }
}

/// The path and level of the first value of `value` (at `level`) nested deeper than
/// `MAX_NESTING`. Stops going down there, so the walk is linear and shallow.
pub(crate) fn too_deep(value: &Value, path: String, level: usize) -> Option<(String, usize)> {
    if level > MAX_NESTING {
        return Some((path, level));
    }
    match value {
        Value::Object(object) => object
            .iter()
            .filter(|(_, child)| child.is_object() || child.is_array())
            .find_map(|(name, child)| too_deep(child, join(&path, name), level + 1)),
        Value::Array(items) => items
            .iter()
            .filter(|child| child.is_object() || child.is_array())
            .find_map(|child| too_deep(child, format!("{path}[]"), level + 1)),
        _ => None,
    }
}

/// `inferred` with the fields `parent` also has in `parent`'s order (struct fields too,
/// through lists and optionals), then its own new fields in their order: an inferred
/// schema does not change with the key order of the records alone.
pub fn follow_order(inferred: Schema, parent: &Schema) -> Schema {
    fn fields_after(fields: Vec<Field>, parent: &[Field]) -> Vec<Field> {
        let mut fields: Vec<Field> = fields
            .into_iter()
            .map(|field| {
                let twin = parent.iter().find(|p| p.name == field.name);
                Field {
                    ty: match twin {
                        Some(twin) => type_after(field.ty, &twin.ty),
                        None => field.ty,
                    },
                    name: field.name,
                }
            })
            .collect();
        // A stable sort: new fields (after every parent field) keep their order.
        fields.sort_by_key(|field| {
            parent
                .iter()
                .position(|p| p.name == field.name)
                .unwrap_or(usize::MAX)
        });
        fields
    }
    fn type_after(ty: Type, parent: &Type) -> Type {
        let parent = match parent {
            Type::Optional(inner) => inner.as_ref(),
            other => other,
        };
        match (ty, parent) {
            (Type::Optional(inner), _) => Type::Optional(Box::new(type_after(*inner, parent))),
            (Type::List(item), Type::List(twin)) => Type::List(Box::new(type_after(*item, twin))),
            (Type::Struct(fields), Type::Struct(twin)) => Type::Struct(fields_after(fields, twin)),
            (ty, _) => ty,
        }
    }
    let fields = fields_after(inferred.fields, &parent.fields);
    Schema { fields, ..inferred }
}

/// Whether `object` (or an object in it) has a key its slots have not seen.
fn has_new_key(fields: &BTreeMap<String, Slot>, object: &Map<String, Value>) -> bool {
    fn in_value(slot: &Slot, value: &Value) -> bool {
        match (&slot.kind, value) {
            (Kind::Object { fields, .. }, Value::Object(object)) => has_new_key(fields, object),
            (Kind::Array(item), Value::Array(items)) => items.iter().any(|v| in_value(item, v)),
            (Kind::Unknown, Value::Object(_) | Value::Array(_)) => true,
            _ => false,
        }
    }
    object.iter().any(|(name, value)| match fields.get(name) {
        None => true,
        Some(slot) => in_value(slot, value),
    })
}

fn observe_value(
    slot: &mut Slot,
    line: u64,
    value: &Value,
    path: &str,
    order: Option<&KeyOrder>,
) -> Result<(), SchemaError> {
    let incoming = Kind::of(value);
    match (&slot.kind, &incoming) {
        (_, Kind::Unknown) => {
            slot.nullable = true;
            return Ok(());
        }
        (Kind::Unknown, _) | (Kind::Int, Kind::Float) => {
            slot.kind = incoming;
            slot.kind_line = line;
        }
        // "NaN", "Infinity" or "-Infinity" (Pydantic's `ser_json_inf_nan='strings'`) in
        // a number column: a float.
        (Kind::Int | Kind::Float, Kind::String)
            if crate::rows::json::non_finite(value).is_some() =>
        {
            if matches!(slot.kind, Kind::Int) {
                slot.kind = Kind::Float;
                slot.kind_line = line;
            }
        }
        (Kind::Float, Kind::Int)
        | (Kind::Int, Kind::Int)
        | (Kind::Float, Kind::Float)
        | (Kind::Bool, Kind::Bool)
        | (Kind::String, Kind::String)
        | (Kind::Object { .. }, Kind::Object { .. })
        | (Kind::Array(_), Kind::Array(_)) => {}
        (earlier, found) => {
            return Err(SchemaError::Conflict {
                line,
                field: path.to_string(),
                found: found.name().to_string(),
                earlier: earlier.name().to_string(),
                earlier_line: slot.kind_line,
            });
        }
    }
    match (&mut slot.kind, value) {
        (Kind::Object { fields, n_objects }, Value::Object(object)) => {
            observe_object(fields, n_objects, line, object, path, order)?;
        }
        (Kind::Array(item), Value::Array(items)) => {
            let item_path = format!("{path}[]");
            let orders = match order {
                Some(KeyOrder::Array(orders)) => orders.as_slice(),
                _ => &[],
            };
            for (idx, item_value) in items.iter().enumerate() {
                observe_value(item, line, item_value, &item_path, orders.get(idx))?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn observe_object(
    fields: &mut BTreeMap<String, Slot>,
    n_objects: &mut u64,
    line: u64,
    object: &Map<String, Value>,
    path: &str,
    order: Option<&KeyOrder>,
) -> Result<(), SchemaError> {
    *n_objects += 1;
    // The text's key order when known (a repeated key counts where it first appears).
    let mut names: Vec<(&String, Option<&KeyOrder>)> = Vec::with_capacity(object.len());
    match order {
        Some(KeyOrder::Object(entries)) => {
            for (name, child) in entries {
                if let Some((key, _)) = object.get_key_value(name)
                    && !names.iter().any(|(seen, _)| *seen == key)
                {
                    names.push((key, Some(child)));
                }
            }
            if names.len() < object.len() {
                let missing: Vec<&String> = object
                    .keys()
                    .filter(|key| !names.iter().any(|(seen, _)| seen == key))
                    .collect();
                names.extend(missing.into_iter().map(|name| (name, None)));
            }
        }
        _ => names.extend(object.keys().map(|name| (name, None))),
    }
    for (name, child_order) in names {
        let n_seen = fields.len();
        let slot = fields.entry(name.clone()).or_insert_with(|| Slot {
            seen: n_seen,
            ..Slot::default()
        });
        slot.n_present += 1;
        observe_value(slot, line, &object[name], &join(path, name), child_order)?;
    }
    Ok(())
}

fn infer_fields(fields: BTreeMap<String, Slot>, n_objects: u64) -> Vec<Field> {
    let mut fields: Vec<(String, Slot)> = fields.into_iter().collect();
    fields.sort_by_key(|(_, slot)| slot.seen);
    fields
        .into_iter()
        .map(|(name, slot)| {
            let missing_somewhere = slot.n_present < n_objects;
            let ty = infer_type(slot);
            Field {
                name,
                ty: if missing_somewhere {
                    make_optional(ty)
                } else {
                    ty
                },
            }
        })
        .collect()
}

fn infer_type(slot: Slot) -> Type {
    let ty = match slot.kind {
        Kind::Unknown | Kind::String => Type::String,
        Kind::Bool => Type::Bool,
        Kind::Int => Type::Int,
        Kind::Float => Type::Float,
        Kind::Object { fields, n_objects } if looks_like_file(&fields, n_objects) => Type::File,
        Kind::Object { fields, n_objects } => Type::Struct(infer_fields(fields, n_objects)),
        Kind::Array(item) => Type::List(Box::new(infer_type(*item))),
    };
    if slot.nullable { make_optional(ty) } else { ty }
}

/// Always-present string `source` and `path`, and nothing but File keys of fitting kinds.
fn looks_like_file(fields: &BTreeMap<String, Slot>, n_objects: u64) -> bool {
    let required_string = |name: &str| {
        fields.get(name).is_some_and(|slot| {
            matches!(slot.kind, Kind::String) && !slot.nullable && slot.n_present == n_objects
        })
    };
    required_string("source")
        && required_string("path")
        && fields
            .iter()
            .all(|(name, slot)| match (name.as_str(), &slot.kind) {
                ("size", kind) => matches!(kind, Kind::Int | Kind::Unknown),
                (name, kind) => is_file_field(name) && matches!(kind, Kind::String | Kind::Unknown),
            })
}

// ------------------------------------------------------------
// Arrow

fn arrow_fields(fields: &[Field]) -> Fields {
    fields
        .iter()
        .map(|field| arrow_field(&field.name, &field.ty))
        .collect()
}

fn arrow_field(name: &str, ty: &Type) -> arrow_schema::Field {
    match ty {
        Type::Optional(inner) => arrow_field(name, inner).with_nullable(true),
        _ => arrow_schema::Field::new(name, data_type(ty), false),
    }
}

fn data_type(ty: &Type) -> DataType {
    match ty {
        Type::Bool => DataType::Boolean,
        Type::Int => DataType::Int64,
        Type::Float => DataType::Float64,
        Type::String | Type::Enum(_) => DataType::Utf8,
        Type::Bytes | Type::BytesAs(_) => DataType::Binary,
        Type::Datetime => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Type::File => DataType::Struct(file_arrow_fields()),
        Type::FileWith(_) => {
            DataType::Struct(arrow_fields(&ty.file_struct_fields().expect("a File")))
        }
        Type::Struct(fields) => DataType::Struct(arrow_fields(fields)),
        Type::List(item) => DataType::List(Arc::new(arrow_field("item", item))),
        Type::Optional(inner) => data_type(inner),
        Type::IntEnum(_) => DataType::Int64,
        Type::Map(value) => map::data_type(value),
        Type::Tuple(items) => tuple::data_type(items),
        Type::Union { variants, .. } => variants::data_type(variants),
        Type::Date | Type::Time | Type::Duration | Type::Uuid | Type::Decimal { .. } => {
            scalar::data_type(ty)
        }
    }
}

/// An Arrow type pail has no column type for.
#[derive(Debug, Clone, thiserror::Error)]
#[error("column `{column}` has the Arrow type {found}, which pail cannot store")]
pub struct UnsupportedArrowType {
    /// The dotted column path (`[]` for a list's items).
    pub column: String,
    pub found: DataType,
}

/// The pail schema of Arrow data as it is: each Arrow type as the pail type that holds
/// its values exactly (ints as int, floats as float, strings, binary as format-1 bytes,
/// timestamps as datetime, structs, lists), a nullable field as optional. Structs stay
/// structs here, also File-shaped ones (`with_files` makes those Files): this is the
/// form Arrow values are read in (`batch_to_rows` after a cast to its `to_arrow`).
pub fn from_arrow(arrow: &arrow_schema::Schema) -> Result<Schema, UnsupportedArrowType> {
    let fields = arrow_to_fields(arrow.fields(), "")?;
    Ok(Schema::new(fields))
}

fn arrow_to_fields(fields: &Fields, parent: &str) -> Result<Vec<Field>, UnsupportedArrowType> {
    fields
        .iter()
        .map(|field| {
            Ok(Field {
                name: field.name().clone(),
                ty: arrow_to_type(field, &join(parent, field.name()))?,
            })
        })
        .collect()
}

fn arrow_to_type(field: &arrow_schema::Field, path: &str) -> Result<Type, UnsupportedArrowType> {
    let unsupported = || UnsupportedArrowType {
        column: path.to_string(),
        found: field.data_type().clone(),
    };
    let ty = match field.data_type() {
        DataType::Boolean => Type::Bool,
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => Type::Int,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => Type::Float,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Type::String,
        DataType::Dictionary(_, values)
            if matches!(
                values.as_ref(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            Type::String
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Type::Bytes,
        DataType::Timestamp(_, _) => Type::Datetime,
        DataType::Date32 | DataType::Date64 => Type::Date,
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv)
                if kv.len() == 2
                    && matches!(kv[0].data_type(), DataType::Utf8 | DataType::LargeUtf8) =>
            {
                Type::Map(Box::new(arrow_to_type(
                    &kv[1],
                    &format!("{path}{{value}}"),
                )?))
            }
            _ => return Err(unsupported()),
        },
        DataType::Time32(_) | DataType::Time64(_) => Type::Time,
        DataType::Duration(_) => Type::Duration,
        DataType::Decimal128(precision, scale) if *scale >= 0 => Type::Decimal {
            precision: *precision,
            scale: *scale,
        },
        // A column of nulls only, as JSON inference takes a field that is always null.
        DataType::Null => return Ok(make_optional(Type::String)),
        DataType::Struct(children) => Type::Struct(arrow_to_fields(children, path)?),
        DataType::List(item) | DataType::LargeList(item) => {
            Type::List(Box::new(arrow_to_type(item, &format!("{path}[]"))?))
        }
        _ => return Err(unsupported()),
    };
    Ok(if field.is_nullable() {
        make_optional(ty)
    } else {
        ty
    })
}

/// `schema` with every File-shaped struct a File: a struct with a `source` and a `path`
/// string and nothing but File fields of fitting types, as pail writes a File to Arrow
/// (`Schema::to_arrow`), so a batch read out of pail commits back with the same schema.
pub fn with_files(schema: &Schema) -> Schema {
    fn fields_with_files(fields: &[Field]) -> Vec<Field> {
        fields
            .iter()
            .map(|field| Field {
                name: field.name.clone(),
                ty: type_with_files(&field.ty),
            })
            .collect()
    }
    fn type_with_files(ty: &Type) -> Type {
        match ty {
            Type::Optional(inner) => make_optional(type_with_files(inner)),
            Type::List(item) => Type::List(Box::new(type_with_files(item))),
            Type::Struct(fields) if is_file_shaped(fields) => Type::File,
            Type::Struct(fields) => Type::Struct(fields_with_files(fields)),
            other => other.clone(),
        }
    }
    Schema::new(fields_with_files(&schema.fields))
}

fn is_file_shaped(fields: &[Field]) -> bool {
    let has = |name: &str| fields.iter().any(|field| field.name == name);
    has("source")
        && has("path")
        && fields.iter().all(|field| {
            let ty = match &field.ty {
                Type::Optional(inner) => inner.as_ref(),
                ty => ty,
            };
            match field.name.as_str() {
                "size" => *ty == Type::Int,
                "last_modified" => matches!(ty, Type::Datetime | Type::String),
                name => is_file_field(name) && *ty == Type::String,
            }
        })
}

/// `read_as` (from `from_arrow`) with its bytes columns in the encoding `declared` gives
/// them, so that `batch_to_rows` writes bytes the way the declared schema reads them.
pub fn with_bytes_of(read_as: &Schema, declared: &Schema) -> Schema {
    fn fields_of(fields: &[Field], declared: Option<&[Field]>) -> Vec<Field> {
        fields
            .iter()
            .map(|field| {
                let twin = declared
                    .and_then(|declared| declared.iter().find(|twin| twin.name == field.name));
                Field {
                    name: field.name.clone(),
                    ty: type_of(&field.ty, twin.map(|twin| &twin.ty)),
                }
            })
            .collect()
    }
    fn type_of(ty: &Type, declared: Option<&Type>) -> Type {
        let declared = match declared {
            Some(Type::Optional(inner)) => Some(inner.as_ref()),
            other => other,
        };
        match (ty, declared) {
            (Type::Optional(inner), _) => make_optional(type_of(inner, declared)),
            (Type::Bytes, Some(twin @ Type::BytesAs(_))) => twin.clone(),
            (Type::Struct(fields), Some(Type::Struct(twins))) => {
                Type::Struct(fields_of(fields, Some(twins)))
            }
            (Type::Struct(fields), _) => Type::Struct(fields_of(fields, None)),
            (Type::List(item), Some(Type::List(twin))) => {
                Type::List(Box::new(type_of(item, Some(twin))))
            }
            (Type::List(item), _) => Type::List(Box::new(type_of(item, None))),
            (other, _) => other.clone(),
        }
    }
    Schema::new(fields_of(&read_as.fields, Some(&declared.fields)))
}

fn null_buffer(validity: Vec<bool>) -> Option<NullBuffer> {
    if validity.iter().all(|valid| *valid) {
        None
    } else {
        Some(NullBuffer::from(validity))
    }
}

/// JSON rows (already validated and normalized against `schema`) into one Arrow record batch.
pub fn rows_to_batch(schema: &Schema, rows: &[Value]) -> Result<RecordBatch, SchemaError> {
    if let Some((row_idx, row)) = rows.iter().enumerate().find(|(_, row)| !row.is_object()) {
        return Err(SchemaError::NotNormalized {
            path: String::new(),
            message: format!("row {row_idx}: expected object, found {}", describe(row)),
        });
    }
    let columns = schema
        .fields
        .iter()
        .map(|field| {
            let values: Vec<Option<&Value>> = rows.iter().map(|row| row.get(&field.name)).collect();
            build_array(&field.ty, &values, &field.name)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    RecordBatch::try_new_with_options(Arc::new(schema.to_arrow()), columns, &options).map_err(
        |source| SchemaError::Arrow {
            path: String::new(),
            source,
        },
    )
}

/// Missing and JSON null both become Arrow nulls; any other value must convert with `convert`.
fn collect_values<'v, T>(
    ty: &Type,
    values: &[Option<&'v Value>],
    path: &str,
    convert: impl Fn(&'v Value) -> Option<T>,
) -> Result<Vec<Option<T>>, SchemaError> {
    values
        .iter()
        .map(|value| match value {
            None | Some(Value::Null) => Ok(None),
            Some(value) => convert(value)
                .map(Some)
                .ok_or_else(|| SchemaError::NotNormalized {
                    path: path.to_string(),
                    message: format!("expected {ty}, found {}", describe(value)),
                }),
        })
        .collect()
}

fn build_array(ty: &Type, values: &[Option<&Value>], path: &str) -> Result<ArrayRef, SchemaError> {
    let array: ArrayRef = match ty {
        Type::Optional(inner) => return build_array(inner, values, path),
        Type::Bool => Arc::new(BooleanArray::from(collect_values(
            ty,
            values,
            path,
            Value::as_bool,
        )?)),
        Type::Int | Type::IntEnum(_) => Arc::new(Int64Array::from(collect_values(
            ty,
            values,
            path,
            Value::as_i64,
        )?)),
        Type::Date | Type::Time | Type::Duration | Type::Uuid | Type::Decimal { .. } => {
            scalar::build(ty, values, path)?
        }
        Type::Float => Arc::new(Float64Array::from(collect_values(
            ty,
            values,
            path,
            |value: &Value| {
                value
                    .as_f64()
                    .or_else(|| crate::rows::json::non_finite(value))
            },
        )?)),
        Type::String | Type::Enum(_) => Arc::new(StringArray::from(collect_values(
            ty,
            values,
            path,
            Value::as_str,
        )?)),
        Type::Bytes | Type::BytesAs(_) => {
            let decode = |value: &Value| value.as_str().and_then(|text| BASE64.decode(text).ok());
            Arc::new(BinaryArray::from_iter(collect_values(
                ty, values, path, decode,
            )?))
        }
        Type::Datetime => {
            let micros = |value: &Value| {
                value
                    .as_str()
                    .and_then(parse_datetime)
                    .map(|datetime| datetime.timestamp_micros())
            };
            Arc::new(
                TimestampMicrosecondArray::from(collect_values(ty, values, path, micros)?)
                    .with_timezone("UTC"),
            )
        }
        Type::File => build_struct(ty, &FILE_FIELDS, values, path)?,
        Type::FileWith(_) => {
            build_struct(ty, &ty.file_struct_fields().expect("a File"), values, path)?
        }
        Type::Map(value_ty) => map::build(ty, value_ty, values, path)?,
        Type::Tuple(items) => tuple::build(ty, items, values, path)?,
        Type::Union {
            variants,
            discriminator,
        } => variants::build(variants, discriminator.as_deref(), values, path)?,
        Type::Struct(fields) => build_struct(ty, fields, values, path)?,
        Type::List(item) => {
            let lists = collect_values(ty, values, path, Value::as_array)?;
            let lengths = lists.iter().map(|list| list.map_or(0, |items| items.len()));
            let offsets = OffsetBuffer::from_lengths(lengths);
            let item_values: Vec<Option<&Value>> = lists
                .iter()
                .flatten()
                .flat_map(|items| items.iter().map(Some))
                .collect();
            let item_array = build_array(item, &item_values, &format!("{path}[]"))?;
            let nulls = null_buffer(lists.iter().map(Option::is_some).collect());
            let list = ListArray::try_new(
                Arc::new(arrow_field("item", item)),
                offsets,
                item_array,
                nulls,
            )
            .map_err(|source| SchemaError::Arrow {
                path: path.to_string(),
                source,
            })?;
            Arc::new(list)
        }
    };
    Ok(array)
}

fn build_struct(
    ty: &Type,
    fields: &[Field],
    values: &[Option<&Value>],
    path: &str,
) -> Result<ArrayRef, SchemaError> {
    let objects = collect_values(ty, values, path, Value::as_object)?;
    let children = fields
        .iter()
        .map(|field| {
            let child_values: Vec<Option<&Value>> = objects
                .iter()
                .map(|object| object.and_then(|object| object.get(&field.name)))
                .collect();
            build_array(&field.ty, &child_values, &join(path, &field.name))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let nulls = null_buffer(objects.iter().map(Option::is_some).collect());
    let array =
        StructArray::try_new_with_length(arrow_fields(fields), children, nulls, values.len())
            .map_err(|source| SchemaError::Arrow {
                path: path.to_string(),
                source,
            })?;
    Ok(Arc::new(array))
}

/// An Arrow record batch back into JSON rows, each an object with the schema's fields (null where Arrow has null).
pub fn batch_to_rows(schema: &Schema, batch: &RecordBatch) -> Result<Vec<Value>, SchemaError> {
    let mut columns = Vec::with_capacity(schema.fields.len());
    // By name through an index: `column_by_name` scans the fields, quadratic in a wide row.
    let arrow_schema = batch.schema();
    let by_name = column_index(arrow_schema.fields());
    for field in &schema.fields {
        let array = by_name
            .get(field.name.as_str())
            .map(|idx| batch.column(*idx))
            .ok_or_else(|| SchemaError::MissingColumn {
                column: field.name.clone(),
            })?;
        columns.push(array_to_values(&field.ty, array.as_ref(), &field.name)?.into_iter());
    }
    let rows = (0..batch.num_rows())
        .map(|_| {
            let row = schema
                .fields
                .iter()
                .zip(columns.iter_mut())
                .map(|(field, column)| (field.name.clone(), column.next().unwrap_or(Value::Null)))
                .collect::<Map<_, _>>();
            Value::Object(row)
        })
        .collect();
    Ok(rows)
}

/// Arrow field positions by name (the first of a repeated name, as `column_by_name`).
fn column_index(fields: &Fields) -> std::collections::HashMap<&str, usize> {
    let mut index = std::collections::HashMap::with_capacity(fields.len());
    for (idx, field) in fields.iter().enumerate() {
        index.entry(field.name().as_str()).or_insert(idx);
    }
    index
}

fn array_to_values(ty: &Type, array: &dyn Array, path: &str) -> Result<Vec<Value>, SchemaError> {
    let wrong_type = || SchemaError::ArrowType {
        path: path.to_string(),
        expected: ty.to_string(),
        found: array.data_type().clone(),
    };
    let or_null = |value: Option<Value>| value.unwrap_or(Value::Null);
    let values = match ty {
        Type::Optional(inner) => return array_to_values(inner, array, path),
        Type::Bool => array
            .as_boolean_opt()
            .ok_or_else(wrong_type)?
            .iter()
            .map(|v| or_null(v.map(Value::Bool)))
            .collect(),
        Type::Date | Type::Time | Type::Duration | Type::Uuid | Type::Decimal { .. } => {
            scalar::to_values(ty, array, path)?
        }
        Type::Int | Type::IntEnum(_) => array
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(wrong_type)?
            .iter()
            .map(|v| or_null(v.map(Value::from)))
            .collect(),
        // NaN and ±inf as the strings "NaN", "Infinity" and "-Infinity".
        Type::Float => array
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(wrong_type)?
            .iter()
            .map(|v| or_null(v.map(crate::rows::json::float_value)))
            .collect(),
        Type::String | Type::Enum(_) => {
            let strings = array.as_string_opt::<i32>().ok_or_else(wrong_type)?;
            strings
                .iter()
                .map(|v| or_null(v.map(Value::from)))
                .collect()
        }
        Type::Bytes | Type::BytesAs(_) => {
            // Back in the declared encoding, as the records came in.
            let encoding = ty.bytes_encoding().expect("a bytes type");
            let binary = array.as_binary_opt::<i32>().ok_or_else(wrong_type)?;
            binary
                .iter()
                .map(|v| match v {
                    None => Ok(Value::Null),
                    Some(bytes) => encoding.encode(bytes).map(Value::String).ok_or_else(|| {
                        SchemaError::NotNormalized {
                            path: path.to_string(),
                            message: format!(
                                "{} bytes are not valid UTF-8, which the column's `format: binary` needs",
                                bytes.len()
                            ),
                        }
                    }),
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        Type::Datetime => {
            let timestamps = array
                .as_primitive_opt::<TimestampMicrosecondType>()
                .ok_or_else(wrong_type)?;
            timestamps
                .iter()
                .map(|micros| match micros {
                    None => Ok(Value::Null),
                    Some(micros) => DateTime::from_timestamp_micros(micros)
                        .map(|datetime| Value::String(format_datetime(&datetime)))
                        .ok_or_else(|| SchemaError::NotNormalized {
                            path: path.to_string(),
                            message: format!(
                                "timestamp {micros} µs is outside the supported date range"
                            ),
                        }),
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        Type::File => struct_to_values(ty, &FILE_FIELDS, array, path)?,
        Type::FileWith(_) => {
            struct_to_values(ty, &ty.file_struct_fields().expect("a File"), array, path)?
        }
        Type::Map(value_ty) => map::to_values(ty, value_ty, array, path)?,
        Type::Tuple(items) => tuple::to_values(ty, items, array, path)?,
        Type::Union { variants, .. } => variants::to_values(ty, variants, array, path)?,
        Type::Struct(fields) => struct_to_values(ty, fields, array, path)?,
        Type::List(item) => {
            let list = array.as_list_opt::<i32>().ok_or_else(wrong_type)?;
            let mut item_values =
                array_to_values(item, list.values().as_ref(), &format!("{path}[]"))?;
            let offsets = list.value_offsets();
            (0..list.len())
                .map(|row_idx| {
                    if list.is_null(row_idx) {
                        return Value::Null;
                    }
                    let (start, end) = (offsets[row_idx] as usize, offsets[row_idx + 1] as usize);
                    Value::Array(
                        item_values[start..end]
                            .iter_mut()
                            .map(std::mem::take)
                            .collect(),
                    )
                })
                .collect()
        }
    };
    Ok(values)
}

fn struct_to_values(
    ty: &Type,
    fields: &[Field],
    array: &dyn Array,
    path: &str,
) -> Result<Vec<Value>, SchemaError> {
    let structs = array
        .as_struct_opt()
        .ok_or_else(|| SchemaError::ArrowType {
            path: path.to_string(),
            expected: ty.to_string(),
            found: array.data_type().clone(),
        })?;
    let mut children = Vec::with_capacity(fields.len());
    let by_name = column_index(structs.fields());
    for field in fields {
        let child_path = join(path, &field.name);
        let child = by_name
            .get(field.name.as_str())
            .map(|idx| structs.column(*idx))
            .ok_or_else(|| SchemaError::MissingColumn {
                column: child_path.clone(),
            })?;
        children.push(array_to_values(&field.ty, child.as_ref(), &child_path)?);
    }
    let values = (0..structs.len())
        .map(|row_idx| {
            if structs.is_null(row_idx) {
                return Value::Null;
            }
            let object = fields
                .iter()
                .zip(children.iter_mut())
                .map(|(field, child)| (field.name.clone(), std::mem::take(&mut child[row_idx])))
                .collect::<Map<_, _>>();
            Value::Object(object)
        })
        .collect();
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn optional(ty: Type) -> Type {
        Type::Optional(Box::new(ty))
    }

    fn field(name: &str, ty: Type) -> Field {
        Field {
            name: name.to_string(),
            ty,
        }
    }

    fn schema(fields: Vec<Field>) -> Schema {
        Schema::new(fields)
    }

    fn weather() -> Type {
        Type::Enum(
            ["clear", "rain", "fog", "snow", "night"]
                .map(String::from)
                .to_vec(),
        )
    }

    /// What Pydantic v2 emits for a `Sample` model with a `File` model, a `Weather` enum and a nested `Meta`.
    fn pydantic_doc() -> Value {
        let optional_of =
            |schema: Value| json!({"anyOf": [schema, {"type": "null"}], "default": null});
        json!({
            "$defs": {
                "File": {
                    "properties": {
                        "source": {"title": "Source", "type": "string"},
                        "path": {"title": "Path", "type": "string"},
                        "size": optional_of(json!({"type": "integer"})),
                        "etag": optional_of(json!({"type": "string"})),
                        "version": optional_of(json!({"type": "string"})),
                        "last_modified": optional_of(json!({"format": "date-time", "type": "string"})),
                        "blake3": optional_of(json!({"type": "string"}))
                    },
                    "required": ["source", "path"],
                    "title": "File",
                    "type": "object"
                },
                "Meta": {
                    "properties": {
                        "camera": {"title": "Camera", "type": "string"},
                        "exposure": {"title": "Exposure", "type": "number"}
                    },
                    "required": ["camera", "exposure"],
                    "title": "Meta",
                    "type": "object"
                },
                "Weather": {"enum": ["clear", "rain", "fog", "snow", "night"], "title": "Weather", "type": "string"}
            },
            "properties": {
                "file": {"$ref": "#/$defs/File"},
                "weather": {"$ref": "#/$defs/Weather"},
                "tags": {"items": {"type": "string"}, "title": "Tags", "type": "array"},
                "meta": {"$ref": "#/$defs/Meta"},
                "score": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": null, "title": "Score"},
                "captured_at": {"format": "date-time", "title": "Captured At", "type": "string"},
                "split": {"const": "train", "title": "Split", "type": "string"},
                "kind": {"enum": ["a", "b"], "title": "Kind", "type": "string"},
                "thumbnail": {"anyOf": [{"format": "binary", "type": "string"}, {"type": "null"}], "default": null},
                "previous": {"anyOf": [{"$ref": "#/$defs/File"}, {"type": "null"}], "default": null},
                "note": {"default": "", "title": "Note", "type": "string"}
            },
            "required": ["file", "weather", "tags", "meta", "captured_at", "split", "kind"],
            "title": "Sample",
            "type": "object"
        })
    }

    fn sample_schema() -> Schema {
        Schema::from_json_schema(&pydantic_doc()).expect("the Pydantic document is supported")
    }

    #[test]
    fn pydantic_document_becomes_schema() {
        let expected = schema(vec![
            field("captured_at", Type::Datetime),
            field("file", Type::File),
            field("kind", Type::Enum(vec!["a".into(), "b".into()])),
            field(
                "meta",
                Type::Struct(vec![
                    field("camera", Type::String),
                    field("exposure", Type::Float),
                ]),
            ),
            field("note", optional(Type::String)),
            field("previous", optional(Type::File)),
            field("score", optional(Type::Float)),
            field("split", Type::Enum(vec!["train".into()])),
            field("tags", Type::List(Box::new(Type::String))),
            field("thumbnail", optional(Type::BytesAs(BytesEncoding::Utf8))),
            field("weather", weather()),
        ]);
        assert_eq!(sample_schema(), expected);
        assert_eq!(sample_schema().file_columns(), vec!["file", "previous"]);
    }

    #[test]
    fn schemars_document_becomes_schema() {
        let doc = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Row",
            "type": "object",
            "required": ["id", "labels"],
            "properties": {
                "id": {"type": "integer", "format": "uint64", "minimum": 0},
                "caption": {"type": ["string", "null"]},
                "labels": {"type": "array", "items": {"$ref": "#/definitions/Label"}},
                "mode": {"oneOf": [{"type": "string", "enum": ["fast"]}, {"type": "string", "const": "slow"}]}
            },
            "definitions": {
                "Label": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
            }
        });
        let expected = schema(vec![
            field("caption", optional(Type::String)),
            field("id", Type::Int),
            field(
                "labels",
                Type::List(Box::new(Type::Struct(vec![field("name", Type::String)]))),
            ),
            field(
                "mode",
                optional(Type::Enum(vec!["fast".into(), "slow".into()])),
            ),
        ]);
        // schemars writes a u64's `minimum: 0`: kept, so the schema is format 3.
        let mut expected = expected;
        expected.set_constraints(vec![Constraint {
            path: "id".into(),
            ge: Some("0".into()),
            ..Constraint::default()
        }]);
        assert_eq!(expected.format, 3);
        assert_eq!(Schema::from_json_schema(&doc).unwrap(), expected);
    }

    #[test]
    fn unsupported_json_schema_names_the_field() {
        let union = json!({"type": "object", "properties": {"x": {"type": ["string", "integer"]}}});
        let error = Schema::from_json_schema(&union).unwrap_err().to_string();
        assert!(error.contains("field `x` (at #/properties/x)"), "{error}");
        assert!(error.contains("unions written as a `type` list"), "{error}");

        // Any value (`dict` without a value type) is still refused.
        let map = json!({"type": "object", "properties": {"m": {"type": "object", "additionalProperties": true}}});
        let error = Schema::from_json_schema(&map).unwrap_err().to_string();
        assert!(
            error.contains("field `m`") && error.contains("map or dict"),
            "{error}"
        );

        let missing = json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/Nope"}}});
        let error = Schema::from_json_schema(&missing).unwrap_err().to_string();
        assert!(error.contains("points at nothing"), "{error}");

        let extra_file = json!({"type": "object", "properties": {"f": {"title": "File", "type": "object",
            "properties": {"source": {"type": "string"}, "path": {"type": "string"}, "caption": {"type": "string"}}}}});
        // A model titled `File` with a field of its own is a File with that column.
        assert_eq!(
            Schema::from_json_schema(&extra_file).unwrap().fields[0].ty,
            optional(Type::FileWith(vec![field(
                "caption",
                optional(Type::String)
            )]))
        );
    }

    #[test]
    fn self_referencing_model_is_an_error() {
        let doc = json!({
            "$defs": {"Node": {"type": "object", "title": "Node", "required": ["value"], "properties": {
                "value": {"type": "integer"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
            }}},
            "$ref": "#/$defs/Node"
        });
        let error = Schema::from_json_schema(&doc).unwrap_err();
        assert!(
            matches!(&error, SchemaError::RecursiveRef { reference, field, .. }
            if reference == "#/$defs/Node" && field == "children[]"),
            "{error}"
        );
    }

    #[test]
    fn exponential_ref_expansion_is_capped() {
        let mut defs = Map::new();
        defs.insert("L0".to_string(), json!({"type": "integer"}));
        for level in 1..40 {
            let child = json!({"$ref": format!("#/$defs/L{}", level - 1)});
            let model = json!({"type": "object", "required": ["a", "b"], "properties": {"a": child, "b": child}});
            defs.insert(format!("L{level}"), model);
        }
        let doc = json!({"$defs": defs, "$ref": "#/$defs/L39"});
        let error = Schema::from_json_schema(&doc).unwrap_err().to_string();
        assert!(error.contains("more than 100000"), "{error}");
    }

    fn valid_record() -> Value {
        json!({
            "captured_at": "2024-05-01T14:00:00+02:00",
            "file": {"source": "s3://bucket", "path": "a/b.jpg", "size": 12},
            "kind": "a",
            "meta": {"camera": "x1", "exposure": 2},
            "split": "train",
            "tags": ["day", "city"],
            "weather": "rain"
        })
    }

    #[test]
    fn validate_normalizes() {
        let normalized = sample_schema().validate(&valid_record()).unwrap();
        let expected = json!({
            "captured_at": "2024-05-01T12:00:00.000000Z",
            "file": {"source": "s3://bucket", "path": "a/b.jpg", "size": 12, "etag": null, "version": null,
                     "last_modified": null, "blake3": null},
            "kind": "a",
            "meta": {"camera": "x1", "exposure": 2.0},
            "note": null,
            "previous": null,
            "score": null,
            "split": "train",
            "tags": ["day", "city"],
            "thumbnail": null,
            "weather": "rain"
        });
        assert_eq!(normalized, expected);
        assert!(normalized["meta"]["exposure"].is_f64());
    }

    fn violation_of(schema: &Schema, change: impl FnOnce(&mut Value)) -> String {
        let mut record = valid_record();
        change(&mut record);
        schema.validate(&record).unwrap_err().to_string()
    }

    #[test]
    fn validate_errors_name_path_and_problem() {
        let schema = sample_schema();
        assert_eq!(
            violation_of(&schema, |r| r["weather"] = json!("hail")),
            r#"weather: "hail" is not one of clear, rain, fog, snow, night"#
        );
        assert_eq!(
            violation_of(&schema, |r| r["file"]["size"] = json!("12")),
            r#"file.size: expected int, found string "12""#
        );
        assert_eq!(
            violation_of(&schema, |r| r["file"]["size"] = json!(3.0)),
            "file.size: expected int, found float 3.0"
        );
        assert_eq!(
            violation_of(&schema, |r| r["file"]["size"] = json!(-1)),
            "file.size: expected a non-negative int, found int -1"
        );
        assert_eq!(
            violation_of(&schema, |r| r["tags"][1] = json!(5)),
            "tags[1]: expected string, found int 5"
        );
        assert_eq!(
            violation_of(&schema, |r| r["meta"]["lens"] = json!("x")),
            "meta.lens: unknown field (not in the schema)"
        );
        assert_eq!(
            violation_of(&schema, |r| r["file"]["mtime"] = json!(1)),
            "file.mtime: unknown field (not in the schema)"
        );
        assert_eq!(
            violation_of(&schema, |r| {
                r.as_object_mut().unwrap().remove("kind");
            }),
            "kind: missing required field"
        );
        assert_eq!(
            violation_of(&schema, |r| {
                r["file"].as_object_mut().unwrap().remove("path");
            }),
            "file.path: missing required field"
        );
        assert_eq!(
            violation_of(&schema, |r| r["meta"] = json!(null)),
            "meta: expected struct, found null"
        );
        assert_eq!(
            violation_of(&schema, |r| r["file"] = json!("a.jpg")),
            r#"file: expected File, found string "a.jpg""#
        );
        assert_eq!(
            violation_of(&schema, |r| r["thumbnail"] = json!(3)),
            "thumbnail: expected bytes (utf8), found int 3"
        );
        assert!(
            violation_of(&schema, |r| r["captured_at"] = json!("yesterday"))
                .starts_with("captured_at: expected datetime")
        );
        assert_eq!(
            schema.validate(&json!([1])).unwrap_err().to_string(),
            "expected object, found array"
        );
    }

    #[test]
    fn datetimes_normalize_to_utc_micros() {
        let schema = schema(vec![field("t", Type::Datetime)]);
        let normalize = |text: &str| {
            schema
                .validate(&json!({"t": text}))
                .map(|row| row["t"].clone())
        };
        assert_eq!(
            normalize("2024-05-01T12:00:00Z").unwrap(),
            json!("2024-05-01T12:00:00.000000Z")
        );
        assert_eq!(
            normalize("2024-05-01T12:00:00.5-01:30").unwrap(),
            json!("2024-05-01T13:30:00.500000Z")
        );
        assert_eq!(
            normalize("2024-05-01T12:00:00.123456789Z").unwrap(),
            json!("2024-05-01T12:00:00.123456Z")
        );
        assert_eq!(
            normalize("2024-05-01T12:00:00").unwrap(),
            json!("2024-05-01T12:00:00.000000Z")
        );
        assert_eq!(
            normalize("2024-05-01T12:00:00.25").unwrap(),
            json!("2024-05-01T12:00:00.250000Z")
        );
        assert!(normalize("2024-05-01").is_err());
        assert!(normalize("2024-13-01T00:00:00Z").is_err());
    }

    fn infer(records: &[Value]) -> Result<Schema, SchemaError> {
        let mut inferrer = Inferrer::new();
        for (idx, record) in records.iter().enumerate() {
            inferrer.observe(idx as u64 + 1, record)?;
        }
        Ok(inferrer.finish())
    }

    /// With the records' text, fields are inferred in the order first seen, nested ones
    /// too; without it, in name order.
    #[test]
    fn inference_keeps_the_order_fields_are_first_seen() {
        let lines = [
            r#"{"zeta": 1, "alpha": {"y": 1, "b": 2}, "list": [{"q": 1}, {"q": 2, "a": 1}]}"#,
            r#"{"alpha": {"b": 3, "y": 4, "new": 5}, "zeta": 2, "mid": true, "list": []}"#,
            r#"{"alpha": {"b": 3, "y": 4, "new": 5}, "zeta": 2, "mid": false, "later": NaN}"#,
        ];
        let mut inferrer = Inferrer::new();
        for (idx, text) in lines.iter().enumerate() {
            let value = crate::rows::json::parse_record(text).unwrap();
            inferrer
                .observe_text(idx as u64 + 1, &value, text)
                .unwrap_or_else(|err| panic!("{text}: {err}"));
        }
        let schema = inferrer.finish();
        assert_eq!(
            schema.column_paths(),
            [
                "zeta",
                "alpha",
                "alpha.y",
                "alpha.b",
                "alpha.new",
                "list",
                "list[]",
                "list[].q",
                "list[].a",
                "mid",
                "later"
            ]
        );
        let names: Vec<String> = infer(&[json!({"b": 1, "a": 2})])
            .unwrap()
            .fields
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    /// A later version's inferred schema keeps the parent's order, nested fields too,
    /// with new fields after.
    #[test]
    fn inferred_fields_follow_the_parent_order() {
        let parent = schema(vec![
            field("b", Type::Int),
            field(
                "s",
                Type::List(Box::new(Type::Struct(vec![
                    field("y", Type::Int),
                    field("x", Type::Int),
                ]))),
            ),
            field("a", Type::Int),
        ]);
        let inferred = schema(vec![
            field("new", Type::Bool),
            field("a", Type::Int),
            field(
                "s",
                optional(Type::List(Box::new(Type::Struct(vec![
                    field("x", Type::Int),
                    field("z", Type::Int),
                    field("y", Type::Int),
                ])))),
            ),
            field("b", Type::Float),
        ]);
        assert_eq!(
            follow_order(inferred, &parent).column_paths(),
            ["b", "s", "s[]", "s[].y", "s[].x", "s[].z", "a", "new"]
        );
    }

    #[test]
    fn inference_unifies_records() {
        let inferred = infer(&[
            json!({"n": 1, "x": 1, "file": {"source": "s3://b", "path": "k", "size": 3}, "tags": [], "meta": {"a": 1},
                   "gone": true, "nothing": null, "list": [1]}),
            json!({"n": 2, "x": 2.5, "file": {"source": "s3://b", "path": "k2", "etag": "e"}, "tags": [],
                   "meta": {"b": "s"}, "nothing": null, "list": [null, 2.5], "when": "2024-05-01T00:00:00Z"}),
        ])
        .unwrap();
        let expected = schema(vec![
            field("file", Type::File),
            field("gone", optional(Type::Bool)),
            field("list", Type::List(Box::new(optional(Type::Float)))),
            field(
                "meta",
                Type::Struct(vec![
                    field("a", optional(Type::Int)),
                    field("b", optional(Type::String)),
                ]),
            ),
            field("n", Type::Int),
            field("nothing", optional(Type::String)),
            field("tags", Type::List(Box::new(Type::String))),
            // First seen in the second record: after the first's fields (name order
            // within a record, as a `Value` has no other).
            field("x", Type::Float),
            field("when", optional(Type::String)),
        ]);
        assert_eq!(inferred, expected);

        let not_file =
            infer(&[json!({"f": {"source": "s", "path": "p", "caption": "c"}})]).unwrap();
        assert!(matches!(&not_file.fields[0].ty, Type::Struct(fields) if fields.len() == 3));
        assert_eq!(infer(&[]).unwrap(), schema(vec![]));
    }

    #[test]
    fn inference_conflicts_name_field_and_lines() {
        let error = infer(&[json!({"x": "a"}), json!({"y": 1}), json!({"x": 3})]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 3: field `x` is int but was string at line 1; hint: pass --schema to declare it"
        );
        let error = infer(&[json!({"m": {"a": [1]}}), json!({"m": {"a": {"b": 1}}})]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 2: field `m.a` is object but was array at line 1; hint: pass --schema to declare it"
        );
        let error = infer(&[json!({"t": [1, "a"]})]).unwrap_err().to_string();
        assert!(
            error.starts_with("line 1: field `t[]` is string but was int at line 1"),
            "{error}"
        );
        let error = infer(&[json!({}), json!([1])]).unwrap_err().to_string();
        assert_eq!(error, "line 2: expected a JSON object, found array");
    }

    #[test]
    fn rows_round_trip_through_arrow() {
        let schema = schema(vec![
            field("file", Type::File),
            field("maybe_file", optional(Type::File)),
            field("tags", Type::List(Box::new(Type::String))),
            field(
                "scores",
                optional(Type::List(Box::new(optional(Type::Float)))),
            ),
            field(
                "meta",
                optional(Type::Struct(vec![
                    field("a", Type::Int),
                    field("b", optional(Type::Bool)),
                ])),
            ),
            field("empty", Type::Struct(vec![])),
            field("blob", optional(Type::Bytes)),
            field("at", Type::Datetime),
            field("weather", weather()),
        ]);
        let inputs = [
            json!({"file": {"source": "s3://b", "path": "a.jpg", "size": 10, "etag": "e1",
                            "last_modified": "2024-01-02T03:04:05.678Z", "blake3": "ab"},
                   "maybe_file": {"source": "file:///d", "path": "x"},
                   "tags": ["a", "b"], "scores": [1.5, null, 2], "meta": {"a": 7, "b": true}, "empty": {},
                   "blob": "AAEC/w==", "at": "2024-05-01T12:00:00Z", "weather": "fog"}),
            json!({"file": {"source": "s3://b", "path": "b.jpg"}, "tags": [], "scores": null, "meta": null,
                   "empty": {}, "at": "1969-12-31T23:59:59.999999Z", "weather": "night"}),
            json!({"file": {"source": "s3://b", "path": "c.jpg", "version": "v3"}, "tags": ["c"], "meta": {"a": -1},
                   "empty": {}, "blob": "", "at": "2030-01-01T00:00:00.000001+00:00", "weather": "clear"}),
        ];
        let rows: Vec<Value> = inputs
            .iter()
            .map(|input| schema.validate(input).unwrap())
            .collect();
        let batch = rows_to_batch(&schema, &rows).unwrap();
        assert_eq!(batch.num_rows(), 3);
        assert_eq!(batch.schema().as_ref(), &schema.to_arrow());
        assert_eq!(batch_to_rows(&schema, &batch).unwrap(), rows);
        assert_eq!(
            batch_to_rows(&schema, &batch.slice(1, 2)).unwrap(),
            rows[1..]
        );

        let empty = rows_to_batch(&schema, &[]).unwrap();
        assert_eq!(batch_to_rows(&schema, &empty).unwrap(), Vec::<Value>::new());

        let bad = vec![
            json!({"file": {"source": "s", "path": "p"}, "tags": "x", "empty": {}, "at": "2024-05-01T12:00:00Z",
                              "weather": "fog"}),
        ];
        let error = rows_to_batch(&schema, &bad).unwrap_err();
        assert!(
            matches!(&error, SchemaError::NotNormalized { path, .. } if path == "tags"),
            "{error}"
        );
        let missing_required =
            vec![json!({"tags": [], "empty": {}, "at": "2024-05-01T12:00:00Z", "weather": "fog"})];
        assert!(rows_to_batch(&schema, &missing_required).is_err());
    }

    #[test]
    fn datetimes_format_as_chrono_writes_them() {
        let chrono_text =
            |datetime: &DateTime<Utc>| datetime.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let mut micros: i64 = -62_135_596_800_000_000; // 0001-01-01
        let mut step: i64 = 1;
        while micros < 253_402_300_799_999_999 {
            let datetime = DateTime::from_timestamp_micros(micros).expect("in range");
            assert_eq!(
                format_datetime(&datetime),
                chrono_text(&datetime),
                "{micros}"
            );
            micros = micros.saturating_add(step);
            step = step.saturating_mul(3) / 2 + 7;
        }
        for text in [
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "2026-11-30T18:51:41.000001Z",
        ] {
            let datetime = parse_datetime(text).expect("parses");
            assert_eq!(format_datetime(&datetime), chrono_text(&datetime));
        }
        let before_year_0 =
            DateTime::from_timestamp_micros(-62_167_219_200_000_001).expect("in range");
        assert_eq!(format_datetime(&before_year_0), chrono_text(&before_year_0));
        assert!(format_datetime(&before_year_0).starts_with('-'));
    }

    #[test]
    fn arrow_mapping() {
        let arrow = sample_schema().to_arrow();
        let data_type = |name: &str| arrow.field_with_name(name).unwrap().data_type().clone();
        let nullable = |name: &str| arrow.field_with_name(name).unwrap().is_nullable();
        assert_eq!(
            data_type("captured_at"),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(data_type("file"), DataType::Struct(file_arrow_fields()));
        assert_eq!(data_type("thumbnail"), DataType::Binary);
        assert_eq!(data_type("weather"), DataType::Utf8);
        assert_eq!(
            data_type("tags"),
            DataType::List(Arc::new(arrow_schema::Field::new(
                "item",
                DataType::Utf8,
                false
            )))
        );
        assert!(
            !nullable("file") && nullable("previous") && nullable("score") && !nullable("weather")
        );
        let file = file_arrow_fields();
        let names: Vec<_> = file
            .iter()
            .map(|f| (f.name().as_str(), f.is_nullable()))
            .collect();
        assert_eq!(
            names,
            [
                ("source", false),
                ("path", false),
                ("size", true),
                ("etag", true),
                ("version", true),
                ("last_modified", true),
                ("blake3", true)
            ]
        );
        assert_eq!(file[2].data_type(), &DataType::Int64);
    }

    #[test]
    fn tree_and_columns() {
        let schema = schema(vec![
            field("file", Type::File),
            field(
                "weather",
                Type::Enum(vec!["clear".into(), "rain".into(), "fog".into()]),
            ),
            field("tags", Type::List(Box::new(Type::String))),
            field("meta", Type::Struct(vec![field("a", Type::Int)])),
            field(
                "boxes",
                Type::List(Box::new(Type::Struct(vec![field("x", Type::Float)]))),
            ),
        ]);
        let expected = "\
file: File
  source: string
  path: string
  size: optional<int>
  etag: optional<string>
  version: optional<string>
  last_modified: optional<datetime (UTC)>
  blake3: optional<string>
weather: enum(clear, rain, fog)
tags: list<string>
meta: struct
  a: int
boxes: list<struct>
  x: float
";
        assert_eq!(schema.render_tree(), expected);
        assert_eq!(
            schema.flat_columns(),
            [
                "file.source",
                "file.path",
                "file.size",
                "file.etag",
                "file.version",
                "file.last_modified",
                "file.blake3",
                "weather",
                "tags",
                "meta.a",
                "boxes"
            ]
        );
        assert_eq!(schema.file_columns(), ["file"]);
        assert_eq!(Schema::listing().file_columns(), ["file"]);
    }

    #[test]
    fn compare_classifies_changes() {
        let base = schema(vec![
            field("a", Type::Int),
            field("b", optional(Type::String)),
            field("e", Type::Enum(vec!["x".into(), "y".into()])),
            field("m", Type::Struct(vec![field("k", Type::Int)])),
        ]);
        let with = |change: &dyn Fn(&mut Vec<Field>)| {
            let mut fields = base.fields.clone();
            change(&mut fields);
            compare(&base, &schema(fields))
        };
        assert_eq!(compare(&base, &base.clone()), Compat::Same);
        assert_eq!(
            with(&|f| f.push(field("z", Type::Int))),
            Compat::Additive(vec!["column `z` added".into()])
        );
        assert_eq!(
            with(&|f| f[0].ty = optional(Type::Int)),
            Compat::Additive(vec!["column `a` made optional".into()])
        );
        assert_eq!(
            with(&|f| f[1].ty = Type::String),
            Compat::Breaking(vec!["column `b` made required".into()])
        );
        assert_eq!(
            with(&|f| {
                f.remove(0);
            }),
            Compat::Breaking(vec!["column `a` removed".into()])
        );
        assert_eq!(
            with(&|f| f[0].ty = Type::String),
            Compat::Breaking(vec!["column `a` retyped from int to string".into()])
        );
        assert_eq!(
            with(&|f| f[2].ty = Type::Enum(vec!["x".into(), "y".into(), "w".into()])),
            Compat::Additive(vec!["column `e` enum value `w` added".into()])
        );
        assert_eq!(
            with(&|f| f[2].ty = Type::Enum(vec!["x".into()])),
            Compat::Breaking(vec!["column `e` enum value `y` removed".into()])
        );
        assert_eq!(
            with(&|f| {
                f[3].ty = Type::Struct(vec![field("j", Type::Int)]);
                f.push(field("z", Type::Int));
            }),
            Compat::Breaking(vec![
                "column `m.k` removed".into(),
                "column `m.j` added".into(),
                "column `z` added".into()
            ])
        );
    }

    #[test]
    fn schema_round_trips_through_cbor() {
        let schema = sample_schema();
        let mut bytes = Vec::new();
        ciborium::into_writer(&schema, &mut bytes).unwrap();
        let decoded: Schema = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(decoded, schema);
        let mut again = Vec::new();
        ciborium::into_writer(&decoded, &mut again).unwrap();
        assert_eq!(again, bytes, "encoding is deterministic");
    }

    fn arb_type() -> impl proptest::strategy::Strategy<Value = Type> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Type::Bool),
            Just(Type::Int),
            Just(Type::Float),
            Just(Type::String),
            Just(Type::Bytes),
            Just(Type::Datetime),
            Just(Type::File),
            Just(Type::BytesAs(BytesEncoding::Utf8)),
            Just(Type::BytesAs(BytesEncoding::Base64Url)),
            proptest::collection::vec("[a-z]{1,3}", 1..3).prop_map(Type::Enum),
        ];
        leaf.prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(|ty| Type::List(Box::new(ty))),
                inner.clone().prop_map(make_optional),
                proptest::collection::vec(("[a-z]{1,4}", inner), 1..3).prop_map(|fields| {
                    Type::Struct(
                        fields
                            .into_iter()
                            .map(|(name, ty)| Field { name, ty })
                            .collect(),
                    )
                }),
            ]
        })
    }

    // Found by `mutated_schemas_never_panic`: a format-2 schema whose format byte says 1
    // decoded, then re-encoded as format 2, under another id.
    #[test]
    fn a_schema_whose_format_does_not_fit_its_types_is_refused() {
        let schema = sample_schema();
        assert_eq!(schema.format, 2, "the sample uses a format-2 type");
        let (_, bytes) = schema.encode();
        let at = bytes
            .windows(2)
            .position(|pair| pair == [0x66, b'f'] || pair == b"fo")
            .expect("the format key is in the bytes");
        let mut forged = bytes.clone();
        let value_at = forged[at..]
            .iter()
            .position(|byte| *byte == 0x02)
            .expect("the format value follows its key")
            + at;
        forged[value_at] = 0x01;
        let err = Schema::decode(&forged).unwrap_err();
        assert!(
            err.to_string()
                .contains("format 1 but its types and ids are those of format 2"),
            "{err}"
        );
        assert_eq!(Schema::decode(&bytes).unwrap(), schema);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn schemas_round_trip(types in proptest::collection::vec(arb_type(), 0..4)) {
            let fields: Vec<Field> = types
                .into_iter()
                .enumerate()
                .map(|(idx, ty)| field(&format!("f{idx}"), ty))
                .collect();
            let schema = Schema::new(fields);
            let (id, bytes) = schema.encode();
            let back = Schema::decode(&bytes).unwrap();
            proptest::prop_assert_eq!(&back, &schema);
            proptest::prop_assert_eq!(back.encode().0, id);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_schema_decoder(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let _ = Schema::decode(&bytes);
        }

        #[test]
        fn mutated_schemas_never_panic(idx in 0usize..400, byte in proptest::prelude::any::<u8>()) {
            let (_, mut bytes) = sample_schema().encode();
            let idx = idx % bytes.len();
            bytes[idx] = byte;
            if let Ok(schema) = Schema::decode(&bytes) {
                let (_, again) = schema.encode();
                proptest::prop_assert_eq!(Schema::decode(&again).unwrap(), schema);
            }
        }

        #[test]
        fn bytes_round_trip_in_every_encoding(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            for encoding in [BytesEncoding::Base64, BytesEncoding::Base64Url, BytesEncoding::Utf8] {
                if let Some(text) = encoding.encode(&bytes) {
                    proptest::prop_assert_eq!(encoding.decode(&text), Some(bytes.clone()));
                }
            }
        }
    }

    #[test]
    fn column_ids_are_kept_by_path_and_new_paths_get_new_ids() {
        let v1 = schema(vec![
            field("a", Type::Int),
            field("s", Type::Struct(vec![field("b", Type::Int)])),
            field("l", optional(Type::List(Box::new(Type::File)))),
        ])
        .numbered_after(None);
        assert_eq!(v1.columns, None);
        let paths = v1.column_paths();
        assert_eq!(&paths[..6], ["a", "s", "s.b", "l", "l[]", "l[].source"]);
        assert_eq!(v1.last_column_id(), paths.len() as u32);
        // Appending a top-level column keeps the default numbering: no ids written.
        let mut fields = v1.fields.clone();
        fields.push(field("z", Type::Bool));
        let v2 = schema(fields).numbered_after(Some(&v1));
        assert_eq!((v2.format, v2.columns.clone()), (1, None));
        // A nested column added, `a` removed and the order changed: explicit ids.
        let v3 = schema(vec![
            field("z", Type::Bool),
            field(
                "s",
                Type::Struct(vec![field("c", Type::Int), field("b", Type::Int)]),
            ),
        ])
        .numbered_after(Some(&v2));
        assert_eq!(v3.format, 3);
        let ids: Vec<(String, u32)> = v3
            .column_ids()
            .into_iter()
            .map(|c| (c.path, c.id))
            .collect();
        let z = paths.len() as u32 + 1;
        assert_eq!(
            ids,
            vec![
                ("z".into(), z),
                ("s".into(), 2),
                ("s.c".into(), z + 1),
                ("s.b".into(), 3)
            ]
        );
        assert_eq!(v3.last_column_id(), z + 1);
        // Stored and read back with the same ids; and a re-added `a` gets a new id.
        let (_, bytes) = v3.encode();
        assert_eq!(Schema::decode(&bytes).unwrap(), v3);
        let v4 =
            schema(vec![field("a", Type::Int), field("z", Type::Bool)]).numbered_after(Some(&v3));
        assert_eq!(v4.column_ids()[0].id, z + 2);
        assert_eq!(v4.column_ids()[1].id, z);
    }

    #[test]
    fn fields_keep_the_declared_order_and_rows_print_in_it() {
        let text = r##"{"title": "Clip", "type": "object", "required": ["zeta", "alpha", "meta"],
            "properties": {"zeta": {"type": "integer"}, "alpha": {"type": "string"},
                "meta": {"$ref": "#/$defs/Meta"}},
            "$defs": {"Meta": {"type": "object", "required": ["y", "b"],
                "properties": {"y": {"type": "integer"}, "b": {"type": "array", "items": {"type": "integer"}}}}}}"##;
        let doc: Value = serde_json::from_str(text).unwrap();
        let schema = Schema::from_json_schema_text(&doc, text).unwrap();
        let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha", "meta"]);
        assert_eq!(
            schema.column_paths(),
            ["zeta", "alpha", "meta", "meta.y", "meta.b", "meta.b[]"]
        );
        // Without the text, the order is lost: sorted by name.
        let sorted = Schema::from_json_schema(&doc).unwrap();
        assert_eq!(sorted.fields[0].name, "alpha");
        // Same columns in another order: not a change for the bump rules.
        assert_eq!(compare(&sorted, &schema), Compat::Same);
        let row = schema
            .validate(&json!({"alpha": "a", "meta": {"b": [1], "y": 2}, "zeta": 1}))
            .unwrap();
        assert_eq!(
            serde_json::to_string(&schema.ordered(&row)).unwrap(),
            r#"{"zeta":1,"alpha":"a","meta":{"y":2,"b":[1]}}"#
        );
        assert_eq!(schema.flat_columns(), ["zeta", "alpha", "meta.y", "meta.b"]);
    }

    /// Pydantic's schema for date, time, timedelta, UUID, Decimal, IntEnum and an int
    /// Literal, with a record as `model_dump_json()` writes it.
    #[test]
    fn pydantic_scalar_types_import_validate_and_round_trip_through_arrow() {
        let text = r##"{"$defs": {"P": {"enum": [1, 3], "title": "P", "type": "integer"}}, "properties": {"d": {"format": "date", "title": "D", "type": "string"}, "t": {"format": "time", "title": "T", "type": "string"}, "td": {"format": "duration", "title": "Td", "type": "string"}, "u": {"format": "uuid", "title": "U", "type": "string"}, "dec": {"anyOf": [{"type": "number"}, {"type": "string"}], "title": "Dec"}, "p": {"$ref": "#/$defs/P"}, "l": {"enum": [1, 2], "title": "L", "type": "integer"}, "o": {"anyOf": [{"format": "date", "type": "string"}, {"type": "null"}], "default": null}}, "required": ["d", "t", "td", "u", "dec", "p", "l"], "title": "M", "type": "object"}"##;
        let doc: Value = serde_json::from_str(text).unwrap();
        let schema = Schema::from_json_schema_text(&doc, text).unwrap();
        let dec = Type::Decimal {
            precision: DECIMAL_PRECISION,
            scale: DECIMAL_SCALE,
        };
        assert_eq!(
            schema.fields,
            vec![
                field("d", Type::Date),
                field("t", Type::Time),
                field("td", Type::Duration),
                field("u", Type::Uuid),
                field("dec", dec.clone()),
                field("p", Type::IntEnum(vec![1, 3])),
                field("l", Type::IntEnum(vec![1, 2])),
                field("o", optional(Type::Date)),
            ]
        );
        assert_eq!(schema.format, 3);
        let record = json!({"d": "2024-01-02", "t": "12:30:00+02:00", "td": "P1DT5.000003S",
            "u": "5EE56C1C-3C53-4D40-8F64-495141B50E65", "dec": "1.10", "p": 3, "l": 2, "o": null});
        let row = schema.validate(&record).unwrap();
        assert_eq!(
            row,
            json!({"d": "2024-01-02", "t": "10:30:00.000000", "td": "P1DT5.000003S",
                "u": "5ee56c1c-3c53-4d40-8f64-495141b50e65", "dec": "1.100000000", "p": 3, "l": 2,
                "o": null})
        );
        let batch = rows_to_batch(&schema, std::slice::from_ref(&row)).unwrap();
        assert_eq!(batch.column(0).data_type(), &DataType::Date32);
        assert_eq!(batch.column(4).data_type(), &DataType::Decimal128(38, 9));
        assert_eq!(batch_to_rows(&schema, &batch).unwrap(), vec![row.clone()]);
        // Refusals name the field and say why; a decimal is never rounded.
        let refused = |key: &str, value: Value| {
            let mut bad = record.clone();
            bad[key] = value;
            schema.validate(&bad).unwrap_err().to_string()
        };
        let err = refused("dec", json!("0.0000000001"));
        assert!(
            err.starts_with("dec: expected decimal(38, 9)") && err.contains("never rounded"),
            "{err}"
        );
        // A JSON number reaches a decimal exactly, however many digits it has (`rows::json`
        // keeps the text of a literal no f64 holds); a float column takes the nearest f64.
        let exact = |dec: &str| {
            let line = format!(
                r#"{{"d": "2024-01-02", "t": "12:30:00", "td": 1.5, "u": "5ee56c1c3c534d408f64495141b50e65", "dec": {dec}, "p": 3, "l": 2}}"#
            );
            schema.validate(&crate::rows::json::parse_record(&line).unwrap())
        };
        for (literal, stored) in [
            ("12345678901234567.89", "12345678901234567.890000000"),
            (
                "-99999999999999999999.999999999",
                "-99999999999999999999.999999999",
            ),
            ("1e2", "100.000000000"),
            ("0.1", "0.100000000"),
        ] {
            let row = exact(literal).unwrap_or_else(|err| panic!("{literal}: {err}"));
            assert_eq!(row["dec"], json!(stored), "{literal}");
        }
        // 19 places: refused, never rounded to 0.1 (which the nearest f64 prints as).
        assert_eq!(
            exact("0.1000000000000000055").unwrap_err().message,
            "expected decimal(38, 9), found float 0.1000000000000000055: it has more than 9 \
             digits after the point (a decimal is stored exactly, never rounded)"
        );
        let err = exact("123456789012345678901234567890.5").unwrap_err();
        assert!(
            err.message.ends_with(
                "found float 123456789012345678901234567890.5: it has more than 29 digits \
                 before the point (a decimal is stored exactly, never rounded)"
            ),
            "{err}"
        );
        assert_eq!(exact("1").unwrap()["td"], json!("PT1.5S"));
        assert!(refused("p", json!(2)).starts_with("p: 2 is not one of 1, 3"));
        assert!(refused("d", json!("2024-13-01")).starts_with("d: expected date"));
        assert!(refused("u", json!("nope")).starts_with("u: expected UUID"));
        assert!(refused("td", json!("P1Y")).starts_with("td: expected duration"));
        // Bump rules: a new int literal is additive, a removed one breaking.
        let widened = Schema::new(vec![field("p", Type::IntEnum(vec![1, 3, 5]))]);
        let narrow = Schema::new(vec![field("p", Type::IntEnum(vec![1, 3]))]);
        assert!(matches!(compare(&narrow, &widened), Compat::Additive(_)));
        assert!(matches!(compare(&widened, &narrow), Compat::Breaking(_)));
        // Stored and decoded as format 3.
        assert_eq!(Schema::decode(&schema.encode().1).unwrap(), schema);
    }

    /// Pydantic's `ImageFile(File)` with the File marker: a File with extra columns.
    #[test]
    fn a_marked_file_subclass_is_a_file_with_its_extra_fields() {
        let text = r##"{"type": "object", "required": ["image"], "properties": {
            "image": {"$ref": "#/$defs/ImageFile"}},
            "$defs": {"ImageFile": {"title": "ImageFile", "type": "object", "x-pail-type": "file",
                "required": ["source", "path", "width"], "properties": {
                "source": {"type": "string"}, "path": {"type": "string"},
                "size": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                "width": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}}}}}"##;
        let doc: Value = serde_json::from_str(text).unwrap();
        let schema = Schema::from_json_schema_text(&doc, text).unwrap();
        let ty = Type::FileWith(vec![
            field("width", Type::Int),
            field("tags", optional(Type::List(Box::new(Type::String)))),
        ]);
        assert_eq!(schema.fields, vec![field("image", ty.clone())]);
        assert_eq!(schema.file_columns(), ["image"]);
        assert_eq!(schema.format, 3);
        let row = schema
            .validate(&json!({"image": {"source": "s3://b", "path": "a.png", "width": 3}}))
            .unwrap();
        assert_eq!(row["image"]["tags"], Value::Null);
        assert_eq!(row["image"]["size"], Value::Null);
        let batch = rows_to_batch(&schema, std::slice::from_ref(&row)).unwrap();
        assert_eq!(batch_to_rows(&schema, &batch).unwrap(), vec![row.clone()]);
        let printed = serde_json::to_string(&schema.ordered(&row)).unwrap();
        assert!(
            printed.starts_with(r#"{"image":{"source":"s3://b","path":"a.png""#),
            "{printed}"
        );
        assert!(printed.ends_with(r#""width":3,"tags":null}}"#), "{printed}");
        // Without the marker and not titled File, it stays a plain struct.
        let unmarked = text.replace(r#""x-pail-type": "file","#, "");
        let doc: Value = serde_json::from_str(&unmarked).unwrap();
        let plain = Schema::from_json_schema_text(&doc, &unmarked).unwrap();
        assert!(matches!(plain.fields[0].ty, Type::Struct(_)));
        assert_eq!(Schema::decode(&schema.encode().1).unwrap(), schema);
    }

    #[test]
    fn records_dumped_without_aliases_and_nan_as_null_get_hints() {
        let schema = schema(vec![
            field("userName", Type::String),
            field("score", Type::Float),
        ]);
        let err = schema
            .validate(&json!({"user_name": "a", "score": 1.0}))
            .unwrap_err();
        assert_eq!(err.path, "userName");
        assert!(
            err.message.contains("`user_name`")
                && err.message.contains("model_dump_json(by_alias=True)"),
            "{err}"
        );
        // Only a missing field beside an unknown key suggests aliases.
        let err = schema.validate(&json!({"score": 1.0})).unwrap_err();
        assert_eq!(err.message, "missing required field");
        let err = schema
            .validate(&json!({"userName": "a", "score": null}))
            .unwrap_err();
        assert!(
            err.message
                .starts_with("expected float, found null; hint: Pydantic writes NaN")
                && err.message.contains("ser_json_inf_nan='constants'"),
            "{err}"
        );
    }

    /// Constraints are read by column path (through optionals, list items, map values,
    /// union variants and decimals), kept in format 3, checked at validation and shown.
    #[test]
    fn constraints_are_kept_by_column_path_and_checked() {
        let text = r##"{"type": "object", "required": ["n", "tags", "tool", "usage", "cost"],
            "properties": {
            "n": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]},
            "tags": {"type": "array", "maxItems": 2, "items": {"type": "string", "maxLength": 3}},
            "tool": {"oneOf": [{"$ref": "#/$defs/Search"}, {"$ref": "#/$defs/Calc"}],
                     "discriminator": {"propertyName": "kind",
                        "mapping": {"search": "#/$defs/Search", "calc": "#/$defs/Calc"}}},
            "usage": {"type": "object", "additionalProperties": {"type": "number", "exclusiveMinimum": 0}},
            "cost": {"anyOf": [{"type": "number", "minimum": 0.0}, {"type": "string"}]}},
            "$defs": {
              "Search": {"type": "object", "required": ["kind", "query"], "properties": {
                "kind": {"const": "search"}, "query": {"type": "string", "pattern": "(?<!x)y"}}},
              "Calc": {"type": "object", "required": ["kind", "expr"], "properties": {
                "kind": {"const": "calc"}, "expr": {"type": "string", "minLength": 1}}}}}"##;
        let doc: Value = serde_json::from_str(text).unwrap();
        let schema = Schema::from_json_schema_text(&doc, text).unwrap();
        let paths: Vec<&str> = schema
            .constraints
            .iter()
            .flatten()
            .map(|c| c.path.as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "n",
                "tags",
                "tags[]",
                "tool|search.query",
                "tool|calc.expr",
                "usage{value}",
                "cost"
            ]
        );
        assert_eq!(schema.format, 3);
        assert_eq!(Schema::decode(&schema.encode().1).unwrap(), schema);
        let good = json!({"n": null, "tags": ["a"], "tool": {"kind": "calc", "expr": "1"},
            "usage": {"in": 1.5}, "cost": "0.5"});
        schema.validate(&good).unwrap();
        let fails = |change: Value| {
            let mut record = good.clone();
            for (key, value) in change.as_object().unwrap() {
                record[key] = value.clone();
            }
            let err = schema.validate(&record).unwrap_err();
            format!("{}: {}", err.path, err.message)
        };
        assert_eq!(fails(json!({"n": -1})), "n: -1 is not ge=0");
        // A bound is read from the text exactly (serde_json reads this one a ulp low).
        let bound = r#"{"type": "object", "properties": {"x": {"type": "number", "maximum": 52.046970272007556}}, "required": ["x"]}"#;
        let doc: Value = serde_json::from_str(bound).unwrap();
        let bounded = Schema::from_json_schema_text(&doc, bound).unwrap();
        assert_eq!(
            bounded.constraint("x").unwrap().le.as_deref(),
            Some("52.046970272007556")
        );
        bounded
            .validate(&crate::rows::json::parse(r#"{"x": 52.046970272007556}"#).unwrap())
            .unwrap();
        assert_eq!(
            fails(json!({"tags": ["a", "b", "c"]})),
            "tags: 3 items, more than max_items=2"
        );
        assert_eq!(
            fails(json!({"tool": {"kind": "calc", "expr": ""}})),
            r#"tool.expr: "" has 0 characters, fewer than min_length=1"#
        );
        assert_eq!(
            fails(json!({"usage": {"in": 0}})),
            r#"usage["in"]: 0.0 is not gt=0"#
        );
        assert_eq!(
            fails(json!({"cost": "-0.1"})),
            "cost: -0.100000000 is not ge=0.0"
        );
        // The lookbehind is kept and shown, not checked.
        schema
            .validate(
                &json!({"n": 1, "tags": [], "tool": {"kind": "search", "query": "xy"},
                "usage": {}, "cost": 1}),
            )
            .unwrap();
        let shown = schema.render_tree();
        assert!(shown.contains("n: optional<int> Field(ge=0)\n"), "{shown}");
        assert!(
            shown.contains("tags: list<string> Field(max_items=2) []: Field(max_length=3)\n"),
            "{shown}"
        );
        assert!(
            shown.contains("|search.query: Field(pattern=r'(?<!x)y' (kept, not checked))"),
            "{shown}"
        );
        // A forged list: out of path order.
        let mut forged = schema.clone();
        forged.constraints.as_mut().unwrap().reverse();
        assert!(Schema::decode(&forged.encode().1).is_err());
    }

    /// `NaN`, `Infinity` and `-Infinity`: bare tokens (Pydantic's
    /// `ser_json_inf_nan='constants'`) or strings (`'strings'`) in a float column; a bare
    /// token anywhere else is refused by name.
    #[test]
    fn non_finite_floats_are_kept_only_where_a_float_is_expected() {
        use crate::rows::json::parse_record;
        let schema = schema(vec![
            field("x", Type::Float),
            field("xs", Type::List(Box::new(Type::Float))),
            field("s", Type::Optional(Box::new(Type::String))),
            field(
                "u",
                Type::Union {
                    variants: vec![field("string", Type::String), field("float", Type::Float)],
                    discriminator: None,
                },
            ),
        ]);
        let record =
            parse_record(r#"{"x": NaN, "xs": [Infinity, "-Infinity", 1], "s": "NaN", "u": NaN}"#)
                .unwrap();
        assert_eq!(
            schema.validate(&record).unwrap(),
            json!({"x": "NaN", "xs": ["Infinity", "-Infinity", 1.0], "s": "NaN", "u": "NaN"})
        );
        let batch = rows_to_batch(&schema, &[schema.validate(&record).unwrap()]).unwrap();
        let floats = batch.column(0).as_primitive::<Float64Type>();
        assert!(floats.value(0).is_nan());
        assert_eq!(
            batch_to_rows(&schema, &batch).unwrap(),
            vec![json!({"x": "NaN", "xs": ["Infinity", "-Infinity", 1.0], "s": "NaN", "u": "NaN"})]
        );
        // A string "NaN" in `str | float` is the string; the bare token, the float.
        let err = schema
            .validate(&parse_record(r#"{"x": 1, "xs": [], "s": NaN, "u": "a"}"#).unwrap())
            .unwrap_err();
        assert_eq!(
            (err.path.as_str(), err.message.as_str()),
            ("s", "expected string, found NaN")
        );
        let err = schema
            .validate(&json!({"x": "nan", "xs": [], "u": "a"}))
            .unwrap_err();
        assert_eq!(err.message, r#"expected float, found string "nan""#);
        // A literal no f64 holds: the nearest f64 in a float column (as serde_json would
        // read it), refused by its text in a string column.
        let line = r#"{"x": 12345678901234567.89, "xs": [0.1000000000000000055], "u": 1e-400}"#;
        assert_eq!(
            schema.validate(&parse_record(line).unwrap()).unwrap(),
            json!({"x": 12345678901234567.89, "xs": [0.1], "s": null, "u": 0.0})
        );
        let err = schema
            .validate(
                &parse_record(r#"{"x": 1, "xs": [], "s": 12345678901234567.89, "u": "a"}"#)
                    .unwrap(),
            )
            .unwrap_err();
        assert_eq!(
            err.message,
            "expected string, found float 12345678901234567.89"
        );
    }

    /// `dict[str, float]` and `dict[str, Sub]`: Arrow maps, JSON objects.
    #[test]
    fn dicts_are_maps_in_arrow_and_objects_in_json() {
        let text = r##"{"type": "object", "required": ["scores", "boxes"], "properties": {
            "scores": {"type": "object", "additionalProperties": {"type": "number"}},
            "boxes": {"type": "object", "additionalProperties": {"$ref": "#/$defs/Box"}}},
            "$defs": {"Box": {"type": "object", "required": ["w", "h"],
                "properties": {"w": {"type": "integer"}, "h": {"type": "integer"}}}}}"##;
        let doc: Value = serde_json::from_str(text).unwrap();
        let schema = Schema::from_json_schema_text(&doc, text).unwrap();
        let boxes = Type::Struct(vec![field("w", Type::Int), field("h", Type::Int)]);
        assert_eq!(
            schema.fields,
            vec![
                field("scores", Type::Map(Box::new(Type::Float))),
                field("boxes", Type::Map(Box::new(boxes))),
            ]
        );
        assert_eq!(schema.format, 3);
        assert_eq!(
            schema.column_paths(),
            [
                "scores",
                "scores{key}",
                "scores{value}",
                "boxes",
                "boxes{key}",
                "boxes{value}",
                "boxes{value}.w",
                "boxes{value}.h"
            ]
        );
        let rows = vec![
            schema
                .validate(
                    &json!({"scores": {"b": 1.5, "a": -0.0}, "boxes": {"x": {"h": 2, "w": 1}}}),
                )
                .unwrap(),
            schema
                .validate(&json!({"scores": {}, "boxes": {}}))
                .unwrap(),
        ];
        let batch = rows_to_batch(&schema, &rows).unwrap();
        assert!(matches!(
            batch.column(0).data_type(),
            DataType::Map(_, false)
        ));
        assert_eq!(batch_to_rows(&schema, &batch).unwrap(), rows);
        assert_eq!(
            serde_json::to_string(&schema.ordered(&rows[0])).unwrap(),
            r#"{"scores":{"a":-0.0,"b":1.5},"boxes":{"x":{"w":1,"h":2}}}"#
        );
        let err = schema
            .validate(&json!({"scores": {"a": "x"}, "boxes": {}}))
            .unwrap_err();
        assert_eq!(err.path, r#"scores["a"]"#);
        assert_eq!(Schema::decode(&schema.encode().1).unwrap(), schema);
        let arrow = schema.to_arrow();
        assert_eq!(from_arrow(&arrow).unwrap().fields, schema.fields);
    }

    /// `tuple[int, str]`: a struct of `_0`, `_1` in Arrow, an array in JSON.
    #[test]
    fn fixed_length_tuples_are_arrays_in_json_and_structs_in_arrow() {
        let doc = json!({"type": "object", "required": ["t"], "properties": {
            "t": {"maxItems": 2, "minItems": 2, "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "string"}]},
            "v": {"type": "array", "items": {"type": "integer"}}}});
        let schema = Schema::from_json_schema(&doc).unwrap();
        let tuple = Type::Tuple(vec![Type::Int, Type::String]);
        assert_eq!(schema.fields[0], field("t", tuple.clone()));
        assert_eq!(schema.column_paths(), ["t", "t[0]", "t[1]", "v", "v[]"]);
        let row = schema.validate(&json!({"t": [1, "a"], "v": null})).unwrap();
        let batch = rows_to_batch(&schema, std::slice::from_ref(&row)).unwrap();
        assert!(matches!(batch.column(0).data_type(), DataType::Struct(f) if f[1].name() == "_1"));
        assert_eq!(batch_to_rows(&schema, &batch).unwrap(), vec![row.clone()]);
        assert_eq!(
            serde_json::to_string(&schema.ordered(&row)).unwrap(),
            r#"{"t":[1,"a"],"v":null}"#
        );
        let err = schema.validate(&json!({"t": [1]})).unwrap_err().to_string();
        assert!(err.contains("(2 items), found an array of 1"), "{err}");
        let err = schema.validate(&json!({"t": [1, 2]})).unwrap_err();
        assert_eq!(err.path, "t[1]");
        let variadic = json!({"type": "object", "properties": {"t": {"type": "array",
            "prefixItems": [{"type": "integer"}], "items": {"type": "string"}}}});
        let err = Schema::from_json_schema(&variadic).unwrap_err().to_string();
        assert!(err.contains("only fixed-length tuples"), "{err}");
        assert_eq!(Schema::decode(&schema.encode().1).unwrap(), schema);
    }

    /// A discriminated union of tool calls and a plain `int | str`.
    #[test]
    fn unions_choose_by_discriminator_else_by_validation() {
        let text = r##"{"type": "object", "required": ["call", "answer"], "properties": {
            "call": {"discriminator": {"mapping": {"calc": "#/$defs/Calc", "search": "#/$defs/Search"},
                "propertyName": "kind"}, "oneOf": [{"$ref": "#/$defs/Search"}, {"$ref": "#/$defs/Calc"}]},
            "answer": {"anyOf": [{"type": "integer"}, {"type": "string"}]}},
            "$defs": {
              "Search": {"type": "object", "required": ["kind", "q"], "properties": {
                "kind": {"const": "search", "type": "string"}, "q": {"type": "string"}}},
              "Calc": {"type": "object", "required": ["kind", "x"], "properties": {
                "kind": {"const": "calc", "type": "string"}, "x": {"type": "number"}}}}}"##;
        let doc: Value = serde_json::from_str(text).unwrap();
        let schema = Schema::from_json_schema_text(&doc, text).unwrap();
        assert_eq!(
            schema.fields[0].ty.to_string(),
            "union<search, calc> by kind"
        );
        assert_eq!(schema.fields[1].ty.to_string(), "union<int, string>");
        assert_eq!(
            schema.column_paths(),
            [
                "call",
                "call|tag",
                "call|search",
                "call|search.kind",
                "call|search.q",
                "call|calc",
                "call|calc.kind",
                "call|calc.x",
                "answer",
                "answer|tag",
                "answer|int",
                "answer|string"
            ]
        );
        let rows = vec![
            schema
                .validate(&json!({"call": {"q": "a", "kind": "search"}, "answer": 3}))
                .unwrap(),
            schema
                .validate(&json!({"call": {"kind": "calc", "x": 2}, "answer": "x"}))
                .unwrap(),
        ];
        assert_eq!(rows[1]["call"]["x"], json!(2.0));
        let batch = rows_to_batch(&schema, &rows).unwrap();
        assert_eq!(batch_to_rows(&schema, &batch).unwrap(), rows);
        assert_eq!(
            serde_json::to_string(&schema.ordered(&rows[0])).unwrap(),
            r#"{"call":{"kind":"search","q":"a"},"answer":3}"#
        );
        let err = schema
            .validate(&json!({"call": {"kind": "walk"}, "answer": 1}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"call: `kind` is "walk", not one of search, calc"#
        );
        let err = schema
            .validate(&json!({"call": {"kind": "calc", "x": 1}, "answer": 1.5}))
            .unwrap_err();
        assert!(
            err.message
                .starts_with("matches no variant of union<int, string>"),
            "{err}"
        );
        // A new variant is additive; a removed one breaking.
        let one = Schema::new(vec![field(
            "u",
            Type::Union {
                variants: vec![field("int", Type::Int)],
                discriminator: None,
            },
        )]);
        let two = Schema::new(vec![field(
            "u",
            Type::Union {
                variants: vec![field("int", Type::Int), field("string", Type::String)],
                discriminator: None,
            },
        )]);
        assert!(matches!(compare(&one, &two), Compat::Additive(_)));
        assert!(matches!(compare(&two, &one), Compat::Breaking(_)));
        assert_eq!(Schema::decode(&schema.encode().1).unwrap(), schema);
    }

    #[test]
    fn a_constraint_added_or_changed_is_breaking_and_one_removed_additive() {
        let model = |score: &str| {
            let doc: Value = serde_json::from_str(&format!(
                r#"{{"type": "object", "required": ["score", "label"], "properties": {{
                    "score": {{"type": "number"{score}}}, "label": {{"type": "string"}}}}}}"#
            ))
            .unwrap();
            Schema::from_json_schema(&doc).unwrap()
        };
        let (none, ge0, ge1) = (
            model(""),
            model(r#", "minimum": 0"#),
            model(r#", "minimum": 1"#),
        );
        assert_eq!(
            compare(&none, &ge0),
            Compat::Breaking(vec!["constraint on `score` added: Field(ge=0)".into()])
        );
        assert_eq!(
            compare(&ge0, &ge1),
            Compat::Breaking(vec![
                "constraint on `score` changed from Field(ge=0) to Field(ge=1)".into()
            ])
        );
        assert_eq!(
            compare(&ge1, &none),
            Compat::Additive(vec![
                "constraint on `score` removed (was Field(ge=1))".into()
            ])
        );
        assert_eq!(compare(&ge1, &ge1.clone()), Compat::Same);
        // A float's multipleOf is kept and shown, not checked: it rejects no row, so
        // adding or removing it is additive...
        let step = model(r#", "multipleOf": 0.5"#);
        let step_ge0 = model(r#", "multipleOf": 0.5, "minimum": 0"#);
        assert!(
            matches!(compare(&none, &step), Compat::Additive(_)),
            "{:?}",
            compare(&none, &step)
        );
        assert!(matches!(compare(&step, &none), Compat::Additive(_)));
        // ... it is not: a checked key added is breaking, whatever is kept beside it.
        assert!(matches!(compare(&step, &step_ge0), Compat::Breaking(_)));
        assert!(matches!(compare(&ge0, &step_ge0), Compat::Additive(_)));
        assert!(matches!(compare(&step_ge0, &step), Compat::Additive(_)));
    }

    #[test]
    fn forged_column_ids_are_refused() {
        let base = schema(vec![field("x", Type::Int), field("y", Type::Int)]);
        let forged = |columns: ColumnIds| {
            let mut bad = base.clone();
            bad.format = 3;
            bad.columns = Some(columns);
            Schema::decode(&crate::object::encode(&bad))
                .unwrap_err()
                .to_string()
        };
        let id = |path: &str, id: u32| ColumnId {
            path: path.into(),
            id,
        };
        let default = forged(ColumnIds {
            last: 2,
            ids: vec![id("x", 1), id("y", 2)],
        });
        assert!(default.contains("default numbering"), "{default}");
        let twice = forged(ColumnIds {
            last: 3,
            ids: vec![id("x", 3), id("y", 3)],
        });
        assert!(twice.contains("given twice"), "{twice}");
        let paths = forged(ColumnIds {
            last: 3,
            ids: vec![id("y", 3), id("x", 1)],
        });
        assert!(paths.contains("column paths"), "{paths}");
        // Explicit ids in a format-1 object are forged too.
        let mut old = base.clone();
        old.columns = Some(ColumnIds {
            last: 5,
            ids: vec![id("x", 1), id("y", 2)],
        });
        old.format = 1;
        let err = Schema::decode(&crate::object::encode(&old)).unwrap_err();
        assert!(err.to_string().contains("format 3"), "{err}");
    }

    #[test]
    fn schemas_without_new_types_keep_their_format_1_ids() {
        let (_, bytes) = Schema::listing().encode();
        assert_eq!(
            bytes,
            crate::object::encode(&Schema {
                format: 1,
                columns: None,
                constraints: None,
                fields: Schema::listing().fields
            })
        );
        let with_utf8 = Schema::new(vec![field(
            "b",
            optional(Type::List(Box::new(Type::BytesAs(BytesEncoding::Utf8)))),
        )]);
        assert_eq!(with_utf8.format, 2);
        assert_eq!(Schema::decode(&with_utf8.encode().1).unwrap().format, 2);
    }

    #[test]
    fn declared_bytes_formats_are_remembered_and_applied() {
        let doc = json!({"type": "object", "required": ["t", "u", "s"], "properties": {
            "t": {"type": "string", "format": "binary"},
            "u": {"type": "string", "format": "base64url"},
            "s": {"type": "string", "contentEncoding": "base64"}}});
        let schema = Schema::from_json_schema(&doc).unwrap();
        assert_eq!(
            schema.fields,
            vec![
                field("s", Type::Bytes),
                field("t", Type::BytesAs(BytesEncoding::Utf8)),
                field("u", Type::BytesAs(BytesEncoding::Base64Url)),
            ]
        );
        let normalized = schema
            .validate(&json!({"t": "img0", "u": "-_8", "s": "+/8="}))
            .unwrap();
        // Normalized bytes are standard base64 of the declared reading.
        assert_eq!(
            normalized,
            json!({"t": "aW1nMA==", "u": "+/8=", "s": "+/8="})
        );
        let batch = rows_to_batch(&schema, &[normalized]).unwrap();
        assert_eq!(
            batch_to_rows(&schema, &batch).unwrap(),
            [json!({"t": "img0", "u": "-_8=", "s": "+/8="})]
        );
        let error = schema
            .validate(&json!({"t": "x", "u": "a b", "s": ""}))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("u: expected bytes as URL-safe base64"),
            "{error}"
        );
    }

    /// Decodes a schema on a thread with tokio's 2 MiB worker stack, as readers do.
    fn decodes_on_a_small_stack(bytes: Vec<u8>) {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || Schema::decode(&bytes).unwrap())
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn nesting_is_counted_in_levels_and_capped() {
        let mut ty = Type::Int;
        for level in (2..=MAX_NESTING).rev() {
            ty = Type::Struct(vec![field(&format!("l{level}"), ty)]);
        }
        let at_limit = Schema::new(vec![field("a", ty.clone())]);
        assert_eq!(at_limit.nesting(), MAX_NESTING);
        at_limit.check_nesting(None).unwrap();
        // Readers decode it, on a thread with tokio's 2 MiB worker stack.
        let (_, bytes) = at_limit.encode();
        decodes_on_a_small_stack(bytes);
        let past = Schema::new(vec![field("a", Type::List(Box::new(ty)))]);
        let error = past.check_nesting(Some(7)).unwrap_err().to_string();
        assert!(error.starts_with("line 7: field `a[].l2.l3"), "{error}");
        assert!(
            error.contains(&format!("over the limit of {MAX_NESTING}")),
            "{error}"
        );

        // The deepest schema any writer could produce (128 levels, optional lists of
        // optional structs) decodes within the CBOR limit, on a 2 MiB stack.
        let mut deepest = Type::Enum(vec!["x".into()]);
        for level in 0..128 {
            deepest = if level % 2 == 0 {
                make_optional(Type::Struct(vec![field("s", deepest)]))
            } else {
                make_optional(Type::List(Box::new(deepest)))
            };
        }
        let (_, bytes) = Schema::new(vec![field("d", deepest)]).encode();
        decodes_on_a_small_stack(bytes);
    }

    #[test]
    fn a_deep_record_is_refused_by_inference_with_line_and_path() {
        let mut record = json!({"leaf": 1});
        for level in (2..=MAX_NESTING + 1).rev() {
            record = json!({ format!("l{level}"): record });
        }
        let mut inferrer = Inferrer::new();
        let error = inferrer.observe(3, &record).unwrap_err().to_string();
        let path: Vec<String> = (2..=MAX_NESTING + 1).map(|l| format!("l{l}")).collect();
        assert!(
            error.starts_with(&format!("line 3: field `{}`", path.join("."))),
            "{error}"
        );
    }

    #[test]
    fn arrow_schemas_map_back_to_the_schema_they_came_from() {
        let nested = Type::Struct(vec![
            field("a", optional(Type::Int)),
            field("when", Type::Datetime),
            field("files", Type::List(Box::new(Type::File))),
        ]);
        let original = schema(vec![
            field("file", Type::File),
            field("maybe_file", optional(Type::File)),
            field("flag", Type::Bool),
            field("x", optional(Type::Float)),
            field("name", Type::String),
            field("blob", optional(Type::Bytes)),
            field("nested", nested),
            field("tags", Type::List(Box::new(optional(Type::String)))),
        ]);
        let read_as = from_arrow(&original.to_arrow()).unwrap();
        assert_eq!(with_files(&read_as), original);
        assert_eq!(read_as.to_arrow(), original.to_arrow());
        // A struct with a field that is not a File field stays a struct.
        let not_file = schema(vec![field(
            "doc",
            Type::Struct(vec![
                field("source", Type::String),
                field("path", Type::String),
                field("pages", Type::Int),
            ]),
        )]);
        assert_eq!(with_files(&not_file), not_file);
    }

    #[test]
    fn declared_bytes_encodings_carry_over_to_the_arrow_reading() {
        let declared = schema(vec![
            field("raw", Type::BytesAs(BytesEncoding::Utf8)),
            field(
                "deep",
                optional(Type::Struct(vec![field(
                    "b",
                    Type::BytesAs(BytesEncoding::Base64Url),
                )])),
            ),
        ]);
        let read_as = from_arrow(&declared.to_arrow()).unwrap();
        assert_eq!(with_bytes_of(&read_as, &declared), declared);
    }
}
