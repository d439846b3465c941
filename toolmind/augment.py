"""Open-source augmentation (seed 002, 4.1): published tool-use datasets through the same checks as synthesized data.

Per source named in the options, two runtime pipelines under ``work_dir/<source>``::

    trajectories  source rows → normalize → unique → judges (rules, trajectory_judge, turn_judge) → trajectory_rows
    samples       trajectories → turn_split → unique

``normalize`` reads a row in its published format (``builders.normalize``; a row it cannot convert
is a reject with the reason), ``unique`` rejects a conversation or sample seen before in the
source (ids are content hashes, so the contract's unique ids hold), and the rule checks, filters
(``enforce`` / ``record``) and turn split are the steps of the synthesized pipeline
(``toolmind.steps``). A published dialogue is complete as published, so the trajectory filter's
completion judgement passes and only its judge decides. Every row carries ``source`` (the
source's name) and its licence (``provenance.license``)::

    build_augmented(ctx, {
        "work_dir": "build/augment",               # default <ctx.root>/.cache/toolmind-augment
        "license": "cc-by-4.0",                    # the release's licence: refused if a source forbids it
        "sources": {"xlam-function-calling-60k": {"format": "xlam", "path": "data/xlam.json",
                                                  "license": "cc-by-4.0"},
                    "tau-bench-airline": {"format": "taubench", "path": "...", "tools": "tools.json",
                                          "license": "mit"}},
        "filters": {"trajectory": "record", "turn": "record"},
        "max_rows": 1000,                          # per source, first rows in file order; default all
        "caps": {"turn_judge": {"requests": 50000}}, "shards": 1})
    # -> {"trajectories": rows, "samples": rows,
    #     "sources": {name: {license, format, rows_in, trajectories, samples, rejects: {reason: n}}}}
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from builders.contract import publish_names
from builders.errors import ConfigError, DataError
from builders.licenses import check_release_license
from builders.normalize import get_normalizer
from builders.runtime import GlobalStep, MapStep, Pipeline, Reject, Step, write_rejects
from builders.schema import Function, content_hash, dumps
from builders.sources.datasets import DatasetSource
from toolmind import steps
from toolmind.judges import FilterSettings

logger = logging.getLogger(__name__)

OPTIONS = ("work_dir", "license", "sources", "filters", "max_rows", "caps", "shards")


class ContextLike(Protocol):
    """What the augmentation needs from a release context."""

    seed: int
    llm_config: Any
    root: Path


def called_functions(messages: list[dict], tools_names: set[str]) -> list[str]:
    """The declared tools the assistant calls, in first-call order: the trajectory's ``function_chain``."""
    chain: list[str] = []
    for m in messages:
        for call in m.get("tool_calls") or []:
            name = call["function"]["name"]
            if name in tools_names and name not in chain:
                chain.append(name)
    return chain


def publish_tool_names(messages: list[dict], tools: list[Function]) -> tuple[list[dict], list[Function]]:
    """Tools, calls and tool results renamed where a source's name breaks the OpenAI rule the contract
    enforces (When2Call's ``weather.get_weather_data`` -> ``weather_get_weather_data``), with the
    contract's own mapping (``builders.contract.publish_names``)."""
    mapping = {r["original_name"]: r["name"] for r in publish_names([{"name": f.name} for f in tools])
               if r["name"] != r["original_name"]}
    if not mapping:
        return messages, tools
    renamed = []
    for m in messages:
        if m.get("tool_calls"):
            m = {**m, "tool_calls": [{**c, "function": {**c["function"], "name": mapping.get(
                c["function"]["name"], c["function"]["name"])}} for c in m["tool_calls"]]}
        if m["role"] == "tool" and m.get("name") in mapping:
            m = {**m, "name": mapping[m["name"]]}
        renamed.append(m)
    return renamed, [replace(f, name=mapping.get(f.name, f.name)) for f in tools]


