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

/// 50 rows of 24 columns, with a 10 KB caption and 5,000 floats in every row.
fn write_wide(path: &Path) {
    let mut text = String::new();
    for n in 0..50 {
        let mut row = serde_json::Map::new();
        row.insert("id".into(), json!(n));
        row.insert(
            "caption".into(),
            json!(format!("{n} {}", "word ".repeat(2000))),
        );
        row.insert("embedding".into(), json!(vec![0.25; 5000]));
        for column in 0..21 {
            row.insert(
                format!("c{column:02}"),
                json!(format!("value {column} of row {n}")),
            );
        }
        text.push_str(&Value::Object(row).to_string());
        text.push('\n');
    }
    common::write_file(path, text.as_bytes());
}

/// A repository with several datasets: a listing with two versions, clips, and a wide
/// dataset with long cells.
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
    write_wide(&pail.work.join("wide.jsonl"));
    pail.ok(&["commit", "wide", "--from", "wide.jsonl", "-m", "wide"]);
    pail
}

/// Runs tests/mcp_client.py against `pail mcp` in `pail`'s work directory with these calls
/// (and, given `commit`, that command while the server is up); its report.
fn run_client(python: &str, pail: &Pail, calls: Value, commit: Option<&[&str]>) -> Value {
    let env: serde_json::Map<String, Value> = pail
        .env_vars()
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    let mut config = json!({
        "command": pail.bin.display().to_string(),
        "args": ["mcp"],
        "cwd": pail.work.display().to_string(),
        "env": env,
        "calls": calls,
    });
    if let Some(commit) = commit {
        config["commit"] = json!(commit);
    }
    let config_path = pail.work.join("mcp-config.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py");
    let output = Command::new(python)
        .arg(&script)
        .arg(&config_path)
        .output()
        .expect("the MCP client runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client failed:\n{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&output.stdout)));
    // Every answer fits its budget, and its structured content validates against the
    // tool's output schema (the client checks too: `client_error`).
    for call in report["calls"].as_array().unwrap() {
        assert!(call.get("client_error").is_none(), "{call}");
        let budget = call["args"]["max_bytes"].as_u64().unwrap_or(16384);
        assert!(
            call["bytes"].as_u64().unwrap() <= budget,
            "over budget: {call}"
        );
        assert_eq!(call["schema_errors"], json!([]), "{call}");
        if call["is_error"] == false {
            assert!(call["structured"].is_object(), "{call}");
        }
    }
    report
}

/// The structured content of a call without its `budget`.
fn answer(report: &Value, tool: &str, nth: usize) -> Value {
    let mut value = call(report, tool, nth)["structured"].clone();
    value.as_object_mut().unwrap().remove("budget");
    value
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
    let commit = ["commit", "late", "--from", "late.jsonl", "--json"];
    let report = run_client(&python, &pail, calls, Some(&commit));

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
        assert!(
            tool["inputSchema"]["properties"]["max_bytes"].is_object(),
            "{tool}"
        );
        let output = &tool["outputSchema"];
        assert_eq!(output["type"], "object", "{tool}");
        assert!(output["properties"]["budget"].is_object(), "{tool}");
        assert!(tool["description"].as_str().unwrap().len() > 20, "{tool}");
    }
    let query_tool = tools.iter().find(|tool| tool["name"] == "query").unwrap();
    assert!(query_tool["inputSchema"]["properties"]["sql"].is_object());
    assert!(query_tool["inputSchema"]["properties"]["limit"].is_object());
    assert_eq!(query_tool["inputSchema"]["required"], json!(["sql"]));

    // list_datasets
    let listed = call(&report, "list_datasets", 0);
    assert_eq!(listed["is_error"], false, "{listed}");
    // The text is the structured content as compact JSON.
    let text: Value = serde_json::from_str(listed["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, listed["structured"]);
    assert!(!listed["text"].as_str().unwrap().contains('\n'));
    let listed = answer(&report, "list_datasets", 0);
    assert_eq!(listed["n_datasets"], 3);
    let listed = &listed["datasets"];
    let listed_names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed_names,
        [
            "local.default.photos",
            "local.default.wide",
            "team.vision.clips"
        ]
    );
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
    assert_eq!(
        call(&report, "dataset_summary", 0)["structured"]["page"],
        page
    );
    let small = call(&report, "dataset_summary", 1);
    assert_eq!(small["is_error"], false, "{small}");
    assert!(
        small["text"].as_str().unwrap().chars().count() <= 400,
        "{small}"
    );
    let as_json = answer(&report, "dataset_summary", 2);
    assert_eq!(as_json["summary"]["n_rows"], 6);
    assert_eq!(as_json["page"], Value::Null);
    let missing = call(&report, "dataset_summary", 3);
    assert_eq!(missing["is_error"], true, "{missing}");
    assert!(
        missing["text"].as_str().unwrap().contains("does not exist"),
        "{missing}"
    );

    // dataset_schema
    let schema = call(&report, "dataset_schema", 0);
    assert_eq!(schema["is_error"], false, "{schema}");
    let schema = answer(&report, "dataset_schema", 0);
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
    let lineage = answer(&report, "dataset_lineage", 0);
    assert_eq!(lineage["message"], "one more");
    assert_eq!(lineage["parent_versions"], json!(["1.0.0"]));
    assert_eq!(lineage["author"], "Test Author <test@example.com>");

    // diff_versions: counts and schema; a missing version is a tool error.
    let diff = call(&report, "diff_versions", 0);
    assert_eq!(diff["is_error"], false, "{diff}");
    let diff = answer(&report, "diff_versions", 0);
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
    let result = answer(&report, "query", 0);
    assert_eq!(result["columns"], json!(["n"]), "{result}");
    assert_eq!(result["rows"], json!([[3]]), "{result}");
    assert_eq!(result["truncated"], false);
    assert_eq!(result["total_rows"], 1);
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
    let cut = answer(&report, "query", 3);
    assert_eq!(cut["n_rows"], 2);
    assert_eq!(cut["truncated"], true);
    assert_eq!(cut["truncated_by"], "limit");
    assert_eq!(cut["total_rows"], 3);
    assert_eq!(cut["rows"][0][0], "a/one.jpg");
    let ddl = call(&report, "query", 4);
    assert_eq!(ddl["is_error"], true, "DDL is refused: {ddl}");

    // The answers are the CLI's --json objects (the same view structs), plus the fields
    // only MCP gives.
    let cli = |args: &[&str]| -> Value { serde_json::from_str(&pail.ok(args).stdout).unwrap() };
    let tool = |name: &str, nth: usize| -> Value { answer(&report, name, nth) };
    let without = |mut value: Value, keys: &[&str]| -> Value {
        for key in keys {
            value.as_object_mut().unwrap().remove(*key);
        }
        value
    };
    let ls = cli(&["ls", "--json"]);
    for item in tool("list_datasets", 0)["datasets"].as_array().unwrap() {
        assert!(ls.as_array().unwrap().contains(item), "{item} not in {ls}");
    }
    assert_eq!(
        tool("dataset_summary", 2)["summary"],
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
            "pail://local.default.wide@1.0.0",
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
    assert_eq!(after["datasets"].as_array().unwrap().len(), 4, "{after}");
}

/// The byte budget holds on wide rows and long cells, and says what it left out.
#[test]
fn every_answer_fits_its_byte_budget_and_says_what_it_cut() {
    let Some(python) = mcp_python() else {
        return;
    };
    let pail = repo_with_datasets();
    let wide = "\"local.default.wide\"";
    let calls = json!([
        ["query", {"sql": format!("SELECT * FROM {wide}")}],
        ["query", {"sql": "SELECT * FROM team.vision.clips"}],
        ["query", {"sql": format!("SELECT * FROM {wide}"), "limit": 5}],
        ["query", {"sql": format!("SELECT caption FROM {wide} ORDER BY id LIMIT 1"), "max_bytes": 65536}],
        ["query", {"sql": "SELECT 1", "max_bytes": 100}],
        ["list_datasets", {"max_bytes": 1024}],
        ["dataset_summary", {"dataset": "wide", "json": true, "max_tokens": 300}],
        ["dataset_summary", {"dataset": "wide", "max_tokens": 300}],
        ["dataset_schema", {"dataset": "team.vision.clips"}],
        ["dataset_schema", {"dataset": "wide"}],
        ["dataset_summary", {"dataset": "team.vision.clips", "max_bytes": 1024}],
        ["query", {"sql": format!("SELECT * FROM {wide}"), "max_bytes": 131072}],
    ]);
    // run_client checks every answer's size against its budget and its output schema.
    let report = run_client(&python, &pail, calls, None);

    // A wide SELECT * at the default budget: whole rows, as many as fit, long cells
    // abbreviated with markers, and the counts of what was left out.
    let cut = answer(&report, "query", 0);
    let rows = cut["rows"].as_array().unwrap();
    assert!(!rows.is_empty() && rows.len() < 50, "{cut}");
    assert_eq!(cut["n_rows"], rows.len());
    assert_eq!(cut["truncated"], true);
    assert_eq!(cut["truncated_by"], "budget");
    assert_eq!(cut["total_rows"], 50);
    let budget = &call(&report, "query", 0)["structured"]["budget"];
    assert_eq!(budget["max_bytes"], 16384);
    assert_eq!(budget["truncated"], true);
    assert!(budget["abbreviated"].as_u64().unwrap() >= 2 * rows.len() as u64);
    let columns: Vec<&str> = cut["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|column| column.as_str().unwrap())
        .collect();
    let at = |name: &str| columns.iter().position(|column| *column == name).unwrap();
    let caption = rows[0][at("caption")].as_str().unwrap();
    let (kept, marker) = caption.split_once('…').unwrap();
    let left: usize = marker
        .strip_prefix("[+")
        .and_then(|rest| rest.strip_suffix(" chars]"))
        .unwrap()
        .parse()
        .unwrap();
    let id = rows[0][at("id")].to_string();
    assert_eq!(
        kept.chars().count() + left,
        id.len() + 1 + 5 * 2000,
        "{caption}"
    );
    let embedding = rows[0][at("embedding")].as_array().unwrap();
    let (last, floats) = embedding.split_last().unwrap();
    let left: usize = last
        .as_str()
        .and_then(|text| text.strip_prefix("…[+"))
        .and_then(|rest| rest.strip_suffix(" items]"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(floats.len() + left, 5000);
    assert!(floats.iter().all(|value| value == &json!(0.25)));

    // Columns come in the schema's order, structs spread into their fields.
    let clips = answer(&report, "query", 1);
    assert_eq!(
        clips["columns"],
        answer(&report, "dataset_schema", 0)["columns"]
    );
    assert!(
        clips["columns"]
            .as_array()
            .unwrap()
            .contains(&json!("file.path"))
    );
    assert_eq!(
        cut["columns"],
        answer(&report, "dataset_schema", 1)["columns"]
    );
    assert_eq!(clips["n_rows"], 6);
    assert_eq!(clips["truncated"], false);

    // Cut by the limit: the whole result is still counted.
    let limited = answer(&report, "query", 2);
    assert_eq!(limited["n_rows"], 5);
    assert_eq!(limited["truncated_by"], "limit");
    assert_eq!(limited["total_rows"], 50);

    // A larger budget gives a long cell whole.
    let whole = answer(&report, "query", 3);
    let caption = whole["rows"][0][0].as_str().unwrap();
    assert_eq!(caption.len(), 2 + 5 * 2000, "{caption}");
    assert_eq!(whole["truncated"], false);

    // The budget has a range.
    let small = call(&report, "query", 4);
    assert_eq!(small["is_error"], true);
    assert!(
        small["text"]
            .as_str()
            .unwrap()
            .contains("max_bytes 100 is out of range: give 1024 to 131072"),
        "{small}"
    );

    // A list cut to the budget says where, how many it kept and how many there were.
    let listed = call(&report, "list_datasets", 0);
    let datasets = listed["structured"]["datasets"].as_array().unwrap();
    assert_eq!(listed["structured"]["n_datasets"], 3);
    assert!(datasets.len() < 3, "{listed}");
    let cuts = listed["structured"]["budget"]["cuts"].as_array().unwrap();
    let cut = cuts.iter().find(|cut| cut["path"] == "/datasets").unwrap();
    assert_eq!(cut["kept"], datasets.len());
    assert_eq!(cut["total"], 3);

    // Summaries honour max_tokens (4 characters each) as JSON and as Markdown.
    for nth in [0, 1] {
        let summary = call(&report, "dataset_summary", nth);
        assert_eq!(summary["is_error"], false, "{summary}");
        let text = summary["text"].as_str().unwrap();
        assert!(text.chars().count() <= 300 * 4, "{}: {text}", text.len());
    }
    let json_summary = &call(&report, "dataset_summary", 0)["structured"];
    assert_eq!(json_summary["summary"]["name"], "local.default.wide");
    assert_eq!(json_summary["budget"]["truncated"], true);
    let tight = call(&report, "dataset_summary", 2);
    assert_eq!(tight["is_error"], false, "{tight}");
    assert!(
        tight["text"]
            .as_str()
            .unwrap()
            .starts_with("# team.vision.clips@1.0.0")
    );
    assert_eq!(tight["structured"]["budget"]["truncated"], true);

    // The hard maximum holds too.
    let big = answer(&report, "query", 5);
    assert!(big["n_rows"].as_u64().unwrap() > rows.len() as u64, "{big}");
}
