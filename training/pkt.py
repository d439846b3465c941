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
the turn's content and reasoning), then mapped to the tokens that cover those characters.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import re
from dataclasses import dataclass

logger = logging.getLogger(__name__)

W_MAX = 9.0


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


def _argument_names(arguments: str | dict | None) -> list[str]:
    if isinstance(arguments, dict):
        return list(arguments)
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return []
    return list(parsed) if isinstance(parsed, dict) else []


def key_chars(text: str, span: tuple[int, int], message: dict, tool_names: list[str],
              item: str = "turn") -> KeyChars:
    """Where the key tokens of one assistant turn start, as character positions in ``text``."""
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
        cursor = m.end()
        for arg in _argument_names(fn.get("arguments")):
            m = re.compile(r'"' + re.escape(arg) + r'"\s*:').search(text, cursor, end)
            if m is not None:
                arg_at, cursor = m.start() + 1, m.end()
            else:
                m = re.compile(_word(arg)).search(text, cursor, end)
                if m is None:
                    logger.warning("%s tool call %d: argument %r is not in the rendered turn", item, j, arg)
                    continue
                arg_at, cursor = m.start(), m.end()
            positions.append(arg_at)
            kinds.append("argument")
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
