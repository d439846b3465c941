"""Contract rows -> ``input_ids``, ``labels`` and per-token ``weights`` for any tool-capable chat template.

How an assistant turn's span is found, for any template: the whole conversation is rendered once
(``full``). The turn starts where ``messages[:i]`` rendered *without* the generation prompt ends,
mapped into ``full``, advanced over as much of the generation prompt's own text as ``full``
repeats there: thinking templates (DeepSeek-V3, Qwen3.5, Nemotron 3) end that prompt with
``<think>\n`` or a whole empty think block, which ``full`` renders differently or not at all for
earlier turns, so what the model writes after the prompt is what is trained. The turn ends where
``messages[:i + 1]`` rendered alone ends, mapped into ``full``, minus trailing whitespace (the
template's separator, which the model never generates); a last turn closed by its own marker
(GPT-OSS ``<|return|>`` where earlier turns get ``<|end|>``) ends at the marker ``full`` has.

When a rendering is a prefix of ``full`` the mapping is its length. Some templates change earlier
text when messages are added (Qwen3 and Gemma 4 drop the reasoning of turns before the last user
query), so otherwise the two texts are aligned piece by piece (lines, also cut after each markup
tag) past their common prefix: among the places in ``full`` where the rendering's last piece (or
its unfinished tail) recurs, the one whose preceding pieces match the rendering best (difflib,
fewest unmatched pieces) is taken; a turn that cannot be aligned is an error naming the row.
Tokens come from the tokenizer's offset mapping on ``full``: a token is trained when its first
character lies inside a trained span. Nothing is searched for in decoded text.

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
from training.data import call_arguments, row_conversation, row_name
from training.pkt import W_MAX, key_chars, turn_weights

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
_NEWLINE = re.compile(r"\n")
_PROBE_ARG = "probe_argument_name"
_TRAINED = "_has_trained_token"
_SHOWN = 5  # dropped rows named in the log
# a template's markup: special tokens such as <|im_end|> or <｜Assistant｜>, tags such as <think>, [INST]
_MARKER = re.compile(r"<[^<>\s]{1,40}>|\[[^\[\]\s]{1,40}\]")
_CLOSING_MARKER = re.compile(rf"(?:{_MARKER.pattern})$")


@dataclass
class MaskConfig:
    """How rows become training sequences."""

    max_length: int | None = None  # keep the first max_length tokens; rows left without loss are dropped
    pkt: bool = True  # weight key tokens (PKT); off: every trained token weighs 1
    w_max: float = W_MAX
    chat_template_kwargs: dict = field(default_factory=dict)  # e.g. {"enable_thinking": False}


def _cuts(text: str) -> list[int]:
    """Where ``text`` splits into pieces: after each line end and after each markup tag."""
    return sorted({m.end() for m in _NEWLINE.finditer(text)} | {m.end() for m in _MARKER.finditer(text)})


def _pieces(text: str) -> list[str]:
    bounds = [0, *_cuts(text), len(text)]
    return [text[i:j] for i, j in zip(bounds, bounds[1:]) if j > i]


def _complete(piece: str) -> bool:
    return piece.endswith("\n") or _CLOSING_MARKER.search(piece) is not None


def locate_end(prefix: str, full: str) -> int | None:
    """Position in ``full`` that corresponds to the end of ``prefix``, a rendering of fewer messages.

    Past their common prefix the two texts are compared piece by piece (lines, also cut after
    each markup tag, so templates without newlines such as GPT-OSS align too): the end of
    ``prefix`` maps to a piece end of ``full`` followed by its unfinished last piece (or, when it
    ends on a complete piece, the end of a piece equal to its last one): the candidate that leaves
    the fewest pieces unmatched between the two (difflib matching blocks).
    """
    if full.startswith(prefix):
        return len(prefix)
    same = len(os.path.commonprefix([prefix, full]))
    base = max((c for c in _cuts(prefix) if c <= same), default=0)  # both texts are identical up to here
    a, b = _pieces(prefix[base:]), _pieces(full[base:])
    tail = a.pop() if a and not _complete(a[-1]) else ""
    if not a:
        return None
    best, at = None, base
    for k, piece in enumerate(b, start=1):
        if best is not None and k - len(a) >= best[0]:  # cost >= k - len(a): no later candidate can do better
            break
        at += len(piece)
        if not full.startswith(tail, at) if tail else piece != a[-1]:
            continue
        matched = sum(m.size for m in difflib.SequenceMatcher(None, a, b[:k], autojunk=False).get_matching_blocks())
        cost = len(a) + k - 2 * matched
        if best is None or cost < best[0]:
            best = (cost, at + len(tail))
    return best[1] if best else None


def prompt_overlap(suffix: str, full: str, at: int) -> int:
    """How much of the generation prompt's own text ``suffix`` ``full`` repeats at ``at``.

    A partial match stops at the last line end or markup tag inside it, so that a tag the turn
    opens itself (``<tool_call>`` where the prompt has ``<think>``) is not cut in two.
    """
    n = len(os.path.commonprefix([suffix, full[at: at + len(suffix)]]))
    if n == len(suffix):
        return n
    while n > 0 and not suffix[n - 1].isspace() and not _CLOSING_MARKER.search(suffix, 0, n):
        n -= 1
    return n


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

    def _needs_dict_arguments(self, item: str = "row") -> bool:
        """Probe once: should tool-call ``arguments`` reach the template as dicts rather than JSON strings?

        Dicts where the template rejects strings or prints them double-encoded (Qwen2.5, Llama 3.1)
        or garbled (Gemma 4's ``{{...}}``); strings where it rejects dicts (DeepSeek-V3) or prints
        both the same, which keeps the stored text.
        """
        if self._dict_arguments is None:
            tool = {"type": "function", "function": {"name": "probe_tool", "description": "",
                                                     "parameters": {"type": "object", "properties": {}}}}
            texts: dict[bool, str | Exception] = {}
            for as_dict in (False, True):
                args = {_PROBE_ARG: 1} if as_dict else json.dumps({_PROBE_ARG: 1})
                call = {"type": "function", "function": {"name": "probe_tool", "arguments": args}}
                messages = [{"role": "user", "content": "hi"},
                            {"role": "assistant", "content": "", "tool_calls": [call]}]
                try:
                    texts[as_dict] = self.render(messages, [tool])
                except Exception as exc:  # the template insists on one form (GLM-4, LFM2 / DeepSeek-V3)
                    texts[as_dict] = exc
            as_str, as_dict = texts[False], texts[True]
            if isinstance(as_str, Exception) and isinstance(as_dict, Exception):
                raise SchemaError(f"{item}: chat template", f"fails on a plain tool-call conversation "
                                  f"({type(as_str).__name__}: {as_str})",
                                  "use a tokenizer whose chat template supports tools and text messages")
            if not any(isinstance(t, str) and _PROBE_ARG in t for t in (as_str, as_dict)):
                raise SchemaError(f"{item}: chat template", "does not render assistant tool calls",
                                  "use a tokenizer whose chat template supports tools")
            if isinstance(as_str, Exception) or isinstance(as_dict, Exception):
                self._dict_arguments = isinstance(as_str, Exception)
            else:
                self._dict_arguments = (f'\\"{_PROBE_ARG}\\"' in as_str
                                        or (as_str != as_dict and f"'{_PROBE_ARG}'" not in as_dict))
            logger.info("chat template takes tool-call arguments as %s", "dicts" if self._dict_arguments else "strings")
        return self._dict_arguments

    def template_messages(self, messages: list[dict], item: str = "row") -> list[dict]:
        """Messages as the template wants them: arguments stay JSON strings unless it needs dicts."""
        if not any(m.get("tool_calls") for m in messages) or not self._needs_dict_arguments(item):
            return messages
        out = []
        for i, m in enumerate(messages):
            if m.get("tool_calls"):
                m = {**m, "tool_calls": [
                    {**c, "function": {**c["function"], "arguments": call_arguments(
                        c["function"].get("arguments"), f"{item} message {i} tool call {j}")}}
                    for j, c in enumerate(m["tool_calls"])]}
            out.append(m)
        return out

    def spans(self, messages: list[dict], tools: list[dict], turns: list[int],
              item: str = "row") -> tuple[str, dict[int, tuple[int, int]]]:
        """The rendered conversation and the character span of each listed assistant turn in it."""
        try:
            full = self.render(messages, tools)
            spans, floor = {}, 0
            for i in sorted(turns):
                start = self._turn_start(messages[:i], tools, full)
                end = self._turn_end(self.render(messages[: i + 1], tools), full)
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

    def _turn_start(self, before: list[dict], tools: list[dict], full: str) -> int | None:
        """Where the turn after ``before`` starts in ``full``: past the generation prompt, as far as ``full`` has it.

        Thinking templates end the generation prompt with an opened ``<think>`` (or a whole empty
        think block) that the full conversation renders differently, or not at all, for earlier
        turns; so the prompt is mapped without it, then advanced over the part ``full`` repeats.
        """
        head = self.render(before, tools)
        at = locate_end(head, full)
        if at is None:
            return None
        prompt = self.render(before, tools, generation_prompt=True)
        return at + prompt_overlap(prompt[len(os.path.commonprefix([head, prompt])):], full, at)

    @staticmethod
    def _turn_end(rendered: str, full: str) -> int | None:
        """Where the rendering that ends with the turn ends in ``full``.

        A template may close the last turn with its own marker (GPT-OSS ``<|return|>``, where
        earlier turns get ``<|end|>``): then the text before the marker is mapped, plus the marker
        ``full`` has there.
        """
        end = locate_end(rendered, full)
        closing = _CLOSING_MARKER.search(rendered.rstrip())
        if end is None and closing is not None:
            end = locate_end(rendered[: closing.start()], full)
            marker = _MARKER.match(full, end) if end is not None else None
            end = marker.end() if marker else end
        return end

    def encode(self, messages: list[dict], tools: list[dict], turns: list[int], item: str = "row") -> dict[str, Any]:
        """Token ids, labels and weights; ``max_length`` cuts before PKT weighs, so weights fit what is kept."""
        messages = self.template_messages(messages, item)
        text, spans = self.spans(messages, tools, turns, item)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        n = len(enc["input_ids"]) if self.config.max_length is None else self.config.max_length
        ids, offsets = enc["input_ids"][:n], [tuple(o) for o in enc["offset_mapping"][:n]]
        starts = [o[0] for o in offsets]
        labels = [IGNORE_INDEX] * len(ids)
        weights = [0.0] * len(ids)
        names = [t["function"]["name"] for t in tools]
        for i, (a, b) in spans.items():
            lo, hi = bisect.bisect_left(starts, a), bisect.bisect_left(starts, b)
            turn_tokens = [t for t in range(lo, hi) if offsets[t][1] > offsets[t][0]]
            for t in turn_tokens:
                labels[t], weights[t] = ids[t], 1.0
            if self.config.pkt and turn_tokens and messages[i].get("tool_calls"):
                chars = key_chars(text, (a, b), messages[i], names, f"{item} message {i}")
                weights_i = turn_weights(offsets, turn_tokens, chars, self.config.w_max, starts)
                for t, w in weights_i.items():
                    weights[t] = w
        return {"input_ids": ids, "labels": labels, "weights": weights}

    def encode_row(self, row: dict, index: int | None = None) -> dict[str, Any]:
        messages, tools, turns = row_conversation(row, index)
        return self.encode(messages, tools, turns, row_name(row, index))

    def encode_dataset(self, dataset, num_proc: int | None = None, desc: str = "Encoding"):
        """Map a contract dataset to ``input_ids``/``labels``/``weights``, dropping rows without loss."""
        def encode(row, index):
            out = self.encode_row(row, index)
            return out | {_TRAINED: any(x != IGNORE_INDEX for x in out["labels"])}

        encoded = dataset.map(encode, with_indices=True, remove_columns=dataset.column_names, num_proc=num_proc,
                              desc=desc)
        trained = encoded[_TRAINED]
        encoded = encoded.remove_columns(_TRAINED)
        dropped = [i for i, keep in enumerate(trained) if not keep]
        if not dropped:
            return encoded
        logger.warning("dropped %d of %d rows with no trained token (all turns masked or truncated away), e.g. %s",
                       len(dropped), len(encoded), ", ".join(row_name(dataset[i], i) for i in dropped[:_SHOWN]))
        return encoded.select([i for i, keep in enumerate(trained) if keep])
