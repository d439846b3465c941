"""The ``structured`` tool mode: tool calls from servers that enforce a JSON schema but not tools.

llama.cpp enforces ``response_format: json_schema`` but not ``tool_choice``, and a small model
ignores tools offered through its chat template. So instead of sending ``tools``, the request
describes them in the system prompt and constrains the reply to one JSON object holding a text
answer (``content``), calls to the declared tools (``tool_calls``, each call's ``arguments``
constrained by that tool's ``parameters``), or both. ``structured_reply`` turns that object back
into an ordinary assistant message, so callers never see which mode an endpoint runs in.
Earlier assistant turns are shown to the model in the same JSON shape, so the history teaches it
the format it must answer in.
"""

from __future__ import annotations

import json
from typing import Any

from builders.llm.recovery import openai_call
from builders.schema import dumps

SCHEMA_NAME = "assistant_turn"


def _function(tool: dict) -> dict:
    return tool.get("function", tool) if isinstance(tool, dict) else {}


def _arguments_schema(fn: dict) -> dict:
    params = fn.get("parameters")
    return params if isinstance(params, dict) and params else {"type": "object"}


def reply_schema(tools: list[dict], tool_choice: Any = None) -> dict:
    """The JSON schema of one assistant turn: text, calls to ``tools``, or both.

    ``tool_choice`` narrows it as OpenAI defines it: ``"required"`` needs at least one call, a
    named function needs calls to that function only, ``"none"`` allows text only.
    """
    fns = [_function(t) for t in tools]
    if isinstance(tool_choice, dict):
        wanted = _function(tool_choice).get("name")
        fns = [fn for fn in fns if fn.get("name") == wanted] or fns
    calls = {"type": "array", "minItems": 1, "items": {"anyOf": [
        {"type": "object", "properties": {"name": {"const": fn.get("name")}, "arguments": _arguments_schema(fn)},
         "required": ["name", "arguments"], "additionalProperties": False} for fn in fns]}}
    text = {"type": "string"}
    with_calls = {"type": "object", "properties": {"content": text, "tool_calls": calls},
                  "required": ["tool_calls"], "additionalProperties": False}
    text_only = {"type": "object", "properties": {"content": text}, "required": ["content"],
                 "additionalProperties": False}
    if tool_choice == "none" or not fns:
        return text_only
    if tool_choice == "required" or isinstance(tool_choice, dict):
        return with_calls
    return {"anyOf": [text_only, with_calls]}


def tools_prompt(tools: list[dict], tool_choice: Any = None) -> str:
    """The system-prompt part that tells the model its tools and the reply shape."""
    lines = ["You can call these tools (JSON Schema of each tool's arguments):"]
    for t in tools:
        fn = _function(t)
        lines.append(dumps({"name": fn.get("name"), "description": fn.get("description", ""),
                            "parameters": _arguments_schema(fn)}))
    if tool_choice == "none":
        lines.append('Do not call a tool now. Reply with one JSON object: {"content": "<your answer>"}.')
    else:
        lines.append('Reply with one JSON object: {"content": "<your answer>"} to answer the user, '
                     '{"tool_calls": [{"name": "<tool name>", "arguments": {...}}]} to call tools, or both keys.')
    return "\n".join(lines)


def _as_turn(message: dict) -> dict:
    """An earlier assistant message rendered as the JSON object the model is asked to produce."""
    turn: dict[str, Any] = {}
    if message.get("content"):
        turn["content"] = message["content"]
    calls = []
    for call in message.get("tool_calls") or ():
        fn = _function(call)
        args = fn.get("arguments", "{}")
        try:
            args = json.loads(args) if isinstance(args, str) else args
        except json.JSONDecodeError:
            pass  # shown as the string it was
        calls.append({"name": fn.get("name"), "arguments": args})
    if calls:
        turn["tool_calls"] = calls
    out = {k: v for k, v in message.items() if k != "tool_calls"}
    out["content"] = dumps(turn or {"content": ""})
    return out


def structured_request(messages: list[dict], tools: list[dict], tool_choice: Any = None) -> dict:
    """The request fields (``messages``, ``response_format``) that replace ``tools`` / ``tool_choice``."""
    prompt = tools_prompt(tools, tool_choice)
    out = [_as_turn(m) if m.get("role") == "assistant" else dict(m) for m in messages]
    if out and out[0].get("role") == "system":
        out[0]["content"] = f"{out[0].get('content') or ''}\n\n{prompt}".strip()
    else:
        out.insert(0, {"role": "system", "content": prompt})
    schema = reply_schema(tools, tool_choice)
    return {"messages": out, "response_format": {
        "type": "json_schema", "json_schema": {"name": SCHEMA_NAME, "schema": schema, "strict": False}}}


def structured_reply(message: dict) -> dict | None:
    """The assistant message a structured reply stands for, or None when the text is not one
    (a server that ignored the schema, or a reply cut off by ``max_tokens``)."""
    text = message.get("content")
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(value, dict) or not value or set(value) - {"content", "tool_calls"}:
        return None
    content, calls = value.get("content"), value.get("tool_calls", [])
    if not isinstance(content, (str, type(None))) or not isinstance(calls, list):
        return None
    if not all(isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("arguments"), dict)
               for c in calls):
        return None
    out = {k: v for k, v in message.items() if k != "tool_calls"}
    out["content"] = content or (None if calls else "")
    if calls:
        out["tool_calls"] = [openai_call(c["name"], c["arguments"], i, text) for i, c in enumerate(calls)]
    return out
