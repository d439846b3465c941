"""Assembling steps into a pipeline, checking it before any request, and running it in shards.

``Pipeline.check`` runs before anything else: every step's inputs are made by the source or an
earlier step, every role it calls is configured, caps name declared roles, settings are JSON.
A failure is one ``ConfigError`` line. ``run`` splits the steps at each global step: the
steps between run per shard (by the executor), a global step runs once on the merged input.
The merge orders by item id, so the output is the same for any shard count, executor,
concurrency or number of restarts.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import operator
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from builders.errors import ConfigError, DataError
from builders.runtime.checkpoint import Checkpoint, atomic_write
from builders.runtime.executors import EXECUTORS, make_executor
from builders.runtime.items import shard_of, source_digest, with_id
from builders.runtime.rejects import RejectLog, write_rejects
from builders.runtime.runner import USAGE_KEYS, StepRun, paused_gc, run_global, summarize
from builders.runtime.step import Budget, CapReached, GlobalStep, Step, step_kind
from builders.schema import canonical_json, content_hash

if TYPE_CHECKING:
    from builders.llm.config import LLMConfig

logger = logging.getLogger(__name__)
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # a step name is a folder name in the work folder
DEFAULT_COMPLETION_TOKENS = 256


@dataclass
class ShardJob:
    """Everything one shard of one segment needs; picklable, so a Ray task can take it."""

    index: int
    shards: int
    steps: list[Step]
    keys: list[str]
    items: list[dict]
    work_dir: Path
    seed: int
    llm: "LLMConfig | None"
    budget: Budget
    chunk_size: int
    flush_seconds: float
    checkpoint: bool
    progress: bool | None

    @property
    def folder(self) -> Path:
        return self.work_dir / "shards" / f"{self.index:04d}-of-{self.shards:04d}"


@dataclass
class ShardResult:
    outputs: list[dict]
    stats: dict[str, dict]
    rejects: list[dict]
    run: dict
    stopped: tuple[str, str, str] | None = None  # a cap was reached: the ConfigError's (item, problem, fix)


def _concurrency(step: Step, llm: "LLMConfig | None") -> int:
    if step.concurrency:
        return step.concurrency
    if llm is not None and step.roles:
        return max(llm.endpoint(role).max_concurrency for role in step.roles)
    return 16


def run_shard(job: ShardJob) -> ShardResult:
    """Run a segment's steps over one shard's items (module level, so executors can ship it)."""
    started = time.monotonic()
    client = None
    if job.llm is not None and any(s.roles for s in job.steps):
        from builders.llm.client import LLMClient

        client = LLMClient(job.llm, cache=str(job.folder / "llm.sqlite"), progress=False)
    log = RejectLog(job.folder / "rejects.jsonl")
    stats, rejects, resumed = {}, [], {}

    async def segment() -> list[dict]:
        items = job.items
        for step, key in zip(job.steps, job.keys):
            runner = StepRun(step, Checkpoint(job.folder / f"{step.name}-{key[:16]}", job.checkpoint), log,
                             seed=job.seed, budget=job.budget, client=client, chunk_size=job.chunk_size,
                             flush_seconds=job.flush_seconds, concurrency=_concurrency(step, job.llm),
                             progress=job.progress)
            results = await runner.run_async(items) if step.is_async else runner.run_sync(items)
            with paused_gc():
                items, stats[step.name], step_rejects = summarize(step.name, len(items), results)
            rejects.extend(step_rejects)
            resumed[step.name] = runner.resumed
        return items

    async def main() -> list[dict]:
        try:
            return await segment()
        finally:
            if client is not None:
                await client.aclose()

    try:
        outputs = asyncio.run(main())
    except CapReached as exc:  # finished items are in the checkpoints; report, do not mark done
        error = exc.error()
        logger.warning("shard %d stopped: %s", job.index, error)
        return ShardResult([], stats, rejects, {"wall_s": round(time.monotonic() - started, 3)},
                           (error.item, error.problem, error.fix))
    finally:
        log.close()
    atomic_write(job.folder / f"done-{job.keys[-1][:16]}.json", json.dumps({"items": len(outputs)}).encode())
    run = {"wall_s": round(time.monotonic() - started, 3), "resumed_items": resumed,
           "llm": client.report() if client is not None else {}}
    return ShardResult(outputs, stats, rejects, run)


@dataclass
class Plan:
    """The dry-run: per step and role, planned items and the requests and tokens they would cost."""

    rows: list[dict]

    def table(self) -> str:
        head = f"{'step':<24} {'kind':<10} {'items':>8} {'role':<20} {'requests':>9} {'prompt tok':>11} {'compl tok':>10}"
        lines = [head]
        for r in self.rows:
            lines.append(f"{r['step']:<24} {r['kind']:<10} {r['items']:>8} {r['role'] or '-':<20} {r['requests']:>9} "
                         f"{r['prompt_tokens']:>11} {r['completion_tokens']:>10}")
        return "\n".join(lines)

    def totals(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter] = {}
        for r in self.rows:
            if r["role"]:
                out.setdefault(r["role"], Counter()).update({k: r[k] for k in USAGE_KEYS[:3]})
        return {role: dict(c) for role, c in sorted(out.items())}


@dataclass
class BuildResult:
    """The output items (by id), the rejects (by step, item id), data stats and the run record."""

    items: list[dict]
    rejects: list[dict]
    stats: dict
    run: dict

    def write(self, folder: str | Path) -> None:
        """``output.jsonl``, ``rejects.jsonl`` and ``stats.json`` (same content, same bytes) and ``run.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "output.jsonl", "".join(canonical_json(i) + "\n" for i in self.items).encode())
        write_rejects(folder / "rejects.jsonl", self.rejects)
        atomic_write(folder / "stats.json", (json.dumps(self.stats, indent=2, sort_keys=True) + "\n").encode())
        atomic_write(folder / "run.json", (json.dumps(self.run, indent=2, sort_keys=True) + "\n").encode())


