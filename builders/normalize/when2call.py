"""nvidia/When2Call SFT rows (``train/when2call_train_sft.jsonl``).

A row is ``{"tools": [...], "messages": [{"role": "user", ...}, {"role": "assistant", ...}]}``. Tools
are BFCL-like: ``parameters`` is ``{"type": "dict", "properties": {arg: {"type": "str", ...}}}`` with
Python type words, and ``required`` sits *beside* ``parameters`` at the function level (a tool may
also be a JSON string, as in the test split). A call is written in the assistant's content as
``<TOOLCALL>[{"name": ..., "arguments": {...}}]</TOOLCALL>``; NVIDIA's converter wraps the call with
``json.dumps``, so a list element may itself be a JSON string. Every other assistant reply (a
refusal, a request for missing information) is kept as text: those rows teach *not* calling.
"""

from __future__ import annotations

import json
import re
from typing import Any

from builders.schema import Conversation, Message, ToolCall

from .common import RowContext, normalizer

_TOOLCALL = re.compile(r"<TOOLCALL>(?P<body>.*?)</TOOLCALL>", re.S)
_ROLES = ("system", "user", "assistant")


def json_call_list(value: Any, ctx: RowContext, where: str) -> list[ToolCall]:
    """``[{"name": f, "arguments": {...}}, ...]`` (text or decoded; one object allowed) -> ToolCalls.

    An element may be the JSON text of such an object, and ``arguments`` may be JSON text.
    """
    fix = 'write calls as [{"name": "f", "arguments": {"arg": value}}]'
    if isinstance(value, str):
        value = ctx.loads(value, f"{where} call list", fix)
    calls = value if isinstance(value, list) else [value]
    out = []
    for j, call in enumerate(calls):
        if isinstance(call, str):
            call = ctx.loads(call, f"{where} call {j}", fix)
        out.append(ctx.named_call(call, json.dumps(call), fix, where, f"call {j}"))
    return out


def _function(spec: Any, ctx: RowContext, where: str) -> None:
    if isinstance(spec, str):
        spec = ctx.loads(spec, where, "give each tool as a JSON object")
    if isinstance(spec, dict) and "required" in spec and isinstance(spec.get("parameters"), dict) \
            and "required" not in spec["parameters"]:
        spec = {**spec, "parameters": {**spec["parameters"], "required": spec["required"]}}
    ctx.add_function(spec, where)


@normalizer("when2call")
def normalize_when2call(row: dict, ctx: RowContext) -> Conversation:
    for i, spec in enumerate(ctx.field(row, "tools", list)):
        _function(spec, ctx, f"tools[{i}]")
    messages = []
    for i, m in enumerate(ctx.field(row, "messages", list)):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in _ROLES or not isinstance(m.get("content"), str):
            raise ctx.error(f"must be an object with a role in {_ROLES} and text content, got {str(m)[:80]!r}",
                            'give {"role": "user", "content": "..."}', where)
        text = m["content"]
        found = list(_TOOLCALL.finditer(text)) if m["role"] == "assistant" else []
        if not found:
            if m["role"] == "assistant" and "<TOOLCALL>" in text:
                raise ctx.error("has <TOOLCALL> without a closing </TOOLCALL>", "close the call list", where)
            messages.append(Message(role=m["role"], content=text))
            continue
        calls = [c for match in found for c in json_call_list(match.group("body"), ctx, where)]
        rest = _TOOLCALL.sub("", text).strip()
        messages.append(Message(role="assistant", content=rest or None, tool_calls=calls))
    return ctx.conversation(messages)
