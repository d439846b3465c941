"""Pipeline blocks in the datatrove style: a step is a generator over records with counted stats.

Rejected records are never dropped silently: a step hands them to ``reject`` with a reason and
they land, with the step name, in the run's rejects file.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator

logger = logging.getLogger(__name__)


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
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            for r in self.items:
                fh.write(json.dumps(r, ensure_ascii=False, default=str, sort_keys=True) + "\n")


class PipelineStep:
    """One block of a pipeline. Subclasses implement ``run(data)`` and count what they do."""

    name: str = "step"
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    def __init__(self, rejects: Rejects | None = None):
        self.stats: Counter = Counter()
        self.rejects = rejects if rejects is not None else Rejects()

    def stat(self, key: str, n: int = 1) -> None:
        self.stats[key] += n

    def reject(self, item: str, reason: str, record: Any = None) -> None:
        self.stats["rejected"] += 1
        self.rejects.add(self.name, item, reason, record)
        logger.debug("%s rejected %s: %s", self.name, item, reason)

    def run(self, data: Iterable[Any]) -> Iterator[Any]:
        raise NotImplementedError

    def __call__(self, data: Iterable[Any]) -> Iterator[Any]:
        return self.run(data)


class BaseFilter(PipelineStep):
    """A step that only decides: ``filter`` returns True to keep, or a reason string to reject."""

    def filter(self, record: Any) -> bool | str:
        raise NotImplementedError

    def item_name(self, record: Any) -> str:
        return str(record.get("id", "?")) if isinstance(record, dict) else repr(record)[:80]

    def run(self, data: Iterable[Any]) -> Iterator[Any]:
        for record in data:
            verdict = self.filter(record)
            if verdict is True:
                self.stat("kept")
                yield record
            else:
                self.reject(self.item_name(record), verdict or "filtered", record)
