"""Contract rows -> ``input_ids``, ``labels`` and per-token ``weights`` for any tool-capable chat template.

How an assistant turn's span is found, for any template: the whole conversation is rendered once
(``full``); the turn starts where ``messages[:i]`` rendered with the generation prompt ends, and
ends where ``messages[:i + 1]`` rendered alone ends, both mapped into ``full``, minus trailing
whitespace (the template's separator, which the model never generates). When a rendering is a
prefix of ``full`` the mapping is its length. Some templates change earlier text when messages
are added (Qwen3 drops the reasoning of turns before the last user query and renders an empty
``<think>`` block only on the last turn), so otherwise the two texts are aligned line by line
past their common prefix: among the places in ``full`` where the rendering's last line (or its
unfinished tail) recurs, the one whose preceding lines match the rendering best (difflib, fewest
unmatched lines) is taken; a turn that cannot be aligned is an error naming the row. Tokens come from the tokenizer's offset mapping on
``full``: a token is trained when its first character lies inside a trained span. Nothing is
searched for in decoded text.

Templates that leave the end-of-turn marker to the next message (GLM-4) give spans without it,
as TRL's assistant masks do. Samples train their completion; trajectories train every assistant
turn whose verdict is True (MAE: the others stay in the context with no loss).
"""

from __future__ import annotations

import bisect
import difflib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

from builders.schema import SchemaError
from training.data import row_conversation, row_name
from training.pkt import W_MAX, key_chars, turn_weights

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
_LINES = re.compile(r"(?<=\n)")
_PROBE_ARG = "probe_argument_name"


@dataclass
class MaskConfig:
    """How rows become training sequences."""

    max_length: int | None = None  # keep the first max_length tokens; rows left without loss are dropped
    pkt: bool = True  # weight key tokens (PKT); off: every trained token weighs 1
    w_max: float = W_MAX
    chat_template_kwargs: dict = field(default_factory=dict)  # e.g. {"enable_thinking": False}


def _lines(text: str) -> list[str]:
    return [line for line in _LINES.split(text) if line]


def locate_end(prefix: str, full: str) -> int | None:
    """Position in ``full`` that corresponds to the end of ``prefix``, a rendering of fewer messages.

    Past their common prefix the two texts are compared line by line: the end of ``prefix`` maps
    to a line end of ``full`` followed by its partial last line (or, when it ends on a newline, the
    end of a line equal to its last one): the candidate that leaves the fewest lines unmatched
    between the two (difflib matching blocks).
    """
    if full.startswith(prefix):
        return len(prefix)
    same = len(os.path.commonprefix([prefix, full]))
    base = prefix.rfind("\n", 0, same) + 1  # both texts are identical up to this line start
    a, b = _lines(prefix[base:]), _lines(full[base:])
    tail = a.pop() if a and not a[-1].endswith("\n") else ""
    if not a:
        return None
    best, at = None, base
    for k, line in enumerate(b, start=1):
        at += len(line)
        if not full.startswith(tail, at) if tail else line != a[-1]:
            continue
        matched = sum(m.size for m in difflib.SequenceMatcher(None, a, b[:k], autojunk=False).get_matching_blocks())
        cost = len(a) + k - 2 * matched
        if best is None or cost < best[0]:
            best = (cost, at + len(tail))
    return best[1] if best else None


