//! The SQL users expect from `pail query`: each answer is compared with DuckDB's over the
//! Parquet `pail export` writes (tests/duckdb_query.py; tests/run installs DuckDB and sets
//! PAIL_TEST_DUCKDB_PYTHON, and in CI its absence fails), or is a clear error where the
//! engine cannot answer.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{Pail, write_file};
use serde_json::{Value, json};

fn duckdb_python() -> Option<String> {
    match std::env::var("PAIL_TEST_DUCKDB_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "PAIL_TEST_DUCKDB_PYTHON is not set: run the suite through tests/run"
            );
            eprintln!("skipping: PAIL_TEST_DUCKDB_PYTHON is not set (tests/run sets it)");
            None
        }
    }
}

/// `clips` (40 rows: a File, a list of tags that is sometimes empty or null, a struct that
/// is sometimes null) and `team.vision.frames` (rows naming clips by id and path).
fn sql_fixture() -> Pail {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let mut clips = String::new();
    for id in 0..40 {
        let tags = match id % 5 {
            0 => "[]".to_string(),
            1 => "null".to_string(),
            n => format!(
                "[{}]",
                (0..n)
                    .map(|k| format!("\"t{}\"", (id + k) % 4))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let meta = if id % 7 == 0 {
            "null".to_string()
        } else {
            format!("{{\"h\": {}, \"w\": {}}}", id % 6, id % 4)
        };
        clips.push_str(&format!(
            "{{\"id\": {id}, \"file\": {{\"source\": \"s3://bucket/clips\", \"path\": \"c/{id:02}.mp4\", \"size\": {}}}, \"tags\": {tags}, \"meta\": {meta}, \"start\": {}.25}}\n",
            100 * (id % 9),
            id % 11,
        ));
    }
    write_file(&pail.work.join("clips.jsonl"), clips.as_bytes());
    pail.ok(&["commit", "clips", "--from", "clips.jsonl", "--key", "id"]);
    let mut frames = String::new();
    for n in 0..30 {
        let clip = (n * 3) % 45;
        frames.push_str(&format!(
            "{{\"n\": {n}, \"clip\": {clip}, \"file\": {{\"source\": \"s3://bucket/frames\", \"path\": \"c/{clip:02}.mp4\", \"size\": {}}}}}\n",
            50 * (n % 4),
        ));
    }
    write_file(&pail.work.join("frames.jsonl"), frames.as_bytes());
    pail.ok(&[
        "commit",
        "team.vision.frames",
        "--from",
        "frames.jsonl",
        "--key",
        "n",
    ]);
    pail
}

/// DuckDB's answers to `queries` over the datasets exported to Parquet, under the given
/// view names.
fn duckdb(python: &str, pail: &Pail, tables: &[(&str, &str)], queries: &[&str]) -> Vec<Vec<Value>> {
    let mut files = serde_json::Map::new();
    for (view, dataset) in tables {
        let path = pail.work.join(format!("{view}.parquet"));
        pail.ok(&["export", dataset, "-o", path.to_str().unwrap()]);
        files.insert(view.to_string(), Value::String(path.display().to_string()));
    }
    let config = json!({"tables": files, "queries": queries});
    let config_path = pail.work.join("duckdb-config.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/duckdb_query.py");
    let output = Command::new(python)
        .arg(&script)
        .arg(&config_path)
        .output()
        .expect("DuckDB runs");
    assert!(
        output.status.success(),
        "DuckDB failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn pail_rows(pail: &Pail, sql: &str) -> Vec<Value> {
    pail.ok(&["query", sql, "--format", "jsonl"])
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Each (pail's SQL, DuckDB's SQL) gives the same rows, and some rows.
fn same_answers(python: &str, pail: &Pail, queries: &[(&str, &str)]) {
    let tables = [("clips", "clips"), ("frames", "team.vision.frames")];
    let duck_sql: Vec<&str> = queries.iter().map(|(_, duck)| *duck).collect();
    let expected = duckdb(python, pail, &tables, &duck_sql);
    for ((sql, _), expected) in queries.iter().zip(expected) {
        assert!(!expected.is_empty(), "DuckDB has no rows for {sql}");
        assert_eq!(pail_rows(pail, sql), expected, "{sql}");
    }
}

/// Issue items 1, 2 and 4: joins keyed by expressions over struct fields, lateral unnest
/// and table functions answer what DuckDB answers.
#[test]
fn joins_unnest_and_table_functions_answer_what_duckdb_answers() {
    let Some(python) = duckdb_python() else {
        return;
    };
    let pail = sql_fixture();
    // The dataset is `team.vision.frames` for pail and the view `frames` for DuckDB.
    let both = |sql: &'static str| -> (String, &'static str) {
        (sql.replace(" frames f", " team.vision.frames f"), sql)
    };
    let queries: Vec<(String, &str)> = vec![
        // 1. A join key that is an expression over a struct field.
        both("SELECT count(*) AS n FROM clips c JOIN clips d ON c.file.size + 0 = d.file.size"),
        both(
            "SELECT c.id AS a, d.id AS b FROM clips c JOIN clips d ON c.meta.h * 2 = d.meta.w + 0 \
             WHERE c.id < 12 ORDER BY a, b",
        ),
        both(
            "SELECT f.n AS n, c.start AS start FROM frames f JOIN clips c \
             ON lower(f.file.path) = c.file.path AND f.file.size * 2 < c.file.size ORDER BY n",
        ),
        both(
            "SELECT c.id AS id, count(f.n) AS frames FROM clips c LEFT JOIN frames f \
             ON f.clip + 0 = c.id GROUP BY c.id ORDER BY id",
        ),
        // 2. Lateral unnest: a row per element; empty and null lists give none.
        both("SELECT c.id AS id, p.x AS x FROM clips c, unnest(c.tags) AS p(x) ORDER BY id, x"),
        both(
            "SELECT p.x AS x, count(*) AS n, sum(c.file.size) AS bytes FROM clips c, \
             unnest(c.tags) AS p(x) WHERE c.meta.h > 1 GROUP BY p.x ORDER BY x",
        ),
        both("SELECT id, unnest FROM clips CROSS JOIN unnest(clips.tags) ORDER BY id, unnest"),
        both(
            "SELECT f.n AS n, t.tag AS tag FROM frames f JOIN clips c ON f.clip = c.id, \
             unnest(c.tags) AS t(tag) ORDER BY n, tag",
        ),
        // The unnest's column may share a name with the table's.
        both(
            "SELECT c.id AS cid, t.id AS tag FROM clips c, unnest(c.tags) AS t(id) \
             ORDER BY cid, tag",
        ),
        both(
            "SELECT c.id AS id, s.twice AS twice FROM clips c, \
             LATERAL (SELECT c.start * 2 AS twice) s ORDER BY id",
        ),
        // 4. Table functions are functions, not dataset names.
        both("SELECT g.v AS v FROM generate_series(1, 5) AS g(v) ORDER BY v"),
        both("SELECT r.v AS v FROM range(0, 10, 3) AS r(v) ORDER BY v"),
        both(
            "SELECT c.id AS id, g.v AS v FROM clips c, generate_series(1, 2) AS g(v) \
             WHERE c.id < 3 ORDER BY id, v",
        ),
    ];
    let queries: Vec<(&str, &str)> = queries
        .iter()
        .map(|(sql, duck)| (sql.as_str(), *duck))
        .collect();
    same_answers(&python, &pail, &queries);

    // A lateral subquery that is not an inner unnest is refused, saying what works.
    let out = pail.fails(
        1,
        &[
            "query",
            "SELECT * FROM clips c LEFT JOIN unnest(c.tags) AS t(tag) ON true",
        ],
    );
    assert!(
        out.stderr.starts_with("error: not supported: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("unnest(c.tags) AS t(tag)"),
        "{}",
        out.stderr
    );
    let out = pail.fails(
        1,
        &[
            "query",
            "SELECT c.id, (SELECT count(*) FROM clips d WHERE d.id <= c.id) AS n FROM clips c",
        ],
    );
    assert!(
        out.stderr.contains("correlate by equality"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("ScalarSubquery"), "{}", out.stderr);
    // Correlated by equality, a lateral subquery is a join.
    same_answers(
        &python,
        &pail,
        &[(
            "SELECT c.id AS id, s.n AS n FROM clips c, \
             LATERAL (SELECT count(*) AS n FROM clips d WHERE d.start = c.start) s ORDER BY id",
            "SELECT c.id AS id, s.n AS n FROM clips c, \
             LATERAL (SELECT count(*) AS n FROM clips d WHERE d.start = c.start) s ORDER BY id",
        )],
    );
    assert!(
        !out.stderr.contains("OuterReferenceColumn"),
        "{}",
        out.stderr
    );
}

/// Issue items 3 and 6: `information_schema` and SHOW TABLES list the datasets and their
/// columns; an unaliased struct field column is named as written.
#[test]
fn catalogs_list_datasets_and_columns_are_named_as_written() {
    let Some(python) = duckdb_python() else {
        return;
    };
    let pail = sql_fixture();
    let expected = duckdb(
        &python,
        &pail,
        &[("clips", "clips")],
        &[
            "SELECT table_name, column_name FROM information_schema.columns \
             WHERE table_schema = 'main' ORDER BY table_name, ordinal_position",
            "SELECT file.path AS \"file.path\", file.size AS \"file.size\", meta.h AS \"meta.h\" \
             FROM clips WHERE id < 4 ORDER BY id",
            "SELECT c.file.path AS \"c.file.path\", d.file.path AS \"d.file.path\" \
             FROM clips c JOIN clips d ON c.id + 1 = d.id WHERE c.id < 3 ORDER BY c.id",
        ],
    );
    assert_eq!(
        pail_rows(
            &pail,
            "SELECT table_name, column_name FROM information_schema.columns \
             WHERE table_catalog = 'local' AND table_schema = 'default' \
             ORDER BY table_name, ordinal_position",
        ),
        expected[0]
    );
    // Every dataset, in its namespace and project; only datasets are base tables.
    assert_eq!(
        pail_rows(
            &pail,
            "SELECT table_catalog, table_schema, table_name FROM information_schema.tables \
             WHERE table_type = 'BASE TABLE' ORDER BY 1, 2, 3",
        ),
        [
            json!({"table_catalog": "local", "table_schema": "default", "table_name": "clips"}),
            json!({"table_catalog": "team", "table_schema": "vision", "table_name": "frames"}),
        ]
    );
    let shown = pail_rows(&pail, "SHOW TABLES");
    for (catalog, schema, table) in [("local", "default", "clips"), ("team", "vision", "frames")] {
        assert!(
            shown.iter().any(|row| row["table_catalog"] == catalog
                && row["table_schema"] == schema
                && row["table_name"] == table),
            "{shown:?}"
        );
    }
    let columns = pail_rows(&pail, "SHOW COLUMNS FROM team.vision.frames");
    let names: Vec<&str> = columns
        .iter()
        .map(|row| row["column_name"].as_str().unwrap())
        .collect();
    // In the order the records give them (an inferred schema keeps it).
    assert_eq!(names, ["n", "clip", "file"]);

    // 6. Struct fields without an alias are named as written, with the table when two
    // would share a name.
    assert_eq!(
        pail_rows(
            &pail,
            "SELECT file.path, file.size, meta.h FROM clips WHERE id < 4 ORDER BY id"
        ),
        expected[1]
    );
    assert_eq!(
        pail_rows(
            &pail,
            "SELECT c.file.path, d.file.path FROM clips c JOIN clips d ON c.id + 1 = d.id \
             WHERE c.id < 3 ORDER BY c.id",
        ),
        expected[2]
    );
    let csv = pail
        .ok(&[
            "query",
            "SELECT DISTINCT file.size, file.size * 2 AS twice FROM clips ORDER BY 1 LIMIT 1",
            "--format",
            "csv",
        ])
        .stdout;
    assert_eq!(csv, "file.size,twice\n0,0\n");
    let csv = pail
        .ok(&[
            "query",
            "SELECT * FROM (SELECT file.path FROM clips WHERE id = 3)",
            "--format",
            "csv",
        ])
        .stdout;
    assert_eq!(csv, "file.path\nc/03.mp4\n");
}

/// Issue item 5: statements that would change something are refused as read-only, before
/// any name in them is taken for a dataset; nothing changes.
#[test]
fn writes_are_refused_as_read_only() {
    let pail = sql_fixture();
    let before = pail.ok(&["ls"]).stdout;
    for (sql, statement) in [
        ("CREATE TABLE t AS SELECT 1 AS one", "CREATE TABLE"),
        ("CREATE TABLE clips2 AS SELECT * FROM clips", "CREATE TABLE"),
        ("INSERT INTO clips SELECT * FROM clips", "INSERT INTO"),
        ("INSERT INTO nothere VALUES (1)", "INSERT INTO"),
        ("DELETE FROM clips WHERE id = 1", "DELETE FROM"),
        ("UPDATE clips SET start = 0", "UPDATE"),
        ("DROP TABLE clips", "DROP TABLE"),
        ("CREATE VIEW v AS SELECT id FROM clips", "CREATE VIEW"),
        ("COPY (SELECT 1) TO 'out.csv'", "COPY"),
        ("SET datafusion.execution.batch_size = 1", "SET"),
        ("SELECT * INTO t FROM clips", "SELECT INTO"),
        (
            "EXPLAIN INSERT INTO clips SELECT * FROM clips",
            "INSERT INTO",
        ),
    ] {
        let out = pail.fails(1, &["query", sql]);
        assert!(
            out.stderr.starts_with(&format!(
                "error: queries are read-only: {statement} is not run"
            )),
            "{sql}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("\nhint: "), "{sql}: {}", out.stderr);
        assert!(
            !out.stderr.contains("does not exist"),
            "{sql}: {}",
            out.stderr
        );
    }
    assert_eq!(pail.ok(&["ls"]).stdout, before);
    assert!(!pail.work.join("out.csv").exists());
    // Reads are not taken for writes.
    for sql in [
        "EXPLAIN SELECT count(*) FROM clips",
        "DESCRIBE clips",
        "SHOW COLUMNS FROM clips",
        "WITH t AS (SELECT id FROM clips) SELECT count(*) AS n FROM t",
        "VALUES (1, 'a')",
    ] {
        pail.ok(&["query", sql]);
    }
}

/// MCP's query tool refuses writes with the same words, and names columns as the CLI does.
#[test]
fn mcp_query_is_read_only_and_names_columns_as_written() {
    let Ok(python) = std::env::var("PAIL_TEST_MCP_PYTHON") else {
        assert!(
            std::env::var("CI").is_err(),
            "PAIL_TEST_MCP_PYTHON is not set: run the suite through tests/run"
        );
        eprintln!("skipping: PAIL_TEST_MCP_PYTHON is not set (tests/run sets it)");
        return;
    };
    let pail = sql_fixture();
    let env: serde_json::Map<String, Value> = pail
        .env_vars()
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    let config = json!({
        "command": pail.bin.display().to_string(),
        "args": ["mcp"],
        "cwd": pail.work.display().to_string(),
        "env": env,
        "calls": [
            ["query", {"sql": "CREATE TABLE t AS SELECT 1 AS one"}],
            ["query", {"sql": "INSERT INTO nothere VALUES (1)"}],
            ["query", {"sql": "SELECT file.path FROM \"local.default.clips\" WHERE id = 3"}],
            ["query", {"sql": "SELECT table_name FROM information_schema.tables WHERE table_schema = 'vision'"}],
        ],
        "commit": ["ls"],
    });
    let config_path = pail.work.join("mcp-config.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(&config_path)
        .output()
        .expect("the MCP client runs");
    assert!(
        output.status.success(),
        "client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let calls = report["calls"].as_array().unwrap();
    for refused in &calls[..2] {
        assert_eq!(refused["is_error"], true, "{refused}");
        assert!(
            refused["text"]
                .as_str()
                .unwrap()
                .contains("queries are read-only"),
            "{refused}"
        );
    }
    // MCP answers carry `columns` and rows as arrays lined up with them (issue 17).
    let answer = |call: &Value| -> (Value, Value) {
        let answer = serde_json::from_str::<Value>(call["text"].as_str().unwrap()).unwrap();
        (answer["columns"].clone(), answer["rows"].clone())
    };
    let (columns, rows) = answer(&calls[2]);
    assert_eq!(columns, json!(["file.path"]), "{}", calls[2]);
    assert_eq!(rows, json!([["c/03.mp4"]]));
    let (columns, rows) = answer(&calls[3]);
    assert_eq!(columns, json!(["table_name"]), "{}", calls[3]);
    assert_eq!(rows, json!([["frames"]]));
}

/// Issue item 7: a leaf that does not match its commit's schema (damaged or forged in the
/// store) is a pail error that says so and what to run, with exit code 1; DataFusion's
/// "likely caused by a bug in DataFusion" never reaches the user.
#[test]
fn a_leaf_unlike_its_schema_is_an_error_that_says_so() {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch};
    let pail = Pail::new();
    pail.ok(&["init"]);
    pail.ok_stdin(
        &["commit", "t", "--from", "-", "--key", "id"],
        "{\"id\": 1, \"x\": \"a\"}\n{\"id\": 2, \"x\": \"b\"}\n",
    );
    // The leaf rewritten in place with `x` an integer column (the schema says string).
    let db = common::RawDb::open(&pail.work);
    let id = db.delete_object_of_kind(pail::Kind::Leaf);
    let forged = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ("x", Arc::new(Int64Array::from(vec![7, 8])) as ArrayRef),
    ])
    .unwrap();
    let mut bytes = Vec::new();
    {
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut bytes, forged.schema(), None).unwrap();
        writer.write(&forged).unwrap();
        writer.close().unwrap();
    }
    db.put_object(pail::Kind::Leaf, &id, &bytes);
    drop(db);
    for sql in [
        "SELECT x FROM t",
        "SELECT upper(x) AS u FROM t",
        "SELECT count(*) AS n FROM t WHERE x = 'a'",
        "SELECT id FROM t WHERE x LIKE 'a%'",
        "SELECT a.id FROM t a JOIN t b ON a.x = b.x",
    ] {
        let out = pail.fails(1, &["query", sql]);
        assert!(
            out.stderr.starts_with(&format!(
                "error: leaf {id} does not match its commit's schema: "
            )),
            "{sql}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("`x`"), "{sql}: {}", out.stderr);
        assert!(out.stderr.contains("\nhint: "), "{sql}: {}", out.stderr);
        assert!(!out.stderr.contains("DataFusion"), "{sql}: {}", out.stderr);
    }
    // Columns the leaf has right still read.
    assert_eq!(
        pail_rows(&pail, "SELECT sum(id) AS s FROM t"),
        [json!({"s": 3})]
    );
    // The hint's `pail fsck` finds it.
    let fsck = pail.run_in(&pail.work, &["fsck"], None);
    assert_eq!(fsck.code, 1, "{}", fsck.stdout);
    assert!(fsck.stdout.contains(&id.to_string()), "{}", fsck.stdout);
}
