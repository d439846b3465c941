"""The tool-use data model shared by every pipeline.

Functions are OpenAI tool schemas; messages follow the OpenAI / transformers chat convention.
Tool-call ``arguments`` are always JSON *strings* and ``tools`` travel as a JSON string
column, because Arrow merges dict keys across rows and would render them wrong.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

import jsonschema

from builders.errors import DataError, one_line

ROLES = ("system", "user", "assistant", "tool")
JSON_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


class SchemaError(DataError):
    """A record breaks the data contract; the message names the item, the problem and the fix."""


# Draft 7: what tool schemas in the wild are written against, and its metaschema checks ~6x faster than 2020-12's
JSON_SCHEMA = jsonschema.Draft7Validator
_METASCHEMA = JSON_SCHEMA(JSON_SCHEMA.META_SCHEMA)


def schema_problem(schema: Any) -> tuple[str, str, str] | None:
    """Why ``schema`` is not valid JSON Schema (draft 7 metaschema), or None when it is.

    Returns ``(parameter path, problem, fix)``; the path reads like the argument ("opts.size",
    "rows[]"), empty for the schema itself. Checked once per distinct schema.
    """
    try:
        key = canonical_json(schema)
    except (TypeError, ValueError, RecursionError):  # not JSON data at all: check it as it is
        return _schema_problem(schema)
    return _cached_schema_problem(key)


@functools.lru_cache(maxsize=8192)
def _cached_schema_problem(schema_json: str) -> tuple[str, str, str] | None:
    return _schema_problem(json.loads(schema_json))


def _schema_problem(schema: Any) -> tuple[str, str, str] | None:
    try:
        error = jsonschema.exceptions.best_match(_METASCHEMA.iter_errors(schema))
    except RecursionError:
        return "", "is nested too deeply to check", "flatten the schema"
    if error is None:
        return None
    keys, path = list(error.absolute_path), ""
    while keys:
        key = keys.pop(0)
        if key == "properties" and keys:
            name = keys.pop(0)
            path = f"{path}.{name}" if path else str(name)
        elif key == "items":
            path += "[]"
        else:
            keys.insert(0, key)
            break
    value = error.instance
    if keys == ["type"] or (keys[:1] == ["type"] and len(keys) == 2):
        bad = schema_at(schema, error.absolute_path, len(error.absolute_path) - len(keys) + 1)
        return path, f"unknown JSON type {bad!r}", f"use one of {', '.join(JSON_TYPES)}"
    if keys == ["properties"]:
        return path, "properties must be an object", "map each argument name to its schema"
    if keys == ["required"] and not isinstance(value, list):
        return path, f"required must be a list of names, got {type(value).__name__}", \
            "list the names of the arguments that must be given"
    if not keys and path:
        return path, "schema must be an object", "give at least {'type': ..., 'description': ...}"
    where = "".join(f"[{k!r}]" for k in keys)
    return path, f"is not valid JSON Schema{' at ' + where if where else ''}: {one_line(error.message, 200)}", \
        "fix the schema so that it passes the JSON Schema metaschema"


def schema_at(schema: Any, path: Iterable, length: int) -> Any:
    for key in list(path)[:length]:
        schema = schema[key]
    return schema


MAX_DEPTH = 100  # deeper records are rejected before any recursive code (json, repr, copy) can overflow


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists / dicts nest more than ``limit`` levels (walked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)
    return False


def check_depth(value: Any, item: str, limit: int = MAX_DEPTH) -> None:
    if too_deep(value, limit):
        raise SchemaError(item, f"is nested more than {limit} levels deep", "flatten the record; no tool schema, "
                          "call or message needs that depth")


def loads_json(text: str, item: str, fix: str) -> Any:
    """``json.loads`` whose every failure, deep nesting included, is a SchemaError naming ``item``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(item, f"is not valid JSON ({exc.msg} at position {exc.pos})", fix) from None
    except RecursionError:
        raise SchemaError(item, "is not valid JSON (nested too deeply)", fix) from None
    check_depth(value, item)
    return value


def canonical_json(obj: Any) -> str:
    """Key-sorted compact JSON: the form hashed for ids and compared for equality."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def dumps(obj: Any) -> str:
    """Compact JSON that keeps key order: the form stored in published columns."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def content_hash(obj: Any, length: int = 16) -> str:
    # surrogatepass: a lone surrogate in a malformed row still gets an id, so its error names it
    return hashlib.sha256(canonical_json(obj).encode("utf-8", "surrogatepass")).hexdigest()[:length]


