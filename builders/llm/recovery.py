"""Tool calls that a model wrote as text instead of through the server's tool-call parser.

Small models often answer a tool-use prompt with ``{"name": ..., "arguments": ...}`` as bare
JSON, inside a code fence, or inside their template's ``<tool_call>`` tags, and the server then
returns it as ``content``. ``recover_tool_calls`` reads those back as OpenAI-shaped calls, but
only for tools the request declared and only when the arguments parse: a call to an undeclared
tool stays text, so recovery never invents a tool.

The interface is kept this small on purpose: the shared tool-call module will take it over.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from builders.schema import dumps

_TAG_RE = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_FENCE_RE = re.compile(r"```[A-Za-z]*\s*\n?(.*?)```", re.S)


def recover_tool_calls(text: str, tools: list[dict]) -> list[dict]:
    """OpenAI ``tool_calls`` (``arguments`` a JSON string) found in ``text``; ``[]`` when none.

    Forms read, first match wins: ``<tool_call>`` tags, fenced JSON, the whole text as JSON. A
    JSON value may be one call or a list of calls; a call is ``{"name", "arguments"}`` (also
    ``parameters``, or OpenAI's ``{"function": {...}}``). All calls must name a declared tool and
    carry object arguments (or a JSON string of one), else nothing is recovered.
    """
    if not isinstance(text, str) or not text.strip():
        return []
    declared = {t.get("function", t).get("name") for t in tools or () if isinstance(t, dict)}
    for blocks in (_TAG_RE.findall(text), _FENCE_RE.findall(text), [text]):
        values = [_loads(b) for b in blocks if b.strip()]
        if not values or any(v is _INVALID for v in values):
            continue
        calls = [c for v in values for c in (v if isinstance(v, list) else [v])]
        parsed = [_call(c, declared) for c in calls]
        if parsed and all(p is not None for p in parsed):
            return [openai_call(name, args, i, text) for i, (name, args) in enumerate(parsed)]
    return []


_INVALID = object()


def _loads(block: str) -> Any:
    try:
        return json.loads(block.strip())
    except (json.JSONDecodeError, RecursionError):
        return _INVALID


def _call(value: Any, declared: set) -> tuple[str, dict] | None:
    """(name, arguments) of one call object naming a declared tool, else None."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):
        value = value["function"]
    name = value.get("name")
    args = value.get("arguments", value.get("parameters", {}))
    if isinstance(args, str):
        args = _loads(args)
    if not isinstance(name, str) or name not in declared or not isinstance(args, dict):
        return None
    return name, args


def openai_call(name: str, args: dict, index: int, text: str) -> dict:
    """A call with an id that depends only on the reply text and position, so reruns match."""
    digest = hashlib.sha256(f"{index}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return {"id": f"call_{digest}", "type": "function",
            "function": {"name": name, "arguments": dumps(args)}}
