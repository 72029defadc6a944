"""DuckDB cross-check of the Parquet that tests/py/test_types.py exported (issue 14): each
format-3 type is read by an engine that is not pail, with the type FORMAT.md promises.

Run by tests/it/types.rs with PAIL_TEST_DUCKDB_PYTHON (duckdb==1.5.5), in the directory
test_types.py left its exports in.
"""

import decimal
import sys

import duckdb

con = duckdb.connect()


def one(sql):
    rows = con.execute(sql).fetchall()
    assert len(rows) == 1, (sql, rows)
    return rows[0]


def typeof(file, column):
    return one(f"SELECT typeof({column}) FROM '{file}' LIMIT 1")[0]


LEDGER = "finance.ledger.parquet"
AUDIO = "audio.fragments.parquet"
LLM = "llm.responses.parquet"
CLIPS = "fleet.clips.parquet"
IMAGES = "vision.annotations.parquet"
READINGS = "sensor.readings.parquet"

checks = [
    # date: a DATE, compared with a date literal.
    (typeof(LEDGER, "booked_on"), "DATE"),
    (one(f"SELECT count(*) FROM '{LEDGER}' WHERE booked_on = DATE '2024-02-28'")[0], 1),
    # time of day (UTC), microseconds.
    (typeof(AUDIO, "start"), "TIME"),
    (one(f"SELECT max(start) FROM '{AUDIO}'")[0].isoformat(), "23:59:59.999999"),
    # duration: int microseconds.
    (typeof(AUDIO, "length"), "BIGINT"),
    # UUID: text that casts.
    (typeof(LLM, "response_id"), "VARCHAR"),
    (one(f"SELECT count(*) FROM '{LLM}' WHERE response_id::UUID = '00000000-0000-0000-0000-000000000005'::UUID")[0], 1),
    # decimal(38, 9), summed exactly.
    (typeof(LEDGER, "amount"), "DECIMAL(38,9)"),
    (one(f"SELECT sum(amount) FROM '{LEDGER}' WHERE entry > 0")[0], decimal.Decimal("3.5")),
    # integer enum.
    (typeof(LEDGER, "priority"), "BIGINT"),
    # map: a MAP, looked up by key.
    (typeof(LLM, "usage"), "MAP(VARCHAR, DOUBLE)"),
    (one(f"SELECT sum(usage['input']) FROM '{LLM}'")[0], 37.5),
    # tuple: a struct of _0, _1.
    (one(f"SELECT min(resolution._1) FROM '{CLIPS}'")[0], 720),
    # union: the tag and the chosen variant's fields.
    (one(f"SELECT count(*) FROM '{LLM}' WHERE first_tool.tag = 'search' AND first_tool.search.query = 'first'")[0], 5),
    # File subclass: File fields then the extra ones.
    (one(f"SELECT max(image.width), min(image.path) FROM '{IMAGES}'"), (645, "0.png")),
    # NaN and infinities: the floats themselves.
    (one(f"SELECT count(*) FILTER (isnan(value)), count(*) FILTER (value = 'inf'::DOUBLE), count(*) FILTER (value = '-inf'::DOUBLE) FROM '{READINGS}'"), (2, 2, 2)),
]
failed = [(got, wanted) for got, wanted in checks if got != wanted]
for got, wanted in failed:
    print(f"got {got!r}, wanted {wanted!r}")
print("ok" if not failed else "FAILED")
sys.exit(1 if failed else 0)
