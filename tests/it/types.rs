//! Types a Pydantic model declares (issue 14): stable column ids across versions, the
//! declared field order, and tests/py/test_types.py, which commits realistic models and
//! reads every row back through `rows --json` and the exported Parquet.

use crate::common;

use std::process::Command;

use common::Pail;
use pail::Repo;

#[test]
fn pydantic_models_round_trip_through_commit_rows_and_export() {
    let pail = Pail::new();
    // tests/run's venv has pydantic and pyarrow; by hand, the machine's python3.
    let interpreter =
        std::env::var("PAIL_TEST_MCP_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/test_types.py");
    let out = Command::new(interpreter)
        .arg(&script)
        .current_dir(&pail.work)
        .env_clear()
        .envs(pail.env_vars())
        .env("PAIL_BIN", &pail.bin)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "tests/py/test_types.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("ok\n"));

    // One DuckDB cross-check per type, on the exports, where tests/run provides DuckDB
    // (duckdb==1.5.5).
    if let Ok(duckdb) = std::env::var("PAIL_TEST_DUCKDB_PYTHON") {
        let script = script.with_file_name("duckdb_types.py");
        let out = Command::new(duckdb)
            .arg(&script)
            .current_dir(&pail.work)
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "tests/py/duckdb_types.py failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The schema of the latest version of `name`, as stored.
fn stored_schema(pail: &Pail, name: &str) -> pail::Schema {
    let repo = Repo::open(&pail.work.join(".pail")).unwrap();
    let found = repo.resolve(&repo.parse_ref(name).unwrap()).unwrap();
    repo.schema(&found.commit.schema).unwrap()
}

#[test]
fn column_ids_stay_with_their_path_from_version_to_version() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    pail.ok_stdin(
        &["commit", "t", "--from", "-", "--key", "id"],
        "{\"id\": 1, \"b\": {\"x\": 1}}\n",
    );
    let first = stored_schema(&pail, "t");
    // The first version: the default numbering, written as an older pail wrote it.
    assert_eq!((first.format, first.columns.clone()), (1, None));
    let ids = |schema: &pail::Schema| -> Vec<(String, u32)> {
        schema
            .column_ids()
            .into_iter()
            .map(|column| (column.path, column.id))
            .collect()
    };
    assert_eq!(
        ids(&first),
        [("id".into(), 1), ("b".into(), 2), ("b.x".into(), 3)]
    );
    // `a` comes last (an inferred schema keeps the latest version's order, then the
    // records' order) and `b.x` goes: every kept path keeps its id, the new ones get 4
    // and 5.
    pail.ok_stdin(
        &[
            "commit", "t", "--from", "-", "--key", "id", "--bump", "major",
        ],
        "{\"id\": 1, \"a\": true, \"b\": {\"y\": 2}}\n",
    );
    let second = stored_schema(&pail, "t");
    assert_eq!(second.format, 3);
    assert_eq!(
        ids(&second),
        [
            ("id".into(), 1),
            ("b".into(), 2),
            ("b.y".into(), 4),
            ("a".into(), 5)
        ]
    );
    // `pail schema --ids` shows them, and `schema --json` as `column_ids`.
    assert_eq!(
        pail.ok(&["schema", "t", "--ids"]).stdout,
        "   1  id\n   2  b\n   4  b.y\n   5  a\n"
    );
    let shown = pail.json(&["schema", "t", "--json"]);
    assert_eq!(
        shown["column_ids"][3],
        serde_json::json!({"path": "a", "id": 5})
    );
    // The same rows again: the same schema object, so nothing new is written.
    let out = pail.ok_stdin(
        &["commit", "t", "--from", "-", "--key", "id"],
        "{\"id\": 1, \"a\": true, \"b\": {\"y\": 2}}\n",
    );
    assert_eq!(stored_schema(&pail, "t"), second, "{}", out.stdout);
}

#[test]
fn a_declared_schema_keeps_the_model_order_in_rows_schema_and_csv() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    std::fs::write(
        pail.work.join("m.json"),
        r#"{"title": "M", "type": "object", "required": ["zeta", "alpha"],
            "properties": {"zeta": {"type": "integer"}, "alpha": {"type": "string"},
            "mid": {"anyOf": [{"type": "number"}, {"type": "null"}]}}}"#,
    )
    .unwrap();
    pail.ok_stdin(
        &[
            "commit", "m", "--from", "-", "--schema", "m.json", "--key", "zeta",
        ],
        "{\"alpha\": \"a\", \"zeta\": 1, \"mid\": 0.5}\n",
    );
    let rows = pail.ok(&["rows", "m", "--json"]).stdout;
    assert_eq!(rows, "{\"zeta\":1,\"alpha\":\"a\",\"mid\":0.5}\n");
    let schema = pail.ok(&["schema", "m"]).stdout;
    assert!(
        schema.starts_with("zeta: int\nalpha: string\nmid:"),
        "{schema}"
    );
    let csv = pail
        .ok(&["export", "m", "--format", "csv", "-o", "-"])
        .stdout;
    assert!(csv.starts_with("zeta,alpha,mid\n"), "{csv}");
    let star = pail.ok(&["query", "SELECT * FROM m", "--json"]).stdout;
    assert!(
        star.contains("zeta") && star.find("zeta") < star.find("alpha"),
        "{star}"
    );
}

