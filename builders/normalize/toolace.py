"""Team-ACE/ToolACE rows.

A row is ``{"system": "<instructions>\\nHere is a list of functions in JSON format that you can
invoke:\\n[{...}].\\nShould you decide to return the function call(s), ...", "conversations":
[{"from": "user"|"assistant"|"tool", "value": str}]}``. Parameter schemas use Python words
("dict", "float", "any"); the assistant calls functions in Python syntax (``[f(a=1, b='x')]``),
read with ``ast``; a tool turn is a JSON list ``[{"name": f, "results": {...}}]`` that may answer
several calls at once and becomes one tool message per call.
"""

from __future__ import annotations

import json
import re

from builders.schema import Conversation, Message, ToolCall, dumps

from .common import RowContext, normalizer, parse_python_calls, system_messages

_LIST_INTRO = re.compile(r"Here is a list of functions in JSON format that you can invoke:?\s*")
_CALL_HEAD = re.compile(r"[A-Za-z_][\w.]*\s*\(")
_ROLES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant",
          "tool": "tool", "function": "tool", "observation": "tool", "system": "system"}


def read_functions(system: str, ctx: RowContext) -> str:
    """Register the JSON function list in the system prompt; return the instructions before it."""
    m = _LIST_INTRO.search(system)
    if not m:
        return system.strip()
    try:
        specs, _ = json.JSONDecoder().raw_decode(system, m.end())
    except json.JSONDecodeError as exc:
        raise ctx.error(f"the function list in the system prompt is not valid JSON ({exc.msg} at position {exc.pos})",
                        "write the functions as one JSON list after 'Here is a list of functions ...'") from None
    if not isinstance(specs, list):
        raise ctx.error(f"the function list in the system prompt is a {type(specs).__name__}, not a list",
                        "write the functions as one JSON list")
    for i, spec in enumerate(specs):
        ctx.add_function(spec, f"system function {i}")
    return system[:m.start()].strip()


def _is_call_list(text: str, ctx: RowContext) -> bool:
    """An assistant turn holds calls when it reads ``[name(...)]``, name known or a Python name."""
    stripped = text.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        return False
    head = stripped[1:].lstrip()
    return bool(_CALL_HEAD.match(head)) or any(
        head.startswith(name) and head[len(name):].lstrip().startswith("(") for name in ctx.names)


def answer_calls(value: str, pending: list[ToolCall], ctx: RowContext, where: str) -> list[Message]:
    """One tool turn -> a tool message per answered call, matched by name, else in call order."""
    results = None
    if value.strip()[:1] in "[{":
        try:
            results = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            results = None
    if isinstance(results, dict):
        results = [results]
    if not isinstance(results, list):
        if len(pending) != 1:
            raise ctx.error(f"tool turn is not a JSON list of results but {len(pending)} calls are open",
                            'give one {"name": ..., "results": ...} per call', where)
        results = [value]
    messages = []
    for j, result in enumerate(results):
        name = result.get("name") if isinstance(result, dict) and isinstance(result.get("name"), str) else None
        name = ctx.names.get(name, name)
        match = next((c for c in pending if c.name == name), None) if name else (pending[0] if pending else None)
        if match is None:
            raise ctx.error(f"result {j} (for {name!r}) answers no open call; open: {[c.name for c in pending]}",
                            "give one result per call, named after the function called", where)
        pending.remove(match)
        body = result.get("results", result) if isinstance(result, dict) else result
        content = body if isinstance(body, str) else dumps(body)
        messages.append(Message(role="tool", content=content, tool_call_id=match.id, name=match.name))
    return messages


@normalizer("toolace")
def normalize_toolace(row: dict, ctx: RowContext) -> Conversation:
    messages = system_messages(row, ctx, read_functions)
    turns = ctx.field(row, "conversations", list)
    pending: list[ToolCall] = []
    for i, turn in enumerate(turns):
        where = f"conversations[{i}]"
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            raise ctx.error("turn must be an object with 'from' and a string 'value'",
                            'give {"from": "user", "value": "..."}', where)
        role = _ROLES.get(turn["from"]) if isinstance(turn.get("from"), str) else None
        if role is None:
            raise ctx.error(f"unknown speaker {turn.get('from')!r}", f"use one of {', '.join(sorted(_ROLES))}", where)
        value = turn["value"]
        if role == "tool":
            messages.extend(answer_calls(value, pending, ctx, where))
        elif role == "assistant" and _is_call_list(value, ctx):
            calls = [ctx.tool_call(name, args, where) for name, args in parse_python_calls(value, ctx, where)]
            pending = list(calls)
            messages.append(Message(role="assistant", tool_calls=calls))
        else:
            messages.append(Message(role=role, content=value))
    return ctx.conversation(messages)
