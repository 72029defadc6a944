//! SQL over dataset versions through Apache DataFusion.
//!
//! `session` gives a `SessionContext` in which every dataset is a table: `photos` (latest),
//! `"photos@1.0.1"`, `"team.vision.clips@golden"`, or unquoted `team.vision.clips` (catalog =
//! namespace, schema = project). Tables are resolved when a query names them.
//!
//! A table reads the Parquet leaves of its version directly: the leaf entries are read once
//! (one short store transaction), leaves are pruned with the filters DataFusion pushes down
//! (the key range of each leaf and the min/max of integer and datetime columns kept in its
//! entry), and the rest are decoded with only the projected columns, a group of leaves per
//! short store transaction, across `target_partitions` partitions. Simple comparisons with
//! a literal are applied by the scan itself, which then decodes only the struct fields they
//! read. A `count(*)` without such a filter reads no leaf at all: an empty projection is
//! answered from the row counts in the entries.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, ListArray, RecordBatch, RecordBatchOptions,
    StringArray, StructArray,
};
use datafusion::arrow::compute::kernels::cmp;
use datafusion::arrow::compute::{
    and_kleene, filter_record_batch, is_not_null, is_null, nullif, or_kleene,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, Session};
use datafusion::common::{DataFusionError, Location, ScalarValue};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::context::SQLOptions;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, Like, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, TableProviderFilterPushDown, TypeSignature, Volatility,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::parser::ParserError;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use serde::de::DeserializeOwned;
use serde_json::Value;

mod plan;

use crate::object::{Child, Kind};
use crate::repo::{RepoError, Resolved};
use crate::rows::key;
use crate::rows::layout::{Layout, Objects};
use crate::rows::tree::TreeError;
use crate::{DatasetRef, Repo};

/// Catalog and schema names DataFusion uses for bare table names (`photos@1.0.1`).
/// Chosen so they cannot be a namespace or project (names are lowercase letters, digits,
/// `_` and `-`, and start with a letter).
const BARE_CATALOG: &str = "__pail";
const BARE_SCHEMA: &str = "__pail";
/// Leaves read per store transaction when scanning.
const LEAVES_PER_READ: usize = 32;

