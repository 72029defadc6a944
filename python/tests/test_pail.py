"""`import pail` against a local repository: open, commit, read, query, tag, diff, sync,
errors, and the `pail` command the wheel installs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Literal, Optional

import pyarrow as pa
import pyarrow.parquet as pq
import pydantic
import pytest

import pail
from conftest import run_pail


class Meta(pydantic.BaseModel):
    camera: str
    exposure: float


class Clip(pydantic.BaseModel):
    file: pail.File
    duration_s: float
    weather: Literal["clear", "rain", "fog", "snow", "night"]
    meta: Optional[Meta] = None


ROWS = [
    {"id": 1, "label": "cat", "score": 0.5},
    {"id": 2, "label": "dog", "score": 0.75},
    {"id": 3, "label": "cat", "score": 1.0},
]


def clip(path: str, weather: str = "clear") -> Clip:
    return Clip(
        file=pail.File(source="s3://bucket", path=path, size=4, etag="e1"),
        duration_s=1.5,
        weather=weather,
        meta=Meta(camera="front", exposure=0.01),
    )


# ---- opening ---------------------------------------------------------------------------


def test_init_then_repo_finds_it_from_a_subdirectory(work: Path, monkeypatch) -> None:
    created = pail.Repo.init(work)
    assert Path(created.dir) == work / ".pail"
    (work / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(work / "a" / "b")
    assert Path(pail.Repo().dir) == work / ".pail"
    assert Path(pail.Repo(work / "a").dir) == work / ".pail"


def test_repo_outside_a_repository_is_a_user_error_with_the_cli_hint(work: Path) -> None:
    with pytest.raises(pail.UserError) as caught:
        pail.Repo()
    err = caught.value
    assert isinstance(err, pail.PailError)
    assert err.exit_code == 1
    assert err.message.startswith("not a pail repository")
    assert err.hint == "run `pail init` here, or set PAIL_DIR to a .pail directory"
    assert "hint: run `pail init`" in str(err)


def test_pail_dir_names_the_repository(work: Path, monkeypatch) -> None:
    pail.Repo.init(work / "elsewhere")
    monkeypatch.setenv("PAIL_DIR", str(work / "elsewhere" / ".pail"))
    assert Path(pail.Repo().dir) == work / "elsewhere" / ".pail"


# ---- commit and read -------------------------------------------------------------------


def test_commit_dicts_and_read_them_back(repo: pail.Repo) -> None:
    ds = repo.commit("labels", ROWS, key=["id"], message="first labels")
    assert (ds.name, ds.version, ds.message, ds.n_rows) == (
        "local.default.labels",
        "1.0.0",
        "first labels",
        3,
    )
    assert len(ds.commit) == 64 and ds.key == ["id"]
    same = repo.dataset("labels@1.0.0")
    assert same.commit == ds.commit
    assert repo.dataset("labels").commit == ds.commit
    assert ds.to_arrow().to_pylist() == ROWS
    assert [field["name"] for field in ds.schema["fields"]] == ["id", "label", "score"]
    assert list(ds.rows()) == ROWS


def test_to_batches_streams_a_record_batch_reader(repo: pail.Repo) -> None:
    rows = [{"id": i, "text": f"row {i}"} for i in range(5000)]
    ds = repo.commit("many", rows, key=["id"])
    reader = ds.to_batches()
    assert isinstance(reader, pa.RecordBatchReader)
    assert reader.schema.names == ["id", "text"]
    seen = 0
    for batch in reader:
        assert isinstance(batch, pa.RecordBatch)
        seen += batch.num_rows
    assert seen == 5000
    # A Dataset is itself an Arrow stream (the PyCapsule interface).
    assert pa.table(ds).num_rows == 5000


def test_to_pandas_and_to_polars(repo: pail.Repo) -> None:
    ds = repo.commit("labels", ROWS, key=["id"])
    pandas = pytest.importorskip("pandas")
    frame = ds.to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert frame["label"].tolist() == ["cat", "dog", "cat"]
    polars = pytest.importorskip("polars")
    frame = ds.to_polars()
    assert isinstance(frame, polars.DataFrame)
    assert frame["score"].to_list() == [0.5, 0.75, 1.0]


def test_to_arrow_equals_pail_export(repo: pail.Repo, work: Path) -> None:
    repo.commit("clips", [clip("b.mp4", "rain"), clip("a.mp4")], message="clips")
    run_pail("export", "clips@1.0.0", "-o", "clips.parquet", cwd=work)
    exported = pq.read_table(work / "clips.parquet")
    mine = repo.dataset("clips@1.0.0").to_arrow()
    assert mine.schema.equals(exported.schema, check_metadata=False)
    assert mine.to_pylist() == exported.to_pylist()
    assert [row["file"]["path"] for row in mine.to_pylist()] == ["a.mp4", "b.mp4"]


def test_commit_a_pyarrow_table_round_trips(repo: pail.Repo) -> None:
    table = pa.table(
        {
            "id": pa.array([3, 1, 2], pa.int64()),
            "tags": pa.array([["x"], [], ["y", "z"]]),
            "nested": pa.array([{"a": 1}, {"a": 2}, {"a": 3}]),
        }
    )
    ds = repo.commit("arrow", table, key=["id"])
    back = ds.to_arrow()
    assert back.to_pylist() == table.sort_by("id").to_pylist()


def test_commit_dataframes_and_a_record_batch_reader(repo: pail.Repo) -> None:
    expected = [{"id": 1, "x": "a"}, {"id": 2, "x": "b"}]
    pandas = pytest.importorskip("pandas")
    ds = repo.commit("from_pandas", pandas.DataFrame({"id": [2, 1], "x": ["b", "a"]}), key=["id"])
    assert ds.to_arrow().to_pylist() == expected
    polars = pytest.importorskip("polars")
    ds = repo.commit("from_polars", polars.DataFrame({"id": [2, 1], "x": ["b", "a"]}), key=["id"])
    assert ds.to_arrow().to_pylist() == expected
    assert polars.DataFrame(ds).to_dicts() == expected
    reader = pa.table({"id": [2, 1], "x": ["b", "a"]}).to_reader(max_chunksize=1)
    ds = repo.commit("from_reader", reader, key=["id"])
    assert ds.to_arrow().to_pylist() == expected


def test_rows_that_are_not_records_are_a_user_error(repo: pail.Repo) -> None:
    with pytest.raises(pail.UserError) as caught:
        repo.commit("bad", [{"id": 1}, 2])
    assert caught.value.message == "row 1 is a int, not a dict or a Pydantic model"


def test_commit_pydantic_models_takes_the_schema_from_the_model(repo: pail.Repo) -> None:
    ds = repo.commit("clips", [clip("a.mp4"), clip("b.mp4", "fog")])
    fields = {field["name"]: field for field in ds.schema["fields"]}
    assert fields["file"]["type"] == "File"
    assert fields["weather"]["type"] == "enum"
    # The key defaults to the File's source and path, as for the CLI.
    assert ds.key == ["file.source", "file.path"]
    back = list(ds.rows(model=Clip))
    assert back == [clip("a.mp4"), clip("b.mp4", "fog")]


def test_dicts_are_validated_by_the_model(repo: pail.Repo) -> None:
    good = clip("a.mp4").model_dump(mode="json")
    bad = clip("b.mp4").model_dump(mode="json")
    bad["meta"]["exposure"] = "bright"
    with pytest.raises(pail.UserError) as caught:
        repo.commit("clips", [good, bad], model=Clip)
    assert "row 1" in caught.value.message
    assert "meta.exposure" in caught.value.message
    with pytest.raises(pail.UserError):
        repo.dataset("clips")


def test_python_and_cli_commits_store_the_same_rows_and_schema(
    repo: pail.Repo, work: Path
) -> None:
    rows = [clip("a.mp4"), clip("b.mp4", "snow")]
    (work / "rows.jsonl").write_text(
        "".join(row.model_dump_json() + "\n" for row in rows)
    )
    (work / "schema.json").write_text(json.dumps(Clip.model_json_schema()))
    run_pail("commit", "from_cli", "--from", "rows.jsonl", "--schema", "schema.json", cwd=work)
    from_python = repo.commit("from_python", rows, model=Clip)
    from_cli = repo.dataset("from_cli")
    for field in ("rows", "schema", "key", "n_rows", "n_bytes"):
        assert from_python.info[field] == from_cli.info[field], field


NULLABLE_ROWS = [
    {"id": 2, "label": "dog", "note": "x", "meta": None, "tags": [], "scores": None},
    {"id": 1, "label": "cat", "note": None, "meta": {"a": 1, "b": None},
     "tags": ["p", "q"], "scores": [0.5, None]},
    {"id": 3, "label": "cat", "note": None, "meta": {"a": 3, "b": "y"},
     "tags": ["r"], "scores": [1.0]},
]


def test_arrow_dicts_and_cli_json_lines_commit_the_same_version(work: Path) -> None:
    # pyarrow declares every field nullable; a field that holds no null commits as
    # required, as JSON inference makes a field it never saw null.
    table = pa.Table.from_pylist(NULLABLE_ROWS)
    assert all(field.nullable for field in table.schema)
    from_arrow = pail.Repo.init(work / "arrow").commit("rows", table, key=["id"], message="m")
    from_dicts = pail.Repo.init(work / "dicts").commit("rows", NULLABLE_ROWS, key=["id"], message="m")
    (work / "cli").mkdir()
    (work / "cli" / "rows.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in NULLABLE_ROWS)
    )
    run_pail("init", cwd=work / "cli")
    run_pail("commit", "rows", "--from", "rows.jsonl", "--key", "id", "-m", "m", cwd=work / "cli")
    from_cli = pail.Repo(work / "cli").dataset("rows")
    for field in ("rows", "schema", "key", "n_rows", "n_bytes"):
        assert from_arrow.info[field] == from_cli.info[field], field
    # The CLI records its command line (in the commit and the summary's lineage): the
    # rest of the summary is the same, and the two Python commits are the same commit.
    def statistics(ds: pail.Dataset) -> dict:
        summary = ds.summary_json()
        del summary["id"], summary["lineage"]["command"]
        return summary

    assert statistics(from_arrow) == statistics(from_cli)
    assert from_arrow.commit == from_dicts.commit
    assert run_pail("schema", "rows", cwd=work / "arrow").stdout == (
        "id: int\nlabel: string\nnote: optional<string>\n"
        "meta: optional<struct>\n  a: int\n  b: optional<string>\n"
        "tags: list<string>\nscores: optional<list<optional<float>>>\n"
    )


def test_commit_a_local_directory_listing(repo: pail.Repo, work: Path) -> None:
    images = work / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"aaaa")
    (images / "b.jpg").write_bytes(b"bb")
    ds = repo.commit("photos", images, message="listing", hash=True)
    rows = ds.to_arrow().to_pylist()
    assert [(row["file"]["path"], row["file"]["size"]) for row in rows] == [
        ("a.jpg", 4),
        ("b.jpg", 2),
    ]
    assert all(len(row["file"]["blake3"]) == 64 for row in rows)
    files = [row.file for row in ds.rows(model=pydantic.create_model("Row", file=(pail.File, ...)))]
    assert files[0].path == "a.jpg" and files[0].source.startswith("file://")
    # Unchanged storage gives no new version.
    again = repo.commit("photos", images, hash=True)
    assert again.commit == ds.commit
    # Lineage: a version made from the listing.
    labels = repo.commit("labels", ROWS, key=["id"], inputs=[ds], code=[str(images / "a.jpg")])
    assert labels.info["inputs"] and labels.info["code"]


# ---- query, log, tag, diff -------------------------------------------------------------


def test_query_returns_arrow(repo: pail.Repo) -> None:
    repo.commit("labels", ROWS, key=["id"])
    result = repo.query(
        "SELECT label, count(*) AS n FROM labels GROUP BY label ORDER BY label"
    )
    assert isinstance(result, pa.Table)
    assert result.to_pylist() == [{"label": "cat", "n": 2}, {"label": "dog", "n": 1}]


def test_bad_sql_is_a_user_error(repo: pail.Repo) -> None:
    repo.commit("labels", ROWS, key=["id"])
    with pytest.raises(pail.UserError) as caught:
        repo.query("SELEC nonsense")
    assert caught.value.message.startswith("SQL syntax error")
    assert caught.value.hint


def test_log_tag_and_diff(repo: pail.Repo) -> None:
    v1 = repo.commit("labels", ROWS, key=["id"], message="one")
    changed = [dict(row) for row in ROWS]
    changed[1]["label"] = "wolf"
    changed.append({"id": 4, "label": "owl", "score": 0.1})
    v2 = repo.commit("labels", changed, key=["id"], message="two")
    assert v2.version == "1.0.1"
    log = repo.log("labels")
    assert [(entry["version"], entry["message"]) for entry in log] == [
        ("1.0.1", "two"),
        ("1.0.0", "one"),
    ]
    assert repo.diff("labels@1.0.0", v2) == {"added": 1, "removed": 0, "modified": 1}
    tagged = repo.tag(v1, "golden")
    assert tagged["tag"] == "golden"
    assert repo.dataset("labels@golden").commit == v1.commit
    with pytest.raises(pail.UserError) as caught:
        repo.tag("labels@1.0.1", "golden")
    assert caught.value.hint == "pass --force to move the tag"
    repo.tag("labels@1.0.1", "golden", force=True)
    assert repo.dataset("labels@golden").commit == v2.commit


def test_unknown_version_is_a_user_error(repo: pail.Repo) -> None:
    repo.commit("labels", ROWS, key=["id"])
    with pytest.raises(pail.UserError) as caught:
        repo.dataset("labels@9.9.9")
    assert "has no version" in caught.value.message
    assert caught.value.hint == "`pail log local.default.labels` lists its versions"


# ---- push and pull ---------------------------------------------------------------------


def test_push_and_pull_through_a_directory(work: Path) -> None:
    alice = pail.Repo.init(work / "alice")
    ds = alice.commit("labels", ROWS, key=["id"])
    alice.remote_add("origin", str(work / "remote"))
    pushed = alice.push("origin")
    assert pushed["versions_created"]
    bob = pail.Repo.init(work / "bob")
    bob.remote_add("origin", str(work / "remote"))
    pulled = bob.pull("origin")
    assert pulled["versions_added"]
    assert bob.dataset("labels@1.0.0").commit == ds.commit
    assert bob.dataset("labels@1.0.0").to_arrow().to_pylist() == ROWS


def test_push_and_pull_through_s3(work: Path, s3: str) -> None:
    url = f"{s3}/python-{uuid.uuid4().hex}"
    alice = pail.Repo.init(work / "alice")
    ds = alice.commit("labels", ROWS, key=["id"])
    alice.remote_add("origin", url)
    alice.push("origin")
    bob = pail.Repo.init(work / "bob")
    bob.remote_add("origin", url)
    bob.pull("origin")
    assert bob.dataset("labels").commit == ds.commit


def test_pull_from_an_unknown_remote_is_a_user_error(repo: pail.Repo) -> None:
    with pytest.raises(pail.UserError) as caught:
        repo.pull("nowhere")
    assert caught.value.hint == "add one: `pail remote add origin s3://bucket/prefix`"


# ---- the `pail` command ----------------------------------------------------------------


def test_the_wheel_installs_the_pail_command(repo: pail.Repo, work: Path) -> None:
    repo.commit("labels", ROWS, key=["id"])
    shown = run_pail("log", "labels", "--json", cwd=work)
    assert "local.default.labels" in shown.stdout
    missing = run_pail("log", "nothing", cwd=work, check=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ")
    assert "hint: " in missing.stderr


def test_file_schema_is_marked_as_pail_file() -> None:
    schema = pail.File.model_json_schema()
    assert schema["title"] == "File"
    assert schema["x-pail-type"] == "file"
