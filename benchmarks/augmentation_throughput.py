"""Open-source augmentation throughput: conversion + rule checks + turn split, against a bare json.loads.

    python benchmarks/augmentation_throughput.py              # 100k rows, ~14.3k per format
    python benchmarks/augmentation_throughput.py --rows 20000

Synthetic rows are the test fixtures of the seven formats (xLAM, Glaive, ToolACE: the published
rows of their normaliser tests; APIGen-MT, When2Call, tau-bench, BUTTON: ``tests/builders/normalize/data``)
repeated with the row number written into the first user turn, saved as one JSONL file per
format. The baseline is a plain ``json.loads`` pass over the same files, measured in the same run;
the pipeline pass is ``json.loads`` + the normaliser + ``toolmind.rules.check_turns`` +
``toolmind.turns.split_samples``. The printed ratio is pipeline rows/s over baseline rows/s.
No LLM is involved.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from builders.normalize import NORMALIZERS  # noqa: E402
from tests.builders.normalize.test_pinned import fixture_rows  # noqa: E402
from toolmind.rules import check_turns  # noqa: E402
from toolmind.turns import split_samples  # noqa: E402

logger = logging.getLogger("augmentation_throughput")


def _mark(row: dict, n: int) -> dict:
    """A copy of the row whose first user turn carries the row number, so no two rows are equal."""
    row = json.loads(json.dumps(row))
    if "query" in row:  # xLAM
        row["query"] = f"{row['query']} (#{n})"
        return row
    if "chat" in row:  # Glaive: one text with "USER: " turns
        row["chat"] = row["chat"].replace("USER: ", f"USER: (#{n}) ", 1)
        return row
    turns = row.get("conversations") or row.get("messages") or row.get("traj")
    for turn in turns:
        if turn.get("role") == "user" or turn.get("from") in ("human", "user"):
            key = "content" if "content" in turn else "value"
            turn[key] = f"{turn[key]} (#{n})"
            break
    return row


def write_files(folder: Path, rows: int) -> dict[str, Path]:
    fixtures = fixture_rows()
    per_format = rows // len(fixtures)
    paths = {}
    for fmt, (examples, _) in fixtures.items():
        path = folder / f"{fmt}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for n in range(per_format):
                f.write(json.dumps(_mark(examples[n % len(examples)], n), ensure_ascii=False) + "\n")
        paths[fmt] = path
    return paths


def baseline(path: Path) -> int:
    n = 0
    with path.open(encoding="utf-8") as f:
        for line in f:
            json.loads(line)
            n += 1
    return n


def pipeline(path: Path, fmt: str) -> tuple[int, int]:
    """(rows, samples) of one format's file through normaliser, rule checks and turn split."""
    normalize, options = NORMALIZERS[fmt], fixture_rows()[fmt][1]
    rows = samples = 0
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            conv = normalize(json.loads(line), i, **options)
            verdicts = check_turns(conv.messages, conv.tools)
            row = {"id": conv.id, "messages": [m.to_dict() for m in conv.messages], "tools": conv.tools_json(),
                   "turn_verdicts": [{"keep": not v.error, "rule": v.rule, "reason": v.reason} for v in verdicts],
                   "trajectory_verdict": None, "provenance": {"models": {}}}
            samples += len(split_samples(row))
            rows += 1
    return rows, samples


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    totals = {"rows": 0, "samples": 0, "base_s": 0.0, "pipe_s": 0.0, "bytes": 0}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_files(Path(tmp), args.rows)
        logger.info("%-10s %8s %8s %12s %12s %7s", "format", "rows", "samples", "json rows/s", "pipe rows/s", "ratio")
        for fmt, path in paths.items():
            n_base, t_base = _timed(baseline, path)
            (n_rows, n_samples), t_pipe = _timed(pipeline, path, fmt)
            assert n_base == n_rows
            logger.info("%-10s %8d %8d %12.0f %12.0f %7.3f", fmt, n_rows, n_samples, n_base / t_base,
                        n_rows / t_pipe, t_base / t_pipe)
            for key, value in (("rows", n_rows), ("samples", n_samples), ("base_s", t_base), ("pipe_s", t_pipe),
                               ("bytes", path.stat().st_size)):
                totals[key] += value
    base_rate, pipe_rate = totals["rows"] / totals["base_s"], totals["rows"] / totals["pipe_s"]
    logger.info("rows %d (%.0f MB JSONL, %d formats), samples out %d", totals["rows"], totals["bytes"] / 1e6,
                len(paths), totals["samples"])
    logger.info("json.loads only:                      %8.0f rows/s", base_rate)
    logger.info("convert + check_turns + split_samples: %8.0f rows/s", pipe_rate)
    logger.info("ratio pipeline / json.loads: %.3f", pipe_rate / base_rate)

if __name__ == "__main__":
    main()
