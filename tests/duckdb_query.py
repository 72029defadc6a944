"""Runs SQL in DuckDB over Parquet files, for tests that compare pail's answers with DuckDB's
(tests/it/query_sql.rs runs it).

Usage: python duckdb_query.py CONFIG.json

CONFIG: {"tables": {NAME: PARQUET_PATH, ...}, "queries": [SQL, ...]}

Makes each NAME a view of its file, runs each query and prints one JSON array on stdout:
per query, its rows as objects (column name -> value; dates and times in ISO 8601).
"""

import datetime
import decimal
import json
import sys

import duckdb


def plain(value):
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"no JSON for {type(value).__name__}")


def main(config):
    con = duckdb.connect()
    for name, path in config["tables"].items():
        quoted_path = path.replace("'", "''")
        con.execute(f"CREATE VIEW \"{name}\" AS SELECT * FROM read_parquet('{quoted_path}')")
    results = []
    for sql in config["queries"]:
        cursor = con.execute(sql)
        names = [column[0] for column in cursor.description]
        results.append([dict(zip(names, row)) for row in cursor.fetchall()])
    print(json.dumps(results, default=plain))


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as file:
        main(json.load(file))