/// Why a query could not be planned or run.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The SQL does not parse; the message says where. Not a `#[source]`: the parser's own
    /// text repeats the message under another prefix.
    #[error("SQL syntax error: {}", syntax_message(.0))]
    Syntax(Box<ParserError>),
    /// The SQL parses but does not fit the tables (unknown column, wrong types, ...).
    #[error("{source}{}", at(.location))]
    Plan {
        #[source]
        source: EngineError,
        /// Where in the SQL, when DataFusion knows and its message does not say.
        location: Option<Location>,
    },
    #[error("not supported: {source}{}", at(.location))]
    NotSupported {
        #[source]
        source: EngineError,
        location: Option<Location>,
    },
    /// A statement that would change something (`CREATE TABLE`, `INSERT`, `SET`, ...):
    /// datasets change only by commits.
    #[error(
        "queries are read-only: {statement} is not run; SQL here reads datasets with SELECT, EXPLAIN, SHOW and DESCRIBE"
    )]
    ReadOnly {
        /// The statement's leading keywords, as written (`CREATE TABLE`).
        statement: String,
    },
    /// A leaf's columns are not what its commit's schema says: the store was damaged,
    /// or the leaf written by something other than pail. Checked before the engine
    /// computes with them.
    #[error("leaf {leaf} does not match its commit's schema: {detail}")]
    LeafMismatch { leaf: String, detail: String },
    #[error(transparent)]
    Repo(Box<RepoError>),
    /// Evaluation failed on the data (a cast, a division by zero).
    #[error("query failed: {source}")]
    Data {
        #[source]
        source: EngineError,
    },
    /// A result row does not deserialize into the caller's type (`batches_to`).
    #[error("query failed: a row does not fit the type: {source}")]
    RowType {
        #[source]
        source: serde_json::Error,
    },
    /// The engine failed where it should not: a bug in pail or in DataFusion.
    #[error("query engine error: {source}")]
    Internal {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A DataFusion error shown as its message alone, without DataFusion's prefix ("Error
/// during planning: "): the text `QueryError` shows, with the error itself kept.
#[derive(Debug)]
pub struct EngineError(pub DataFusionError);

/// What DataFusion appends to an internal error's message, from where it is cut: a user
/// of pail reports a bug to pail, with the rest of the message.
const DATAFUSION_BUG_NOTE: &str = ".\nThis issue was likely caused by a bug in DataFusion's code.";

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bare names live in a catalog and schema of pail's own, which users never name.
        let message = self
            .0
            .message()
            .replace(&format!("{BARE_CATALOG}.{BARE_SCHEMA}."), "");
        match message.find(DATAFUSION_BUG_NOTE) {
            Some(end) => f.write_str(&message[..end]),
            None => f.write_str(&message),
        }
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The parser's message without its "sql parser error: " prefix.
fn syntax_message(err: &ParserError) -> String {
    let text = err.to_string();
    match text.strip_prefix("sql parser error: ") {
        Some(message) => message.to_string(),
        None => text,
    }
}

/// " (at line L, column C)", or nothing.
fn at(location: &Option<Location>) -> String {
    match location {
        Some(location) => format!(" (at line {}, column {})", location.line, location.column),
        None => String::new(),
    }
}

impl From<RepoError> for QueryError {
    fn from(err: RepoError) -> Self {
        QueryError::Repo(Box::new(err))
    }
}

impl From<DataFusionError> for QueryError {
    fn from(err: DataFusionError) -> Self {
        classify(err)
    }
}

/// Turns a DataFusion error into what a user can act on; a dataset that failed to
/// resolve comes back as the `RepoError` it was.
fn classify(err: DataFusionError) -> QueryError {
    match err {
        DataFusionError::External(inner) => match inner.downcast::<RepoError>() {
            Ok(repo) => QueryError::Repo(repo),
            Err(other) => match other.downcast::<QueryError>() {
                Ok(query) => *query,
                Err(other) => match other.downcast::<DataFusionError>() {
                    Ok(inner) => classify(*inner),
                    Err(other) => QueryError::Internal { source: other },
                },
            },
        },
        DataFusionError::Context(_, inner) => classify(*inner),
        DataFusionError::Diagnostic(diagnostic, inner) => {
            // Planning errors carry the span of the offending SQL: say where it is.
            let located = |source: &EngineError| match diagnostic.span {
                Some(span) if span.start.line > 0 && !source.to_string().contains(" at Line: ") => {
                    Some(span.start)
                }
                _ => None,
            };
            match classify(*inner) {
                QueryError::Plan { source, location } => QueryError::Plan {
                    location: location.or_else(|| located(&source)),
                    source,
                },
                QueryError::NotSupported { source, location } => QueryError::NotSupported {
                    location: location.or_else(|| located(&source)),
                    source,
                },
                other => other,
            }
        }
        DataFusionError::Shared(shared) => match Arc::try_unwrap(shared) {
            Ok(inner) => classify(inner),
            Err(shared) => classify(unshare(&shared)),
        },
        DataFusionError::SQL(parser, _) => QueryError::Syntax(parser),
        DataFusionError::Plan(message) if refused_write(&message).is_some() => {
            QueryError::ReadOnly {
                statement: refused_write(&message).unwrap_or_default(),
            }
        }
        err @ (DataFusionError::Plan(_) | DataFusionError::SchemaError(..)) => QueryError::Plan {
            source: EngineError(err),
            location: None,
        },
        // What the optimizer could not turn into joins reaches the physical planner:
        // subqueries that read the query around them.
        DataFusionError::NotImplemented(message)
            if message.starts_with("Physical plan does not support logical expression") =>
        {
            QueryError::NotSupported {
                source: EngineError(DataFusionError::NotImplemented(
                    "a subquery that reads columns of the query around it, in a form the \
                     engine cannot turn into a join; correlate by equality (WHERE d.id = c.id), \
                     and unnest a list as a join without condition: \
                     FROM clips c, unnest(c.tags) AS t(tag)"
                        .into(),
                )),
                location: None,
            }
        }
        err @ DataFusionError::NotImplemented(_) => QueryError::NotSupported {
            source: EngineError(err),
            location: None,
        },
        err @ (DataFusionError::ArrowError(..) | DataFusionError::Execution(_)) => {
            QueryError::Data {
                source: EngineError(err),
            }
        }
        other => QueryError::Internal {
            source: Box::new(EngineError(other)),
        },
    }
}

/// An error DataFusion shares among the partitions that met it (and so cannot be taken
/// apart) rebuilt from its parts, for `classify`. A `RepoError` inside is kept as its
/// message: callers that can drop the plan first (the CLI does) get it whole.
fn unshare(err: &DataFusionError) -> DataFusionError {
    match err {
        DataFusionError::Shared(inner) => unshare(inner),
        DataFusionError::Context(context, inner) => {
            DataFusionError::Context(context.clone(), Box::new(unshare(inner)))
        }
        DataFusionError::External(inner) => {
            if let Some(QueryError::LeafMismatch { leaf, detail }) = inner.downcast_ref() {
                return leaf_mismatch(leaf, detail.clone());
            }
            match inner.downcast_ref::<DataFusionError>() {
                Some(inner) => unshare(inner),
                None => DataFusionError::Execution(inner.to_string()),
            }
        }
        DataFusionError::ArrowError(err, _) => DataFusionError::Execution(err.to_string()),
        DataFusionError::Execution(message) => DataFusionError::Execution(message.clone()),
        DataFusionError::Plan(message) => DataFusionError::Plan(message.clone()),
        DataFusionError::NotImplemented(message) => {
            DataFusionError::NotImplemented(message.clone())
        }
        DataFusionError::Internal(message) => DataFusionError::Internal(message.clone()),
        other => DataFusionError::Internal(other.message().into()),
    }
}

/// The statement named by DataFusion's refusal of a plan that `SQLOptions` forbids ("DDL
/// not supported: CreateMemoryTable"), for a caller that plans without `sql`'s own check.
fn refused_write(message: &str) -> Option<String> {
    [
        "DDL not supported: ",
        "DML not supported: ",
        "Statement not supported: ",
    ]
    .iter()
    .find_map(|prefix| message.strip_prefix(prefix))
    .map(str::to_string)
}

/// An Arrow error met while reading results, as `QueryError::Data`.
fn arrow_data(err: datafusion::arrow::error::ArrowError) -> QueryError {
    QueryError::Data {
        source: EngineError(DataFusionError::ArrowError(Box::new(err), None)),
    }
}

fn external(err: impl Into<RepoError>) -> DataFusionError {
    DataFusionError::External(Box::new(err.into()))
}

/// A DataFusion session over the repository's datasets, with pail's helper functions
/// (`file_ext`, `file_name`, `file_dir`, `file_uri`) registered.
///
/// `information_schema` (and so `SHOW TABLES`, `SHOW COLUMNS`) lists the datasets as
/// catalog = namespace, schema = project, table = name. A lateral `unnest` (`FROM clips,
/// unnest(clips.tags) AS t(tag)`) is planned as an unnest of the table it follows.
pub fn session(repo: &Repo) -> SessionContext {
    let mut config = SessionConfig::new()
        .with_default_catalog_and_schema(BARE_CATALOG, BARE_SCHEMA)
        .with_information_schema(true);
    config.options_mut().sql_parser.collect_spans = true;
    // DataFusion 55 moves struct field reads (`file.size`) below the nodes that use them
    // under generated names, and loses them under a join key such as `c.file.size + 0 =
    // d.file.size` ("No field named __datafusion_extracted_1"). The scan decodes what
    // the filters it is given read, so the move gains nothing here.
    config
        .options_mut()
        .optimizer
        .enable_leaf_expression_pushdown = false;
    let table_functions = datafusion::execution::SessionStateDefaults::default_table_functions()
        .iter()
        .map(|function| function.name().to_string())
        .collect();
    let catalogs = Arc::new(PailCatalogs {
        repo: repo.clone(),
        store_lock: Arc::new(Mutex::new(())),
        table_functions: Arc::new(table_functions),
        catalogs: Mutex::new(HashMap::new()),
    });
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_catalog_list(catalogs)
        .build();
    let ctx = SessionContext::new_with_state(state);
    ctx.add_analyzer_rule(Arc::new(plan::LateralUnnest));
    for udf in udfs() {
        ctx.register_udf(udf);
    }
    ctx
}

/// Runs SQL over the datasets; the result is a lazy `DataFrame`. Only statements that
/// read are run (`QueryError::ReadOnly` for the others).
pub async fn sql(repo: &Repo, sql: &str) -> Result<DataFrame, QueryError> {
    let ctx = session(repo);
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    Ok(sql_with_options(&ctx, sql, options).await?)
}

/// Plans one statement in a `session`, as `SessionContext::sql_with_options` does, and
/// also: refuses statements that write (`QueryError::ReadOnly`, inside the
/// `DataFusionError`) before naming any table, so `CREATE TABLE t AS ...` is not taken
/// for a query of dataset `t`; and names an unaliased struct field column `file.path`,
/// as written, not `photos.file[path]`.
pub async fn sql_with_options(
    ctx: &SessionContext,
    sql: &str,
    options: SQLOptions,
) -> Result<DataFrame, DataFusionError> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let mut statement = state.sql_to_statement(sql, &dialect)?;
    if let Some(statement) = writes(&statement, sql) {
        return Err(DataFusionError::External(Box::new(QueryError::ReadOnly {
            statement,
        })));
    }
    plan::name_unnest_columns(&mut statement);
    let plan = state.statement_to_plan(statement).await?;
    options.verify_plan(&plan)?;
    let plan = plan::name_struct_fields(plan)?;
    ctx.execute_logical_plan(plan).await
}

/// The leading keywords of a statement that is not a read (`CREATE TABLE`), or None for
/// SELECT, VALUES, EXPLAIN of a read, SHOW and DESCRIBE.
fn writes(statement: &DfStatement, sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::ast::Statement as Sql;
    let reads = match statement {
        DfStatement::Statement(statement) => match statement.as_ref() {
            // `SELECT ... INTO t` makes a table.
            Sql::Query(query) => match query.body.as_ref() {
                datafusion::sql::sqlparser::ast::SetExpr::Select(select)
                    if select.into.is_some() =>
                {
                    return Some("SELECT INTO".into());
                }
                _ => true,
            },
            Sql::ShowTables { .. }
            | Sql::ShowColumns { .. }
            | Sql::ShowVariable { .. }
            | Sql::ShowFunctions { .. }
            | Sql::ExplainTable { .. } => true,
            Sql::Explain { statement, .. } => {
                return writes(&DfStatement::Statement(statement.clone()), sql);
            }
            _ => false,
        },
        DfStatement::Explain(explain) => return writes(&explain.statement, sql),
        _ => false,
    };
    if reads {
        return None;
    }
    // The keywords before the first name or parenthesis (sqlparser writes them in
    // capitals): `CREATE TABLE`, `INSERT INTO`, `SET`.
    let text = statement.to_string();
    let words: Vec<&str> = text
        .split_whitespace()
        .take_while(|word| datafusion::sql::sqlparser::keywords::ALL_KEYWORDS.contains(word))
        .take(3)
        .collect();
    let keywords = words.join(" ");
    Some(if keywords.is_empty() {
        sql.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    } else {
        keywords
    })
}

