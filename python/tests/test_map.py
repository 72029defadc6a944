"""`repo.map` with a Python function: worker processes, the result cache, `delta`,
checkpoints that survive a killed run, and failed rows."""

from __future__ import annotations

import importlib
import inspect
import os
import signal
import subprocess
import sys
import textwrap
import time
import types
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pydantic
import pytest

import pail

ROWS = [
    {"id": 1, "label": "cat", "score": 0.5},
    {"id": 2, "label": "dog", "score": 0.75},
    {"id": 3, "label": "cat", "score": 1.0},
]


def describe(row: Dict[str, Any]) -> Dict[str, Any]:
    # Printing must not break the worker protocol (stdout carries the answers).
    print("describing", row["id"])
    return {"upper": row["label"].upper(), "double": row["score"] * 2}


def counted(row: Dict[str, Any]) -> Dict[str, Any]:
    """Appends each call to calls.txt (in the working directory the workers share)."""
    with open("calls.txt", "a") as calls:
        calls.write(f"{row['id']}\n")
    return {"n": row["id"] * 10}


class Length(pydantic.BaseModel):
    n_chars: int


def length(row: Dict[str, Any]) -> Length:
    return Length(n_chars=len(row["label"]))


def wrong_length(row: Dict[str, Any]) -> Length:
    return {"n_chars": row["label"]}  # type: ignore[return-value]


def test_the_return_annotation_is_the_results_schema(repo: pail.Repo, nums: pail.Dataset) -> None:
    out = repo.map(nums, length, to="lengths")
    assert [row["n_chars"] for row in by_id(out)] == [3, 3, 3]
    with pytest.raises(pail.UserError) as caught:
        repo.map(nums, wrong_length, to="lengths")
    assert "the result breaks schema" in caught.value.message


def calls(work: Path) -> List[int]:
    path = work / "calls.txt"
    return sorted(int(line) for line in path.read_text().split()) if path.exists() else []


def by_id(ds: pail.Dataset) -> List[Dict[str, Any]]:
    return sorted(ds.to_arrow().to_pylist(), key=lambda row: row["id"])


@pytest.fixture
def nums(repo: pail.Repo) -> pail.Dataset:
    return repo.commit("nums", ROWS, key=["id"])


def test_map_a_module_level_function(repo: pail.Repo, nums: pail.Dataset) -> None:
    out = repo.map(nums, describe, to="described", jobs=2)
    assert isinstance(out, pail.Dataset)
    assert out.name.endswith("described")
    assert by_id(out) == [
        {"id": 1, "label": "cat", "score": 0.5, "upper": "CAT", "double": 1.0},
        {"id": 2, "label": "dog", "score": 0.75, "upper": "DOG", "double": 1.5},
        {"id": 3, "label": "cat", "score": 1.0, "upper": "CAT", "double": 2.0},
    ]
    assert out.report is not None
    assert (out.report["ran"], out.report["cached"], out.report["failed"]) == (3, 0, 0)
    assert out.report["n_rows"] == 3
    assert repo.jobs() == []


def test_map_a_closure_a_lambda_and_a_pydantic_result(repo: pail.Repo, nums: pail.Dataset) -> None:
    offset = 100

    class Caption(pydantic.BaseModel):
        text: str
        long: bool

    def caption(row: Dict[str, Any]) -> Caption:
        return Caption(text=f"a {row['label']}", long=row["id"] + offset > 102)

    out = repo.map(nums, caption, to="captions")
    assert [(row["text"], row["long"]) for row in by_id(out)] == [
        ("a cat", False),
        ("a dog", False),
        ("a cat", True),
    ]
    assert {"text", "long"} <= set(out.schema["columns"])

    # `schema` is the model every result must follow.
    with pytest.raises(pail.UserError) as caught:
        repo.map(nums, lambda row: {"text": row["label"]}, to="wrong", schema=Caption)
    assert "the result breaks schema" in caught.value.message

    plus = repo.map(nums, lambda row: {"plus": row["id"] + offset}, to="plus", replace=True)
    assert sorted(row["plus"] for row in plus.to_arrow().to_pylist()) == [101, 102, 103]
    assert plus.report["ran"] == 3


