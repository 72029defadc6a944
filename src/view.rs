//! The one JSON form of every answer: datasets, versions, schemas, diffs, tags, summaries.
//!
//! The CLI's `--json`, the MCP server and (later) the Python package all print these
//! structs and nothing hand-built. Each view is built from the library's own types by a
//! constructor (`VersionView::new(&resolved, &tags)`) and printed through [`to_json`],
//! which sorts the keys of every object: the order `pail … --json` has always printed.
//! Ids are lowercase hex, times RFC 3339 in UTC with microseconds, versions semver text.
//!
//! The MCP answers are the CLI's objects; where an MCP tool says more than the matching
//! command (`dataset_schema`'s `columns`, `dataset_lineage`'s `children`,
//! `diff_versions`' row-tree overlap), the extra fields sit beside the shared ones, and
//! every answer has its `budget` beside them too (`BudgetedView`). The MCP views derive
//! `JsonSchema`: the tools' output schemas.

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::checkout::{CheckoutReport, Problem as FileProblem, VerifyReport};
use crate::commit::CommitOutcome;
use crate::lineage::{LineageGraph, LineageNode};
use crate::lock::LockEntry;
use crate::maintain::{FsckReport, Removed};
use crate::map::{JobInfo, MapReport};
use crate::object::{CodeFile, Commit, CommitId, GitState, Input};
use crate::remote::{PullReport, PushReport, RemoteFsckReport, RemoteInfo, TableInfo};
use crate::repo::{DatasetInfo, Resolved, format_time};
use crate::schema::{Compat, Field, Schema, Type};
use crate::summary::{
    Changes, ColumnSummary, FileSummary, PageInfo, SIZE_BUCKETS, Scalar, Summary, ValueCount,
};
use crate::{DatasetName, diff};

/// A view as a JSON value with its keys sorted: the form every pail answer prints.
pub fn to_json(view: &impl Serialize) -> Value {
    serde_json::to_value(view).expect("views have string keys and serialize")
}

fn hex_all(ids: &[CommitId]) -> Vec<String> {
    ids.iter().map(CommitId::to_hex).collect()
}

fn version_text(version: Option<&semver::Version>) -> Option<String> {
    version.map(semver::Version::to_string)
}

// ---- datasets and versions -------------------------------------------------------------

/// A dataset as `ls --json` and MCP's `list_datasets` list it: its latest version and that
/// version's counts.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DatasetView {
    pub name: String,
    /// The latest version.
    pub latest: String,
    /// The latest version's commit id.
    pub id: String,
    /// Every version, ascending.
    pub versions: Vec<String>,
    pub tags: Vec<String>,
    pub n_rows: u64,
    pub n_bytes: u64,
    pub time: String,
    pub message: String,
}

impl DatasetView {
    /// `info` has at least one version; `latest` is the commit of the last one.
    pub fn new(info: &DatasetInfo, latest: &Commit) -> DatasetView {
        let (version, id) = info
            .versions
            .last()
            .expect("datasets without versions are dropped");
        DatasetView {
            name: info.name.to_string(),
            latest: version.to_string(),
            id: id.to_hex(),
            versions: info.versions.iter().map(|(v, _)| v.to_string()).collect(),
            tags: info.tags.iter().map(|(tag, _)| tag.clone()).collect(),
            n_rows: latest.n_rows,
            n_bytes: latest.n_bytes,
            time: format_time(latest.time),
            message: latest.message.clone(),
        }
    }
}

/// What a version was made from: another dataset version or a storage listing. Also a
/// node of the lineage graph.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum InputView {
    Dataset {
        name: String,
        version: String,
        commit: String,
    },
    Source {
        uri: String,
        listed_at: String,
    },
}

impl InputView {
    /// The view of a commit input.
    pub fn new(input: &Input) -> InputView {
        match input {
            Input::Dataset {
                name,
                version,
                commit,
            } => InputView::Dataset {
                name: name.clone(),
                version: version.clone(),
                commit: commit.to_hex(),
            },
            Input::Source { uri, listed_at } => InputView::Source {
                uri: uri.clone(),
                listed_at: format_time(*listed_at),
            },
        }
    }

    /// The view of a lineage graph node.
    pub fn from_node(node: &LineageNode) -> InputView {
        match node {
            LineageNode::Version {
                name,
                version,
                commit,
            } => InputView::Dataset {
                name: name.clone(),
                version: version.clone(),
                commit: commit.to_hex(),
            },
            LineageNode::Source { uri, listed_at } => InputView::Source {
                uri: uri.clone(),
                listed_at: format_time(*listed_at),
            },
        }
    }
}

/// The git state of the code when a version was saved.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct GitView {
    pub repository: String,
    pub head: Option<String>,
    pub branch: Option<String>,
    pub dirty: bool,
}

impl GitView {
    /// The view of a commit's git state.
    pub fn new(git: &GitState) -> GitView {
        GitView {
            repository: git.repository.clone(),
            head: git.head.clone(),
            branch: git.branch.clone(),
            dirty: git.dirty,
        }
    }
}

/// A code file embedded in a version.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CodeFileView {
    pub path: String,
    pub blob: String,
    pub size: u64,
}

impl CodeFileView {
    /// The view of a code file a commit records.
    pub fn new(file: &CodeFile) -> CodeFileView {
        CodeFileView {
            path: file.path.clone(),
            blob: file.blob.to_hex(),
            size: file.size,
        }
    }
}

/// One version with every field of its commit and its lineage: `show --json`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct VersionView {
    pub name: String,
    /// None when the commit was named by an id no version points at.
    pub version: Option<String>,
    pub id: String,
    pub format: u32,
    pub parents: Vec<String>,
    pub inputs: Vec<InputView>,
    pub schema: String,
    pub rows: String,
    pub n_rows: u64,
    pub n_bytes: u64,
    pub key: Vec<String>,
    pub author: String,
    pub time: String,
    pub message: String,
    pub command: Vec<String>,
    pub git: Option<GitView>,
    pub code: Vec<CodeFileView>,
    pub summary: Option<String>,
    pub tags: Vec<String>,
}

impl VersionView {
    /// The view of a resolved version with its tags.
    pub fn new(found: &Resolved, tags: &[String]) -> VersionView {
        let commit = &found.commit;
        VersionView {
            name: found.name.to_string(),
            version: version_text(found.version.as_ref()),
            id: found.id.to_hex(),
            format: commit.format,
            parents: hex_all(&commit.parents),
            inputs: commit.inputs.iter().map(InputView::new).collect(),
            schema: commit.schema.to_hex(),
            rows: commit.rows.to_hex(),
            n_rows: commit.n_rows,
            n_bytes: commit.n_bytes,
            key: commit.key.clone(),
            author: commit.author.clone(),
            time: format_time(commit.time),
            message: commit.message.clone(),
            command: commit.command.clone(),
            git: commit.git.as_ref().map(GitView::new),
            code: commit.code.iter().map(CodeFileView::new).collect(),
            summary: commit.summary.map(|id| id.to_hex()),
            tags: tags.to_vec(),
        }
    }
}

/// A later version of the same dataset made from this one.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ChildView {
    pub version: String,
    pub id: String,
}

/// MCP's `dataset_lineage`: the version as `show --json` prints it, the versions refs give
/// its parents, and the versions that came next.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct VersionLineageView {
    #[serde(flatten)]
    pub version: VersionView,
    /// Parallel to `parents`; None where no version ref names the parent.
    pub parent_versions: Vec<Option<String>>,
    pub children: Vec<ChildView>,
}

/// One line of `log --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntryView {
    pub name: String,
    pub version: String,
    pub id: String,
    pub parents: Vec<String>,
    pub author: String,
    pub time: String,
    pub message: String,
    pub n_rows: u64,
    pub n_bytes: u64,
}

impl LogEntryView {
    /// The view of one version in a log.
    pub fn new(
        name: &DatasetName,
        version: &semver::Version,
        id: &CommitId,
        commit: &Commit,
    ) -> LogEntryView {
        LogEntryView {
            name: name.to_string(),
            version: version.to_string(),
            id: id.to_hex(),
            parents: hex_all(&commit.parents),
            author: commit.author.clone(),
            time: format_time(commit.time),
            message: commit.message.clone(),
            n_rows: commit.n_rows,
            n_bytes: commit.n_bytes,
        }
    }
}

/// An edge of the lineage graph: indices into `nodes`, from input to output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeView {
    pub from: usize,
    pub to: usize,
}

/// `lineage --json`: the graph up (inputs) or down (what was made from it) from `root`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineageGraphView {
    pub root: usize,
    /// `up` or `down`.
    pub direction: &'static str,
    pub nodes: Vec<InputView>,
    pub edges: Vec<EdgeView>,
}

