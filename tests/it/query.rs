//! diff, status, query and export end to end through the `pail` binary, plus the library
//! API (`Repo::diff`, `pail::query`).

use crate::common;

use std::path::Path;

use common::{Pail, write_file};
use serde_json::{Value, json};

/// 100 files d{0..6}/fNNNN.jpg with content "file N" (6 or 7 bytes).
fn make_tree(root: &Path, n: usize) {
    for idx in 0..n {
        write_file(
            &root.join(format!("d{}/f{idx:04}.jpg", idx % 7)),
            format!("file {idx}").as_bytes(),
        );
    }
}

/// The delta: 20 added (new/), 10 rewritten with new sizes, 5 deleted.
fn apply_delta(root: &Path) {
    for idx in 100..120 {
        write_file(&root.join(format!("new/n{idx}.png")), b"new");
    }
    for idx in 0..10 {
        write_file(
            &root.join(format!("d{}/f{idx:04}.jpg", idx % 7)),
            b"changed content!!",
        );
    }
    for idx in 10..15 {
        std::fs::remove_file(root.join(format!("d{}/f{idx:04}.jpg", idx % 7))).unwrap();
    }
}

fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect()
}

fn photos_with_delta() -> Pail {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let photos = pail.work.join("photos");
    make_tree(&photos, 100);
    pail.ok(&["commit", "photos", "./photos"]);
    apply_delta(&photos);
    pail.ok(&["commit", "photos", "./photos"]);
    pail
}

#[test]
fn diff_counts_and_lists_the_delta() {
    let pail = photos_with_delta();
    let stat = pail.json(&["diff", "photos@1.0.0", "photos@1.0.1", "--stat", "--json"]);
    assert_eq!(stat["added"], 20);
    assert_eq!(stat["removed"], 5);
    assert_eq!(stat["modified"], 10);
    assert_eq!(stat["schema"]["compat"], "same");
    assert_eq!(stat["old"]["version"], "1.0.0");
    assert_eq!(stat["new"]["version"], "1.0.1");

    let text = pail.ok(&["diff", "photos@1.0.0", "photos@1.0.1"]).stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 36, "{text}");
    assert_eq!(lines[35], "+20 added, -5 removed, ~10 modified");
    assert!(
        lines.contains(&"~ d0/f0000.jpg  (file.size, file.etag)")
            || lines.contains(&"~ d0/f0000.jpg  (file.size)"),
        "{text}"
    );
    assert!(lines.contains(&"- d3/f0010.jpg"), "{text}");
    assert!(lines.contains(&"+ new/n119.png"), "{text}");
    // Rows come in key order.
    let keys: Vec<&str> = lines[..35].iter().map(|line| &line[2..]).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);

    let full = pail.json(&["diff", "photos@1.0.0", "photos", "--json"]);
    let rows = full["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 35);
    assert_eq!(full["added"], 20);
    let modified = rows.iter().find(|row| row["change"] == "modified").unwrap();
    assert_eq!(modified["key"]["file.path"], "d0/f0000.jpg");
    assert_eq!(modified["old"]["file"]["size"], 6);
    assert_eq!(modified["new"]["file"]["size"], 17);
    assert!(
        modified["columns"]
            .as_array()
            .unwrap()
            .contains(&json!("file.size"))
    );

    // Backwards: the counts swap. Same version: nothing.
    let back = pail.json(&["diff", "photos@1.0.1", "photos@1.0.0", "--stat", "--json"]);
    assert_eq!(
        (back["added"].clone(), back["removed"].clone()),
        (json!(5), json!(20))
    );
    let same = pail.ok(&["diff", "photos@1.0.1", "photos@latest"]).stdout;
    assert_eq!(same, "+0 added, -0 removed, ~0 modified\n");
}