class NormalizeRows(MapStep):
    """A published row → a conversation in our message model, tagged with its source and licence."""

    name, inputs = "normalize", ("row", "index")
    outputs = ("messages", "tools", "intent", "function_chain", "completed", "source", "license", "trajectory_id")

    def __init__(self, source: DatasetSource):
        self.source, self.normalizer = source, get_normalizer(source.format)
        self.options = {"tools": source.tools} if source.tools else {}
        self.tools_digest = hashlib.sha256(Path(source.tools).read_bytes()).hexdigest() if source.tools else None

    def settings(self) -> dict:
        s = self.source
        return {"source": s.name, "format": s.format, "license": s.license, "tools": self.tools_digest}

    def process(self, item: dict) -> dict:
        try:
            conv = self.normalizer(item["row"], item["index"], **self.options)
        except DataError as exc:  # SchemaError, a call ParseError, an ArgumentError
            raise Reject(f"not convertible: {exc.problem}", record=item["row"]) from None
        messages, functions = publish_tool_names([m.to_dict() for m in conv.messages], conv.tools)
        tools = dumps([f.to_openai() for f in functions])
        return {"id": item["id"], "trajectory_id": content_hash({"messages": messages, "tools": tools}),
                "messages": messages, "tools": tools, "intent": None,
                "function_chain": called_functions(messages, {f.name for f in functions}),
                "completed": True, "source": self.source.name, "license": self.source.license,
                "source_id": conv.id or None}


class Unique(GlobalStep):
    """Keeps the first item of each ``key`` (by id order) under that key as its id; rejects repeats."""

    name, inputs, outputs = "unique", ("id",), ("id",)

    def __init__(self, key: str, what: str):
        self.key, self.what = key, what

    def settings(self) -> dict:
        return {"key": self.key}

    def run(self, items, ctx):
        first: dict[str, str] = {}
        out = []
        for item in items:
            value = item[self.key]
            if value in first:
                # the reject is filed under the repeat's own id, so every repeat is counted
                ctx.reject({"id": item["id"] if self.key != "id" else f"{value}@{item.get('trajectory_id')}"},
                           f"duplicate {self.what}: same content as {first[value]!r}")
                continue
            first[value] = item["id"]
            out.append({**item, "id": value})
        return out