impl LineageGraphView {
    /// The view of a lineage graph, from `root`, downstream when `down`.
    pub fn new(graph: &LineageGraph, root: usize, down: bool) -> LineageGraphView {
        LineageGraphView {
            root,
            direction: if down { "down" } else { "up" },
            nodes: graph.nodes.iter().map(InputView::from_node).collect(),
            edges: graph
                .edges
                .iter()
                .map(|&(from, to)| EdgeView { from, to })
                .collect(),
        }
    }
}

// ---- commits and tags ------------------------------------------------------------------

/// A path a listing could not read, and why.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ProblemView {
    pub path: String,
    pub reason: String,
}

impl ProblemView {
    /// The views of (path, reason) problems.
    pub fn all(problems: &[(String, String)]) -> Vec<ProblemView> {
        problems
            .iter()
            .map(|(path, reason)| ProblemView {
                path: path.clone(),
                reason: reason.clone(),
            })
            .collect()
    }
}

/// `commit --json`: a new version, or none because nothing changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum CommitView {
    Created {
        name: String,
        version: String,
        id: String,
        /// The previous latest version.
        parent: Option<String>,
        n_rows: u64,
        n_bytes: u64,
        leaves_written: usize,
        leaves_reused: usize,
        problems: Vec<ProblemView>,
    },
    Unchanged {
        name: String,
        version: String,
        id: String,
        problems: Vec<ProblemView>,
    },
}

impl CommitView {
    /// The view of a commit outcome.
    pub fn new(outcome: &CommitOutcome) -> CommitView {
        match outcome {
            CommitOutcome::Created {
                name,
                version,
                id,
                parent,
                commit,
                leaves_written,
                leaves_reused,
                problems,
            } => CommitView::Created {
                name: name.to_string(),
                version: version.to_string(),
                id: id.to_hex(),
                parent: version_text(parent.as_ref()),
                n_rows: commit.n_rows,
                n_bytes: commit.n_bytes,
                leaves_written: *leaves_written,
                leaves_reused: *leaves_reused,
                problems: ProblemView::all(problems),
            },
            CommitOutcome::Unchanged {
                name,
                version,
                id,
                problems,
            } => CommitView::Unchanged {
                name: name.to_string(),
                version: version.to_string(),
                id: id.to_hex(),
                problems: ProblemView::all(problems),
            },
        }
    }
}

/// A tag in `tag --list --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagView {
    pub name: String,
    pub tag: String,
    pub version: Option<String>,
    pub id: String,
}

impl TagView {
    /// The view of a tag.
    pub fn new(info: &crate::tags::TagInfo) -> TagView {
        TagView {
            name: info.name.to_string(),
            tag: info.tag.clone(),
            version: version_text(info.version.as_ref()),
            id: info.id.to_hex(),
        }
    }
}

/// `tag NAME@V TAG --json`: the tagged version and where the tag pointed before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagSetView {
    pub name: String,
    pub tag: String,
    pub version: Option<String>,
    pub id: String,
    pub previous: Option<String>,
}

impl TagSetView {
    /// The view of a tag just set, and what it pointed at before.
    pub fn new(found: &Resolved, tag: &str, previous: Option<&CommitId>) -> TagSetView {
        TagSetView {
            name: found.name.to_string(),
            tag: tag.to_string(),
            version: version_text(found.version.as_ref()),
            id: found.id.to_hex(),
            previous: previous.map(CommitId::to_hex),
        }
    }
}

/// `tag --delete TAG --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagDeletedView {
    /// The tag deleted.
    pub deleted: String,
    pub name: String,
    /// The commit it pointed at.
    pub id: String,
}

impl TagDeletedView {
    /// The view of a tag just deleted.
    pub fn new(info: &crate::tags::TagInfo) -> TagDeletedView {
        TagDeletedView {
            deleted: info.tag.clone(),
            name: info.name.to_string(),
            id: info.id.to_hex(),
        }
    }
}

// ---- schemas ---------------------------------------------------------------------------

/// A column type: `type` is `bool`, `int`, `float`, `string`, `datetime`, `bytes` (with its
/// `encoding`), `enum` (with `values`), `struct` and `File` (with `fields`) or `list` (with
/// `item`); since schema format 3 also `date`, `time` (of day, UTC), `duration`, `uuid`,
/// `decimal` (with `precision` and `scale`), `int_enum` (with `int_values`), `map` (with
/// `key` and `value`), `tuple` (with `items`) and `union` (with `variants` and, when one
/// chooses them, `discriminator`). `optional` appears on list items, map values, tuple
/// items and variants that may be null.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct TypeView {
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<Box<TypeView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub int_values: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<i8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Box<TypeView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Box<TypeView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<TypeView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<FieldView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discriminator: Option<String>,
}

impl TypeView {
    /// The view of a column type.
    pub fn new(ty: &Type) -> TypeView {
        let named = |name: &str| TypeView {
            ty: name.to_string(),
            ..TypeView::default()
        };
        match ty {
            Type::Struct(fields) => TypeView {
                fields: Some(fields.iter().map(FieldView::new).collect()),
                ..named("struct")
            },
            Type::File | Type::FileWith(_) => TypeView {
                fields: Some(
                    ty.file_struct_fields()
                        .unwrap_or_default()
                        .iter()
                        .map(FieldView::new)
                        .collect(),
                ),
                ..named("File")
            },
            Type::Enum(values) => TypeView {
                values: Some(values.clone()),
                ..named("enum")
            },
            Type::Bytes | Type::BytesAs(_) => TypeView {
                encoding: ty.bytes_encoding().map(|encoding| encoding.name()),
                ..named("bytes")
            },
            Type::List(item) => TypeView {
                item: Some(Box::new(TypeView::new(item))),
                ..named("list")
            },
            Type::Optional(inner) => TypeView {
                optional: Some(true),
                ..TypeView::new(inner)
            },
            Type::Date => named("date"),
            Type::Time => named("time"),
            Type::Duration => named("duration"),
            Type::Uuid => named("uuid"),
            Type::Decimal { precision, scale } => TypeView {
                precision: Some(*precision),
                scale: Some(*scale),
                ..named("decimal")
            },
            Type::IntEnum(values) => TypeView {
                int_values: Some(values.clone()),
                ..named("int_enum")
            },
            Type::Map(value) => TypeView {
                key: Some(Box::new(named("string"))),
                value: Some(Box::new(TypeView::new(value))),
                ..named("map")
            },
            Type::Tuple(items) => TypeView {
                items: Some(items.iter().map(TypeView::new).collect()),
                ..named("tuple")
            },
            Type::Union {
                variants,
                discriminator,
            } => TypeView {
                variants: Some(variants.iter().map(FieldView::new).collect()),
                discriminator: discriminator.clone(),
                ..named("union")
            },
            other => named(&other.to_string()),
        }
    }
}

/// A column path's stable id (schema format 3; the default numbering before).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ColumnIdView {
    pub path: String,
    pub id: u32,
}

/// The constraints on a column path: `ge`, `gt`, `le`, `lt`, `multiple_of` (number texts,
/// exact), `min_length`, `max_length`, `min_items`, `max_items`, `unique_items`,
/// `pattern`, a string's `format`, whether a pattern is checked at commit
/// (`pattern_checked`: false when it is kept but cannot be checked exactly, as a
/// lookaround), and `unchecked`: the keys kept and shown but not checked at commit (as
/// `multiple_of` on a float or a `format`), absent when all are checked.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ConstraintView {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ge: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub le: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiple_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern_checked: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_items: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unchecked: Vec<String>,
}

impl ConstraintView {
    fn new(constraint: &crate::schema::Constraint, schema: &Schema) -> ConstraintView {
        let unchecked = schema
            .type_at(&constraint.path)
            .map(|ty| constraint.unchecked(&ty))
            .unwrap_or_default();
        ConstraintView {
            path: constraint.path.clone(),
            ge: constraint.ge.clone(),
            gt: constraint.gt.clone(),
            le: constraint.le.clone(),
            lt: constraint.lt.clone(),
            multiple_of: constraint.multiple_of.clone(),
            min_length: constraint.min_length,
            max_length: constraint.max_length,
            min_items: constraint.min_items,
            max_items: constraint.max_items,
            pattern: constraint.pattern.clone(),
            pattern_checked: constraint.pattern_checked(),
            unique_items: constraint.unique_items,
            format: constraint.format.clone(),
            unchecked: unchecked.into_iter().map(str::to_string).collect(),
        }
    }
}

/// A field of a schema or struct: its name, type and whether it may be null.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct FieldView {
    pub name: String,
    #[serde(flatten)]
    pub ty: TypeView,
    pub optional: bool,
}

impl FieldView {
    /// The view of a column.
    pub fn new(field: &Field) -> FieldView {
        let (ty, optional) = match &field.ty {
            Type::Optional(inner) => (inner.as_ref(), true),
            ty => (ty, false),
        };
        let mut view = TypeView::new(ty);
        // Optional-of-optional says no more than optional.
        view.optional = None;
        FieldView {
            name: field.name.clone(),
            ty: view,
            optional,
        }
    }
}

