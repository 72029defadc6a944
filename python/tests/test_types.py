"""Issue 14's types through the Python API: models with a discriminated union, a tuple,
a dict, a timedelta, a Decimal and a File subclass read back through ``rows(model=)``,
and committed as Arrow (pyarrow's reading of ``model_dump()``, or pail's own
``to_arrow()``) with ``model=``."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Annotated, Literal, Optional, Union

import pyarrow as pa
from pydantic import BaseModel, Field

import pail


class ImageFile(pail.File):
    width: int


class Search(BaseModel):
    kind: Literal["search"]
    query: str
    top_k: int = 5


class Calc(BaseModel):
    kind: Literal["calc"]
    expr: str
    result: Optional[float] = None


class Response(BaseModel):
    id: int
    image: ImageFile
    size: tuple[int, int]
    tool: Annotated[Union[Search, Calc], Field(discriminator="kind")]
    tools: list[Annotated[Union[Search, Calc], Field(discriminator="kind")]]
    answer: Union[int, str]
    usage: dict[str, float]
    latency: dt.timedelta
    cost: decimal.Decimal
    on: dt.date


def responses() -> list[Response]:
    return [
        Response(
            id=i,
            image=ImageFile(source="s3://b", path=f"{i}.png", size=10 + i, width=640 + i),
            size=(i, 2 * i),
            tool=Search(kind="search", query=f"q{i}") if i % 2 else Calc(kind="calc", expr=f"{i}+1"),
            tools=[Calc(kind="calc", expr="1", result=1.0), Search(kind="search", query="x")][: i % 3],
            answer=i if i % 2 else f"answer {i}",
            usage={"input": 1.5 * i} if i % 2 else {},
            latency=dt.timedelta(seconds=i, microseconds=7),
            cost=decimal.Decimal(f"0.{i}5"),
            on=dt.date(2024, 1, 1 + i),
        )
        for i in range(4)
    ]


def test_rows_with_a_model_read_every_type_back(repo: pail.Repo) -> None:
    models = responses()
    ds = repo.commit("responses", models, key=["id"])
    assert list(ds.rows(model=Response)) == models
    first = next(ds.rows())
    assert first["size"] == [0, 0] and first["tool"] == {"kind": "calc", "expr": "0+1", "result": None}
    assert first["usage"] == {} and first["latency"] == dt.timedelta(microseconds=7)


def test_arrow_rows_with_a_model_keep_unions_tuples_and_dicts(repo: pail.Repo) -> None:
    models = responses()
    ds = repo.commit("json", models, key=["id"])
    # pail's own Arrow form back in, and pyarrow's reading of the models' dicts.
    again = repo.commit("own", ds.to_arrow(), model=Response, key=["id"])
    assert again.info["rows"] == ds.info["rows"]
    # pyarrow cannot hold `int | str` in one column: strings only there.
    models = [model.model_copy(update={"answer": str(model.answer)}) for model in models]
    table = pa.Table.from_pylist([model.model_dump() for model in models])
    from_dicts = repo.commit("dicts", table, model=Response, key=["id"])
    assert list(from_dicts.rows(model=Response)) == models
    # Without a model, Arrow's struct is all pail knows.
    plain = repo.commit("plain", table, key=["id"])
    types = {field["name"]: field["type"] for field in plain.schema["fields"]}
    assert (types["tool"], types["image"], types["usage"]) == ("struct", "struct", "struct")
