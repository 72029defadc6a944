//! Code provenance from git, read through gix: the repository around a directory, its
//! HEAD, branch and dirty flag, and the author configured there.

use std::path::Path;

use crate::name::DatasetName;
use crate::object::{CommitId, GitState, Input};
use crate::repo::{RefKind, Repo, RepoError, Resolved, parse_dataset_ref};

/// Which way `lineage` walks from a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Its inputs, their inputs and so on.
    Upstream,
    /// The versions made from it, and from those.
    Downstream,
}

/// The lineage graph of a version and the index of that version in it.
#[derive(Debug, Clone)]
pub struct LineageReport {
    pub graph: LineageGraph,
    pub start: usize,
}

/// The git state of the repository containing `dir`, if there is one.
///
/// A repository that cannot be inspected fully (no commits yet, an unreadable index)
/// still yields what could be read; provenance is best effort, never a reason to fail.
pub fn git_state(dir: &Path) -> Option<GitState> {
    let repo = gix::discover(dir).ok()?;
    let repository = repo
        .workdir()
        .unwrap_or_else(|| repo.git_dir())
        .display()
        .to_string();
    let head = repo.head_id().ok().map(|id| id.to_string());
    let branch = repo
        .head_name()
        .ok()
        .flatten()
        .map(|name| name.shorten().to_string());
    let dirty = repo.is_dirty().unwrap_or(false);
    Some(GitState {
        repository,
        head,
        branch,
        dirty,
    })
}

/// `Name <email>` from the git configuration seen from `dir` (repository, then global).
pub fn git_author(dir: &Path) -> Option<String> {
    if let Ok(repo) = gix::discover(dir)
        && let Some(Ok(signature)) = repo.author()
    {
        return Some(format!("{} <{}>", signature.name, signature.email));
    }
    let config = gix::config::File::from_globals().ok()?;
    let name = config.string("user.name")?;
    let email = config.string("user.email");
    Some(match email {
        Some(email) => format!("{name} <{email}>"),
        None => name.to_string(),
    })
}

/// A node of a lineage graph: a dataset version or a storage source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LineageNode {
    Version {
        name: String,
        version: String,
        commit: CommitId,
    },
    Source {
        uri: String,
        listed_at: i64,
    },
}

impl LineageNode {
    /// `NAME@VERSION (SHORTID)`, or `source URI`.
    pub fn label(&self) -> String {
        match self {
            LineageNode::Version {
                name,
                version,
                commit,
            } => format!("{name}@{version} ({})", commit.short()),
            LineageNode::Source { uri, .. } => format!("source {uri}"),
        }
    }
}

/// Lineage as a graph: edges point from an input to what was made from it.
#[derive(Debug, Clone, Default)]
pub struct LineageGraph {
    pub nodes: Vec<LineageNode>,
    /// (from, to) indices into `nodes`.
    pub edges: Vec<(usize, usize)>,
}

