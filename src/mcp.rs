//! `pail mcp`: a Model Context Protocol server (rmcp) over any byte stream; the CLI gives
//! it stdin and stdout.
//!
//! Read-only: every tool opens the store for its own short read transactions through
//! `Repo` and closes it before answering, so a `pail commit` in another terminal works
//! while the server is up. Failures are tool errors (`isError: true` with the message),
//! never protocol errors or crashes.
//!
//! `diff_versions` and `query` go through `compare_versions` and `run_query`, over the
//! row diff (`crate::diff`) and the SQL engine (`crate::query`).
//!
//! Every answer fits a byte budget (`budget`): its structured content is a view from
//! `crate::view` with a `budget` field beside the view's own, declared by the tool's output
//! schema, and its text is the same as compact JSON (or the Markdown summary page).

mod budget;

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::diff::DiffError;
use crate::repo::{Repo, RepoError, Resolved};
use crate::schema;
use crate::summary::DEFAULT_MAX_TOKENS;
use crate::view::{
    BudgetView, BudgetedView, ChildView, CompareView, DatasetListView, DatasetView, DiffCountsView,
    DiffSideView, DiffView, QueryView, RowTreeOverlapView, SchemaChangesView, SchemaView,
    SummaryAnswerView, SummaryView, VersionLineageView, VersionView, to_json,
};

pub(crate) use budget::{DEFAULT_MAX_BYTES, MAX_MAX_BYTES, MIN_MAX_BYTES};

/// URIs of the summary pages: `pail://NAME@VERSION`.
pub(crate) const RESOURCE_SCHEME: &str = "pail://";
/// Rows a query returns when the caller gives no limit, and at most.
pub(crate) const DEFAULT_QUERY_LIMIT: u64 = 100;
pub(crate) const MAX_QUERY_LIMIT: u64 = 10_000;
/// How long a query may spend counting its whole result after its rows were cut by the
/// limit; past it `total_rows` is null.
const COUNT_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

const INSTRUCTIONS: &str = "pail versions datasets of files in object storage. Start with \
list_datasets, then read dataset_summary for a dataset (a short Markdown page: schema, \
per-column statistics, lineage, example rows) before writing code against it. Names are \
namespace.project.name; NAME@V takes a semver, a tag, `latest` or a commit id prefix. \
Everything here is read-only. Every answer fits a byte budget (`max_bytes`, default \
16384, at most 131072): what did not fit is listed in its `budget` field, and long strings \
end in a marker such as `…[+9800 chars]`.";

/// A tool failure, shown to the model as the tool's result text.
#[derive(Debug)]
pub(crate) struct ToolError(pub String);

