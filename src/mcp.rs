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
use tokio::io::{AsyncRead, AsyncWrite};

use crate::diff::DiffError;
use crate::repo::{Repo, RepoError, Resolved};
use crate::schema;
use crate::summary::DEFAULT_MAX_TOKENS;
use crate::view::{
    ChildView, CompareView, DatasetView, DiffCountsView, DiffSideView, DiffView, QueryView,
    RowTreeOverlapView, SchemaChangesView, SchemaView, SummaryView, VersionLineageView,
    VersionView, to_json,
};

/// URIs of the summary pages: `pail://NAME@VERSION`.
pub(crate) const RESOURCE_SCHEME: &str = "pail://";
/// Rows a query returns when the caller gives no limit, and at most.
pub(crate) const DEFAULT_QUERY_LIMIT: u64 = 100;
pub(crate) const MAX_QUERY_LIMIT: u64 = 10_000;

const INSTRUCTIONS: &str = "pail versions datasets of files in object storage. Start with \
list_datasets, then read dataset_summary for a dataset (a short Markdown page: schema, \
per-column statistics, lineage, example rows) before writing code against it. Names are \
namespace.project.name; NAME@V takes a semver, a tag, `latest` or a commit id prefix. \
Everything here is read-only.";

/// A tool failure, shown to the model as the tool's result text.
#[derive(Debug)]
pub(crate) struct ToolError(pub String);

impl From<RepoError> for ToolError {
    fn from(err: RepoError) -> Self {
        ToolError(err.to_string())
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct DatasetArgs {
    /// Dataset as NAME[@V], e.g. `team.vision.clips@1.0.2` or `clips` (latest version)
    pub dataset: String,
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
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct DiffArgs {
    /// The older version, NAME@V
    pub from: String,
    /// The newer version, NAME@V (a bare V means the same dataset as `from`)
    pub to: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct QueryArgs {
    /// One read-only SQL statement; datasets are tables named by their full name
    pub sql: String,
    /// Maximum rows to return (default 100, at most 10000)
    pub limit: Option<u64>,
}

/// The server: a repository (paths only; the store is opened per request) and the tools.
#[derive(Clone)]
pub(crate) struct PailServer {
    repo: Arc<Repo>,
    tool_router: ToolRouter<PailServer>,
}

fn text_result(text: String) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// A view as the CLI prints it: pretty JSON, keys sorted.
fn json_result(view: &impl Serialize) -> CallToolResult {
    let text = serde_json::to_string_pretty(&to_json(view)).expect("JSON values serialize");
    CallToolResult::success(vec![ContentBlock::text(text)])
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

/// Runs a read-only SQL query with a row limit and a time limit. Statements other than
/// queries (DDL such as `CREATE EXTERNAL TABLE`, DML, `SET`) are refused. Called on a
/// blocking thread of the server's runtime.
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
        let frame = frame.limit(0, Some(limit as usize + 1))?;
        frame.collect().await
    };
    let handle = tokio::runtime::Handle::current();
    let batches = match handle.block_on(tokio::time::timeout(QUERY_TIME_LIMIT, query)) {
        Err(_) => {
            return Err(ToolError(format!(
                "the query ran longer than {} s and was stopped; add a WHERE clause or a smaller LIMIT",
                QUERY_TIME_LIMIT.as_secs()
            )));
        }
        Ok(Err(err)) => return Err(ToolError(crate::query::QueryError::from(err).to_string())),
        Ok(Ok(batches)) => batches,
    };
    let mut rows =
        crate::query::batches_to_json(&batches).map_err(|err| ToolError(err.to_string()))?;
    let truncated = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let columns: Vec<String> = batches
        .first()
        .map(|batch| {
            batch
                .schema()
                .fields()
                .iter()
                .map(|field| field.name().clone())
                .collect()
        })
        .unwrap_or_default();
    Ok(QueryView {
        columns,
        n_rows: rows.len(),
        truncated,
        rows,
    })
}

#[tool_router]
impl PailServer {
    #[tool(
        description = "List every dataset with its latest version, versions, tags, row count, byte total and last message"
    )]
    async fn list_datasets(&self) -> Result<CallToolResult, ErrorData> {
        self.run(|repo| Ok(json_result(&list_datasets(repo)?)))
            .await
    }

    #[tool(
        description = "The compiled summary of a dataset version as a short Markdown page: row count, schema with per-column statistics (nulls, distinct, min/max, top values), files (sources, extensions, sizes), changes since the previous version, lineage and example rows. Read this before writing code against a dataset."
    )]
    async fn dataset_summary(
        &self,
        Parameters(args): Parameters<SummaryArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(move |repo| {
            let found = resolve(repo, &args.dataset)?;
            if args.json {
                let summary = crate::summary::load(repo, &found.commit)?;
                let info = crate::summary::page_info(repo, &found)?;
                Ok(json_result(&SummaryView::new(&summary, &info)))
            } else {
                let tokens = args.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
                Ok(text_result(crate::summary::page(repo, &found, tokens)?))
            }
        })
        .await
    }

    #[tool(
        description = "The schema of a dataset version as JSON: fields with types (bool, int, float, string, bytes, datetime, File, struct, list, enum) and whether each is optional"
    )]
    async fn dataset_schema(
        &self,
        Parameters(args): Parameters<DatasetArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(move |repo| {
            let found = resolve(repo, &args.dataset)?;
            let schema = repo.schema(&found.commit.schema)?;
            Ok(json_result(
                &SchemaView::new(&found, &schema).with_columns(&schema),
            ))
        })
        .await
    }

    #[tool(
        description = "Lineage of a dataset version as JSON: parent version, input datasets and storage sources, command line, author, time, git state of the code, embedded code files, message, and the versions that came next"
    )]
    async fn dataset_lineage(
        &self,
        Parameters(args): Parameters<DatasetArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(move |repo| {
            let found = resolve(repo, &args.dataset)?;
            Ok(json_result(&version_lineage(repo, &found)?))
        })
        .await
    }

    #[tool(
        description = "Compare two versions of a dataset: row and byte deltas, schema changes (same/additive/breaking) and how much of the row tree they share"
    )]
    async fn diff_versions(
        &self,
        Parameters(args): Parameters<DiffArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(move |repo| {
            let (old, new) = resolve_pair(repo, &args.from, &args.to)?;
            Ok(json_result(&compare_versions(repo, &old, &new)?))
        })
        .await
    }

    #[tool(
        description = "Run one read-only SQL query over the datasets (tables named by full dataset name) and return the rows as JSON, at most `limit` rows (default 100, max 10000) within a time limit"
    )]
    async fn query(
        &self,
        Parameters(args): Parameters<QueryArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(move |repo| {
            let limit = args.limit.unwrap_or(DEFAULT_QUERY_LIMIT);
            if limit == 0 || limit > MAX_QUERY_LIMIT {
                return Err(ToolError(format!(
                    "limit {limit} is out of range: give 1 to {MAX_QUERY_LIMIT}"
                )));
            }
            Ok(json_result(&run_query(repo, &args.sql, limit)?))
        })
        .await
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