#[test]
fn diff_of_a_large_tree_reads_only_the_changed_leaves() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let dir = pail.work.join("big");
    for idx in 0..3000 {
        write_file(
            &dir.join(format!("a/{idx:05}.txt")),
            format!("{idx}").as_bytes(),
        );
    }
    pail.ok(&["commit", "big", "big"]);
    write_file(&dir.join("a/01500.txt"), b"rewritten");
    write_file(&dir.join("a/01500b.txt"), b"new");
    std::fs::remove_file(dir.join("a/02999.txt")).unwrap();
    pail.ok(&["commit", "big", "big"]);
    let stat = pail.json(&["diff", "big@1.0.0", "big@1.0.1", "--stat", "--json"]);
    assert_eq!(
        (&stat["added"], &stat["removed"], &stat["modified"]),
        (&json!(1), &json!(1), &json!(1))
    );

    let repo = pail::Repo::discover(&pail.work).unwrap();
    let old = repo.resolve(&repo.parse_ref("big@1.0.0").unwrap()).unwrap();
    let new = repo.resolve(&repo.parse_ref("big@1.0.1").unwrap()).unwrap();
    let n_leaves = {
        let diff = pail::diff::diff(&repo, &old, &old).unwrap();
        assert!(diff.rows_equal());
        assert_eq!(diff.differing_leaves(), 0);
        pail::query::DatasetTable::open(&repo, &old, Default::default())
            .unwrap()
            .leaves_matching(&[])
    };
    let diff = pail::diff::diff(&repo, &old, &new).unwrap();
    assert!(
        n_leaves >= 4,
        "the fixture spans several leaves: {n_leaves}"
    );
    assert!(
        diff.differing_leaves() <= 6,
        "{} of {n_leaves} leaves differ",
        diff.differing_leaves()
    );
    let changes: Vec<_> = diff.rows(&repo).collect::<Result<_, _>>().unwrap();
    let kinds: Vec<(&str, String)> = changes
        .iter()
        .map(|change| {
            (
                change.kind.as_str(),
                change.key[1].1.as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("modified", "a/01500.txt".to_string()),
            ("added", "a/01500b.txt".to_string()),
            ("removed", "a/02999.txt".to_string())
        ]
    );
}

#[test]
fn diff_reports_schema_changes_and_changed_columns_of_records() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    write_file(
        &pail.work.join("v1.jsonl"),
        b"{\"id\": 1, \"label\": \"cat\", \"meta\": {\"w\": 10, \"h\": 20}}\n{\"id\": 2, \"label\": \"dog\", \"meta\": {\"w\": 30, \"h\": 40}}\n{\"id\": 3, \"label\": \"eel\", \"meta\": {\"w\": 1, \"h\": 2}}\n",
    );
    write_file(
        &pail.work.join("v2.jsonl"),
        b"{\"id\": 1, \"label\": \"cat\", \"meta\": {\"w\": 10, \"h\": 21}, \"score\": 0.5}\n{\"id\": 2, \"label\": \"dog\", \"meta\": {\"w\": 30, \"h\": 40}, \"score\": 0.9}\n{\"id\": 4, \"label\": \"fox\", \"meta\": {\"w\": 5, \"h\": 5}, \"score\": 0.1}\n",
    );
    pail.ok(&["commit", "labels", "--from", "v1.jsonl", "--key", "id"]);
    pail.ok(&[
        "commit", "labels", "--from", "v2.jsonl", "--key", "id", "--bump", "minor",
    ]);
    let text = pail.ok(&["diff", "labels@1.0.0", "labels@1.1.0"]).stdout;
    assert_eq!(
        text,
        "schema: column `score` added\n~ 1  (meta.h)\n- 3\n+ 4\n+1 added, -1 removed, ~1 modified\n"
    );
    let stat = pail.json(&["diff", "labels@1.1.0", "labels@1.0.0", "--stat", "--json"]);
    assert_eq!(stat["schema"]["compat"], "breaking");
    assert_eq!(stat["schema"]["changes"], json!(["column `score` removed"]));

    // A different key cannot be compared row by row.
    pail.ok(&["commit", "other", "--from", "v1.jsonl", "--key", "label"]);
    let out = pail.fails(1, &["diff", "labels@1.0.0", "other"]);
    assert!(out.stderr.contains("row keys differ"), "{}", out.stderr);
}