def test_a_warm_run_reads_the_cache(repo: pail.Repo, nums: pail.Dataset, work: Path) -> None:
    first = repo.map(nums, counted, to="counted")
    assert first.report["ran"] == 3
    assert calls(work) == [1, 2, 3]
    second = repo.map(nums, counted, to="counted_again")
    assert (second.report["ran"], second.report["cached"]) == (0, 3)
    assert calls(work) == [1, 2, 3], "the function ran again"
    assert by_id(second) == by_id(first)
    # no_cache runs every row.
    third = repo.map(nums, counted, to="counted_again", no_cache=True)
    assert third.report["ran"] == 3
    assert calls(work) == [1, 1, 2, 2, 3, 3]


def test_delta_runs_only_new_and_changed_rows(repo: pail.Repo, nums: pail.Dataset, work: Path) -> None:
    repo.map(nums, counted, to="counted")
    changed = [
        {"id": 1, "label": "cat", "score": 0.5},
        {"id": 2, "label": "wolf", "score": 0.75},
        {"id": 3, "label": "cat", "score": 1.0},
        {"id": 4, "label": "eel", "score": 0.1},
    ]
    (work / "calls.txt").unlink()
    repo.commit("nums", changed, key=["id"])
    out = repo.map("nums", counted, to="counted", delta=True)
    assert calls(work) == [2, 4]
    assert (out.report["ran"], out.report["carried"]) == (2, 2)
    assert [row["n"] for row in by_id(out)] == [10, 20, 30, 40]
    assert [row["label"] for row in by_id(out)] == ["cat", "wolf", "cat", "eel"]


def test_delta_without_an_earlier_output_says_what_to_do(repo: pail.Repo, nums: pail.Dataset) -> None:
    with pytest.raises(pail.UserError) as caught:
        repo.map(nums, counted, to="never", delta=True)
    assert "delta=True needs an earlier output" in caught.value.message
    assert caught.value.hint == "run once with delta=False first"


def test_changing_the_source_invalidates_the_cache(repo: pail.Repo, nums: pail.Dataset, work: Path, monkeypatch) -> None:
    module = work / "features.py"
    module.write_text("def feature(row):\n    return {'v': 1}\n")
    monkeypatch.syspath_prepend(str(work))
    import features  # type: ignore[import-not-found]

    try:
        first = repo.map(nums, features.feature, to="features")
        assert first.report["ran"] == 3
        again = repo.map(nums, features.feature, to="features")
        assert again.report["cached"] == 3
        module.write_text("def feature(row):\n    return {'v': 22}\n")
        importlib.reload(features)
        edited = repo.map(nums, features.feature, to="features")
        assert (edited.report["ran"], edited.report["cached"]) == (3, 0)
        assert [row["v"] for row in by_id(edited)] == [22, 22, 22]
    finally:
        sys.modules.pop("features", None)


def test_code_files_are_part_of_the_cache_key(repo: pail.Repo, nums: pail.Dataset, work: Path) -> None:
    (work / "labels.txt").write_text("v1")
    first = repo.map(nums, counted, to="coded", code=["labels.txt"])
    assert first.report["ran"] == 3
    assert repo.map(nums, counted, to="coded", code=["labels.txt"]).report["cached"] == 3
    (work / "labels.txt").write_text("v2")
    assert repo.map(nums, counted, to="coded", code=["labels.txt"]).report["ran"] == 3


def failing(row: Dict[str, Any]) -> Dict[str, Any]:
    if row["label"] == "dog":
        raise ValueError(f"no dogs ({row['id']})")
    return {"ok": True}


def test_an_exception_fails_its_row(repo: pail.Repo, nums: pail.Dataset) -> None:
    with pytest.raises(pail.UserError) as caught:
        repo.map(nums, failing, to="failing")
    err = caught.value
    assert "1 row(s) failed (more than max_errors 0)" in err.message
    assert "failing: ValueError: no dogs (2)" in err.message
    assert err.hint is not None and "fix the function" in err.hint
    # Up to max_errors failed rows are left out of the output.
    out = repo.map(nums, failing, to="failing", max_errors=1)
    assert [row["id"] for row in by_id(out)] == [1, 3]
    assert out.report["failed"] == 1


