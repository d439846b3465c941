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


# --- distributions the card tables and plots show; each is derived from the published columns only ---

def _message_lists(table: pa.Table, column: str) -> list[list[dict]]:
    return [m or [] for m in table.column(column).to_pylist()]


def longest_tool_run(messages: list[dict]) -> int:
    """Most assistant tool-call turns in a row with no user turn between them (tool results allowed)."""
    best = run = 0
    for m in messages:
        if m["role"] == "user":
            run = 0
        elif m["role"] == "assistant":
            run = run + 1 if m.get("tool_calls") else 0
            best = max(best, run)
    return best


def user_share(messages: list[dict]) -> float:
    talk = [m for m in messages if m["role"] in ("user", "assistant")]
    return round(sum(m["role"] == "user" for m in talk) / len(talk), 4) if talk else 0.0


def chain_degrees(chains: list[list[str]]) -> list[int]:
    """Degree of every function in the graph whose edges are consecutive functions of the walks."""
    neighbours: dict[str, set] = {}
    for chain in chains:
        for a, b in zip(chain, chain[1:]):
            if a != b:
                neighbours.setdefault(a, set()).add(b)
                neighbours.setdefault(b, set()).add(a)
    return [len(n) for _, n in sorted(neighbours.items())]


# config -> [(series name, function of the merged table -> values)]; a series needs its columns
SERIES = {
    "trajectories": [
        ("messages per trajectory", ("messages",), lambda t: [len(m) for m in _message_lists(t, "messages")]),
        ("consecutive tool-call steps", ("messages",), lambda t: [longest_tool_run(m) for m in _message_lists(t, "messages")]),
        ("user-turn share", ("messages",), lambda t: [user_share(m) for m in _message_lists(t, "messages")]),
        ("walk length", ("function_chain",), lambda t: [len(c or []) for c in t.column("function_chain").to_pylist()]),
        ("chain-graph degree", ("function_chain",),
         lambda t: chain_degrees([c or [] for c in t.column("function_chain").to_pylist()])),
    ],
    "samples": [
        ("prompt messages per sample", ("prompt",), lambda t: [len(m) for m in _message_lists(t, "prompt")]),
        ("tool calls per completion", ("completion",),
         lambda t: [sum(len(m.get("tool_calls") or []) for m in c) for c in _message_lists(t, "completion")]),
    ],
    "default": [
        ("gold calls per task", ("actions",), lambda t: [len(a or []) for a in t.column("actions").to_pylist()]),
        ("query words", ("query",), lambda t: [len((q or "").split()) for q in t.column("query").to_pylist()]),
    ],
    "apis": [("functions per API", ("num_functions",), lambda t: t.column("num_functions").to_pylist())],
}


def merged(splits: dict[str, pa.Table]) -> pa.Table | None:
    return pa.concat_tables(list(splits.values()), promote_options="default") if splits else None


def series(config: str, table: pa.Table | None) -> dict[str, list[float]]:
    if table is None:
        return {}
    return {name: fn(table) for name, columns, fn in SERIES.get(config, ())
            if set(columns) <= set(table.column_names)}


def summary(values: list[float]) -> dict:
    """count, min, median, mean, max; what the card's distribution tables print."""
    if not values:
        return {"count": 0, "min": 0, "median": 0, "mean": 0, "max": 0}
    v = sorted(values)
    mid = len(v) // 2
    median = v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2
    return {"count": len(v), "min": v[0], "median": round(median, 2), "mean": round(sum(v) / len(v), 2), "max": v[-1]}


def intent_domains(tables: dict[str, dict[str, pa.Table]]) -> list[tuple[str, int]]:
    """Trajectories per domain: the category of the first function of each chain (needs ``functions``)."""
    traj, funcs = merged(tables.get("trajectories", {})), merged(tables.get("functions", {}))
    if traj is None or funcs is None or "function_chain" not in traj.column_names:
        return []
    category = dict(zip(funcs.column("name").to_pylist(), funcs.column("category").to_pylist()))
    counts = Counter(str(category.get(c[0]) or "unknown") for c in traj.column("function_chain").to_pylist() if c)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def source_rows(tables: dict[str, dict[str, pa.Table]]) -> dict[str, dict[str, int]]:
    """source -> config -> rows, over every config with a ``source`` column."""
    out: dict[str, dict[str, int]] = {}
    for config, splits in tables.items():
        table = merged(splits)
        if table is None or "source" not in table.column_names:
            continue
        for src, n in Counter(table.column("source").to_pylist()).items():
            out.setdefault(str(src), {})[config] = n
    return dict(sorted(out.items()))


def release_stats(tables: dict[str, dict[str, pa.Table]]) -> dict:
    """Everything data-derived the card prints: per config stats and distributions, sources, domains."""
    configs = {}
    for config, splits in tables.items():
        st = config_stats(splits)
        values = series(config, merged(splits))
        st["series"] = {name: summary(v) for name, v in values.items()}
        configs[config] = st
    return {"configs": configs, "sources": source_rows(tables), "intent_domains": intent_domains(tables)}
