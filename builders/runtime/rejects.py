"""Rejected items: never dropped silently, streamed to disk as they happen, counted per step and reason.

``RejectLog`` is the build's stream (one JSON line per reject, appended and flushed at once, so
a person can follow a long build and a killed build keeps what it found); on resume it skips
rejects it already holds. The release's rejects file is written from the checkpoints, sorted by
(step, item id), so it is the same for an unbroken and a resumed build. ``Rejects`` is the
in-memory collector older code (and the LLM client) hands rejects to.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterable


def reject_line(step: str, item: str, reason: str, record: Any) -> str:
    return json.dumps({"step": step, "item": item, "reason": reason, "record": record},
                      ensure_ascii=False, default=str, sort_keys=True) + "\n"


class Rejects:
    """Collects rejected items with their reasons; written as JSON lines next to the output."""

    def __init__(self):
        self.items: list[dict] = []

    def add(self, step: str, item: str, reason: str, record: Any = None) -> None:
        self.items.append({"step": step, "item": item, "reason": reason, "record": record})

    def counts(self) -> dict[str, int]:
        return dict(Counter(r["step"] for r in self.items))

    def __len__(self) -> int:
        return len(self.items)

    def write(self, path: Path) -> None:
        write_rejects(path, self.items, sort=False)


def write_rejects(path: Path, rejects: Iterable[dict], sort: bool = True) -> None:
    """Rejects as JSON lines, sorted by (step, item id) unless told to keep their order; atomic."""
    rows = sorted(rejects, key=lambda r: (r["step"], r["item"])) if sort else list(rejects)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(reject_line(r["step"], r["item"], r["reason"], r["record"]) for r in rows)
    os.replace(tmp, path)


class RejectLog:
    """Append-only reject stream of one shard; a line cut by a kill is dropped on reopen."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.seen: set[tuple[str, str]] = set()
        if self.path.exists():
            data = self.path.read_bytes()
            complete = data[: data.rfind(b"\n") + 1]
            if len(complete) != len(data):
                with open(self.path, "r+b") as fh:
                    fh.truncate(len(complete))
            for line in complete.decode("utf-8").splitlines():
                row = json.loads(line)
                self.seen.add((row["step"], row["item"]))
        self._fh = open(self.path, "a", encoding="utf-8")

    def add(self, step: str, item: str, reason: str, record: Any = None) -> None:
        if (step, item) in self.seen:
            return
        self.seen.add((step, item))
        self._fh.write(reject_line(step, item, reason, record))
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