impl From<RepoError> for ToolError {
    fn from(err: RepoError) -> Self {
        ToolError(err.to_string())
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ListArgs {
    /// Bound on the answer in bytes, text and structured content together (default 16384, 1024 to 131072)
    pub max_bytes: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct DatasetArgs {
    /// Dataset as NAME[@V], e.g. `team.vision.clips@1.0.2` or `clips` (latest version)
    pub dataset: String,
    /// Bound on the answer in bytes, text and structured content together (default 16384, 1024 to 131072)
    pub max_bytes: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SummaryArgs {
    /// Dataset as NAME[@V], e.g. `team.vision.clips@1.0.2` or `clips` (latest version)
    pub dataset: String,
    /// Bound on the page's length in tokens (4 characters each); default 2000
    pub max_tokens: Option<usize>,
    /// Return the summary object as JSON instead of the Markdown page
    #[serde(default)]
    pub json: bool,
    /// Bound on the answer in bytes, text and structured content together (default 16384, 1024 to 131072)
    pub max_bytes: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct DiffArgs {
    /// The older version, NAME@V
    pub from: String,
    /// The newer version, NAME@V (a bare V means the same dataset as `from`)
    pub to: String,
    /// Bound on the answer in bytes, text and structured content together (default 16384, 1024 to 131072)
    pub max_bytes: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct QueryArgs {
    /// One read-only SQL statement; datasets are tables named by their full name
    pub sql: String,
    /// Maximum rows to return (default 100, at most 10000); fewer when they do not fit max_bytes
    pub limit: Option<u64>,
    /// Bound on the answer in bytes, text and structured content together (default 16384, 1024 to 131072)
    pub max_bytes: Option<usize>,
}

/// The server: a repository (paths only; the store is opened per request) and the tools.
#[derive(Clone)]
pub(crate) struct PailServer {
    repo: Arc<Repo>,
    tool_router: ToolRouter<PailServer>,
}

/// A tool's output schema: its view with `budget` beside the view's fields.
fn output_schema<T: JsonSchema + 'static>() -> Arc<rmcp::model::JsonObject> {
    rmcp::handler::server::tool::schema_for_output::<BudgetedView<T>>()
}

/// The budget a call asked for, or the default.
fn max_bytes(asked: Option<usize>) -> Result<usize, ToolError> {
    match asked {
        None => Ok(DEFAULT_MAX_BYTES),
        Some(bytes) if (MIN_MAX_BYTES..=MAX_MAX_BYTES).contains(&bytes) => Ok(bytes),
        Some(bytes) => Err(ToolError(format!(
            "max_bytes {bytes} is out of range: give {MIN_MAX_BYTES} to {MAX_MAX_BYTES}"
        ))),
    }
}

/// Structured content (already fitted, `budget` included) with its compact JSON as text.
fn structured_result(structured: Value) -> CallToolResult {
    let text = serde_json::to_string(&structured).expect("JSON values serialize");
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(structured);
    result
}

/// A view as an answer within `max_bytes`: keys sorted, compact, cut to fit.
fn json_result(view: &impl Serialize, max_bytes: usize) -> CallToolResult {
    structured_result(budget::fit(to_json(view), max_bytes))
}

fn error_result(err: ToolError) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!("error: {}", err.0))])
}

impl PailServer {
    pub fn new(repo: Repo) -> PailServer {
        PailServer {
            repo: Arc::new(repo),
            tool_router: Self::tool_router(),
        }
    }

    /// Runs repository work off the async threads (store opens may wait for another
    /// process) and turns its outcome into a tool result.
    async fn run(
        &self,
        work: impl FnOnce(&Repo) -> Result<CallToolResult, ToolError> + Send + 'static,
    ) -> Result<CallToolResult, ErrorData> {
        let repo = self.repo.clone();
        match tokio::task::spawn_blocking(move || work(&repo)).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(err)) => Ok(error_result(err)),
            Err(join) => Ok(error_result(ToolError(format!(
                "internal error: {join}; please report a bug"
            )))),
        }
    }
}

fn resolve(repo: &Repo, text: &str) -> Result<Resolved, ToolError> {
    let dataset = repo.parse_ref(text)?;
    Ok(repo.resolve(&dataset)?)
}

/// `to` may be a bare version of `from`'s dataset.
fn resolve_pair(repo: &Repo, from: &str, to: &str) -> Result<(Resolved, Resolved), ToolError> {
    let old = resolve(repo, from)?;
    let new = if to.contains('@') || repo.parse_ref(to).is_ok_and(|r| r.name == old.name) {
        resolve(repo, to)?
    } else {
        match repo.parse_ref(&format!("{}@{to}", old.name)) {
            Ok(dataset) => repo.resolve(&dataset)?,
            Err(_) => resolve(repo, to)?,
        }
    };
    Ok((old, new))
}

fn list_datasets(repo: &Repo) -> Result<Vec<DatasetView>, ToolError> {
    let mut items = Vec::new();
    for info in repo.datasets()? {
        let (_, id) = info
            .versions
            .last()
            .expect("datasets without versions are dropped");
        let commit = repo.commit(id)?;
        items.push(DatasetView::new(&info, &commit));
    }
    Ok(items)
}

