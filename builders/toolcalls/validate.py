"""Arguments checked against the tool's ``parameters`` with ``jsonschema``, one named category each.

The pipelines run it as a rule-based check before any LLM judge; the release validator runs it
on every published call. Categories: ``missing_required``, ``unknown_parameter`` (a name the
schema does not declare, unless it allows ``additionalProperties``), ``wrong_type``,
``not_in_enum`` and ``constraint`` (bounds, patterns, lengths: everything else the schema says).
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from typing import Any

import jsonschema

from builders.errors import DataError, one_line
from builders.schema import JSON_SCHEMA, canonical_json, schema_problem, too_deep

MISSING_REQUIRED = "missing_required"
UNKNOWN_PARAMETER = "unknown_parameter"
WRONG_TYPE = "wrong_type"
NOT_IN_ENUM = "not_in_enum"
CONSTRAINT = "constraint"
BAD_SCHEMA = "bad_schema"
_CATEGORY = {"required": MISSING_REQUIRED, "additionalProperties": UNKNOWN_PARAMETER, "type": WRONG_TYPE,
             "enum": NOT_IN_ENUM, "const": NOT_IN_ENUM}
_FIX = {MISSING_REQUIRED: "give every required argument", UNKNOWN_PARAMETER: "use only the tool's declared parameters",
        WRONG_TYPE: "give the value in the declared JSON type", NOT_IN_ENUM: "use one of the allowed values",
        CONSTRAINT: "give a value the parameter's schema allows", BAD_SCHEMA: "fix the tool's parameters schema"}


class ArgumentError(DataError):
    """A call's arguments break its tool's schema; ``category`` and ``path`` say how and where."""

    def __init__(self, item: str, problem: str, fix: str, category: str = CONSTRAINT, path: str = ""):
        self.category, self.path = category, path
        super().__init__(item, problem, fix)


@dataclass(frozen=True)
class ArgumentIssue:
    category: str
    path: str  # "city", "filters.min_price", "rooms[2]"; "" for the arguments object itself
    message: str

    def __str__(self) -> str:
        return f"{self.category} at {self.path or '(arguments)'}: {self.message}"


def _closed(schema: Any) -> Any:
    """A copy where object schemas that list properties refuse other names (unless they say otherwise)."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (_closed(v) if k in ("items", "anyOf", "oneOf", "allOf", "prefixItems") else v)
           for k, v in schema.items()}
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: _closed(v) for k, v in schema["properties"].items()}
        if "additionalProperties" not in schema and "patternProperties" not in schema:
            out["additionalProperties"] = False
    return out


_TOO_DEEP = ("", "parameters are nested too deeply to check", "")  # the depth check's verdict, cached with the rest
_NOT_JSON = ("", "parameters are not JSON data", "")


@functools.lru_cache(maxsize=2048)
def _validator(schema_json: str) -> tuple[tuple[str, str, str] | None, JSON_SCHEMA | None]:
    """(why the schema is not JSON Schema, or None; its validator), built once per distinct schema."""
    schema = json.loads(schema_json)
    if too_deep(schema):
        return _TOO_DEEP, None
    problem = schema_problem(schema)
    return problem, None if problem else JSON_SCHEMA(_closed(schema))


def compiled_parameters(parameters: Any) -> tuple[tuple[str, str, str] | None, JSON_SCHEMA | None]:
    """``_validator`` for a parameters schema given as data: the depth check, the metaschema check and
    the closed validator are all done once per distinct schema, not once per call."""
    try:
        return _validator(canonical_json(parameters))
    except RecursionError:  # deeper than json can write
        return _TOO_DEEP, None
    except (ValueError, TypeError):  # not JSON at all (NaN keys, sets)
        return (_TOO_DEEP if too_deep(parameters) else _NOT_JSON), None


def schema_validator(schema: dict) -> Any:
    """A compiled validator for any JSON Schema (draft 7, not closed), one per distinct schema.

    jsonschema validators are reusable; building one per value costs more than validating it.
    """
    try:
        key = canonical_json(schema)
    except (TypeError, ValueError, RecursionError):  # not JSON data: build it uncached
        return JSON_SCHEMA(schema)
    return _schema_validator(key)


