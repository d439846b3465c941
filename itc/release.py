"""The ITC dataset as a release builds it: both published configs from one run of the ITC pipeline.

``default`` (tasks, ``train`` / ``test``) and ``apis`` (the catalog, each tool in the split its
tasks went to) come from the same run (``itc.pipeline.build_itc_result``), made once per release
and kept in the build context. The pipeline's options may sit on either config (the run uses
their union; a key set differently on both is an error), e.g.::

    itc:
      configs:
        default: {pool: {max_per_provider: 2}, counts: {single: 4}, score_filter: record,
                  caps: {scorer: {requests: 200}}}
        apis: {}

``roles(ctx, configs)`` names the LLM roles the pipeline's steps call (the release checks the
preset's ``llm.roles`` against them); ``check(ctx, cfg, where)`` assembles the pipeline and checks
every option, role and cap without any work; ``plan(ctx, configs)`` is the ``--dry-run`` table;
``build(ctx, cfg, where)`` returns ``{split: rows}`` in the config's contract (``builders.contract``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from builders.context import BuildContext
from builders.preset import PresetError, option_types
from builders.runtime import Pipeline
from builders.runtime.checkpoint import atomic_write
from itc.pipeline import build_itc_result, catalog_tools, openai_name, steps_for

logger = logging.getLogger(__name__)

TASK_CATEGORIES = ["text-generation"]
TAGS = ["tool-use", "function-calling", "real-apis", "multilingual"]
DATASET = "itc"
# columns of a catalog tool as the pipeline's first step reads them (checked without reading the catalog)
CATALOG_COLUMNS = ("id", "tool_id", "tool_name", "tool_description", "home_url", "country", "category", "api_list")
# the release sets these itself, from the CLI and the work folder
RUNTIME_KEYS = ("work_dir", "executor", "shards")


def pipeline_options(ctx: BuildContext) -> dict:
    """The ITC options of the preset: the union of its configs' settings (a conflict is an error)."""
    options: dict = {}
    where = f"preset {ctx.preset.path} datasets.{DATASET}.configs"
    for config, cfg in ctx.preset.datasets[DATASET].configs.items():
        for key, value in cfg.items():
            if key in RUNTIME_KEYS and key != "work_dir":
                raise PresetError(f"{where}.{config}.{key}", "is set by the release, not the preset",
                                  f"pass --{key} to python -m builders.release")
            if key in options and options[key] != value:
                raise PresetError(f"{where}.{config}.{key}", f"is {value!r} here but {options[key]!r} on another "
                                  "config; both configs come from one pipeline run", "set it on one config only")
            options[key] = value
    return options


def run_options(ctx: BuildContext) -> dict:
    return ctx.run_options(DATASET, pipeline_options(ctx))


def _steps(ctx: BuildContext, options: dict) -> list:
    with option_types(f"preset {ctx.preset.path} datasets.{DATASET}",
                      "see itc/pipeline.py OPTIONS and builders/presets/default.yaml"):
        return steps_for(options, ctx.seed)


def roles(ctx: BuildContext) -> list[str]:
    """The LLM roles the ITC steps call with this preset's options (e.g. two judges, one checker)."""
    return sorted({role for step in _steps(ctx, pipeline_options(ctx)) for role in step.roles})


def assembled(ctx: BuildContext, options: dict, source=()) -> Pipeline:
    """The pipeline over ``source`` (the catalog, or nothing for a check), checked: one error line."""
    pipeline = Pipeline(DATASET, source=list(source), steps=_steps(ctx, options), work_dir=options["work_dir"],
                        seed=ctx.seed, llm=ctx.llm_config, shards=options["shards"], executor=options["executor"],
                        caps=options.get("caps") or {}, source_columns=CATALOG_COLUMNS)
    pipeline.check()
    return pipeline


def check(ctx: BuildContext, cfg: dict, where: str) -> None:
    """Every option, role, cap, shard count and the catalog's source, before any build."""
    options = run_options(ctx)
    assembled(ctx, options)
    if options.get("tools") is None and not options.get("catalog"):
        ctx.check_pool(options.get("source", "openapi"), f"{where}.pool", options.get("pool") or {})
    elif options.get("catalog") and not Path(options["catalog"]).is_file():
        raise PresetError(f"{where}.catalog", f"{options['catalog']} is not a file", "give an ITC-format JSON file")


def plan(ctx: BuildContext) -> str:
    """The dry-run: planned items, requests and tokens per step and role; reads the catalog, sends nothing."""
    options = run_options(ctx)
    return assembled(ctx, options, catalog_tools(ctx, options)).dry_run().table()


def _run(ctx: BuildContext) -> dict:
    """The one pipeline run of this release (cached in the context), with its stats for the manifest."""
    cached = ctx.runs.get(DATASET)
    if cached is None:
        options = run_options(ctx)
        result, rows = build_itc_result(ctx, options)
        ctx.stats[DATASET] = result.stats
        atomic_write(Path(options["work_dir"]) / "run.json",
                     (json.dumps(result.run, indent=2, sort_keys=True) + "\n").encode())
        cached = ctx.runs[DATASET] = {"default": {s: [published_task(r) for r in rs]
                                                  for s, rs in rows["default"].items()},
                                      "apis": rows["apis"]}
    return cached


def published_task(row: dict) -> dict:
    """Actions name tools as ``tools`` does (OpenAI-valid), so gold and predictions compare by one name."""
    return {**row, "actions": [{**a, "name": openai_name(a["name"])} for a in row["actions"]]}


def build_default(ctx: BuildContext, cfg: dict, where: str) -> dict[str, list[dict]]:
    return _run(ctx)["default"]


def build_apis(ctx: BuildContext, cfg: dict, where: str) -> dict[str, list[dict]]:
    return _run(ctx)["apis"]


# config -> (check, build)
CONFIGS = {"default": (check, build_default), "apis": (check, build_apis)}
