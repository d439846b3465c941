"""The kinds of step a pipeline is made of, and what a step sees while it works on one item.

A step declares ``name``, ``inputs`` (columns it reads), ``outputs`` (columns it adds), ``roles``
(the LLM roles it calls) and ``settings()`` (everything that changes its result; it goes into
the checkpoint key, so changing a setting recomputes the step and what follows). Bump
``version`` when the step's code changes what it produces.

- ``MapStep``: ``process(item)`` (CPU) or ``async aprocess(item, ctx)`` (may await several
  sequential LLM calls: a multi-turn rollout). Returns one item, a list of items (zero or
  more), or rejects with ``raise Reject(reason)``.
- ``Filter``: ``filter(item)`` returns True to keep, or the reason to reject.
- ``GlobalStep``: ``run(items, ctx)`` sees the merged input of every shard at once (a graph
  over all functions, a split, dedup); it runs once and is checkpointed as a whole.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from builders.errors import ConfigError, DataError
from builders.runtime.items import item_rng

if TYPE_CHECKING:  # the LLM client imports this package's rejects; keep the import one-way at run time
    from builders.llm.client import ChatResult, JSONResult, LLMClient


class Reject(Exception):
    """Raised (or returned) by a step to reject the current item; ``reason`` is what a person reads."""

    def __init__(self, reason: str, record: Any = None):
        super().__init__(reason)
        self.reason, self.record = reason, record


class CapReached(Exception):
    """A request would take a role past its cap: the build stops cleanly and resumes when raised."""

    def __init__(self, role: str, kind: str, cap: int, used: int):
        super().__init__(role, kind, cap, used)
        self.role, self.kind, self.cap, self.used = role, kind, cap, used

    def error(self) -> ConfigError:
        return ConfigError(f"llm role {self.role!r}", f"the build would exceed its cap of {self.cap} {self.kind} "
                           f"({self.used} used so far)",
                           f"raise caps.{self.role}.{self.kind} and run again; finished work is kept")


REJECTABLE = (Reject, DataError)


class Step:
    """Base of every step; see the module docstring for the kinds."""

    name: str = ""
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    version: str = "1"
    concurrency: int | None = None  # items in flight for async steps; default: the roles' endpoint concurrency

    def settings(self) -> dict:
        """What changes this step's result (JSON values); part of its checkpoint key."""
        return {}

    def prompt_versions(self) -> dict[str, str]:
        """Versions of the prompt templates the step renders; part of its checkpoint key."""
        return {}

    def check(self) -> None:
        """Raise ``ConfigError`` for settings that cannot work; called when the pipeline is assembled."""

    def calls_per_item(self) -> dict[str, int]:
        """LLM requests one item makes per role, for the dry-run's estimate."""
        return {role: 1 for role in self.roles}

    def tokens_per_call(self) -> dict[str, int]:
        """Estimated prompt tokens per request, per role (the dry-run's estimate)."""
        return {role: 500 for role in self.roles}

    @property
    def is_async(self) -> bool:
        return False

    def identity(self) -> dict:
        # the class name without its module: a script run as __main__ and imported keys the same
        return {"step": self.name, "class": type(self).__qualname__, "version": self.version,
                "settings": self.settings(), "prompts": self.prompt_versions()}


class MapStep(Step):
    """One item in, zero or more out. Implement ``process`` (sync) or ``aprocess`` (async)."""

    def process(self, item: dict) -> dict | list[dict] | None:
        raise NotImplementedError(f"{type(self).__name__} implements neither process nor aprocess")

    async def aprocess(self, item: dict, ctx: "ItemContext") -> dict | list[dict] | None:
        return self.process(item)

    @property
    def is_async(self) -> bool:
        return type(self).aprocess is not MapStep.aprocess


class Filter(Step):
    """Keeps or rejects; never changes an item. ``filter`` returns True, or the reason to reject."""

    def filter(self, item: dict) -> bool | str:
        raise NotImplementedError

    def process(self, item: dict) -> dict:
        verdict = self.filter(item)
        if verdict is True:
            return item
        raise Reject(verdict if isinstance(verdict, str) and verdict else f"filtered by {self.name}")


class GlobalStep(Step):
    """Needs all of its input at once; ``run`` returns the output items, rejecting via ``ctx.reject``."""

    def run(self, items: list[dict], ctx: "GlobalContext") -> Iterable[dict]:
        raise NotImplementedError