@functools.lru_cache(maxsize=2048)
def _schema_validator(schema_json: str) -> Any:
    return JSON_SCHEMA(json.loads(schema_json))


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def argument_issues(arguments: Any, parameters: dict) -> list[ArgumentIssue]:
    """Every way ``arguments`` break ``parameters``, sorted by path; empty when the call is valid."""
    problem, validator = compiled_parameters(parameters)
    if problem is _TOO_DEEP:
        return [ArgumentIssue(BAD_SCHEMA, "", _TOO_DEEP[1])]
    if too_deep(arguments):
        return [ArgumentIssue(CONSTRAINT, "", "arguments are nested too deeply to check")]
    try:
        if problem is _NOT_JSON:
            raise TypeError(problem[1])
        if problem:
            return [ArgumentIssue(BAD_SCHEMA, problem[0], problem[1])]
        errors = list(validator.iter_errors(arguments))
    except (RecursionError, ValueError, TypeError):  # too deep, or not JSON at all (NaN keys, sets)
        if not isinstance(parameters, dict):
            return [ArgumentIssue(BAD_SCHEMA, "", f"parameters must be a JSON schema object, got {type(parameters).__name__}")]
        return [ArgumentIssue(CONSTRAINT, "", "arguments are nested too deeply to check")]
    issues = []
    for e in errors:
        category, where = _CATEGORY.get(e.validator, CONSTRAINT), list(e.absolute_path)
        if category == MISSING_REQUIRED:
            for name in [r for r in e.validator_value if isinstance(e.instance, dict) and r not in e.instance]:
                issues.append(ArgumentIssue(category, _path(where + [name]), f"required argument {name!r} is missing"))
        elif category == UNKNOWN_PARAMETER:
            declared = e.schema.get("properties") or {}
            for name in [k for k in e.instance if k not in declared]:
                issues.append(ArgumentIssue(category, _path(where + [name]), f"{name!r} is not a parameter"))
        else:
            issues.append(ArgumentIssue(category, _path(where), one_line(e.message, 200)))
    return sorted(set(issues), key=lambda i: (i.path, i.category, i.message))


def check_arguments(name: str, arguments: Any, parameters: dict, item: str = "tool call") -> None:
    """Raise ``ArgumentError`` for the first issue of a call to ``name``; return when it is valid."""
    issues = argument_issues(arguments, parameters)
    if issues:
        first = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise ArgumentError(f"{item} to {name!r} argument {first.path!r}" if first.path else f"{item} to {name!r}",
                            f"{first.category}: {first.message}{more}", _FIX[first.category], first.category, first.path)


def check_json(value: Any, schema: dict | None) -> str | None:
    """One line saying why ``value`` breaks ``schema`` (any JSON Schema), or None when it fits."""
    if not schema:
        return None
    problem = schema_problem(schema)
    if problem:
        return f"the schema {problem[1]}"
    try:
        error = jsonschema.exceptions.best_match(
            JSON_SCHEMA(schema).iter_errors(value))
    except RecursionError:
        return "the value is nested too deeply to check"
    if error is None:
        return None
    return one_line(f"{_path(error.absolute_path) or '$'}: {error.message}", 300)


def drop_bad_defaults(schema: Any) -> tuple[Any, int]:
    """A copy of ``schema`` without defaults that contradict their declared type, and how many went.

    xLAM declares ``integer`` parameters defaulting to ``0.7``, ``""`` or ``"250"``: a default no
    valid call could send, which would mislead a model and fail the contract's own check.
    """
    schema = copy.deepcopy(schema)
    return schema, _drop(schema, 0)


def _drop(schema: Any, depth: int) -> int:
    if not isinstance(schema, dict) or depth > 64:
        return 0
    dropped = 0
    if "default" in schema and "type" in schema and schema_problem({"type": schema["type"]}) is None \
            and not JSON_SCHEMA({"type": schema["type"]}).is_valid(schema["default"]):
        del schema["default"]
        dropped += 1
    for key in ("properties", "$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            dropped += sum(_drop(s, depth + 1) for s in schema[key].values())
    for key in ("items", "additionalProperties"):
        dropped += _drop(schema.get(key), depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list):
            dropped += sum(_drop(s, depth + 1) for s in schema[key])
    return dropped