/// One dataset version as a `DataFrame`, to chain `filter`, `aggregate`, `join`, ...
pub async fn dataframe(repo: &Repo, dataset: &DatasetRef) -> Result<DataFrame, QueryError> {
    let ctx = session(repo);
    let resolved = repo.resolve(dataset)?;
    let table = DatasetTable::open(repo, &resolved, Arc::new(Mutex::new(())))?;
    Ok(ctx.read_table(Arc::new(table))?)
}

/// The JSON writer for query answers: nulls kept, and NaN and the infinities written as
/// the strings `"NaN"`, `"Infinity"` and `"-Infinity"` as everywhere else in pail
/// (`rows::json::float_value`), where Arrow's writer would print them as null.
pub fn json_writer() -> datafusion::arrow::json::WriterBuilder {
    datafusion::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .with_encoder_factory(Arc::new(NonFiniteFloats))
}

/// Encodes a float column that holds NaN or an infinity (others keep Arrow's encoder).
#[derive(Debug)]
struct NonFiniteFloats;

impl datafusion::arrow::json::writer::EncoderFactory for NonFiniteFloats {
    fn make_default_encoder<'a>(
        &self,
        _field: &'a arrow_schema::FieldRef,
        array: &'a dyn arrow_array::Array,
        _options: &'a datafusion::arrow::json::writer::EncoderOptions,
    ) -> Result<
        Option<datafusion::arrow::json::writer::NullableEncoder<'a>>,
        datafusion::arrow::error::ArrowError,
    > {
        use arrow_array::cast::AsArray;
        let Some(floats) = array.as_primitive_opt::<arrow_array::types::Float64Type>() else {
            return Ok(None);
        };
        if floats.values().iter().all(|value| value.is_finite()) {
            return Ok(None);
        }
        let encoder = FloatTokens(floats.values().clone());
        Ok(Some(datafusion::arrow::json::writer::NullableEncoder::new(
            Box::new(encoder),
            floats.nulls().cloned(),
        )))
    }
}

struct FloatTokens(arrow_buffer::ScalarBuffer<f64>);

impl datafusion::arrow::json::writer::Encoder for FloatTokens {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let text = crate::rows::json::float_value(self.0[idx]).to_string();
        out.extend_from_slice(text.as_bytes());
    }
}

/// Record batches as JSON objects, one per row (nulls kept, datetimes as RFC 3339).
pub fn batches_to_json(batches: &[RecordBatch]) -> Result<Vec<Value>, QueryError> {
    let mut bytes = Vec::new();
    {
        let mut writer =
            json_writer().build::<_, datafusion::arrow::json::writer::JsonArray>(&mut bytes);
        for batch in batches {
            writer.write(batch).map_err(arrow_data)?;
        }
        writer.finish().map_err(arrow_data)?;
    }
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    // Parsed exactly: serde_json's own parser would round some floats (see `rows::json`).
    let text = std::str::from_utf8(&bytes).map_err(|err| QueryError::Internal {
        source: Box::new(err),
    })?;
    match crate::rows::json::parse(text) {
        Ok(Value::Array(rows)) => Ok(rows),
        Ok(_) => Err(QueryError::Internal {
            source: "the JSON writer wrote no array".into(),
        }),
        Err(err) => Err(QueryError::Internal {
            source: Box::new(err),
        }),
    }
}

/// Record batches as serde values of the caller's type, one per row.
pub fn batches_to<T: DeserializeOwned>(batches: &[RecordBatch]) -> Result<Vec<T>, QueryError> {
    batches_to_json(batches)?
        .into_iter()
        .map(|row| serde_json::from_value(row).map_err(|source| QueryError::RowType { source }))
        .collect()
}

/// Runs a `DataFrame` and reads its rows as serde values of the caller's type.
pub async fn collect_as<T: DeserializeOwned>(frame: DataFrame) -> Result<Vec<T>, QueryError> {
    let batches = frame.collect().await?;
    batches_to(&batches)
}

// ---- catalogs ------------------------------------------------------------------------

/// The datasets' names, sorted; none when the store cannot be read (a listing then shows
/// nothing, and naming a dataset says why).
fn dataset_names(repo: &Repo) -> Vec<crate::DatasetName> {
    let mut names: Vec<crate::DatasetName> = repo
        .datasets()
        .map(|datasets| datasets.into_iter().map(|info| info.name).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Every catalog name is a namespace; `BARE_CATALOG` holds the bare names. Listings
/// (`information_schema`, `SHOW TABLES`) show the namespaces, projects and names of the
/// datasets there are, and not `BARE_CATALOG`.
struct PailCatalogs {
    repo: Repo,
    store_lock: Arc<Mutex<()>>,
    /// Names of table functions (`generate_series`): not datasets when none has the name.
    table_functions: Arc<std::collections::HashSet<String>>,
    catalogs: Mutex<HashMap<String, Arc<PailCatalog>>>,
}

impl fmt::Debug for PailCatalogs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PailCatalogs")
            .field("repo", &self.repo.dir())
            .finish()
    }
}

impl CatalogProviderList for PailCatalogs {
    fn register_catalog(
        &self,
        _name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        let mut names: Vec<String> = dataset_names(&self.repo)
            .into_iter()
            .map(|name| name.namespace)
            .collect();
        names.dedup();
        names
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        let mut catalogs = self.catalogs.lock().expect("no panics while held");
        let catalog = catalogs.entry(name.to_string()).or_insert_with(|| {
            Arc::new(PailCatalog {
                repo: self.repo.clone(),
                store_lock: self.store_lock.clone(),
                table_functions: self.table_functions.clone(),
                namespace: (name != BARE_CATALOG).then(|| name.to_string()),
                schemas: Mutex::new(HashMap::new()),
            })
        });
        Some(catalog.clone() as Arc<dyn CatalogProvider>)
    }
}

struct PailCatalog {
    repo: Repo,
    store_lock: Arc<Mutex<()>>,
    table_functions: Arc<std::collections::HashSet<String>>,
    namespace: Option<String>,
    schemas: Mutex<HashMap<String, Arc<PailSchema>>>,
}

