"""What every normaliser needs: naming the row in errors, call ids, tool building, call parsing."""

from __future__ import annotations

import ast
import functools
import json
import re
from typing import Any, Callable

from builders.schema import Conversation, Function, Message, SchemaError, ToolCall, content_hash, dumps

from .types import convert_schema, parameters_schema

Normalizer = Callable[..., Conversation]
_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")


class RowContext:
    """One source row being normalised: its name in errors, its call ids and its function names.

    The row is named by its own ``id`` when it has one, else by its position in the source,
    else by a hash of its content, so that ids and error messages are reproducible.
    """

    def __init__(self, source: str, row: Any, index: int | None = None):
        rid = row.get("id") if isinstance(row, dict) else None
        if rid in (None, ""):
            rid = index if index is not None else content_hash(row, 12)
        self.source, self.row_id = source, str(rid)
        self.item = f"{source} row {self.row_id}"
        self.functions: dict[str, Function] = {}
        self.names: dict[str, str] = {}  # name as the source spells it -> name in the contract
        self._calls = 0

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
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise self.error(f"{what} is not valid JSON ({exc.msg} at position {exc.pos})", fix) from None

    def add_function(self, spec: Any, where: str, flat_parameters: Callable[[Any, str], dict] | None = None,
                     outputs_key: str | None = None) -> Function:
        """Register one function given as ``{name, description, parameters}`` in a loose schema style."""
        if not isinstance(spec, dict):
            raise self.error(f"{where} must be an object with name, description and parameters, "
                             f"got {type(spec).__name__}", "give each function as a JSON object")
        name = spec.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.error(f"{where} has no name", "give every function a non-empty 'name'")
        clean = clean_name(name)
        label = f"{where} ({name})"
        params = spec.get("parameters")
        schema = flat_parameters(params, label) if flat_parameters else parameters_schema(params, f"{label} parameters")
        outputs = spec.get(outputs_key) if outputs_key else None
        fn = Function(name=clean, description=spec.get("description") or "", parameters=schema,
                      outputs=convert_schema(outputs, f"{label} {outputs_key}") if outputs else None)
        if clean in self.functions and self.functions[clean] != fn:
            raise self.error(f"{where} redefines the function {clean!r} differently",
                             "give every function a distinct name")
        self.functions[clean] = fn
        self.names[name] = clean
        return fn

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
        return conv


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
            try:
                return body(row, ctx, **options)
            except SchemaError as exc:
                if exc.item.startswith(ctx.item):
                    raise
                raise SchemaError(f"{ctx.item}, {exc.item}", exc.problem, exc.fix) from None

        run.source = source
        return run

    return wrap


# ---- Python call syntax: "[f(a=1, b='x'), g()]" (ToolACE replies, BFCL multi-turn ground truth)

_JSON_WORDS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


def parse_python_calls(text: str, ctx: RowContext, where: str) -> list[tuple[str, dict]]:
    """Read calls written in Python syntax with ``ast`` (never eval) into ``(name, arguments)``.

    Names the row knows may contain characters Python does not allow ("Get Stock Price",
    "get-weather"); they are swapped for placeholders before parsing. Positional arguments are
    given the names of the function's parameters in order.
    """
    source = text.strip()
    placeholders: dict[str, str] = {}
    for i, name in enumerate(sorted(ctx.names, key=len, reverse=True)):
        if name.isidentifier():
            continue
        token = f"__fn{i}__"
        pattern = re.compile(r"(^|[\[,]\s*)" + re.escape(name) + r"(\s*\()")
        if pattern.search(source):
            source = pattern.sub(lambda m, t=token: m.group(1) + t + m.group(2), source)
            placeholders[token] = name
    fix = "write calls as [func(arg=value, ...)] with Python literal values"
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise ctx.error(f"cannot read the function call(s) {text.strip()[:200]!r} ({exc.msg})", fix, where) from None
    nodes = tree.elts if isinstance(tree, (ast.List, ast.Tuple)) else [tree]
    calls = []
    for node in nodes:
        if not isinstance(node, ast.Call):
            raise ctx.error(f"expected a function call, found {ast.unparse(node)[:80]!r}", fix, where)
        name = _call_name(node.func, ctx, where)
        name = placeholders.get(name, name)
        args: dict[str, Any] = {}
        if node.args:
            fn = ctx.functions.get(ctx.names.get(name, name))
            if fn is None or len(node.args) > len(fn.input_names):
                raise ctx.error(f"call to {name!r} passes {len(node.args)} positional argument(s) that cannot be "
                                "matched to parameter names", "pass arguments by keyword", where)
            for pname, value in zip(fn.input_names, node.args):
                args[pname] = _literal(value, ctx, where)
        for kw in node.keywords:
            if kw.arg is None:
                raise ctx.error(f"call to {name!r} uses **kwargs", "pass every argument by keyword", where)
            args[kw.arg] = _literal(kw.value, ctx, where)
        calls.append((name, args))
    return calls


def _call_name(node: ast.AST, ctx: RowContext, where: str) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # dotted names such as math.factorial
        return f"{_call_name(node.value, ctx, where)}.{node.attr}"
    raise ctx.error(f"cannot read the function name {ast.unparse(node)[:80]!r}", "call functions by name", where)


def _literal(node: ast.AST, ctx: RowContext, where: str) -> Any:
    """A JSON value from a literal node; JSON spellings true/false/null are accepted too."""
    if isinstance(node, ast.Constant) and not isinstance(node.value, (bytes, complex)) and node.value is not ...:
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [_literal(e, ctx, where) for e in node.elts]
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values):
            key = _literal(k, ctx, where) if k is not None else None
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise ctx.error(f"dictionary key {ast.unparse(k) if k else '**'!r} is not a plain value",
                                "use string keys in dictionary arguments", where)
            out[str(key) if not isinstance(key, str) else key] = _literal(v, ctx, where)
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand, ctx, where)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Name) and node.id in _JSON_WORDS:
        return _JSON_WORDS[node.id]
    raise ctx.error(f"argument value {ast.unparse(node)[:80]!r} is not a literal",
                    "quote text values and give numbers, lists and dicts as literals", where)


def system_messages(row: dict, ctx: "RowContext", read_functions: Callable[[str, "RowContext"], str]) -> list[Message]:
    """Sources that declare their tools in the system prompt: register the tools, keep the prose."""
    prose = read_functions(ctx.field(row, "system", str), ctx)
    return [Message(role="system", content=prose)] if prose else []
