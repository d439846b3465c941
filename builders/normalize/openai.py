"""OpenAI chat-completions rows: ``{"messages": [...], "tools": [{"type": "function", "function": {...}}]}``.

The contract is this format already, so the work is tolerance for what real exports contain:
``arguments`` as a dict, missing call ids, content as a list of text parts, the ``developer``
role, the legacy ``functions`` / ``function_call`` / ``role: function`` spelling, and ``tools``
as a JSON string (the form this project publishes).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from builders.schema import Conversation, Function, Message, ToolCall

from .common import RowContext, normalizer

_ROLES = {"developer": "system", "function": "tool"}


def _content(value: Any, ctx: RowContext, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in value):
        return "".join(p.get("text", "") for p in value)
    raise ctx.error(f"content must be text or a list of text parts, got {str(value)[:80]!r}",
                    "give content as a string; images and audio are not supported", where)


def _calls(m: dict, ctx: RowContext, where: str) -> list[ToolCall] | None:
    raw = m.get("tool_calls") or ([m["function_call"]] if m.get("function_call") else None)
    if not raw:
        return None
    if not isinstance(raw, list):
        raise ctx.error(f"tool_calls must be a list, got {type(raw).__name__}", "give a list of tool calls", where)
    calls = []
    for j, call in enumerate(raw):
        fn = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ctx.error(f"tool call {j} has no function name",
                            'give {"type": "function", "function": {"name": ..., "arguments": "..."}}', where)
        tc = ctx.tool_call(fn["name"], fn.get("arguments", "{}"), f"{where} tool call {j}")
        calls.append(ToolCall(name=fn["name"], arguments=tc.arguments, id=call.get("id") or tc.id))
    return calls


@normalizer("openai")
def normalize_openai(row: dict, ctx: RowContext) -> Conversation:
    raw_messages = ctx.field(row, "messages", list)
    tools = row.get("tools") if row.get("tools") is not None else row.get("functions")
    if isinstance(tools, str):
        tools = ctx.loads(tools, "field 'tools'", "store tools as a JSON list of OpenAI tools")
    if tools is not None and not isinstance(tools, list):
        raise ctx.error(f"field 'tools' must be a list, got {type(tools).__name__}", "give a list of OpenAI tools")
    functions = [Function.from_openai(t, f"tools[{i}]") for i, t in enumerate(tools or [])]
    functions = [replace(f, parameters=ctx.typed_defaults(f.parameters, f"tools[{i}]")) for i, f in enumerate(functions)]
    messages: list[Message] = []
    open_calls: list[ToolCall] = []
    for i, m in enumerate(raw_messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise ctx.error(f"must be an object, got {type(m).__name__}", 'give {"role": ..., "content": ...}', where)
        role = m.get("role")
        role = _ROLES.get(role, role) if isinstance(role, str) else role  # a non-string role fails validation
        msg = Message(role=role, content=_content(m.get("content"), ctx, where),
                      reasoning_content=m.get("reasoning_content"), tool_calls=_calls(m, ctx, where),
                      tool_call_id=m.get("tool_call_id"), name=m.get("name"))
        if role == "assistant":
            open_calls = list(msg.tool_calls or [])
        elif role == "tool":
            _link(msg, open_calls)
        messages.append(msg)
    return ctx.conversation(messages, functions)


def _link(msg: Message, open_calls: list[ToolCall]) -> None:
    """Fill a tool message's missing call id (legacy exports) from the oldest open call of that name."""
    call = next((c for c in open_calls if c.id == msg.tool_call_id), None)
    if call is None and not msg.tool_call_id:
        call = next((c for c in open_calls if msg.name in (None, c.name)), None)
    if call is not None:
        open_calls.remove(call)
        msg.tool_call_id, msg.name = call.id, msg.name or call.name
