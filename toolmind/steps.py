"""The ToolMind stages as runtime steps: each wraps a stage module's pure code and declares its roles.

Graph half: ``CompletionBudget`` → ``FunctionCompletion`` (LLM) over pool rows; ``EdgeSearch``
(global: embeddings + blocked edge search) → ``ValidationBudget`` → ``EdgeValidation`` (LLM) over
edges; ``Walks`` (global) from edges to chains. Trajectory half: ``Intents`` → ``Simulation`` →
``Judges`` (LLM rollouts) → ``TrajectoryRows``; ``TurnSplit`` makes samples.

The stage code takes an ``LLMClient``; :class:`CountedClient` hands it the step's ``ItemContext``
instead, so every request is checked against the step's declared roles and counted in its caps.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from builders.contract import TRAJECTORIES
from builders.errors import DataError
from builders.llm import ChatRequest
from builders.runtime import GlobalStep, MapStep, Reject
from builders.schema import content_hash
from toolmind import completion, graph, intents, judges, turns, walks
from toolmind.agents import simulation
from toolmind.agents.common import Reject as StageReject

logger = logging.getLogger(__name__)


class CountedClient:
    """The slice of ``LLMClient`` the stage code uses, routed through a step's ``ItemContext``."""

    def __init__(self, ctx):
        self.ctx, self.config = ctx, ctx.client.config

    async def chat(self, role, request, **fields):
        return await self.ctx.chat(role, request, **fields)

    async def chat_json(self, role, request, schema=None, validator=None, name="answer"):
        return await self.ctx.chat_json(role, request, schema=schema, validator=validator, name=name)


def _row(out: dict | StageReject) -> dict:
    """A stage's row, or the runtime reject for the stage's own reject value."""
    if isinstance(out, StageReject):
        raise Reject(out.reason)
    return out


class SourceKeyed:
    """A step whose settings carry a digest of its pipeline's source rows.

    The runtime keys checkpoints by item ids; pool rows keep their ids when their text changes
    (the id is name + schema), so the first step of each ToolMind pipeline adds the content digest.
    """

    source_digest: str | None = None

    def keyed(self, settings: dict) -> dict:
        return {**settings, "source": self.source_digest} if self.source_digest else settings


# --- function completion -------------------------------------------------------------------------

class CompletionBudget(SourceKeyed, GlobalStep):
    """Marks which functions get completion requests: the first ``max_functions`` needing it, by id.

    ``completion`` becomes ``pending`` (will be sent), ``complete`` (nothing missing) or
    ``over_budget`` (left as it is, counted)."""

    name, inputs, outputs = "completion_budget", ("name", "parameters"), ("completion",)

    def __init__(self, max_functions: int | None = None):
        self.max_functions = max_functions
        self.counts: dict[str, int] = {}

    def settings(self) -> dict:
        return self.keyed({"max_functions": self.max_functions})

    def run(self, items, ctx):
        sent, out = 0, []
        for item in items:
            if not completion.Gaps.of(item).parts():
                status = "complete"
            elif self.max_functions is None or sent < self.max_functions:
                status, sent = "pending", sent + 1
            else:
                status = "over_budget"
            out.append({**item, "completion": status})
        self.counts = {s: sum(o["completion"] == s for o in out) for s in ("complete", "pending", "over_budget")}
        logger.info("completion budget: %s", self.counts)
        return out


class FunctionCompletion(MapStep):
    """Appendix A.1: the missing input and output fields of a ``pending`` function, one request per part."""

    name, inputs, outputs = "function_completion", ("completion",), ("inferred",)
    role = "function_completion"
    roles = (role,)

    def prompt_versions(self) -> dict[str, str]:
        return {completion.PROMPT.name: completion.PROMPT.version}

    def calls_per_item(self) -> dict[str, int]:
        return {self.role: 2}

    async def aprocess(self, item: dict, ctx) -> dict:
        if item["completion"] != "pending":
            return {**item, "inferred": list(item.get("inferred") or [])}
        row = item
        for part in completion.Gaps.of(item).parts():
            request = ChatRequest(messages=completion.completion_messages(row, part),
                                  prompt_version=completion.PROMPT.version, item=f"{item['id']}:{part}")
            schema = completion.reply_schema(part, completion.missing_names(row, part))
            result = await ctx.chat_json(self.role, request, schema=schema, validator=completion.reply_problem(part),
                                         name=f"{part}_completion")
            if not result.ok:
                raise Reject(f"{self.role} ({part}): {result.error}")
            try:
                row = completion.apply_completion(row, part, result.value)
            except DataError as exc:
                raise Reject(str(exc)) from None
        return {**row, "completion": "completed"}