@dataclass(frozen=True)
class Function:
    """One callable tool. ``outputs`` is the JSON schema of what it returns, when known."""

    name: str
    description: str
    parameters: dict
    outputs: dict | None = None

    def __post_init__(self):
        validate_function(self)

    def to_openai(self) -> dict:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    @classmethod
    def from_openai(cls, tool: dict, item: str = "tool") -> "Function":
        if not isinstance(tool, dict):
            raise SchemaError(item, f"expected an OpenAI tool object, got {type(tool).__name__}",
                              'pass {"type": "function", "function": {...}}')
        check_depth(tool, item)
        fn = tool.get("function", tool) if tool.get("type", "function") == "function" else None
        if not isinstance(fn, dict):
            raise SchemaError(item, f"tool type {tool.get('type')!r} is not 'function'",
                              "only function tools are supported")
        name = fn.get("name")
        params = fn.get("parameters")
        if params is None or params == {}:  # OpenAI allows a function without parameters
            params = {"type": "object", "properties": {}}
        try:
            return cls(name=name, description=fn.get("description") or "", parameters=params,
                       outputs=fn.get("outputs") or fn.get("response"))
        except SchemaError as exc:  # say which tool of which row
            raise SchemaError(f"{item} {exc.item}", exc.problem, exc.fix) from None

    @property
    def input_names(self) -> list[str]:
        return list(self.parameters.get("properties", {}))


def validate_function(fn: Function) -> None:
    item = f"function {fn.name!r}" if isinstance(fn.name, str) else f"function <{type(fn.name).__name__} name>"
    check_depth([fn.parameters, fn.outputs], item)
    if not isinstance(fn.name, str) or not fn.name or not _NAME_RE.match(fn.name):
        raise SchemaError(item, "name must be a non-empty string of letters, digits, '_', '.' or '-'",
                          "rename the function")
    if not isinstance(fn.description, str):
        raise SchemaError(item, "description must be a string", "give a text description")
    p = fn.parameters
    if not isinstance(p, dict) or p.get("type") != "object":
        got = p.get("type") if isinstance(p, dict) else type(p).__name__
        raise SchemaError(item, f"parameters must be a JSON schema with type 'object', got {got!r}",
                          "wrap the arguments in {'type': 'object', 'properties': {...}}")
    problem = schema_problem(p)
    if problem:
        path, what, fix = problem
        raise SchemaError(f"{item} parameter {path!r}" if path else item, what, fix)
    _check_required(p, item, "")
    if fn.outputs is not None and not isinstance(fn.outputs, dict):
        raise SchemaError(item, f"outputs must be a JSON schema object, got {type(fn.outputs).__name__}",
                          "give the return value's JSON schema, or None when unknown")
    problem = schema_problem(fn.outputs) if fn.outputs is not None else None
    if problem:
        path, what, fix = problem
        raise SchemaError(f"{item} outputs" + (f" {path!r}" if path else ""), what, fix)


def _check_required(schema: dict, item: str, path: str, depth: int = 0) -> None:
    """``required`` names only declared fields, at every level (the metaschema cannot say so)."""
    props = schema.get("properties", {} if depth == 0 else None)
    if depth > 64:
        raise SchemaError(item, "parameters are nested more than 64 levels deep", "flatten the schema")
    if isinstance(props, dict):
        missing = [r for r in schema.get("required", []) if r not in props]
        if missing:
            where = f"{item} parameter {path!r}" if path else item
            raise SchemaError(where, f"required names {missing!r} are not among its parameters",
                              "list only declared parameters in 'required'")
        for name, sub in props.items():
            if isinstance(sub, dict):
                _check_required(sub, item, f"{path}.{name}" if path else name, depth + 1)
    if isinstance(schema.get("items"), dict):
        _check_required(schema["items"], item, f"{path}[]", depth + 1)


