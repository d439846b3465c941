"""The ToolMind dataset as a release builds it: every published config from one run of the ToolMind build.

``functions``, ``graph``, ``chains``, ``trajectories`` and ``samples`` come from the same run
(``toolmind.pipeline.run_toolmind``), made once per release and kept in the build context; the run
stops after the last config the preset lists. The build's options may sit on any config (the run
uses their union; a key set differently on two configs is an error). The pool keys ``source``,
``max_per_provider``, ``max_functions`` and ``providers`` may also be written flat, as the
``functions`` config always took them::

    toolmind:
      configs:
        functions: {source: openapi, max_per_provider: 2, max_functions: 300, completion: {max_functions: 20}}
        graph: {graph: {threshold: 0.8}, validation: {top_k: 2, max_requests: 40}}
        chains: {walks: {n_walks: 8, min_length: 2, max_length: 4}}
        trajectories: {simulation: {max_turns: 2}, filters: {trajectory: record, turn: record}}
        samples: {}

Without a ``completion`` section no function is sent for completion (a request budget of 0).
``roles(ctx)`` names the LLM roles the listed configs' steps call; ``check(ctx, cfg, where)`` assembles
every stage and checks every option, role and cap without any work; ``plan(ctx)`` is the
``--dry-run`` table; ``build(ctx, cfg, where)`` returns ``{split: rows}`` in the config's contract.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from builders.context import BuildContext
from builders.contract import contract
from builders.errors import ConfigError
from builders.preset import PresetError
from builders.runtime.checkpoint import atomic_write
from builders.schema import dumps
from toolmind.pipeline import STAGES, ToolMindBuild, run_toolmind, stage_roles
from toolmind.turns import SOURCE

logger = logging.getLogger(__name__)

TASK_CATEGORIES = ["text-generation"]
TAGS = ["tool-use", "function-calling", "synthetic", "multi-turn"]
DATASET = "toolmind"
# the functions config's own keys since the first release: the base pool's settings
FLAT_POOL_KEYS = ("source", "max_per_provider", "max_functions", "providers")
# the release sets these itself, from the CLI
RUNTIME_KEYS = ("executor", "shards")


def pipeline_options(ctx: BuildContext) -> dict:
    """The ToolMind options of the preset: the union of its configs' settings (a conflict is an error)."""
    options: dict = {}
    where = f"preset {ctx.preset.path} datasets.{DATASET}.configs"
    for config, cfg in ctx.preset.datasets[DATASET].configs.items():
        for key, value in cfg.items():
            if key in RUNTIME_KEYS:
                raise PresetError(f"{where}.{config}.{key}", "is set by the release, not the preset",
                                  f"pass --{key} to python -m builders.release")
            target, name = (options.setdefault("pool", {}), key) if key in FLAT_POOL_KEYS else (options, key)
            if name in target and target[name] != value:
                raise PresetError(f"{where}.{config}.{key}", f"is {value!r} here but {target[name]!r} on another "
                                  "config; every config comes from one build", "set it on one config only")
            target[name] = value
    options.setdefault("completion", {"max_functions": 0})
    return options


def work_dir(ctx: BuildContext, options: dict) -> Path:
    """This dataset's work folder: one sub-folder of checkpoints and request cache per config, and ``run.json``."""
    base = Path(options.get("work_dir") or ctx.work_root)
    return (base if base.is_absolute() else ctx.root / base) / DATASET


def run_options(ctx: BuildContext) -> dict:
    options = pipeline_options(ctx)
    return {**options, "work_dir": str(work_dir(ctx, options)), "executor": ctx.executor, "shards": ctx.shards}


def last_stage(ctx: BuildContext) -> str:
    """The last config (in build order) the preset lists: the build stops there."""
    listed = [c for c in STAGES if c in ctx.preset.datasets[DATASET].configs]
    return listed[-1] if listed else STAGES[0]


def _build(ctx: BuildContext) -> ToolMindBuild:
    """The build with every option checked; a wrong type becomes one preset error line."""
    try:
        return ToolMindBuild(ctx, run_options(ctx))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise PresetError(f"preset {ctx.preset.path} datasets.{DATASET}", f"an option has the wrong type ({exc})",
                          "see toolmind/pipeline.py and builders/presets/default.yaml") from None


