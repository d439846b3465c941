"""One trajectory per chain: the user, assistant and tool agents talking until the user is satisfied or a limit is hit.

``simulate`` is one async item of work (a sequence of dependent calls); the runtime keeps the
endpoint busy by running many of them at once. A trajectory that fails part-way (server error,
unusable reply) is a ``Reject`` with its reason, never a truncated row.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, fields
from typing import Any

from builders.llm import LLMClient
from builders.schema import Function, Message, SchemaError, content_hash, dumps
from toolmind.agents import assistant, tool, user
from toolmind.agents.common import Reject, as_function, chain_functions, stage_rng

logger = logging.getLogger(__name__)

STEP = "simulation"
ROLES = (user.ROLE, assistant.ROLE, tool.ROLE)
END_STOP, END_TURN_LIMIT, END_STEP_LIMIT = "user stop", "turn limit", "tool step limit"


@dataclass
class SimulationSettings:
    """How long a dialogue may run and what the assistant is offered (the preset's ``simulation:`` mapping).

    ``max_turns``: user messages at most; ``max_tool_steps``: consecutive tool-calling assistant
    messages within one user turn; ``distractors``: functions from ``distractor_pool`` offered
    beside the chain's own, so the assistant has to choose.
    """

    seed: int = 0
    max_turns: int = 6
    max_tool_steps: int = 4
    distractors: int = 0
    distractor_pool: list[Function] = field(default_factory=list, repr=False)
    stop_token: str = "###STOP###"
    opening: str = "Hi! How can I help you today?"
    output_retries: int = 1

    @classmethod
    def from_mapping(cls, mapping: Any, where: str = "simulation",
                     distractor_pool: list[Function] | None = None) -> "SimulationSettings":
        mapping = mapping or {}
        names = {f.name for f in fields(cls)} - {"distractor_pool"}
        if not isinstance(mapping, dict):
            raise SchemaError(where, f"must be a mapping, got {type(mapping).__name__}", f"use keys {sorted(names)}")
        for key, value in mapping.items():
            if key not in names:
                raise SchemaError(f"{where}.{key}", "unknown key", f"use one of {', '.join(sorted(names))}")
            want = type(getattr(cls(), key))
            if not isinstance(value, want) or isinstance(value, bool) or (want is int and value < 0):
                raise SchemaError(f"{where}.{key}", f"must be a {'non-negative ' * (want is int)}{want.__name__}, "
                                  f"got {value!r}", "fix the value in the preset")
        settings = cls(**mapping, distractor_pool=list(distractor_pool or []))
        if settings.max_turns < 1:
            raise SchemaError(f"{where}.max_turns", "must be at least 1", "allow the user at least one message")
        return settings


def trajectory_id(chain_row: dict, settings: SimulationSettings) -> str:
    return content_hash({"chain": chain_row["id"], "seed": settings.seed})


def offered_tools(functions: list[Function], settings: SimulationSettings, item: str) -> list[Function]:
    """The chain's functions plus distractors, in a seeded order so position gives nothing away."""
    own = {f.name for f in functions}
    pool = sorted((f for f in settings.distractor_pool if f.name not in own), key=lambda f: f.name)
    rng = stage_rng(settings.seed, "distractors", item)
    tools = functions + rng.sample(pool, min(settings.distractors, len(pool)))
    rng.shuffle(tools)
    return tools


async def simulate(chain_row: dict, client: LLMClient, settings: SimulationSettings) -> dict | Reject:
    """A ``trajectory`` row for a chain row that has an ``intent``, or a reject naming why not."""
    tid = trajectory_id(chain_row, settings)
    intent = chain_row.get("intent")
    if not isinstance(intent, dict) or not intent.get("task_instruction"):
        return Reject(STEP, tid, f"chain {chain_row['id']!r} has no intent; run the intents step first")
    try:
        functions = chain_functions(chain_row)
    except SchemaError as exc:
        return Reject(STEP, tid, str(exc))
    tools = offered_tools(functions, settings, chain_row["id"])
    by_name = {f.name: f for f in tools}
    messages: list[Message] = []
    ignored_stops, output_problems, end = 0, [], END_TURN_LIMIT
    for turn in range(settings.max_turns + 1):
        said = await user.user_turn(client, intent["task_instruction"], messages, f"{tid}:user{turn}",
                                    opening=settings.opening, stop_token=settings.stop_token)
        ignored_stops += said.ignored_stop
        if said.error:
            return Reject(STEP, tid, said.error)
        if said.stop:
            end = END_STOP
            break
        if turn == settings.max_turns:  # asked once more only to learn whether the user was done
            break
        messages.append(Message(role="user", content=said.content))
        failed, end = await _assistant_steps(client, messages, tools, by_name, settings, tid, output_problems)
        if failed:
            return Reject(STEP, tid, failed)
        if end == END_STEP_LIMIT:
            break
        end = END_TURN_LIMIT
    if ignored_stops:
        logger.debug("%s: ignored %d first-turn stop(s)", tid, ignored_stops)
    return {
        "id": tid, "chain_id": chain_row["id"], "messages": [m.to_dict() for m in messages],
        "tools": dumps([f.to_openai() for f in tools]), "intent": intent,
        "function_chain": [f.name for f in functions], "completed": end == END_STOP, "end_reason": end,
        "ignored_first_turn_stops": ignored_stops, "output_problems": output_problems,
        "chain_seed": chain_row.get("seed"), "edge_scores": list(chain_row.get("edge_scores") or []),
        "models": {**chain_row.get("models", {}), **{r: client.config.role(r).model for r in ROLES}},
        "prompt_versions": {**chain_row.get("prompt_versions", {}), user.ROLE: user.PROMPT.version,
                            tool.ROLE: tool.PROMPT.version},
    }


async def _assistant_steps(client: LLMClient, messages: list[Message], tools: list[Function],
                           by_name: dict[str, Function], settings: SimulationSettings, tid: str,
                           output_problems: list[dict]) -> tuple[str | None, str | None]:
    """Assistant messages (and their tool results) until one answers without calling; (failure, end)."""
    for step in range(settings.max_tool_steps + 1):
        n = sum(m.role == "assistant" for m in messages)
        reply = await assistant.assistant_turn(client, messages, tools, f"{tid}:assistant{n}", n)
        if isinstance(reply, str):
            return reply, None
        messages.append(reply)
        if not reply.tool_calls:
            return None, None
        results = await asyncio.gather(*(tool.tool_result(client, call, by_name, f"{tid}:tool:{call.id}",
                                                          settings.output_retries) for call in reply.tool_calls))
        for call, result in zip(reply.tool_calls, results):
            if result.error:
                return result.error, None
            messages.append(result.message)
            if result.output_problem:
                output_problems.append({"tool_call_id": call.id, "name": call.name, "problem": result.output_problem})
    return None, END_STEP_LIMIT


def distractor_pool(rows: list[dict]) -> list[Function]:
    """Pool rows (or OpenAI tools) as functions to draw distractors from."""
    return [as_function(r, f"function pool[{i}]") for i, r in enumerate(rows)]
