"""Argument values in comparable form, and how one call's arguments differ from another's.

Values are compared after normalisation: strings stripped, integral floats made ints, and,
where the tool's JSON schema declares a type, strings coerced to that type (``"5"`` for an
integer, ``"true"`` for a boolean, ``"[1, 2]"`` for an array); then the canonical JSON
(sorted keys) of both sides must be equal.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from builders.schema import Function, canonical_json, parse_tools_column

from .calls import Call


@functools.lru_cache(maxsize=4096)
def _schemas_from_json(tools_json: str) -> dict[str, dict]:
    return {f.name: f.parameters for f in parse_tools_column(tools_json)}


def tool_schemas(tools: Any) -> dict[str, dict]:
    """``{tool name: parameters JSON schema}`` from a tools cell (JSON string or list) or functions."""
    if isinstance(tools, dict):
        return tools
    if tools is None or tools == "":
        return {}
    if isinstance(tools, str):
        return _schemas_from_json(tools)
    if all(isinstance(t, Function) for t in tools):
        return {f.name: f.parameters for f in tools}
    return _schemas_from_json(json.dumps(list(tools), sort_keys=True))


def _declared_type(schema: dict | None) -> str | None:
    if not isinstance(schema, dict):
        return None
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    return t


def normalize_value(value: Any, schema: dict | None = None) -> Any:
    """The comparable form of an argument value (see the module docstring)."""
    kind = _declared_type(schema)
    if isinstance(value, str):
        value = value.strip()
        if kind in ("integer", "number"):
            try:
                value = float(value)
            except ValueError:
                pass
        elif kind == "boolean" and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        elif kind in ("array", "object") and value[:1] in ("[", "{"):
            try:
                value = json.loads(value)
            except (json.JSONDecodeError, RecursionError):
                pass
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        props = (schema or {}).get("properties") or {} if isinstance(schema, dict) else {}
        return {str(k): normalize_value(v, props.get(k) if isinstance(props, dict) else None) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = schema.get("items") if isinstance(schema, dict) else None
        return [normalize_value(v, items if isinstance(items, dict) else None) for v in value]
    return value


def values_equal(a: Any, b: Any, schema: dict | None = None) -> bool:
    return canonical_json(normalize_value(a, schema)) == canonical_json(normalize_value(b, schema))


def value_key(value: Any, schema: dict | None = None) -> str:
    """A hashable form of a normalised value, for counting (tool, key, value) triples."""
    return canonical_json(normalize_value(value, schema))


@dataclass
class ArgDiff:
    """How a call's argument names and values differ from the gold call to the same tool."""

    hallucinated: set[str] = field(default_factory=set)  # not a parameter of the tool
    redundant: set[str] = field(default_factory=set)  # a real parameter the gold call does not use
    missing: set[str] = field(default_factory=set)  # a gold argument not given
    wrong_values: set[str] = field(default_factory=set)  # given with both names, different values

    @property
    def same_names(self) -> bool:
        return not (self.hallucinated or self.redundant or self.missing)

    @property
    def exact(self) -> bool:
        return self.same_names and not self.wrong_values


def argument_diff(generated: Call, gold: Call, parameters: dict | None) -> ArgDiff:
    """Compare two calls' arguments; gold argument names always count as real parameters."""
    props = (parameters or {}).get("properties") or {}
    known = set(props) | set(gold.arguments)
    given, wanted = set(generated.arguments), set(gold.arguments)
    wrong = {k for k in given & wanted if not values_equal(generated.arguments[k], gold.arguments[k], props.get(k))}
    return ArgDiff(given - known, (given & known) - wanted, wanted - given, wrong)
