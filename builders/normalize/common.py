"""What every normaliser needs: naming the row in errors, call ids, tool building, call parsing."""

from __future__ import annotations

import functools
import json
import logging
import re
from collections import OrderedDict
from typing import Any, Callable

from builders import toolcalls
from builders.schema import (
    MAX_DEPTH,
    Conversation,
    Function,
    Message,
    SchemaError,
    ToolCall,
    content_hash,
    dumps,
    loads_json,
    too_deep,
)

from .types import convert_schema, parameters_schema

logger = logging.getLogger(__name__)
Normalizer = Callable[..., Conversation]
_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")


class RowContext:
    """One source row being normalised: its name in errors, its call ids and its function names.

    The row is named by its own ``id`` when it has one, else by its position in the source,
    else by a hash of its content, so that ids and error messages are reproducible.
    """

    def __init__(self, source: str, row: Any, index: int | None = None):
        rid = row.get("id") if isinstance(row, dict) else None
        if not isinstance(rid, (str, int)) or isinstance(rid, bool) or rid == "":
            rid = index if index is not None else _row_hash(row)
        self.source, self.row_id = source, str(rid)
        self.item = f"{source} row {self.row_id}"
        self.functions: dict[str, Function] = {}
        self.names: dict[str, str] = {}  # name as the source spells it -> name in the contract
        self._calls = 0
        self.dropped_defaults = 0  # defaults that contradicted their declared type (see add_function)

    def error(self, problem: str, fix: str, where: str = "") -> SchemaError:
        return SchemaError(f"{self.item} {where}".strip(), problem, fix)

    def call_id(self) -> str:
        cid = f"call_{self.row_id}_{self._calls}"
        self._calls += 1
        return cid

    def field(self, row: dict, key: str, kind: type | tuple[type, ...], fix: str | None = None) -> Any:
        if key not in row:
            raise self.error(f"has no {key!r} field", fix or f"give the row a {key!r} field as the source publishes it")
        value = row[key]
        if not isinstance(value, kind):
            want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(f"field {key!r} must be {want}, got {type(value).__name__}",
                             fix or f"pass the {key!r} field as the source publishes it")
        return value

    def json_field(self, row: dict, key: str, kind: type) -> Any:
        """A field the source stores as a JSON string (or already decoded)."""
        value = self.field(row, key, (str, kind))
        if isinstance(value, str):
            value = self.loads(value, f"field {key!r}", f"store {key!r} as JSON text")
        if not isinstance(value, kind):
            raise self.error(f"field {key!r} must hold a JSON {kind.__name__}, got {type(value).__name__}",
                             f"store {key!r} as a JSON {kind.__name__}")
        return value

    def loads(self, text: str, what: str, fix: str) -> Any:
        try:
            return loads_json(text, what, fix)
        except SchemaError as exc:
            raise self.error(f"{what} {exc.problem}", fix) from None

    def add_function(self, spec: Any, where: str, flat_parameters: Callable[[Any, str], dict] | None = None,
                     outputs_key: str | None = None) -> Function:
        """Register one function given as ``{name, description, parameters}`` in a loose schema style.

        The converted Function is shared by every row that gives the same spec (``_FUNCTIONS``);
        Functions are frozen and nothing downstream mutates their schemas.
        """
        if not isinstance(spec, dict):
            raise self.error(f"{where} must be an object with name, description and parameters, "
                             f"got {type(spec).__name__}", "give each function as a JSON object")
        key = _spec_key(spec, flat_parameters, outputs_key)
        cached = _FUNCTIONS.get(key) if key is not None else None  # a hit passed every check below before
        if cached is None and too_deep(spec):
            raise self.error(f"{where} is nested more than {MAX_DEPTH} levels deep", "flatten the function's schema")
        name = spec.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.error(f"{where} has no name", "give every function a non-empty 'name'")
        clean = clean_name(name)
        if cached is None:
            label = f"{where} ({name})"
            params = spec.get("parameters")
            schema = flat_parameters(params, label) if flat_parameters else parameters_schema(params, f"{label} parameters")
            schema, dropped = toolcalls.drop_bad_defaults(schema)
            outputs = spec.get(outputs_key) if outputs_key else None
            fn = Function(name=clean, description=spec.get("description") or "", parameters=schema,
                          outputs=convert_schema(outputs, f"{label} {outputs_key}") if outputs else None)
            cached = fn, dropped
            if key is not None:
                _FUNCTIONS.put(key, cached)
        fn, dropped = cached
        if dropped:
            self.dropped_defaults += dropped
            logger.debug("%s %s (%s): dropped %d default(s) that contradict their type", self.item, where, name, dropped)
        if clean in self.functions and self.functions[clean] != fn:
            raise self.error(f"{where} redefines the function {clean!r} differently",
                             "give every function a distinct name")
        self.functions[clean] = fn
        self.names[name] = clean
        return fn

    def typed_defaults(self, schema: Any, label: str) -> Any:
        """``schema`` without defaults that contradict their declared type, counted on the row."""
        schema, dropped = toolcalls.drop_bad_defaults(schema)
        if dropped:
            self.dropped_defaults += dropped
            logger.debug("%s %s: dropped %d default(s) that contradict their type", self.item, label, dropped)
        return schema

    def json_values(self, text: str, start: int, what: str, fix: str, where: str = ""):
        """The JSON values written one after another in ``text`` from ``start`` (spaces between them),
        as ``(n, value)``; the first that does not parse is an error naming it (``what`` with ``{n}``) and
        its position."""
        decoder, pos, n = json.JSONDecoder(), start, 0
        while pos < len(text):
            if text[pos].isspace():
                pos += 1
                continue
            try:
                value, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise self.error(f"{what.format(n=n)} is not valid JSON ({exc.msg} at position {exc.pos})", fix, where) from None
            yield n, value
            n += 1

    def named_call(self, call: Any, shown: str, fix: str, where: str, label: str = "call") -> ToolCall:
        """``{"name": "f", "arguments": {...} | "{...}"}`` -> ToolCall; ``shown`` quotes the call in an error."""
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise self.error(f"{label} must be an object with a 'name', got {shown[:80]!r}", fix, where)
        args = call.get("arguments", {})
        if isinstance(args, str):
            args = self.loads(args, f"{where} {label} arguments", "give the arguments as a JSON object")
        return self.tool_call(call["name"], args, where)

    def tool_call(self, name: str, arguments: Any, where: str) -> ToolCall:
        if not isinstance(arguments, (dict, str)):
            raise self.error(f"arguments of the call to {name!r} must be an object, got {type(arguments).__name__}",
                             'give arguments as an object such as {"city": "Paris"}', where)
        args = arguments if isinstance(arguments, str) else dumps(arguments)
        return ToolCall(name=self.names.get(name, clean_name(name)), arguments=args, id=self.call_id())

    def conversation(self, messages: list, tools: list[Function] | None = None) -> Conversation:
        conv = Conversation(messages=messages, tools=list(self.functions.values()) if tools is None else tools)
        conv.validate()
        conv.id = f"{self.source}:{self.row_id}"
        conv.dropped_defaults = self.dropped_defaults
        return conv