class ChatEncoder:
    """Encodes contract rows with one tokenizer's chat template."""

    def __init__(self, tokenizer, config: MaskConfig | None = None):
        if not getattr(tokenizer, "is_fast", False):
            raise SchemaError(f"tokenizer {type(tokenizer).__name__}", "is not a fast tokenizer, so it has no offsets",
                              "load it with AutoTokenizer.from_pretrained(..., use_fast=True)")
        if not tokenizer.chat_template:
            raise SchemaError(f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r}", "has no chat template",
                              "set tokenizer.chat_template to a template that supports tools")
        self.tokenizer = tokenizer
        self.config = config or MaskConfig()
        self._dict_arguments: bool | None = None

    def render(self, messages: list[dict], tools: list[dict], generation_prompt: bool = False) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tools=tools or None, tokenize=False, add_generation_prompt=generation_prompt,
            **self.config.chat_template_kwargs)

    def _needs_dict_arguments(self) -> bool:
        """Probe once: does the template reject or double-encode string ``arguments``?"""
        if self._dict_arguments is None:
            tool = {"type": "function", "function": {"name": "probe_tool", "description": "",
                                                     "parameters": {"type": "object", "properties": {}}}}
            call = {"type": "function", "function": {"name": "probe_tool", "arguments": json.dumps({_PROBE_ARG: 1})}}
            messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "", "tool_calls": [call]}]
            try:
                text = self.render(messages, [tool])
                self._dict_arguments = f'\\"{_PROBE_ARG}\\"' in text
                if _PROBE_ARG not in text:
                    raise SchemaError("chat template", "does not render assistant tool calls",
                                      "use a tokenizer whose chat template supports tools")
            except SchemaError:
                raise
            except Exception:  # the template insists on a mapping (e.g. GLM-4, LFM2)
                self._dict_arguments = True
            logger.info("chat template takes tool-call arguments as %s", "dicts" if self._dict_arguments else "strings")
        return self._dict_arguments

    def template_messages(self, messages: list[dict], item: str = "row") -> list[dict]:
        """Messages as the template wants them: arguments stay JSON strings unless it needs dicts."""
        if not any(m.get("tool_calls") for m in messages) or not self._needs_dict_arguments():
            return messages
        out = []
        for i, m in enumerate(messages):
            if m.get("tool_calls"):
                calls = []
                for j, c in enumerate(m["tool_calls"]):
                    try:
                        arguments = json.loads(c["function"]["arguments"])
                    except json.JSONDecodeError as exc:
                        raise SchemaError(f"{item} message {i} tool call {j}", f"arguments are not valid JSON ({exc})",
                                          "store arguments as a JSON object string") from None
                    calls.append({**c, "function": {**c["function"], "arguments": arguments}})
                m = {**m, "tool_calls": calls}
            out.append(m)
        return out

    def spans(self, messages: list[dict], tools: list[dict], turns: list[int],
              item: str = "row") -> tuple[str, dict[int, tuple[int, int]]]:
        """The rendered conversation and the character span of each listed assistant turn in it."""
        try:
            full = self.render(messages, tools)
            spans, floor = {}, 0
            for i in sorted(turns):
                start = locate_end(self.render(messages[:i], tools, generation_prompt=True), full)
                end = locate_end(self.render(messages[: i + 1], tools), full)
                if start is None or end is None or not floor <= start < end:
                    raise SchemaError(f"{item} message {i}", "cannot locate this assistant turn in the rendered "
                                      f"conversation (start={start}, end={end})",
                                      "use a chat template that renders earlier turns the same way when turns are added")
                end = start + len(full[start:end].rstrip())
                spans[i] = (start, end)
                floor = end
        except SchemaError:
            raise
        except Exception as exc:  # jinja errors (raise_exception, undefined keys) from the template
            raise SchemaError(item, f"the chat template failed on it ({type(exc).__name__}: {exc})",
                              "fix the row's messages or use a template that accepts them") from exc
        return full, spans

    def encode(self, messages: list[dict], tools: list[dict], turns: list[int], item: str = "row") -> dict[str, Any]:
        messages = self.template_messages(messages, item)
        text, spans = self.spans(messages, tools, turns, item)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], [tuple(o) for o in enc["offset_mapping"]]
        starts = [o[0] for o in offsets]
        labels = [IGNORE_INDEX] * len(ids)
        weights = [0.0] * len(ids)
        names = [t["function"]["name"] for t in tools]
        for i, (a, b) in spans.items():
            lo, hi = bisect.bisect_left(starts, a), bisect.bisect_left(starts, b)
            turn_tokens = [t for t in range(lo, hi) if offsets[t][1] > offsets[t][0]]
            for t in turn_tokens:
                labels[t], weights[t] = ids[t], 1.0
            if self.config.pkt and messages[i].get("tool_calls"):
                chars = key_chars(text, (a, b), messages[i], names, f"{item} message {i}")
                weights_i = turn_weights(offsets, turn_tokens, chars, self.config.w_max, starts)
                for t, w in weights_i.items():
                    weights[t] = w
        if self.config.max_length is not None:
            n = self.config.max_length
            ids, labels, weights = ids[:n], labels[:n], weights[:n]
        return {"input_ids": ids, "labels": labels, "weights": weights}

    def encode_row(self, row: dict, index: int | None = None) -> dict[str, Any]:
        messages, tools, turns = row_conversation(row, index)
        return self.encode(messages, tools, turns, row_name(row, index))

    def encode_dataset(self, dataset, num_proc: int | None = None, desc: str = "Encoding"):
        """Map a contract dataset to ``input_ids``/``labels``/``weights``, dropping rows without loss."""
        encoded = dataset.map(lambda row, idx: self.encode_row(row, idx), with_indices=True,
                              remove_columns=dataset.column_names, num_proc=num_proc, desc=desc)
        kept = encoded.filter(lambda row: any(x != IGNORE_INDEX for x in row["labels"]), num_proc=num_proc,
                              desc="Dropping rows without trained tokens")
        if len(kept) < len(encoded):
            logger.warning("dropped %d of %d rows with no trained token (all turns masked or truncated away)",
                           len(encoded) - len(kept), len(encoded))
        return kept
