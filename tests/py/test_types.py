"""Realistic Pydantic models, committed and read back (issue 14).

Each model gives its JSON Schema with `model_json_schema()` and its records with
`model_dump_json()`; both are committed with `pail commit --schema`. Every row read back
through `rows --json` and through the exported Parquet (pyarrow) must equal the original
under `Model.model_validate`, and columns come back in the model's declared order.

Run by tests/it/types.rs (so by the README's test command, tests/run): `python3
tests/py/test_types.py` with `PAIL_BIN` naming the pail binary and the working directory
an empty workspace. Exits non-zero on the first mismatch.
"""

import datetime as dt
import decimal
import enum
import json
import os
import subprocess
import sys
import uuid
from typing import Annotated, Literal, Optional, Union

import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

PAIL = os.environ["PAIL_BIN"]
UTC = dt.timezone.utc
CEST = dt.timezone(dt.timedelta(hours=2))


def pail(*args):
    out = subprocess.run([PAIL, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"pail {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


class File(BaseModel):
    # pail's File marker; every subclass inherits it.
    model_config = ConfigDict(json_schema_extra={"x-pail-type": "file"})

    source: str
    path: str
    size: Optional[int] = None
    etag: Optional[str] = None


# ---- the models -------------------------------------------------------------------------


class Clip(BaseModel):
    """The seed's autonomy clip: a video file with when, where and how fast."""

    clip_id: uuid.UUID
    file: File
    recorded_at: dt.datetime
    weather: Literal["clear", "rain", "fog", "snow", "night"]
    speed_mps: float
    tags: list[str]
    resolution: tuple[int, int]
    gps: Optional[tuple[float, float, str]] = None


class SampleRate(enum.IntEnum):
    KHZ_16 = 16000
    KHZ_44 = 44100
    KHZ_48 = 48000


class AudioFragment(BaseModel):
    """An audio fragment: a span of a recording, its rate and channel count."""

    file: File
    recorded_on: dt.date
    start: dt.time
    length: dt.timedelta
    sample_rate: SampleRate
    channels: Literal[1, 2]
    transcript: Optional[str] = None


class WebSearch(BaseModel):
    kind: Literal["search"]
    query: str
    top_k: int = 5


class Calculator(BaseModel):
    kind: Literal["calc"]
    expression: str
    result: Optional[float] = None


ToolCall = Annotated[Union[WebSearch, Calculator], Field(discriminator="kind")]


class LlmResponse(BaseModel):
    """An LLM response with scores, cost and latency."""

    response_id: uuid.UUID
    created: dt.datetime
    model: Literal["small", "large"]
    prompt_tokens: int
    cost_usd: decimal.Decimal
    latency: dt.timedelta
    scores: list[float]
    rating: Optional[Literal[1, 2, 3, 4, 5]] = None
    usage: dict[str, float]
    tool_calls: list[ToolCall]
    first_tool: Optional[ToolCall] = None
    answer: Union[int, str]


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 3


class LedgerEntry(BaseModel):
    """Money and dates: what a label-vendor invoice line looks like."""

    entry: int
    booked_on: dt.date
    due: Optional[dt.date] = None
    amount: decimal.Decimal
    priority: Priority
    vendor_id: uuid.UUID


def clips():
    for i in range(12):
        yield Clip(
            clip_id=uuid.UUID(int=(i + 1) * 0x1234567890ABCDEF1234567890AB),
            file=File(source="s3://fleet", path=f"clips/{i:03}.mp4", size=1000 + i, etag=f"e{i}"),
            recorded_at=dt.datetime(2024, 5, 1, 12, i, 7, 250 * i, tzinfo=CEST if i % 2 else UTC),
            weather=["clear", "rain", "fog", "snow", "night"][i % 5],
            speed_mps=i / 3 + 0.1,
            tags=[f"t{j}" for j in range(i % 3)],
            resolution=(1920, 1080) if i % 2 else (1280, 720),
            gps=None if i % 3 == 0 else (52.0 + i / 1000, 13.4, "wgs84"),
        )


def fragments():
    for i in range(10):
        yield AudioFragment(
            file=File(source="s3://audio", path=f"rec/{i}.flac", size=4096 * i),
            recorded_on=dt.date(2023, 12, 31) + dt.timedelta(days=i),
            start=dt.time(23, 59, 59, 999999) if i == 0 else dt.time(i, 2 * i, 3, 1000 * i),
            length=dt.timedelta(days=i // 4, seconds=i * 61, microseconds=7 * i)
            * (-1 if i == 9 else 1),
            sample_rate=list(SampleRate)[i % 3],
            channels=1 + i % 2,
            transcript=None if i % 4 == 0 else f"fragment {i}",
        )


def responses():
    for i in range(10):
        yield LlmResponse(
            response_id=uuid.UUID(int=i * 977 + 5),
            created=dt.datetime(2025, 1, 2, 3, 4, 5, i, tzinfo=UTC),
            model="small" if i % 2 else "large",
            prompt_tokens=100 * i,
            cost_usd=decimal.Decimal(f"0.{i:03}75") * (-1 if i == 3 else 1),
            latency=dt.timedelta(milliseconds=125 * i + 1),
            scores=[i / 7, 1 - i / 9],
            rating=None if i % 3 == 0 else 1 + i % 5,
            usage={"input": i * 1.5, "output": i / 4} if i % 2 else {},
            tool_calls=[
                WebSearch(kind="search", query=f"q{i}")
                if j % 2
                else Calculator(kind="calc", expression=f"{i}+{j}", result=None if j else i + j)
                for j in range(i % 4)
            ],
            first_tool=None if i % 2 else WebSearch(kind="search", query="first", top_k=i),
            answer=i if i % 3 else f"answer {i}",
        )


def ledger():
    for i in range(8):
        yield LedgerEntry(
            entry=i,
            booked_on=dt.date(2024, 2, 28) + dt.timedelta(days=i),
            due=None if i % 2 else dt.date(2024, 3, 31),
            amount=decimal.Decimal("12345678901234567890.123456789") if i == 0 else decimal.Decimal(i) / 8,
            priority=Priority.LOW if i % 2 else Priority.HIGH,
            vendor_id=uuid.uuid5(uuid.NAMESPACE_URL, f"vendor/{i}"),
        )


class Reading(BaseModel):
    """A sensor reading: NaN for a dropout, infinities for a saturated channel."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    reading_id: int
    value: float
    history: list[float]
    calibrated: Optional[float] = None


def readings():
    specials = [float("nan"), float("inf"), -float("inf"), 0.5]
    for i in range(8):
        yield Reading(
            reading_id=i,
            value=specials[i % 4],
            history=[specials[(i + j) % 4] for j in range(i % 3)],
            calibrated=None if i % 2 else specials[(i + 1) % 4],
        )


class Review(BaseModel):
    """A label review with constraints: bounds, lengths, patterns (one with a lookahead)."""

    # The lookahead needs Python's `re`; Pydantic's default engine has no lookaround.
    model_config = ConfigDict(regex_engine="python-re")

    review_id: int = Field(ge=1)
    score: float = Field(ge=0, le=1)
    label: str = Field(min_length=1, max_length=20, pattern=r"^[a-z_]+$")
    note: Optional[str] = Field(default=None, pattern=r"^(?!spam)")
    boxes: list[Annotated[float, Field(ge=0)]] = Field(max_length=4)
    price: decimal.Decimal = Field(ge=0)
    # A set (uniqueItems) and bytes lengths are checked; a float's multiple_of and a URL's
    # format are kept and shown, not checked.
    flags: set[str]
    thumb: bytes = Field(max_length=8)
    step: float = Field(multiple_of=0.25)
    site: HttpUrl


def reviews():
    for i in range(6):
        yield Review(
            review_id=i + 1,
            score=i / 5,
            label=["car", "traffic_light", "person"][i % 3],
            note=None if i % 2 else f"checked {i}",
            boxes=[float(j) for j in range(i % 5)],
            price=decimal.Decimal(i) / 4,
            flags={f"f{j}" for j in range(i % 3)},
            thumb=b"thumb"[: i % 6],
            step=i * 0.25,
            site=f"https://labels.example/{i}",
        )


class ImageFile(File):
    """A File subclass: still a File for keys, checkout and verify, with its own columns."""

    width: int
    height: int
    format: Literal["png", "jpeg"]


class Box(BaseModel):
    x: float
    y: float
    w: float
    h: float


class Annotation(BaseModel):
    """An annotation of an image: boxes by label, who reviewed it and when."""

    image: ImageFile
    labels: list[str]
    boxes: dict[str, Box]
    reviewed_on: Optional[dt.date] = None
    quality: Literal[1, 2, 3]


IMAGE_DIR = os.path.abspath("images")


def annotations():
    os.makedirs(IMAGE_DIR, exist_ok=True)
    for i in range(6):
        data = f"image {i}".encode() * (i + 1)
        with open(os.path.join(IMAGE_DIR, f"{i}.png"), "wb") as f:
            f.write(data)
        yield Annotation(
            image=ImageFile(
                source=f"file://{IMAGE_DIR}",
                path=f"{i}.png",
                size=len(data),
                width=640 + i,
                height=480,
                format="png",
            ),
            labels=["car"] * (i % 3),
            boxes={f"car{j}": Box(x=j, y=j / 2, w=10.5, h=3) for j in range(i % 3)},
            reviewed_on=None if i % 2 else dt.date(2024, 7, i + 1),
            quality=1 + i % 3,
        )


CASES = [
    ("fleet.clips", Clip, list(clips()), "clip_id"),
    ("audio.fragments", AudioFragment, list(fragments()), "file.path"),
    ("llm.responses", LlmResponse, list(responses()), "response_id"),
    ("finance.ledger", LedgerEntry, list(ledger()), "entry"),
    ("vision.annotations", Annotation, list(annotations()), "image"),
    ("sensor.readings", Reading, list(readings()), "reading_id"),
    ("labels.reviews", Review, list(reviews()), "review_id"),
]


# ---- checks -----------------------------------------------------------------------------


def key_of(model, key):
    if key == "image":
        return model.image.path
    value = model
    for part in key.split("."):
        value = getattr(value, part)
    return str(value)


def same_rows(name, cls, originals, read_back, key, how):
    assert len(read_back) == len(originals), f"{name} {how}: {len(read_back)} rows, wanted {len(originals)}"
    wanted = {key_of(m, key): m for m in originals}
    for row in read_back:
        got = cls.model_validate(row)
        original = wanted[key_of(got, key)]
        # NaN is not equal to itself: such models compare by their JSON.
        same = got == original or got.model_dump_json() == original.model_dump_json()
        assert same, f"{name} {how}:\n  got    {got!r}\n  wanted {original!r}"


def unions_chosen(value):
    """A union in Parquet is a struct of its `tag` and one field per variant: the chosen one."""
    if isinstance(value, dict):
        if isinstance(value.get("tag"), str) and value["tag"] in value:
            return unions_chosen(value[value["tag"]])
        return {key: unions_chosen(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unions_chosen(item) for item in value]
    return value


def dicts_of(cls):
    """Top-level dict fields: pyarrow reads a map as a list of (key, value) pairs."""
    return [n for n, info in cls.model_fields.items() if getattr(info.annotation, "__origin__", None) is dict]


def tuples_of(cls):
    """Top-level tuple fields: Parquet holds them as structs of `_0`, `_1`, ..."""
    out = []
    for field_name, info in cls.model_fields.items():
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        if getattr(annotation, "__origin__", None) is tuple or any(
            getattr(arg, "__origin__", None) is tuple for arg in args
        ):
            out.append(field_name)
    return out


def durations_of(cls):
    """Top-level timedelta fields: Parquet holds them as int microseconds."""
    out = []
    for field_name, info in cls.model_fields.items():
        if info.annotation is dt.timedelta:
            out.append(field_name)
    return out


def check(name, cls, originals, key):
    schema_path = f"{name}.schema.json"
    records_path = f"{name}.jsonl"
    with open(schema_path, "w") as f:
        json.dump(cls.model_json_schema(), f, indent=2)
    with open(records_path, "w") as f:
        for model in originals:
            f.write(model.model_dump_json() + "\n")
    pail("commit", name, "--from", records_path, "--schema", schema_path, "--key", key)

    declared = list(cls.model_fields)
    lines = pail("rows", name, "--json").splitlines()
    rows = [json.loads(line) for line in lines]
    assert list(rows[0]) == declared, f"{name}: rows --json keys {list(rows[0])}, declared {declared}"
    same_rows(name, cls, originals, rows, key, "rows --json")

    pail("export", name, "-o", f"{name}.jsonl.out", "--format", "jsonl")
    with open(f"{name}.jsonl.out") as f:
        exported = [json.loads(line) for line in f if line.strip()]
    same_rows(name, cls, originals, exported, key, "export jsonl")

    pail("export", name, "-o", f"{name}.parquet")
    table = pq.read_table(f"{name}.parquet")
    assert table.column_names == declared, f"{name}: parquet columns {table.column_names}"
    parquet_rows = [unions_chosen(row) for row in table.to_pylist()]
    for row in parquet_rows:
        for field_name in durations_of(cls):
            row[field_name] = dt.timedelta(microseconds=row[field_name])
        for field_name in dicts_of(cls):
            row[field_name] = dict(row[field_name])
        for field_name in tuples_of(cls):
            if row[field_name] is not None:
                row[field_name] = tuple(row[field_name].values())
    same_rows(name, cls, originals, parquet_rows, key, "export parquet")

    schema_text = pail("schema", name)
    order = [line.split(":")[0] for line in schema_text.splitlines() if not line.startswith(" ")]
    assert order == declared, f"{name}: pail schema order {order}"
    print(f"ok {name}: {len(originals)} rows")


def check_shown_types():
    text = pail("schema", "audio.fragments") + pail("schema", "llm.responses") + pail("schema", "fleet.clips")
    for shown in [
        "recorded_on: date",
        "start: time (UTC)",
        "length: duration",
        "sample_rate: int enum(16000, 44100, 48000)",
        "channels: int enum(1, 2)",
        "response_id: string (uuid)",
        "cost_usd: decimal(38, 9)",
        "usage: map<string, float>",
        "resolution: tuple<int, int>",
        "gps: optional<tuple<float, float, string>>",
        "tool_calls: list<union<search, calc> by kind>",
        "answer: union<int, string>",
    ]:
        assert shown in text, f"`{shown}` not in pail schema:\n{text}"


def check_csv_cells_in_declared_order():
    """A struct inside a list or union, as a CSV cell, keeps the model's field order."""
    import csv

    pail("export", "llm.responses", "-o", "responses.csv", "--format", "csv")
    with open("responses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    orders = set()
    for row in rows:
        for call in json.loads(row["tool_calls"], object_pairs_hook=lambda pairs: pairs):
            orders.add(tuple(key for key, _ in call))
    assert orders == {("kind", "query", "top_k"), ("kind", "expression", "result")}, orders


def check_file_subclass():
    """An `ImageFile(File)` column is a File: keyed by source and path, checked out, verified."""
    text = pail("schema", "vision.annotations")
    assert "image: File (with width, height, format)" in text, text
    assert "  width: int" in text, text
    pail("checkout", "vision.annotations", "--to", "out")
    for i in range(6):
        with open(os.path.join("out", f"{i}.png"), "rb") as f:
            assert f.read() == f"image {i}".encode() * (i + 1)
    pail("verify", "vision.annotations")


def check_refusals():
    """A decimal that does not fit is refused with its line, never rounded."""
    with open("ledger.schema.json", "w") as f:
        json.dump(LedgerEntry.model_json_schema(), f)
    good = next(ledger()).model_dump_json()
    bad = json.loads(good)
    bad["amount"] = "0.0000000001"
    with open("bad.jsonl", "w") as f:
        f.write(good + "\n" + json.dumps(bad) + "\n")
    out = subprocess.run(
        [PAIL, "commit", "bad", "--from", "bad.jsonl", "--schema", "ledger.schema.json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1, out
    assert "line 2" in out.stderr and "amount" in out.stderr and "never rounded" in out.stderr, out.stderr

    # NaN dumped as Pydantic's default null: refused, with the setting that keeps it.
    class Plain(BaseModel):
        value: float

    with open("plain.schema.json", "w") as f:
        json.dump(Plain.model_json_schema(), f)
    with open("plain.jsonl", "w") as f:
        f.write(Plain(value=float("nan")).model_dump_json() + "\n")
    out = subprocess.run(
        [PAIL, "commit", "plain", "--from", "plain.jsonl", "--schema", "plain.schema.json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1, out
    assert "line 1: value" in out.stderr and "ser_json_inf_nan='constants'" in out.stderr, out.stderr


def check_decimal_numbers():
    """A decimal written as a JSON number (other writers than Pydantic, which writes a
    string) is stored exactly, however many digits it has: never through a float. One that
    does not fit decimal(38, 9) is refused with its line and field, never rounded."""
    amounts = [
        "12345678901234567.89",
        "-98765432109876543210.123456789",
        "0.100000000",
        "1e3",
        "100000000000000000000.000000001",
        "0.5",
    ]

    def line(i, amount):
        entry = json.loads(next(ledger()).model_dump_json())
        entry.update(entry=i, amount="AMOUNT")
        return json.dumps(entry).replace('"AMOUNT"', amount)

    with open("ledger.schema.json", "w") as f:
        json.dump(LedgerEntry.model_json_schema(), f)
    with open("numbers.jsonl", "w") as f:
        f.write("".join(line(i, amount) + "\n" for i, amount in enumerate(amounts)))
    pail("commit", "finance.numbers", "--from", "numbers.jsonl", "--schema", "ledger.schema.json", "--key", "entry")
    wanted = [decimal.Decimal(amount) for amount in amounts]
    rows = [json.loads(text) for text in pail("rows", "finance.numbers", "--json").splitlines()]
    got = [LedgerEntry.model_validate(row).amount for row in rows]
    assert got == wanted, got
    pail("export", "finance.numbers", "-o", "numbers.parquet")
    table = pq.read_table("numbers.parquet")
    assert str(table.schema.field("amount").type) == "decimal128(38, 9)", table.schema
    assert table.column("amount").to_pylist() == wanted, table.column("amount").to_pylist()

    for amount, reason in [
        ("0.1000000000000000055", "more than 9 digits after the point"),
        ("123456789012345678901234567890.5", "more than 29 digits before the point"),
    ]:
        with open("bad.jsonl", "w") as f:
            f.write(line(0, "1.5") + "\n" + line(1, amount) + "\n")
        out = subprocess.run(
            [PAIL, "commit", "bad", "--from", "bad.jsonl", "--schema", "ledger.schema.json"],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 1, out
        wanted_text = f"line 2: amount: expected decimal(38, 9), found float {amount}: it has {reason}"
        assert wanted_text in out.stderr, out.stderr


def check_constraints():
    """Constraints are shown by `pail schema` and refused at commit with line and field;
    the lookahead is kept and shown, not checked."""
    text = pail("schema", "labels.reviews")
    for shown in [
        "review_id: int Field(ge=1)",
        "score: float Field(ge=0, le=1)",
        "label: string Field(min_length=1, max_length=20, pattern=r'^[a-z_]+$')",
        "note: optional<string> Field(pattern=r'^(?!spam)' (kept, not checked))",
        "boxes: list<float> Field(max_items=4) []: Field(ge=0)",
        "price: decimal(38, 9) Field(ge=0.0)",
        "flags: list<string> Field(unique_items=True)",
        "thumb: bytes (utf8) Field(max_length=8)",
        "step: float Field(multiple_of=0.25 (kept, not checked))",
        "site: string Field(min_length=1, max_length=2083, format=\"uri\" (kept, not checked))",
    ]:
        assert shown in text, f"`{shown}` not in pail schema:\n{text}"
    good = json.loads(next(reviews()).model_dump_json())
    for change, wanted in [
        ({"score": 1.5}, "line 2: score: 1.5 is not le=1"),
        ({"label": "Car"}, "line 2: label: \"Car\" does not match pattern="),
        ({"boxes": [1.0, -1.0]}, "line 2: boxes[1]: -1.0 is not ge=0"),
        ({"price": "-0.25"}, "line 2: price: -0.250000000 is not ge=0.0"),
        ({"thumb": "123456789"}, "line 2: thumb: 9 bytes, more than max_length=8"),
    ]:
        bad = dict(good, **change)
        # Pydantic refuses it too.
        try:
            Review.model_validate(bad)
            raise AssertionError(f"pydantic accepts {change}")
        except ValueError:
            pass
        with open("bad.jsonl", "w") as f:
            f.write(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
        out = subprocess.run(
            [PAIL, "commit", "labels.reviews", "--from", "bad.jsonl", "--schema", "labels.reviews.schema.json"],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 1 and wanted in out.stderr, (change, out.stderr)
    # A set written with a repeated item: refused (JSON Schema's uniqueItems; Pydantic
    # would quietly drop the repeat, so the row would not read back as written).
    with open("bad.jsonl", "w") as f:
        f.write(json.dumps(good) + "\n" + json.dumps(dict(good, flags=["a", "b", "a"])) + "\n")
    out = subprocess.run(
        [PAIL, "commit", "labels.reviews", "--from", "bad.jsonl", "--schema", "labels.reviews.schema.json"],
        capture_output=True,
        text=True,
    )
    wanted = "line 2: flags[2]: the same as item 0, but unique_items=True (a set)"
    assert out.returncode == 1 and wanted in out.stderr, out.stderr
    # What cannot be checked exactly is not: Pydantic (with Python's `re`) refuses this
    # note, pail keeps it.
    spam = dict(good, note="spam!")
    with open("spam.jsonl", "w") as f:
        f.write(json.dumps(spam) + "\n")
    pail("commit", "labels.spam", "--from", "spam.jsonl", "--schema", "labels.reviews.schema.json")


def query(sql):
    """`pail query --json` rows, decimals read exactly."""
    text = pail("query", sql, "--json")
    return [json.loads(line, parse_float=decimal.Decimal) for line in text.splitlines()]


def check_queries():
    """SQL over each type answers what Python computes from the same models."""
    entries, audio = list(ledger()), list(fragments())
    march = [e for e in entries if e.booked_on >= dt.date(2024, 3, 1)]
    got = query(
        'SELECT sum(amount) AS s, count(*) AS n FROM "finance.ledger" '
        "WHERE booked_on >= DATE '2024-03-01'"
    )
    assert got == [{"s": sum(e.amount for e in march), "n": len(march)}], got
    got = query('SELECT entry, amount FROM "finance.ledger" WHERE amount > 0.5 ORDER BY entry')
    assert got == [{"entry": e.entry, "amount": e.amount} for e in entries if e.amount > decimal.Decimal("0.5")], got
    got = query('SELECT count(*) AS n FROM "finance.ledger" WHERE priority = 3')
    assert got == [{"n": sum(1 for e in entries if e.priority == Priority.HIGH)}], got

    early = [f for f in audio if f.start < dt.time(5)]
    got = query(
        "SELECT sum(length) AS us, count(*) AS n, min(recorded_on) AS first "
        "FROM \"audio.fragments\" WHERE start < '05:00:00'"
    )
    micros = sum(f.length // dt.timedelta(microseconds=1) for f in early)
    assert got == [{"us": micros, "n": len(early), "first": min(f.recorded_on for f in early).isoformat()}], got

    responses_ = list(responses())
    got = query(
        "SELECT response_id, usage['input'] AS x FROM \"llm.responses\" "
        "WHERE usage['input'] > 5 ORDER BY 1"
    )
    want = sorted((str(r.response_id), r.usage["input"]) for r in responses_ if r.usage.get("input", 0) > 5)
    assert [(row["response_id"], float(row["x"])) for row in got] == want, got
    got = query("SELECT answer['tag'] AS t, count(*) AS n FROM \"llm.responses\" GROUP BY 1 ORDER BY 1")
    ints = sum(1 for r in responses_ if isinstance(r.answer, int))
    assert got == [{"t": "int", "n": ints}, {"t": "string", "n": len(responses_) - ints}], got
    got = query("SELECT sum(answer['int']) AS s FROM \"llm.responses\"")
    assert got == [{"s": sum(r.answer for r in responses_ if isinstance(r.answer, int))}], got

    clips_ = list(clips())
    got = query("SELECT resolution['_0'] AS w, count(*) AS n FROM \"fleet.clips\" GROUP BY 1 ORDER BY 1")
    widths = sorted({c.resolution[0] for c in clips_})
    assert got == [{"w": w, "n": sum(1 for c in clips_ if c.resolution[0] == w)} for w in widths], got
    cutoff = dt.datetime(2024, 5, 1, 12, 5, tzinfo=UTC)
    got = query(
        "SELECT count(*) AS n FROM \"fleet.clips\" WHERE recorded_at > TIMESTAMP '2024-05-01T12:05:00Z'"
    )
    assert got == [{"n": sum(1 for c in clips_ if c.recorded_at > cutoff)}], got
    one = clips_[3].clip_id
    got = query(f"SELECT count(*) AS n FROM \"fleet.clips\" WHERE clip_id = '{one}'")
    assert got == [{"n": 1}], got
    print("ok queries")


def main():
    pail("init")
    for name, cls, originals, key in CASES:
        check(name, cls, originals, key)
    check_queries()
    check_shown_types()
    check_csv_cells_in_declared_order()
    check_file_subclass()
    check_constraints()
    check_refusals()
    check_decimal_numbers()
    print("ok")


if __name__ == "__main__":
    sys.exit(main())
