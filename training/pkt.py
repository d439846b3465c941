"""Prioritizing Key Tokens (TL-Training, seed 001 section 3.2 and Appendix A.2).

In one assistant turn ``t_s`` the key tokens ``K`` are (SPEC.md "PKT key tokens"):

(a) the first token of each called tool's name;
(b) for every other available tool whose name shares a prefix with the called name, the first
    token where the two names diverge: the token holding the called name's first differing
    character, or, when the other name merely extends the called one (``get_weather`` vs
    ``get_weather_forecast``), the token right after the called name;
(c) the token that starts each top-level argument name.

Key tokens weigh ``CLIP(|NK| / |K|, 1, w_max)`` and every other trained token of the turn 1,
where ``NK`` are the turn's trained tokens that are not key tokens. The turn is the step ``t_s``
of the paper: all of its trained tokens, content and reasoning included.

Positions come from the rendered template text and the tokenizer's offset mapping: the call's
name and argument names are found in the characters the template produced for that turn (after
the turn's content and reasoning, each call after the end of the previous call's arguments),
then mapped to the tokens that cover those characters. A JSON arguments object is decoded for
its top-level keys; other renderings (XML-like tags, ``key=value``) are searched name by name,
each after the previous argument's value, so a name inside a value is never taken for a key.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any
from json.decoder import scanstring

logger = logging.getLogger(__name__)

W_MAX = 9.0
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"\s*")
_VALUE_GAP = 48  # most characters of markup a template puts between an argument's name and its value


@dataclass(frozen=True)
class KeyChars:
    """Character positions, in the rendered text, of one turn's key tokens, with what each one is."""

    positions: tuple[int, ...]
    kinds: tuple[str, ...]  # "name" | "divergence" | "argument", aligned with positions


def _word(text: str) -> str:
    return rf"(?<![A-Za-z0-9_]){re.escape(text)}(?![A-Za-z0-9_])"


def _skip_past(text: str, cursor: int, end: int, piece: str | None) -> int:
    piece = (piece or "").strip()
    if not piece:
        return cursor
    at = text.find(piece, cursor, end)
    return at + len(piece) if at >= 0 else cursor


def _arguments(arguments: str | dict | None) -> dict:
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _skip_space(text: str, at: int) -> int:
    return _SPACE.match(text, at).end()


def json_object_keys(text: str, at: int) -> tuple[dict, dict[str, int], int] | None:
    """The JSON object that starts at ``text[at]``, where each top-level key starts, and where it ends."""
    if not text.startswith("{", at):
        return None
    obj, positions, at = {}, {}, _skip_space(text, at + 1)
    try:
        if text.startswith("}", at):
            return obj, positions, at + 1
        while True:
            if not text.startswith('"', at):
                return None
            key, key_end = scanstring(text, at + 1)
            positions[key], at = at + 1, key_end
            at = _skip_space(text, at)
            if not text.startswith(":", at):
                return None
            obj[key], at = _DECODER.raw_decode(text, _skip_space(text, at + 1))
            at = _skip_space(text, at)
            if text.startswith("}", at):
                return obj, positions, at + 1
            if not text.startswith(",", at):
                return None
            at = _skip_space(text, at + 1)
    except (json.JSONDecodeError, ValueError):
        return None


def _value_forms(value) -> list[str]:
    """How templates print a scalar argument value: raw text, JSON (also its escaped inside), Python."""
    if isinstance(value, str):
        forms = [value, json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1]]
    else:
        forms = [json.dumps(value, ensure_ascii=False), json.dumps(value, separators=(",", ":")), str(value)]
    return [f for f in dict.fromkeys(forms) if f]


def _skip_value(text: str, cursor: int, end: int, value) -> int:
    """Past the rendered ``value`` of an argument whose name ends at ``cursor`` (or ``cursor`` if not seen).

    The value follows its name within a little markup (``</arg_key>`` and ``<arg_value>``, ``=``, ``:<|"|>``),
    so only a short window is searched; a nested value is skipped leaf by leaf when the template
    does not print it as JSON.
    """
    if isinstance(value, (dict, list)):
        for separators in ((", ", ": "), (",", ":")):
            form = json.dumps(value, ensure_ascii=False, separators=separators)
            at = text.find(form, cursor, min(end, cursor + _VALUE_GAP + len(form)))
            if at >= 0:
                return at + len(form)
        for key, item in (value.items() if isinstance(value, dict) else ((None, v) for v in value)):
            if key is not None:
                m = re.compile(_word(key)).search(text, cursor, min(end, cursor + _VALUE_GAP + len(key)))
                cursor = m.end() if m else cursor
            cursor = _skip_value(text, cursor, end, item)
        return cursor
    found = [(at, len(f)) for f in _value_forms(value)
             if (at := text.find(f, cursor, min(end, cursor + _VALUE_GAP + len(f)))) >= 0]
    if not found:
        return cursor
    at, n = min(found, key=lambda x: (x[0], -x[1]))
    return at + n


