"""BUTTONInstruct rows (PKU-Baichuan-MLSystemLab/BUTTON, ``data/button_instruct.jsonl``).

A row is ``{"messages": [...]}``. The system prompt is a fixed template with the tools inside
``<tool>…</tool>`` (a JSON list, or JSON objects one after another) and instructions about BUTTON's
own tags; it is replaced by the tools themselves, since the contract carries calls as
``tool_calls``. An assistant turn is a thought followed by ``<call>[{"name", "arguments"}]</call>``
or by ``<final>answer</final>``: the thought becomes ``reasoning_content``, the call list
``tool_calls``, the final answer ``content``. A tool turn is a JSON list of ``{name, arguments,
results}``, one per call, matched to the calls by name and then order.
"""

from __future__ import annotations

import re

from builders.schema import Conversation, Message, ToolCall

from .common import RowContext, normalizer
from .toolace import answer_calls
from .when2call import json_call_list

_TOOLS = re.compile(r"<tool>(?P<body>.*?)</tool>", re.S)
_CALL = re.compile(r"<call>(?P<body>.*?)</call>", re.S)
_FINAL = re.compile(r"<final>(?P<body>.*?)</final>", re.S)
_ROLES = {"system": "system", "systems": "system", "user": "user", "assistant": "assistant", "tool": "tool"}


def read_tools(system: str, ctx: RowContext) -> None:
    m = _TOOLS.search(system)
    if not m:
        raise ctx.error("system prompt has no <tool>…</tool> block", "list the tools inside <tool></tool>",
                        "messages[0]")
    n = 0
    for _, spec in ctx.json_values(m.group("body"), 0, "tool {n} in <tool>", "write the tools as a JSON list or JSON "
                                   "objects one after another", "messages[0]"):
        for one in spec if isinstance(spec, list) else [spec]:
            ctx.add_function(one, f"system tool {n}")
            n += 1


@normalizer("button")
def normalize_button(row: dict, ctx: RowContext) -> Conversation:
    messages: list[Message] = []
    pending: list[ToolCall] = []
    for i, m in enumerate(ctx.field(row, "messages", list)):
        where = f"messages[{i}]"
        role = _ROLES.get(m.get("role")) if isinstance(m, dict) else None
        if role is None or not isinstance(m.get("content"), str):
            raise ctx.error(f"must be an object with a role in {sorted(_ROLES)} and text content, "
                            f"got {str(m)[:80]!r}", 'give {"role": "user", "content": "..."}', where)
        text = m["content"]
        if role == "system":
            read_tools(text, ctx)
        elif role == "tool":
            messages.extend(answer_calls(text, pending, ctx, where))
        elif role == "user":
            messages.append(Message(role="user", content=text))
        else:
            messages.append(_assistant(text, ctx, where))
            pending = list(messages[-1].tool_calls or [])
    return ctx.conversation(messages)


def _assistant(text: str, ctx: RowContext, where: str) -> Message:
    calls, final = list(_CALL.finditer(text)), _FINAL.search(text)
    if calls and final:
        raise ctx.error("has both <call> and <final>", "call functions or answer, one per turn", where)
    if calls:
        tool_calls = [c for m in calls for c in json_call_list(m.group("body"), ctx, where)]
        thought = text[:calls[0].start()].strip()
        return Message(role="assistant", content=None, reasoning_content=thought or None, tool_calls=tool_calls)
    if final:
        thought = text[:final.start()].strip()
        return Message(role="assistant", content=final.group("body").strip(), reasoning_content=thought or None)
    if "<call>" in text or "<final>" in text:
        raise ctx.error("has an unclosed <call> or <final> tag", "close the tag", where)
    return Message(role="assistant", content=text.strip())
