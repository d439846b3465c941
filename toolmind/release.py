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

Four keys are the release's, not the synthesis build's (any config may carry them, as the others):

- ``augment``: open-source rows (``toolmind.augment``): ``{sources: {name: {format, path | hub_id, split,
  license[, tools]}}, filters, max_rows, caps}``. Their trajectories join the synthesized ones; the
  dataset's ``license`` is checked against every source before any work (the error names the source).
- ``synthesize: false``: no simulation; ``trajectories`` / ``samples`` hold the augmented rows alone (the
  preset may list only those two configs then).
- ``dedup``: near-duplicate and exact removal over all trajectories (``builders.dedup``; ``{threshold}``
  or ``false``), before the turn split, so a sample goes with its trajectory.
- ``decontaminate``: removal of trajectories whose user text overlaps an evaluation set
  (``builders.decontam``): ``{sets: [bfcl_v4, itc_test]}`` or ``false``; by default BFCL v4, and the ITC
  test split when this release built ITC first.

Per source (``toolmind`` for the synthesized rows): licence, rows in, trajectories and samples out and
rejects by reason, in ``manifest["stats"]["sources"]`` (the card's sources table).

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
from builders.dedup import Dedup, dedup_settings
from builders.decontam import BFCL, ITC_TEST, Decontaminate, bfcl_questions, eval_set, eval_set_names
from builders.errors import ConfigError
from builders.licenses import LicenseError
from builders.preset import PresetError, option_types
from builders.runtime import Pipeline
from builders.runtime.checkpoint import atomic_write
from toolmind import steps
from toolmind.augment import AugmentBuild, sample_steps
from toolmind.pipeline import STAGES, ToolMindBuild, run_toolmind, stage_roles
from toolmind.turns import SOURCE, published_row

logger = logging.getLogger(__name__)

TASK_CATEGORIES = ["text-generation"]
TAGS = ["tool-use", "function-calling", "synthetic", "multi-turn"]
DATASET = "toolmind"
# the functions config's own keys since the first release: the base pool's settings
FLAT_POOL_KEYS = ("source", "max_per_provider", "max_functions", "providers")
# the release sets these itself, from the CLI
RUNTIME_KEYS = ("executor", "shards")
# read here, around the synthesis build (see the module doc)
RELEASE_KEYS = ("augment", "synthesize", "dedup", "decontaminate")
CONVERSATION_CONFIGS = ("trajectories", "samples")


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


def run_options(ctx: BuildContext) -> dict:
    return ctx.run_options(DATASET, pipeline_options(ctx))


def last_stage(ctx: BuildContext) -> str:
    """The last config (in build order) the preset lists: the build stops there."""
    listed = [c for c in STAGES if c in ctx.preset.datasets[DATASET].configs]
    return listed[-1] if listed else STAGES[0]


def _where(ctx: BuildContext) -> str:
    return f"preset {ctx.preset.path} datasets.{DATASET}"


def synthesis_options(options: dict) -> dict:
    return {k: v for k, v in options.items() if k not in RELEASE_KEYS}


def synthesizes(ctx: BuildContext) -> bool:
    value = pipeline_options(ctx).get("synthesize", True)
    if not isinstance(value, bool):
        raise PresetError(f"{_where(ctx)} synthesize", f"must be true or false, got {value!r}",
                          "write synthesize: false to publish augmented rows only")
    return value


def _build(ctx: BuildContext) -> ToolMindBuild:
    """The build with every option checked; a wrong type becomes one preset error line."""
    with option_types(f"preset {ctx.preset.path} datasets.{DATASET}",
                      "see toolmind/pipeline.py and builders/presets/default.yaml"):
        return ToolMindBuild(ctx, synthesis_options(run_options(ctx)))


def roles(ctx: BuildContext) -> list[str]:
    """The LLM roles the steps of the configs this preset builds call (the release checks ``llm.roles``)."""
    wanted = STAGES[: STAGES.index(last_stage(ctx)) + 1] if synthesizes(ctx) else ()
    found = {role for config in wanted for role in stage_roles(config)}
    if pipeline_options(ctx).get("augment"):
        found.update(steps.Judges.roles)
    return sorted(found)


def augment_build(ctx: BuildContext, options: dict) -> AugmentBuild | None:
    """The augmentation with its options and sources checked, and the dataset's licence against every
    source (a clash is one error line naming the source), before any row is read; None without ``augment``."""
    section = options.get("augment")
    if not section:
        return None
    where = _where(ctx)
    if not isinstance(section, dict):
        raise PresetError(f"{where} augment", f"must be a mapping, got {type(section).__name__}",
                          "write augment: {sources: {name: {format, path, license}}}")
    if last_stage(ctx) not in CONVERSATION_CONFIGS:
        raise PresetError(f"{where} augment", "adds trajectories, but the preset lists neither trajectories nor "
                          "samples", "list the trajectories and samples configs")
    for key in ("work_dir", "license", "shards"):
        if key in section:
            raise PresetError(f"{where} augment.{key}", "is set by the release", "leave it out of the preset")
    aug = {**section, "work_dir": str(Path(options["work_dir"]) / "augment"), "shards": ctx.shards,
           "license": ctx.preset.datasets[DATASET].license}
    try:
        return AugmentBuild(ctx, aug)
    except LicenseError as exc:
        raise ConfigError(exc.item, exc.problem, exc.fix) from None


def cleaning_steps(ctx: BuildContext, options: dict, load: bool = True) -> list:
    """Dedup and decontamination over trajectories, as the preset sets them; ``load=False`` checks the options
    without reading an evaluation set."""
    where, out = _where(ctx), []
    dedup = dedup_settings(options.get("dedup"), f"{where} dedup")
    if dedup is not None:
        out.append(Dedup("trajectories", **dedup))
    itc = (ctx.runs.get("itc") or {}).get("default", {}).get("test") if load else []
    available = {BFCL: None, ITC_TEST: None if itc is not None else
                 "build itc before toolmind in the same release, or drop itc_test"}
    names = eval_set_names(options.get("decontaminate"), f"{where} decontaminate", available)
    if names and load:
        sets = [bfcl_questions() if name == BFCL else eval_set(ITC_TEST, itc) for name in names]
        out.append(Decontaminate(sets, "trajectories"))
    elif names:
        out.append(Decontaminate([], "trajectories"))
    for step in out:
        if load:
            step.check()
    return out


def check(ctx: BuildContext, cfg: dict, where: str) -> None:
    """Every option, stage, role, cap, the pool's source and the augmentation's sources and licences, before
    any build."""
    options = run_options(ctx)
    if synthesizes(ctx):
        _build(ctx).check(last_stage(ctx))
        pool = options.get("pool") or {}
        ctx.check_pool(pool.get("source", "openapi"), f"{where} pool",
                       {k: pool[k] for k in ("max_per_provider", "max_functions", "providers") if k in pool})
    else:
        listed = sorted(set(ctx.preset.datasets[DATASET].configs) - set(CONVERSATION_CONFIGS))
        if listed:
            raise PresetError(f"{_where(ctx)}.configs.{listed[0]}", "needs the synthesis, but synthesize is false",
                              "list only trajectories and samples, or drop synthesize: false")
        if not options.get("augment"):
            raise PresetError(f"{_where(ctx)} synthesize", "is false and there is no augment section: nothing to "
                              "publish", "add augment: {sources: ...} or drop synthesize: false")
    augment_build(ctx, options)
    cleaning_steps(ctx, options, load=False)


def plan(ctx: BuildContext) -> str:
    """The dry-run: the completion stage over the real pool (sends nothing); later stages' inputs come from
    earlier outputs, so they are given as the bounds the preset's budgets set."""
    from toolmind import steps

    if not synthesizes(ctx):
        sources = sorted((pipeline_options(ctx).get("augment") or {}).get("sources") or {})
        return f"trajectories: augmented rows only, from {', '.join(sources)} (judges, rules, turn split)"
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


def _merged_stats(results: dict, extra_usage=()) -> dict:
    """The stats of every config's pipeline as one manifest entry: steps by name, LLM usage summed per role
    (with the augmentation's, whose steps are counted per source instead)."""
    steps_, usage = {}, {}
    for result in results.values():
        steps_.update(result.stats["steps"])
    for llm in [r.stats["llm"] for r in results.values()] + list(extra_usage):
        for role, counts in llm.items():
            total = usage.setdefault(role, dict.fromkeys(counts, 0))
            for key, n in counts.items():
                total[key] = total.get(key, 0) + n
    return {"steps": dict(sorted(steps_.items())), "llm": dict(sorted(usage.items()))}


class ReleaseBuild:
    """One ToolMind release: synthesis up to the last listed config, augmentation, dedup and decontamination
    of all trajectories, then one turn split; rows in the contract's columns with per-source counts."""

    def __init__(self, ctx: BuildContext):
        self.ctx, self.options = ctx, run_options(ctx)
        self.last = last_stage(ctx)
        self.results: dict = {}  # pipeline name -> BuildResult
        self.license = ctx.preset.datasets[DATASET].license

    def pipeline(self, name: str, source: list[dict], step_list: list):
        pipe = Pipeline(f"toolmind-{name}", source=source, steps=step_list, work_dir=Path(self.options["work_dir"]) / name,
                        seed=self.ctx.seed, shards=self.ctx.shards, executor=self.ctx.executor, progress=False)
        if not source:
            return []
        result = self.results[name] = pipe.run()
        result.write(Path(self.options["work_dir"]) / name / "out")
        for r in result.rejects:
            self.ctx.rejects.add(f"{DATASET}:{r['step']}", r["item"], r["reason"], r["record"])
        return result.items

    def run(self) -> dict:
        rows: dict = {}
        conversations = self.last in CONVERSATION_CONFIGS
        if synthesizes(self.ctx):
            build, rows = run_toolmind(self.ctx, synthesis_options(self.options),
                                       "trajectories" if conversations else self.last)
            self.results.update(build.results)
            for result in build.results.values():
                for r in result.rejects:
                    self.ctx.rejects.add(f"{DATASET}:{r['step']}", r["item"], r["reason"], r["record"])
        counts, usage = {}, []
        if conversations:
            trajectories = rows.get("trajectories", {}).get("train", [])
            counts = {SOURCE: {"license": self.license, "format": "simulation", "rows_in": len(trajectories),
                               "rejects": {}}} if synthesizes(self.ctx) else {}
            augment = augment_build(self.ctx, self.options)
            if augment is not None:
                out = augment.run(split=False)
                trajectories = trajectories + out["trajectories"]
                counts.update(out["sources"])
                for name, result in sorted(augment.results.items()):
                    usage.append(result.stats["llm"])
                    for r in result.rejects:
                        self.ctx.rejects.add(f"{DATASET}:augment:{name}:{r['step']}", r["item"], r["reason"],
                                             r["record"])
                for r in augment.repeats:
                    self.ctx.rejects.add(f"{DATASET}:augment:{r['step']}", r["item"], r["reason"], r["record"])
            cleaning = cleaning_steps(self.ctx, self.options)
            kept = self.pipeline("clean", trajectories, cleaning) if cleaning else trajectories
            source_of = {t["id"]: t["source"] for t in trajectories}
            clean = self.results.get("clean")
            for r in clean.rejects if clean else ():
                rejects = counts[source_of[r["item"]]]["rejects"]
                rejects[r["reason"]] = rejects.get(r["reason"], 0) + 1
            rows["trajectories"] = {"train": sorted(kept, key=lambda t: t["id"])}
            if self.last == "samples":
                rows["samples"] = {"train": self.pipeline("samples", kept, sample_steps())}
            for name, c in counts.items():
                c["trajectories"] = sum(t["source"] == name for t in kept)
                c["samples"] = sum(s["source"] == name for s in rows.get("samples", {}).get("train", []))
                c["rejects"] = dict(sorted(c["rejects"].items()))
        stats = _merged_stats(self.results, usage)
        if counts:
            stats["sources"] = dict(sorted(counts.items()))
        self.ctx.stats[DATASET] = stats
        run = {name: result.run for name, result in self.results.items()}
        atomic_write(Path(self.options["work_dir"]) / "run.json",
                     (json.dumps(run, indent=2, sort_keys=True) + "\n").encode())
        return {config: {split: [published_row(config, r, self.license) for r in split_rows]
                         for split, split_rows in splits.items()} for config, splits in rows.items()}


def _run(ctx: BuildContext) -> dict:
    """The one build of this release (cached in the context), with its stats and rejects for the manifest."""
    cached = ctx.runs.get(DATASET)
    if cached is None:
        cached = ctx.runs[DATASET] = ReleaseBuild(ctx).run()
    return cached


def _builder(config: str):
    def build(ctx: BuildContext, cfg: dict, where: str) -> dict[str, list[dict]]:
        return _run(ctx)[config]

    build.__doc__ = f"The ``{config}`` config's rows from the release's one ToolMind build."
    return build


# config -> (check, build)
CONFIGS = {config: (check, _builder(config)) for config in STAGES}