/// The schema of a version: `schema --json`, and MCP's `dataset_schema` with `columns`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SchemaView {
    pub name: String,
    pub version: Option<String>,
    /// The schema object's id.
    pub id: String,
    pub format: u32,
    pub fields: Vec<FieldView>,
    /// Every column path (`a`, `a.b`, `a[]`, `a{value}`, `a[0]`, `a|name`) with its
    /// stable id, depth first in declared order.
    pub column_ids: Vec<ColumnIdView>,
    /// The value constraints by column path; left out when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<ConstraintView>,
    /// Every column as a dotted path through structs and File (`file.path`), as SQL and
    /// `rows` name them. Only MCP gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
}

impl SchemaView {
    /// The view of a version's schema.
    pub fn new(found: &Resolved, schema: &Schema) -> SchemaView {
        SchemaView {
            name: found.name.to_string(),
            version: version_text(found.version.as_ref()),
            id: found.commit.schema.to_hex(),
            format: schema.format,
            fields: schema.fields.iter().map(FieldView::new).collect(),
            column_ids: schema
                .column_ids()
                .into_iter()
                .map(|column| ColumnIdView {
                    path: column.path,
                    id: column.id,
                })
                .collect(),
            constraints: schema
                .constraints
                .iter()
                .flatten()
                .map(|constraint| ConstraintView::new(constraint, schema))
                .collect(),
            columns: None,
        }
    }

    /// Adds the flat column paths.
    pub fn with_columns(self, schema: &Schema) -> SchemaView {
        SchemaView {
            columns: Some(schema.flat_columns()),
            ..self
        }
    }
}

// ---- diffs -----------------------------------------------------------------------------

/// How a schema changed: `compat` is `same`, `additive` or `breaking`, with the changes
/// described for humans (breaking ones first).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SchemaChangesView {
    pub compat: &'static str,
    pub changes: Vec<String>,
}

impl SchemaChangesView {
    /// The view of how a schema changed.
    pub fn new(compat: &Compat) -> SchemaChangesView {
        let (kind, changes): (&'static str, &[String]) = match compat {
            Compat::Same => ("same", &[]),
            Compat::Additive(changes) => ("additive", changes),
            Compat::Breaking(changes) => ("breaking", changes),
        };
        SchemaChangesView {
            compat: kind,
            changes: changes.to_vec(),
        }
    }
}

/// One side of a diff: a version (its counts only where MCP compares versions), or the
/// listing `status` compares against.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum DiffSideView {
    Version {
        name: String,
        version: Option<String>,
        id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        n_rows: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        n_bytes: Option<u64>,
    },
    Source {
        source: String,
    },
}

impl DiffSideView {
    /// A version side.
    pub fn version(found: &Resolved) -> DiffSideView {
        DiffSideView::Version {
            name: found.name.to_string(),
            version: version_text(found.version.as_ref()),
            id: found.id.to_hex(),
            n_rows: None,
            n_bytes: None,
        }
    }

    /// The version with its row and byte counts.
    pub fn version_with_counts(found: &Resolved) -> DiffSideView {
        DiffSideView::Version {
            name: found.name.to_string(),
            version: version_text(found.version.as_ref()),
            id: found.id.to_hex(),
            n_rows: Some(found.commit.n_rows),
            n_bytes: Some(found.commit.n_bytes),
        }
    }

    /// A listed source side.
    pub fn source(uri: &str) -> DiffSideView {
        DiffSideView::Source {
            source: uri.to_string(),
        }
    }
}

/// Rows added, removed and modified.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DiffCountsView {
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
}

impl DiffCountsView {
    /// The counts of a diff.
    pub fn new(stat: &diff::DiffStat) -> DiffCountsView {
        DiffCountsView {
            added: stat.added,
            removed: stat.removed,
            modified: stat.modified,
        }
    }
}

/// A diff without its rows: `diff --stat --json` and `status --stat --json` (with the
/// listing's `problems`). `diff --json` streams this object's fields, then `rows` (each a
/// [`RowChangeView`]), then the counts.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DiffView {
    pub old: DiffSideView,
    pub new: DiffSideView,
    /// Only for `status`: what the listing could not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<ProblemView>>,
    pub schema: SchemaChangesView,
    /// None until the rows are counted, and when the sides' keys differ.
    #[serde(flatten)]
    pub counts: Option<DiffCountsView>,
}

/// One row that differs: its key columns, the columns that changed (for a modified row)
/// and both sides' rows (null on the side it is missing from).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowChangeView {
    /// `added`, `removed` or `modified`.
    pub change: &'static str,
    pub key: serde_json::Map<String, Value>,
    pub columns: Vec<String>,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

impl RowChangeView {
    /// The view of one row change.
    pub fn new(change: &diff::RowChange) -> RowChangeView {
        RowChangeView {
            change: change.kind.as_str(),
            key: change.key.iter().cloned().collect(),
            columns: change.columns.clone(),
            old: change.old.clone(),
            new: change.new.clone(),
        }
    }
}

/// Row-tree leaves two versions share, and those only one of them has, with their rows.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RowTreeOverlapView {
    pub leaves_shared: u64,
    pub rows_in_shared_leaves: u64,
    pub leaves_only_in_old: u64,
    pub rows_only_in_old_leaves: u64,
    pub leaves_only_in_new: u64,
    pub rows_only_in_new_leaves: u64,
}

/// MCP's `diff_versions`: the `diff --stat --json` object (sides with their counts; no
/// row counts when the keys differ) and what an agent reads without rows: deltas, whether
/// the content is the same, the row-tree overlap and the leaves the diff read.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CompareView {
    #[serde(flatten)]
    pub diff: DiffView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaves_read: Option<u64>,
    pub same_content: bool,
    pub n_rows_delta: i64,
    pub n_bytes_delta: i64,
    pub row_tree: RowTreeOverlapView,
}

// ---- summaries -------------------------------------------------------------------------

/// A min or max: a JSON bool, number or string (non-finite floats are null).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ScalarView {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl ScalarView {
    /// The view of a summary scalar.
    pub fn new(scalar: &Scalar) -> ScalarView {
        match scalar {
            Scalar::Bool(b) => ScalarView::Bool(*b),
            Scalar::Int(i) => ScalarView::Int(*i),
            Scalar::Float(f) => ScalarView::Float(*f),
            Scalar::Text(text) => ScalarView::Text(text.clone()),
        }
    }
}

/// A value and how often it occurs.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CountView {
    pub value: String,
    pub count: u64,
}

impl CountView {
    /// The views of value counts.
    pub fn all(values: &[ValueCount]) -> Vec<CountView> {
        values
            .iter()
            .map(|value| CountView {
                value: value.value.clone(),
                count: value.count,
            })
            .collect()
    }
}

/// Lengths of a list column's non-null lists.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct LengthsView {
    pub min: u64,
    pub max: u64,
    pub total: u64,
}

/// Statistics of one flattened column.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ColumnView {
    pub column: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub n_nulls: u64,
    pub min: Option<ScalarView>,
    pub max: Option<ScalarView>,
    pub distinct: u64,
    pub distinct_exact: bool,
    pub top: Vec<CountView>,
    pub lengths: Option<LengthsView>,
}

impl ColumnView {
    /// The view of a column summary.
    pub fn new(column: &ColumnSummary) -> ColumnView {
        ColumnView {
            column: column.column.clone(),
            ty: column.ty.clone(),
            n_nulls: column.n_nulls,
            min: column.min.as_ref().map(ScalarView::new),
            max: column.max.as_ref().map(ScalarView::new),
            distinct: column.distinct,
            distinct_exact: column.distinct_exact,
            top: CountView::all(&column.top),
            lengths: column.lengths.as_ref().map(|lengths| LengthsView {
                min: lengths.min,
                max: lengths.max,
                total: lengths.total,
            }),
        }
    }
}

/// File sizes: `buckets[i]` counts files of at most `bucket_bounds[i]` bytes (and more
/// than the bound before), the last bucket the larger ones.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SizesView {
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub total: u64,
    pub bucket_bounds: [u64; SIZE_BUCKETS.len()],
    pub buckets: Vec<u64>,
    /// Files without a recorded size.
    pub unknown: u64,
}

/// The files a File column points at.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct FileView {
    pub column: String,
    pub n_files: u64,
    pub sources: Vec<CountView>,
    pub n_sources: u64,
    pub extensions: Vec<CountView>,
    pub n_extensions: u64,
    pub sizes: SizesView,
}

impl FileView {
    /// The view of a file summary.
    pub fn new(file: &FileSummary) -> FileView {
        FileView {
            column: file.column.clone(),
            n_files: file.n_files,
            sources: CountView::all(&file.sources),
            n_sources: file.n_sources,
            extensions: CountView::all(&file.extensions),
            n_extensions: file.n_extensions,
            sizes: SizesView {
                min: file.sizes.min,
                max: file.sizes.max,
                total: file.sizes.total,
                bucket_bounds: SIZE_BUCKETS,
                buckets: file.sizes.buckets.clone(),
                unknown: file.sizes.unknown,
            },
        }
    }
}