/// Digests recorded with --hash stay with the files that did not change: a plain
/// re-commit keeps them (and reuses the unchanged leaves), and a re-commit with --hash
/// hashes only what is new or changed.
#[test]
fn recorded_digests_carry_over_to_unchanged_files() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let photos = pail.work.join("photos");
    make_tree(&photos, 100);
    pail.ok(&["commit", "photos", "./photos", "--hash"]);
    apply_delta(&photos);

    let stat = pail.json(&["status", "photos", "--stat", "--json"]);
    assert_eq!(
        (&stat["added"], &stat["removed"], &stat["modified"]),
        (&json!(20), &json!(5), &json!(10))
    );
    pail.ok(&["commit", "photos", "./photos"]);
    let stat = pail.json(&["diff", "photos@1.0.0", "photos@1.0.1", "--stat", "--json"]);
    assert_eq!(
        (&stat["added"], &stat["removed"], &stat["modified"]),
        (&json!(20), &json!(5), &json!(10))
    );
    let rows = jsonl(&pail.ok(&["rows", "photos@1.0.1", "--json"]).stdout);
    assert_eq!(rows.len(), 115);
    for row in &rows {
        let path = row["file"]["path"].as_str().unwrap();
        let bytes = std::fs::read(photos.join(path)).unwrap();
        let idx: usize = path[path.len() - 8..path.len() - 4].parse().unwrap_or(999);
        if idx < 10 || path.starts_with("new/") {
            assert!(row["file"]["blake3"].is_null(), "changed or new: {row}");
        } else {
            assert_eq!(
                row["file"]["blake3"],
                blake3::hash(&bytes).to_hex().to_string(),
                "{row}"
            );
        }
    }

    // With --hash, the 30 rows without a digest get one: a new version, though not a
    // change diff reports (a digest counts only where both sides recorded one).
    let created = pail.json(&["commit", "photos", "./photos", "--hash", "--json"]);
    assert_eq!(created["version"], "1.0.2");
    let stat = pail.json(&["diff", "photos@1.0.1", "photos@1.0.2", "--stat", "--json"]);
    assert_eq!(
        (&stat["added"], &stat["removed"], &stat["modified"]),
        (&json!(0), &json!(0), &json!(0))
    );
    let rows = jsonl(&pail.ok(&["rows", "photos@1.0.2", "--json"]).stdout);
    for row in &rows {
        let bytes = std::fs::read(photos.join(row["file"]["path"].as_str().unwrap())).unwrap();
        assert_eq!(
            row["file"]["blake3"],
            blake3::hash(&bytes).to_hex().to_string()
        );
    }
}

#[test]
fn status_reports_uncommitted_changes_and_writes_nothing() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let photos = pail.work.join("photos");
    make_tree(&photos, 100);
    pail.ok(&["commit", "photos", "./photos"]);
    let out = pail.ok(&["status", "photos"]).stdout;
    assert!(out.starts_with("nothing to commit: file:///"), "{out}");

    apply_delta(&photos);
    let stat = pail.json(&["status", "photos", "--stat", "--json"]);
    assert_eq!(
        (&stat["added"], &stat["removed"], &stat["modified"]),
        (&json!(20), &json!(5), &json!(10))
    );
    assert_eq!(stat["old"]["version"], "1.0.0");
    let text = pail.ok(&["status", "photos"]).stdout;
    assert!(text.contains("+ new/n100.png"), "{text}");
    assert!(
        text.ends_with("+20 added, -5 removed, ~10 modified\n"),
        "{text}"
    );
    let log = pail.json(&["log", "photos", "--json"]);
    assert_eq!(log.as_array().unwrap().len(), 1, "status wrote a version");
    assert!(
        std::fs::read_dir(pail.work.join(".pail/tmp"))
            .map(|dir| dir.count())
            .unwrap_or(0)
            == 0,
        "status left staged files behind"
    );

    // An explicit SOURCE; and datasets saved from records have none to default to.
    let copy = pail.work.join("copy");
    make_tree(&copy, 3);
    let stat = pail.json(&["status", "photos", "copy", "--stat", "--json"]);
    assert_eq!((&stat["added"], &stat["removed"]), (&json!(3), &json!(100)));
    write_file(&pail.work.join("r.jsonl"), b"{\"a\": 1}\n");
    pail.ok(&["commit", "recs", "--from", "r.jsonl"]);
    let out = pail.fails(1, &["status", "recs"]);
    assert!(
        out.stderr.contains("not committed from a storage listing"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("hint: give the source"),
        "{}",
        out.stderr
    );
    pail.fails(1, &["status", "nothere"]);
}