@dataclass
class ToolCall:
    name: str
    arguments: str
    id: str = ""

    def parsed_arguments(self, item: str = "tool call") -> dict:
        if not isinstance(self.arguments, str):
            raise SchemaError(f"{item} to {self.name!r}", f"arguments must be a JSON string, got "
                              f"{type(self.arguments).__name__}", "send arguments as a JSON object string")
        try:
            args = loads_json(self.arguments, "arguments", "send arguments as a JSON object string")
        except SchemaError as exc:
            raise SchemaError(f"{item} to {self.name!r}", f"arguments are {exc.problem.removeprefix('is ')}",
                              exc.fix) from None
        if not isinstance(args, dict):
            raise SchemaError(f"{item} to {self.name!r}",
                              f"arguments must be a JSON object, got {type(args).__name__}",
                              'wrap the values in an object such as {"city": "Paris"}')
        return args

    def to_dict(self) -> dict:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}

    @classmethod
    def from_dict(cls, d: dict, item: str = "tool call") -> "ToolCall":
        fix = "store calls as {id, type: 'function', function: {name, arguments}}"
        fn = d.get("function", d) if isinstance(d, dict) else None
        if not isinstance(fn, dict):
            got = type(d if not isinstance(d, dict) else fn).__name__
            raise SchemaError(item, f"must be an object with a 'function' object, got {got}", fix)
        args = fn.get("arguments", "{}")
        if not isinstance(args, str):
            try:
                args = dumps(args)
            except (TypeError, ValueError) as exc:
                raise SchemaError(item, f"arguments cannot be written as JSON ({exc})", fix) from None
        name, cid = fn.get("name"), d.get("id") or ""
        for key, value in (("name", name), ("id", cid)):
            if not isinstance(value, str):
                raise SchemaError(item, f"{key} must be a string, got {type(value).__name__}", fix)
        return cls(name=name, arguments=args, id=cid)


@dataclass
class Message:
    role: str
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    def to_dict(self) -> dict:
        """Every key present on every row, so Arrow infers one struct type for all messages."""
        return {
            "role": self.role,
            "content": self.content,
            "reasoning_content": self.reasoning_content,
            "tool_calls": [c.to_dict() for c in self.tool_calls] if self.tool_calls else None,
            "tool_call_id": self.tool_call_id,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, d: dict, item: str = "message") -> "Message":
        if not isinstance(d, dict):
            raise SchemaError(item, f"must be an object, got {type(d).__name__}",
                              "store messages as {role, content, ...} objects")
        calls = d.get("tool_calls")
        if calls and not isinstance(calls, list):
            raise SchemaError(item, f"tool_calls must be a list, got {type(calls).__name__}",
                              "store tool_calls as a list of call objects")
        msg = cls(role=d.get("role"), content=d.get("content"), reasoning_content=d.get("reasoning_content"),
                  tool_calls=[ToolCall.from_dict(c, f"{item} tool call {i}") for i, c in enumerate(calls)] if calls else None,
                  tool_call_id=d.get("tool_call_id"), name=d.get("name"))
        check_message_fields(msg, item)
        return msg


def check_message_fields(m: "Message", where: str) -> None:
    """Every field has its contract type, so later checks can hash and compare them."""
    if not isinstance(m.role, str):
        raise SchemaError(where, f"role must be a string, got {type(m.role).__name__}", f"use one of {', '.join(ROLES)}")
    for key in ("content", "reasoning_content", "tool_call_id", "name"):
        value = getattr(m, key)
        if value is not None and not isinstance(value, str):
            raise SchemaError(where, f"{key} must be a string or None, got {type(value).__name__}",
                              f"store {key} as text")
    if m.tool_calls is not None and not (isinstance(m.tool_calls, list)
                                         and all(isinstance(c, ToolCall) for c in m.tool_calls)):
        raise SchemaError(where, "tool_calls must be a list of ToolCall", "build calls with ToolCall")
    for j, c in enumerate(m.tool_calls or []):
        for key in ("name", "arguments", "id"):
            if not isinstance(getattr(c, key), str):
                raise SchemaError(f"{where} tool call {j}", f"{key} must be a string, got "
                                  f"{type(getattr(c, key)).__name__}", f"store the call's {key} as text")


@dataclass
class Conversation:
    messages: list[Message]
    tools: list[Function] = field(default_factory=list)
    id: str = ""
    # tool defaults the normaliser dropped because they contradict their declared type (counted, not published)
    dropped_defaults: int = field(default=0, compare=False)

    def validate(self) -> "Conversation":
        validate_conversation(self)
        return self

    def tools_json(self) -> str:
        return dumps([f.to_openai() for f in self.tools])

    def to_row(self) -> dict:
        return {"id": self.id or self.content_id(), "messages": [m.to_dict() for m in self.messages],
                "tools": self.tools_json()}

    def content_id(self) -> str:
        return content_hash({"messages": [m.to_dict() for m in self.messages], "tools": self.tools_json()})

    @classmethod
    def from_row(cls, row: dict) -> "Conversation":
        item = f"row {row.get('id')!r}" if isinstance(row, dict) and row.get("id") else "row"
        if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
            raise SchemaError(item, "has no 'messages' list", "store the conversation as a list of messages")
        check_depth(row, item)
        rid = row.get("id") or ""
        if not isinstance(rid, str):
            raise SchemaError(item, f"id must be a string, got {type(rid).__name__}", "store the row id as text")
        messages = [Message.from_dict(m, f"{item} message {i}") for i, m in enumerate(row["messages"])]
        return cls(messages=messages, tools=parse_tools_column(row.get("tools"), f"{item} tools"), id=rid)