impl fmt::Debug for PailCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PailCatalog")
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl CatalogProvider for PailCatalog {
    fn schema_names(&self) -> Vec<String> {
        let Some(namespace) = &self.namespace else {
            return vec![BARE_SCHEMA.to_string()];
        };
        let mut names: Vec<String> = dataset_names(&self.repo)
            .into_iter()
            .filter(|name| &name.namespace == namespace)
            .map(|name| name.project)
            .collect();
        names.dedup();
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let mut schemas = self.schemas.lock().expect("no panics while held");
        let schema = schemas.entry(name.to_string()).or_insert_with(|| {
            // `x.y` (no catalog) is project.name in the default namespace.
            let prefix = match (&self.namespace, name == BARE_SCHEMA) {
                (None, true) => None,
                (None, false) => Some(format!("{}.{name}", self.repo.defaults().namespace)),
                (Some(namespace), _) => Some(format!("{namespace}.{name}")),
            };
            Arc::new(PailSchema {
                repo: self.repo.clone(),
                store_lock: self.store_lock.clone(),
                table_functions: self.table_functions.clone(),
                prefix,
                tables: Mutex::new(HashMap::new()),
            })
        });
        Some(schema.clone() as Arc<dyn SchemaProvider>)
    }
}

/// Resolves table names to dataset versions on demand, and remembers them for the
/// session so one query reads one version of a name however often it names it.
struct PailSchema {
    repo: Repo,
    store_lock: Arc<Mutex<()>>,
    table_functions: Arc<std::collections::HashSet<String>>,
    /// `namespace.project` for qualified names; None for bare ones.
    prefix: Option<String>,
    tables: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
}

impl fmt::Debug for PailSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PailSchema")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl PailSchema {
    fn dataset_ref(&self, name: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}.{name}"),
            None => name.to_string(),
        }
    }

    fn open(&self, name: &str) -> Result<Arc<dyn TableProvider>, RepoError> {
        let dataset = self.repo.parse_ref(&self.dataset_ref(name))?;
        let resolved = self.repo.resolve(&dataset)?;
        Ok(Arc::new(DatasetTable::open(
            &self.repo,
            &resolved,
            self.store_lock.clone(),
        )?))
    }
}

#[async_trait]
impl SchemaProvider for PailSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .tables
            .lock()
            .expect("no panics while held")
            .keys()
            .cloned()
            .collect();
        names.extend(
            dataset_names(&self.repo)
                .into_iter()
                .filter_map(|name| match &self.prefix {
                    None => Some(name.to_string()),
                    Some(prefix) => (format!("{}.{}", name.namespace, name.project) == *prefix)
                        .then_some(name.name),
                }),
        );
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        if let Some(table) = self.tables.lock().expect("no panics while held").get(name) {
            return Ok(Some(table.clone()));
        }
        let table = match self.open(name) {
            Ok(table) => table,
            // DataFusion asks for every name a statement reads from before planning it,
            // `generate_series(1, 3)` too: no such dataset is no error there.
            Err(_) if self.prefix.is_none() && self.table_functions.contains(name) => {
                return Ok(None);
            }
            Err(err) => return Err(external(err)),
        };
        self.tables
            .lock()
            .expect("no panics while held")
            .insert(name.to_string(), table.clone());
        Ok(Some(table))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        Ok(self
            .tables
            .lock()
            .expect("no panics while held")
            .insert(name, table))
    }

    fn deregister_table(
        &self,
        name: &str,
    ) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        Ok(self
            .tables
            .lock()
            .expect("no panics while held")
            .remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables
            .lock()
            .expect("no panics while held")
            .contains_key(name)
            || self
                .repo
                .parse_ref(&self.dataset_ref(name))
                .and_then(|dataset| self.repo.resolve(&dataset))
                .is_ok()
    }
}

// ---- the table -----------------------------------------------------------------------

/// One dataset version as a DataFusion table over its Parquet leaves.
pub struct DatasetTable {
    repo: Repo,
    label: String,
    schema: SchemaRef,
    key: Vec<String>,
    leaves: Arc<Vec<Child>>,
    /// Position deletes of the leaves a delta version edits.
    deletes: Arc<Deletes>,
    /// redb admits one open per process: partitions take turns reading leaves.
    store_lock: Arc<Mutex<()>>,
}

impl fmt::Debug for DatasetTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatasetTable")
            .field("version", &self.label)
            .field("leaves", &self.leaves.len())
            .finish()
    }
}

impl DatasetTable {
    /// Reads the version's schema and leaf entries in one short store transaction.
    pub fn open(
        repo: &Repo,
        resolved: &Resolved,
        store_lock: Arc<Mutex<()>>,
    ) -> Result<DatasetTable, RepoError> {
        let schema = repo.schema(&resolved.commit.schema)?;
        let layout = {
            let _turn = store_lock.lock().expect("no panics while held");
            let store = repo.read_store()?;
            let reader = store.read()?;
            let objects = Objects {
                reader: &reader,
                staging: None,
            };
            Layout::read(&objects, &resolved.commit.rows).map_err(RepoError::from)?
        };
        // Order does not matter to SQL: a delta's base leaves (with their deletes) and its
        // patch leaves are scanned as Iceberg scans data and delete files.
        let leaves = layout.data_leaves();
        let deletes = layout.deletes();
        let label = resolved.label();
        Ok(DatasetTable {
            repo: repo.clone(),
            label,
            schema: Arc::new(schema.to_arrow()),
            key: resolved.commit.key.clone(),
            leaves: Arc::new(leaves),
            deletes: Arc::new(deletes),
            store_lock,
        })
    }

    /// How many leaves a scan with these filters would read (for tests and benchmarks).
    pub fn leaves_matching(&self, filters: &[Expr]) -> usize {
        self.leaves
            .iter()
            .filter(|child| filters.iter().all(|expr| may_match(child, &self.key, expr)))
            .count()
    }
}