def test_a_result_that_is_not_a_dict_fails_its_row(repo: pail.Repo, nums: pail.Dataset) -> None:
    with pytest.raises(pail.UserError) as caught:
        repo.map(nums, lambda row: row["id"], to="bad")
    assert "returned int, not a dict or a Pydantic model" in caught.value.message


def test_a_function_that_cannot_be_pickled_is_a_user_error(repo: pail.Repo, nums: pail.Dataset) -> None:
    import threading

    lock = threading.Lock()

    def locked(row: Dict[str, Any]) -> Dict[str, Any]:
        with lock:
            return {"n": 1}

    with pytest.raises(pail.UserError) as caught:
        repo.map(nums, locked, to="locked")
    assert "locked cannot be sent to the workers" in caught.value.message
    assert "inside the function" in (caught.value.hint or "")


def test_a_function_the_workers_cannot_load_fails_every_row_with_the_reason(
    repo: pail.Repo, nums: pail.Dataset, monkeypatch
) -> None:
    # A module with no file, so pickled by reference, which the workers cannot import.
    ghost = types.ModuleType("ghost_module")
    exec("def f(row):\n    return {'a': 1}\n", ghost.__dict__)
    monkeypatch.setitem(sys.modules, "ghost_module", ghost)
    with pytest.raises(pail.UserError) as caught:
        repo.map(nums, ghost.f, to="ghost")
    assert "3 row(s) failed" in caught.value.message
    assert (
        "the function could not be loaded: ModuleNotFoundError: No module named 'ghost_module'"
        in caught.value.message
    )


def test_map_needs_a_function(repo: pail.Repo, nums: pail.Dataset) -> None:
    with pytest.raises(pail.UserError, match="map needs a function"):
        repo.map(nums, "python3 f.py", to="bad")


MAPPER = """
import sys
import time

import pail


def slow(row):
    time.sleep(0.01)
    return {"sq": row["id"] * row["id"]}


if __name__ == "__main__":
    try:
        out = pail.Repo().map("big", slow, to=sys.argv[1], jobs=2, no_cache=sys.argv[2] == "fresh")
    except KeyboardInterrupt:
        print("interrupted")
        sys.exit(3)
    print(out.report)
"""


