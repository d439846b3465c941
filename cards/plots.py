"""The card's plots: PNG files in the release's ``plots/`` folder, byte-identical on every rebuild.

matplotlib with the non-interactive Agg backend, one fixed style (the DejaVu Sans font matplotlib
ships, fixed size and dpi) and no metadata in the files (no software name, no timestamp), so the
same tables always give the same bytes and a rebuild of a release changes nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pyarrow as pa

from cards.stats import FACET_COLUMNS, intent_domains, merged, series

STYLE = {"font.family": "DejaVu Sans", "font.size": 9, "figure.figsize": (6.0, 3.2), "figure.dpi": 100,
         "savefig.dpi": 100, "axes.spines.top": False, "axes.spines.right": False, "path.simplify": False}
COLOR = "#3b6ea5"
TOP = 12  # bars shown per categorical plot


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})


def bar(plt, counts: list[tuple[str, int]], title: str, path: Path) -> None:
    counts = counts[:TOP]
    fig, ax = plt.subplots()
    labels = [str(k)[:28] for k, _ in counts]
    ax.barh(range(len(counts)), [n for _, n in counts], color=COLOR)
    ax.set_yticks(range(len(counts)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("rows")
    ax.set_title(title)
    _save(fig, path)
    plt.close(fig)


def histogram(plt, values: list[float], title: str, path: Path) -> None:
    fig, ax = plt.subplots()
    integral = all(float(v).is_integer() for v in values)
    if integral and values and max(values) - min(values) <= 40:
        counts = Counter(int(v) for v in values)
        xs = list(range(int(min(values)), int(max(values)) + 1))
        ax.bar(xs, [counts.get(x, 0) for x in xs], color=COLOR, width=0.8)
    else:
        ax.hist(values, bins=30, color=COLOR)
    ax.set_xlabel(title)
    ax.set_ylabel("count")
    ax.set_title(title)
    _save(fig, path)
    plt.close(fig)


def render_plots(tables: dict[str, dict[str, pa.Table]], folder: Path) -> list[tuple[str, str]]:
    """Write every plot the release's columns allow; returns (title, path relative to ``folder``) in order."""
    plt = _pyplot()
    out: list[tuple[str, str]] = []
    with plt.rc_context(STYLE):
        split_sizes = [(f"{c}/{s}", t.num_rows) for c, splits in tables.items() for s, t in splits.items()]
        if len(split_sizes) > 1:
            rel = "plots/split_sizes.png"
            bar(plt, split_sizes, "rows per config and split", folder / rel)
            out.append(("rows per config and split", rel))
        domains = intent_domains(tables)
        if domains:
            rel = "plots/trajectories_intent_domains.png"
            bar(plt, domains, "trajectories per intent domain", folder / rel)
            out.append(("trajectories per intent domain", rel))
        for config, splits in tables.items():
            table = merged(splits)
            for name, values in series(config, table).items():
                if values:
                    rel = f"plots/{slug(config)}_{slug(name)}.png"
                    histogram(plt, values, name, folder / rel)
                    out.append((f"{config}: {name}", rel))
            for col in FACET_COLUMNS:
                if table is None or col not in table.column_names or col == "provider":
                    continue
                counts = Counter(str(v) for v in table.column(col).to_pylist())
                if len(counts) > 1:
                    rel = f"plots/{slug(config)}_{slug(col)}.png"
                    bar(plt, sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])), f"{config}: {col}", folder / rel)
                    out.append((f"{config}: {col}", rel))
    return out