/// A constraint added or changed is a breaking schema change, one removed an additive one:
/// commit says which bump it needs and diff shows it.
#[test]
fn constraint_changes_follow_the_bump_rules_and_show_in_diff() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    let schema = |name: &str, extra: &str| {
        let text = format!(
            r#"{{"type": "object", "required": ["s"], "properties": {{"s": {{"type": "number"{extra}}}}}}}"#
        );
        std::fs::write(pail.work.join(name), text).unwrap();
    };
    schema("none.json", "");
    schema("ge0.json", r#", "minimum": 0"#);
    schema("ge1.json", r#", "minimum": 1"#);
    std::fs::write(pail.work.join("r.jsonl"), "{\"s\": 2}\n").unwrap();
    let commit = |schema: &str, bump: Option<&str>| {
        let mut args = vec!["commit", "t", "--from", "r.jsonl", "--schema", schema];
        if let Some(bump) = bump {
            args.extend(["--bump", bump]);
        }
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        pail.run_in(&pail.work, &args, None)
    };
    assert_eq!(run(commit("none.json", None)).code, 0);
    let refused = run(commit("ge0.json", None));
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains("constraint on `s` added: Field(ge=0)")
            && refused.stderr.contains("--bump major"),
        "{}",
        refused.stderr
    );
    assert_eq!(run(commit("ge0.json", Some("major"))).code, 0);
    assert_eq!(run(commit("ge1.json", Some("major"))).code, 0);
    let diff = pail.ok(&["diff", "t@2.0.0", "t@3.0.0"]).stdout;
    assert!(
        diff.contains("constraint on `s` changed from Field(ge=0) to Field(ge=1)"),
        "{diff}"
    );
    let refused = run(commit("none.json", None));
    assert!(
        refused.stderr.contains("--bump minor"),
        "{}",
        refused.stderr
    );
    assert_eq!(run(commit("none.json", Some("minor"))).code, 0);
    assert!(pail.ok(&["log", "t"]).stdout.contains("t@3.1.0"));
}

