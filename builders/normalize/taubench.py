"""sierra-research/tau-bench trajectories (``historical_trajectories/*.json`` and run outputs).

A file is a JSON list of ``{"task_id", "reward", "info", "traj": [OpenAI messages], "trial"}``. The
rows carry no tool schemas: they live in the environment code, so the preset names a tools file
(a JSON list of OpenAI tools, e.g. the ``get_info()`` of each airline / retail tool) and the
normaliser is called with ``tools=<path or list>``. Call ids can repeat across turns (the same
``call_...`` id appears on two different calls in gpt-4o-airline task 0), so every call gets a fresh
``call_<row>_<n>`` id and each tool message is re-pointed to the most recent open call that carried
its old id.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from builders.schema import Conversation, Function, Message, SchemaError, ToolCall

from .common import RowContext, normalizer

_ROLES = ("system", "user", "assistant", "tool")


@functools.lru_cache(maxsize=16)
def read_tools_file(path: str) -> tuple[Function, ...]:
    """A JSON list of OpenAI tools -> Functions (cached: every row of a source shares the file)."""
    item = f"tau-bench tools file {path}"
    try:
        tools = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(item, "does not exist", "name an existing JSON file of OpenAI tools in the preset") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaError(item, f"cannot be read as JSON ({exc})", "store the tools as a JSON list") from None
    if not isinstance(tools, list):
        raise SchemaError(item, f"must hold a JSON list, got {type(tools).__name__}", "store a list of OpenAI tools")
    return tuple(Function.from_openai(t, f"{item} [{i}]") for i, t in enumerate(tools))


def _functions(tools: Any) -> list[Function]:
    if isinstance(tools, (str, Path)):
        return list(read_tools_file(str(tools)))
    return [t if isinstance(t, Function) else Function.from_openai(t, f"tools[{i}]") for i, t in enumerate(tools)]


@normalizer("taubench")
def normalize_taubench(row: dict, ctx: RowContext, tools: Any = None) -> Conversation:
    if tools is None:
        raise ctx.error("has no tool schemas and none were given",
                        "name the domain's tools file in the preset source entry (tools: path/to/tools.json)")
    functions = _functions(tools)
    known = {f.name for f in functions}
    key = "traj" if "traj" in row else "messages"
    messages: list[Message] = []
    open_calls: dict[str, list[ToolCall]] = {}  # id as published -> open calls that carried it, oldest first
    for i, m in enumerate(ctx.field(row, key, list)):
        where = f"{key}[{i}]"
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            raise ctx.error(f"must be an object with a role in {_ROLES}, got {str(m)[:80]!r}",
                            'give {"role": ..., "content": ...}', where)
        content = m.get("content")
        if content is not None and not isinstance(content, str):
            raise ctx.error(f"content must be text or null, got {type(content).__name__}", "give text content", where)
        if m["role"] == "assistant":
            calls = []
            for j, raw in enumerate(m.get("tool_calls") or []):
                fn = raw.get("function") if isinstance(raw, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    raise ctx.error(f"tool call {j} has no function name",
                                    'give {"id": ..., "function": {"name": ..., "arguments": "..."}}', where)
                if fn["name"] not in known:
                    raise ctx.error(f"tool call {j} calls {fn['name']!r}, which is not in the tools file",
                                    "name the tools file of this trajectory's domain in the preset", where)
                call = ctx.tool_call(fn["name"], fn.get("arguments", "{}"), f"{where} tool call {j}")
                open_calls.setdefault(raw.get("id") or call.id, []).append(call)
                calls.append(call)
            messages.append(Message(role="assistant", content=content, tool_calls=calls or None))
        elif m["role"] == "tool":
            stack = open_calls.get(m.get("tool_call_id"))
            if not stack:
                raise ctx.error(f"tool_call_id {m.get('tool_call_id')!r} answers no open call",
                                "keep each tool message after the call it answers", where)
            call = stack.pop()
            messages.append(Message(role="tool", content=content, tool_call_id=call.id, name=call.name))
        else:
            messages.append(Message(role=m["role"], content=content))
    return ctx.conversation(messages, functions)
