"""Rule checks on every assistant turn: cheap, deterministic, run before any judge.

Two rules mark a turn as erroneous (MAE: it stays in the context, it gets no loss):
``arguments`` — a call whose arguments do not fit the called tool's JSON schema (or that calls
a tool the turn was not given), checked by ``builders.toolcalls``' validator, so the reason names
the category and parameter path ("missing_required at city: ..."); ``feedback`` — tool feedback after the turn that shows an
error, by the MAE patterns of SPEC.md (Python call errors, HTTP / connection errors, API error
bodies).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Iterable

import jsonschema

from builders.schema import Function, Message, ToolCall
from builders.toolcalls.validate import argument_issues, schema_validator

# (category, pattern) in SPEC.md's order; the category is what a verdict's reason names
MAE_PATTERNS: tuple[tuple[str, re.Pattern], ...] = tuple((name, re.compile(p, re.I)) for name, p in (
    ("undefined name", r"\bis not defined\b"),
    ("missing argument", r"missing \d* ?required (positional|keyword)? ?arguments?"),
    ("unexpected argument", r"unexpected keyword argument"),
    ("type error", r"\bTypeError\b"),
    ("http error", r"\b[45]\d\d\b[^\n]{0,40}\b(Client|Server) Error\b"),
    ("connection error", r"\bConnectionError\b|Max retries exceeded"),
    ("invalid api call", r"Invalid API call"),
    ("response error", r"Response error"),
))
# words without which no MAE pattern can match ASCII text: most tool feedback has none of them, and one
# substring scan is much cheaper than the eight regex searches (non-ASCII text, where re.I folds
# letters such as 'ſ' to ASCII ones, always gets the full search)
_MAE_WORDS = ("defined", "missing", "unexpected", "error", "max retries", "invalid api call")


@dataclass(frozen=True)
class RuleVerdict:
    """What the rules say about one assistant turn; ``rule`` names the first rule that failed."""

    error: bool = False
    rule: str | None = None
    reason: str | None = None


def argument_problem(call: ToolCall, function: Function | None) -> str | None:
    """Why a call does not fit its tool, or None: ``builders.toolcalls``' validator (named categories
    with parameter paths), the one argument checker the pipelines and the release validator share."""
    if function is None:
        return f"calls {call.name!r}, which is not among the turn's tools"
    try:
        args = json.loads(call.arguments)
    except json.JSONDecodeError as exc:
        return f"arguments of {call.name!r} are not valid JSON ({exc.msg})"
    except RecursionError:
        return f"arguments of {call.name!r} are not valid JSON (nested too deeply)"
    if not isinstance(args, dict):
        return f"arguments of {call.name!r} are a {type(args).__name__}, not an object"
    issues = argument_issues(args, function.parameters)
    if not issues:
        return None
    more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
    return f"arguments of {call.name!r} do not fit its schema: {issues[0]}{more}"


def output_problem(value, schema: dict | None) -> str | None:
    """Why a simulated tool result does not fit the function's output schema, or None."""
    if schema is None:
        return None
    try:
        error = jsonschema.exceptions.best_match(schema_validator(schema).iter_errors(value))
    except RecursionError:
        return "result is nested too deeply to check"
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"result does not fit the output schema{f' at {where}' if where else ''}: {error.message}"


def feedback_error(text: str | None) -> str | None:
    """The MAE category that a tool message's text shows, or None."""
    if not text:
        return None
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        body = None
    if isinstance(body, dict) and body.get("error") not in (None, "", False):
        return "api error body"
    if text.isascii():
        lower = text.lower()
        if not any(word in lower for word in _MAE_WORDS):
            return None
    return next((name for name, pattern in MAE_PATTERNS if pattern.search(text)), None)


def check_turns(messages: list[Message], tools: Iterable[Function]) -> list[RuleVerdict]:
    """One verdict per assistant message, in order."""
    by_name = {f.name: f for f in tools}
    verdicts = []
    for i, m in enumerate(messages):
        if m.role != "assistant":
            continue
        verdict = RuleVerdict()
        for call in m.tool_calls or []:
            problem = argument_problem(call, by_name.get(call.name))
            if problem:
                verdict = RuleVerdict(True, "arguments", problem)
                break
        if not verdict.error:
            for reply in _feedback(messages, i):
                category = feedback_error(reply.content)
                if category:
                    verdict = RuleVerdict(True, "feedback", f"tool {reply.name!r} answered with an error ({category})")
                    break
        verdicts.append(verdict)
    return verdicts


def _feedback(messages: list[Message], i: int) -> list[Message]:
    """The tool messages that directly follow message ``i``."""
    out = []
    for m in messages[i + 1:]:
        if m.role != "tool":
            break
        out.append(m)
    return out