def roles(ctx: BuildContext) -> list[str]:
    """The LLM roles the steps of the configs this preset builds call (the release checks ``llm.roles``)."""
    wanted = STAGES[: STAGES.index(last_stage(ctx)) + 1]
    return sorted({role for config in wanted for role in stage_roles(config)})


def check(ctx: BuildContext, cfg: dict, where: str) -> None:
    """Every option, stage, role, cap and the pool's source, before any build."""
    options = run_options(ctx)
    _build(ctx).check(last_stage(ctx))
    pool = options.get("pool") or {}
    ctx.check_pool(pool.get("source", "openapi"), f"{where} pool",
                   {k: pool[k] for k in ("max_per_provider", "max_functions", "providers") if k in pool})


def plan(ctx: BuildContext) -> str:
    """The dry-run: the completion stage over the real pool (sends nothing); later stages' inputs come from
    earlier outputs, so they are given as the bounds the preset's budgets set."""
    from toolmind import steps

    build = _build(ctx)
    budget = (build.options.get("completion") or {}).get("max_functions")
    pool = build.pool_rows()
    lines = [build.pipeline("functions", pool, [steps.CompletionBudget(budget), steps.FunctionCompletion()])
             .dry_run().table(),
             f"functions: {len(pool)} in the pool; at most {budget} sent for completion (function_completion)"]
    wanted = STAGES[: STAGES.index(last_stage(ctx)) + 1]
    if "graph" in wanted:
        validation = build.options.get("validation") or {}
        lines.append(f"graph: at most {validation.get('max_requests', 'every candidate')} edge_validator requests "
                     f"(top {validation.get('top_k', 'all')} candidates per function)")
    if "trajectories" in wanted:
        lines.append(f"trajectories: at most {build.walks.n_walks} chains, each one intent, a rollout of at most "
                     f"{build.simulation_settings([]).max_turns} user turns and the judges")
    return "\n".join(lines)


def _merged_stats(results: dict) -> dict:
    """The stats of every config's pipeline as one manifest entry: steps by name, LLM usage summed per role."""
    steps, usage = {}, {}
    for result in results.values():
        steps.update(result.stats["steps"])
        for role, counts in result.stats["llm"].items():
            total = usage.setdefault(role, dict.fromkeys(counts, 0))
            for key, n in counts.items():
                total[key] = total.get(key, 0) + n
    return {"steps": dict(sorted(steps.items())), "llm": dict(sorted(usage.items()))}


def _run(ctx: BuildContext) -> dict:
    """The one build of this release (cached in the context), with its stats and rejects for the manifest."""
    cached = ctx.runs.get(DATASET)
    if cached is None:
        options = run_options(ctx)
        build, rows = run_toolmind(ctx, options, last_stage(ctx))
        for config, result in build.results.items():
            for r in result.rejects:
                ctx.rejects.add(f"{DATASET}:{r['step']}", r["item"], r["reason"], r["record"])
        ctx.stats[DATASET] = _merged_stats(build.results)
        run = {config: result.run for config, result in build.results.items()}
        atomic_write(Path(options["work_dir"]) / "run.json", (json.dumps(run, indent=2, sort_keys=True) + "\n").encode())
        cached = ctx.runs[DATASET] = {config: {split: [published(config, r) for r in split_rows]
                                               for split, split_rows in splits.items()}
                                      for config, splits in rows.items()}
    return cached


def published(config: str, row: dict) -> dict:
    """A pipeline row in its config's contract columns (nested mappings with open keys as JSON text)."""
    if config == "trajectories":
        prov = row["provenance"]
        row = {**row, "source": SOURCE, "generator": (prov.get("models") or {}).get("assistant"),
               "provenance": {**prov, **{k: dumps(prov.get(k) or ({} if k != "output_problems" else []))
                                         for k in ("models", "prompt_versions", "output_problems")}}}
    return {c: row.get(c) for c in contract(DATASET, config).column_names}


def _builder(config: str):
    def build(ctx: BuildContext, cfg: dict, where: str) -> dict[str, list[dict]]:
        return _run(ctx)[config]

    build.__doc__ = f"The ``{config}`` config's rows from the release's one ToolMind build."
    return build


# config -> (check, build)
CONFIGS = {config: (check, _builder(config)) for config in STAGES}
