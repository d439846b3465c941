"""The ToolMind function pool: functions from any published source, merged and deduplicated.

The offline default is the OpenAPI pool (``builders.sources.openapi_directory``); a preset can add
xLAM-60k, Glaive v2, ToolACE or OpenAI-style rows and tool lists, from a local JSON / JSONL /
Parquet file or a Hub dataset id. Rows are read with the shared normalisers and only their tool
schemas are kept. Functions merge by name + schema digest (parameters and outputs): the same tool
repeated across 60k rows is one function; two different schemas under one name stay two
functions, the one with the larger id renamed ``<name>_2``. Every function lists the sources it came from.

BFCL is evaluation data: it may be read for decontamination, never used as a pool.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from builders.errors import ConfigError, DependencyError
from builders.normalize import get_normalizer
from builders.sources.openapi import unique_names
from builders.pipeline import Rejects
from builders.schema import Function, SchemaError, content_hash, dumps, parse_tools_column

logger = logging.getLogger(__name__)

FORMATS = ("openai", "xlam", "glaive", "toolace")
EVALUATION_FORMATS = ("bfcl",)


@dataclass(frozen=True)
class FunctionSource:
    """One pool source: its row ``format`` and either a local ``path`` or a Hub ``dataset`` id."""

    format: str
    path: str | None = None
    dataset: str | None = None
    split: str = "train"
    name: str | None = None  # the label functions carry in ``sources``; default: format and file or id
    limit: int | None = None  # read at most this many rows

    def __post_init__(self):
        item = f"function source {self.name or self.path or self.dataset!r}"
        if self.format in EVALUATION_FORMATS:
            raise ConfigError(item, f"format {self.format!r} is evaluation data (BFCL) and cannot feed the pool",
                              "remove it from the pool sources; BFCL is read only to decontaminate releases")
        if self.format not in FORMATS:
            raise ConfigError(item, f"unknown format {self.format!r}", f"use one of {', '.join(FORMATS)}")
        if (self.path is None) == (self.dataset is None):
            raise ConfigError(item, "needs exactly one of 'path' and 'dataset'",
                              "give a local JSON/JSONL/Parquet path or a Hub dataset id")

    @property
    def label(self) -> str:
        return self.name or f"{self.format}:{Path(self.path).name if self.path else self.dataset}"


def read_records(src: FunctionSource) -> Iterator[dict]:
    """The source's rows as dicts, in file order."""
    rows = _hub_rows(src) if src.dataset else _file_rows(Path(src.path))
    for i, row in enumerate(rows):
        if src.limit is not None and i >= src.limit:
            return
        yield row


def _file_rows(path: Path) -> Iterator[Any]:
    if not path.is_file():
        raise ConfigError(f"function source {str(path)!r}", "the file does not exist", "fix the path in the preset")
    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            yield from batch.to_pylist()
    elif suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    yield _loads(line, f"{path} line {n}")
    elif suffix == ".json":
        data = _loads(path.read_text(encoding="utf-8"), str(path))
        yield from data if isinstance(data, list) else [data]
    else:
        raise ConfigError(f"function source {str(path)!r}", f"cannot read {suffix or 'extension-less'} files",
                          "give a .json, .jsonl or .parquet file")


def _loads(text: str, item: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(item, f"is not valid JSON ({exc.msg} at position {exc.pos})", "fix or re-export the file")


def _hub_rows(src: FunctionSource) -> Iterator[dict]:
    try:
        import datasets

        ds = datasets.load_dataset(src.dataset, split=src.split, streaming=True)
    except Exception as exc:  # offline, unknown id, gated: all mean the same to the preset author
        raise DependencyError(f"function source {src.dataset!r}", f"cannot load it from the Hub ({type(exc).__name__}: "
                              f"{str(exc)[:200]})", "download it once and point 'path' at the local file") from None
    yield from ds


def _tools_of(record: Any, src: FunctionSource, index: int) -> list[Function]:
    """The functions one record declares: a bare OpenAI tool, or a row read by its format's normaliser."""
    if src.format == "openai" and isinstance(record, dict) and "messages" not in record:
        if isinstance(record.get("tools"), (list, str)):  # a row that only lists tools
            return parse_tools_column(record["tools"], f"{src.label} row {index} tools")
        return [Function.from_openai(record, f"{src.label} row {index}")]
    return list(get_normalizer(src.format)(record, index).tools)


def function_row(fn: Function, source: str) -> dict:
    return {"name": fn.name, "description": fn.description, "parameters": dumps(fn.parameters),
            "outputs": dumps(fn.outputs) if fn.outputs is not None else None, "source": source}


def functions_from_source(src: FunctionSource, rejects: Rejects | None = None) -> list[dict]:
    """Pool rows of every function the source's rows declare (repeats included; :func:`merge_pools` folds them)."""
    rows, bad = [], 0
    for i, record in enumerate(read_records(src)):
        try:
            rows.extend(function_row(fn, src.label) for fn in _tools_of(record, src, i))
        except SchemaError as exc:
            bad += 1
            if rejects is not None:
                rejects.add("function_pool", exc.item, str(exc), record)
    logger.info("function source %s: %d function declarations, %d rows rejected", src.label, len(rows), bad)
    return rows


def schema_digest(row: dict) -> str:
    """What makes two same-named functions the same: their parameters and outputs, canonically."""
    def load(v):
        return json.loads(v) if isinstance(v, str) else v

    return content_hash({"parameters": load(row.get("parameters")), "outputs": load(row.get("outputs"))})


def merge_pools(pools: Sequence[Sequence[dict]]) -> list[dict]:
    """One row per (name, schema digest), sorted by name and id, names made unique.

    Each row keeps its first ``source`` and gains ``sources`` (every source it was seen in) and ``id``
    (a hash of name and digest, stable across runs and pool sizes).
    """
    merged: dict[tuple[str, str], dict] = {}
    for pool in pools:
        for row in pool:
            key = (row["name"], schema_digest(row))
            seen_in = row.get("sources") or [row["source"]]
            if key not in merged:
                merged[key] = {**row, "id": row.get("id") or content_hash(list(key)), "sources": []}
            have = merged[key]["sources"]
            have.extend(s for s in seen_in if s not in have)
    rows = sorted(merged.values(), key=lambda r: (r["name"], r["id"]))
    for row, name in zip(rows, unique_names(r["name"] for r in rows), strict=True):
        row["name"] = name
    return rows


def build_pool(sources: Sequence[FunctionSource], base: Sequence[dict] = (), rejects: Rejects | None = None) -> list[dict]:
    """``base`` (normally the OpenAPI pool rows) plus every source's functions, merged."""
    pools = [list(base)] + [functions_from_source(src, rejects) for src in sources]
    rows = merge_pools(pools)
    logger.info("function pool: %d functions from %d declarations", len(rows), sum(len(p) for p in pools))
    return rows