/// photos: 5 files of known sizes; clips: records referencing two of them.
fn query_fixture() -> Pail {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let photos = pail.work.join("photos");
    for (path, size) in [
        ("a/one.jpg", 10),
        ("a/two.JPG", 20),
        ("b/three.png", 30),
        ("b/deep/four.png", 40),
        ("readme", 5),
    ] {
        write_file(&photos.join(path), &vec![b'x'; size]);
    }
    pail.ok(&["commit", "photos", "photos"]);
    write_file(&photos.join("c/five.jpg"), &[b'y'; 50]);
    pail.ok(&["commit", "photos", "photos"]);
    let source = format!("file://{}", photos.display());
    let clips = format!(
        "{{\"file\": {{\"source\": \"{source}\", \"path\": \"a/one.jpg\"}}, \"start\": 0.5, \"tags\": [\"x\", \"y\"]}}\n{{\"file\": {{\"source\": \"{source}\", \"path\": \"b/three.png\"}}, \"start\": 1.5, \"tags\": []}}\n"
    );
    write_file(&pail.work.join("clips.jsonl"), clips.as_bytes());
    pail.ok(&["commit", "team.vision.clips", "--from", "clips.jsonl"]);
    pail.ok(&["tag", "team.vision.clips@1.0.0", "golden"]);
    pail
}

fn query_rows(pail: &Pail, sql: &str) -> Vec<Value> {
    jsonl(&pail.ok(&["query", sql, "--format", "jsonl"]).stdout)
}

#[test]
fn query_filters_groups_and_joins_by_dataset_ref() {
    let pail = query_fixture();
    assert_eq!(
        query_rows(
            &pail,
            "SELECT file.path AS path, file.size AS size FROM photos WHERE file.size > 15 ORDER BY path"
        ),
        [
            json!({"path": "a/two.JPG", "size": 20}),
            json!({"path": "b/deep/four.png", "size": 40}),
            json!({"path": "b/three.png", "size": 30}),
            json!({"path": "c/five.jpg", "size": 50}),
        ]
    );
    // An older version by its quoted ref.
    assert_eq!(
        query_rows(
            &pail,
            "SELECT count(*) AS n, sum(file.size) AS bytes FROM \"photos@1.0.0\""
        ),
        [json!({"n": 5, "bytes": 105})]
    );
    assert_eq!(
        query_rows(
            &pail,
            "SELECT file_ext(file.path) AS ext, count(*) AS n, sum(file.size) AS bytes FROM photos GROUP BY 1 ORDER BY n DESC, ext"
        ),
        [
            json!({"ext": "jpg", "n": 2, "bytes": 60}),
            json!({"ext": "png", "n": 2, "bytes": 70}),
            json!({"ext": "", "n": 1, "bytes": 5}),
            json!({"ext": "JPG", "n": 1, "bytes": 20}),
        ]
    );
    let helpers = query_rows(
        &pail,
        "SELECT file_name(file.path) AS name, file_dir(file) AS dir, file_ext(file) AS ext, file_uri(file) AS uri \
         FROM photos WHERE file.path = 'b/deep/four.png'",
    );
    let source = format!("file://{}", pail.work.join("photos").display());
    assert_eq!(
        helpers,
        [
            json!({"name": "four.png", "dir": "b/deep", "ext": "png", "uri": format!("{source}/b/deep/four.png")})
        ]
    );
    // Join across datasets; a tag; an unquoted namespace.project.name.
    assert_eq!(
        query_rows(
            &pail,
            "SELECT c.file.path AS path, p.file.size AS size, c.start AS start FROM \"team.vision.clips@golden\" c \
             JOIN photos p ON c.file.path = p.file.path ORDER BY path"
        ),
        [
            json!({"path": "a/one.jpg", "size": 10, "start": 0.5}),
            json!({"path": "b/three.png", "size": 30, "start": 1.5}),
        ]
    );
    assert_eq!(
        query_rows(
            &pail,
            "SELECT tags, array_length(tags) AS n FROM team.vision.clips ORDER BY start"
        ),
        [
            json!({"tags": ["x", "y"], "n": 2}),
            json!({"tags": [], "n": 0})
        ]
    );
}