# --- the graph -----------------------------------------------------------------------------------

class EdgeSearch(SourceKeyed, GlobalStep):
    """Function rows in, candidate edges out: parameter embeddings (cached on disk) and the blocked search."""

    name, inputs, outputs = "edge_search", ("name", "parameters", "outputs"), ("source", "target", "similarity")

    def __init__(self, config: graph.EdgeSearchConfig, model: str, cache_dir: str | None, precision: str = "float32"):
        from builders.embeddings import identity

        self.config, self.model, self.cache_dir, self.precision = config, model, cache_dir, precision
        self.model_identity = identity(model, precision)
        self.stats: dict = {}

    def settings(self) -> dict:
        c = self.config
        return self.keyed({"model": self.model_identity, "threshold": c.threshold, "seed": c.seed,
                           "keep_probability": c.keep_probability, "max_out_degree": c.max_out_degree})

    def run(self, items, ctx):
        from builders.embeddings import Embedder

        rows = sorted(items, key=lambda r: r["name"])
        edges, _ = graph.build_edges(rows, Embedder(self.model, cache_dir=self.cache_dir,
                                                               precision=self.precision), self.config)
        self.stats = dict(edges.stats)
        return [{"id": content_hash([e["source"], e["target"]]), **e} for e in edges.rows([r["name"] for r in rows])]


class ValidationBudget(GlobalStep):
    """Marks the candidates worth a validator request (each source's ``top_k``, at most ``max_requests``)."""

    name, inputs, outputs = "validation_budget", ("source", "target", "similarity"), ("validate",)

    def __init__(self, top_k: int | None, max_requests: int | None):
        self.top_k, self.max_requests = top_k, max_requests

    def settings(self) -> dict:
        return {"top_k": self.top_k, "max_requests": self.max_requests}

    def run(self, items, ctx):
        chosen = {(e["source"], e["target"]) for e in graph.select_for_validation(items, self.top_k, self.max_requests)}
        return [{**e, "validate": (e["source"], e["target"]) in chosen} for e in items]


class EdgeValidation(MapStep):
    """Appendix A.1 correlation prompt: 0-9 scores for the chosen candidates, then the keep decision.

    An unusable reply keeps the edge in ``graph`` with ``kept`` false and the reason in
    ``validation_error``; edges outside the budget follow ``acceptance.keep_unvalidated``."""

    name = "edge_validation"
    inputs = ("source", "target", "similarity", "validate")
    outputs = ("field_transitivity", "intent_coherence", "validated", "kept", "validation_error")
    role = "edge_validator"
    roles = (role,)

    def __init__(self, functions: dict[str, dict], acceptance: graph.EdgeAcceptance):
        self.functions, self.acceptance = functions, acceptance

    def settings(self) -> dict:
        a = self.acceptance
        return {"min_field_transitivity": a.min_field_transitivity, "min_intent_coherence": a.min_intent_coherence,
                "require": a.require, "min_sum": a.min_sum, "keep_unvalidated": a.keep_unvalidated}

    def prompt_versions(self) -> dict[str, str]:
        return {graph.VALIDATION_PROMPT.name: graph.VALIDATION_PROMPT.version}

    async def aprocess(self, item: dict, ctx) -> dict:
        edge = {k: item[k] for k in ("source", "target", "similarity")}
        scores, error = {}, None
        if item["validate"]:
            pair = (edge["source"], edge["target"])
            messages = graph.validation_messages(self.functions[pair[0]], self.functions[pair[1]])
            request = ChatRequest(messages=messages, prompt_version=graph.VALIDATION_PROMPT.version, item=item["id"])
            result = await ctx.chat_json(self.role, request, schema=graph.VALIDATION_SCHEMA, name="edge_validation")
            scores[pair] = None
            if not result.ok:
                error = f"{self.role}: {result.error}"
            else:
                try:
                    scores[pair] = graph.parse_validation(result.value, *pair)
                except DataError as exc:
                    error = str(exc)
        row = graph.apply_validation([edge], scores, self.acceptance)[0]
        return {"id": item["id"], **row, "validation_error": error}


class Walks(SourceKeyed, GlobalStep):
    """Kept edges in, chains out (seeded random walks with a visit cap)."""

    name, inputs, outputs = "walks", ("source", "target", "kept"), ("functions", "length", "seed")

    def __init__(self, names: Sequence[str], config: walks.WalkConfig):
        self.names, self.config = sorted(names), config
        self.stats: dict = {}

    def settings(self) -> dict:
        c = self.config
        return self.keyed({"names": content_hash(self.names), "n_walks": c.n_walks, "min_length": c.min_length,
                           "max_length": c.max_length, "visit_cap": c.visit_cap, "seed": c.seed,
                           "max_attempts": c.max_attempts})

    def run(self, items, ctx):
        result = walks.random_walks(self.names, items, self.config)
        self.stats = dict(result.stats)
        logger.info("walks: %s", self.stats)
        return result.chains