/// Who made a summarized version, from what, when.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SummaryLineageView {
    pub parents: Vec<String>,
    /// Parallel to `parents`; None where no version ref names the parent.
    pub parent_versions: Vec<Option<String>>,
    pub inputs: Vec<InputView>,
    /// Paths of the embedded code files.
    pub code: Vec<String>,
    pub author: String,
    pub time: String,
    pub message: String,
    pub command: Vec<String>,
}

/// What changed since the first parent, in counts.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ChangesView {
    pub parent: String,
    pub n_rows_before: u64,
    pub n_rows_delta: i64,
    pub n_bytes_before: u64,
    pub n_bytes_delta: i64,
    pub schema_changes: Vec<String>,
    pub leaves_reused: u64,
    pub leaves_written: u64,
}

impl ChangesView {
    /// The view of a summary's changes.
    pub fn new(changes: &Changes, summary: &Summary) -> ChangesView {
        ChangesView {
            parent: changes.parent.to_hex(),
            n_rows_before: changes.n_rows_before,
            n_rows_delta: summary.n_rows as i64 - changes.n_rows_before as i64,
            n_bytes_before: changes.n_bytes_before,
            n_bytes_delta: summary.n_bytes as i64 - changes.n_bytes_before as i64,
            schema_changes: changes.schema_changes.clone(),
            leaves_reused: changes.leaves_reused,
            leaves_written: changes.leaves_written,
        }
    }
}

/// The compiled summary of a version: `summary --json` and MCP's `dataset_summary` with
/// `json: true`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SummaryView {
    pub name: String,
    pub version: Option<String>,
    pub id: String,
    pub tags: Vec<String>,
    /// Column paths of the row key; empty: the row's content hash.
    pub key: Vec<String>,
    pub format: u32,
    pub n_rows: u64,
    pub n_bytes: u64,
    pub columns: Vec<ColumnView>,
    pub files: Vec<FileView>,
    /// The first rows in key order, long strings cut, as a table in the schema's order.
    pub examples: ExamplesView,
    pub lineage: SummaryLineageView,
    /// None for a first version.
    pub changes: Option<ChangesView>,
}

/// Example rows as a table: `columns` in the order the rows hold them (the schema's
/// declared order), each row an array parallel to `columns` (null where a row lacks one).
/// A JSON object prints its keys sorted, so rows as objects would lose that order; for the
/// same reason a struct (and File) column is spread into its fields' columns, `file.path`,
/// as the summary's `columns` are (null where the struct is). A struct inside a list or a
/// union stays an object. A row that is not a JSON object is one string.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ExamplesView {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl ExamplesView {
    /// `flat` is the summary's columns: every column flattened through structs and File,
    /// in the schema's order.
    pub fn new(texts: &[String], flat: &[&str]) -> ExamplesView {
        let mut columns: Vec<String> = Vec::new();
        let mut parsed = Vec::new();
        for text in texts {
            match crate::rows::json::parse(text) {
                Ok(Value::Object(row)) => {
                    let keys =
                        top_level_keys(text).unwrap_or_else(|| row.keys().cloned().collect());
                    for key in keys {
                        let nested = flat.iter().filter(|column| {
                            column
                                .strip_prefix(key.as_str())
                                .is_some_and(|rest| rest.starts_with('.'))
                                && !row.contains_key(**column)
                        });
                        let mut spread: Vec<String> = nested.map(|c| c.to_string()).collect();
                        if spread.is_empty() {
                            spread.push(key);
                        }
                        for column in spread {
                            if !columns.contains(&column) {
                                columns.push(column);
                            }
                        }
                    }
                    parsed.push(Ok(row));
                }
                _ => parsed.push(Err(text.clone())),
            }
        }
        let rows = parsed
            .into_iter()
            .map(|row| match row {
                Ok(row) => columns.iter().map(|column| cell(&row, column)).collect(),
                Err(text) => vec![Value::String(text)],
            })
            .collect();
        ExamplesView { columns, rows }
    }
}

/// The value at a dotted column path of a row (`file.path`); null where it or a struct
/// holding it is null or missing.
fn cell(row: &serde_json::Map<String, Value>, column: &str) -> Value {
    if let Some(value) = row.get(column) {
        return value.clone();
    }
    for (key, value) in row {
        if let (Some(rest), Value::Object(inner)) = (
            column
                .strip_prefix(key.as_str())
                .and_then(|rest| rest.strip_prefix('.')),
            value,
        ) {
            return cell(inner, rest);
        }
    }
    Value::Null
}

/// The keys of a JSON object's text in their order; None when it is not one serde_json
/// reads (the values are skipped, not parsed).
fn top_level_keys(text: &str) -> Option<Vec<String>> {
    struct Keys(Vec<String>);
    struct KeysVisitor;
    impl<'de> serde::de::Visitor<'de> for KeysVisitor {
        type Value = Keys;
        fn expecting(&self, out: &mut std::fmt::Formatter) -> std::fmt::Result {
            out.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
            let mut keys = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<serde::de::IgnoredAny>()?;
                keys.push(key);
            }
            Ok(Keys(keys))
        }
    }
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(from: D) -> Result<Keys, D::Error> {
            from.deserialize_map(KeysVisitor)
        }
    }
    serde_json::from_str::<Keys>(text).ok().map(|keys| keys.0)
}

impl SummaryView {
    /// `info` gives the names refs give the version.
    pub fn new(summary: &Summary, info: &PageInfo) -> SummaryView {
        let lineage = &summary.lineage;
        SummaryView {
            name: info.name.clone(),
            version: info.version.clone(),
            id: info.id.to_hex(),
            tags: info.tags.clone(),
            key: info.key.clone(),
            format: summary.format,
            n_rows: summary.n_rows,
            n_bytes: summary.n_bytes,
            columns: summary.columns.iter().map(ColumnView::new).collect(),
            files: summary.files.iter().map(FileView::new).collect(),
            examples: ExamplesView::new(
                &summary.examples,
                &summary
                    .columns
                    .iter()
                    .map(|column| column.column.as_str())
                    .collect::<Vec<_>>(),
            ),
            lineage: SummaryLineageView {
                parents: hex_all(&lineage.parents),
                parent_versions: info.parent_versions.clone(),
                inputs: lineage.inputs.iter().map(InputView::new).collect(),
                code: lineage.code.clone(),
                author: lineage.author.clone(),
                time: format_time(lineage.time),
                message: lineage.message.clone(),
                command: lineage.command.clone(),
            },
            changes: summary
                .changes
                .as_ref()
                .map(|changes| ChangesView::new(changes, summary)),
        }
    }
}

/// A page `summary --all` wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryPageView {
    pub name: String,
    /// Empty when no version names the latest commit.
    pub version: String,
    pub path: String,
}

/// `summary --all -o DIR --json`: the index and the pages written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryPagesView {
    pub index: String,
    pub pages: Vec<SummaryPageView>,
}

// ---- queries and maintenance -----------------------------------------------------------

/// MCP's `query`: the result's columns in the order the query gives them (a struct column
/// spread into its fields, `file.path`, in the schema's order) and its rows, each an array
/// parallel to `columns`, at most the limit and within the byte budget.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct QueryView {
    pub columns: Vec<String>,
    /// Rows returned.
    pub n_rows: usize,
    /// True when the result had more rows than were returned.
    pub truncated: bool,
    /// What cut the rows: `limit` or `budget`; None when nothing was cut.
    pub truncated_by: Option<String>,
    /// Rows in the whole result, where that is cheap to know; None otherwise.
    pub total_rows: Option<u64>,
    pub rows: Vec<Vec<Value>>,
}

/// MCP's `list_datasets`: what `ls --json` lists, and how many datasets there are in all.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DatasetListView {
    pub datasets: Vec<DatasetView>,
    pub n_datasets: usize,
}

/// MCP's `dataset_summary`: the Markdown `page`, or with `json` the `summary` object.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SummaryAnswerView {
    pub page: Option<String>,
    pub summary: Option<SummaryView>,
}

/// An array an MCP answer cut to fit its byte budget: where (a JSON pointer), how many
/// items were kept and how many there were.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CutView {
    pub path: String,
    pub kept: usize,
    pub total: usize,
}

/// How an MCP answer was held to its byte budget (text and structured content together).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct BudgetView {
    /// The bytes this answer was held to: the call's `max_bytes` (for a JSON summary, at
    /// most 8 × `max_tokens`: 4 characters a token, text and structured content).
    pub max_bytes: usize,
    /// True when anything was cut or abbreviated to fit.
    pub truncated: bool,
    /// Arrays cut, at most the first 16.
    pub cuts: Vec<CutView>,
    /// Arrays cut in all (`cuts` lists at most 16).
    pub n_cuts: usize,
    /// Strings and query cells shortened, each ending in a marker such as `…[+9800 chars]`
    /// or, for a list in a query cell, a last item `…[+4992 items]`.
    pub abbreviated: usize,
}

