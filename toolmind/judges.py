"""The two-stage filter of seed 002 (3.3): a trajectory judge (A.3.1) and a turn judge (A.3.2), after the rules.

Order: the rule checks mark turns first (no request); the trajectory filter then combines the
user agent's completion judgement (did it say stop?) with the A.3.1 judge; the A.3.2 judge sees
every assistant turn a rule did not already fail. Each filter has a mode: ``enforce`` drops
what fails, ``record`` keeps it. Every verdict is stored either way, so a user can re-filter a
release without re-running a model (and the embedded preset records, since a 135M judge's
verdicts are noise).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from builders.llm import ChatRequest, LLMClient, load_prompt
from builders.schema import Message, SchemaError, parse_tools_column
from toolmind.agents.common import Reject, tools_text, transcript
from toolmind.rules import RuleVerdict, check_turns

STEP = "judges"
TRAJECTORY_ROLE, TURN_ROLE = "trajectory_judge", "turn_judge"
TRAJECTORY_PROMPT = load_prompt(__file__, "prompts/trajectory_judge.jinja")
TURN_PROMPT = load_prompt(__file__, "prompts/turn_judge.jinja")
MODES = ("enforce", "record")
_DIGIT_RE = re.compile(r"(?<![\d.])([01])(?!\d|\.\d)")


@dataclass
class FilterSettings:
    """The preset's ``filters:`` mapping: one mode per filter, and whether an unfinished dialogue fails."""

    trajectory: str = "enforce"
    turn: str = "enforce"
    require_stop: bool = True

    @classmethod
    def from_mapping(cls, mapping: Any, where: str = "filters") -> "FilterSettings":
        mapping = mapping or {}
        if not isinstance(mapping, dict) or set(mapping) - {"trajectory", "turn", "require_stop"}:
            raise SchemaError(where, f"has unknown keys or is not a mapping ({mapping!r})",
                              "use {trajectory: enforce|record, turn: enforce|record, require_stop: true|false}")
        settings = cls(**mapping)
        for key in ("trajectory", "turn"):
            if getattr(settings, key) not in MODES:
                raise SchemaError(f"{where}.{key}", f"mode {getattr(settings, key)!r} is unknown",
                                  "use 'enforce' (drop what fails) or 'record' (store the verdict only)")
        if not isinstance(settings.require_stop, bool):
            raise SchemaError(f"{where}.require_stop", f"must be true or false, got {settings.require_stop!r}",
                              "fix the value in the preset")
        return settings


def parse_binary(text: str | None) -> int | None:
    """The judge's 0 or 1: the first standalone digit of the reply, else None."""
    m = _DIGIT_RE.search(text or "")
    return int(m.group(1)) if m else None


async def _judge(client: LLMClient, role: str, prompt, item: str, **values) -> tuple[int | None, str | None]:
    """(score, problem) for one judge request; a failed or unreadable reply is a problem, not a crash."""
    request = ChatRequest(messages=[{"role": "user", "content": prompt.render(**values)}],
                          prompt_version=prompt.version, item=item)
    result = await client.chat(role, request)
    if not result.ok:
        return None, f"{role} failed: {result.error}"
    score = parse_binary(result.content)
    if score is None:
        return None, f"{role} reply has no 0/1 verdict: {(result.content or '')[:80]!r}"
    return score, None


async def judge_trajectory(client: LLMClient, messages: list[Message], tools_prompt: str, item: str):
    return await _judge(client, TRAJECTORY_ROLE, TRAJECTORY_PROMPT, f"{item}:trajectory_judge",
                        tools=tools_prompt, messages=transcript(messages))


async def judge_turn(client: LLMClient, messages: list[Message], index: int, tools_prompt: str, item: str):
    return await _judge(client, TURN_ROLE, TURN_PROMPT, f"{item}:turn_judge{index}", tools=tools_prompt,
                        messages=transcript(messages[:index]), response=transcript([messages[index]]))


def trajectory_verdict(completed: bool, score: int | None, problem: str | None, settings: FilterSettings) -> dict:
    reasons = []
    if settings.require_stop and not completed:
        reasons.append("the user agent did not say the intent was fulfilled")
    if problem:
        reasons.append(problem)
    elif score == 0:
        reasons.append("trajectory judge scored 0")
    passed = not reasons
    keep = passed or settings.trajectory == "record"
    return {"keep": keep, "passed": passed, "completed": completed, "judge": score,
            "reason": "; ".join(reasons) or None}


def turn_verdict(rule: RuleVerdict, score: int | None, problem: str | None, settings: FilterSettings) -> dict:
    """The ``turn_verdicts`` struct: ``keep`` is final, ``error`` marks an MAE turn (masked in training)."""
    if rule.error:
        return {"keep": False, "error": True, "rule": rule.rule, "judge": None, "reason": rule.reason}
    failed = problem or ("turn judge scored 0" if score == 0 else None)
    return {"keep": not failed or settings.turn == "record", "error": False, "rule": None, "judge": score,
            "reason": failed}


async def filter_trajectory(row: dict, client: LLMClient, settings: FilterSettings) -> dict | Reject:
    """The simulated row with ``turn_verdicts`` and ``trajectory_verdict``, or a reject when enforced filters drop it."""
    tid = row["id"]
    messages = [Message.from_dict(m) for m in row["messages"]]
    tools = parse_tools_column(row["tools"], f"trajectory {tid!r} tools")
    tools_prompt = tools_text(tools)
    rules = check_turns(messages, tools)
    score, problem = await judge_trajectory(client, messages, tools_prompt, tid)
    verdict = trajectory_verdict(bool(row.get("completed")), score, problem, settings)
    if not verdict["keep"]:
        return Reject(STEP, tid, f"trajectory filter: {verdict['reason']}")
    assistant = [i for i, m in enumerate(messages) if m.role == "assistant"]
    judged = await asyncio.gather(*(judge_turn(client, messages, i, tools_prompt, tid) if not r.error
                                    else _no_judge() for i, r in zip(assistant, rules)))
    return {**row, "trajectory_verdict": verdict,
            "turn_verdicts": [turn_verdict(r, s, p, settings) for r, (s, p) in zip(rules, judged)],
            "prompt_versions": {**row.get("prompt_versions", {}), TRAJECTORY_ROLE: TRAJECTORY_PROMPT.version,
                                TURN_ROLE: TURN_PROMPT.version},
            "models": {**row.get("models", {}), **{r: client.config.role(r).model for r in (TRAJECTORY_ROLE, TURN_ROLE)}}}


async def _no_judge() -> tuple[None, None]:
    return None, None
