//! `pail agents init`: wires a coding agent (Claude Code, Cursor, Codex) to `pail mcp` in
//! one command. It merges pail's MCP server entry into the client's config file, keeping
//! every other entry and setting, and writes a short instructions file: the agent-facing
//! section of docs/agents.md followed by this repository's dataset names.
//!
//! Instruction files reach an agent's prompt, so nothing typed by other people (commit
//! messages, authors) goes into them: dataset names only, which are validated names.

use std::io::Write;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::view::{AgentsFileView, AgentsInitView, to_json};

use super::output;
use super::{CliError, Context};

/// docs/agents.md; the text between the markers is what instruction files say.
const AGENTS_PAGE: &str = include_str!("../../docs/agents.md");
const PAGE_BEGIN: &str = "<!-- agent instructions: begin -->";
const PAGE_END: &str = "<!-- agent instructions: end -->";
/// The section pail owns in a shared instructions file (CLAUDE.md, AGENTS.md).
const SECTION_BEGIN: &str =
    "<!-- pail agents init: begin (generated; `pail agents init` rewrites this section) -->";
const SECTION_END: &str = "<!-- pail agents init: end -->";

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pail agents init                          # Claude Code: .mcp.json and CLAUDE.md
  pail agents init --client cursor          # .cursor/mcp.json and .cursor/rules/pail.mdc
  pail agents init --client codex           # prints the lines for ~/.codex/config.toml
  pail agents init --client codex --global  # merges them into ~/.codex/config.toml

`init` takes --client claude|cursor|codex (default claude), --global (the per-user config:
~/.claude.json, ~/.cursor/mcp.json, ~/.codex/config.toml, with PAIL_DIR set to this
repository) and --json. A config file is merged: pail's entry is added or replaced and
everything else is kept; a file that does not parse is left alone. CLAUDE.md and AGENTS.md
get a section of pail's own. Instructions name the datasets, nothing from commit messages
or authors. docs/agents.md has the details.")]
pub struct AgentsArgs {
    #[command(subcommand)]
    pub command: AgentsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AgentsCommand {
    /// Add pail's MCP server to a client's config and write an instructions file
    #[command(
        after_help = "Files, by client (the project is the directory that holds .pail/):
  claude  .mcp.json (--global: ~/.claude.json) and a pail section in CLAUDE.md
  cursor  .cursor/mcp.json (--global: ~/.cursor/mcp.json) and .cursor/rules/pail.mdc
  codex   ~/.codex/config.toml, only with --global (else the lines to add are printed),
          and a pail section in AGENTS.md"
    )]
    Init(InitArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    Claude,
    Cursor,
    Codex,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Claude => "claude",
            Client::Cursor => "cursor",
            Client::Codex => "codex",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The agent to wire up
    #[arg(long, value_enum, default_value_t = Client::Claude)]
    pub client: Client,
    /// Write the per-user config (~/.claude.json, ~/.cursor/mcp.json, ~/.codex/config.toml),
    /// with PAIL_DIR set to this repository, instead of the project's
    #[arg(long)]
    pub global: bool,
    /// Print what was written as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_agents(ctx: &Context, args: AgentsArgs) -> Result<(), CliError> {
    match args.command {
        AgentsCommand::Init(args) => cmd_init(ctx, args),
    }
}

/// A JSON value that keeps its keys in the order the file had them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Json {
    Object(IndexMap<String, Json>),
    Array(Vec<Json>),
    Other(serde_json::Value),
}

/// What the command found and decided before writing anything.
struct Plan {
    /// The directory that holds .pail/.
    project: PathBuf,
    pail_dir: PathBuf,
    home: Option<PathBuf>,
    instructions: String,
}

fn cmd_init(ctx: &Context, args: InitArgs) -> Result<(), CliError> {
    let repo = ctx.repo()?;
    let pail_dir = std::path::absolute(repo.dir()).map_err(|source| CliError::Io {
        what: "the repository's path".into(),
        source,
    })?;
    let project = pail_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| pail_dir.clone());
    let names: Vec<String> = repo
        .datasets()?
        .into_iter()
        .map(|info| info.name.to_string())
        .collect();
    let plan = Plan {
        project,
        pail_dir,
        home: ctx.home.clone(),
        instructions: instructions(&names),
    };
    let mut files = Vec::new();
    let mut to_add = None;
    match args.client {
        Client::Claude => {
            let config = plan.config_path(args.global, &[".mcp.json"], &[".claude.json"])?;
            files.push(merge_json(&config, server_entry(&plan, args.global))?);
            files.push(write_section(
                &plan.project.join("CLAUDE.md"),
                &plan.instructions,
            )?);
        }
        Client::Cursor => {
            let config = plan.config_path(
                args.global,
                &[".cursor", "mcp.json"],
                &[".cursor", "mcp.json"],
            )?;
            files.push(merge_json(&config, server_entry(&plan, args.global))?);
            let rule = plan.project.join(".cursor/rules/pail.mdc");
            files.push(write_whole(&rule, &cursor_rule(&plan.instructions))?);
        }
        Client::Codex => {
            if args.global {
                let config = plan.config_path(true, &[], &[".codex", "config.toml"])?;
                files.push(merge_toml(&config, &plan.pail_dir)?);
            } else {
                to_add = Some(codex_lines(&plan.pail_dir));
            }
            files.push(write_section(
                &plan.project.join("AGENTS.md"),
                &plan.instructions,
            )?);
        }
    }
    let view = AgentsInitView {
        client: args.client.name().into(),
        files,
        codex_config_lines: to_add,
    };
    print_report(&view, args.json)
}

