"""The first pipeline blocks: a step is a generator over records with counted stats.

New steps derive from ``builders.runtime`` (MapStep, Filter, GlobalStep, LLMTask), which adds
checkpoints, shards and async LLM work; these classes stay for the code not yet ported to it.
Rejected records are never dropped silently: a step hands them to ``reject`` with a reason and
they land, with the step name, in the run's rejects file.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Iterable, Iterator

from builders.runtime.rejects import Rejects

logger = logging.getLogger(__name__)
__all__ = ["BaseFilter", "PipelineStep", "Rejects"]


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
