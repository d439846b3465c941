"""Getting JSON out of a chat model: ask for it the way the server supports, then extract and check it.

Models wrap JSON in code fences, prose or tags such as ``<func_return>``; servers differ in what
they can enforce. ``json_request`` shapes the request for an endpoint's ``json_mode``;
``parse_json_reply`` pulls the object back out and validates it, raising ``JSONReplyError``
with a reason that the client records as a counted reject instead of crashing the run.
Extraction and schema checks are the shared tool-call module's (``builders.toolcalls``), so a
reply reads the same here as in the pipelines and ``training/``.
"""

from __future__ import annotations

from typing import Any, Callable

from builders import toolcalls

ANSWER_TOOL = "answer"

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
    """The first JSON value in ``text`` (``toolcalls.extract_json``), failing as a ``JSONReplyError``."""
    try:
        return toolcalls.extract_json(text)
    except toolcalls.ParseError as exc:
        raise JSONReplyError(f"reply {exc.problem}", text if isinstance(text, str) else "") from None


def check_schema(value: Any, schema: dict | None) -> str | None:
    """Why ``value`` breaks ``schema`` (any JSON Schema, via ``toolcalls.check_json``), or None.

    Paths are named from the reply's root as the runtime's tasks name them (``$.score``,
    ``$.tags[0]``); ``check_json`` names the root ``$`` but a child ``score``.
    """
    problem = toolcalls.check_json(value, schema)
    if problem is None or problem.startswith(("$", "the schema ", "the value ")):
        return problem
    return f"${problem}" if problem.startswith("[") else f"$.{problem}"


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