class _LRU:
    """A bounded least-recently-used map (``functools.lru_cache`` cannot take unhashable specs)."""

    def __init__(self, size: int):
        self.size, self.items = size, OrderedDict()

    def get(self, key: Any) -> Any:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self.items[key] = value
        if len(self.items) > self.size:
            self.items.popitem(last=False)


# converted functions by their source spec: APIGen-MT, tau-bench and BUTTON rows repeat the same few
# dozen tools, and converting, default-checking and validating a schema costs more than the rest of a row
_FUNCTIONS = _LRU(4096)


def _spec_key(spec: dict, flat_parameters: Callable | None, outputs_key: str | None) -> tuple | None:
    """The cache key of a function spec: its JSON *in key order* (the published schema keeps the
    source's property order) and how it is read; None when the spec is not plain JSON data."""
    try:
        return flat_parameters, outputs_key, json.dumps(spec, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return None


def _row_hash(row: Any) -> str:
    """A content hash naming a row without id or position; rows too odd to hash share one name."""
    if too_deep(row):
        return "unhashable"
    try:
        return content_hash(row, 12)
    except (TypeError, ValueError):
        return "unhashable"


def clean_name(name: str) -> str:
    """Function names outside ``[A-Za-z0-9_.-]`` (ToolACE has "Get Stock Price") get '_' instead."""
    return _BAD_NAME_CHARS.sub("_", name.strip()).strip("_") or name


def normalizer(source: str) -> Callable[[Callable[[dict, RowContext], Conversation]], Normalizer]:
    """Give a ``(row, ctx) -> Conversation`` body the public ``(row, index=None)`` signature.

    Every SchemaError that escapes, including those from ``Conversation.validate``, is renamed so
    that it starts with the source row.
    """

    def wrap(body: Callable[..., Conversation]) -> Normalizer:
        @functools.wraps(body)
        def run(row: dict, index: int | None = None, **options: Any) -> Conversation:
            ctx = RowContext(source, row, index)
            if not isinstance(row, dict):
                raise ctx.error(f"must be a JSON object, got {type(row).__name__}", "pass one decoded row at a time")
            if too_deep(row):
                raise ctx.error(f"is nested more than {MAX_DEPTH} levels deep", "flatten the row")
            try:
                return body(row, ctx, **options)
            except SchemaError as exc:
                if exc.item.startswith(ctx.item):
                    raise
                raise SchemaError(f"{ctx.item}, {exc.item}", exc.problem, exc.fix) from None

        run.source = source
        return run

    return wrap


def parse_python_calls(text: str, ctx: RowContext, where: str) -> list[tuple[str, dict]]:
    """Calls in Python syntax (``builders.toolcalls.parse_python_calls``) as ``(name, arguments)``.

    Positional arguments take the names of the row's function's parameters in order.
    """
    params = {name: ctx.functions[clean].input_names for name, clean in ctx.names.items() if clean in ctx.functions}
    try:
        calls = toolcalls.parse_python_calls(text, params, ctx.item)
    except toolcalls.ParseError as exc:
        raise ctx.error(exc.problem, exc.fix, where) from None
    return [(c.name, c.arguments) for c in calls]


def system_messages(row: dict, ctx: "RowContext", read_functions: Callable[[str, "RowContext"], str]) -> list[Message]:
    """Sources that declare their tools in the system prompt: register the tools, keep the prose."""
    prose = read_functions(ctx.field(row, "system", str), ctx)
    return [Message(role="system", content=prose)] if prose else []
