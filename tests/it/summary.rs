//! `pail summary`: the stored summary object field by field on the fixtures, the page's
//! token bound, and `--all`.

use crate::common;

use common::{Pail, write_file};
use serde_json::{Value, json};

fn clips() -> Pail {
    let pail = Pail::new();
    pail.ok(&["init"]);
    common::copy_clips_fixture(&pail.work);
    pail.ok(&[
        "commit",
        "team.vision.clips",
        "--from",
        "clips.jsonl",
        "--schema",
        "clip.schema.json",
        "--code",
        "make_clips.py",
        "-m",
        "six clips",
    ]);
    pail
}

fn column<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|column| column["column"] == name)
        .unwrap_or_else(|| panic!("no column {name}: {summary}"))
}

#[test]
fn clips_summary_field_by_field() {
    let pail = clips();
    let summary = pail.json(&["summary", "team.vision.clips", "--json"]);
    let shown = pail.json(&["show", "team.vision.clips", "--json"]);
    assert!(shown["summary"].is_string(), "the commit names its summary");
    assert_eq!(summary["id"], shown["id"]);
    assert_eq!(summary["name"], "team.vision.clips");
    assert_eq!(summary["version"], "1.0.0");
    assert_eq!(summary["format"], 1);
    assert_eq!(summary["n_rows"], 6);
    assert_eq!(summary["n_bytes"], 9_175_040);
    assert_eq!(summary["key"], json!(["file.source", "file.path"]));

    let columns: Vec<&str> = summary["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|column| column["column"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            // The model's declared order (JSON Schema `properties` order).
            "file.source",
            "file.path",
            "file.size",
            "file.etag",
            "file.version",
            "file.last_modified",
            "file.blake3",
            "start",
            "end",
            "weather",
            "labels",
            "captured",
            "note",
        ]
    );

    let size = column(&summary, "file.size");
    assert_eq!(size["type"], "optional<int>");
    assert_eq!(size["n_nulls"], 0);
    assert_eq!(size["min"], 524_288);
    assert_eq!(size["max"], 3_145_728);
    assert_eq!(size["distinct"], 6);
    assert_eq!(size["distinct_exact"], true);

    let source = column(&summary, "file.source");
    assert_eq!(
        source["top"],
        json!([{"value": "s3://team-bucket", "count": 6}])
    );
    assert_eq!(source["distinct"], 1);

    let etag = column(&summary, "file.etag");
    assert_eq!(etag["n_nulls"], 6);
    assert_eq!(etag["distinct"], 0);
    assert_eq!(etag["min"], Value::Null);

    let start = column(&summary, "start");
    assert_eq!(start["type"], "float");
    assert_eq!(start["min"], 0.0);
    assert_eq!(start["max"], 10.0);
    assert_eq!(start["distinct"], 5);
    assert_eq!(start["top"][0], json!({"value": "0", "count": 2}));
    let end = column(&summary, "end");
    assert_eq!(end["min"], 1.0);
    assert_eq!(end["max"], 12.5);

    // An enum counts every declared value, in declaration order, zeros included.
    let weather = column(&summary, "weather");
    assert_eq!(weather["type"], "enum(clear, rain, fog, snow, night)");
    assert_eq!(
        weather["top"],
        json!([
            {"value": "clear", "count": 2},
            {"value": "rain", "count": 1},
            {"value": "fog", "count": 1},
            {"value": "snow", "count": 1},
            {"value": "night", "count": 1},
        ])
    );
    assert_eq!(weather["distinct"], 5);

    let labels = column(&summary, "labels");
    assert_eq!(labels["type"], "optional<list<string>>");
    assert_eq!(labels["lengths"], json!({"min": 0, "max": 2, "total": 7}));
    assert_eq!(labels["distinct"], 4);
    assert_eq!(
        labels["top"],
        json!([
            {"value": "car", "count": 3},
            {"value": "pedestrian", "count": 2},
            {"value": "cyclist", "count": 1},
            {"value": "truck", "count": 1},
        ])
    );
    assert_eq!(labels["min"], "car");
    assert_eq!(labels["max"], "truck");

    // Datetimes are normalized to UTC: 09:30+02:00 is the earliest.
    let captured = column(&summary, "captured");
    assert_eq!(captured["type"], "datetime");
    assert_eq!(captured["min"], "2024-05-01T07:30:00.000000Z");
    assert_eq!(captured["max"], "2024-05-03T15:20:00.000000Z");
    assert_eq!(captured["n_nulls"], 0);

    let note = column(&summary, "note");
    assert_eq!(note["type"], "optional<string>");
    assert_eq!(note["n_nulls"], 4);
    assert_eq!(note["distinct"], 2);
    assert_eq!(note["min"], "chains");
    assert_eq!(note["max"], "wipers on");

    let files = summary["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    let file = &files[0];
    assert_eq!(file["column"], "file");
    assert_eq!(file["n_files"], 6);
    assert_eq!(
        file["sources"],
        json!([{"value": "s3://team-bucket", "count": 6}])
    );
    assert_eq!(file["extensions"], json!([{"value": "mp4", "count": 6}]));
    assert_eq!(file["sizes"]["min"], 524_288);
    assert_eq!(file["sizes"]["max"], 3_145_728);
    assert_eq!(file["sizes"]["total"], 9_175_040);
    // ≤1 KiB, ≤64 KiB, ≤1 MiB, ≤16 MiB, ≤256 MiB, ≤4 GiB, larger.
    assert_eq!(file["sizes"]["buckets"], json!([0, 0, 3, 3, 0, 0, 0]));

    // Examples: the first rows in key order (file.source, file.path), as a table whose
    // columns keep the schema's declared order, a struct's (here File's) fields spread
    // into columns of their own in its order (an object would print them sorted).
    let examples = &summary["examples"];
    assert_eq!(
        examples["columns"],
        json!([
            "file.source",
            "file.path",
            "file.size",
            "file.etag",
            "file.version",
            "file.last_modified",
            "file.blake3",
            "start",
            "end",
            "weather",
            "labels",
            "captured",
            "note"
        ])
    );
    let rows = examples["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][1], "videos/drive_001.mp4");
    assert_eq!(rows[1][1], "videos/drive_002.mp4");
    assert_eq!(rows[1][12], "wipers on");

    let lineage = &summary["lineage"];
    assert_eq!(lineage["parents"], json!([]));
    assert_eq!(lineage["code"], json!(["make_clips.py"]));
    assert_eq!(lineage["author"], "Test Author <test@example.com>");
    assert_eq!(lineage["time"], "2026-01-02T03:04:05.000000Z");
    assert_eq!(lineage["message"], "six clips");
    assert_eq!(lineage["command"][1], "commit");
    assert_eq!(summary["changes"], Value::Null);

    // The page says the same in Markdown.
    let page = pail.ok(&["summary", "team.vision.clips@1.0.0"]).stdout;
    assert!(
        page.starts_with("# team.vision.clips@1.0.0\n\n6 rows, 8.8 MiB, 13 columns."),
        "{page}"
    );
    assert!(
        page.contains("| weather | enum(clear, rain, fog, snow, night) | 0 | 5 | clear … snow | clear (2), rain (1), fog (1), snow (1), night (1) |"),
        "{page}"
    );
    assert!(page.contains("| labels | optional<list<string>> | 0 | 4 | car … truck | len 0–2; car (3), pedestrian (2), cyclist (1), truck (1) |"), "{page}");
    assert!(page.contains("  - extensions: mp4 (6)"), "{page}");
    assert!(page.contains("- parent: none (first version)"), "{page}");
    assert!(page.contains("```json\n{"), "{page}");
}

#[test]
fn a_new_version_records_what_changed() {
    let pail = clips();
    let mut rows = std::fs::read_to_string(pail.work.join("clips.jsonl")).unwrap();
    rows.push_str("{\"file\": {\"source\": \"s3://team-bucket\", \"path\": \"videos/drive_007.MOV\", \"size\": 10}, \"start\": 0.0, \"end\": 1.0, \"weather\": \"rain\", \"captured\": \"2024-05-04T00:00:00Z\"}\n");
    write_file(&pail.work.join("more.jsonl"), rows.as_bytes());
    pail.ok(&[
        "commit",
        "team.vision.clips",
        "--from",
        "more.jsonl",
        "--schema",
        "clip.schema.json",
        "-m",
        "a seventh",
    ]);
    let summary = pail.json(&["summary", "team.vision.clips@1.0.1", "--json"]);
    let first = pail.json(&["show", "team.vision.clips@1.0.0", "--json"]);
    assert_eq!(summary["n_rows"], 7);
    let changes = &summary["changes"];
    assert_eq!(changes["parent"], first["id"]);
    assert_eq!(changes["n_rows_before"], 6);
    assert_eq!(changes["n_rows_delta"], 1);
    assert_eq!(changes["n_bytes_delta"], 10);
    assert_eq!(changes["schema_changes"], json!([]));
    assert_eq!(summary["lineage"]["parents"], json!([first["id"]]));
    assert_eq!(summary["lineage"]["parent_versions"], json!(["1.0.0"]));
    let extensions = &summary["files"][0]["extensions"];
    assert_eq!(
        *extensions,
        json!([{"value": "mp4", "count": 6}, {"value": "mov", "count": 1}])
    );
    assert_eq!(summary["files"][0]["sizes"]["buckets"][0], 1);
    let page = pail.ok(&["summary", "team.vision.clips"]).stdout;
    assert!(
        page.contains("## Changes since 1.0.0\n\n- rows: 6 → 7 (+1)\n"),
        "{page}"
    );
    assert!(page.contains("- parent: 1.0.0 ("), "{page}");
}

#[test]
fn the_same_rows_in_another_order_give_the_same_commit() {
    let rows = std::fs::read_to_string(common::fixture("clips/clips.jsonl")).unwrap();
    let reversed: String = rows.lines().rev().map(|line| format!("{line}\n")).collect();
    let mut ids = Vec::new();
    for input in [&rows, &reversed] {
        let pail = Pail::new();
        pail.ok(&["init"]);
        let created = pail.json_stdin(&["commit", "clips", "--from", "-", "--json"], input);
        let shown = pail.json(&["show", "clips", "--json"]);
        ids.push((created["id"].clone(), shown["summary"].clone()));
    }
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn a_listing_summary_counts_extensions_and_sizes() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let photos = pail.work.join("photos");
    write_file(&photos.join("a/one.jpg"), &[0u8; 2000]);
    write_file(&photos.join("a/two.JPG"), &[0u8; 100]);
    write_file(&photos.join("b/three.png"), &[0u8; 70_000]);
    write_file(&photos.join("b/README"), b"read me");
    pail.ok(&["commit", "photos", "photos"]);
    let summary = pail.json(&["summary", "photos", "--json"]);
    assert_eq!(summary["n_rows"], 4);
    assert_eq!(summary["n_bytes"], 72_107);
    let file = &summary["files"][0];
    assert_eq!(file["n_files"], 4);
    assert_eq!(file["n_sources"], 1);
    assert_eq!(
        file["extensions"],
        json!([{"value": "jpg", "count": 2}, {"value": "", "count": 1}, {"value": "png", "count": 1}])
    );
    assert_eq!(file["sizes"]["buckets"], json!([2, 1, 1, 0, 0, 0, 0]));
    assert_eq!(column(&summary, "file.path")["distinct"], 4);
    assert_eq!(column(&summary, "file.etag")["n_nulls"], 0);
    assert_eq!(summary["lineage"]["inputs"][0]["type"], "source");
    let page = pail.ok(&["summary", "photos"]).stdout;
    assert!(
        page.contains("  - extensions: jpg (2), (none) (1), png (1)"),
        "{page}"
    );
}

/// Checks the page bound: at most 4 characters per token, whole lines only.
fn assert_bounded(page: &str, max_tokens: usize) {
    assert!(
        page.chars().count() <= max_tokens * 4,
        "{} chars over {max_tokens} tokens",
        page.chars().count()
    );
    assert!(page.ends_with('\n'), "{page}");
    for line in page.lines() {
        if line.starts_with("| ") {
            assert!(line.ends_with(" |"), "a cut table line: {line}");
        }
    }
}

#[test]
fn a_300_column_dataset_stays_within_the_token_bound() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let mut records = String::new();
    for row in 0..20 {
        let object: serde_json::Map<String, Value> = (0..300)
            .map(|col| {
                let value = match col % 3 {
                    0 => json!(row * col),
                    1 => json!(format!(
                        "value {row} of a rather long text column number {col}"
                    )),
                    _ => json!(row % 2 == 0),
                };
                (format!("measurement_column_{col:03}"), value)
            })
            .collect();
        records.push_str(&Value::Object(object).to_string());
        records.push('\n');
    }
    pail.ok_stdin(&["commit", "wide", "--from", "-"], &records);
    let page = pail.ok(&["summary", "wide"]).stdout;
    assert_bounded(&page, 2000);
    assert!(page.contains("300 columns"), "{page}");
    assert!(
        page.contains("more columns | `pail schema local.default.wide@1.0.0` lists them all"),
        "{page}"
    );
    assert!(page.contains("## Lineage"), "{page}");
    for tokens in ["50", "200", "500", "5000"] {
        let page = pail.ok(&["summary", "wide", "--max-tokens", tokens]).stdout;
        assert_bounded(&page, tokens.parse().unwrap());
    }
    // The JSON object keeps every column.
    let summary = pail.json(&["summary", "wide", "--json"]);
    assert_eq!(summary["columns"].as_array().unwrap().len(), 300);
}

#[test]
fn summary_all_writes_a_page_per_dataset_and_an_index() {
    let pail = clips();
    pail.ok_stdin(
        &["commit", "other", "--from", "-", "-m", "tiny"],
        "{\"a\": 1}\n",
    );
    let out = pail.json(&["summary", "--all", "-o", "pages", "--json"]);
    assert_eq!(out["pages"].as_array().unwrap().len(), 2);
    let index = std::fs::read_to_string(pail.work.join("pages/index.md")).unwrap();
    assert_eq!(
        index,
        "# Datasets\n\n\
         - [local.default.other@1.0.0](local.default.other.md): 1 rows, 0 B: tiny\n\
         - [team.vision.clips@1.0.0](team.vision.clips.md): 6 rows, 8.8 MiB: six clips\n"
    );
    let page = std::fs::read_to_string(pail.work.join("pages/team.vision.clips.md")).unwrap();
    assert!(page.starts_with("# team.vision.clips@1.0.0\n"));
    // Usage errors are exit 1.
    pail.fails(1, &["summary", "--all"]);
    pail.fails(1, &["summary", "nosuch"]);
}