@dataclass
class Budget:
    """Requests and tokens per role counted against the preset's caps (``{role: {requests, tokens}}``)."""

    caps: dict[str, dict[str, int]] = field(default_factory=dict)
    requests: Counter = field(default_factory=Counter)
    tokens: Counter = field(default_factory=Counter)

    def charge(self, role: str) -> None:
        cap = self.caps.get(role, {})
        if "requests" in cap and self.requests[role] + 1 > cap["requests"]:
            raise CapReached(role, "requests", cap["requests"], self.requests[role])
        if "tokens" in cap and self.tokens[role] >= cap["tokens"]:
            raise CapReached(role, "tokens", cap["tokens"], self.tokens[role])
        self.requests[role] += 1

    def add(self, usage: dict[str, list[int]] | None, requests: bool = True) -> None:
        for role, (n, prompt, completion, _) in (usage or {}).items():
            if requests:
                self.requests[role] += n
            self.tokens[role] += prompt + completion

    def share(self, n: int) -> "Budget":
        """An equal part of every cap, for one of ``n`` shards run apart (the ray executor)."""
        return Budget({r: {k: -(-v // n) for k, v in c.items()} for r, c in self.caps.items()})


class ItemContext:
    """What an async step sees for one item: its random stream and the LLM, with usage counted."""

    __slots__ = ("step", "item", "seed", "client", "budget", "usage", "_rng")

    def __init__(self, step: Step, item: str, seed: int, client: "LLMClient | None", budget: Budget):
        self.step, self.item, self.seed, self.client, self.budget = step, item, seed, client, budget
        self.usage: dict[str, list[int]] = {}
        self._rng: random.Random | None = None

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = item_rng(self.seed, self.step.name, self.item)
        return self._rng

    def _before(self, role: str) -> None:
        if role not in self.step.roles:
            raise ConfigError(f"step {self.step.name!r}", f"calls LLM role {role!r} it does not declare",
                              f"add {role!r} to the step's roles")
        if self.client is None:
            raise ConfigError(f"step {self.step.name!r}", "calls an LLM but the pipeline has no llm config",
                              "pass llm=LLMConfig(...) to the Pipeline")
        self.budget.charge(role)

    def _after(self, role: str, chat: "ChatResult | None") -> None:
        counts = self.usage.setdefault(role, [0, 0, 0, 0])
        counts[0] += 1
        usage = (chat.response or {}).get("usage") if chat is not None else None
        usage = usage if isinstance(usage, dict) else {}
        for i, key in ((1, "prompt_tokens"), (2, "completion_tokens")):
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                counts[i] += value
                self.budget.tokens[role] += value
        if chat is None or chat.error is not None:
            counts[3] += 1

    async def chat(self, role: str, request, **fields) -> "ChatResult":
        """``LLMClient.chat`` for a declared role, counted in the item's usage and the caps."""
        self._before(role)
        result = await self.client.chat(role, request, **fields)
        self._after(role, result)
        return result

    async def chat_json(self, role: str, request, schema: dict | None = None, validator=None,
                        name: str = "answer") -> "JSONResult":
        """``LLMClient.chat_json`` for a declared role, counted like ``chat``."""
        self._before(role)
        result = await self.client.chat_json(role, request, schema=schema, validator=validator, name=name)
        self._after(role, result.chat)
        return result


class GlobalContext:
    """What a global step sees: per-item random streams and a way to reject an item."""

    def __init__(self, step: Step, seed: int):
        self.step, self.seed = step, seed
        self.rejected: list[tuple[str, str, Any]] = []

    def rng(self, item: str) -> random.Random:
        return item_rng(self.seed, self.step.name, item)

    def reject(self, item: dict, reason: str, record: Any = None) -> None:
        self.rejected.append((item["id"], reason, item if record is None else record))


def step_kind(step: Step) -> str:
    if isinstance(step, GlobalStep):
        return "global"
    if isinstance(step, Filter):
        return "filter"
    if isinstance(step, MapStep):
        return "async map" if step.is_async else "map"
    raise ConfigError(f"step {getattr(step, 'name', step)!r}", f"is a {type(step).__name__}, not a runtime step",
                      "derive it from MapStep, Filter or GlobalStep (builders.runtime)")