fn version_lineage(repo: &Repo, found: &Resolved) -> Result<VersionLineageView, ToolError> {
    let tags = crate::tags::tags_of(repo, &found.id)?;
    let info = crate::summary::page_info(repo, found)?;
    // Versions of this dataset that name this one as their parent, i.e. what came next.
    let mut children = Vec::new();
    for (version, id, commit) in repo.log(&found.name)? {
        if commit.parents.contains(&found.id) {
            children.push(ChildView {
                version: version.to_string(),
                id: id.to_hex(),
            });
        }
    }
    Ok(VersionLineageView {
        version: VersionView::new(found, &tags),
        parent_versions: info.parent_versions,
        children,
    })
}

/// Compares two versions: counts, schema and the row-tree leaves they share.
///
/// This is the boundary to the diff engine: replace the body with a call to it (row-level
/// added/removed/changed) when the repository has one.
pub(crate) fn compare_versions(
    repo: &Repo,
    old: &Resolved,
    new: &Resolved,
) -> Result<CompareView, ToolError> {
    let old_schema = repo.schema(&old.commit.schema)?;
    let new_schema = repo.schema(&new.commit.schema)?;
    let compat = schema::compare(&old_schema, &new_schema);
    let overlap = crate::summary::leaf_overlap(repo, &old.commit, &new.commit)?;
    // Row-level counts, when both versions share a key (the diff reads only what differs).
    let stat = match crate::diff::diff(repo, old, new) {
        Ok(diff) => Some(diff.stat(repo)?),
        Err(DiffError::KeysDiffer { .. }) => None,
        Err(DiffError::Repo(err)) => return Err(err.into()),
    };
    Ok(CompareView {
        diff: DiffView {
            old: DiffSideView::version_with_counts(old),
            new: DiffSideView::version_with_counts(new),
            problems: None,
            schema: SchemaChangesView::new(&compat),
            counts: stat.as_ref().map(DiffCountsView::new),
        },
        leaves_read: stat.as_ref().map(|stat| stat.leaves_read),
        same_content: old.commit.rows == new.commit.rows && old.commit.schema == new.commit.schema,
        n_rows_delta: new.commit.n_rows as i64 - old.commit.n_rows as i64,
        n_bytes_delta: new.commit.n_bytes as i64 - old.commit.n_bytes as i64,
        row_tree: RowTreeOverlapView {
            leaves_shared: overlap.shared.leaves,
            rows_in_shared_leaves: overlap.shared.rows,
            leaves_only_in_old: overlap.only_old.leaves,
            rows_only_in_old_leaves: overlap.only_old.rows,
            leaves_only_in_new: overlap.only_new.leaves,
            rows_only_in_new_leaves: overlap.only_new.rows,
        },
    })
}

/// Queries stop after this long.
pub(crate) const QUERY_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs a read-only SQL query with a row limit and a time limit: at most `limit` rows,
/// columns in the result's order. Statements other than queries (DDL such as
/// `CREATE EXTERNAL TABLE`, DML, `SET`) are refused. When the limit cut the rows, the
/// whole result is counted if that takes at most `COUNT_TIME_LIMIT` (a plain scan is
/// counted from the row tree's entries without reading a leaf). Called on a blocking
/// thread of the server's runtime.
pub(crate) fn run_query(repo: &Repo, sql: &str, limit: u64) -> Result<QueryView, ToolError> {
    if sql.trim().is_empty() {
        return Err(ToolError(
            "the query is empty; pass one SQL statement".into(),
        ));
    }
    let ctx = crate::query::session(repo);
    let options = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let query = async {
        let frame = crate::query::sql_with_options(&ctx, sql, options).await?;
        // One row past the limit tells whether the result was cut.
        let batches = frame
            .clone()
            .limit(0, Some(limit as usize + 1))?
            .collect()
            .await?;
        Ok::<_, datafusion::error::DataFusionError>((frame, batches))
    };
    let handle = tokio::runtime::Handle::current();
    let (frame, batches) = match handle.block_on(tokio::time::timeout(QUERY_TIME_LIMIT, query)) {
        Err(_) => {
            return Err(ToolError(format!(
                "the query ran longer than {} s and was stopped; add a WHERE clause or a smaller LIMIT",
                QUERY_TIME_LIMIT.as_secs()
            )));
        }
        Ok(Err(err)) => return Err(ToolError(crate::query::QueryError::from(err).to_string())),
        Ok(Ok(done)) => done,
    };
    let schema = frame.schema().as_arrow().clone();
    let (columns, mut rows) = table(&schema, &batches)?;
    let truncated = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let total_rows = if truncated {
        match handle.block_on(tokio::time::timeout(COUNT_TIME_LIMIT, frame.count())) {
            Ok(Ok(count)) => Some(count as u64),
            _ => None,
        }
    } else {
        Some(rows.len() as u64)
    };
    Ok(QueryView {
        columns,
        n_rows: rows.len(),
        truncated,
        truncated_by: truncated.then(|| "limit".to_string()),
        total_rows,
        rows,
    })
}

