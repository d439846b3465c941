"""What every ToolMind agent and judge shares: rejects, seeded randomness, chain functions, transcripts.

Each stage is pure: rows in, rows out, keyed by stable ids, so the pipeline runtime can schedule
them however it likes and a rerun gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from typing import Any, Iterable

from builders.schema import Function, Message, SchemaError

_THINK_RE = re.compile(r"^\s*<think>(.*?)</think>\s*", re.S)


@dataclass(frozen=True)
class Reject:
    """An item a stage could not turn into a row: which stage, which item, and a reason a person can act on."""

    step: str
    item: str
    reason: str

    def to_row(self) -> dict:
        return {"step": self.step, "item": self.item, "reason": self.reason}


def stage_rng(seed: int, stage: str, item: str) -> random.Random:
    """Randomness that depends only on (seed, stage, item id): never on order, concurrency or sharding."""
    digest = hashlib.sha256(f"{seed}\x1f{stage}\x1f{item}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def as_function(value: Any, item: str = "function") -> Function:
    """A chain entry as a Function: an OpenAI tool dict, a pool row (JSON-string schemas) or a Function."""
    if isinstance(value, Function):
        return value
    if not isinstance(value, dict):
        raise SchemaError(item, f"is a {type(value).__name__}, not a function",
                          "store chain functions as OpenAI tools or function-pool rows")
    if "function" in value or value.get("type") == "function":
        return Function.from_openai(value, item)
    row = dict(value)
    for key in ("parameters", "outputs"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return Function.from_openai({"type": "function", "function": {
        "name": row.get("name"), "description": row.get("description") or "",
        "parameters": row.get("parameters"), "outputs": row.get("outputs")}}, item)


def chain_functions(chain_row: dict) -> list[Function]:
    item = f"chain {chain_row.get('id')!r}"
    functions = chain_row.get("functions")
    if not isinstance(functions, list) or not functions:
        raise SchemaError(item, "has no 'functions' list", "give each chain row the functions along its walk")
    return [as_function(f, f"{item} functions[{i}]") for i, f in enumerate(functions)]


def function_info(fn: Function) -> dict:
    """A function as the simulators and judges read it, with its output schema when known."""
    info = {"name": fn.name, "description": fn.description, "parameters": fn.parameters}
    if fn.outputs is not None:
        info["outputs"] = fn.outputs
    return info


def split_think(content: str | None, reasoning: str | None) -> tuple[str | None, str | None]:
    """(content, reasoning_content) with a leading ``<think>...</think>`` moved out of the content."""
    if reasoning or not content:
        return content, reasoning
    m = _THINK_RE.match(content)
    if m is None:
        return content, reasoning
    rest = content[m.end():]
    return (rest if rest.strip() else None), (m.group(1).strip() or None)


def transcript(messages: Iterable[Message]) -> str:
    """The conversation as plain lines for a judge: role, text, calls and tool results."""
    lines = []
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            calls = [{"name": c.name, "arguments": c.arguments} for c in m.tool_calls]
            text = f"{m.content}\n" if m.content else ""
            lines.append(f"assistant: {text}[tool calls] {json.dumps(calls, ensure_ascii=False)}")
        elif m.role == "tool":
            lines.append(f"tool ({m.name}): {m.content}")
        else:
            lines.append(f"{m.role}: {m.content or ''}")
    return "\n".join(lines)


def tools_text(functions: Iterable[Function]) -> str:
    return "\n".join(json.dumps(function_info(f), ensure_ascii=False) for f in functions)
