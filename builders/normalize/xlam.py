"""Salesforce/xlam-function-calling-60k rows.

A row is ``{"id": int, "query": str, "answers": JSON text, "tools": JSON text}``; each tool's
``parameters`` maps argument names straight to ``{"type": "str, optional", "description",
"default"?}`` (no JSON-schema wrapper), and an argument is optional when its type says
", optional" or when it has a default. The row becomes ``[user query, assistant tool calls]``:
xLAM publishes no tool results.
"""

from __future__ import annotations

from typing import Any

from builders.schema import Conversation, Message, SchemaError

from .common import RowContext, normalizer
from .types import convert_schema, parameters_schema, python_type


def xlam_parameters(params: Any, item: str) -> dict:
    """xLAM's flat ``{arg: {type, description, default?}}`` -> ``{type: object, properties, required}``."""
    if params in (None, {}, []):
        return {"type": "object", "properties": {}, "required": []}
    if not isinstance(params, dict):
        raise SchemaError(f"{item} parameters", f"must map argument names to their specs, got {type(params).__name__}",
                          'give {"arg": {"type": "str", "description": "..."}}')
    if isinstance(params.get("type"), str):  # a few rows already carry a JSON schema
        return parameters_schema(params, f"{item} parameters")
    properties, required = {}, []
    for pname, spec in params.items():
        where = f"{item} parameter {pname!r}"
        if not isinstance(spec, dict):
            raise SchemaError(where, f"spec must be an object, got {type(spec).__name__}",
                              'give {"type": "str", "description": "..."}')
        schema, optional = python_type(spec.get("type"), where)
        rest = convert_schema({k: v for k, v in spec.items() if k not in ("type", "required")}, where)
        properties[pname] = {**schema, **rest}
        if not (optional or "default" in spec or spec.get("required") is False):
            required.append(pname)
    return {"type": "object", "properties": properties, "required": required}


@normalizer("xlam")
def normalize_xlam(row: dict, ctx: RowContext) -> Conversation:
    query = ctx.field(row, "query", str)
    tools = ctx.json_field(row, "tools", list)
    answers = ctx.json_field(row, "answers", list)
    for i, spec in enumerate(tools):
        ctx.add_function(spec, f"tools[{i}]", flat_parameters=xlam_parameters)
    if not answers:
        raise ctx.error("has no answers", "drop the row or give at least one call in 'answers'")
    calls = []
    for i, answer in enumerate(answers):
        if not isinstance(answer, dict) or not isinstance(answer.get("name"), str):
            raise ctx.error(f"answers[{i}] must be an object with a 'name', got {str(answer)[:80]!r}",
                            'give each answer as {"name": ..., "arguments": {...}}')
        calls.append(ctx.tool_call(answer["name"], answer.get("arguments", {}), f"answers[{i}]"))
    return ctx.conversation([Message(role="user", content=query), Message(role="assistant", tool_calls=calls)])
