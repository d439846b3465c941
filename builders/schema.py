"""The tool-use data model shared by every pipeline.

Functions are OpenAI tool schemas; messages follow the OpenAI / transformers chat convention.
Tool-call ``arguments`` are always JSON *strings* and ``tools`` travel as a JSON string
column, because Arrow merges dict keys across rows and would render them wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

ROLES = ("system", "user", "assistant", "tool")
JSON_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


class SchemaError(ValueError):
    """A record breaks the data contract; the message names the item, the problem and the fix."""

    def __init__(self, item: str, problem: str, fix: str):
        self.item, self.problem, self.fix = item, problem, fix
        super().__init__(f"{item}: {problem}; {fix}")


def canonical_json(obj: Any) -> str:
    """Key-sorted compact JSON: the form hashed for ids and compared for equality."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def dumps(obj: Any) -> str:
    """Compact JSON that keeps key order: the form stored in published columns."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def content_hash(obj: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


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
    item = f"function {fn.name!r}"
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
    _validate_object(p, item, "")
    if fn.outputs is not None and not isinstance(fn.outputs, dict):
        raise SchemaError(item, f"outputs must be a JSON schema object, got {type(fn.outputs).__name__}",
                          "give the return value's JSON schema, or None when unknown")


def _validate_object(schema: dict, item: str, path: str) -> None:
    """Check an object schema's fields, recursively, and that ``required`` names only them."""
    where = f"{item} parameter {path!r}" if path else item
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        raise SchemaError(where, "properties must be an object", "map each argument name to its schema")
    for pname, pschema in props.items():
        _validate_property(pschema, item, f"{path}.{pname}" if path else pname)
    required = schema.get("required", [])
    if not isinstance(required, list):
        raise SchemaError(where, f"required must be a list of names, got {type(required).__name__}",
                          "list the names of the arguments that must be given")
    missing = [r for r in required if r not in props]
    if missing:
        raise SchemaError(where, f"required names {missing!r} are not among its parameters",
                          "list only declared parameters in 'required'")


def _validate_property(pschema: Any, item: str, path: str) -> None:
    where = f"{item} parameter {path!r}"
    if not isinstance(pschema, dict):
        raise SchemaError(where, "schema must be an object", "give at least {'type': ..., 'description': ...}")
    ptype = pschema.get("type")
    types = ptype if isinstance(ptype, list) else [ptype]
    if ptype is not None and any(t not in JSON_TYPES for t in types):
        raise SchemaError(where, f"unknown JSON type {ptype!r}", f"use one of {', '.join(JSON_TYPES)}")
    if isinstance(pschema.get("items"), dict):
        _validate_property(pschema["items"], item, f"{path}[]")
    if "properties" in pschema:
        _validate_object(pschema, item, path)


@dataclass
class ToolCall:
    name: str
    arguments: str
    id: str = ""

    def parsed_arguments(self, item: str = "tool call") -> dict:
        try:
            args = json.loads(self.arguments)
        except (TypeError, json.JSONDecodeError) as exc:
            raise SchemaError(f"{item} to {self.name!r}", f"arguments are not valid JSON ({exc})",
                              "send arguments as a JSON object string") from None
        if not isinstance(args, dict):
            raise SchemaError(f"{item} to {self.name!r}",
                              f"arguments must be a JSON object, got {type(args).__name__}",
                              'wrap the values in an object such as {"city": "Paris"}')
        return args

    def to_dict(self) -> dict:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}

    @classmethod
    def from_dict(cls, d: dict) -> "ToolCall":
        fn = d.get("function", d)
        args = fn.get("arguments", "{}")
        if not isinstance(args, str):
            args = dumps(args)
        return cls(name=fn.get("name"), arguments=args, id=d.get("id") or "")


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
    def from_dict(cls, d: dict) -> "Message":
        if not isinstance(d, dict):
            raise SchemaError("message", f"must be an object, got {type(d).__name__}",
                              "store messages as {role, content, ...} objects")
        calls = d.get("tool_calls")
        return cls(role=d.get("role"), content=d.get("content"), reasoning_content=d.get("reasoning_content"),
                   tool_calls=[ToolCall.from_dict(c) for c in calls] if calls else None,
                   tool_call_id=d.get("tool_call_id"), name=d.get("name"))


@dataclass
class Conversation:
    messages: list[Message]
    tools: list[Function] = field(default_factory=list)
    id: str = ""

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
        return cls(messages=[Message.from_dict(m) for m in row["messages"]],
                   tools=parse_tools_column(row.get("tools"), f"{item} tools"), id=row.get("id") or "")


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
        where = f"{item} message {i} ({m.role})"
        if m.role not in ROLES:
            raise SchemaError(where, f"unknown role {m.role!r}", f"use one of {', '.join(ROLES)}")
        if m.content is not None and not isinstance(m.content, str):
            raise SchemaError(where, f"content must be a string or None, got {type(m.content).__name__}",
                              "store the text of the message as a string")
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
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise SchemaError(item, f"is not valid JSON ({exc})", "store tools as a JSON list of OpenAI tools") from None
    if not isinstance(value, list):
        raise SchemaError(item, f"must be a list, got {type(value).__name__}", "store a JSON list of OpenAI tools")
    return [Function.from_openai(t, f"{item}[{i}]") for i, t in enumerate(value)]


def function_rows(functions: Iterable[Function]) -> list[dict]:
    return [{"name": f.name, "description": f.description, "parameters": dumps(f.parameters),
             "outputs": dumps(f.outputs) if f.outputs is not None else None} for f in functions]