#[async_trait]
impl TableProvider for DatasetTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>, DataFusionError> {
        // Every filter prunes leaves. Simple comparisons are also applied to the rows by
        // the scan, which then decodes only the struct fields they read (`file.size`, not
        // the whole `file`); DataFusion applies the others itself.
        Ok(filters
            .iter()
            .map(|filter| {
                if exact_filter(&self.schema, filter) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        let projected: SchemaRef = match projection {
            Some(indices) => Arc::new(self.schema.project(indices)?),
            None => self.schema.clone(),
        };
        let leaves: Vec<Child> = self
            .leaves
            .iter()
            .filter(|child| filters.iter().all(|expr| may_match(child, &self.key, expr)))
            .cloned()
            .collect();
        // Contiguous groups of about equal row counts, one per partition.
        let n_partitions = state.config().target_partitions().max(1);
        let total: u64 = leaves.iter().map(|child| child.n_rows).sum();
        let per_partition = total.div_ceil(n_partitions as u64).max(1);
        let mut groups: Vec<Vec<Child>> = vec![Vec::new()];
        let mut in_group = 0u64;
        for child in leaves {
            if in_group >= per_partition && groups.len() < n_partitions {
                groups.push(Vec::new());
                in_group = 0;
            }
            in_group += child.n_rows;
            groups.last_mut().expect("one group at least").push(child);
        }
        let exact: Arc<Vec<Expr>> = Arc::new(
            filters
                .iter()
                .filter(|filter| exact_filter(&self.schema, filter))
                .cloned()
                .collect(),
        );
        let partitions: Vec<Arc<dyn PartitionStream>> = groups
            .into_iter()
            .map(|leaves| {
                Arc::new(LeafPartition {
                    repo: self.repo.clone(),
                    schema: projected.clone(),
                    filters: exact.clone(),
                    leaves: Arc::new(leaves),
                    deletes: self.deletes.clone(),
                    store_lock: self.store_lock.clone(),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(
            projected,
            partitions,
            None,
            Vec::new(),
            false,
            limit,
        )?))
    }
}

/// One partition of a scan: a run of leaves, decoded with the projection and filtered
/// by the filters the scan applies itself.
struct LeafPartition {
    repo: Repo,
    schema: SchemaRef,
    filters: Arc<Vec<Expr>>,
    leaves: Arc<Vec<Child>>,
    deletes: Arc<Deletes>,
    store_lock: Arc<Mutex<()>>,
}

impl fmt::Debug for LeafPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafPartition")
            .field("leaves", &self.leaves.len())
            .finish()
    }
}

impl PartitionStream for LeafPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let reader = LeafReader {
            repo: self.repo.clone(),
            schema: self.schema.clone(),
            filters: self.filters.clone(),
            leaves: self.leaves.clone(),
            deletes: self.deletes.clone(),
            store_lock: self.store_lock.clone(),
            next_leaf: 0,
            ready: std::collections::VecDeque::new(),
        };
        let stream = futures::stream::iter(reader);
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// Position deletes by leaf id.
type Deletes = std::collections::HashMap<crate::object::ObjectId, Vec<u32>>;

/// A selection of every row but the deleted positions (ascending, in range: checked by
/// `Layout::read`).
fn without(deletes: &[u32], n_rows: usize) -> RowSelection {
    let mut selectors = Vec::new();
    let mut at = 0usize;
    for &position in deletes {
        let position = position as usize;
        if position > at {
            selectors.push(RowSelector::select(position - at));
        }
        selectors.push(RowSelector::skip(1));
        at = position + 1;
    }
    if at < n_rows {
        selectors.push(RowSelector::select(n_rows - at));
    }
    RowSelection::from(selectors)
}

/// Reads leaves a group at a time (one store transaction each) and decodes them.
struct LeafReader {
    repo: Repo,
    /// The projected schema: what the scan outputs.
    schema: SchemaRef,
    filters: Arc<Vec<Expr>>,
    leaves: Arc<Vec<Child>>,
    deletes: Arc<Deletes>,
    store_lock: Arc<Mutex<()>>,
    next_leaf: usize,
    ready: std::collections::VecDeque<RecordBatch>,
}

impl LeafReader {
    fn fill(&mut self) -> Result<(), DataFusionError> {
        let end = (self.next_leaf + LEAVES_PER_READ).min(self.leaves.len());
        let group = &self.leaves[self.next_leaf..end];
        self.next_leaf = end;
        if self.schema.fields().is_empty() && self.filters.is_empty() {
            // No column is needed (`count(*)`): the entries know the row counts.
            for child in group {
                let deleted = self.deletes.get(&child.id).map_or(0, Vec::len);
                let rows = child.n_rows as usize - deleted;
                let options = RecordBatchOptions::new().with_row_count(Some(rows));
                self.ready.push_back(RecordBatch::try_new_with_options(
                    self.schema.clone(),
                    Vec::new(),
                    &options,
                )?);
            }
            return Ok(());
        }
        let blobs: Vec<(String, Vec<u8>, &Child)> = {
            let _turn = self.store_lock.lock().expect("no panics while held");
            let store = self.repo.read_store().map_err(external)?;
            let reader = store.read().map_err(|err| external(RepoError::from(err)))?;
            group
                .iter()
                .map(|child| {
                    reader
                        .object_of_kind(&child.id, Kind::Leaf)
                        .map(|bytes| (child.id.to_hex(), bytes, child))
                        .map_err(|err| external(RepoError::from(err)))
                })
                .collect::<Result<_, _>>()?
        };
        let mut paths = std::collections::BTreeSet::new();
        for filter in self.filters.iter() {
            filter_paths(filter, &mut paths);
        }
        for (id, bytes, child) in blobs {
            let decode_err = |detail: String| {
                external(RepoError::from(TreeError::Leaf(
                    crate::rows::leaf::LeafError::Decode {
                        id: id.clone(),
                        detail,
                    },
                )))
            };
            let builder = crate::rows::leaf::reader_builder(Bytes::from(bytes))
                .map_err(|err| decode_err(err.to_string()))?;
            // The projected columns whole, and of the columns only filters read, just the
            // Parquet columns they name.
            let wanted: Vec<usize> = builder
                .parquet_schema()
                .columns()
                .iter()
                .enumerate()
                .filter(|(_, column)| {
                    let parts = column.path().parts();
                    self.schema.column_with_name(&parts[0]).is_some()
                        || paths.contains(&parts.join("."))
                })
                .map(|(index, _)| index)
                .collect();
            let mask = ProjectionMask::leaves(builder.parquet_schema(), wanted);
            let builder = self.skip_deleted(builder, child).map_err(decode_err)?;
            let reader = builder
                .with_projection(mask)
                .with_batch_size(8192)
                .build()
                .map_err(|err| decode_err(err.to_string()))?;
            for batch in reader {
                let mut batch = batch.map_err(|err| decode_err(err.to_string()))?;
                check_leaf_columns(&id, &self.schema, &batch)?;
                if batch.columns().iter().any(hides_values) {
                    batch = RecordBatch::try_new(
                        batch.schema(),
                        batch
                            .columns()
                            .iter()
                            .map(mask_under_nulls)
                            .collect::<Result<_, _>>()?,
                    )?;
                }
                if !self.filters.is_empty() {
                    // The filters' fields are checked as they are read.
                    let unlike = |err: DataFusionError| leaf_mismatch(&id, err.message().into());
                    let mut keep = evaluate(&self.filters[0], &batch).map_err(unlike)?;
                    for filter in &self.filters[1..] {
                        keep = and_kleene(&keep, &evaluate(filter, &batch).map_err(unlike)?)?;
                    }
                    batch = filter_record_batch(&batch, &keep)?;
                }
                // Leaves carry their own field metadata; present the table's schema, and
                // only the projected columns.
                let columns = self
                    .schema
                    .fields()
                    .iter()
                    .map(|field| {
                        batch.column_by_name(field.name()).cloned().ok_or_else(|| {
                            leaf_mismatch(&id, format!("it has no column `{}`", field.name()))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
                self.ready.push_back(RecordBatch::try_new_with_options(
                    self.schema.clone(),
                    columns,
                    &options,
                )?);
            }
        }
        Ok(())
    }
}

impl LeafReader {
    /// The reader of a leaf a delta edits skips its deleted rows.
    fn skip_deleted<T>(
        &self,
        builder: parquet::arrow::arrow_reader::ArrowReaderBuilder<T>,
        child: &Child,
    ) -> Result<parquet::arrow::arrow_reader::ArrowReaderBuilder<T>, String> {
        let Some(deletes) = self.deletes.get(&child.id) else {
            return Ok(builder);
        };
        let rows = builder.metadata().file_metadata().num_rows();
        if rows < 0 || rows as u64 != child.n_rows {
            return Err(format!(
                "holds {rows} rows, its entry says {}",
                child.n_rows
            ));
        }
        Ok(builder.with_row_selection(without(deletes, child.n_rows as usize)))
    }
}

/// A leaf that does not match its commit's schema, as the error `QueryError::LeafMismatch`.
fn leaf_mismatch(leaf: &str, detail: String) -> DataFusionError {
    DataFusionError::External(Box::new(QueryError::LeafMismatch {
        leaf: leaf.to_string(),
        detail,
    }))
}

/// Checks that each column a leaf decoded to has the type the table's schema gives it
/// (and no nulls where it allows none), before DataFusion computes with it: a leaf
/// damaged or written by another tool is a pail error, never an engine failure.
fn check_leaf_columns(
    leaf: &str,
    schema: &SchemaRef,
    batch: &RecordBatch,
) -> Result<(), DataFusionError> {
    for field in schema.fields() {
        let Some(column) = batch.column_by_name(field.name()) else {
            return Err(leaf_mismatch(
                leaf,
                format!("it has no column `{}`", field.name()),
            ));
        };
        if !column.data_type().equals_datatype(field.data_type()) {
            return Err(leaf_mismatch(
                leaf,
                format!(
                    "column `{}` is {} in the leaf, {} in the schema",
                    field.name(),
                    column.data_type(),
                    field.data_type()
                ),
            ));
        }
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(leaf_mismatch(
                leaf,
                format!(
                    "column `{}` has nulls, which the schema does not allow",
                    field.name()
                ),
            ));
        }
    }
    Ok(())
}

impl Iterator for LeafReader {
    type Item = Result<RecordBatch, DataFusionError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(batch) = self.ready.pop_front() {
                return Some(Ok(batch));
            }
            if self.next_leaf >= self.leaves.len() {
                return None;
            }
            if let Err(err) = self.fill() {
                self.next_leaf = self.leaves.len();
                return Some(Err(err));
            }
        }
    }
}

// ---- leaf pruning --------------------------------------------------------------------

/// A value a leaf's range can be compared with.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Bound {
    Int(i64),
    Str(String),
}

/// The dotted column path an expression reads (`file.size` for `get_field(file, 'size')`).
fn column_path(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Column(column) => Some(column.name.clone()),
        Expr::ScalarFunction(function) if function.func.name() == "get_field" => {
            let [inner, Expr::Literal(field, _)] = function.args.as_slice() else {
                return None;
            };
            let field = match field {
                ScalarValue::Utf8(Some(text))
                | ScalarValue::Utf8View(Some(text))
                | ScalarValue::LargeUtf8(Some(text)) => text.clone(),
                _ => return None,
            };
            Some(format!("{}.{field}", column_path(inner)?))
        }
        _ => None,
    }
}

fn literal_bound(value: &ScalarValue) -> Option<Bound> {
    Some(match value {
        ScalarValue::Int64(Some(v)) => Bound::Int(*v),
        ScalarValue::Int32(Some(v)) => Bound::Int(*v as i64),
        ScalarValue::Int16(Some(v)) => Bound::Int(*v as i64),
        ScalarValue::Int8(Some(v)) => Bound::Int(*v as i64),
        ScalarValue::UInt32(Some(v)) => Bound::Int(*v as i64),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Bound::Int(*v),
        ScalarValue::TimestampMillisecond(Some(v), _) => Bound::Int(v.checked_mul(1000)?),
        ScalarValue::TimestampSecond(Some(v), _) => Bound::Int(v.checked_mul(1_000_000)?),
        ScalarValue::TimestampNanosecond(Some(v), _) if v % 1000 == 0 => Bound::Int(v / 1000),
        ScalarValue::Utf8(Some(text))
        | ScalarValue::Utf8View(Some(text))
        | ScalarValue::LargeUtf8(Some(text)) => Bound::Str(text.clone()),
        _ => return None,
    })
}

fn value_bound(value: &Value) -> Option<Bound> {
    match value {
        Value::String(text) => Some(Bound::Str(text.clone())),
        Value::Number(number) => number.as_i64().map(Bound::Int),
        _ => None,
    }
}

/// The range of a column within a leaf: from its min/max entry, or from its key range when
/// the column is a key column and every key column before it is constant in the leaf.
/// `Ok(None)` means every value is null; `Err(())` that nothing is known.
#[allow(clippy::result_unit_err)]
fn column_range(child: &Child, key: &[String], path: &str) -> Result<Option<(Bound, Bound)>, ()> {
    if let Some(stats) = child.stats.iter().find(|stats| stats.column == path) {
        return Ok(match (stats.min, stats.max) {
            (Some(min), Some(max)) => Some((Bound::Int(min), Bound::Int(max))),
            _ => None,
        });
    }
    let position = key.iter().position(|column| column == path).ok_or(())?;
    let first = key::decode_prefix(&child.first_key);
    let last = key::decode_prefix(&child.last_key);
    if first.len() <= position || last.len() <= position {
        return Err(());
    }
    if first[..position] != last[..position] {
        return Err(());
    }
    match (value_bound(&first[position]), value_bound(&last[position])) {
        (Some(low), Some(high)) => Ok(Some((low, high))),
        _ => Err(()),
    }
}

fn same_kind(a: &Bound, b: &Bound) -> bool {
    matches!(
        (a, b),
        (Bound::Int(_), Bound::Int(_)) | (Bound::Str(_), Bound::Str(_))
    )
}

/// False only when no row of the leaf can satisfy `expr`; true whenever unsure.
fn may_match(child: &Child, key: &[String], expr: &Expr) -> bool {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => may_match(child, key, left) && may_match(child, key, right),
            Operator::Or => may_match(child, key, left) || may_match(child, key, right),
            Operator::Eq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                let (path, value, op) = match (left.as_ref(), right.as_ref()) {
                    (column, Expr::Literal(value, _)) => (column_path(column), value, *op),
                    (Expr::Literal(value, _), column) => {
                        let Some(swapped) = op.swap() else {
                            return true;
                        };
                        (column_path(column), value, swapped)
                    }
                    _ => return true,
                };
                let (Some(path), Some(value)) = (path, literal_bound(value)) else {
                    return true;
                };
                match column_range(child, key, &path) {
                    Err(()) => true,
                    // All null: no comparison is true.
                    Ok(None) => false,
                    Ok(Some((low, high))) => {
                        if !same_kind(&low, &value) {
                            return true;
                        }
                        match op {
                            Operator::Eq => low <= value && value <= high,
                            Operator::Lt => low < value,
                            Operator::LtEq => low <= value,
                            Operator::Gt => high > value,
                            Operator::GtEq => high >= value,
                            _ => true,
                        }
                    }
                }
            }
            _ => true,
        },
        Expr::Like(Like {
            negated: false,
            expr,
            pattern,
            escape_char: None,
            case_insensitive: false,
        }) => {
            let (Some(path), Expr::Literal(pattern, _)) = (column_path(expr), pattern.as_ref())
            else {
                return true;
            };
            let Some(Bound::Str(pattern)) = literal_bound(pattern) else {
                return true;
            };
            let prefix: String = pattern
                .chars()
                .take_while(|c| *c != '%' && *c != '_' && *c != '\\')
                .collect();
            if prefix.is_empty() {
                return true;
            }
            match column_range(child, key, &path) {
                Err(()) => true,
                Ok(None) => false,
                Ok(Some((Bound::Str(low), Bound::Str(high)))) => {
                    // Some value in [low, high] starts with the prefix iff the prefix is
                    // not after `high` and `low` is not after every string with it.
                    (prefix.as_str() <= high.as_str() || high.starts_with(&prefix))
                        && (low.as_str() <= prefix.as_str() || low.starts_with(&prefix))
                }
                Ok(Some(_)) => true,
            }
        }
        _ => true,
    }
}

