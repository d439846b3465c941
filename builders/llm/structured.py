"""Getting JSON out of a chat model: ask for it the way the server supports, then extract and check it.

Models wrap JSON in code fences, prose or tags such as ``<func_return>``; servers differ in what
they can enforce. ``json_request`` shapes the request for an endpoint's ``json_mode``;
``parse_json_reply`` pulls the object back out and validates it, raising ``JSONReplyError``
with a reason that the client records as a counted reject instead of crashing the run.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

ANSWER_TOOL = "answer"
_FENCE_RE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)
_TYPES: dict[str, tuple[type, ...]] = {"object": (dict,), "array": (list,), "string": (str,), "number": (int, float),
                                       "integer": (int,), "boolean": (bool,), "null": (type(None),)}

# a validator returns True/None when the value is fine, or a reason string; it may also raise ValueError
Validator = Callable[[Any], "bool | str | None"]


class JSONReplyError(ValueError):
    """The reply held no usable JSON; ``reason`` is what lands in the rejects file."""

    def __init__(self, reason: str, text: str = ""):
        self.reason, self.text = reason, text
        super().__init__(reason)


def json_request(mode: str, schema: dict | None, name: str = ANSWER_TOOL) -> dict:
    """The request fields that ask for JSON in ``mode``; ``schema`` describes the wanted object."""
    schema = schema or {"type": "object"}
    if mode == "response_format":
        return {"response_format": {"type": "json_object"}}
    if mode == "json_schema":
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": name, "schema": schema, "strict": False}}}
    if mode == "tool":
        params = schema if schema.get("type") == "object" else {"type": "object", "properties": {}}
        tool = {"type": "function", "function": {"name": name, "description": "Return the answer.", "parameters": params}}
        return {"tools": [tool], "tool_choice": {"type": "function", "function": {"name": name}}}
    if mode == "prompt":
        return {}
    raise ValueError(f"unknown json_mode {mode!r}")


def prompt_suffix(schema: dict | None) -> str:
    """The instruction added to the last user message when the server cannot enforce JSON."""
    text = "Answer with one JSON object only, no other text."
    if schema and schema.get("properties"):
        text += " Its keys: " + ", ".join(schema["properties"]) + "."
    return text


def extract_json(text: str | None) -> Any:
    """The first JSON value in ``text``: whole text, a fenced block, or the first balanced object/array."""
    if text is None or not text.strip():
        raise JSONReplyError("empty reply", text or "")
    candidates = [text.strip()] + [m.group(1).strip() for m in _FENCE_RE.finditer(text)]
    for cand in candidates:
        try:
            return json.loads(cand)
        except json.JSONDecodeError:
            pass
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                return decoder.raw_decode(text, i)[0]
            except json.JSONDecodeError:
                continue
    raise JSONReplyError(f"no JSON found in reply {_clip(text)!r}", text)


def check_schema(value: Any, schema: dict, path: str = "$") -> str | None:
    """A small JSON-schema subset (type, properties, required, items, enum): the first problem, or None."""
    types = schema.get("type")
    if types is not None:
        types = types if isinstance(types, list) else [types]
        ok = any(isinstance(value, _TYPES.get(t, ())) and not (t in ("number", "integer") and isinstance(value, bool))
                 for t in types)
        if not ok:
            return f"{path} should be {'/'.join(types)}, got {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path} should be one of {schema['enum']}, got {value!r}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                return f"{path} misses required key {key!r}"
        for key, sub in (schema.get("properties") or {}).items():
            if key in value and isinstance(sub, dict):
                problem = check_schema(value[key], sub, f"{path}.{key}")
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            problem = check_schema(v, schema["items"], f"{path}[{i}]")
            if problem:
                return problem
    return None


def validate_value(value: Any, schema: dict | None = None, validator: Validator | None = None) -> Any:
    """Raise ``JSONReplyError`` unless ``value`` fits the schema and the validator."""
    if schema:
        problem = check_schema(value, schema)
        if problem:
            raise JSONReplyError(f"schema: {problem}")
    if validator is not None:
        try:
            verdict = validator(value)
        except (ValueError, TypeError, KeyError) as exc:
            raise JSONReplyError(f"validator: {exc}") from None
        if verdict not in (True, None):
            raise JSONReplyError(f"validator: {verdict or 'rejected'}")
    return value


def parse_json_reply(message: dict, schema: dict | None = None, validator: Validator | None = None) -> Any:
    """The JSON answer of an assistant message: forced-tool arguments if any, else the content."""
    calls = message.get("tool_calls") or []
    if calls:
        fn = calls[0].get("function") if isinstance(calls, list) and isinstance(calls[0], dict) else None
        if not isinstance(fn, dict):
            raise JSONReplyError("the tool call has no function")
        text = fn.get("arguments")
        if isinstance(text, (dict, list)):  # some servers send the arguments already parsed
            return validate_value(text, schema, validator)
    else:
        text = message.get("content")
    if text is not None and not isinstance(text, str):
        raise JSONReplyError(f"the reply is {type(text).__name__}, not text")
    return validate_value(extract_json(text), schema, validator)


def _clip(text: str, n: int = 120) -> str:
    return text if len(text) <= n else text[:n] + "..."
