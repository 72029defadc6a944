"""pail: git for datasets of files in object storage, from Python.

The same library as the `pail` command (one Rust crate underneath, one repository
format), with Arrow in and out and Pydantic models for schemas::

    import pail

    repo = pail.Repo()                                # finds .pail/ like the CLI
    photos = repo.commit("photos", "s3://bucket/images", message="listing")
    ds = repo.dataset("photos@1.0.0")
    ds.to_arrow(); ds.to_pandas(); ds.to_batches()
    repo.query("SELECT count(*) AS n FROM photos").to_pylist()
    for row in ds.rows(model=Row): row.file.read()    # bytes from storage, verified

Errors are `pail.UserError` (the CLI's exit code 1) or `pail.InternalError` (2), both
`pail.PailError`, with the CLI's message and hint. docs/python.md has the whole API.
"""

from __future__ import annotations

import datetime as _datetime
import io as _io
import json as _json
import os as _os
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Type, Union

import pyarrow as _pa
import pydantic as _pydantic

from pail import _pail
from pail._errors import InternalError, PailError, UserError

__all__ = [
    "Dataset",
    "File",
    "InternalError",
    "PailError",
    "Repo",
    "UserError",
]


class File(_pydantic.BaseModel):
    """A file in object storage, as pail records it: pail's File type.

    Its JSON Schema (titled ``File``, marked ``x-pail-type: file``) is what pail
    recognises as a File column, so a model with a ``pail.File`` field commits that
    column as Files. A subclass with extra fields stays a File.

    ``read()``, ``open()`` (streaming) and ``to_local(dir)`` fetch the bytes from the
    source, verified as ``pail checkout`` verifies them.
    """

    model_config = _pydantic.ConfigDict(
        title="File", json_schema_extra={"x-pail-type": "file"}
    )

    source: str
    """The storage the file is in: ``s3://bucket``, ``file:///dir``, ..."""
    path: str
    """The file's path (key) inside its source."""
    size: Optional[int] = None
    etag: Optional[str] = None
    version: Optional[str] = None
    last_modified: Optional[_datetime.datetime] = None
    blake3: Optional[str] = None
    """The BLAKE3 digest of the bytes, hex, when the listing hashed them."""

    _pail_origin: Optional[str] = _pydantic.PrivateAttr(default=None)
    # The remote this File's version was fetched from (set by `Dataset.rows`): its
    # `file://` sources are refused, as by `pail checkout`.

    def _json(self) -> str:
        return self.model_dump_json(include=set(_FILE_FIELDS))

    def _origin(self, allow_local_sources: bool) -> Optional[str]:
        return None if allow_local_sources else self._pail_origin

    def read(self, *, allow_unverified: bool = False, allow_local_sources: bool = False) -> bytes:
        """The file's bytes, fetched from its source through pail's object-store code
        (credentials from the environment, as for the CLI) and verified as ``pail
        checkout`` verifies them: the size, etag, version and BLAKE3 the File records. A
        mismatch (the object changed after the commit) raises `UserError`.

        The rules are checkout's: a File that records none of size, etag, version or
        BLAKE3 is refused unless ``allow_unverified``; a ``file://`` File from a version
        pulled from a remote is refused unless ``allow_local_sources``; the path must be a
        plain relative path inside its source. The whole object is held in memory:
        ``open()`` streams. Ctrl-C stops a long read.
        """
        return _pail.read_file(
            self._json(), allow_unverified, self._origin(allow_local_sources)
        )

    def open(
        self, *, allow_unverified: bool = False, allow_local_sources: bool = False
    ) -> _io.BufferedReader:
        """A read-only binary file object over the file's bytes, streamed from its source
        (memory stays bounded) and verified as ``read()`` verifies them: the rules, etag
        and version before the first byte, the size and BLAKE3 when the end is reached
        (the read that reaches it raises `UserError` instead of returning ``b""``).

        Use it as a context manager; ``read(n)``, ``read()``, ``readinto``, ``readline``
        and iteration over lines work; it cannot seek.
        """
        reader = _pail.open_file(
            self._json(), allow_unverified, self._origin(allow_local_sources)
        )
        return _io.BufferedReader(_FileRaw(reader, self.path), buffer_size=256 * 1024)

    def to_local(
        self,
        dir: Union[str, "_os.PathLike[str]"],
        *,
        allow_unverified: bool = False,
        allow_local_sources: bool = False,
    ) -> str:
        """Downloads the file, verified as ``read()`` verifies it, to ``dir/<path>`` and
        returns that path. Missing directories are made (never through a symlink); the
        bytes go to a temporary name first, so the path never holds a partial or
        unverified file, and a file already there is replaced."""
        written = _pail.fetch_file(
            self._json(), _os.fspath(dir), allow_unverified, self._origin(allow_local_sources)
        )
        return str(written)