# --- trajectories --------------------------------------------------------------------------------

class Intents(SourceKeyed, MapStep):
    """A.2.1: the task instruction, tool usage and domains of a chain."""

    name, inputs, outputs = "intents", ("functions",), ("intent",)
    roles = (intents.ROLE,)

    def settings(self) -> dict:
        return self.keyed({})

    def prompt_versions(self) -> dict[str, str]:
        return {intents.PROMPT.name: intents.PROMPT.version}

    async def aprocess(self, item: dict, ctx) -> dict:
        return _row(await intents.synthesize_intent(item, CountedClient(ctx)))


class Simulation(MapStep):
    """A.2.2-A.2.3: one trajectory per chain with an intent; a failure part-way is a reject, never a short row."""

    name, inputs = "simulation", ("functions", "intent")
    outputs = ("messages", "tools", "function_chain", "completed", "end_reason")
    roles = simulation.ROLES
    version = "2"  # 2: call ids unique across the conversation (checkpoints of 1 may repeat them)

    def __init__(self, settings: simulation.SimulationSettings):
        self.simulation = settings

    def settings(self) -> dict:
        s = self.simulation
        return {"seed": s.seed, "max_turns": s.max_turns, "max_tool_steps": s.max_tool_steps,
                "distractors": s.distractors, "distractor_pool": content_hash(sorted(f.name for f in s.distractor_pool)),
                "stop_token": s.stop_token, "opening": s.opening, "output_retries": s.output_retries}

    def prompt_versions(self) -> dict[str, str]:
        from toolmind.agents import tool, user

        return {user.PROMPT.name: user.PROMPT.version, tool.PROMPT.name: tool.PROMPT.version}

    def calls_per_item(self) -> dict[str, int]:
        turns_ = self.simulation.max_turns + 1
        return {"user_simulator": turns_, "assistant": 2 * turns_, "tool_simulator": 2 * turns_}

    async def aprocess(self, item: dict, ctx) -> dict:
        return _row(await simulation.simulate(item, CountedClient(ctx), self.simulation))


class Judges(MapStep):
    """Rules, then the trajectory judge (A.3.1) and the turn judge (A.3.2); every verdict stored."""

    name, inputs, outputs = "judges", ("messages", "tools", "completed"), ("turn_verdicts", "trajectory_verdict")
    roles = (judges.TRAJECTORY_ROLE, judges.TURN_ROLE)

    def __init__(self, settings: judges.FilterSettings):
        self.filters = settings

    def settings(self) -> dict:
        f = self.filters
        return {"trajectory": f.trajectory, "turn": f.turn, "require_stop": f.require_stop}

    def prompt_versions(self) -> dict[str, str]:
        return {p.name: p.version for p in (judges.TRAJECTORY_PROMPT, judges.TURN_PROMPT)}

    async def aprocess(self, item: dict, ctx) -> dict:
        return _row(await judges.filter_trajectory(item, CountedClient(ctx), self.filters))


class TrajectoryRows(MapStep):
    """A judged simulation row in the published ``trajectories`` shape."""

    name, inputs, outputs = "trajectory_rows", ("turn_verdicts",), ("provenance",)

    def process(self, item: dict) -> dict:
        """Rejects, with the contract's reason, a row the release would refuse, so one bad simulation
        cannot stop a whole release at publication."""
        try:
            row = turns.trajectory_row(item)
            TRAJECTORIES.check_row(turns.published_row("trajectories", row), f"trajectory {row['id']!r}")
        except ValueError as exc:  # SchemaError (the contract) included
            raise Reject(str(exc)) from None
        return row


class TurnSplit(SourceKeyed, MapStep):
    """One ``samples`` row per kept assistant turn of a trajectory."""

    name, inputs, outputs = "turn_split", ("messages", "turn_verdicts"), ("prompt", "completion")

    def settings(self) -> dict:
        return self.keyed({})

    def process(self, item: dict) -> list[dict]:
        return turns.split_samples(item)


def source_digest(rows: Sequence[dict[str, Any]]) -> str:
    """The digest a :class:`SourceKeyed` step carries: the rows' whole content, in id order."""
    return content_hash(sorted(rows, key=lambda r: str(r.get("id"))))