def start_and_wait_for_progress(repo: pail.Repo, work: Path, rows: int) -> subprocess.Popen:
    """Starts mapper.py over `big` in a session of its own; returns once `rows` rows are
    persisted."""
    run = subprocess.Popen(
        [sys.executable, "mapper.py", "squares", "cached"],
        cwd=work,
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    done = 0
    while done < rows:
        if run.poll() is not None or time.monotonic() > deadline:
            os.killpg(run.pid, signal.SIGKILL)
            raise AssertionError("the run ended, or made no progress, before it was stopped")
        time.sleep(0.05)
        done = sum(job["done"] for job in repo.jobs())
    return run


def test_a_killed_run_resumes_to_identical_rows(repo: pail.Repo, work: Path) -> None:
    n = 600
    repo.commit("big", [{"id": i} for i in range(n)], key=["id"])
    (work / "mapper.py").write_text(textwrap.dedent(MAPPER))
    mapper = [sys.executable, "mapper.py"]
    run = start_and_wait_for_progress(repo, work, 30)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    (job,) = repo.jobs()
    assert job["to"].endswith("squares") and 0 < job["done"] < n

    resumed = subprocess.run([*mapper, "squares", "cached"], cwd=work, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    report = eval(resumed.stdout)  # the report dict the script printed
    assert report["resumed"] >= job["done"] and report["ran"] < n
    assert report["n_rows"] == n
    assert repo.jobs() == []

    fresh = subprocess.run([*mapper, "fresh_squares", "fresh"], cwd=work, capture_output=True, text=True)
    assert fresh.returncode == 0, fresh.stderr
    assert by_id(repo.dataset("squares")) == by_id(repo.dataset("fresh_squares"))
    assert by_id(repo.dataset("squares"))[7] == {"id": 7, "sq": 49}


class Listed(pydantic.BaseModel):
    file: pail.File


def double_size(row: Listed) -> Dict[str, Any]:
    return {"double_size": (row.file.size or 0) * 2}


def read_fetched(row: Dict[str, Any]) -> Dict[str, Any]:
    with open(row["local_path"], "rb") as fetched:
        return {"text": fetched.read().decode().strip()}


def test_rows_as_models_and_fetched_files(repo: pail.Repo, work: Path) -> None:
    (work / "docs").mkdir()
    (work / "docs" / "a.txt").write_text("alpha\n")
    (work / "docs" / "b.txt").write_text("beta\n")
    docs = repo.commit("docs", "docs")
    # The first parameter's annotation is the rows' model.
    sizes = repo.map(docs, double_size, to="sizes")
    assert sorted(row["double_size"] for row in sizes.to_arrow().to_pylist()) == [10, 12]
    texts = repo.map(docs, read_fetched, to="texts", fetch=True)
    assert sorted(row["text"] for row in texts.to_arrow().to_pylist()) == ["alpha", "beta"]
    assert "local_path" not in texts.schema["columns"]


def fetched_size(row: Dict[str, Any]) -> Dict[str, Any]:
    return {"n_bytes": os.path.getsize(row["local_path"])}


def test_fetched_files_from_s3(repo: pail.Repo, nums: pail.Dataset, s3: str) -> None:
    # Objects in S3 to list: the repository's own, pushed there.
    url = f"{s3}/map-{uuid.uuid4().hex}"
    repo.remote_add("origin", url)
    repo.push("origin")
    pushed = repo.commit("pushed", url)
    assert pushed.n_rows > 0
    out = repo.map(pushed, fetched_size, to="pushed_sizes", fetch=True, jobs=2)
    rows = out.to_arrow().to_pylist()
    assert out.report["ran"] == len(rows) == pushed.n_rows
    assert all(row["n_bytes"] == row["file"]["size"] > 0 for row in rows)


def test_progress_in_a_notebook_is_a_line_on_stderr(repo: pail.Repo, nums: pail.Dataset, capsys) -> None:
    repo.map(nums, describe, to="described", progress=True)
    assert capsys.readouterr().err.endswith("\rmap: 3/3 rows\n")
    repo.map(nums, describe, to="described", progress=False)
    assert "map:" not in capsys.readouterr().err


def test_lineage_keeps_the_function_source(repo: pail.Repo, nums: pail.Dataset, work: Path) -> None:
    (work / "labels.txt").write_text("v1")
    out = repo.map(nums, describe, to="described", code=["labels.txt"])
    paths = [entry["path"] for entry in out.info["code"]]
    assert paths == ["labels.txt", f"{__name__}.describe.py"]
    size = len(inspect.getsource(describe).encode())
    assert out.info["code"][1]["size"] == size


def test_ctrl_c_stops_a_run_which_then_resumes(repo: pail.Repo, work: Path) -> None:
    n = 600
    repo.commit("big", [{"id": i} for i in range(n)], key=["id"])
    (work / "mapper.py").write_text(textwrap.dedent(MAPPER))
    run = start_and_wait_for_progress(repo, work, 20)
    # SIGINT to the Python process alone, as a notebook's interrupt sends it.
    started = time.monotonic()
    os.kill(run.pid, signal.SIGINT)
    try:
        out, _ = run.communicate(timeout=20)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert (run.returncode, out.strip()) == (3, "interrupted")
    assert time.monotonic() - started < 10
    (job,) = repo.jobs()
    assert 0 < job["done"] < n

    resumed = subprocess.run(
        [sys.executable, "mapper.py", "squares", "cached"], cwd=work, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    report = eval(resumed.stdout)
    assert report["resumed"] >= job["done"] and report["n_rows"] == n
    assert [row["sq"] for row in by_id(repo.dataset("squares"))] == [i * i for i in range(n)]
