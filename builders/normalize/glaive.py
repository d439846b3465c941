"""glaiveai/glaive-function-calling-v2 rows.

A row is ``{"system": "SYSTEM: <prose> -\\n{json function}\\n\\n{json function}", "chat": "USER: ...
\\n\\n\\nASSISTANT: <functioncall> {"name": "f", "arguments": '{"a": 1}'} <|endoftext|>\\n\\n\\n
FUNCTION RESPONSE: {...}\\n\\n\\nASSISTANT: ... <|endoftext|>"}``. The functions are pretty-printed
JSON objects written one after another (none in some rows); the call's ``arguments`` is a JSON
object wrapped in single quotes, which is not JSON, so it is cut out before decoding.
"""

from __future__ import annotations

import re

from builders.schema import Conversation, Message

from .common import RowContext, normalizer, system_messages

_SPEAKER = re.compile(r"(?:^|\n\n\n)(USER|ASSISTANT|FUNCTION RESPONSE): ?")
_QUOTED_ARGS = re.compile(r'^\{\s*"name"\s*:\s*"(?P<name>[^"]*)"\s*,\s*"arguments"\s*:\s*\'(?P<args>.*)\'\s*\}$', re.S)
_END = "<|endoftext|>"
_CALL = "<functioncall>"


def read_functions(system: str, ctx: RowContext) -> str:
    """Register the functions in the system prompt; return the prose around them."""
    text = re.sub(r"^\s*SYSTEM:\s*", "", system)
    start = text.find("{")
    if start < 0:
        return text.strip()
    for n, spec in ctx.json_values(text, start, "function {n} in the system prompt",
                                   "write each function as a JSON object, one after another"):
        ctx.add_function(spec, f"system function {n}")
    return text[:start].strip()


def read_call(text: str, ctx: RowContext, where: str):
    """``{"name": "f", "arguments": '{...}'}`` -> ToolCall (plain JSON arguments are accepted too)."""
    body = text.replace(_END, "").strip()
    fix = """write the call as {"name": "f", "arguments": '{"arg": value}'}"""
    m = _QUOTED_ARGS.match(body)
    if m:
        args = ctx.loads(m.group("args"), f"{where} call arguments", "give the arguments as a JSON object")
        return ctx.tool_call(m.group("name"), args, where)
    return ctx.named_call(ctx.loads(body, f"{where} function call", fix), body, fix, where, "function call")


@normalizer("glaive")
def normalize_glaive(row: dict, ctx: RowContext) -> Conversation:
    messages = system_messages(row, ctx, read_functions)
    chat = ctx.field(row, "chat", str)
    parts = _SPEAKER.split(chat.strip())
    if parts[0].strip():
        raise ctx.error(f"chat starts with {parts[0][:60]!r} instead of a speaker",
                        "start every turn with 'USER: ', 'ASSISTANT: ' or 'FUNCTION RESPONSE: '")
    last_call = None
    for turn, (speaker, text) in enumerate(zip(parts[1::2], parts[2::2])):
        where = f"chat turn {turn} ({speaker})"
        if speaker == "USER":
            messages.append(Message(role="user", content=text.strip()))
        elif speaker == "ASSISTANT":
            before, found, after = text.partition(_CALL)
            content = before.replace(_END, "").strip()
            if found:
                last_call = read_call(after, ctx, where)
                messages.append(Message(role="assistant", content=content or None, tool_calls=[last_call]))
            else:
                messages.append(Message(role="assistant", content=content))
        else:
            if last_call is None:
                raise ctx.error("FUNCTION RESPONSE follows no <functioncall>",
                                "drop the row or add the call the response answers", where)
            messages.append(Message(role="tool", content=text.strip(), tool_call_id=last_call.id,
                                    name=last_call.name))
            last_call = None
    return ctx.conversation(messages)