def _argument_keys(text: str, cursor: int, end: int, arguments: dict, item: str) -> tuple[list[int], int]:
    """Where each top-level argument name starts, and where the call's arguments end.

    A JSON arguments object after the name (Qwen, Llama, DeepSeek, GPT-OSS) is decoded, so that
    a name inside a value (nested objects, or a value that equals a key) is never taken; other
    renderings are searched in order, each name after the previous argument's value.
    """
    if not arguments:
        return [], cursor
    brace = text.find("{", cursor, end)
    decoded = json_object_keys(text, brace) if brace >= 0 else None
    if decoded is not None and decoded[0] == arguments:
        return [decoded[1][k] for k in arguments], decoded[2]
    scans = [_scan_keys(text, cursor, end, list(arguments.items()))]
    if len(scans[0][0]) < len(arguments):  # templates that sort the arguments (Gemma 4's dictsort)
        scans.append(_scan_keys(text, cursor, end, sorted(arguments.items())))
    positions, cursor = max(scans, key=lambda scan: len(scan[0]))
    if len(positions) < len(arguments):
        logger.warning("%s: %d of the argument names %s are not in the rendered turn", item,
                       len(arguments) - len(positions), list(arguments))
    return positions, cursor


def _scan_keys(text: str, cursor: int, end: int, arguments: list[tuple[str, Any]]) -> tuple[list[int], int]:
    """Each name (quoted and followed by ``:``, or as a whole word, whichever comes first), then its value."""
    positions = []
    for arg, value in arguments:
        quoted = re.compile(r'"' + re.escape(arg) + r'"\s*:').search(text, cursor, end)
        word = re.compile(_word(arg)).search(text, cursor, end)
        if quoted is not None and (word is None or quoted.start() + 1 <= word.start()):
            positions.append(quoted.start() + 1)
            cursor = quoted.end()
        elif word is not None:
            positions.append(word.start())
            cursor = word.end()
        else:
            continue
        cursor = _skip_value(text, cursor, end, value)
    return positions, cursor


def key_chars(text: str, span: tuple[int, int], message: dict, tool_names: list[str],
              item: str = "turn") -> KeyChars:
    """Where the key tokens of one assistant turn start, as character positions in ``text``.

    Calls are looked for in order, each one after the end of the previous call's arguments.
    """
    start, end = span
    cursor = _skip_past(text, start, end, message.get("reasoning_content"))
    cursor = _skip_past(text, cursor, end, message.get("content") if isinstance(message.get("content"), str) else None)
    positions: list[int] = []
    kinds: list[str] = []
    for j, call in enumerate(message.get("tool_calls") or []):
        fn = call.get("function", call)
        name = fn.get("name") or ""
        m = re.compile(_word(name)).search(text, cursor, end)
        if m is None:
            logger.warning("%s tool call %d: name %r is not in the rendered turn; no key tokens for it", item, j, name)
            continue
        at = m.start()
        positions.append(at)
        kinds.append("name")
        for other in tool_names:
            shared = len(os.path.commonprefix([name, other]))
            if other != name and shared > 0:
                positions.append(at + shared)
                kinds.append("divergence")
        keys, cursor = _argument_keys(text, m.end(), end, _arguments(fn.get("arguments")), f"{item} tool call {j}")
        positions.extend(keys)
        kinds.extend(["argument"] * len(keys))
    return KeyChars(tuple(positions), tuple(kinds))


def char_to_token(offsets: list[tuple[int, int]], starts: list[int], char: int) -> int | None:
    """Index of the token whose offsets cover ``char`` (``starts`` = the offsets' start column)."""
    t = bisect.bisect_right(starts, char) - 1
    while t >= 0 and offsets[t][1] <= offsets[t][0]:  # zero-width (special) tokens cover nothing
        t -= 1
    if t >= 0 and offsets[t][0] <= char < offsets[t][1]:
        return t
    return None


def key_weight(n_key: int, n_other: int, w_max: float = W_MAX) -> float:
    """CLIP(|NK| / |K|, 1, w_max)."""
    if n_key <= 0:
        return 1.0
    return float(min(max(n_other / n_key, 1.0), w_max))


def turn_weights(offsets: list[tuple[int, int]], turn_tokens: list[int], chars: KeyChars,
                 w_max: float = W_MAX, starts: list[int] | None = None) -> dict[int, float]:
    """Weights of the key tokens of one turn (token index -> weight); every other token weighs 1."""
    starts = starts if starts is not None else [o[0] for o in offsets]
    trained = set(turn_tokens)
    keys = {t for c in chars.positions if (t := char_to_token(offsets, starts, c)) is not None and t in trained}
    w = key_weight(len(keys), len(trained) - len(keys), w_max)
    return {t: w for t in keys}