/// Whether some struct in the array is null somewhere (so `mask_under_nulls` has work).
fn hides_values(array: &ArrayRef) -> bool {
    match array.data_type() {
        DataType::Struct(_) => {
            array.null_count() > 0 || array.as_struct().columns().iter().any(hides_values)
        }
        DataType::List(_) => hides_values(array.as_list::<i32>().values()),
        _ => false,
    }
}

/// The array with every value under a null struct made null too. Parquet readers leave
/// whatever they like in a null struct's children, and DataFusion's `get_field` reads the
/// child as it is: without this, `meta.h` of a row whose `meta` is null shows a
/// neighbour's value (and `WHERE meta.h > 3` counts it).
fn mask_under_nulls(array: &ArrayRef) -> Result<ArrayRef, DataFusionError> {
    match array.data_type() {
        DataType::Struct(fields) => {
            let parent = array.as_struct();
            let masked = parent
                .columns()
                .iter()
                .map(|child| {
                    let child = mask_under_nulls(child)?;
                    Ok(if parent.null_count() > 0 {
                        nullif(&child, &is_null(parent)?)?
                    } else {
                        child
                    })
                })
                .collect::<Result<Vec<_>, DataFusionError>>()?;
            Ok(Arc::new(StructArray::try_new(
                fields.clone(),
                masked,
                parent.nulls().cloned(),
            )?))
        }
        DataType::List(field) => {
            let list = array.as_list::<i32>();
            Ok(Arc::new(ListArray::try_new(
                field.clone(),
                list.offsets().clone(),
                mask_under_nulls(list.values())?,
                list.nulls().cloned(),
            )?))
        }
        _ => Ok(array.clone()),
    }
}