@dataclass
class Pipeline:
    """Steps over a source; see the package docstring for an example."""

    name: str
    source: Iterable[dict] | Callable[[], Iterable[dict]]
    steps: list[Step]
    work_dir: str | Path
    seed: int = 0
    llm: "LLMConfig | None" = None
    shards: int = 1
    executor: str = "local"
    caps: dict[str, dict[str, int]] = field(default_factory=dict)
    source_columns: tuple[str, ...] | None = None
    chunk_size: int = 1000
    flush_seconds: float = 5.0
    checkpoint: bool = True
    progress: bool | None = None  # None: bars only on a terminal

    # ------------------------------------------------------------ assembly
    def roles(self) -> dict[str, list[str]]:
        """Every LLM role the steps declare, with the steps that call it: what the llm config must know."""
        out: dict[str, list[str]] = {}
        for step in self.steps:
            for role in step.roles:
                out.setdefault(role, []).append(step.name)
        return dict(sorted(out.items()))

    def check(self, columns: Iterable[str] = ()) -> None:
        """Every problem that would stop the build later, as one ConfigError, before any request."""
        where = f"pipeline {self.name!r}"
        if not isinstance(self.shards, int) or isinstance(self.shards, bool) or self.shards < 1:
            raise ConfigError(f"{where} shards", f"must be a whole number >= 1, got {self.shards!r}", "set shards: 1 or more")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"{where} executor", f"{self.executor!r} is not an executor", f"use one of {', '.join(EXECUTORS)}")
        if not self.steps:
            raise ConfigError(where, "has no steps", "give it at least one step")
        available = {"id", *(self.source_columns or columns)}
        names: set[str] = set()
        roles: set[str] = set()
        for step in self.steps:
            step_kind(step)
            label = f"step {step.name!r}"
            if not isinstance(step.name, str) or not _NAME_RE.match(step.name):
                raise ConfigError(f"{where} step {type(step).__name__}", f"has no usable name ({step.name!r})",
                                  "set name = '<what it does>' with letters, digits, '_', '-' or '.'")
            if step.name in names:
                raise ConfigError(label, "appears twice in the pipeline", "give each step its own name")
            names.add(step.name)
            missing = [c for c in step.inputs if c not in available]
            if missing:
                raise ConfigError(label, f"needs column {missing[0]!r}, which neither the source nor an earlier step "
                                  f"produces (available: {', '.join(sorted(available))})",
                                  "add the step that makes it earlier, or fix the step's inputs")
            available.update(step.outputs)
            try:
                canonical_json(step.identity())
            except (TypeError, ValueError) as exc:
                raise ConfigError(label, f"has settings that are not JSON values ({exc})",
                                  "return only strings, numbers, booleans, lists and mappings from settings()") from None
            step.check()
            if isinstance(step, GlobalStep) and step.roles:
                raise ConfigError(label, "is a global step that calls an LLM",
                                  "do the LLM work in a map step before or after it")
            for role in step.roles:
                self._check_role(label, role)
            roles.update(step.roles)
        for role, cap in self.caps.items():
            if role not in roles:
                raise ConfigError(f"{where} caps.{role}", "caps a role no step calls",
                                  f"cap one of: {', '.join(sorted(roles)) or 'no roles are used'}")
            if not isinstance(cap, dict) or not cap or any(k not in ("requests", "tokens") for k in cap) \
                    or any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in cap.values()):
                raise ConfigError(f"{where} caps.{role}", f"must map requests/tokens to whole numbers, got {cap!r}",
                                  "write it as {requests: N, tokens: M}")

    def _check_role(self, label: str, role: str) -> None:
        if self.llm is None:
            raise ConfigError(label, f"calls LLM role {role!r} but the pipeline has no llm config",
                              "add an llm: mapping to the preset")
        try:
            self.llm.role(role)
        except ValueError as exc:  # UnknownRoleError, until roles come from the steps
            raise ConfigError(label, f"calls LLM role {role!r}, which the llm config does not know ({exc})",
                              "configure the role under llm.roles") from None

    # ------------------------------------------------------------ source and keys
    def _source(self) -> tuple[list[dict], list[str]]:
        """The source items with ids, sorted by id, and the ids; exact repeats are dropped."""
        raw = self.source() if callable(self.source) else self.source
        items = [i if type(i.get("id")) is str and i["id"] else with_id(i) for i in raw]
        items.sort(key=itemgetter("id"))
        ids = [i["id"] for i in items]
        if not any(map(operator.eq, ids, islice(ids, 1, None))):
            return items, ids
        unique: list[dict] = []
        for item in items:
            if unique and unique[-1]["id"] == item["id"]:
                if unique[-1] != item:
                    raise DataError(f"source item {item['id']!r}", "two different items share this id",
                                    "give items unique ids (or none: the content hash is used)")
                continue
            unique.append(item)
        return unique, [i["id"] for i in unique]

    def _keys(self, digest: str) -> list[str]:
        keys, upstream = [], digest
        for step in self.steps:
            identity = step.identity()
            if step.roles and self.llm is not None:  # the roles' models and sampling decide the replies
                identity["llm"] = {role: self.llm.reply_identity(role) for role in sorted(step.roles)}
            upstream = content_hash({"input": upstream, **identity}, 32)
            keys.append(upstream)
        return keys

    def _segments(self) -> list[tuple[int, int]]:
        """[start, end) runs of steps: per-shard runs, and each global step alone."""
        out, start = [], 0
        for i, step in enumerate(self.steps):
            if isinstance(step, GlobalStep):
                if start < i:
                    out.append((start, i))
                out.append((i, i + 1))
                start = i + 1
        if start < len(self.steps):
            out.append((start, len(self.steps)))
        return out

    # ------------------------------------------------------------ dry run
    def dry_run(self) -> Plan:
        """Planned items per step and estimated requests/tokens per role; sends nothing.

        Every item is assumed to pass every step (an upper bound for filters and LLM rejects)."""
        items, _ = self._source()
        self.check(items[0].keys() if items else ())
        rows, n = [], len(items)
        for step in self.steps:
            kind = step_kind(step)
            if not step.roles:
                rows.append({"step": step.name, "kind": kind, "items": n, "role": None,
                             "requests": 0, "prompt_tokens": 0, "completion_tokens": 0})
            calls, prompt = step.calls_per_item(), step.tokens_per_call()
            for role in step.roles:
                requests = n * calls.get(role, 1)
                completion = self.llm.role(role).max_tokens or DEFAULT_COMPLETION_TOKENS
                rows.append({"step": step.name, "kind": kind, "items": n, "role": role, "requests": requests,
                             "prompt_tokens": requests * prompt.get(role, 0),
                             "completion_tokens": requests * completion})
        return Plan(rows)

    # ------------------------------------------------------------ run
    def run(self) -> BuildResult:
        """Build (or resume) the pipeline; raises a one-line ConfigError when a cap would be exceeded."""
        started = time.monotonic()
        if self.source_columns is not None:  # declared columns: check before reading a large source
            self.check()
        with paused_gc():
            items, ids = self._source()
        self.check(items[0].keys() if items else ())
        work = Path(self.work_dir)
        keys = self._keys(source_digest(items))
        del ids
        executor = make_executor(self.executor)
        budget = Budget(dict(self.caps))
        stats: dict[str, dict] = {}
        rejects: list[dict] = []
        run: dict[str, Any] = {"executor": self.executor, "shards": self.shards, "segments": []}
        for start, end in self._segments():
            steps = self.steps[start:end]
            if isinstance(steps[0], GlobalStep):
                items = self._run_global(steps[0], keys[start], items, work, stats, rejects)
                run["segments"].append({"global": steps[0].name})
                continue
            parts: list[list[dict]] = [items] if self.shards == 1 else [[] for _ in range(self.shards)]
            if self.shards > 1:
                for item in items:
                    parts[shard_of(item["id"], self.shards)].append(item)
            jobs = [ShardJob(i, self.shards, steps, keys[start:end], part, work, self.seed, self.llm,
                             budget.share(self.shards) if executor.splits_caps else budget, self.chunk_size,
                             self.flush_seconds, self.checkpoint, self.progress) for i, part in enumerate(parts)]
            results = executor.map(run_shard, jobs)
            stopped = next((r.stopped for r in results if r.stopped), None)
            if stopped:
                raise ConfigError(*stopped)
            items = results[0].outputs if len(results) == 1 else \
                list(heapq.merge(*(r.outputs for r in results), key=itemgetter("id")))
            for step in steps:
                stats[step.name] = _merge_stats([r.stats[step.name] for r in results])
                _log_step(step.name, stats[step.name])
            for r in results:
                rejects.extend(r.rejects)
            run["segments"].append({"shards": [r.run for r in results]})
        rejects.sort(key=itemgetter("step", "item"))
        llm = _merge_usage([s["llm"] for s in stats.values()])
        run["wall_s"] = round(time.monotonic() - started, 3)
        return BuildResult(items, rejects, {"steps": stats, "llm": llm}, run)

    def _run_global(self, step: GlobalStep, key: str, items: list[dict], work: Path, stats: dict,
                    rejects: list[dict]) -> list[dict]:
        folder = work / "global"
        log = RejectLog(folder / "rejects.jsonl")
        try:
            results = run_global(step, items, Checkpoint(folder / f"{step.name}-{key[:16]}", self.checkpoint),
                                 log, self.seed)
        finally:
            log.close()
        items, stats[step.name], step_rejects = summarize(step.name, len(items), results)
        _log_step(step.name, stats[step.name])
        rejects.extend(step_rejects)
        return items


def _log_step(name: str, stats: dict) -> None:
    rejected = sum(stats["rejected"].values())
    logger.info("step %s: %d in, %d out, %d rejected%s", name, stats["in"], stats["out"], rejected,
                "".join(f"; {role}: {u['requests']} requests, {u['failures']} failed" for role, u in stats["llm"].items()))


def _merge_usage(parts: list[dict[str, dict]]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = {}
    for part in parts:
        for role, counts in part.items():
            out.setdefault(role, Counter()).update(counts)
    return {role: {k: c[k] for k in USAGE_KEYS} for role, c in sorted(out.items())}


def _merge_stats(parts: list[dict]) -> dict:
    reasons = Counter()
    for p in parts:
        reasons.update(p["rejected"])
    return {"in": sum(p["in"] for p in parts), "out": sum(p["out"] for p in parts),
            "rejected": dict(sorted(reasons.items())), "llm": _merge_usage([p["llm"] for p in parts])}
