"""Salesforce/APIGen-MT-5k rows (``apigen-mt_5k.json``, ShareGPT style).

A row is ``{"conversations": [{"from": "human"|"gpt"|"function_call"|"observation", "value": str}],
"tools": JSON text of [{name, description, parameters}], "system": the domain policy}``. A
``function_call`` value is the JSON text of ``{"name": f, "arguments": {...}}`` (arguments an
object; a list of such objects is read too); each ``observation`` answers the oldest open call.
Consecutive ``function_call`` turns, and a ``gpt`` turn followed by calls, form one assistant
message, since the contract has no assistant -> assistant step.
"""

from __future__ import annotations

import json

from builders.schema import Conversation, Message, ToolCall

from .common import RowContext, normalizer
from .when2call import json_call_list

_SPEAKERS = ("human", "gpt", "function_call", "observation")


@normalizer("apigen_mt")
def normalize_apigen_mt(row: dict, ctx: RowContext) -> Conversation:
    for i, spec in enumerate(ctx.json_field(row, "tools", list)):
        ctx.add_function(spec, f"tools[{i}]")
    system = row.get("system")
    if system is not None and not isinstance(system, str):
        raise ctx.error(f"field 'system' must be text, got {type(system).__name__}", "give the domain policy as text")
    messages = [Message(role="system", content=system)] if system else []
    pending: list[ToolCall] = []
    for i, turn in enumerate(ctx.field(row, "conversations", list)):
        where = f"conversations[{i}]"
        if not isinstance(turn, dict) or turn.get("from") not in _SPEAKERS or not isinstance(turn.get("value"), str):
            raise ctx.error(f"turn must be {{from, value}} with from in {_SPEAKERS} and text value, "
                            f"got {str(turn)[:80]!r}", 'give {"from": "human", "value": "..."}', where)
        speaker, value = turn["from"], turn["value"]
        last = messages[-1] if messages else None
        if speaker == "human":
            messages.append(Message(role="user", content=value))
        elif speaker == "gpt":
            messages.append(Message(role="assistant", content=value))
        elif speaker == "function_call":
            calls = json_call_list(value, ctx, where)
            if last is not None and last.role == "assistant":
                last.tool_calls = (last.tool_calls or []) + calls
            else:
                messages.append(Message(role="assistant", tool_calls=calls))
            pending.extend(calls)
        else:
            if not pending:
                raise ctx.error("observation follows no function_call", "drop the row or add the call it answers",
                                where)
            messages.extend(_observations(value, pending))
    return ctx.conversation(messages)


def _observations(value: str, pending: list[ToolCall]) -> list[Message]:
    """One observation per open call; a JSON list answers several open calls when the counts match."""
    parts = [value]
    if len(pending) > 1:
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            decoded = None
        if isinstance(decoded, list) and len(decoded) == len(pending):
            parts = [p if isinstance(p, str) else json.dumps(p, ensure_ascii=False) for p in decoded]
    out = []
    for part in parts:
        call = pending.pop(0)
        out.append(Message(role="tool", content=part, tool_call_id=call.id, name=call.name))
    return out