// ---- filters the scan applies --------------------------------------------------------

/// The type of a column or struct field by its dotted path.
fn path_type(schema: &datafusion::arrow::datatypes::Schema, path: &str) -> Option<DataType> {
    let mut parts = path.split('.');
    let mut ty = schema
        .field_with_name(parts.next()?)
        .ok()?
        .data_type()
        .clone();
    for part in parts {
        let DataType::Struct(fields) = &ty else {
            return None;
        };
        ty = fields
            .iter()
            .find(|field| field.name() == part)?
            .data_type()
            .clone();
    }
    Some(ty)
}

/// Whether the scan applies `expr` to the rows itself: comparisons of a column or struct
/// field of a plain type with a literal of exactly that type, joined by AND and OR.
/// Anything else (casts, functions, lists) is left to DataFusion.
fn exact_filter(schema: &datafusion::arrow::datatypes::Schema, expr: &Expr) -> bool {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return false;
    };
    match op {
        Operator::And | Operator::Or => exact_filter(schema, left) && exact_filter(schema, right),
        Operator::Eq
        | Operator::NotEq
        | Operator::Lt
        | Operator::LtEq
        | Operator::Gt
        | Operator::GtEq => {
            let (column, value) = match (left.as_ref(), right.as_ref()) {
                (column, Expr::Literal(value, _)) | (Expr::Literal(value, _), column) => {
                    (column, value)
                }
                _ => return false,
            };
            let Some(ty) = column_path(column).and_then(|path| path_type(schema, &path)) else {
                return false;
            };
            let plain = matches!(
                ty,
                DataType::Boolean
                    | DataType::Int64
                    | DataType::Float64
                    | DataType::Utf8
                    | DataType::Timestamp(_, _)
            );
            plain && !value.is_null() && value.data_type() == ty
        }
        _ => false,
    }
}

/// The dotted paths an exact filter reads.
fn filter_paths(expr: &Expr, paths: &mut std::collections::BTreeSet<String>) {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, right, .. }) => {
            filter_paths(left, paths);
            filter_paths(right, paths);
        }
        other => {
            if let Some(path) = column_path(other) {
                paths.insert(path);
            }
        }
    }
}

/// Which rows of a decoded batch an exact filter keeps (null: not kept), as SQL has it: a
/// field of a null struct is null.
fn evaluate(expr: &Expr, batch: &RecordBatch) -> Result<BooleanArray, DataFusionError> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return Err(DataFusionError::Internal(format!(
            "not an exact filter: {expr}"
        )));
    };
    match op {
        Operator::And => {
            return Ok(and_kleene(
                &evaluate(left, batch)?,
                &evaluate(right, batch)?,
            )?);
        }
        Operator::Or => {
            return Ok(or_kleene(
                &evaluate(left, batch)?,
                &evaluate(right, batch)?,
            )?);
        }
        _ => {}
    }
    let (column, value, op) = match (left.as_ref(), right.as_ref()) {
        (column, Expr::Literal(value, _)) => (column, value, *op),
        (Expr::Literal(value, _), column) => (column, value, op.swap().unwrap_or(*op)),
        _ => {
            return Err(DataFusionError::Internal(format!(
                "not an exact filter: {expr}"
            )));
        }
    };
    let path = column_path(column)
        .ok_or_else(|| DataFusionError::Internal(format!("not an exact filter: {expr}")))?;
    let mut parts = path.split('.');
    let root = parts.next().unwrap_or_default();
    let mut array = batch
        .column_by_name(root)
        .cloned()
        .ok_or_else(|| DataFusionError::Internal(format!("`{root}` was not decoded")))?;
    let mut parents_valid: Option<BooleanArray> = None;
    for part in parts {
        // A leaf that does not match its schema is an error, never a panic.
        let parent = array.as_struct_opt().ok_or_else(|| {
            DataFusionError::Execution(format!(
                "`{path}`: a column on the way is not a struct in the leaf, unlike in the schema"
            ))
        })?;
        if parent.null_count() > 0 {
            let valid = is_not_null(parent)?;
            parents_valid = Some(match parents_valid {
                Some(before) => and_kleene(&before, &valid)?,
                None => valid,
            });
        }
        array = parent
            .column_by_name(part)
            .cloned()
            .ok_or_else(|| DataFusionError::Internal(format!("`{path}` was not decoded")))?;
    }
    if array.data_type() != &value.data_type() {
        return Err(DataFusionError::Execution(format!(
            "`{path}` is {} in the leaf, {} in the schema",
            array.data_type(),
            value.data_type()
        )));
    }
    let scalar = value.to_scalar()?;
    let compared = match op {
        Operator::Eq => cmp::eq(&array, &scalar)?,
        Operator::NotEq => cmp::neq(&array, &scalar)?,
        Operator::Lt => cmp::lt(&array, &scalar)?,
        Operator::LtEq => cmp::lt_eq(&array, &scalar)?,
        Operator::Gt => cmp::gt(&array, &scalar)?,
        Operator::GtEq => cmp::gt_eq(&array, &scalar)?,
        _ => {
            return Err(DataFusionError::Internal(format!(
                "not an exact filter: {expr}"
            )));
        }
    };
    Ok(match parents_valid {
        Some(valid) => and_kleene(&compared, &valid)?,
        None => compared,
    })
}

// ---- helper functions ----------------------------------------------------------------

/// `file_ext`, `file_name`, `file_dir` and `file_uri`.
pub(crate) fn udfs() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(PathFunction::new("file_ext", PathPart::Ext)),
        ScalarUDF::new_from_impl(PathFunction::new("file_name", PathPart::Name)),
        ScalarUDF::new_from_impl(PathFunction::new("file_dir", PathPart::Dir)),
        ScalarUDF::new_from_impl(FileUri::new()),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PathPart {
    Ext,
    Name,
    Dir,
}