/// A result's rows as arrays in column order; a struct column is spread into its fields
/// (`file.path`), in the struct's order, so every column keeps the schema's place. (JSON
/// objects, such as a struct inside a list, have their keys sorted.)
fn table(
    schema: &datafusion::arrow::datatypes::Schema,
    batches: &[datafusion::arrow::array::RecordBatch],
) -> Result<(Vec<String>, Vec<Vec<Value>>), ToolError> {
    let n_rows = batches.iter().map(|batch| batch.num_rows()).sum();
    let mut columns = Vec::new();
    let mut rows = vec![Vec::new(); n_rows];
    for (index, field) in schema.fields().iter().enumerate() {
        let values = column_values(batches, index, field.data_type())?;
        spread(
            field.name().clone(),
            field.data_type(),
            values,
            &mut columns,
            &mut rows,
        );
    }
    Ok((columns, rows))
}

/// One column's values as JSON, row by row (one column at a time: names may repeat).
fn column_values(
    batches: &[datafusion::arrow::array::RecordBatch],
    index: usize,
    data_type: &datafusion::arrow::datatypes::DataType,
) -> Result<Vec<Value>, ToolError> {
    use datafusion::arrow::datatypes::{Field, Schema};
    let schema = Arc::new(Schema::new(vec![Field::new("v", data_type.clone(), true)]));
    let mut single = Vec::with_capacity(batches.len());
    for batch in batches {
        let column = batch.column(index).clone();
        let batch = datafusion::arrow::array::RecordBatch::try_new(schema.clone(), vec![column])
            .map_err(|err| ToolError(format!("internal error: {err}; please report a bug")))?;
        single.push(batch);
    }
    let rows = crate::query::batches_to_json(&single).map_err(|err| ToolError(err.to_string()))?;
    Ok(rows
        .into_iter()
        .map(|mut row| row.get_mut("v").map(Value::take).unwrap_or(Value::Null))
        .collect())
}

/// Appends a column's values to the rows, a struct's fields as columns of their own.
fn spread(
    name: String,
    data_type: &datafusion::arrow::datatypes::DataType,
    values: Vec<Value>,
    columns: &mut Vec<String>,
    rows: &mut [Vec<Value>],
) {
    use datafusion::arrow::datatypes::DataType;
    if let DataType::Struct(fields) = data_type
        && !fields.is_empty()
    {
        for field in fields {
            let inner = values
                .iter()
                .map(|value| value.get(field.name()).cloned().unwrap_or(Value::Null))
                .collect();
            let path = format!("{name}.{}", field.name());
            spread(path, field.data_type(), inner, columns, rows);
        }
        return;
    }
    columns.push(name);
    for (row, value) in rows.iter_mut().zip(values) {
        row.push(value);
    }
}