class AugmentBuild:
    """The pipelines of one augmentation build; ``run`` returns rows and per-source counts."""

    def __init__(self, ctx: ContextLike, options: dict):
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ConfigError(f"augment option {unknown[0]!r}", "is not an option", f"use one of {', '.join(OPTIONS)}")
        entries = options.get("sources") or {}
        if not isinstance(entries, dict) or not entries:
            raise ConfigError("augment option 'sources'", "names no source",
                              "map each source name to {format, path|hub_id, license[, tools]}")
        self.sources = [DatasetSource.from_entry(name, entry) for name, entry in sorted(entries.items())]
        for src in self.sources:
            get_normalizer(src.format)  # an unknown format fails here, before any work
            if src.tools and not Path(src.tools).is_file():
                raise ConfigError(f"source {src.name!r} tools", f"file {src.tools!r} not found",
                                  "give the tool schemas file the rows were recorded with")
        if options.get("license"):
            check_release_license(options["license"], {s.name: s.license for s in self.sources})
        self.filters = FilterSettings.from_mapping(options.get("filters"), "augment option filters")
        self.max_rows = options.get("max_rows")
        if self.max_rows is not None and (not isinstance(self.max_rows, int) or self.max_rows < 1):
            raise ConfigError("augment option 'max_rows'", f"must be a positive integer, got {self.max_rows!r}",
                              "give the number of rows to read per source, or leave it out for all")
        self.ctx, self.seed = ctx, ctx.seed
        root = Path(getattr(ctx, "root", "."))
        work = Path(options.get("work_dir") or root / ".cache" / "toolmind-augment")
        self.work = work if work.is_absolute() else root / work
        self.caps, self.shards = options.get("caps") or {}, options.get("shards", 1)
        self.results: dict[str, Any] = {}  # "<source>/<config>" -> the pipeline's BuildResult (stats, rejects, run)
        self.repeats: list[dict] = []  # cross-source repeats, rejects of the later source

    def _run(self, name: str, config: str, source: list[dict], step_list: list[Step]):
        first = step_list[0]
        if isinstance(first, steps.SourceKeyed):
            first.source_digest = steps.source_digest(source)
        roles = {r for s in step_list for r in s.roles}
        folder = self.work / name / config
        pipeline = Pipeline(f"augment-{name}-{config}", source=source, steps=step_list, work_dir=folder,
                            seed=self.seed, llm=self.ctx.llm_config if roles else None, shards=self.shards,
                            caps={r: c for r, c in self.caps.items() if r in roles}, progress=False)
        if not source:
            return [], []
        result = pipeline.run()
        result.write(folder / "out")
        self.results[f"{name}/{config}"] = result
        return result.items, result.rejects

    def source_rows(self, src: DatasetSource) -> list[dict]:
        rows = src.rows() if self.max_rows is None else islice(src.rows(), self.max_rows)
        return [{"id": content_hash([src.name, i]), "index": i, "row": row} for i, row in enumerate(rows)]

    def run_source(self, src: DatasetSource, split: bool = True) -> tuple[list[dict], list[dict], dict]:
        source = self.source_rows(src)
        trajectories, rejected = self._run(src.name, "trajectories", source, [
            NormalizeRows(src), Unique("trajectory_id", "conversation"), steps.Judges(self.filters),
            steps.TrajectoryRows()])
        samples, sample_rejects = self._run(src.name, "samples", trajectories, sample_steps()) if split else ([], [])
        reasons = Counter(r["reason"] for r in rejected + sample_rejects)
        counts = {"license": src.license, "format": src.format, "rows_in": len(source),
                  "trajectories": len(trajectories), "samples": len(samples), "rejects": dict(sorted(reasons.items()))}
        logger.info("augment %s: %d rows in, %d trajectories, %d samples, %d rejects", src.name, len(source),
                    len(trajectories), len(samples), sum(reasons.values()))
        return trajectories, samples, counts

    def run(self, split: bool = True) -> dict:
        """Every source in name order; a trajectory or sample an earlier source already gave is a reject
        of the later source (the contract's ids are unique across the whole config). ``split=False``: the
        trajectories only, for a caller that cleans them (dedup, decontamination) before its own turn split."""
        out: dict[str, Any] = {"trajectories": [], "samples": [], "sources": {}}
        owner: dict[str, str] = {}
        repeats = self.repeats
        for src in self.sources:
            trajectories, samples, counts = self.run_source(src, split)
            reasons = Counter(counts["rejects"])
            kept: set[str] = set()
            for config, rows in (("trajectories", trajectories), ("samples", samples)):
                for row in rows:
                    if config == "samples" and row["trajectory_id"] not in kept:
                        continue  # its trajectory is the reject
                    if row["id"] in owner:
                        reason = f"duplicate {config[:-1]}: same content as one from source {owner[row['id']]!r}"
                        repeats.append({"step": f"unique_{config}", "item": f"{row['id']}@{src.name}",
                                        "reason": reason, "record": None})
                        reasons[reason] += 1
                        continue
                    owner[row["id"]] = src.name
                    out[config].append(row)
                    if config == "trajectories":
                        kept.add(row["id"])
            counts["trajectories"] = len(kept)
            counts["samples"] = sum(s["source"] == src.name for s in out["samples"]) if split else None
            counts["rejects"] = dict(sorted(reasons.items()))
            out["sources"][src.name] = counts
        write_rejects(self.work / "cross_source_rejects.jsonl", repeats)
        return out


def sample_steps() -> list[Step]:
    """The turn split, a sample repeated across trajectories kept once (its id is its content)."""
    return [steps.TurnSplit(), Unique("id", "sample")]


def build_augmented(ctx: ContextLike, options: dict) -> dict:
    """Every configured source converted, checked, filtered and split, with per-source counts (see the module doc)."""
    return AugmentBuild(ctx, options).run()