/// Comparisons with a literal are applied by the scan itself, which then decodes only the
/// struct fields they read; every answer must be DataFusion's own (forced here by
/// `(predicate) IS TRUE`, which the scan leaves to DataFusion).
#[test]
fn filters_the_scan_applies_give_datafusions_answers() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let mut records = String::new();
    for id in 0..2000 {
        let meta = if id % 5 == 0 {
            "null".to_string()
        } else {
            format!("{{\"h\": {}, \"tag\": \"t{}\"}}", id % 7, id % 3)
        };
        let score = if id % 4 == 0 {
            "null".to_string()
        } else {
            format!("{}.5", id % 10)
        };
        records.push_str(&format!(
            "{{\"id\": {id}, \"name\": \"n{:04}\", \"score\": {score}, \"ok\": {}, \"at\": \"2024-01-{:02}T00:00:00Z\", \"meta\": {meta}}}\n",
            id % 100,
            id % 2 == 0,
            1 + id % 28,
        ));
    }
    write_file(&pail.work.join("recs.jsonl"), records.as_bytes());
    pail.ok(&["commit", "recs", "--from", "recs.jsonl", "--key", "id"]);
    let plan = query_rows(
        &pail,
        "EXPLAIN SELECT count(*) AS n FROM recs WHERE meta.h > 3",
    );
    assert!(!format!("{plan:?}").contains("FilterExec"), "{plan:?}");
    let plan = query_rows(
        &pail,
        "EXPLAIN SELECT count(*) AS n FROM recs WHERE (meta.h > 3) IS TRUE",
    );
    assert!(format!("{plan:?}").contains("FilterExec"), "{plan:?}");
    // A field of a null struct is null, however the leaf stores it.
    assert_eq!(
        query_rows(&pail, "SELECT count(*) AS n FROM recs WHERE meta.h > 3"),
        [json!({"n": (0..2000).filter(|id| id % 5 != 0 && id % 7 > 3).count()})]
    );
    assert_eq!(
        query_rows(
            &pail,
            "SELECT count(meta.h) AS h, count(meta.tag) AS tag FROM recs WHERE id % 5 = 0"
        ),
        [json!({"h": 0, "tag": 0})]
    );

    for predicate in [
        "meta.h > 3",
        "meta.h = 0 OR meta.tag = 't1'",
        "3 < meta.h AND meta.tag <> 't2'",
        "score >= 4.5",
        "score != 2.5 OR id < 10",
        "name <= 'n0042'",
        "ok = true AND id >= 1500",
        "at > TIMESTAMP '2024-01-20T00:00:00Z'",
        "meta.h > 3 AND score > 1.0 AND name > 'n0050'",
    ] {
        for select in [
            "count(*) AS n",
            "sum(id) AS s, min(name) AS lo, max(meta.h) AS hi",
        ] {
            let exact = query_rows(
                &pail,
                &format!("SELECT {select} FROM recs WHERE {predicate}"),
            );
            let forced = query_rows(
                &pail,
                &format!("SELECT {select} FROM recs WHERE ({predicate}) IS TRUE"),
            );
            assert_eq!(exact, forced, "{predicate} / {select}");
            assert_ne!(
                exact[0].as_object().unwrap().values().next(),
                Some(&json!(0)),
                "{predicate}"
            );
        }
        let ids = query_rows(
            &pail,
            &format!("SELECT id FROM recs WHERE {predicate} ORDER BY id"),
        );
        let forced = query_rows(
            &pail,
            &format!("SELECT id FROM recs WHERE ({predicate}) IS TRUE ORDER BY id"),
        );
        assert_eq!(ids, forced, "{predicate}");
    }
}