impl LineageGraph {
    /// The index of `node`, added if the graph lacks it.
    pub fn index(&mut self, node: LineageNode) -> usize {
        match self.nodes.iter().position(|existing| *existing == node) {
            Some(idx) => idx,
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    /// The graph in Graphviz dot.
    pub fn to_dot(&self) -> String {
        let mut text = String::from("digraph lineage {\n  rankdir=LR;\n");
        for (idx, node) in self.nodes.iter().enumerate() {
            let shape = match node {
                LineageNode::Version { .. } => "box",
                LineageNode::Source { .. } => "folder",
            };
            text.push_str(&format!(
                "  n{idx} [label=\"{}\", shape={shape}];\n",
                node.label().replace('"', "\\\"")
            ));
        }
        for (from, to) in &self.edges {
            text.push_str(&format!("  n{from} -> n{to};\n"));
        }
        text.push_str("}\n");
        text
    }

    /// An indented tree from `root`, following edges backwards (inputs) or forwards.
    pub fn to_text(&self, root: usize, down: bool) -> String {
        let mut text = String::new();
        let mut seen = std::collections::HashSet::new();
        self.text_node(root, down, 0, &mut seen, &mut text);
        text
    }

    fn text_node(
        &self,
        idx: usize,
        down: bool,
        depth: usize,
        seen: &mut std::collections::HashSet<usize>,
        text: &mut String,
    ) {
        let indent = if depth == 0 {
            String::new()
        } else {
            format!("{}└─ ", "   ".repeat(depth - 1))
        };
        let node = &self.nodes[idx];
        let mut line = format!("{indent}{}", node.label());
        if let LineageNode::Source { listed_at, .. } = node {
            line.push_str(&format!(
                " (listed {})",
                crate::repo::format_time(*listed_at)
            ));
        }
        if !seen.insert(idx) {
            text.push_str(&format!("{line} (see above)\n"));
            return;
        }
        text.push_str(&line);
        text.push('\n');
        let next: Vec<usize> = self
            .edges
            .iter()
            .filter_map(|(from, to)| match down {
                false if *to == idx => Some(*from),
                true if *from == idx => Some(*to),
                _ => None,
            })
            .collect();
        for child in next {
            self.text_node(child, down, depth + 1, seen, text);
        }
    }
}

/// A command line as a shell would need it typed: words with spaces or quotes are quoted.
pub(crate) fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|word| {
            let plain = !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%^".contains(c));
            if plain {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The lineage of a version: its inputs, their inputs and so on (`down`: the versions
/// made from it, and from those). Returns the graph and the index of the start.
pub fn lineage(
    repo: &Repo,
    start: &Resolved,
    direction: Direction,
) -> Result<LineageReport, RepoError> {
    let down = direction == Direction::Downstream;
    let mut graph = LineageGraph::default();
    let node_of =
        |name: &str, version: Option<&semver::Version>, id: CommitId| LineageNode::Version {
            name: name.to_string(),
            version: version.map(|v| v.to_string()).unwrap_or_else(|| id.short()),
            commit: id,
        };
    let root = graph.index(node_of(
        &start.name.to_string(),
        start.version.as_ref(),
        start.id,
    ));
    let store = repo.read_store()?;
    let reader = store.read()?;
    // Every version, for names and for the downstream search.
    let mut versions: Vec<(DatasetName, semver::Version, CommitId)> = Vec::new();
    for (ref_name, id) in reader.refs("datasets/")? {
        if let Some((name, RefKind::Version, label)) = parse_dataset_ref(&ref_name)
            && let Ok(version) = semver::Version::parse(&label)
        {
            versions.push((name, version, CommitId(id)));
        }
    }
    let mut queue = vec![(start.id, root)];
    let mut visited = std::collections::HashSet::new();
    while let Some((id, idx)) = queue.pop() {
        if !visited.insert(id) {
            continue;
        }
        if down {
            for (name, version, candidate) in &versions {
                let Ok(commit) = reader.get_commit(candidate) else {
                    continue;
                };
                let uses = commit
                    .inputs
                    .iter()
                    .any(|input| matches!(input, Input::Dataset { commit, .. } if *commit == id));
                if uses {
                    let child = graph.index(node_of(&name.to_string(), Some(version), *candidate));
                    graph.edges.push((idx, child));
                    queue.push((*candidate, child));
                }
            }
        } else {
            let Ok(commit) = reader.get_commit(&id) else {
                continue;
            };
            for input in &commit.inputs {
                let (node, next) = match input {
                    Input::Dataset {
                        name,
                        version,
                        commit,
                    } => (
                        LineageNode::Version {
                            name: name.clone(),
                            version: if version.is_empty() {
                                commit.short()
                            } else {
                                version.clone()
                            },
                            commit: *commit,
                        },
                        Some(*commit),
                    ),
                    Input::Source { uri, listed_at } => (
                        LineageNode::Source {
                            uri: uri.clone(),
                            listed_at: *listed_at,
                        },
                        None,
                    ),
                };
                let from = graph.index(node);
                graph.edges.push((from, idx));
                if let Some(next) = next {
                    queue.push((next, from));
                }
            }
        }
    }
    graph.edges.sort();
    graph.edges.dedup();
    Ok(LineageReport { graph, start: root })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_quote_what_needs_it() {
        let words: Vec<String> = ["pail", "commit", "-m", "two words", "it's", "a@1.0.0", ""]
            .iter()
            .map(|w| w.to_string())
            .collect();
        assert_eq!(
            shell_words(&words),
            "pail commit -m 'two words' 'it'\\''s' a@1.0.0 ''"
        );
    }
}
