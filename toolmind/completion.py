"""Function completion (seed 002, 3.1.1 and Appendix A.1): an LLM fills in what a function leaves out.

Arguments without a description or a type, output fields without them, and functions with no
output schema at all (xLAM, Glaive and ToolACE never publish one) are completed: one request for
the inputs, one for the outputs, each reply checked against a JSON schema. Only the missing
fields are filled; each filled field is listed in the row's ``inferred`` column
(``parameters.<arg>.description``, ``outputs``, ...), so the published pool says what a model
made up. A reply that does not fit is a :class:`DataError`, recorded as a reject with its reason.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import jsonschema

from builders.errors import DataError
from builders.llm.prompts import load_prompt
from builders.llm.structured import JSONReplyError, extract_json
from builders.normalize import python_type
from builders.schema import Function, SchemaError, dumps

PROMPT = load_prompt(__file__, "prompts/function_completion.txt")
PARTS = ("input", "output")


TYPES = ("string", "integer", "number", "boolean", "array", "object")
MAX_NEW_FIELDS = 6  # output fields asked of a function that declares no output schema


def reply_schema(part: str, names: tuple[str, ...] | list[str] = ()) -> dict:
    """The JSON schema a completion reply must match (the paper's two fields, keys as it spells them).

    With ``names`` (the fields the function leaves undescribed) the structure lists exactly those, in
    order; without, at most :data:`MAX_NEW_FIELDS` new ones. Strings are bounded and types are JSON
    type names, so a server that constrains generation to the schema never runs into ``max_tokens``
    (about 60 tokens per field) and every type parses.
    """
    def entry(name: dict) -> dict:
        return {"type": "object", "required": ["name", "description", "type"], "additionalProperties": False,
                "properties": {"name": name, "description": {"type": "string", "minLength": 1, "maxLength": 100},
                               "type": {"enum": list(TYPES)}}}

    if names:
        structure = {"type": "array", "prefixItems": [entry({"const": n}) for n in names],
                     "minItems": len(names), "maxItems": len(names)}
    else:
        structure = {"type": "array", "minItems": 1, "maxItems": MAX_NEW_FIELDS,
                     "items": entry({"type": "string", "minLength": 1, "maxLength": 64})}
    return {"type": "object", "required": [f"{part} description", f"{part} structure"], "additionalProperties": False,
            "properties": {f"{part} description": {"type": "string", "maxLength": 160},
                           f"{part} structure": structure}}


def accepted_schema(part: str) -> dict:
    """What a reply may be when it is read: the paper's shape with any type annotation ("List[str]") and
    names in any case. Looser than :func:`reply_schema`, which is what generation is constrained to, so a
    model served without constrained decoding is not rejected for a style the parser reads anyway."""
    entry = {"type": "object", "required": ["name", "description", "type"],
             "properties": {k: {"type": "string", "minLength": 1} for k in ("name", "description", "type")}}
    return {"type": "object", "required": [f"{part} description", f"{part} structure"],
            "properties": {f"{part} description": {"type": "string"},
                           f"{part} structure": {"type": "array", "items": entry}}}


_VALIDATORS = {part: jsonschema.Draft202012Validator(accepted_schema(part)) for part in PARTS}


def reply_problem(part: str):
    """A ``chat_json`` validator for a reply: None when :func:`accepted_schema` holds, else the problem."""
    def problem(value: Any) -> str | None:
        error = jsonschema.exceptions.best_match(_VALIDATORS[part].iter_errors(value))
        return None if error is None else f"{'/'.join(map(str, error.absolute_path)) or 'the reply'}: {error.message[:200]}"
    return problem


def missing_names(row: dict, part: str) -> tuple[str, ...]:
    """The fields of ``part`` a completion must describe (empty: the function has no output schema at all)."""
    gaps = Gaps.of(row)
    return gaps.inputs if part == "input" else gaps.outputs


def check_reply(reply: str | Any, validator: jsonschema.protocols.Validator, item: str, fix: str,
                prepare=None) -> Any:
    """The JSON value of an LLM reply (text or already parsed), checked against a schema; DataError if not.

    ``prepare`` may tidy the value before the check (e.g. read "7" as 7)."""
    try:
        value = extract_json(reply) if isinstance(reply, str) else reply
    except JSONReplyError as exc:
        raise DataError(item, f"the reply holds no JSON ({exc.reason})", "retry, or ask a model that follows the format")
    if prepare is not None:
        value = prepare(value)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the reply"
        raise DataError(item, f"{where}: {error.message[:200]}", fix)
    return value


def _load(value: Any) -> dict | None:
    return json.loads(value) if isinstance(value, str) else value


def _gaps(properties: dict) -> list[str]:
    return [k for k, v in properties.items()
            if isinstance(v, dict) and (not str(v.get("description") or "").strip() or not v.get("type"))]


@dataclass(frozen=True)
class Gaps:
    """What a function row lacks: argument names, output field names, or its whole output schema."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    no_outputs: bool

    @classmethod
    def of(cls, row: dict) -> "Gaps":
        params = _load(row.get("parameters")) or {}
        outputs = _load(row.get("outputs"))
        out_props = {}
        if isinstance(outputs, dict):
            body = outputs.get("items") if outputs.get("type") == "array" else outputs
            out_props = (body or {}).get("properties") or {}
        return cls(inputs=tuple(_gaps(params.get("properties") or {})), outputs=tuple(_gaps(out_props)),
                   no_outputs=not outputs)

    def parts(self) -> list[str]:
        return [p for p, need in (("input", self.inputs), ("output", self.outputs or self.no_outputs)) if need]


def function_text(row: dict) -> str:
    fn = {"name": row["name"], "description": row.get("description") or "", "parameters": _load(row.get("parameters"))}
    if row.get("outputs"):
        fn["outputs"] = _load(row["outputs"])
    return dumps(fn)


def completion_messages(row: dict, part: str) -> list[dict]:
    """The chat request that asks for one part (``input`` or ``output``) of a function row."""
    names = list(missing_names(row, part))
    return [{"role": "user", "content": PROMPT.render(part=part, names=names, function=function_text(row))}]


def parse_completion(reply: str | dict, row: dict, part: str) -> dict:
    """Check a reply against :func:`reply_schema`; return ``{name: (description, type schema)}``."""
    item = f"function {row['name']!r} {part} completion"
    value = check_reply(reply, _VALIDATORS[part], item,
                        f"reply with {{\"{part} description\": ..., \"{part} structure\": [{{name, description, type}}]}}")
    fields = {}
    for entry in value[f"{part} structure"]:
        try:
            schema, _ = python_type(entry["type"], f"{item} field {entry['name']!r}")
        except SchemaError as exc:
            raise DataError(item, f"field {entry['name']!r}: {exc.problem}", exc.fix) from None
        fields[entry["name"]] = (" ".join(entry["description"].split()), schema)
    return {"description": " ".join(value[f"{part} description"].split()), "fields": fields}


def _fill(properties: dict, names: tuple[str, ...], fields: dict, prefix: str, item: str) -> list[str]:
    folded = {k.lower(): v for k, v in fields.items()}
    inferred = []
    for name in names:
        got = fields.get(name) or folded.get(name.lower())
        if got is None:
            raise DataError(item, f"the reply does not describe {'input' if prefix == 'parameters' else 'output'} field {name!r}",
                            f"retry; the reply must list every field named in the request ({', '.join(names)})")
        desc, schema = got
        prop = properties[name]
        if not str(prop.get("description") or "").strip():
            prop["description"] = desc
            inferred.append(f"{prefix}.{name}.description")
        if not prop.get("type") and schema:
            prop.update({k: v for k, v in schema.items() if k not in prop})
            inferred.append(f"{prefix}.{name}.type")
    return inferred


def apply_completion(row: dict, part: str, reply: str | dict) -> dict:
    """A copy of ``row`` with the reply's fields filled in and listed in ``inferred``; DataError when it does not fit."""
    item = f"function {row['name']!r} {part} completion"
    parsed = parse_completion(reply, row, part)
    gaps = Gaps.of(row)
    out = dict(row)
    inferred = list(row.get("inferred") or [])
    if part == "input":
        params = copy.deepcopy(_load(row.get("parameters")) or {"type": "object", "properties": {}})
        inferred += _fill(params.setdefault("properties", {}), gaps.inputs, parsed["fields"], "parameters", item)
        out["parameters"] = dumps(params) if isinstance(row.get("parameters"), str) else params
    elif gaps.no_outputs:
        if not parsed["fields"]:
            raise DataError(item, "the reply lists no output fields", "retry; a function graph needs outputs to link")
        outputs = {"type": "object", "description": parsed["description"],
                   "properties": {k: {**s, "description": d} for k, (d, s) in parsed["fields"].items()}}
        inferred.append("outputs")
        out["outputs"] = dumps(outputs) if isinstance(row.get("parameters"), str) else outputs
    else:
        outputs = copy.deepcopy(_load(row["outputs"]))
        body = outputs["items"] if outputs.get("type") == "array" else outputs
        inferred += _fill(body["properties"], gaps.outputs, parsed["fields"], "outputs", item)
        out["outputs"] = dumps(outputs) if isinstance(row["outputs"], str) else outputs
    try:
        Function(name=out["name"], description=out.get("description") or "", parameters=_load(out["parameters"]),
                 outputs=_load(out.get("outputs")))
    except SchemaError as exc:
        raise DataError(item, f"the completed function breaks the schema ({exc.problem})", exc.fix) from None
    out["inferred"] = sorted(set(inferred))
    return out
