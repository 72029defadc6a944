//! `pail mcp` driven by the official Python MCP client (tests/mcp_client.py) over stdio.
//! tests/run installs the client and sets PAIL_TEST_MCP_PYTHON; in CI its absence fails.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::Pail;
use serde_json::{Value, json};

fn mcp_python() -> Option<String> {
    match std::env::var("PAIL_TEST_MCP_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "PAIL_TEST_MCP_PYTHON is not set: run the suite through tests/run"
            );
            eprintln!("skipping: PAIL_TEST_MCP_PYTHON is not set (tests/run sets it)");
            None
        }
    }
}

/// A repository with several datasets: a listing with two versions, and clips.
fn repo_with_datasets() -> Pail {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let photos = pail.work.join("photos");
    common::write_file(&photos.join("a/one.jpg"), b"one");
    common::write_file(&photos.join("a/two.png"), b"two!");
    pail.ok(&["commit", "photos", "photos", "-m", "first photos"]);
    common::write_file(&photos.join("b/three.jpg"), b"three");
    pail.ok(&["commit", "photos", "photos", "-m", "one more"]);
    common::copy_clips_fixture(&pail.work);
    pail.ok(&[
        "commit",
        "team.vision.clips",
        "--from",
        "clips.jsonl",
        "--schema",
        "clip.schema.json",
        "-m",
        "clips",
    ]);
    pail
}

fn call<'a>(report: &'a Value, tool: &str, nth: usize) -> &'a Value {
    report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|call| call["tool"] == tool)
        .nth(nth)
        .unwrap_or_else(|| panic!("no call {nth} of {tool}"))
}