#[tool_router]
impl PailServer {
    #[tool(
        description = "List every dataset with its latest version, versions, tags, row count, byte total and last message",
        output_schema = output_schema::<DatasetListView>()
    )]
    async fn list_datasets(
        &self,
        Parameters(args): Parameters<ListArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(move |repo| {
            let max_bytes = max_bytes(args.max_bytes)?;
            let datasets = list_datasets(repo)?;
            let view = DatasetListView {
                n_datasets: datasets.len(),
                datasets,
            };
            Ok(json_result(&view, max_bytes))
        })
        .await
    }

    #[tool(
        description = "The compiled summary of a dataset version as a short Markdown page: row count, schema with per-column statistics (nulls, distinct, min/max, top values), files (sources, extensions, sizes), changes since the previous version, lineage and example rows. Read this before writing code against a dataset. With `json`, the summary object instead (field `summary`); either form is at most `max_tokens` tokens of 4 characters.",
        output_schema = output_schema::<SummaryAnswerView>()
    )]
    async fn dataset_summary(
        &self,
        Parameters(args): Parameters<SummaryArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(move |repo| {
            let max_bytes = max_bytes(args.max_bytes)?;
            let found = resolve(repo, &args.dataset)?;
            let tokens = args.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
            if args.json {
                let summary = crate::summary::load(repo, &found.commit)?;
                let info = crate::summary::page_info(repo, &found)?;
                let view = SummaryAnswerView {
                    page: None,
                    summary: Some(SummaryView::new(&summary, &info)),
                };
                // The JSON text is at most 4 characters a token; the structured content
                // is the same again.
                Ok(json_result(&view, max_bytes.min(tokens.saturating_mul(8))))
            } else {
                summary_page(repo, &found, tokens, max_bytes)
            }
        })
        .await
    }

    #[tool(
        description = "The schema of a dataset version as JSON: fields with types (bool, int, float, string, bytes, datetime, date, time, duration, uuid, decimal, File, struct, list, map, tuple, union, enum, int enum) and whether each is optional, stable column ids, and value constraints (with the ones kept but not checked at commit)",
        output_schema = output_schema::<SchemaView>()
    )]
    async fn dataset_schema(
        &self,
        Parameters(args): Parameters<DatasetArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(move |repo| {
            let max_bytes = max_bytes(args.max_bytes)?;
            let found = resolve(repo, &args.dataset)?;
            let schema = repo.schema(&found.commit.schema)?;
            Ok(json_result(
                &SchemaView::new(&found, &schema).with_columns(&schema),
                max_bytes,
            ))
        })
        .await
    }

    #[tool(
        description = "Lineage of a dataset version as JSON: parent version, input datasets and storage sources, command line, author, time, git state of the code, embedded code files, message, and the versions that came next",
        output_schema = output_schema::<VersionLineageView>()
    )]
    async fn dataset_lineage(
        &self,
        Parameters(args): Parameters<DatasetArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(move |repo| {
            let max_bytes = max_bytes(args.max_bytes)?;
            let found = resolve(repo, &args.dataset)?;
            Ok(json_result(&version_lineage(repo, &found)?, max_bytes))
        })
        .await
    }

    #[tool(
        description = "Compare two versions of a dataset: row and byte deltas, schema changes (same/additive/breaking) and how much of the row tree they share",
        output_schema = output_schema::<CompareView>()
    )]
    async fn diff_versions(
        &self,
        Parameters(args): Parameters<DiffArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(move |repo| {
            let max_bytes = max_bytes(args.max_bytes)?;
            let (old, new) = resolve_pair(repo, &args.from, &args.to)?;
            Ok(json_result(&compare_versions(repo, &old, &new)?, max_bytes))
        })
        .await
    }

    #[tool(
        description = "Run one read-only SQL query over the datasets (tables named by full dataset name) within a time limit. Returns `columns` in the result's order (struct columns spread into `a.b` fields) and `rows` as arrays parallel to them: at most `limit` rows (default 100, max 10000) and only as many as fit `max_bytes`; long cells end in a marker such as `…[+9800 chars]`. `truncated`, `truncated_by` (limit or budget) and `total_rows` (when cheap to know) say what was left out.",
        output_schema = output_schema::<QueryView>()
    )]
    async fn query(
        &self,
        Parameters(args): Parameters<QueryArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(move |repo| {
            let max_bytes = max_bytes(args.max_bytes)?;
            let limit = args.limit.unwrap_or(DEFAULT_QUERY_LIMIT);
            if limit == 0 || limit > MAX_QUERY_LIMIT {
                return Err(ToolError(format!(
                    "limit {limit} is out of range: give 1 to {MAX_QUERY_LIMIT}"
                )));
            }
            let view = run_query(repo, &args.sql, limit)?;
            Ok(structured_result(budget::fit_query(&view, max_bytes)))
        })
        .await
    }
}

