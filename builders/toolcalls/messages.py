"""Chat messages cleaned for chat templates: None keys dropped, tool-call arguments checked JSON strings."""

from __future__ import annotations

import json
from typing import Any

from builders.schema import SchemaError

from .extract import loads

_CALL_FIX = "store calls as {id, type: 'function', function: {name, arguments}}"


def call_arguments(arguments: Any, item: str = "tool call") -> dict:
    """A call's ``arguments`` (JSON object string, dict or None) as a dict; anything else is an error.

    Templates that print the string as it is (Qwen3) would otherwise train on broken JSON.
    """
    if arguments is None:
        return {}
    if isinstance(arguments, str):
        try:
            arguments = loads(arguments)
        except json.JSONDecodeError as exc:
            raise SchemaError(item, f"arguments are not valid JSON ({exc}): {arguments[:80]!r}",
                              "store arguments as a JSON object string") from None
    if not isinstance(arguments, dict):
        raise SchemaError(item, f"arguments must be a JSON object, got {type(arguments).__name__}: "
                          f"{json.dumps(arguments, ensure_ascii=False)[:80]}",
                          "store arguments as a JSON object string such as '{\"city\": \"Paris\"}'")
    return arguments


def clean_message(message: Any, item: str = "message") -> dict:
    """Drop None-valued keys so templates that test ``is defined`` see only what is set; check tool calls."""
    if not isinstance(message, dict) or "role" not in message:
        raise SchemaError(item, f"is not a message dict with a role (got {type(message).__name__})",
                          "store messages as {role, content, ...} objects")
    out = {k: v for k, v in message.items() if v is not None}
    calls = message.get("tool_calls")
    if calls:
        if not isinstance(calls, list):
            raise SchemaError(item, f"tool_calls must be a list, got {type(calls).__name__}", _CALL_FIX)
        out["tool_calls"] = [_clean_call(call, f"{item} tool call {j}") for j, call in enumerate(calls)]
    return out


def _clean_call(call: Any, item: str) -> dict:
    fn = call.get("function") if isinstance(call, dict) else None
    name = fn.get("name") if isinstance(fn, dict) else None
    if not isinstance(name, str) or not name:
        raise SchemaError(item, "has no function name", _CALL_FIX)
    args = fn.get("arguments")
    parsed = call_arguments(args, f"{item} ({name})")
    if not isinstance(args, str):
        args = json.dumps(parsed, ensure_ascii=False)
    return ({k: v for k, v in call.items() if v is not None and k != "function"}
            | {"type": "function", "function": {"name": name, "arguments": args}})