# which roles may follow which; "start" is the position before the first message
_NEXT = {
    "start": {"system", "user"},
    "system": {"user"},
    "user": {"assistant"},
    "assistant": {"user", "tool"},
    "tool": {"tool", "assistant", "user"},
}


def validate_conversation(conv: Conversation) -> None:
    item = f"conversation {conv.id!r}" if conv.id else "conversation"
    names = {f.name for f in conv.tools}
    if not conv.messages:
        raise SchemaError(item, "has no messages", "add at least one user message")
    prev, pending, seen = "start", {}, set()
    for i, m in enumerate(conv.messages):
        if not isinstance(m, Message):
            raise SchemaError(f"{item} message {i}", f"must be a Message, got {type(m).__name__}",
                              "build messages with Message or Message.from_dict")
        where = f"{item} message {i}" + (f" ({m.role})" if isinstance(m.role, str) else "")
        check_message_fields(m, where)
        if m.role not in ROLES:
            raise SchemaError(where, f"unknown role {m.role!r}", f"use one of {', '.join(ROLES)}")
        allowed = _NEXT[prev]
        if m.role == "tool" and prev == "assistant" and not pending:
            allowed = allowed - {"tool"}
        if m.role not in allowed:
            raise SchemaError(where, f"role {m.role!r} cannot follow {prev!r}",
                              f"after {prev!r} use {' or '.join(sorted(allowed))}")
        if m.role == "assistant":
            if pending:
                raise SchemaError(where, f"tool calls {sorted(pending)} have no tool response",
                                  "add a tool message for every call before the next assistant turn")
            for j, call in enumerate(m.tool_calls or []):
                if call.name not in names:
                    raise SchemaError(f"{where} tool call {j}", f"calls {call.name!r}, which is not in tools",
                                      f"call one of {sorted(names) or 'the declared tools (none declared)'}")
                call.parsed_arguments(f"{where} tool call {j}")
                key = call.id or call.name
                if key in pending or (call.id and call.id in seen):
                    raise SchemaError(f"{where} tool call {j}", f"call id {key!r} is already used in this conversation",
                                      "give every tool call its own id")
                seen.add(call.id)  # ids must be unique across turns; id-less calls only among open ones
                pending[key] = call.name
            if m.content is None and not m.tool_calls:
                raise SchemaError(where, "has neither content nor tool calls", "give a reply or a tool call")
        elif m.role == "tool":
            key = m.tool_call_id if m.tool_call_id in pending else (m.name if m.name in pending else None)
            if key is None:
                raise SchemaError(where, f"tool_call_id {m.tool_call_id!r} matches no open tool call",
                                  f"answer one of the open calls {sorted(pending) or '(none open)'}")
            if m.name and m.name != pending[key]:
                raise SchemaError(where, f"name {m.name!r} differs from the called function {pending[key]!r}",
                                  "name the tool message after the function it answers")
            del pending[key]
        elif m.role == "user" and pending:
            raise SchemaError(where, f"tool calls {sorted(pending)} have no tool response",
                              "add a tool message for every call before the next user turn")
        prev = m.role


def parse_tools_column(value: str | list | None, item: str = "tools") -> list[Function]:
    """Read a ``tools`` cell (JSON string or list) into functions, with an error naming the row."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = loads_json(value, item, "store tools as a JSON list of OpenAI tools")
    if not isinstance(value, list):
        raise SchemaError(item, f"must be a list, got {type(value).__name__}", "store a JSON list of OpenAI tools")
    return [Function.from_openai(t, f"{item}[{i}]") for i, t in enumerate(value)]


def function_rows(functions: Iterable[Function]) -> list[dict]:
    return [{"name": f.name, "description": f.description, "parameters": dumps(f.parameters),
             "outputs": dumps(f.outputs) if f.outputs is not None else None} for f in functions]
