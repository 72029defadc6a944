//! `pail mcp`: the MCP server on stdin/stdout. Nothing else may write to stdout while it
//! serves: the protocol owns it.

use super::{CliError, Context};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "An MCP client starts it as the command `pail mcp` in the repository's
directory (or with PAIL_DIR set); `pail agents init` writes that config for Claude Code, Cursor
or Codex. Every answer fits a byte budget: the `max_bytes` argument of each tool, 16384 by
default, at most 131072. docs/agents.md documents the tools."
)]
pub struct McpArgs {}

pub fn cmd_mcp(ctx: &Context, _args: McpArgs) -> Result<(), CliError> {
    let mut repo = ctx.repo()?;
    // The wait notice goes to stderr, never stdout; a server waits quietly.
    repo.set_wait(ctx.wait_timeout, None);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            what: "the async runtime".into(),
            source,
        })?;
    runtime
        .block_on(crate::mcp::serve(
            repo,
            tokio::io::stdin(),
            tokio::io::stdout(),
        ))
        .map_err(|err| CliError::Usage {
            message: err.to_string(),
            hint: Some(
                "run `pail mcp` from an MCP client, which speaks JSON-RPC on its stdin".into(),
            ),
        })?;
    // Stdin may still have a blocking read pending: do not wait for it.
    runtime.shutdown_background();
    Ok(())
}