impl Plan {
    /// The config file: under the project, or with `global` under the home directory.
    fn config_path(
        &self,
        global: bool,
        project: &[&str],
        user: &[&str],
    ) -> Result<PathBuf, CliError> {
        if !global {
            return Ok(project
                .iter()
                .fold(self.project.clone(), |dir, part| dir.join(part)));
        }
        let Some(home) = &self.home else {
            return Err(CliError::Usage {
                message: "--global needs the home directory, and HOME is not set".into(),
                hint: Some("set HOME, or leave out --global to write the project's files".into()),
            });
        };
        Ok(user.iter().fold(home.clone(), |dir, part| dir.join(part)))
    }
}

/// pail's server entry: `pail mcp`, run in the project (where it finds .pail/); a per-user
/// config also names the repository with PAIL_DIR.
fn server_entry(plan: &Plan, global: bool) -> Json {
    let mut entry = IndexMap::new();
    entry.insert("command".to_string(), Json::Other("pail".into()));
    entry.insert(
        "args".to_string(),
        Json::Array(vec![Json::Other("mcp".into())]),
    );
    if global {
        let mut env = IndexMap::new();
        env.insert(
            "PAIL_DIR".to_string(),
            Json::Other(plan.pail_dir.display().to_string().into()),
        );
        entry.insert("env".to_string(), Json::Object(env));
    }
    Json::Object(entry)
}

/// The instructions: the agent-facing section of docs/agents.md and the dataset names.
fn instructions(names: &[String]) -> String {
    let start = AGENTS_PAGE
        .find(PAGE_BEGIN)
        .expect("docs/agents.md marks the agent instructions")
        + PAGE_BEGIN.len();
    let end = AGENTS_PAGE[start..]
        .find(PAGE_END)
        .expect("docs/agents.md ends the agent instructions")
        + start;
    let mut text = AGENTS_PAGE[start..end].trim().to_string();
    text.push_str("\n\n## Datasets in this repository\n\n");
    if names.is_empty() {
        text.push_str("None yet: `pail ls` lists them once there are some.\n");
    }
    for name in names {
        text.push_str(&format!("- `{name}`\n"));
    }
    text
}

fn cursor_rule(instructions: &str) -> String {
    format!(
        "---\ndescription: Learn this repository's datasets from pail before reading storage\n\
         alwaysApply: true\n---\n\n{instructions}"
    )
}

/// What `--client codex` adds to ~/.codex/config.toml.
fn codex_lines(pail_dir: &Path) -> String {
    let mut table = toml_edit::Table::new();
    fill_codex_entry(&mut table, pail_dir);
    let mut doc = toml_edit::DocumentMut::new();
    let mut servers = toml_edit::Table::new();
    servers.set_implicit(true);
    servers.insert("pail", toml_edit::Item::Table(table));
    doc.insert("mcp_servers", toml_edit::Item::Table(servers));
    doc.to_string()
}

fn fill_codex_entry(table: &mut toml_edit::Table, pail_dir: &Path) {
    let mut args = toml_edit::Array::new();
    args.push("mcp");
    let mut env = toml_edit::InlineTable::new();
    env.insert("PAIL_DIR", pail_dir.display().to_string().into());
    table.insert("command", toml_edit::value("pail"));
    table.insert("args", toml_edit::value(args));
    table.insert("env", toml_edit::value(env));
}

/// A file's text, or None when it does not exist.
fn read_text(path: &Path) -> Result<Option<String>, CliError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CliError::Io {
            what: path.display().to_string(),
            source,
        }),
    }
}