#[test]
fn query_prints_tables_csv_and_parquet() {
    let pail = query_fixture();
    let table = pail
        .ok(&[
            "query",
            "SELECT file.path AS path, file.size AS size FROM photos WHERE file.size < 15 ORDER BY path",
        ])
        .stdout;
    assert_eq!(table, "path       size\na/one.jpg  10\nreadme     5\n");
    let csv = pail
        .ok(&[
            "query",
            "SELECT file.path AS path, 'a,b' AS odd FROM photos WHERE file.size = 5",
            "--format",
            "csv",
        ])
        .stdout;
    assert_eq!(csv, "path,odd\nreadme,\"a,b\"\n");
    let empty = pail
        .ok(&[
            "query",
            "SELECT file.path AS path FROM photos WHERE file.size > 1000",
            "--format",
            "csv",
        ])
        .stdout;
    assert_eq!(empty, "path\n");

    pail.ok(&[
        "query",
        "SELECT file FROM photos",
        "--format",
        "parquet",
        "-o",
        "out.parquet",
    ]);
    let bytes = std::fs::read(pail.work.join("out.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes),
    )
    .unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 6);
    let schema = reader.schema().clone();
    let arrow_schema::DataType::Struct(fields) = schema.field(0).data_type() else {
        panic!("file is not a struct: {schema:?}");
    };
    assert_eq!(fields.len(), 7);
}

#[test]
fn query_errors_are_user_errors_that_say_what_is_wrong() {
    let pail = query_fixture();
    let out = pail.fails(1, &["query", "SELEC file FROM photos"]);
    assert!(out.stderr.contains("SQL syntax error"), "{}", out.stderr);
    assert!(out.stderr.contains("Line: 1, Column: 1"), "{}", out.stderr);

    let out = pail.fails(1, &["query", "SELECT nope FROM photos"]);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);
    assert!(out.stderr.contains("line 1, column 8"), "{}", out.stderr);
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);

    let out = pail.fails(1, &["query", "SELECT * FROM nothere"]);
    assert!(
        out.stderr
            .contains("dataset local.default.nothere does not exist"),
        "{}",
        out.stderr
    );
    let out = pail.fails(1, &["query", "SELECT * FROM \"photos@9.9.9\""]);
    assert!(
        out.stderr.contains("has no version `9.9.9`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("pail log local.default.photos"),
        "{}",
        out.stderr
    );
    let out = pail.fails(1, &["query", "SELECT 1/0 FROM photos"]);
    assert!(out.stderr.contains("error:"), "{}", out.stderr);
}

#[test]
fn export_writes_parquet_jsonl_and_csv() {
    let pail = query_fixture();
    pail.ok(&["export", "team.vision.clips@golden", "-o", "clips.parquet"]);
    let bytes = std::fs::read(pail.work.join("clips.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes),
    )
    .unwrap();
    let schema = reader.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["file", "start", "tags"]);
    assert!(matches!(
        schema.field(2).data_type(),
        arrow_schema::DataType::List(_)
    ));
    assert!(matches!(
        schema.field(0).data_type(),
        arrow_schema::DataType::Struct(_)
    ));
    let n_rows: usize = reader
        .build()
        .unwrap()
        .map(|batch| batch.unwrap().num_rows())
        .sum();
    assert_eq!(n_rows, 2);

    pail.ok(&[
        "export",
        "photos@1.0.0",
        "--format",
        "jsonl",
        "-o",
        "photos.jsonl",
    ]);
    let exported = std::fs::read_to_string(pail.work.join("photos.jsonl")).unwrap();
    let rows = pail.ok(&["rows", "photos@1.0.0", "--json"]).stdout;
    assert_eq!(exported, rows);
    let csv = pail
        .ok(&["export", "photos", "--format", "csv", "-o", "-"])
        .stdout;
    assert_eq!(csv.lines().count(), 7);
    assert!(csv.starts_with("file.source,file.path,file.size"), "{csv}");

    let out = pail.fails(1, &["export", "photos", "-o", "photos.xyz"]);
    assert!(out.stderr.contains("--format"), "{}", out.stderr);
    let out = pail.fails(1, &["export", "photos", "-o", "no/such/dir/x.csv"]);
    assert!(out.stderr.contains("could not write"), "{}", out.stderr);
    pail.fails(1, &["export", "photos@7.0.0", "-o", "x.csv"]);
    assert!(!pail.work.join("x.csv").exists());
}

