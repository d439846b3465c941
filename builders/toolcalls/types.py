"""Python-style type names -> JSON schema.

Published tool datasets describe parameters with Python annotations ("List[str]", "str, optional"),
loose Python words ("dict", "float", "any") or Java words ("HashMap", "long"); the data contract
wants plain JSON schema. One mapping serves every normaliser so the same word always means the
same schema.
"""

from __future__ import annotations

import re
from typing import Any

from builders.schema import SchemaError

# lower-cased type word -> JSON schema; an empty schema means "any value"
_BASE: dict[str, dict] = {}
for _words, _schema in [
    ("str string char character text unicode bytes", {"type": "string"}),
    ("int integer long short byte bigint", {"type": "integer"}),
    ("float double number decimal numeric real", {"type": "number"}),
    ("bool boolean", {"type": "boolean"}),
    ("list array arraylist tuple set frozenset sequence iterable queue stack deque collection",
     {"type": "array"}),
    ("dict object hashmap hashtable map mapping json", {"type": "object"}),
    ("none nonetype null", {"type": "null"}),
    ("any", {}),
    ("datetime datetime.datetime", {"type": "string", "format": "date-time"}),
    ("date datetime.date", {"type": "string", "format": "date"}),
    ("time datetime.time", {"type": "string", "format": "time"}),
]:
    for _w in _words.split():
        _BASE[_w] = _schema

_OPTIONAL_SUFFIX = re.compile(r"(\s*,\s*optional|\s*\(optional\))\s*$", re.IGNORECASE)
_TOKEN = re.compile(r"""'[^']*'|"[^"]*"|\.\.\.|[\[\],|]|[^\[\],|'"]+""")
_FIX = "use a JSON or Python type such as string, int, float, bool, List[str] or Dict[str, Any]"


def python_type(spec: Any, item: str) -> tuple[dict, bool]:
    """Map one type annotation to ``(json_schema, optional)``.

    ``optional`` is True for "X, optional" and "Optional[X]": the source's way of saying the
    argument may be left out, which the caller turns into absence from ``required``.
    """
    if spec is None:
        return {}, False
    if not isinstance(spec, str):
        raise SchemaError(item, f"type must be a string, got {type(spec).__name__} {spec!r}", _FIX)
    if spec.count("[") > 20 or len(spec) > 1000:  # the parser recurses per bracket
        raise SchemaError(item, f"type {spec[:80]!r} is too long or nested to be a type annotation", _FIX)
    text, n = _OPTIONAL_SUFFIX.subn("", spec.strip())
    tokens = [t.strip() for t in _TOKEN.findall(text) if t.strip()]
    if not tokens:
        return {}, bool(n)
    parser = _TypeParser(tokens, spec, item)
    schema, optional = parser.union()
    if parser.pos != len(tokens) or "..." in schema:
        where = f"unexpected {tokens[parser.pos]!r}" if parser.pos != len(tokens) else "'...' outside Tuple[...]"
        raise SchemaError(item, f"cannot read type {spec!r} ({where})", _FIX)
    return schema, optional or bool(n)


class _TypeParser:
    """Recursive descent over ``Name[Arg, ...] | Other``: enough for typing annotations."""

    def __init__(self, tokens: list[str], spec: str, item: str):
        self.tokens, self.spec, self.item, self.pos = tokens, spec, item, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise SchemaError(self.item, f"type {self.spec!r} ends early", _FIX)
        self.pos += 1
        return tok

    def union(self) -> tuple[dict, bool]:
        options = [self.term()]
        while self.peek() == "|":
            self.take()
            options.append(self.term())
        return _union(options)

    def term(self) -> tuple[dict, bool]:
        word = self.take()
        if word[0] in "'\"":
            return {"enum": [word[1:-1]]}, False
        words = [w for w in re.split(r"\s+or\s+", word) if w]
        if len(words) > 1:  # "int or None"
            return _union([(self.simple(w), False) for w in words])
        if self.peek() != "[":
            return self.simple(word), False
        self.take()
        args = []
        while self.peek() != "]":
            args.append(self.union())
            if self.peek() == ",":
                self.take()
            elif self.peek() is None:
                raise SchemaError(self.item, f"type {self.spec!r} ends early", _FIX)
            elif self.peek() != "]":
                raise SchemaError(self.item, f"cannot read type {self.spec!r}", _FIX)
        self.take()
        return self.generic(word, args)

    def simple(self, word: str) -> dict:
        if word == "...":
            return {"...": True}
        key = word.strip().lower().removeprefix("typing.")
        if key not in _BASE:
            raise SchemaError(self.item, f"unknown type {word.strip()!r} in {self.spec!r}", _FIX)
        return dict(_BASE[key])

    def generic(self, word: str, args: list[tuple[dict, bool]]) -> tuple[dict, bool]:
        key = word.strip().lower().removeprefix("typing.")
        schemas = [s for s, _ in args if "..." not in s]
        if key == "optional":
            return _union(args)[0], True
        if key == "union":
            return _union(args)
        if key == "literal":
            return {"enum": [v for s in schemas for v in s.get("enum", [])]}, False
        base = self.simple(word)
        if base.get("type") == "array" and schemas:
            unique = [s for i, s in enumerate(schemas) if s not in schemas[:i]]
            base["items"] = unique[0] if len(unique) == 1 else {"anyOf": unique}
        elif base.get("type") == "object" and len(schemas) == 2 and schemas[1]:
            base["additionalProperties"] = schemas[1]
        return base, False


