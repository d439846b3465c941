"""Statistics a dataset card reports, computed from the tables a release writes."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
# columns whose value distribution is worth a line in the card
FACET_COLUMNS = ("provider", "category", "country", "split", "task_type", "language", "source")


def size_category(rows: int) -> str:
    for bound, label in SIZE_CATEGORIES:
        if rows < bound:
            return label
    return "n>100M"


def facets(table: pa.Table, top: int = 10) -> dict[str, list[tuple[str, int]]]:
    out = {}
    for col in FACET_COLUMNS:
        if col not in table.column_names:
            continue
        values = table.column(col).to_pylist()
        flat = [v for x in values for v in (x if isinstance(x, list) else [x])]
        out[col] = [(str(k), n) for k, n in sorted(Counter(flat).items(), key=lambda kv: (-kv[1], str(kv[0])))[:top]]
    return out


def config_stats(tables: dict[str, pa.Table]) -> dict:
    """Per split: rows and columns; for the largest split, the top values of the facet columns."""
    splits = {s: {"rows": t.num_rows, "columns": t.column_names} for s, t in tables.items()}
    merged = pa.concat_tables(list(tables.values()), promote_options="default") if tables else None
    return {"splits": splits, "rows": sum(s["rows"] for s in splits.values()),
            "facets": facets(merged) if merged is not None else {}, "renamed": renamed(merged)}


def renamed(table: pa.Table | None) -> int:
    """Rows whose published tool name differs from the source's (``original_name``)."""
    if table is None or not {"name", "original_name"} <= set(table.column_names):
        return 0
    return sum(a != b for a, b in zip(table.column("name").to_pylist(), table.column("original_name").to_pylist()))