/// Arrow input with a declared schema (Python's `repo.commit(table, model=M)`): pail's own
/// Arrow forms (a tuple's struct of `_0`, `_1`; a union's struct of its tag and variants)
/// and pyarrow's reading of a Pydantic `model_dump()` (a union as one struct of every
/// variant's fields, a dict as a struct of every row's keys) commit the rows JSON gives.
#[test]
fn arrow_rows_with_a_declared_schema_read_unions_tuples_and_dicts_as_json() {
    use std::sync::Arc;

    use arrow_array::builder::{Int64Builder, ListBuilder};
    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, StructArray};
    use arrow_schema::{DataType, Field, Fields};
    use pail::commit::RecordsOptions;
    use pail::{CommitOptions, Records};

    let text = r##"{"type": "object", "required": ["id", "res", "tool", "scores", "either", "took"],
        "properties": {
        "id": {"type": "integer"},
        "took": {"type": "string", "format": "duration"},
        "res": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "integer"}],
                "minItems": 2, "maxItems": 2},
        "tool": {"oneOf": [{"$ref": "#/$defs/Search"}, {"$ref": "#/$defs/Calc"}],
                 "discriminator": {"propertyName": "kind",
                    "mapping": {"search": "#/$defs/Search", "calc": "#/$defs/Calc"}}},
        "scores": {"type": "object", "additionalProperties": {"type": "number"}},
        "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]}},
        "$defs": {
          "Search": {"type": "object", "required": ["kind", "query"], "properties": {
            "kind": {"const": "search"}, "query": {"type": "string"}}},
          "Calc": {"type": "object", "required": ["kind", "expr"], "properties": {
            "kind": {"const": "calc"}, "expr": {"type": "string"}}}}}"##;
    let doc: serde_json::Value = serde_json::from_str(text).unwrap();
    let declared = pail::Schema::from_json_schema_text(&doc, text).unwrap();
    let lines = "{\"id\": 1, \"res\": [1, 2], \"tool\": {\"kind\": \"search\", \"query\": \"q\"}, \"scores\": {\"a\": 1.5}, \"either\": 7, \"took\": \"PT1.5S\"}\n\
                 {\"id\": 2, \"res\": [3, 4], \"tool\": {\"kind\": \"calc\", \"expr\": \"1+1\"}, \"scores\": {}, \"either\": 8, \"took\": \"P1D\"}\n";

    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = Repo::init(&dir.path().join(".pail")).unwrap();
    let shape = RecordsOptions {
        schema: Some(declared),
        key: Some(vec!["id".into()]),
    };
    let commit = |name: &str, records: Records| {
        let options = CommitOptions {
            name: repo.parse_name(name).unwrap(),
            message: String::new(),
            bump: None,
            author: "t".into(),
            time: 0,
            command: Vec::new(),
            git: None,
            code: Vec::new(),
            inputs: Vec::new(),
        };
        pail::commit::records(&repo, records, &shape, &options)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        repo.resolve(&repo.parse_ref(name).unwrap()).unwrap().commit
    };
    let from_batches = |batches: Vec<RecordBatch>| {
        let schema = batches[0].schema();
        Records::Batches(Box::new(arrow_array::RecordBatchIterator::new(
            batches.into_iter().map(Ok),
            schema,
        )))
    };
    let json = commit(
        "json",
        Records::Reader(Box::new(std::io::Cursor::new(lines.as_bytes().to_vec()))),
    );

    // pail's own Arrow, as `to_arrow()` gives it.
    let own: Vec<RecordBatch> = repo.batches(&json).unwrap().map(Result::unwrap).collect();
    let again = commit("own", from_batches(own));
    assert_eq!((again.rows, again.schema), (json.rows, json.schema));

    // pyarrow's `Table.from_pylist([m.model_dump() for m in models])`.
    let mut res = ListBuilder::new(Int64Builder::new());
    for pair in [[1, 2], [3, 4]] {
        res.values().append_slice(&pair);
        res.append(true);
    }
    let strings =
        |values: &[Option<&str>]| -> ArrayRef { Arc::new(StringArray::from(values.to_vec())) };
    let nullable = |name: &str, ty: DataType| Arc::new(Field::new(name, ty, true));
    let tool = StructArray::new(
        Fields::from(vec![
            nullable("kind", DataType::Utf8),
            nullable("query", DataType::Utf8),
            nullable("expr", DataType::Utf8),
        ]),
        vec![
            strings(&[Some("search"), Some("calc")]),
            strings(&[Some("q"), None]),
            strings(&[None, Some("1+1")]),
        ],
        None,
    );
    let scores = StructArray::new(
        Fields::from(vec![nullable("a", DataType::Float64)]),
        vec![Arc::new(Float64Array::from(vec![Some(1.5), None]))],
        None,
    );
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1, 2])),
        Arc::new(res.finish()),
        Arc::new(tool),
        Arc::new(scores),
        Arc::new(Int64Array::from(vec![7, 8])),
        Arc::new(arrow_array::DurationMicrosecondArray::from(vec![
            1_500_000,
            86_400_000_000,
        ])),
    ];
    let names = ["id", "res", "tool", "scores", "either", "took"];
    let batch = RecordBatch::try_from_iter(names.into_iter().zip(columns)).unwrap();
    let pyarrow = commit("pyarrow", from_batches(vec![batch]));
    assert_eq!((pyarrow.rows, pyarrow.schema), (json.rows, json.schema));
}

/// An Arrow duration of any unit is stored as pail's microseconds (Arrow's cast to an int
/// would keep the count of seconds or nanoseconds), nested ones too.
#[test]
fn arrow_durations_of_every_unit_are_microseconds() {
    use std::sync::Arc;

    use arrow_array::{
        ArrayRef, DurationMillisecondArray, DurationNanosecondArray, DurationSecondArray,
        Int64Array, RecordBatch, StructArray,
    };
    use arrow_schema::{DataType, Field, TimeUnit};
    use pail::commit::RecordsOptions;
    use pail::{CommitOptions, Records};

    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = Repo::init(&dir.path().join(".pail")).unwrap();
    let nested = StructArray::from(vec![(
        Arc::new(Field::new(
            "ns",
            DataType::Duration(TimeUnit::Nanosecond),
            false,
        )),
        Arc::new(DurationNanosecondArray::from(vec![1_500_000_000])) as ArrayRef,
    )]);
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(vec![1]))),
        ("s", Arc::new(DurationSecondArray::from(vec![2]))),
        ("ms", Arc::new(DurationMillisecondArray::from(vec![-250]))),
        ("nested", Arc::new(nested)),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let schema = batch.schema();
    let records = Records::Batches(Box::new(arrow_array::RecordBatchIterator::new(
        vec![Ok(batch)],
        schema,
    )));
    let options = CommitOptions {
        name: repo.parse_name("d").unwrap(),
        message: String::new(),
        bump: None,
        author: "t".into(),
        time: 0,
        command: Vec::new(),
        git: None,
        code: Vec::new(),
        inputs: Vec::new(),
    };
    let shape = RecordsOptions {
        schema: None,
        key: Some(vec!["id".into()]),
    };
    pail::commit::records(&repo, records, &shape, &options).unwrap();
    let found = repo.resolve(&repo.parse_ref("d").unwrap()).unwrap();
    let mut rows = Vec::new();
    repo.for_each_row(&found.commit, |row| {
        rows.push(row);
        Ok(true)
    })
    .unwrap();
    assert_eq!(
        rows,
        [serde_json::json!({"id": 1, "s": "PT2S", "ms": "-PT0.25S", "nested": {"ns": "PT1.5S"}})]
    );
}
