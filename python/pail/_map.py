"""`repo.map` with a Python function, on the machinery of `pail map`.

The function is pickled with cloudpickle into a file inside the repository
(``.pail/map-functions/<digest>.pickle``, named by the digest of its qualified name and
source), and pail's Rust map runs ``<this python> -m pail._worker <that file>`` as its
worker command: the same worker processes, checkpoints, result cache and ``delta`` as the
CLI. The cache key is the row identity, the command (which names the digest), the
``code=`` files and the function's source, never the pickle's bytes, so running the same
function again reads the cache. A function without source (defined in ``python -c``, or a
callable object) is identified by its pickle instead.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import pickle
import shlex
import sys
import sysconfig
import tempfile
import types
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Type

import cloudpickle
import pydantic

from pail._errors import PailError, UserError

# The hints of `pail map`'s errors, as a Python caller acts on them.
_HINTS = {
    "fix the command and run again: finished rows resume, failed ones are retried (or raise --max-errors)":
    "fix the function and call map again: finished rows resume, failed ones are retried (or raise max_errors)",
    "run once without --delta first": "run once with delta=False first",
}
_WORDS = (
    ("--max-errors", "max_errors"),
    ("--delta", "delta=True"),
    ("--replace", "replace=True"),
    ("--schema", "schema"),
)


def _source(fn: Callable[..., Any]) -> Optional[str]:
    """The function's source, or None when Python has none (``python -c``, a builtin)."""
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return None


def _installed(module: types.ModuleType) -> bool:
    """Whether a module comes from the standard library or an installed package (those
    are imported by the worker; the caller's own modules travel by value)."""
    path = getattr(module, "__file__", None)
    if path is None:
        return True
    path = os.path.realpath(path)
    roots = {
        os.path.realpath(root)
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        for root in [sysconfig.get_paths().get(key)]
        if root
    }
    return any(path.startswith(root + os.sep) for root in roots)


def _pickle(fn: Callable[..., Any], model: Optional[type]) -> bytes:
    """The function and the rows' model, pickled by value when they live in the caller's
    own code (a notebook, ``__main__``, the caller's modules), by reference otherwise."""
    modules = {
        module
        for item in (fn, model)
        for module in [sys.modules.get(getattr(item, "__module__", None) or "")]
        if module is not None
        and module.__name__ != "__main__"
        and module.__name__.split(".")[0] != "pail"
        and not _installed(module)
    }
    for module in modules:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps((fn, model))
    except Exception as err:
        raise UserError(
            f"{_name(fn)} cannot be sent to the workers: {err}",
            hint="make what it captures picklable: create connections, locks and the like inside the function",
        ) from err
    finally:
        for module in modules:
            cloudpickle.unregister_pickle_by_value(module)


def _name(fn: Callable[..., Any]) -> str:
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{getattr(fn, '__module__', None) or '?'}.{qualname}"


def function_file(
    repo_dir: str, fn: Callable[..., Any], model: Optional[Type[pydantic.BaseModel]]
) -> Tuple[Path, Tuple[str, bytes]]:
    """Writes the function's pickle into the repository; returns its path and the
    function's identity: its name and source (or, without one, its pickle's digest),
    with the rows' model's source (or JSON Schema)."""
    pickled = _pickle(fn, model)
    name = _name(fn)
    source = _source(fn)
    identity = source.encode() if source is not None else pickled
    if model is not None:
        model_source = _source(model) or json.dumps(model.model_json_schema())
        identity += b"\n\n" + model_source.encode()
    digest = hashlib.sha256(name.encode() + b"\0" + identity).hexdigest()[:32]
    directory = Path(repo_dir) / "map-functions"
    directory.mkdir(exist_ok=True)
    path = directory / f"{digest}.pickle"
    # Written whole and renamed: a worker never reads a half-written file. The same
    # source may capture other values than last time, so the file is always rewritten.
    handle, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(_pickle_meta())
            out.write(pickled)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if source is not None:
        return path, (f"{name}.py", identity)
    return path, (name, hashlib.sha256(identity).hexdigest().encode())


def _pickle_meta() -> bytes:
    """The worker's first pickle: plain values it needs before it loads the function."""
    return pickle.dumps({"sys_path": [entry for entry in sys.path if entry]})


def _annotation(fn: Callable[..., Any], which: str) -> Optional[Type[pydantic.BaseModel]]:
    """The Pydantic model ``fn`` is annotated with: its ``return`` type, or (``which``
    ``"row"``) its first parameter's type; None when it is not a model."""
    try:
        signature = inspect.signature(fn)
        if which == "return":
            hint, key = signature.return_annotation, "return"
        else:
            first = next(iter(signature.parameters.values()), None)
            if first is None:
                return None
            hint, key = first.annotation, first.name
        if isinstance(hint, str):
            from typing import get_type_hints

            hint = get_type_hints(fn).get(key)
    except Exception:  # no signature, or a name the hints cannot resolve
        return None
    if isinstance(hint, type) and issubclass(hint, pydantic.BaseModel):
        return hint
    return None


def _in_notebook() -> bool:
    """Whether this is an IPython kernel (a notebook), whose stderr is not a terminal."""
    return "ipykernel" in sys.modules and not sys.stderr.isatty()


class _NotebookProgress:
    """`done/total rows`, rewritten in place on the notebook's stderr."""

    def __call__(self, done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\rmap: {done}/{total} rows{end}")
        sys.stderr.flush()


def _translate(err: PailError) -> PailError:
    """A `pail map` error worded for a Python caller: keyword arguments, not flags."""
    message = err.message
    for flag, keyword in _WORDS:
        message = message.replace(flag, keyword)
    err.message = message
    err.args = (message,)
    if err.hint in _HINTS:
        err.hint = _HINTS[err.hint]
    return err


def run(
    inner: Any,
    input_ref: str,
    fn: Callable[..., Any],
    *,
    to: str,
    jobs: int,
    delta: bool,
    code: Sequence[str],
    replace: bool,
    schema: Optional[Type[pydantic.BaseModel]],
    model: Optional[Type[pydantic.BaseModel]],
    max_errors: int,
    no_cache: bool,
    restart: bool,
    fetch: bool,
    message: str,
    progress: Optional[bool],
) -> Dict[str, Any]:
    """Runs the map; returns `pail map --json`'s report."""
    if not callable(fn):
        raise UserError(
            f"map needs a function, not {type(fn).__name__}",
            hint="pass a function that takes a row (a dict) and returns a dict or a Pydantic model",
        )
    model = model or _annotation(fn, "row")
    schema = schema or _annotation(fn, "return")
    path, function = function_file(str(inner.dir), fn, model)
    command = f"{shlex.quote(sys.executable)} -m pail._worker {shlex.quote(str(path))}"
    args = {
        "input": input_ref,
        "command": command,
        "to": to,
        "jobs": jobs,
        "replace": replace,
        "schema": None if schema is None else json.dumps(schema.model_json_schema()),
        "max_errors": max_errors,
        "no_cache": no_cache,
        "delta": delta,
        "restart": restart,
        "fetch": fetch,
        "message": message,
        "code": [os.fspath(item) for item in code],
        "function": function,
    }
    # On a terminal the Rust bar `pail map` draws; in a notebook, a line on its stderr.
    show = _in_notebook() if progress is None else progress
    callback = _NotebookProgress() if show and not sys.stderr.isatty() else None
    args["bar"] = progress is not False
    try:
        return json.loads(inner.map(args, callback))
    except PailError as err:
        raise _translate(err) from None
