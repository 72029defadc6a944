import json, sys, glob, os, shutil
spec = json.loads(sys.argv[1])
out = {}
from pyiceberg.table import StaticTable
props = spec.get("pyiceberg", {})
t = StaticTable.from_metadata(spec["metadata"], properties=props)
for name in spec["refs"]:
    snap = t.snapshot_by_name(name) if name != "latest" else t.current_snapshot()
    arrow = t.scan(snapshot_id=snap.snapshot_id).to_arrow()
    rows = arrow.to_pylist()
    nulls = [c for c in arrow.column_names if arrow.column(c).null_count == len(arrow) and len(arrow) > 0]
    out.setdefault("pyiceberg", {})[name] = {
        "n": len(rows),
        "bytes": sum(r["file"]["size"] for r in rows),
        "labels": sum(len(r["labels"]) for r in rows),
        "all_null": nulls,
    }
# Column bounds prune: a filter on the key (a long) and on a nested string plans fewer
# data files than the whole latest version, and still finds every matching row.
pruning = {"all": len(list(t.scan().plan_files()))}
for name, expr in spec.get("filters", {}).items():
    scan = t.scan(row_filter=expr)
    pruning[name] = {"files": len(list(scan.plan_files())), "rows": scan.to_arrow().num_rows}
out["pruning"] = pruning
import duckdb
ext = spec["duckdb_ext"]
con = duckdb.connect(config={"extension_directory": ext, "autoinstall_known_extensions": False})
for e in ("avro", "iceberg", "httpfs"):
    con.execute(f"LOAD {e}")
for stmt in spec.get("duckdb_setup", []):
    con.execute(stmt)
meta = json.load(open(spec["metadata"])) if not spec["metadata"].startswith("s3://") else None
for name in spec["refs"]:
    sid = t.current_snapshot().snapshot_id if name == "latest" else t.snapshot_by_name(name).snapshot_id
    q = f"FROM iceberg_scan('{spec['table']}', snapshot_from_id={sid})"
    n, b, l = con.execute(f"SELECT count(*), sum(file.size), sum(len(labels)) {q}").fetchone()
    cols = [d[0] for d in con.execute(f"SELECT * {q} LIMIT 0").description]
    nulls = [c for c in cols if n > 0 and con.execute(f'SELECT count("{c}") {q}').fetchone()[0] == 0]
    out.setdefault("duckdb", {})[name] = {"n": n, "bytes": int(b or 0), "labels": int(l or 0), "all_null": nulls}
# The snippets `pail iceberg --json` prints, run as a user pastes them: the row count of
# each expression (pyiceberg) and each SELECT (DuckDB), in order. INSTALL needs the
# network; the extensions are loaded from the wheels above instead.
snippets = spec.get("snippets")
if snippets:
    rows = []
    scope = {}
    for line in snippets["pyiceberg"].splitlines():
        code = line.split("  #")[0]
        try:
            compiled = compile(code, "<snippet>", "eval")
        except SyntaxError:
            exec(code, scope)
            continue
        rows.append(eval(compiled, scope).num_rows)
    out["pyiceberg_snippet"] = rows
    rows = []
    for line in snippets["duckdb"].splitlines():
        code = line.split("  --")[0]
        if code.startswith("INSTALL"):
            continue
        result = con.execute(code)
        if code.startswith("SELECT"):
            rows.append(result.fetchone()[0])
    out["duckdb_snippet"] = rows
print(json.dumps(out))