/// The extension (without the dot; "" for none or for dot-files), the last path
/// component, or everything before it ("" at the top).
pub(crate) fn path_part(path: &str, part: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    match part {
        "ext" => match name.rfind('.') {
            Some(0) | None => String::new(),
            Some(dot) => name[dot + 1..].to_string(),
        },
        "name" => name.to_string(),
        _ => match path.rfind('/') {
            Some(slash) => path[..slash].to_string(),
            None => String::new(),
        },
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PathFunction {
    name: &'static str,
    part: PathPart,
    signature: Signature,
}

impl PathFunction {
    fn new(name: &'static str, part: PathPart) -> PathFunction {
        PathFunction {
            name,
            part,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

/// A string argument as a Utf8 array; a File (or any struct with `path`) gives its path.
fn path_strings(
    arg: &ColumnarValue,
    rows: usize,
    function: &str,
    child: &str,
) -> Result<ArrayRef, DataFusionError> {
    let array = arg.to_array(rows)?;
    let array = match array.data_type() {
        DataType::Struct(_) => {
            let parent = array.as_struct();
            let field = parent.column_by_name(child).ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "{function}() takes a string or a File; this struct has no `{child}` field"
                ))
            })?;
            // A null File has a null path.
            match parent.nulls() {
                Some(nulls) => {
                    let data = field.to_data().into_builder().nulls(Some(
                        datafusion::arrow::buffer::NullBuffer::union(Some(nulls), field.nulls())
                            .expect("one side is present"),
                    ));
                    datafusion::arrow::array::make_array(data.build()?)
                }
                None => field.clone(),
            }
        }
        _ => array,
    };
    match array.data_type() {
        DataType::Utf8 => Ok(array),
        DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => {
            Ok(datafusion::arrow::compute::cast(&array, &DataType::Utf8)?)
        }
        other => Err(DataFusionError::Plan(format!(
            "{function}() takes a string or a File, not {other}"
        ))),
    }
}

impl ScalarUDFImpl for PathFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType, DataFusionError> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue, DataFusionError> {
        let paths = path_strings(&args.args[0], args.number_rows, self.name, "path")?;
        let part = match self.part {
            PathPart::Ext => "ext",
            PathPart::Name => "name",
            PathPart::Dir => "dir",
        };
        let result: StringArray = paths
            .as_string::<i32>()
            .iter()
            .map(|path| path.map(|path| path_part(path, part)))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

/// `file_uri(file)` or `file_uri(source, path)`: the source and the path joined by `/`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FileUri {
    signature: Signature,
}

impl FileUri {
    fn new() -> FileUri {
        FileUri {
            signature: Signature::one_of(
                vec![TypeSignature::Any(1), TypeSignature::Any(2)],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for FileUri {
    fn name(&self) -> &str {
        "file_uri"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType, DataFusionError> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue, DataFusionError> {
        let rows = args.number_rows;
        let (sources, paths) = match args.args.as_slice() {
            [file] => (
                path_strings(file, rows, "file_uri", "source")?,
                path_strings(file, rows, "file_uri", "path")?,
            ),
            [source, path] => (
                path_strings(source, rows, "file_uri", "source")?,
                path_strings(path, rows, "file_uri", "path")?,
            ),
            _ => {
                return Err(DataFusionError::Plan(
                    "file_uri() takes a File, or a source and a path".into(),
                ));
            }
        };
        let result: StringArray = sources
            .as_string::<i32>()
            .iter()
            .zip(paths.as_string::<i32>().iter())
            .map(|(source, path)| match (source, path) {
                (Some(source), Some(path)) => Some(format!(
                    "{}/{}",
                    source.trim_end_matches('/'),
                    path.trim_start_matches('/')
                )),
                _ => None,
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_json_writes_non_finite_floats_as_their_strings() {
        let schema = Arc::new(arrow_schema::Schema::new(vec![
            arrow_schema::Field::new("x", DataType::Float64, true),
            arrow_schema::Field::new("y", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(arrow_array::Float64Array::from(vec![
                    Some(f64::NAN),
                    None,
                    Some(f64::NEG_INFINITY),
                ])),
                Arc::new(arrow_array::Float64Array::from(vec![1.5, 0.25, 2.0])),
            ],
        )
        .unwrap();
        assert_eq!(
            batches_to_json(&[batch]).unwrap(),
            [
                serde_json::json!({"x": "NaN", "y": 1.5}),
                serde_json::json!({"x": null, "y": 0.25}),
                serde_json::json!({"x": "-Infinity", "y": 2.0}),
            ]
        );
    }

    #[test]
    fn engine_errors_become_pail_errors() {
        // DataFusion's own bugs: pail's words, without DataFusion's request for reports.
        let internal = classify(DataFusionError::Internal("boom".into()));
        assert!(matches!(internal, QueryError::Internal { .. }));
        assert_eq!(internal.to_string(), "query engine error: boom");
        // Shared among partitions that still hold it: rebuilt, not an internal error.
        let shared = Arc::new(leaf_mismatch("abc", "column `x` is Int64".into()));
        let held = shared.clone();
        let mismatch = classify(DataFusionError::Shared(shared));
        assert_eq!(
            mismatch.to_string(),
            "leaf abc does not match its commit's schema: column `x` is Int64"
        );
        drop(held);
        let shared = Arc::new(DataFusionError::Execution("division by zero".into()));
        let _held = shared.clone();
        assert!(matches!(
            classify(DataFusionError::Shared(shared)),
            QueryError::Data { .. }
        ));
        let internal = Arc::new(DataFusionError::Internal("bad plan".into()));
        let _held = internal.clone();
        let internal = classify(DataFusionError::Shared(internal));
        assert_eq!(internal.to_string(), "query engine error: bad plan");
        // What `SQLOptions` refuses is a read-only refusal.
        let refused = classify(DataFusionError::Plan(
            "DDL not supported: CreateMemoryTable".into(),
        ));
        assert!(
            matches!(&refused, QueryError::ReadOnly { statement } if statement == "CreateMemoryTable")
        );
    }

    #[test]
    fn writes_are_named_by_their_keywords() {
        let ctx = SessionContext::new();
        let state = ctx.state();
        let named = |sql: &str| {
            let statement = state
                .sql_to_statement(sql, &datafusion::config::Dialect::Generic)
                .unwrap();
            writes(&statement, sql)
        };
        assert_eq!(
            named("create table t as select 1").as_deref(),
            Some("CREATE TABLE")
        );
        assert_eq!(
            named("INSERT INTO T VALUES (1)").as_deref(),
            Some("INSERT INTO")
        );
        assert_eq!(named("set x = 1").as_deref(), Some("SET"));
        assert_eq!(
            named("explain delete from t").as_deref(),
            Some("DELETE FROM")
        );
        assert_eq!(
            named("select * into t from u").as_deref(),
            Some("SELECT INTO")
        );
        assert_eq!(named("SELECT 1"), None);
        assert_eq!(named("explain select 1"), None);
        assert_eq!(named("show tables"), None);
        assert_eq!(named("describe t"), None);
    }

    #[test]
    fn path_parts() {
        assert_eq!(path_part("d1/d2/photo.JPG", "ext"), "JPG");
        assert_eq!(path_part("d1/archive.tar.gz", "ext"), "gz");
        assert_eq!(path_part("d1/.hidden", "ext"), "");
        assert_eq!(path_part("README", "ext"), "");
        assert_eq!(path_part("d1/d2/photo.jpg", "name"), "photo.jpg");
        assert_eq!(path_part("d1/d2/photo.jpg", "dir"), "d1/d2");
        assert_eq!(path_part("photo.jpg", "dir"), "");
    }
}
