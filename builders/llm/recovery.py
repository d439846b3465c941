"""Tool calls that a model wrote as text instead of through the server's tool-call parser.

Small models often answer a tool-use prompt with ``{"name": ..., "arguments": ...}`` as bare
JSON, inside a code fence, inside their template's ``<tool_call>`` tags or as a Python-style
call, and the server then returns it as ``content``. ``recover_tool_calls`` reads those back as
OpenAI-shaped calls with the shared tool-call module (``builders.toolcalls.calls_from_text``),
but only for tools the request declared and only when every call's arguments parse: a call to an
undeclared tool, or a broken one, stays text, so recovery never invents a tool.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from builders.errors import DataError
from builders.schema import dumps
from builders.toolcalls import calls_from_text

_FENCE_RE = re.compile(r"```[A-Za-z]*\s*\n?(.*?)```", re.S)


def recover_tool_calls(text: str, tools: Any) -> list[dict]:
    """OpenAI ``tool_calls`` (``arguments`` a JSON string) found in ``text``; ``[]`` when none.

    The whole text is read first (tags, JSON, Python-style calls), then each fenced block, so a
    call after a line of prose in a ```json fence is found too. ``tools``: the request's OpenAI
    tools (or ``{name: parameters}``); their parameter order maps positional arguments.
    """
    declared = declared_tools(tools)
    if not isinstance(text, str) or not text.strip() or not declared:
        return []
    for candidate in (text, *_FENCE_RE.findall(text)):
        try:
            calls = calls_from_text(candidate, declared)
        except DataError:  # a broken call stays text: the caller sees what the model wrote
            continue
        if calls:
            return [openai_call(c["function"]["name"], json.loads(c["function"]["arguments"]), i, text)
                    for i, c in enumerate(calls)]
    return []


def declared_tools(tools: Any) -> dict[str, dict]:
    """``{name: parameters}`` of the tools a request declared; entries without a name are skipped,
    so one odd tool does not switch recovery off for the others."""
    if isinstance(tools, dict):
        return {n: p for n, p in tools.items() if isinstance(n, str) and isinstance(p, dict)}
    out = {}
    for tool in tools if isinstance(tools, (list, tuple)) else ():
        fn = tool.get("function", tool) if isinstance(tool, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str) and fn["name"]:
            params = fn.get("parameters")
            out[fn["name"]] = params if isinstance(params, dict) else {}
    return out


def openai_call(name: str, args: dict, index: int, text: str) -> dict:
    """A call with an id that depends only on the reply text and position, so reruns match."""
    digest = hashlib.sha256(f"{index}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return {"id": f"call_{digest}", "type": "function",
            "function": {"name": name, "arguments": dumps(args)}}