/// Writes `text` unless the file already holds it; what happened to it.
fn write_text(path: &Path, old: Option<&str>, text: &str) -> Result<AgentsFileView, CliError> {
    let action = match old {
        Some(old) if old == text => "unchanged",
        Some(_) => "updated",
        None => "created",
    };
    if action != "unchanged" {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| CliError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(path, text).map_err(|source| CliError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(AgentsFileView {
        path: path.display().to_string(),
        action: action.into(),
    })
}

fn unmergeable(path: &Path, why: String) -> CliError {
    CliError::Usage {
        message: format!(
            "{} {why}, so pail cannot merge its entry into it",
            path.display()
        ),
        hint: Some(
            "fix the file (or move it away) and run `pail agents init` again; it is left as it was"
                .into(),
        ),
    }
}

/// Sets `mcpServers.pail` in a JSON config, keeping everything else in its order.
fn merge_json(path: &Path, entry: Json) -> Result<AgentsFileView, CliError> {
    let old = read_text(path)?;
    let mut config = match old.as_deref() {
        None => Json::Object(IndexMap::new()),
        Some(text) if text.trim().is_empty() => Json::Object(IndexMap::new()),
        Some(text) => serde_json::from_str(text)
            .map_err(|err| unmergeable(path, format!("is not valid JSON ({err})")))?,
    };
    let Json::Object(top) = &mut config else {
        return Err(unmergeable(path, "is not a JSON object".into()));
    };
    let servers = top
        .entry("mcpServers".to_string())
        .or_insert_with(|| Json::Object(IndexMap::new()));
    let Json::Object(servers) = servers else {
        return Err(unmergeable(
            path,
            "has an `mcpServers` that is not an object".into(),
        ));
    };
    servers.insert("pail".to_string(), entry);
    let mut text = serde_json::to_string_pretty(&config).expect("JSON values serialize");
    text.push('\n');
    write_text(path, old.as_deref(), &text)
}

/// Sets `[mcp_servers.pail]` in a TOML config, keeping everything else, comments included.
fn merge_toml(path: &Path, pail_dir: &Path) -> Result<AgentsFileView, CliError> {
    let old = read_text(path)?;
    let mut doc: toml_edit::DocumentMut = old
        .as_deref()
        .unwrap_or("")
        .parse()
        .map_err(|err| unmergeable(path, format!("is not valid TOML ({err})")))?;
    let servers = doc
        .entry("mcp_servers")
        .or_insert_with(|| {
            let mut table = toml_edit::Table::new();
            table.set_implicit(true);
            toml_edit::Item::Table(table)
        })
        .as_table_mut()
        .ok_or_else(|| unmergeable(path, "has an `mcp_servers` that is not a table".into()))?;
    let mut entry = toml_edit::Table::new();
    fill_codex_entry(&mut entry, pail_dir);
    servers.insert("pail", toml_edit::Item::Table(entry));
    let mut text = doc.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    write_text(path, old.as_deref(), &text)
}

/// Writes pail's section of a shared instructions file: replaces the section between its
/// markers, or appends it; the rest of the file stays as it was.
fn write_section(path: &Path, instructions: &str) -> Result<AgentsFileView, CliError> {
    let old = read_text(path)?;
    let section = format!("{SECTION_BEGIN}\n{instructions}{SECTION_END}\n");
    let text = match old.as_deref() {
        None => section,
        Some(old) => match (old.find(SECTION_BEGIN), old.find(SECTION_END)) {
            (Some(begin), Some(end)) if begin < end => {
                let after = &old[end + SECTION_END.len()..];
                let after = after.strip_prefix('\n').unwrap_or(after);
                format!("{}{section}{after}", &old[..begin])
            }
            (None, None) => {
                let gap = if old.is_empty() || old.ends_with("\n\n") {
                    ""
                } else if old.ends_with('\n') {
                    "\n"
                } else {
                    "\n\n"
                };
                format!("{old}{gap}{section}")
            }
            _ => {
                return Err(unmergeable(
                    path,
                    "has one of pail's section markers without the other".into(),
                ));
            }
        },
    };
    write_text(path, old.as_deref(), &text)
}

/// Writes a file pail owns whole.
fn write_whole(path: &Path, text: &str) -> Result<AgentsFileView, CliError> {
    let old = read_text(path)?;
    write_text(path, old.as_deref(), text)
}

fn print_report(view: &AgentsInitView, json: bool) -> Result<(), CliError> {
    let mut out = output::stdout();
    if json {
        output::print_json(&mut out, &to_json(view))?;
    } else {
        if let Some(lines) = &view.codex_config_lines {
            writeln!(
                out,
                "Codex reads MCP servers from ~/.codex/config.toml, which is per user: add these \
                 lines to it, or run `pail agents init --client codex --global` to merge them.\n"
            )?;
            write!(out, "{lines}")?;
            writeln!(out)?;
        }
        for file in &view.files {
            writeln!(out, "{}: {}", file.action, file.path)?;
        }
    }
    out.flush()?;
    Ok(())
}