/// Every MCP tool answer: the tool's view and, beside its fields, `budget`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct BudgetedView<T> {
    #[serde(flatten)]
    pub view: T,
    pub budget: BudgetView,
}

/// A file `agents init` wrote: `created`, `updated` or `unchanged`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentsFileView {
    pub path: String,
    pub action: String,
}

/// `agents init --json`: the client, the files written and, for Codex without
/// `--global`, the lines to add to ~/.codex/config.toml.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentsInitView {
    pub client: String,
    pub files: Vec<AgentsFileView>,
    pub codex_config_lines: Option<String>,
}

/// `fsck --json` (and `fsck --remote R --json`): objects checked and the problems found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FsckView {
    pub objects: u64,
    pub problems: Vec<String>,
}

impl FsckView {
    pub fn new(report: &FsckReport) -> FsckView {
        FsckView {
            objects: report.objects,
            problems: report.problems.clone(),
        }
    }

    pub fn remote(report: &RemoteFsckReport) -> FsckView {
        FsckView {
            objects: report.objects,
            problems: report.problems.clone(),
        }
    }
}

/// `gc --json`: what was removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GcView {
    pub objects_removed: u64,
    pub bytes_removed: u64,
    pub temporaries_removed: u64,
    pub temporary_bytes_removed: u64,
}

impl GcView {
    /// From what `maintain::gc` and `maintain::remove_stale_temporaries` removed.
    pub fn new(objects: &Removed, temporaries: &Removed) -> GcView {
        GcView {
            objects_removed: objects.count,
            bytes_removed: objects.bytes,
            temporaries_removed: temporaries.count,
            temporary_bytes_removed: temporaries.bytes,
        }
    }
}

/// `init --json`: the repository directory, and whether it was made now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InitView {
    pub path: String,
    pub created: bool,
}

impl InitView {
    pub fn new(path: &Path, created: bool) -> InitView {
        InitView {
            path: path.display().to_string(),
            created,
        }
    }
}

// ---- remotes ---------------------------------------------------------------------------

/// A remote, as `remote list --json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemoteView {
    pub name: String,
    pub url: String,
    pub trust_cache: bool,
}

impl RemoteView {
    pub fn new(remote: &RemoteInfo) -> RemoteView {
        RemoteView {
            name: remote.name.clone(),
            url: remote.url.clone(),
            trust_cache: remote.settings.trust_cache,
        }
    }
}

/// `push --json`: what a push did, and to which remote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushView {
    pub remote: String,
    pub objects_uploaded: usize,
    pub bytes_uploaded: u64,
    pub objects_present: usize,
    pub versions_created: Vec<String>,
    pub tags_updated: Vec<String>,
    pub up_to_date: usize,
    pub cache_uploaded: usize,
    /// The remote's layout format (1: `pail remote upgrade` moves it to 2).
    pub remote_format: u32,
    /// Datasets whose Iceberg table the push (re)published (`pail iceberg NAME`).
    pub tables_published: usize,
}

/// `pail iceberg NAME --json`: a dataset's Iceberg table on a remote, its refs, and a
/// ready-to-paste snippet per engine for the newest version and one version (and one
/// tag, when the dataset has one).
#[derive(Debug, Clone, Serialize)]
pub struct IcebergView {
    pub dataset: String,
    pub remote: String,
    pub url: String,
    /// The table's directory, as engines name it.
    pub location: String,
    /// The newest `v<N>.metadata.json`, as engines name it.
    pub metadata: String,
    pub refs: Vec<IcebergRefView>,
    pub snippets: Vec<EngineSnippet>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IcebergRefView {
    pub name: String,
    pub snapshot_id: i64,
    /// `branch` (`main`, the newest version) or `tag` (a version or a pail tag).
    pub kind: &'static str,
}

/// Code to paste into one engine; `tested` says whether pail's tests run it.
#[derive(Debug, Clone, Serialize)]
pub struct EngineSnippet {
    pub engine: &'static str,
    pub tested: bool,
    pub code: String,
}

impl IcebergView {
    pub fn new(remote: &str, info: &TableInfo) -> IcebergView {
        let refs = info
            .refs
            .iter()
            .map(|(name, found)| IcebergRefView {
                name: name.clone(),
                snapshot_id: found.snapshot_id,
                kind: if found.branch { "branch" } else { "tag" },
            })
            .collect();
        IcebergView {
            dataset: info.dataset.to_string(),
            remote: remote.to_string(),
            url: info.url.clone(),
            location: info.location.clone(),
            metadata: info.metadata.clone(),
            refs,
            snippets: engine_snippets(info),
        }
    }
}

/// The snippets `pail iceberg` prints (docs/engines.md explains each).
fn engine_snippets(info: &TableInfo) -> Vec<EngineSnippet> {
    let metadata = &info.metadata;
    let location = &info.location;
    // An example version (the newest) and an example tag (the first that is not a version).
    let version = info
        .refs
        .iter()
        .filter(|(name, found)| !found.branch && semver::Version::parse(name).is_ok())
        .max_by_key(|(name, _)| semver::Version::parse(name).ok())
        .map(|(name, found)| (name.clone(), found.snapshot_id));
    let tag = info
        .refs
        .iter()
        .find(|(name, found)| !found.branch && semver::Version::parse(name).is_err())
        .map(|(name, found)| (name.clone(), found.snapshot_id));
    let local = !location.contains("://");
    let mut pyiceberg = format!(
        "from pyiceberg.table import StaticTable\nt = StaticTable.from_metadata(\"{metadata}\")\nt.scan().to_arrow()  # newest version\n"
    );
    let mut duckdb = format!(
        "INSTALL iceberg;{}\nLOAD iceberg;\n{}SELECT count(*) FROM iceberg_scan('{metadata}');  -- newest version\n",
        if local { "" } else { " INSTALL httpfs;" },
        if local { "" } else { "LOAD httpfs;\n" },
    );
    let mut spark =
        format!("df = spark.read.format(\"iceberg\").load(\"{metadata}\")  # newest version\n");
    let (namespace, name) = (
        format!("{}_{}", info.dataset.namespace, info.dataset.project),
        info.dataset.name.clone(),
    );
    let mut trino = format!(
        "CALL iceberg.system.register_table(schema_name => '{namespace}', table_name => '{name}', table_location => '{location}');\nSELECT count(*) FROM iceberg.{namespace}.{name};  -- newest version\n"
    );
    for (what, (label, id)) in version
        .iter()
        .map(|found| ("version", found))
        .chain(tag.iter().map(|found| ("tag", found)))
    {
        pyiceberg.push_str(&format!(
            "t.scan(snapshot_id=t.snapshot_by_name(\"{label}\").snapshot_id).to_arrow()  # {what} {label}\n"
        ));
        duckdb.push_str(&format!(
            "SELECT count(*) FROM iceberg_scan('{metadata}', snapshot_from_id => {id});  -- {what} {label}\n"
        ));
        spark.push_str(&format!(
            "df = spark.read.format(\"iceberg\").option(\"snapshot-id\", {id}).load(\"{metadata}\")  # {what} {label}\n"
        ));
        trino.push_str(&format!(
            "SELECT count(*) FROM iceberg.{namespace}.{name} FOR VERSION AS OF {id};  -- {what} {label}\n"
        ));
    }
    let clickhouse = format!(
        "SELECT count() FROM {};  -- newest version\n",
        clickhouse_source(location)
    );
    vec![
        EngineSnippet {
            engine: "pyiceberg",
            tested: true,
            code: pyiceberg,
        },
        EngineSnippet {
            engine: "duckdb",
            tested: true,
            code: duckdb,
        },
        EngineSnippet {
            engine: "spark",
            tested: false,
            code: spark,
        },
        EngineSnippet {
            engine: "trino",
            tested: false,
            code: trino,
        },
        EngineSnippet {
            engine: "clickhouse",
            tested: false,
            code: clickhouse,
        },
    ]
}

/// ClickHouse's table function for a table location: `icebergLocal` for a directory,
/// `icebergS3` over HTTPS for S3 and GCS, `icebergAzure` for Azure.
fn clickhouse_source(location: &str) -> String {
    let split = |rest: &str| -> (String, String) {
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        (bucket.to_string(), key.to_string())
    };
    if let Some(rest) = location.strip_prefix("s3://") {
        let (bucket, key) = split(rest);
        format!("icebergS3('https://{bucket}.s3.amazonaws.com/{key}/')")
    } else if let Some(rest) = location.strip_prefix("gs://") {
        let (bucket, key) = split(rest);
        format!("icebergS3('https://storage.googleapis.com/{bucket}/{key}/')")
    } else if let Some(rest) = location.strip_prefix("az://") {
        let (container, key) = split(rest);
        format!("icebergAzure('<connection string>', '{container}', '{key}/')")
    } else {
        format!("icebergLocal('{location}')")
    }
}

impl PushView {
    pub fn new(remote: &str, report: &PushReport) -> PushView {
        PushView {
            remote: remote.to_string(),
            objects_uploaded: report.objects_uploaded,
            bytes_uploaded: report.bytes_uploaded,
            objects_present: report.objects_present,
            versions_created: report.versions_created.clone(),
            tags_updated: report.tags_updated.clone(),
            up_to_date: report.up_to_date,
            cache_uploaded: report.cache_uploaded,
            remote_format: report.remote_format,
            tables_published: report.tables_published,
        }
    }
}

/// A local version a pull renumbered: `dataset@old` and the new version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenumberedView {
    pub from: String,
    pub to: String,
}

