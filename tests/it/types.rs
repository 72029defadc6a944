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