_FILE_FIELDS = ("source", "path", "size", "etag", "version", "blake3")


class _FileRaw(_io.RawIOBase):
    """The raw stream under ``File.open()``: reads from the extension's FileReader."""

    def __init__(self, reader: Any, name: str) -> None:
        super().__init__()
        self._reader = reader
        self.name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._reader.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
        super().close()


def _ref_of(item: Union[str, "Dataset"]) -> str:
    return item.ref if isinstance(item, Dataset) else str(item)


class Dataset:
    """One version of a dataset: its name, version, commit id and schema, and its rows
    as Arrow (``to_arrow``, ``to_batches``), pandas, polars or Pydantic models."""

    def __init__(self, repo: "Repo", info: Dict[str, Any]) -> None:
        self._repo = repo
        self.info: Dict[str, Any] = info
        """Everything `pail show --json` says of this version."""

    @property
    def name(self) -> str:
        """The full name: ``namespace.project.name``."""
        return self.info["name"]

    @property
    def version(self) -> Optional[str]:
        """The semantic version, or None when only a commit id names it."""
        return self.info["version"]

    @property
    def commit(self) -> str:
        """The commit id (hex)."""
        return self.info["id"]

    @property
    def ref(self) -> str:
        """``name@<commit id>``: a ref to exactly this version."""
        return f"{self.name}@{self.commit}"

    @property
    def message(self) -> str:
        return self.info["message"]

    @property
    def n_rows(self) -> int:
        return self.info["n_rows"]

    @property
    def key(self) -> List[str]:
        """The columns that identify a row."""
        return self.info["key"]

    @property
    def schema(self) -> Dict[str, Any]:
        """The version's schema, as `pail schema --json` prints it (with ``columns``)."""
        return _json.loads(self._repo._inner.schema(self.ref))

    def to_batches(self) -> _pa.RecordBatchReader:
        """The rows as a stream of record batches, in key order, read as it is consumed
        (memory stays bounded). It crosses through the Arrow C stream interface."""
        return _pa.RecordBatchReader.from_stream(self._repo._inner.batches(self.ref))

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The Arrow PyCapsule interface: polars, DuckDB and pyarrow read a Dataset
        directly."""
        return self._repo._inner.batches(self.ref).__arrow_c_stream__(requested_schema)

    def to_arrow(self) -> _pa.Table:
        """All rows as a pyarrow Table: the same rows and types as `pail export`."""
        reader = self.to_batches()
        # Batch by batch in Python, so Ctrl-C is seen between batches.
        return _pa.Table.from_batches([batch for batch in reader], schema=reader.schema)

    def to_pandas(self) -> Any:
        """All rows as a pandas DataFrame (needs pandas)."""
        return self.to_arrow().to_pandas()

    def to_polars(self) -> Any:
        """All rows as a polars DataFrame (needs polars)."""
        import polars

        return polars.from_arrow(self.to_arrow())

    def rows(self, model: Optional[Type[_pydantic.BaseModel]] = None) -> Iterator[Any]:
        """The rows one at a time, as dicts, or as ``model`` instances. The ``pail.File``
        fields of a model's rows know the version they came from, so ``read()`` applies
        checkout's rule on pulled versions' ``file://`` sources. Values are as
        ``rows --json`` gives them: a union as its chosen variant, a tuple as a list, a
        map as a dict, a duration as a ``timedelta``."""
        origin = None if model is None else _pail.fetched_from(self._repo._inner, self.ref)
        # Columns whose Arrow form differs from their JSON one (`_natural`).
        shaped = {
            field["name"]: field for field in self.schema["fields"] if not _same_in_arrow(field)
        }
        for batch in self.to_batches():
            for row in batch.to_pylist():
                for name, field in shaped.items():
                    row[name] = _natural(row[name], field)
                if model is None:
                    yield row
                    continue
                instance = model.model_validate(row)
                if origin is not None:
                    _mark_files(instance, origin)
                yield instance

    @property
    def lineage(self) -> Dict[str, Any]:
        """What this version was made from, recursively, as `pail lineage --json` gives
        it: ``nodes`` (versions and storage sources), ``edges`` (``from`` an input ``to``
        what was made from it), ``root`` (this version's node) and ``direction``.
        ``repo.lineage(ref, down=True)`` follows the other way."""
        return self._repo.lineage(self.ref)

    def summary(self, max_tokens: int = 2000) -> str:
        """The compiled summary of this version as the Markdown page `pail summary`
        prints (columns, value statistics, files, example rows, lineage), bounded to
        about ``max_tokens`` tokens."""
        return _pail.summary(self._repo._inner, self.ref, max_tokens)

    def summary_json(self) -> Dict[str, Any]:
        """The compiled summary of this version as `pail summary --json` gives it."""
        return _json.loads(_pail.summary_json(self._repo._inner, self.ref))

    def __repr__(self) -> str:
        return f"<pail.Dataset {self.name}@{self.version or self.commit[:12]}>"

    report: Optional[Dict[str, Any]] = None
    """For a version `Repo.map` returned: how its rows were made (`pail map --json`)."""


class Repo:
    """A pail repository (a ``.pail/`` directory).

    ``Repo()`` finds it as the CLI does: ``PAIL_DIR``, else ``.pail/`` in the current
    directory or its nearest parent; ``Repo(path)`` starts from ``path``.
    """

    def __init__(self, path: Union[str, "_os.PathLike[str]", None] = None) -> None:
        self._inner = _pail.Repo(None if path is None else _os.fspath(path))

    @classmethod
    def init(cls, path: Union[str, "_os.PathLike[str]"] = ".") -> "Repo":
        """Creates ``.pail/`` in ``path`` (like ``pail init`` there) and opens it;
        an existing repository is opened as it is."""
        repo = cls.__new__(cls)
        repo._inner = _pail.Repo.init(_os.fspath(path))
        return repo

    @property
    def dir(self) -> str:
        """The ``.pail`` directory."""
        return str(self._inner.dir)

    def dataset(self, ref: str) -> Dataset:
        """The version a ref names: ``name@1.0.2``, ``name@latest``, ``name@tag``,
        ``name@<commit id prefix>``, or ``name`` (latest)."""
        return Dataset(self, _json.loads(self._inner.show(ref)))

    def query(self, sql: str) -> _pa.Table:
        """Runs SQL over versions (a dataset is a table named by its ref:
        ``SELECT * FROM "photos@1.0.1"``) and returns the result as a pyarrow Table."""
        return _pa.RecordBatchReader.from_stream(self._inner.query(sql)).read_all()

    def log(self, name: str) -> List[Dict[str, Any]]:
        """The versions of a dataset, newest first, as `pail log --json` gives them."""
        return _json.loads(self._inner.log(name))

    def tag(self, ref: Union[str, Dataset], tag: str, force: bool = False) -> Dict[str, Any]:
        """Points ``tag`` at a version; ``force`` moves a tag that points elsewhere."""
        return _json.loads(self._inner.tag(_ref_of(ref), tag, force))

    def diff(self, old: Union[str, Dataset], new: Union[str, Dataset]) -> Dict[str, int]:
        """Rows ``added``, ``removed`` and ``modified`` from ``old`` to ``new``
        (`pail diff --stat`)."""
        return _json.loads(self._inner.diff_stat(_ref_of(old), _ref_of(new)))

    def remote_add(self, name: str, url: str) -> None:
        """Adds a remote: ``s3://bucket/prefix``, ``az://...``, ``gs://...`` or a
        directory. Credentials come from the environment, as for the CLI."""
        self._inner.remote_add(name, _os.fspath(url))

    def push(self, remote: str = "origin", datasets: Sequence[str] = (), force: bool = False) -> Dict[str, Any]:
        """Pushes every dataset (or the named ones) to a remote; `pail push --json`."""
        return _json.loads(self._inner.push(remote, list(datasets), force))

    def pull(self, remote: str = "origin", datasets: Sequence[str] = ()) -> Dict[str, Any]:
        """Pulls every dataset (or the named ones) from a remote; `pail pull --json`."""
        return _json.loads(self._inner.pull(remote, list(datasets)))

    def commit(
        self,
        name: str,
        rows: Any,
        *,
        model: Optional[Type[_pydantic.BaseModel]] = None,
        message: str = "",
        key: Optional[Sequence[str]] = None,
        inputs: Sequence[Union[str, Dataset]] = (),
        code: Sequence[Union[str, "_os.PathLike[str]"]] = (),
        bump: Optional[str] = None,
        hash: bool = False,
    ) -> Dataset:
        """Commits a new version of ``name`` and returns it (or the latest version,
        when nothing changed).

        ``rows`` is one of:

        - a storage source to list: ``"s3://bucket/prefix"``, ``"az://..."``, a
          directory (``hash=True`` records each file's BLAKE3 digest);
        - Arrow data: a pyarrow Table or RecordBatchReader, a polars or pandas
          DataFrame (anything with ``__arrow_c_stream__``);
        - an iterable of dicts or Pydantic model instances.

        ``model`` (or the class of Pydantic rows) gives the schema, from
        ``model.model_json_schema()``; dict rows are validated against it, and a row
        that breaks it raises `UserError` with the row's index and the field's path.
        ``inputs`` are the versions this one was made from, ``code`` the files that made
        it (both recorded as lineage), ``bump`` forces ``"minor"`` or ``"major"``.
        """
        if isinstance(rows, (str, _os.PathLike)):
            data: Any = _os.fspath(rows)
        elif hasattr(rows, "__arrow_c_stream__"):
            data = rows
        else:
            data, model = _json_lines(rows, model)
        args = {
            "name": name,
            "message": message,
            "bump": bump,
            "key": None if key is None else list(key),
            "schema": None if model is None else _json.dumps(model.model_json_schema()),
            "inputs": [_ref_of(item) for item in inputs],
            "code": [_os.fspath(path) for path in code],
            "hash": hash,
        }
        outcome = _json.loads(self._inner.commit(args, data))
        return self.dataset(f"{outcome['name']}@{outcome['version']}")

    @classmethod
    def clone(
        cls, url: str, path: Union[str, "_os.PathLike[str]"]
    ) -> "Repo":
        """Clones the remote at ``url`` (``s3://bucket/prefix``, ``az://...``,
        ``gs://...``, ``file:///dir`` or a directory) into ``path``, as `pail clone URL
        PATH` does: ``path`` must be new or empty, the remote is added as ``origin`` and
        every dataset is pulled. A failed clone leaves nothing behind."""
        repo = cls.__new__(cls)
        repo._inner = _pail.clone_repo(_os.fspath(url), _os.fspath(path))
        return repo

    def lineage(self, ref: Union[str, Dataset], down: bool = False) -> Dict[str, Any]:
        """The lineage of a version as `pail lineage --json` gives it: what it was made
        from, recursively, or with ``down`` what was made from it."""
        return _json.loads(_pail.lineage(self._inner, _ref_of(ref), down))

    def __repr__(self) -> str:
        return f"<pail.Repo {self.dir}>"

    def map(
        self,
        ds: Union[str, Dataset],
        fn: Any,
        *,
        to: str,
        jobs: int = 4,
        delta: bool = False,
        code: Sequence[Union[str, "_os.PathLike[str]"]] = (),
        replace: bool = False,
        schema: Optional[Type[_pydantic.BaseModel]] = None,
        model: Optional[Type[_pydantic.BaseModel]] = None,
        max_errors: int = 0,
        no_cache: bool = False,
        restart: bool = False,
        fetch: bool = False,
        message: str = "",
        progress: Optional[bool] = None,
    ) -> Dataset:
        """Runs ``fn`` on every row of ``ds`` in ``jobs`` worker processes and saves the
        results as a new version of ``to``, like `pail map`; returns that version, whose
        ``report`` says how each row was made (``ran``, ``cached``, ``resumed``,
        ``carried``, ``removed``, ``failed``: `pail map --json`).

        ``fn(row)`` gets a row as a dict (a File column is a dict too), or as an instance
        of ``model`` (default: ``fn``'s first parameter's annotation when it is a
        Pydantic model), and returns a dict or a Pydantic model: its fields are added to
        the row (with ``replace=True``, they are the row). It is sent to the workers with cloudpickle, so a function defined in
        a notebook, in ``__main__`` or inside another function works; the workers are new
        processes pail starts (never forks of this one).

        - A run is checkpointed: an interrupted run called again continues where it
          stopped (``restart=True`` starts over; ``jobs()`` lists unfinished runs).
        - Results are cached by row, the function's source and the ``code`` files: the
          same call again reads them (``no_cache=True`` runs every row). Values the
          function captures are not part of the key: name their files in ``code`` or
          pass ``no_cache=True`` when they change.
        - ``delta=True`` runs only rows added or changed since the input version the
          last output of ``to`` was made from, and carries the others over.
        - An exception in ``fn`` fails its row; more than ``max_errors`` failed rows
          raise `UserError` and save nothing (finished rows are kept for the next run).
        - ``schema`` (default: ``fn``'s return annotation when it is a Pydantic model)
          is the model every result must follow.
        - ``fetch=True`` downloads each row's File first and adds its local path to the
          row as ``local_path``.
        - ``progress``: the bar `pail map` draws on a terminal, or a line in a notebook;
          ``False`` draws nothing.
        """
        from pail import _map

        report = _map.run(
            self._inner,
            _ref_of(ds),
            fn,
            to=to,
            jobs=jobs,
            delta=delta,
            code=[_os.fspath(path) for path in code],
            replace=replace,
            schema=schema,
            model=model,
            max_errors=max_errors,
            no_cache=no_cache,
            restart=restart,
            fetch=fetch,
            message=message,
            progress=progress,
        )
        out = self.dataset(report["version"])
        out.report = report
        return out

    def jobs(self) -> List[Dict[str, Any]]:
        """Unfinished `map` runs (`pail jobs --json`): ``job``, ``input``, ``to``,
        ``command`` and ``done`` (rows persisted so far)."""
        return _json.loads(self._inner.jobs())

    def discard_job(self, job: str) -> str:
        """Discards what an unfinished `map` run persisted, by job id (or a prefix);
        returns its id."""
        return self._inner.discard_job(job)

    def __reduce__(self) -> Any:
        # A Repo pickles as its place, so a `map` function (or a Pydantic model defined
        # in a function, which keeps that function's locals) may capture one.
        return (Repo, (_os.path.dirname(self.dir),))


def _json_lines(
    rows: Iterable[Any], model: Optional[Type[_pydantic.BaseModel]]
) -> "tuple[bytes, Optional[Type[_pydantic.BaseModel]]]":
    """Dicts or Pydantic instances as JSON lines, each validated by ``model`` (or the
    first instance's class) when there is one."""
    lines = []
    for index, row in enumerate(rows):
        if model is None and isinstance(row, _pydantic.BaseModel):
            model = type(row)
        if model is not None and not isinstance(row, model):
            try:
                row = model.model_validate(row)
            except _pydantic.ValidationError as err:
                first = err.errors()[0]
                path = ".".join(str(part) for part in first["loc"]) or "(the row)"
                raise UserError(
                    f"row {index} does not fit {model.__name__}: {path}: {first['msg']}",
                    hint="fix the row, or change the model",
                ) from err
        if isinstance(row, _pydantic.BaseModel):
            row = row.model_dump(mode="json")
        elif not isinstance(row, dict):
            raise UserError(
                f"row {index} is a {type(row).__name__}, not a dict or a Pydantic model",
                hint="pass a list of dicts or Pydantic models, or a pyarrow Table",
            )
        lines.append(_json.dumps(row, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode() if lines else b"", model


def _same_in_arrow(ty: Dict[str, Any]) -> bool:
    """Whether pyarrow reads a value of this type (a `pail schema --json` type) as its
    JSON form: everything but unions, tuples, maps and durations, and what holds them."""
    kind = ty["type"]
    if kind in ("union", "tuple", "map", "duration"):
        return False
    if kind == "list":
        return _same_in_arrow(ty["item"])
    if kind in ("struct", "File"):
        return all(_same_in_arrow(field) for field in ty.get("fields") or [])
    return True


def _natural(value: Any, ty: Dict[str, Any]) -> Any:
    """A value as pyarrow reads pail's Arrow form of it, as its JSON form: a union's struct
    of ``tag`` and variants as the chosen variant, a tuple's struct of ``_0``, ``_1``, ...
    as a list, a map's (key, value) pairs as a dict, a duration's microseconds as a
    ``timedelta``."""
    if value is None or _same_in_arrow(ty):
        return value
    kind = ty["type"]
    if kind == "union":
        for variant in ty["variants"]:
            if variant["name"] == value["tag"]:
                return _natural(value[variant["name"]], variant)
        return value
    if kind == "tuple":
        return [_natural(value[f"_{idx}"], item) for idx, item in enumerate(ty["items"])]
    if kind == "map":
        return {key: _natural(item, ty["value"]) for key, item in value}
    if kind == "duration":
        return _datetime.timedelta(microseconds=value)
    if kind == "list":
        return [_natural(item, ty["item"]) for item in value]
    fields = {field["name"]: field for field in ty.get("fields") or []}
    return {
        key: _natural(item, fields[key]) if key in fields else item
        for key, item in value.items()
    }


def _mark_files(value: Any, origin: str) -> None:
    """Records on every `File` inside ``value`` the remote its version came from."""
    if isinstance(value, File):
        value._pail_origin = origin
    if isinstance(value, _pydantic.BaseModel):
        for name in type(value).model_fields:
            _mark_files(getattr(value, name), origin)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _mark_files(item, origin)
    elif isinstance(value, dict):
        for item in value.values():
            _mark_files(item, origin)