/// A local tag a pull kept although the remote's moved: `dataset@tag` and both commits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagDivergenceView {
    pub tag: String,
    pub local: String,
    pub remote: String,
}

/// `pull --json`: what a pull did, and from which remote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PullView {
    pub remote: String,
    pub objects_downloaded: usize,
    pub bytes_downloaded: u64,
    pub versions_added: Vec<String>,
    pub tags_updated: Vec<String>,
    pub renumbered: Vec<RenumberedView>,
    pub cache_downloaded: usize,
    pub tags_diverged: Vec<TagDivergenceView>,
    pub warnings: Vec<String>,
}

impl PullView {
    pub fn new(remote: &str, report: &PullReport) -> PullView {
        PullView {
            remote: remote.to_string(),
            objects_downloaded: report.objects_downloaded,
            bytes_downloaded: report.bytes_downloaded,
            versions_added: report.versions_added.clone(),
            tags_updated: report.tags_updated.clone(),
            renumbered: report
                .renumbered
                .iter()
                .map(|renumbered| RenumberedView {
                    from: renumbered.from.clone(),
                    to: renumbered.to.clone(),
                })
                .collect(),
            cache_downloaded: report.cache_downloaded,
            tags_diverged: report
                .tags_diverged
                .iter()
                .map(|diverged| TagDivergenceView {
                    tag: diverged.tag.clone(),
                    local: diverged.local.to_hex(),
                    remote: diverged.remote.to_hex(),
                })
                .collect(),
            warnings: report.warnings.clone(),
        }
    }
}

/// `clone --json`: where the clone went, from where, and what it pulled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloneView {
    pub dir: String,
    pub url: String,
    pub versions: Vec<String>,
    pub objects_downloaded: usize,
}

impl CloneView {
    pub fn new(dir: &Path, url: &str, report: &PullReport) -> CloneView {
        CloneView {
            dir: dir.display().to_string(),
            url: url.to_string(),
            versions: report.versions_added.clone(),
            objects_downloaded: report.objects_downloaded,
        }
    }
}

// ---- checkouts, pins and runs ----------------------------------------------------------

/// `checkout --json`: what a checkout did, with the version and where it went; for
/// `checkout --locked`, one per pin, with the remote pail.lock names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckoutView {
    pub name: String,
    pub dir: String,
    pub files_written: u64,
    pub bytes_written: u64,
    pub files_skipped: u64,
    pub files_removed: u64,
    /// Whether every file had a recorded object version (exact bytes after an overwrite).
    pub exact_versions: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

impl CheckoutView {
    pub fn new(name: &str, dir: &Path, report: &CheckoutReport) -> CheckoutView {
        CheckoutView {
            name: name.to_string(),
            dir: dir.display().to_string(),
            files_written: report.files_written,
            bytes_written: report.bytes_written,
            files_skipped: report.files_skipped,
            files_removed: report.files_removed,
            exact_versions: report.all_versioned,
            remote: None,
        }
    }

    /// With the remote a pail.lock pin names.
    pub fn with_remote(self, remote: &str) -> CheckoutView {
        CheckoutView {
            remote: Some(remote.to_string()),
            ..self
        }
    }
}

/// A file `verify` found missing or changed, and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileProblemView {
    pub path: String,
    pub detail: String,
}

impl FileProblemView {
    pub fn all(problems: &[FileProblem]) -> Vec<FileProblemView> {
        problems
            .iter()
            .map(|problem| FileProblemView {
                path: problem.path.clone(),
                detail: problem.detail.clone(),
            })
            .collect()
    }
}

/// `verify --json`: the version checked and what was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyView {
    pub name: String,
    pub unchanged: u64,
    pub changed: Vec<FileProblemView>,
    pub missing: Vec<FileProblemView>,
    pub exact_versions: bool,
}

impl VerifyView {
    pub fn new(name: &str, report: &VerifyReport) -> VerifyView {
        VerifyView {
            name: name.to_string(),
            unchanged: report.unchanged,
            changed: FileProblemView::all(&report.changed),
            missing: FileProblemView::all(&report.missing),
            exact_versions: report.all_versioned,
        }
    }
}

/// A pail.lock pin, as `lock list --json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PinView {
    pub name: String,
    pub version: String,
    pub commit: String,
    /// "" when the version was never pushed.
    pub remote: String,
}

impl PinView {
    pub fn all(entries: &[LockEntry]) -> Vec<PinView> {
        entries
            .iter()
            .map(|entry| PinView {
                name: entry.name.clone(),
                version: entry.version.clone(),
                commit: entry.commit.clone(),
                remote: entry.remote.clone(),
            })
            .collect()
    }
}

/// `map --json`: the run's counts and the output version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapView {
    /// `created`, or `unchanged` when the output is the latest version already.
    pub status: &'static str,
    /// `name@version`.
    pub version: String,
    pub id: String,
    pub n_rows: u64,
    pub ran: u64,
    pub resumed: u64,
    /// Results from this repository's own cache.
    pub cached: u64,
    /// Results from trusted remotes' caches, by remote name.
    pub cached_remote: BTreeMap<String, u64>,
    pub carried: u64,
    pub removed: u64,
    pub failed: u64,
    pub job: String,
}

impl MapView {
    pub fn new(report: &MapReport) -> MapView {
        let (status, name, version, id) = match &report.outcome {
            CommitOutcome::Created {
                name, version, id, ..
            } => ("created", name, version, id),
            CommitOutcome::Unchanged {
                name, version, id, ..
            } => ("unchanged", name, version, id),
        };
        let stats = &report.stats;
        MapView {
            status,
            version: format!("{name}@{version}"),
            id: id.to_hex(),
            n_rows: stats.n_rows,
            ran: stats.ran,
            resumed: stats.resumed,
            cached: stats.cached,
            cached_remote: stats.remote_cached.clone(),
            carried: stats.carried,
            removed: stats.removed,
            failed: stats.failed,
            job: stats.job.clone(),
        }
    }
}

/// An unfinished `pail map` run, as `jobs --json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    pub job: String,
    pub input: String,
    pub to: String,
    pub command: String,
    /// Rows done so far.
    pub done: u64,
}

