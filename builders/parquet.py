"""Parquet shards in the Hub layout: ``data/<config>/<split>-NNNNN-of-NNNNN.parquet``.

Shards are bounded in size so the Hub viewer and partial downloads stay cheap, and written with fixed
settings so the same rows always give the same bytes. Every shard carries the config's declared
schema (``builders.contract``), never one inferred from its rows: an empty split, or a column that is
null in every row of a shard, is still typed, and ``datasets`` reads the declared ``Features``.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 10_000


def shard_count(table: pa.Table, max_shard_bytes: int) -> int:
    # in-memory Arrow size over-estimates compressed Parquet, so shards land under the bound
    return max(1, math.ceil(table.nbytes / max_shard_bytes)) if table.num_rows else 1


def shard_name(split: str, index: int, total: int) -> str:
    return f"{split}-{index:05d}-of-{total:05d}.parquet"


def write_split(table: pa.Table, folder: Path, split: str, max_shard_bytes: int, schema: pa.Schema) -> list[Path]:
    """Write one split as evenly sized shards in the declared ``schema``; returns the files in order."""
    if not table.schema.equals(schema, check_metadata=False):
        raise ValueError(f"{folder.name}/{split}: table columns {table.schema.names} are not the declared "
                         f"{schema.names}; build it with builders.contract")
    table = table.replace_schema_metadata(schema.metadata)
    folder.mkdir(parents=True, exist_ok=True)
    total = shard_count(table, max_shard_bytes)
    per = math.ceil(table.num_rows / total) if table.num_rows else 0
    files = []
    for i in range(total):
        part = table.slice(i * per, per) if table.num_rows else table
        path = folder / shard_name(split, i, total)
        pq.write_table(part, path, compression="zstd", row_group_size=ROW_GROUP_ROWS,
                       write_statistics=True, use_dictionary=True)
        files.append(path)
    return files


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
