"""Open-source augmentation throughput: conversion + rule checks + turn split, against a bare json.loads.

    python benchmarks/augmentation_throughput.py              # 100k rows, 25k per format
    python benchmarks/augmentation_throughput.py --rows 20000

Synthetic rows are the test fixtures of the four formats (APIGen-MT, When2Call, tau-bench, BUTTON)
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

from builders.normalize.apigen_mt import normalize_apigen_mt  # noqa: E402
from builders.normalize.button import normalize_button  # noqa: E402
from builders.normalize.taubench import normalize_taubench  # noqa: E402
from builders.normalize.when2call import normalize_when2call  # noqa: E402
from toolmind.rules import check_turns  # noqa: E402
from toolmind.turns import split_samples  # noqa: E402

logger = logging.getLogger("augmentation_throughput")
DATA = ROOT / "tests" / "builders" / "normalize" / "data"
TAU_TOOLS = str(DATA / "taubench_airline_tools.json")


def _fixtures() -> dict[str, tuple[list[dict], object, dict]]:
    jsonl = lambda name: [json.loads(line) for line in (DATA / name).read_text().splitlines()]  # noqa: E731
    return {
        "apigen_mt": (json.loads((DATA / "apigen_mt.json").read_text()), normalize_apigen_mt, {}),
        "when2call": (jsonl("when2call_sft.jsonl"), normalize_when2call, {}),
        "taubench": (json.loads((DATA / "taubench_gpt-4o-airline.json").read_text()), normalize_taubench,
                     {"tools": TAU_TOOLS}),
        "button": (jsonl("button.jsonl"), normalize_button, {}),
    }


def _mark(row: dict, n: int) -> dict:
    """A copy of the row whose first user turn carries the row number, so no two rows are equal."""
    row = json.loads(json.dumps(row))
    turns = row.get("conversations") or row.get("messages") or row.get("traj")
    for turn in turns:
        if turn.get("role") == "user" or turn.get("from") == "human":
            key = "content" if "content" in turn else "value"
            turn[key] = f"{turn[key]} (#{n})"
            break
    return row


def write_files(folder: Path, rows: int) -> dict[str, Path]:
    per_format = rows // 4
    paths = {}
    for fmt, (fixtures, _, _) in _fixtures().items():
        path = folder / f"{fmt}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for n in range(per_format):
                f.write(json.dumps(_mark(fixtures[n % len(fixtures)], n), ensure_ascii=False) + "\n")
        paths[fmt] = path
    return paths


def baseline(paths: dict[str, Path]) -> int:
    n = 0
    for path in paths.values():
        with path.open(encoding="utf-8") as f:
            for line in f:
                json.loads(line)
                n += 1
    return n


def pipeline(paths: dict[str, Path]) -> tuple[int, int]:
    fixtures, rows, samples = _fixtures(), 0, 0
    for fmt, path in paths.items():
        _, normalize, options = fixtures[fmt]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_files(Path(tmp), args.rows)
        size = sum(p.stat().st_size for p in paths.values())
        t0 = time.perf_counter()
        n_base = baseline(paths)
        t_base = time.perf_counter() - t0
        t0 = time.perf_counter()
        n_rows, n_samples = pipeline(paths)
        t_pipe = time.perf_counter() - t0
    base_rate, pipe_rate = n_base / t_base, n_rows / t_pipe
    logger.info("rows %d (%.0f MB JSONL, 4 formats), samples out %d", n_rows, size / 1e6, n_samples)
    logger.info("json.loads only:                      %8.0f rows/s", base_rate)
    logger.info("convert + check_turns + split_samples: %8.0f rows/s", pipe_rate)
    logger.info("ratio pipeline / json.loads: %.3f", pipe_rate / base_rate)


if __name__ == "__main__":
    main()