#[derive(Debug, PartialEq, serde::Deserialize)]
struct FileRow {
    path: String,
    size: i64,
}

#[test]
fn library_dataframes_chain_and_read_back_as_serde_types() {
    use datafusion::functions::core::expr_fn::get_field;
    use datafusion::prelude::{col, lit};

    let pail = query_fixture();
    let repo = pail::Repo::discover(&pail.work).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let photos = repo.parse_ref("photos@1.0.1").unwrap();
        let frame = pail::query::dataframe(&repo, &photos).await.unwrap();
        let frame = frame
            .filter(get_field(col("file"), "size").gt(lit(25i64)))
            .unwrap()
            .select(vec![
                get_field(col("file"), "path").alias("path"),
                get_field(col("file"), "size").alias("size"),
            ])
            .unwrap()
            .sort(vec![col("path").sort(true, false)])
            .unwrap();
        let rows: Vec<FileRow> = pail::query::collect_as(frame).await.unwrap();
        assert_eq!(
            rows,
            [
                FileRow {
                    path: "b/deep/four.png".into(),
                    size: 40
                },
                FileRow {
                    path: "b/three.png".into(),
                    size: 30
                },
                FileRow {
                    path: "c/five.jpg".into(),
                    size: 50
                },
            ]
        );
        let frame = pail::query::sql(&repo, "SELECT count(*) AS n FROM photos")
            .await
            .unwrap();
        let batches = frame.collect().await.unwrap();
        assert_eq!(
            pail::query::batches_to_json(&batches).unwrap(),
            [json!({"n": 6})]
        );
        let missing = repo.parse_ref("nothere").unwrap();
        let err = pail::query::dataframe(&repo, &missing).await.unwrap_err();
        assert!(matches!(err, pail::query::QueryError::Repo(_)), "{err:?}");
    });
}

#[test]
fn leaves_are_pruned_by_key_range_and_min_max() {
    use datafusion::functions::core::expr_fn::get_field;
    use datafusion::prelude::{col, lit};

    let pail = Pail::new();
    pail.ok(&["init"]);
    let dir = pail.work.join("big");
    for idx in 0..3000 {
        write_file(&dir.join(format!("a/{idx:05}.txt")), &vec![b'x'; idx]);
    }
    pail.ok(&["commit", "big", "big"]);
    let repo = pail::Repo::discover(&pail.work).unwrap();
    let found = repo.resolve(&repo.parse_ref("big").unwrap()).unwrap();
    let table = pail::query::DatasetTable::open(&repo, &found, Default::default()).unwrap();
    let all = table.leaves_matching(&[]);
    assert!(all >= 4, "{all}");
    let path = || get_field(col("file"), "path");
    let size = || get_field(col("file"), "size");
    assert_eq!(table.leaves_matching(&[path().eq(lit("a/01234.txt"))]), 1);
    assert_eq!(table.leaves_matching(&[path().eq(lit("b/none"))]), 0);
    assert_eq!(table.leaves_matching(&[size().gt(lit(5000i64))]), 0);
    assert_eq!(table.leaves_matching(&[size().eq(lit(2999i64))]), 1);
    assert!(table.leaves_matching(&[size().lt(lit(100i64))]) < all);
    assert_eq!(table.leaves_matching(&[path().like(lit("zzz%"))]), 0);
    assert_eq!(table.leaves_matching(&[path().like(lit("a/%"))]), all);
    // Whatever is pruned, the answers stay exact.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let rows = runtime.block_on(async {
        let frame = pail::query::sql(
            &repo,
            "SELECT count(*) AS n FROM big WHERE file.size >= 1000 AND file.path < 'a/02000.txt'",
        )
        .await
        .unwrap();
        pail::query::batches_to_json(&frame.collect().await.unwrap()).unwrap()
    });
    assert_eq!(rows, [json!({"n": 1000})]);
}