def _union(options: list[tuple[dict, bool]]) -> tuple[dict, bool]:
    schemas = [s for s, _ in options]
    optional = any(o for _, o in options)
    if any(not s for s in schemas):  # Union with Any is Any
        return {}, optional
    non_null = [s for s in schemas if s != {"type": "null"}]
    if not non_null:
        return {"type": "null"}, optional
    if len(non_null) < len(schemas):  # "X or None" says the argument may be left out
        optional = True
    if len(non_null) == 1:
        return non_null[0], optional
    if all(set(s) == {"type"} and isinstance(s["type"], str) for s in non_null):
        return {"type": [s["type"] for s in non_null]}, optional
    if all(set(s) == {"enum"} for s in non_null):
        return {"enum": [v for s in non_null for v in s["enum"]]}, optional
    return {"anyOf": non_null}, optional


def convert_schema(schema: Any, item: str) -> dict:
    """Turn a loose, Python-typed schema (BFCL, ToolACE, Glaive) into JSON schema, recursively.

    Keys other than ``type``/``properties``/``items``/``required``/``optional`` are kept as they
    are (description, enum, default, format, bounds ...).
    """
    if not isinstance(schema, dict):
        raise SchemaError(item, f"schema must be an object, got {type(schema).__name__}",
                          "give at least {'type': ..., 'description': ...}")
    out: dict = {}
    if "type" in schema:
        out.update(_convert_type(schema["type"], item))
    for key, value in schema.items():
        if key in ("type", "optional"):
            continue
        if key == "properties":
            if not isinstance(value, dict):
                raise SchemaError(item, "properties must be an object", "map each field name to its schema")
            out["properties"] = {name: convert_schema(sub, f"{item}.{name}") for name, sub in value.items()}
            out["required"] = required_names(schema, item)
        elif key == "items" and isinstance(value, dict):
            out["items"] = convert_schema(value, f"{item}[]")
        elif key == "items" and isinstance(value, list):
            out["items"] = {"anyOf": [convert_schema(v, f"{item}[]") for v in value]}
        elif key == "additionalProperties" and isinstance(value, dict):
            out[key] = convert_schema(value, f"{item}.*")
        elif key == "required":
            if "properties" not in schema and isinstance(value, list) and value:
                out["required"] = value
        else:
            out[key] = value
    enum = out.get("enum")
    if out.get("type") == "array" and isinstance(enum, list) and all(not isinstance(v, (list, dict)) for v in enum):
        # BFCL puts an array's item choices on the array itself; JSON Schema wants them on the items
        items = out.get("items") if isinstance(out.get("items"), dict) else {}
        out["items"] = {**items, "enum": out.pop("enum")}
    return out


def _convert_type(value: Any, item: str) -> dict:
    if isinstance(value, list):
        schemas = [python_type(v, item)[0] for v in value]
        return _union([(s, False) for s in schemas])[0] if schemas else {}
    return python_type(value, item)[0]


def required_names(schema: dict, item: str) -> list[str]:
    """``required`` of an object schema, honouring per-field ``optional: true`` / ``required: true``."""
    props = schema.get("properties") or {}
    required = schema.get("required")
    if required is None:
        names = [n for n, p in props.items() if isinstance(p, dict) and p.get("required") is True]
    elif isinstance(required, list) and all(isinstance(r, str) for r in required):
        names = list(required)
    else:
        raise SchemaError(item, f"required must be a list of field names, got {required!r}",
                          "list the names of the fields that must be given")
    return [n for n in names if not (isinstance(props.get(n), dict) and props[n].get("optional") is True)]


def parameters_schema(parameters: Any, item: str) -> dict:
    """Top-level ``parameters`` of a function in any of the loose styles -> ``{type: object, ...}``."""
    if parameters in (None, {}, []):
        return {"type": "object", "properties": {}, "required": []}
    out = convert_schema(parameters, item)
    if "type" not in out and "properties" in out:
        out = {"type": "object", **out}
    if out.get("type") != "object":
        raise SchemaError(item, f"parameters must describe an object, got type {parameters.get('type')!r}",
                          "wrap the arguments in {'type': 'object', 'properties': {...}}")
    out.setdefault("properties", {})
    out.setdefault("required", [])
    return out


def json_type_name(word: Any, default: str = "string") -> str:
    """The JSON type name a loose type word stands for ("dict" -> "object"), else ``default``.

    BFCL's function docs use Python and Java words; a model is shown the JSON name.
    """
    try:
        schema, _ = python_type(word, "type")
    except SchemaError:
        return default
    kind = schema.get("type")
    return kind if isinstance(kind, str) else default