/// The Markdown summary page as an answer: the page as text and, as structured content,
/// `page` and `budget`. A page too large for `max_bytes` is rendered again with fewer
/// tokens until it fits.
fn summary_page(
    repo: &Repo,
    found: &Resolved,
    max_tokens: usize,
    max_bytes: usize,
) -> Result<CallToolResult, ToolError> {
    let mut tokens = max_tokens;
    loop {
        let page = crate::summary::page(repo, found, tokens)?;
        let budget = BudgetView {
            max_bytes,
            truncated: tokens < max_tokens,
            cuts: Vec::new(),
            n_cuts: 0,
            abbreviated: 0,
        };
        let view = BudgetedView {
            view: SummaryAnswerView {
                page: Some(page.clone()),
                summary: None,
            },
            budget,
        };
        let structured = to_json(&view);
        let size = budget::answer_len(&structured, Some(&page));
        if size <= max_bytes || tokens <= 16 {
            let mut result = CallToolResult::success(vec![ContentBlock::text(page)]);
            result.structured_content = Some(structured);
            return Ok(result);
        }
        // Shrink in proportion, and by a tenth more for what does not scale.
        tokens = (tokens as u128 * max_bytes as u128 * 9 / (size as u128 * 10)) as usize;
        tokens = tokens.max(16);
    }
}

fn resource_uri(name: &str, version: &str) -> String {
    format!("{RESOURCE_SCHEME}{name}@{version}")
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for PailServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(
            Implementation::new("pail", env!("CARGO_PKG_VERSION"))
                .with_title("pail: git for datasets of files in object storage"),
        )
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let repo = self.repo.clone();
        let listed = tokio::task::spawn_blocking(move || -> Result<Vec<Resource>, RepoError> {
            let mut resources = Vec::new();
            for info in repo.datasets()? {
                for (version, _) in info.versions.iter().rev() {
                    let label = format!("{}@{version}", info.name);
                    resources.push(
                        Resource::new(resource_uri(&info.name.to_string(), &version.to_string()), label.clone())
                            .with_title(format!("Summary of {label}"))
                            .with_description(format!(
                                "Compiled summary of dataset version {label}: schema, statistics, lineage, examples"
                            ))
                            .with_mime_type("text/markdown"),
                    );
                }
            }
            Ok(resources)
        })
        .await
        .map_err(|err| ErrorData::internal_error(err.to_string(), None))?
        .map_err(|err| ErrorData::internal_error(err.to_string(), None))?;
        Ok(ListResourcesResult::with_all_items(listed))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri.clone();
        let Some(target) = uri.strip_prefix(RESOURCE_SCHEME).map(str::to_string) else {
            return Err(ErrorData::resource_not_found(
                format!("{uri} is not a pail resource (pail://NAME@VERSION)"),
                None,
            ));
        };
        let repo = self.repo.clone();
        let page = tokio::task::spawn_blocking(move || -> Result<String, RepoError> {
            let dataset = repo.parse_ref(&target)?;
            let found = repo.resolve(&dataset)?;
            crate::summary::page(&repo, &found, DEFAULT_MAX_TOKENS)
        })
        .await
        .map_err(|err| ErrorData::internal_error(err.to_string(), None))?
        .map_err(|err| ErrorData::resource_not_found(err.to_string(), None))?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(page, uri).with_mime_type("text/markdown"),
        ])
        .into())
    }
}

/// Why the MCP server stopped.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("the MCP session failed to start: {0}")]
    Start(String),
    #[error("the MCP session ended with an error: {0}")]
    Session(String),
}

/// Serves MCP on a byte stream until the client closes it.
pub async fn serve<R, W>(repo: Repo, reader: R, writer: W) -> Result<(), McpError>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let service = PailServer::new(repo)
        .serve((reader, writer))
        .await
        .map_err(|err| McpError::Start(err.to_string()))?;
    service
        .waiting()
        .await
        .map_err(|err| McpError::Session(err.to_string()))?;
    Ok(())
}