impl JobView {
    pub fn all(jobs: &[JobInfo]) -> Vec<JobView> {
        jobs.iter()
            .map(|job| JobView {
                job: job.job.clone(),
                input: job.input.clone(),
                to: job.to.clone(),
                command: job.command.clone(),
                done: job.done,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    //! Snapshots of every view's JSON from fixed inputs: a change to what pail answers
    //! shows up here as a snapshot diff to review.

    use serde_json::json;

    use super::*;
    use crate::diff::{ChangeKind, DiffStat, RowChange};
    use crate::object::ObjectId;
    use crate::schema::BytesEncoding;
    use crate::summary::{Lengths, Lineage, SizeStats};
    use crate::tags::TagInfo;

    /// 2023-11-14T22:13:20Z.
    const TIME: i64 = 1_700_000_000_000_000;

    fn id(byte: u8) -> CommitId {
        CommitId(ObjectId([byte; 32]))
    }

    fn name(text: &str) -> DatasetName {
        DatasetName::parse_full(text).unwrap()
    }

    fn version(text: &str) -> semver::Version {
        semver::Version::parse(text).unwrap()
    }

    fn json_text(view: &impl Serialize) -> String {
        serde_json::to_string_pretty(&to_json(view)).unwrap()
    }

    fn commit() -> Commit {
        Commit {
            format: 2,
            parents: vec![id(1)],
            inputs: vec![
                Input::Dataset {
                    name: "team.vision.photos".into(),
                    version: "1.0.1".into(),
                    commit: id(2),
                },
                Input::Source {
                    uri: "s3://bucket/videos".into(),
                    listed_at: TIME - 60_000_000,
                },
            ],
            schema: ObjectId([3; 32]),
            rows: ObjectId([4; 32]),
            n_rows: 6,
            n_bytes: 1234,
            key: vec!["file.source".into(), "file.path".into()],
            author: "Test Author <test@example.com>".into(),
            time: TIME,
            message: "six clips".into(),
            command: vec!["python".into(), "make_clips.py".into()],
            git: Some(GitState {
                repository: "git@example.com:team/clips.git".into(),
                head: Some("abc123".into()),
                branch: None,
                dirty: true,
            }),
            code: vec![CodeFile {
                path: "make_clips.py".into(),
                blob: ObjectId([5; 32]),
                size: 321,
            }],
            summary: Some(ObjectId([6; 32])),
        }
    }

    fn resolved() -> Resolved {
        Resolved {
            name: name("team.vision.clips"),
            version: Some(version("1.0.2")),
            id: id(7),
            commit: commit(),
        }
    }

    #[test]
    fn datasets_and_log_entries() {
        let info = DatasetInfo {
            name: name("team.vision.clips"),
            versions: vec![(version("1.0.0"), id(1)), (version("1.0.2"), id(7))],
            tags: vec![("golden".into(), id(1))],
        };
        insta::assert_snapshot!("dataset", json_text(&DatasetView::new(&info, &commit())));
        let entry = LogEntryView::new(&info.name, &version("1.0.2"), &id(7), &commit());
        insta::assert_snapshot!("log_entry", json_text(&entry));
    }

    #[test]
    fn versions_with_lineage() {
        let view = VersionView::new(&resolved(), &["golden".to_string()]);
        insta::assert_snapshot!("version", json_text(&view));
        let mut unversioned = resolved();
        unversioned.version = None;
        unversioned.commit.git = None;
        unversioned.commit.summary = None;
        let lineage = VersionLineageView {
            version: VersionView::new(&unversioned, &[]),
            parent_versions: vec![Some("1.0.1".into())],
            children: vec![ChildView {
                version: "1.0.3".into(),
                id: id(8).to_hex(),
            }],
        };
        insta::assert_snapshot!("version_lineage", json_text(&lineage));
        let graph = LineageGraph {
            nodes: vec![
                LineageNode::Version {
                    name: "team.vision.clips".into(),
                    version: "1.0.2".into(),
                    commit: id(7),
                },
                LineageNode::Source {
                    uri: "s3://bucket/videos".into(),
                    listed_at: TIME,
                },
            ],
            edges: vec![(1, 0)],
        };
        insta::assert_snapshot!(
            "lineage_graph",
            json_text(&LineageGraphView::new(&graph, 0, false))
        );
    }

    #[test]
    fn schemas_of_every_type() {
        let field = |name: &str, ty: Type| Field {
            name: name.into(),
            ty,
        };
        let optional = |ty: Type| Type::Optional(Box::new(ty));
        let schema = Schema {
            format: 2,
            columns: None,
            constraints: None,
            fields: vec![
                field("file", Type::File),
                field("start", Type::Float),
                field("captured", optional(Type::Datetime)),
                field("weather", Type::Enum(vec!["clear".into(), "rain".into()])),
                field("labels", Type::List(Box::new(optional(Type::String)))),
                field("thumb", optional(Type::BytesAs(BytesEncoding::Base64Url))),
                field("raw", Type::Bytes),
                field(
                    "meta",
                    optional(Type::Struct(vec![
                        field("w", Type::Int),
                        field("ok", optional(Type::Bool)),
                    ])),
                ),
            ],
        };
        let view = SchemaView::new(&resolved(), &schema);
        insta::assert_snapshot!("schema", json_text(&view));
        let columns = to_json(&view.with_columns(&schema))["columns"].clone();
        insta::assert_snapshot!("schema_columns", serde_json::to_string(&columns).unwrap());
    }

    /// The format-3 types, structurally, with their column ids and constraints.
    #[test]
    fn schemas_of_format_3_types() {
        let text = r##"{"type": "object", "required": ["day", "cost", "rating", "usage", "size", "tool"],
            "properties": {
            "day": {"type": "string", "format": "date"},
            "cost": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]},
            "rating": {"enum": [1, 2, 3]},
            "usage": {"type": "object", "additionalProperties": {"type": "number"}},
            "size": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "integer"}],
                     "minItems": 2, "maxItems": 2},
            "tool": {"oneOf": [{"$ref": "#/$defs/Search"}, {"type": "integer"}],
                     "discriminator": null},
            "id": {"type": "string", "format": "uuid", "pattern": "(?=a)"}},
            "$defs": {"Search": {"type": "object", "required": ["q"], "properties": {
                "q": {"type": "string", "maxLength": 3}}}}}"##;
        let doc: Value = serde_json::from_str(text).unwrap();
        let schema = Schema::from_json_schema_text(&doc, text).unwrap();
        let view = SchemaView::new(&resolved(), &schema);
        insta::assert_snapshot!("schema_format_3", json_text(&view));
    }

    #[test]
    fn diffs_statuses_and_comparisons() {
        let old = Resolved {
            version: Some(version("1.0.1")),
            id: id(1),
            ..resolved()
        };
        let new = resolved();
        let stat = DiffStat {
            added: 1,
            removed: 2,
            modified: 3,
            leaves_read: 4,
            leaves_counted: 5,
        };
        let breaking = Compat::Breaking(vec!["removed column x".into(), "added column y".into()]);
        let diff = DiffView {
            old: DiffSideView::version(&old),
            new: DiffSideView::version(&new),
            problems: None,
            schema: SchemaChangesView::new(&breaking),
            counts: Some(DiffCountsView::new(&stat)),
        };
        insta::assert_snapshot!("diff_stat", json_text(&diff));
        let status = DiffView {
            old: DiffSideView::version(&old),
            new: DiffSideView::source("s3://bucket/videos"),
            problems: Some(ProblemView::all(&[(
                "a/b.mp4".into(),
                "permission denied".into(),
            )])),
            schema: SchemaChangesView::new(&Compat::Same),
            counts: None,
        };
        insta::assert_snapshot!("status_header", json_text(&status));
        let change = RowChange {
            kind: ChangeKind::Modified,
            key: vec![("path".into(), json!("a/b.mp4")), ("n".into(), json!(2))],
            old: Some(json!({"path": "a/b.mp4", "n": 2, "size": 1})),
            new: Some(json!({"path": "a/b.mp4", "n": 2, "size": 3})),
            columns: vec!["size".into()],
        };
        insta::assert_snapshot!("row_change", json_text(&RowChangeView::new(&change)));
        let added = RowChange {
            kind: ChangeKind::Added,
            old: None,
            columns: Vec::new(),
            ..change
        };
        insta::assert_snapshot!("row_added", json_text(&RowChangeView::new(&added)));
        // Keys differ: no row counts.
        let compare = CompareView {
            diff: DiffView {
                old: DiffSideView::version_with_counts(&old),
                new: DiffSideView::version_with_counts(&new),
                problems: None,
                schema: SchemaChangesView::new(&Compat::Additive(vec!["added column y".into()])),
                counts: None,
            },
            leaves_read: None,
            same_content: false,
            n_rows_delta: -1,
            n_bytes_delta: 10,
            row_tree: RowTreeOverlapView {
                leaves_shared: 1,
                rows_in_shared_leaves: 2,
                leaves_only_in_old: 3,
                rows_only_in_old_leaves: 4,
                leaves_only_in_new: 5,
                rows_only_in_new_leaves: 6,
            },
        };
        insta::assert_snapshot!("compare", json_text(&compare));
    }

    #[test]
    fn commits_and_tags() {
        let created = CommitOutcome::Created {
            name: name("team.vision.clips"),
            version: version("1.0.2"),
            id: id(7),
            parent: Some(version("1.0.1")),
            commit: Box::new(commit()),
            leaves_written: 1,
            leaves_reused: 2,
            problems: vec![("a/b.mp4".into(), "permission denied".into())],
        };
        insta::assert_snapshot!("commit_created", json_text(&CommitView::new(&created)));
        let unchanged = CommitOutcome::Unchanged {
            name: name("team.vision.clips"),
            version: version("1.0.2"),
            id: id(7),
            problems: Vec::new(),
        };
        insta::assert_snapshot!("commit_unchanged", json_text(&CommitView::new(&unchanged)));
        let tag = TagInfo {
            name: name("team.vision.clips"),
            tag: "golden".into(),
            id: id(7),
            version: None,
        };
        insta::assert_snapshot!("tag", json_text(&TagView::new(&tag)));
        insta::assert_snapshot!("tag_deleted", json_text(&TagDeletedView::new(&tag)));
        let set = TagSetView::new(&resolved(), "golden", Some(&id(1)));
        insta::assert_snapshot!("tag_set", json_text(&set));
    }

    #[test]
    fn summaries() {
        let column = |column: &str, ty: &str| ColumnSummary {
            column: column.into(),
            ty: ty.into(),
            n_nulls: 0,
            min: None,
            max: None,
            distinct: 0,
            distinct_exact: true,
            top: Vec::new(),
            lengths: None,
        };
        let summary = Summary {
            format: 1,
            n_rows: 6,
            n_bytes: 1234,
            columns: vec![
                ColumnSummary {
                    min: Some(Scalar::Float(0.5)),
                    max: Some(Scalar::Float(f64::NAN)),
                    distinct: 5,
                    distinct_exact: false,
                    n_nulls: 1,
                    ..column("start", "optional<float>")
                },
                ColumnSummary {
                    min: Some(Scalar::Text("clear".into())),
                    max: Some(Scalar::Text("rain".into())),
                    top: vec![ValueCount {
                        value: "clear".into(),
                        count: 4,
                    }],
                    ..column("weather", "enum(clear, rain)")
                },
                ColumnSummary {
                    min: Some(Scalar::Int(-3)),
                    max: Some(Scalar::Bool(true)),
                    lengths: Some(Lengths {
                        min: 0,
                        max: 3,
                        total: 7,
                    }),
                    ..column("labels", "list<string>")
                },
            ],
            files: vec![FileSummary {
                column: "file".into(),
                n_files: 6,
                sources: vec![ValueCount {
                    value: "s3://bucket".into(),
                    count: 6,
                }],
                n_sources: 1,
                extensions: vec![ValueCount {
                    value: "mp4".into(),
                    count: 6,
                }],
                n_extensions: 1,
                sizes: SizeStats {
                    min: Some(10),
                    max: None,
                    total: 1234,
                    buckets: vec![6, 0, 0, 0, 0, 0, 0],
                    unknown: 0,
                },
            }],
            examples: vec![r#"{"start":0.5}"#.into(), "not json".into()],
            lineage: Lineage {
                parents: vec![id(1)],
                inputs: commit().inputs,
                code: vec!["make_clips.py".into()],
                author: "Test Author <test@example.com>".into(),
                time: TIME,
                message: "six clips".into(),
                command: vec!["pail".into(), "commit".into()],
            },
            changes: Some(Changes {
                parent: id(1),
                n_rows_before: 8,
                n_bytes_before: 1000,
                schema_changes: vec!["added column weather".into()],
                leaves_reused: 1,
                leaves_written: 2,
            }),
        };
        let info = PageInfo {
            name: "team.vision.clips".into(),
            version: Some("1.0.2".into()),
            id: id(7),
            tags: vec!["golden".into()],
            key: Vec::new(),
            parent_versions: vec![None],
        };
        insta::assert_snapshot!("summary", json_text(&SummaryView::new(&summary, &info)));
        let pages = SummaryPagesView {
            index: "pages/index.md".into(),
            pages: vec![SummaryPageView {
                name: "team.vision.clips".into(),
                version: "1.0.2".into(),
                path: "pages/team.vision.clips.md".into(),
            }],
        };
        insta::assert_snapshot!("summary_pages", json_text(&pages));
    }

    #[test]
    fn agents_init() {
        let init = AgentsInitView {
            client: "codex".into(),
            files: vec![AgentsFileView {
                path: "/work/project/AGENTS.md".into(),
                action: "created".into(),
            }],
            codex_config_lines: Some("[mcp_servers.pail]\ncommand = \"pail\"\n".into()),
        };
        insta::assert_snapshot!("agents_init", json_text(&init));
    }

    #[test]
    fn examples_keep_the_order_their_rows_hold_columns_in() {
        let view = ExamplesView::new(
            &[
                r#"{"weather":"rain","file":{"path":"a","source":"s"},"start":1.5}"#.to_string(),
                r#"{"weather":"fog","file":null,"note":"x","start":2}"#.to_string(),
                "not json".to_string(),
            ],
            &["weather", "file.path", "file.source", "start", "note"],
        );
        // A struct's fields are columns of their own, in the schema's order.
        assert_eq!(
            view.columns,
            ["weather", "file.path", "file.source", "start", "note"]
        );
        assert_eq!(
            view.rows,
            [
                vec![
                    json!("rain"),
                    json!("a"),
                    json!("s"),
                    json!(1.5),
                    Value::Null
                ],
                vec![json!("fog"), Value::Null, Value::Null, json!(2), json!("x")],
                vec![json!("not json")],
            ]
        );
        // Without the flat columns (or for a column they lack), a row's own keys.
        let plain = ExamplesView::new(&[r#"{"b":{"y":1,"x":2},"a":0}"#.to_string()], &[]);
        assert_eq!(plain.columns, ["b", "a"]);
    }

    #[test]
    fn queries_and_maintenance() {
        let query = QueryView {
            columns: vec!["n".into(), "file.path".into()],
            n_rows: 1,
            truncated: true,
            truncated_by: Some("budget".into()),
            total_rows: Some(7),
            rows: vec![vec![json!(3), json!("a/one.jpg")]],
        };
        let budget = BudgetView {
            max_bytes: 16384,
            truncated: true,
            cuts: vec![CutView {
                path: "/examples".into(),
                kept: 2,
                total: 5,
            }],
            n_cuts: 1,
            abbreviated: 1,
        };
        let answer = BudgetedView {
            view: query,
            budget,
        };
        insta::assert_snapshot!("query", json_text(&answer));
        let fsck = FsckView {
            objects: 12,
            problems: vec!["object 0123 is missing".into()],
        };
        insta::assert_snapshot!("fsck", json_text(&fsck));
        let gc = GcView {
            objects_removed: 1,
            bytes_removed: 2,
            temporaries_removed: 3,
            temporary_bytes_removed: 4,
        };
        insta::assert_snapshot!("gc", json_text(&gc));
    }

    #[test]
    fn remotes() {
        insta::assert_snapshot!(
            "init",
            json_text(&InitView::new(Path::new("/work/.pail"), true))
        );
        let remote = RemoteInfo {
            name: "origin".into(),
            url: "s3://bucket/pail".into(),
            settings: crate::remote::RemoteSettings { trust_cache: true },
        };
        insta::assert_snapshot!("remote", json_text(&RemoteView::new(&remote)));
        let push = PushReport {
            objects_uploaded: 5,
            bytes_uploaded: 1234,
            objects_present: 2,
            versions_created: vec!["team.vision.clips@1.0.2".into()],
            tags_updated: vec!["team.vision.clips@golden".into()],
            up_to_date: 3,
            cache_uploaded: 1,
            remote_format: 2,
            tables_published: 1,
        };
        insta::assert_snapshot!("push", json_text(&PushView::new("origin", &push)));
        let pull = PullReport {
            objects_downloaded: 4,
            bytes_downloaded: 999,
            versions_added: vec!["team.vision.clips@1.0.2".into()],
            tags_updated: vec![],
            renumbered: vec![crate::remote::Renumbered {
                from: "team.vision.clips@1.0.2".into(),
                to: "1.0.3".into(),
            }],
            cache_downloaded: 2,
            tags_diverged: vec![crate::remote::TagDivergence {
                tag: "team.vision.clips@golden".into(),
                local: id(1),
                remote: id(2),
            }],
            warnings: vec!["skipped refs/README.txt".into()],
        };
        insta::assert_snapshot!("pull", json_text(&PullView::new("origin", &pull)));
        let clone = CloneView::new(Path::new("/work/clips"), "s3://bucket/pail", &pull);
        insta::assert_snapshot!("clone", json_text(&clone));
    }

    #[test]
    fn checkouts_pins_and_runs() {
        let report = CheckoutReport {
            files_written: 3,
            bytes_written: 300,
            files_skipped: 2,
            files_removed: 1,
            all_versioned: false,
        };
        let checkout = CheckoutView::new("team.vision.clips@1.0.2", Path::new("/data"), &report);
        insta::assert_snapshot!("checkout", json_text(&checkout));
        let locked = checkout.with_remote("s3://bucket/pail");
        insta::assert_snapshot!("checkout_locked", json_text(&locked));
        let problem = |path: &str, detail: &str| FileProblem {
            path: path.into(),
            kind: crate::checkout::ProblemKind::Changed,
            detail: detail.into(),
        };
        let verify = VerifyReport {
            unchanged: 4,
            changed: vec![problem("a.mp4", "expected 7 bytes, found 8")],
            missing: vec![problem("b.mp4", "not found")],
            all_versioned: true,
        };
        let verify = VerifyView::new("team.vision.clips@1.0.2", &verify);
        insta::assert_snapshot!("verify", json_text(&verify));
        let pin = LockEntry {
            name: "team.vision.clips".into(),
            version: "1.0.2".into(),
            commit: id(7).to_hex(),
            remote: "s3://bucket/pail".into(),
        };
        insta::assert_snapshot!("pins", json_text(&PinView::all(&[pin])));
        let map = MapReport {
            stats: crate::map::MapStats {
                n_rows: 10,
                ran: 4,
                resumed: 1,
                cached: 2,
                remote_cached: [("origin".to_string(), 1)].into_iter().collect(),
                carried: 1,
                removed: 1,
                failed: 0,
                job: "0123456789ab".into(),
            },
            outcome: CommitOutcome::Unchanged {
                name: name("team.vision.clip_sizes"),
                version: version("1.0.0"),
                id: id(8),
                problems: vec![],
            },
        };
        insta::assert_snapshot!("map", json_text(&MapView::new(&map)));
        let job = JobInfo {
            job: "0123456789ab".into(),
            input: "team.vision.clips@1.0.2".into(),
            to: "team.vision.clip_sizes".into(),
            command: "python size.py".into(),
            done: 6,
        };
        insta::assert_snapshot!("jobs", json_text(&JobView::all(&[job])));
    }
}
