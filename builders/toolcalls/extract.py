"""JSON and thoughts out of model text: fences, ``<think>`` blocks, special tokens, objects in a row."""

from __future__ import annotations

import json
import re
from typing import Any

from .calls import ParseError

_THINK_RE = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_SPECIAL_TOKEN_RE = re.compile(r"<\|[^|<>]{1,40}\|>|</s>|<eos>|<end_of_turn>")
_FENCE_RE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```$", re.DOTALL)
_ANY_FENCE_RE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_JSON_FIX = "reply with one JSON value, optionally in a ```json fence"
# json's C decoder recurses per nesting level; deeper text is rejected before it can overflow
MAX_DEPTH = 200


def split_thought(text: str) -> tuple[str, str]:
    """``(thought, rest)``: ``<think>`` blocks (or text before a lone ``</think>``) and what remains."""
    text = _SPECIAL_TOKEN_RE.sub("", text)
    thoughts = [t.strip() for t in _THINK_RE.findall(text)]
    text = _THINK_RE.sub("", text)
    if "</think>" in text:  # templates that open <think> in the prompt leave only the closing tag
        head, _, text = text.rpartition("</think>")
        thoughts.append(head.replace("<think>", "").strip())
    return "\n".join(t for t in thoughts if t), text.strip()


def strip_fence(body: str) -> str:
    """The inside of a whole-text Markdown fence (or a ``json`` prefix), else the text itself."""
    fence = _FENCE_RE.match(body)
    if fence:
        return fence.group(1).strip()
    if body.startswith(("```json", "json{", "json[")):
        return body.removeprefix("```json").removeprefix("json").strip().removesuffix("```").strip()
    return body


def _too_deep(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def loads(text: str) -> Any:
    """``json.loads`` that fails with ``json.JSONDecodeError`` (never RecursionError) on deep nesting."""
    if _too_deep(text):
        raise json.JSONDecodeError(f"nested more than {MAX_DEPTH} levels", text, 0)
    return json.loads(text)


def json_values(body: str) -> tuple[list[Any], int]:
    """One JSON value, or several objects in a row (tool-call tags a decoder dropped as special)."""
    if _too_deep(body):
        raise json.JSONDecodeError(f"nested more than {MAX_DEPTH} levels", body, 0)
    decoder, objs, pos = json.JSONDecoder(), [], 0
    while True:
        obj, pos = decoder.raw_decode(body, pos)
        objs.append(obj)
        nxt = len(body) - len(body[pos:].lstrip())
        if not isinstance(obj, dict) or body[nxt:nxt + 1] != "{":
            return objs, pos
        pos = nxt


def extract_json(text: str | None) -> Any:
    """The first JSON value in ``text``: the whole text, a fenced block, or the first balanced object/array."""
    if not isinstance(text, str) or not text.strip():
        raise ParseError("model reply", "is empty", _JSON_FIX)
    if _too_deep(text):
        raise ParseError("model reply", f"nests JSON more than {MAX_DEPTH} levels deep", _JSON_FIX)
    for cand in [text.strip()] + [m.group(1).strip() for m in _ANY_FENCE_RE.finditer(text)]:
        try:
            return json.loads(cand)
        except json.JSONDecodeError:
            pass
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                return decoder.raw_decode(text, i)[0]
            except json.JSONDecodeError:
                continue
    raise ParseError("model reply", f"holds no JSON value: {text.strip()[:120]!r}", _JSON_FIX)