#[test]
fn an_mcp_client_uses_every_tool_while_a_commit_runs() {
    let Some(python) = mcp_python() else {
        return;
    };
    let pail = repo_with_datasets();
    common::write_file(&pail.work.join("late.jsonl"), b"{\"a\": 1}\n{\"a\": 2}\n");
    let env: serde_json::Map<String, Value> = pail
        .env_vars()
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    let calls = json!([
        ["list_datasets", {}],
        ["dataset_summary", {"dataset": "team.vision.clips"}],
        ["dataset_summary", {"dataset": "photos@1.0.1", "max_tokens": 100}],
        ["dataset_summary", {"dataset": "team.vision.clips", "json": true}],
        ["dataset_summary", {"dataset": "nosuch"}],
        ["dataset_schema", {"dataset": "team.vision.clips@1.0.0"}],
        ["dataset_lineage", {"dataset": "photos@1.0.1"}],
        ["diff_versions", {"from": "photos@1.0.0", "to": "1.0.1"}],
        ["diff_versions", {"from": "photos@1.0.0", "to": "photos@9.9.9"}],
        ["query", {"sql": "SELECT count(*) AS n FROM \"local.default.photos\""}],
        ["query", {"sql": "this is not SQL"}],
        ["query", {"sql": "SELECT * FROM \"local.default.photos\"", "limit": 1000000}],
        ["query", {"sql": "SELECT file.path AS path FROM \"local.default.photos\" ORDER BY path", "limit": 2}],
        ["query", {"sql": "CREATE EXTERNAL TABLE leak STORED AS CSV LOCATION '/etc/passwd'"}],
    ]);
    let config = json!({
        "command": pail.bin.display().to_string(),
        "args": ["mcp"],
        "cwd": pail.work.display().to_string(),
        "env": env,
        "calls": calls,
        "commit": ["commit", "late", "--from", "late.jsonl", "--json"],
    });
    let config_path = pail.work.join("mcp-config.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(&config_path)
        .output()
        .expect("the MCP client runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client failed:\n{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&output.stdout)));

    // initialize: the server names itself.
    assert_eq!(
        report["initialize"]["serverInfo"]["name"], "pail",
        "{report}"
    );
    assert!(report["initialize"]["capabilities"]["tools"].is_object());
    assert!(report["initialize"]["capabilities"]["resources"].is_object());

    // tools/list: all six, each with a JSON Schema for its arguments.
    let tools = report["tools"].as_array().unwrap();
    let mut names: Vec<&str> = tools
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "dataset_lineage",
            "dataset_schema",
            "dataset_summary",
            "diff_versions",
            "list_datasets",
            "query"
        ]
    );
    for tool in tools {
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
        assert!(tool["description"].as_str().unwrap().len() > 20, "{tool}");
    }
    let query_tool = tools.iter().find(|tool| tool["name"] == "query").unwrap();
    assert!(query_tool["inputSchema"]["properties"]["sql"].is_object());
    assert!(query_tool["inputSchema"]["properties"]["limit"].is_object());
    assert_eq!(query_tool["inputSchema"]["required"], json!(["sql"]));

    // list_datasets
    let listed = call(&report, "list_datasets", 0);
    assert_eq!(listed["is_error"], false, "{listed}");
    let listed: Value = serde_json::from_str(listed["text"].as_str().unwrap()).unwrap();
    let listed_names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed_names, ["local.default.photos", "team.vision.clips"]);
    assert_eq!(listed[0]["latest"], "1.0.1");
    assert_eq!(listed[0]["n_rows"], 3);

    // dataset_summary: the Markdown page, bounded; JSON on request; errors are tool errors.
    let page = call(&report, "dataset_summary", 0);
    assert_eq!(page["is_error"], false, "{page}");
    let page = page["text"].as_str().unwrap();
    assert!(page.starts_with("# team.vision.clips@1.0.0\n"), "{page}");
    assert!(
        page.contains("| weather | enum(clear, rain, fog, snow, night) |"),
        "{page}"
    );
    assert!(page.chars().count() <= 2000 * 4);
    let small = call(&report, "dataset_summary", 1);
    assert_eq!(small["is_error"], false, "{small}");
    assert!(
        small["text"].as_str().unwrap().chars().count() <= 400,
        "{small}"
    );
    let as_json = call(&report, "dataset_summary", 2);
    let as_json: Value = serde_json::from_str(as_json["text"].as_str().unwrap()).unwrap();
    assert_eq!(as_json["n_rows"], 6);
    let missing = call(&report, "dataset_summary", 3);
    assert_eq!(missing["is_error"], true, "{missing}");
    assert!(
        missing["text"].as_str().unwrap().contains("does not exist"),
        "{missing}"
    );

    // dataset_schema
    let schema = call(&report, "dataset_schema", 0);
    assert_eq!(schema["is_error"], false, "{schema}");
    let schema: Value = serde_json::from_str(schema["text"].as_str().unwrap()).unwrap();
    let file = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|field| field["name"] == "file")
        .unwrap();
    assert_eq!(file["type"], "File");
    assert!(
        schema["columns"]
            .as_array()
            .unwrap()
            .contains(&json!("file.path"))
    );
    assert_eq!(schema["version"], "1.0.0");

    // dataset_lineage
    let lineage = call(&report, "dataset_lineage", 0);
    assert_eq!(lineage["is_error"], false, "{lineage}");
    let lineage: Value = serde_json::from_str(lineage["text"].as_str().unwrap()).unwrap();
    assert_eq!(lineage["message"], "one more");
    assert_eq!(lineage["parent_versions"], json!(["1.0.0"]));
    assert_eq!(lineage["author"], "Test Author <test@example.com>");

    // diff_versions: counts and schema; a missing version is a tool error.
    let diff = call(&report, "diff_versions", 0);
    assert_eq!(diff["is_error"], false, "{diff}");
    let diff: Value = serde_json::from_str(diff["text"].as_str().unwrap()).unwrap();
    assert_eq!(diff["old"]["n_rows"], 2);
    assert_eq!(diff["new"]["n_rows"], 3);
    assert_eq!(diff["old"]["version"], "1.0.0");
    assert_eq!(diff["new"]["name"], "local.default.photos");
    assert_eq!(diff["n_rows_delta"], 1);
    assert_eq!(diff["schema"]["compat"], "same");
    let counts = ["added", "removed", "modified", "leaves_read"].map(|key| &diff[key]);
    assert_eq!(
        counts,
        [&json!(1), &json!(0), &json!(0), &json!(2)],
        "{diff}"
    );
    let bad_diff = call(&report, "diff_versions", 1);
    assert_eq!(bad_diff["is_error"], true, "{bad_diff}");

    // query: rows as JSON; bad SQL, a limit out of range and DDL are tool errors; a result
    // larger than the limit is cut and says so.
    let query = call(&report, "query", 0);
    assert_eq!(query["is_error"], false, "{query}");
    let result: Value = serde_json::from_str(query["text"].as_str().unwrap()).unwrap();
    assert_eq!(result["rows"], json!([{"n": 3}]), "{result}");
    assert_eq!(result["truncated"], false);
    let bad = call(&report, "query", 1);
    assert_eq!(bad["is_error"], true, "{bad}");
    let over = call(&report, "query", 2);
    assert_eq!(over["is_error"], true, "{over}");
    assert!(
        over["text"].as_str().unwrap().contains("out of range"),
        "{over}"
    );
    let cut = call(&report, "query", 3);
    assert_eq!(cut["is_error"], false, "{cut}");
    let cut: Value = serde_json::from_str(cut["text"].as_str().unwrap()).unwrap();
    assert_eq!(cut["n_rows"], 2);
    assert_eq!(cut["truncated"], true);
    assert_eq!(cut["rows"][0]["path"], "a/one.jpg");
    let ddl = call(&report, "query", 4);
    assert_eq!(ddl["is_error"], true, "DDL is refused: {ddl}");

    // The answers are the CLI's --json objects (the same view structs), plus the fields
    // only MCP gives.
    let cli = |args: &[&str]| -> Value { serde_json::from_str(&pail.ok(args).stdout).unwrap() };
    let tool = |name: &str, nth: usize| -> Value {
        serde_json::from_str(call(&report, name, nth)["text"].as_str().unwrap()).unwrap()
    };
    let without = |mut value: Value, keys: &[&str]| -> Value {
        for key in keys {
            value.as_object_mut().unwrap().remove(*key);
        }
        value
    };
    let ls = cli(&["ls", "--json"]);
    for item in tool("list_datasets", 0).as_array().unwrap() {
        assert!(ls.as_array().unwrap().contains(item), "{item} not in {ls}");
    }
    assert_eq!(
        tool("dataset_summary", 2),
        cli(&["summary", "team.vision.clips", "--json"])
    );
    assert_eq!(
        without(tool("dataset_schema", 0), &["columns"]),
        cli(&["schema", "team.vision.clips@1.0.0", "--json"])
    );
    assert_eq!(
        without(tool("dataset_lineage", 0), &["parent_versions", "children"]),
        cli(&["show", "photos@1.0.1", "--json"])
    );
    let mut compared = tool("diff_versions", 0);
    for side in ["old", "new"] {
        compared[side] = without(compared[side].take(), &["n_rows", "n_bytes"]);
    }
    let extra = [
        "leaves_read",
        "same_content",
        "n_rows_delta",
        "n_bytes_delta",
        "row_tree",
    ];
    assert_eq!(
        without(compared, &extra),
        cli(&["diff", "photos@1.0.0", "photos@1.0.1", "--stat", "--json"])
    );

    // resources: one page per dataset version.
    let uris: Vec<&str> = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|resource| resource["uri"].as_str().unwrap())
        .collect();
    assert_eq!(
        uris,
        [
            "pail://local.default.photos@1.0.1",
            "pail://local.default.photos@1.0.0",
            "pail://team.vision.clips@1.0.0"
        ]
    );
    let contents = &report["read_resource"]["contents"][0];
    assert_eq!(contents["mimeType"], "text/markdown");
    assert!(
        contents["text"]
            .as_str()
            .unwrap()
            .starts_with("# local.default.photos@1.0.1\n")
    );

    // A commit while the server is up succeeds, and the server sees it.
    assert_eq!(report["commit"]["code"], 0, "{}", report["commit"]);
    let after: Value =
        serde_json::from_str(report["after_commit"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(after.as_array().unwrap().len(), 3, "{after}");
}
