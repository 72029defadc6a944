"""The worker process of `repo.map`: ``python -m pail._worker FILE``.

pail's Rust map starts it (once per job slot, never forked from the calling process) and
speaks the `pail map` worker protocol with it: one JSON row per line on stdin, one answer
per line on stdout, in the same order. An answer is the function's result as a JSON object
(a dict, or a Pydantic model's ``model_dump(mode="json")``), or a JSON string, the reason
the row failed, when the function raised.

FILE (written by pail/_map.py) holds two pickles: first a dict of plain values (the
caller's ``sys.path``, so modules the function names by reference import here too), then
the function and the Pydantic model of its rows (or None: rows are dicts), pickled by
cloudpickle (by value when defined in ``__main__``, a notebook or the caller's own
modules).
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import traceback
from typing import Any, Callable, Dict, Tuple


def _columns(result: Any, name: str) -> Dict[str, Any]:
    """The result columns of one row: a dict, or a Pydantic model's JSON dump."""
    dump = getattr(result, "model_dump", None)
    if callable(dump) and not isinstance(result, type):
        result = dump(mode="json")
    if not isinstance(result, dict):
        raise TypeError(
            f"{name} returned {type(result).__name__}, not a dict or a Pydantic model"
        )
    return result


def _jsonable(value: Any) -> Any:
    """JSON for values ``json`` does not know (datetimes, models, sets...), as Pydantic
    would dump them."""
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value)


def _load(path: str) -> Tuple[Callable[[Any], Any], Any]:
    """The function and the model of its rows (or None)."""
    with open(path, "rb") as file:
        meta = pickle.load(file)
        for entry in reversed(meta.get("sys_path", [])):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        return pickle.load(file)


def _answer(fn: Callable[[Any], Any], model: Any, name: str, line: bytes) -> str:
    try:
        row = json.loads(line)
        if model is not None:
            row = model.model_validate(row)
        columns = _columns(fn(row), name)
        return json.dumps(
            columns, ensure_ascii=False, separators=(",", ":"), default=_jsonable
        )
    except Exception as err:  # the row fails, the worker goes on
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        return json.dumps(f"{name}: {reason}", ensure_ascii=False)


def main(argv: list) -> int:
    if len(argv) != 2:
        print("usage: python -m pail._worker FILE", file=sys.stderr)
        return 2
    # Answers go to the original stdout; anything the function prints (or a library it
    # calls writes to fd 1) goes to stderr, so it cannot break the protocol.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        fn, model = _load(argv[1])
        name = getattr(fn, "__qualname__", None) or type(fn).__name__
    except Exception as err:
        # Every row fails with the reason (a worker that exited would be restarted for
        # each row, and say only that it exited).
        traceback.print_exc(file=sys.stderr)
        failed = json.dumps(f"the function could not be loaded: {type(err).__name__}: {err}")
        fn, model, name = None, None, ""
    rows = sys.stdin.buffer
    try:
        while True:
            line = rows.readline()
            if not line:
                return 0
            answer = failed if fn is None else _answer(fn, model, name, line)
            answers.write(answer + "\n")
            answers.flush()
    except (KeyboardInterrupt, BrokenPipeError):
        # Interrupted, or pail stopped reading: the row was not answered, so it is run
        # again by the next run.
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
