"""Read tool calls out of model output, compare them with gold calls, and score single turns.

Everything that judges a generated tool call (the IRM reward, TS / PI / CF, the ITC metrics)
goes through this module, so a call counts as the same call everywhere.

What a model's output may look like (``parse_output`` reads all of these):

* an OpenAI / transformers assistant message ``{"role": "assistant", "content": ...,
  "reasoning_content": ..., "tool_calls": [{"function": {"name", "arguments"}}]}``, or a
  list of such messages (TRL's conversational completions), or a bare list of calls;
* text with ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks, as the
  Qwen / Hermes templates emit (the XML form ``<function=NAME><parameter=KEY>VALUE
  </parameter></function>`` of Qwen3-Coder inside the tags is read too);
* a JSON object or list of objects ``{"name", "arguments" | "parameters"}`` (optionally in a
  Markdown code fence or under a ``"tool_calls"`` key);
* ITC's answer shape ``{"Thought": "...", "Action": [...] | "[f(a='x'), g()]"}``;
* Python-style call lists ``[f(a=1), mod.g(b='x')]`` as BFCL's prompt-style models and ITC's
  ``Action`` strings write them (keys may be quoted, names may hold spaces and dots).

A leading ``<think>...</think>`` block (or text before a lone ``</think>``) is the thought.
Text with no call at all is a plain answer: no calls. Text that tries to be a call and fails
(a broken ``<tool_call>`` block, malformed JSON, a call with a positional argument, arguments
that are not a JSON object) raises ``ParseError``.

Argument values are compared after normalisation: strings stripped, integral floats made
ints, and, where the tool's JSON schema declares a type, strings coerced to that type
(``"5"`` for an integer, ``"true"`` for a boolean, ``"[1, 2]"`` for an array); then the
canonical JSON (sorted keys) of both sides must be equal.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from builders.schema import Function, canonical_json, parse_tools_column


class ParseError(ValueError):
    """The output tries to be a tool call but cannot be read as one."""


@dataclass
class Call:
    name: str
    arguments: dict

    def to_openai(self) -> dict:
        return {"type": "function",
                "function": {"name": self.name, "arguments": json.dumps(self.arguments, ensure_ascii=False)}}


@dataclass
class ParsedOutput:
    calls: list[Call]
    thought: str = ""
    text: str = ""
    format: str = "text"  # openai | tool_call_tags | json | itc | python | text


# ---------------------------------------------------------------------------------------------
# parsing


_THINK_RE = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_TOOL_CALL_RE = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_XML_FUNCTION_RE = re.compile(r"<function=([^>\s]+)>(.*?)(?:</function>|$)", re.DOTALL)
_XML_PARAM_RE = re.compile(r"<parameter=([^>\s]+)>(.*?)(?:</parameter>|$)", re.DOTALL)
_SPECIAL_TOKEN_RE = re.compile(r"<\|[^|<>]{1,40}\|>|</s>|<eos>|<end_of_turn>")
_FENCE_RE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```$", re.DOTALL)
_CALL_START_RE = re.compile(r"^(\[\s*[\w.\- ]+|[A-Za-z_][\w.\-]*)\(")


def parse_output(output: Any) -> ParsedOutput:
    """Read the tool calls, the thought and the plain text out of one model output."""
    if output is None:
        raise ParseError("the output is empty (None)")
    if isinstance(output, str):
        return _parse_text(output)
    if isinstance(output, dict):
        if "role" in output or "tool_calls" in output or "content" in output:
            return _parse_message(output)
        if _is_itc_answer(output):
            return _parse_itc(output)
        return ParsedOutput([_call_from_obj(output, "output")], format="openai")
    if isinstance(output, (list, tuple)):
        if not output:
            return ParsedOutput([], format="openai")
        if all(isinstance(m, dict) and "role" in m for m in output):
            parts = [_parse_message(m) for m in output if m.get("role") == "assistant"]
            if not parts:
                raise ParseError("the output messages hold no assistant message")
            return ParsedOutput([c for p in parts for c in p.calls], "\n".join(p.thought for p in parts if p.thought),
                                "\n".join(p.text for p in parts if p.text), parts[-1].format)
        if all(isinstance(c, dict) for c in output):
            return ParsedOutput([_call_from_obj(c, f"call {i}") for i, c in enumerate(output)], format="openai")
    raise ParseError(f"cannot read tool calls from a {type(output).__name__}; pass text, a message or a list of calls")


def parse_calls(output: Any) -> list[Call]:
    return parse_output(output).calls


def _parse_message(message: dict) -> ParsedOutput:
    thought = (message.get("reasoning_content") or message.get("reasoning") or "").strip()
    calls = message.get("tool_calls")
    if calls:
        return ParsedOutput([_call_from_obj(c, f"tool_calls[{i}]") for i, c in enumerate(calls)], thought,
                            (message.get("content") or "").strip(), "openai")
    parsed = _parse_text(message.get("content") or "")
    if thought:
        parsed.thought = f"{thought}\n{parsed.thought}".strip()
    return parsed


def _parse_text(text: str) -> ParsedOutput:
    text = _SPECIAL_TOKEN_RE.sub("", text)
    thoughts = [t.strip() for t in _THINK_RE.findall(text)]
    text = _THINK_RE.sub("", text)
    if "</think>" in text:  # templates that open <think> in the prompt leave only the closing tag
        head, _, text = text.rpartition("</think>")
        thoughts.append(head.replace("<think>", "").strip())
    thought = "\n".join(t for t in thoughts if t)
    text = text.strip()
    if "<tool_call>" in text:
        calls = [_parse_tool_call_block(b, i) for i, b in enumerate(_TOOL_CALL_RE.findall(text))]
        rest = _TOOL_CALL_RE.sub("", text).replace("</tool_call>", "").strip()
        return ParsedOutput(calls, thought, rest, "tool_call_tags")
    body = text
    fence = _FENCE_RE.match(body)
    if fence:
        body = fence.group(1).strip()
    elif body.startswith(("```json", "json{", "json[")):
        body = body.removeprefix("```json").removeprefix("json").strip().removesuffix("```").strip()
    if body.startswith(("{", "[")):
        try:
            objs, end = _json_values(body)
        except json.JSONDecodeError as exc:
            if body.startswith("[") and _CALL_START_RE.match(body):
                return ParsedOutput(parse_call_syntax(body), thought, "", "python")
            raise ParseError(f"the output looks like JSON but does not parse ({exc})") from None
        parsed = _parse_json_value(objs[0] if len(objs) == 1 else objs)
        parsed.thought = "\n".join(t for t in (thought, parsed.thought) if t)
        parsed.text = body[end:].strip()
        return parsed
    if _CALL_START_RE.match(body):
        return ParsedOutput(parse_call_syntax(body), thought, "", "python")
    return ParsedOutput([], thought, text, "text")


def _json_values(body: str) -> tuple[list[Any], int]:
    """One JSON value, or several objects in a row (tool-call tags a decoder dropped as special)."""
    decoder, objs, pos = json.JSONDecoder(), [], 0
    while True:
        obj, pos = decoder.raw_decode(body, pos)
        objs.append(obj)
        nxt = len(body) - len(body[pos:].lstrip())
        if not isinstance(obj, dict) or body[nxt:nxt + 1] != "{":
            return objs, pos
        pos = nxt


def _parse_tool_call_block(block: str, index: int) -> Call:
    block = block.strip()
    where = f"<tool_call> block {index}"
    if block.startswith("<function="):
        match = _XML_FUNCTION_RE.match(block)
        if not match:
            raise ParseError(f"{where}: malformed <function=...> element")
        args = {k: _xml_value(v) for k, v in _XML_PARAM_RE.findall(match.group(2))}
        return Call(match.group(1), args)
    return _call_from_obj(_json_object(block, where), where)


def _json_object(value: Any, where: str) -> dict:
    """``value``, or the JSON text it holds, as an object: a call and its arguments must be one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ParseError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ParseError(f"{where}: must be a JSON object, got {type(value).__name__}")
    return value


def _xml_value(raw: str) -> Any:
    raw = raw.strip("\n")
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _is_itc_answer(obj: dict) -> bool:
    keys = {k.lower() for k in obj}
    return "action" in keys or "actions" in keys or ("thought" in keys and "name" not in keys)


def _parse_json_value(obj: Any) -> ParsedOutput:
    if isinstance(obj, dict):
        if _is_itc_answer(obj):
            return _parse_itc(obj)
        if "tool_calls" in obj:
            return _parse_message(obj)
        return ParsedOutput([_call_from_obj(obj, "JSON call")], format="json")
    if isinstance(obj, list):
        if not all(isinstance(c, dict) for c in obj):
            raise ParseError("a JSON list of calls must hold only objects")
        return ParsedOutput([_call_from_obj(c, f"JSON call {i}") for i, c in enumerate(obj)], format="json")
    raise ParseError(f"JSON {type(obj).__name__} is not a tool call")


def _parse_itc(obj: dict) -> ParsedOutput:
    lower = {k.lower(): v for k, v in obj.items()}
    thought = lower.get("thought")
    if thought is not None and not isinstance(thought, str):
        raise ParseError(f'"Thought" must be a string, got {type(thought).__name__}')
    action = lower.get("action", lower.get("actions"))
    if action is None:
        raise ParseError('the answer has no "Action"')
    if isinstance(action, str):
        calls = parse_call_syntax(action) if action.strip() else []
    elif isinstance(action, list) and all(isinstance(c, dict) for c in action):
        calls = [_call_from_obj(c, f"Action {i}") for i, c in enumerate(action)]
    elif isinstance(action, dict):
        calls = [_call_from_obj(action, "Action")]
    else:
        raise ParseError(f'"Action" must be a call list or a string of calls, got {type(action).__name__}')
    return ParsedOutput(calls, (thought or "").strip(), "", "itc")


def _call_from_obj(obj: dict, where: str) -> Call:
    if isinstance(obj.get("function"), dict):
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ParseError(f"{where} has no function name")
    args = obj.get("arguments", obj.get("parameters", {}))
    if args is None or args == "":
        args = {}
    return Call(name.strip(), _json_object(args, f"{where} to {name!r}, arguments"))


# -- Python-style call lists ------------------------------------------------------------------

_NUMBER_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_WORD_RE = re.compile(r"[A-Za-z_][\w.]*")
_QUOTES = {"'": "'", '"': '"', "‘": "’‘", "’": "’‘", "“": "”“", "”": "”“"}
_WORDS = {"True": True, "true": True, "False": False, "false": False, "None": None, "null": None}


def parse_call_syntax(text: str) -> list[Call]:
    """Parse ``[f(a=1), g(b='x')]`` (brackets optional) into calls; keyword arguments only."""
    return _CallSyntax(text).calls()


class _CallSyntax:
    def __init__(self, text: str):
        self.s, self.i = text.strip(), 0

    def fail(self, problem: str):
        raise ParseError(f"call syntax at character {self.i} ({self.s[self.i:self.i + 25]!r}): {problem}")

    def ws(self):
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def peek(self) -> str:
        self.ws()
        return self.s[self.i] if self.i < len(self.s) else ""

    def expect(self, char: str):
        if self.peek() != char:
            self.fail(f"expected {char!r}")
        self.i += 1

    def calls(self) -> list[Call]:
        bracket = self.peek() == "["
        if bracket:
            self.i += 1
        out = []
        while self.peek() and not (bracket and self.peek() == "]"):
            out.append(self.call())
            if self.peek() != ",":
                break
            self.i += 1
        if bracket:
            self.expect("]")
        if self.peek():
            self.fail("unexpected text after the calls")
        return out

    def call(self) -> Call:
        j = self.s.find("(", self.i)
        name = self.s[self.i:j].strip().strip("`'\"") if j >= 0 else ""
        if not name or any(c in name for c in "[]{},=:'\""):
            self.fail("expected a function name followed by '('")
        self.i = j + 1
        args: dict[str, Any] = {}
        while self.peek() != ")":
            if not self.peek():
                self.fail("unclosed call")
            key = self.key()
            if self.peek() not in ("=", ":"):
                self.fail(f"positional argument {key!r}: name every argument (key=value)")
            self.i += 1
            args[key] = self.value()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() != ")":
                self.fail("expected ',' or ')'")
        self.i += 1
        return Call(name, args)

    def key(self) -> str:
        if self.peek() in _QUOTES:
            return self.string()
        match = _WORD_RE.match(self.s, self.i)
        if not match:
            self.fail("expected an argument name (positional arguments are not accepted: write key=value)")
        self.i = match.end()
        return match.group(0)

    def string(self) -> str:
        quote = self.s[self.i]
        closers = _QUOTES[quote]
        j = self.i + 1
        while j < len(self.s) and self.s[j] not in closers:
            j += 2 if self.s[j] == "\\" else 1
        if j >= len(self.s):
            self.fail("unterminated string")
        raw, self.i = self.s[self.i:j + 1], j + 1
        if quote in "'\"":
            try:
                return ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                pass
        return raw[1:-1]

    def value(self) -> Any:
        c = self.peek()
        if c in _QUOTES:
            return self.string()
        if c in "[(":
            return self.sequence("]" if c == "[" else ")")
        if c == "{":
            return self.mapping()
        number = _NUMBER_RE.match(self.s, self.i)
        if number and (c.isdigit() or c in "-+."):
            self.i = number.end()
            text = number.group(0)
            return float(text) if any(ch in text for ch in ".eE") else int(text)
        word = _WORD_RE.match(self.s, self.i)
        if not word:
            self.fail("expected a value")
        self.i = word.end()
        if word.group(0) in _WORDS:
            return _WORDS[word.group(0)]
        if self.peek() == "(":  # a nested call or expression: keep its source, as BFCL's decoder does
            start, depth = word.start(), 0
            while self.i < len(self.s):
                depth += {"(": 1, ")": -1}.get(self.s[self.i], 0)
                self.i += 1
                if depth == 0:
                    return self.s[start:self.i]
            self.fail("unclosed nested call")
        return word.group(0)  # a bare name (a variable): its name, as BFCL's decoder does

    def sequence(self, close: str) -> list:
        self.i += 1
        out = []
        while self.peek() != close:
            out.append(self.value())
            if self.peek() == ",":
                self.i += 1
            elif self.peek() != close:
                self.fail(f"expected ',' or {close!r}")
        self.i += 1
        return out

    def mapping(self) -> dict:
        self.i += 1
        out = {}
        while self.peek() != "}":
            key = self.value()
            self.expect(":")
            out[str(key) if not isinstance(key, str) else key] = self.value()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() != "}":
                self.fail("expected ',' or '}'")
        self.i += 1
        return out


# ---------------------------------------------------------------------------------------------
# tools and values


@functools.lru_cache(maxsize=4096)
def _schemas_from_json(tools_json: str) -> dict[str, dict]:
    return {f.name: f.parameters for f in parse_tools_column(tools_json)}


def tool_schemas(tools: Any) -> dict[str, dict]:
    """``{tool name: parameters JSON schema}`` from a tools cell (JSON string or list) or functions."""
    if isinstance(tools, dict):
        return tools
    if tools is None or tools == "":
        return {}
    if isinstance(tools, str):
        return _schemas_from_json(tools)
    if all(isinstance(t, Function) for t in tools):
        return {f.name: f.parameters for f in tools}
    return _schemas_from_json(json.dumps(list(tools), sort_keys=True))


def _declared_type(schema: dict | None) -> str | None:
    if not isinstance(schema, dict):
        return None
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    return t


def normalize_value(value: Any, schema: dict | None = None) -> Any:
    """The comparable form of an argument value (see the module docstring)."""
    kind = _declared_type(schema)
    if isinstance(value, str):
        value = value.strip()
        if kind in ("integer", "number"):
            try:
                value = float(value)
            except ValueError:
                pass
        elif kind == "boolean" and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        elif kind in ("array", "object") and value[:1] in ("[", "{"):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        props = (schema or {}).get("properties") or {}
        return {str(k): normalize_value(v, props.get(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = (schema or {}).get("items")
        return [normalize_value(v, items if isinstance(items, dict) else None) for v in value]
    return value


def values_equal(a: Any, b: Any, schema: dict | None = None) -> bool:
    return canonical_json(normalize_value(a, schema)) == canonical_json(normalize_value(b, schema))


def value_key(value: Any, schema: dict | None = None) -> str:
    """A hashable form of a normalised value, for counting (tool, key, value) triples."""
    return canonical_json(normalize_value(value, schema))


@dataclass
class ArgDiff:
    """How a call's argument names and values differ from the gold call to the same tool."""

    hallucinated: set[str] = field(default_factory=set)  # not a parameter of the tool
    redundant: set[str] = field(default_factory=set)  # a real parameter the gold call does not use
    missing: set[str] = field(default_factory=set)  # a gold argument not given
    wrong_values: set[str] = field(default_factory=set)  # given with both names, different values

    @property
    def same_names(self) -> bool:
        return not (self.hallucinated or self.redundant or self.missing)

    @property
    def exact(self) -> bool:
        return self.same_names and not self.wrong_values


def argument_diff(generated: Call, gold: Call, parameters: dict | None) -> ArgDiff:
    """Compare two calls' arguments; gold argument names always count as real parameters."""
    props = (parameters or {}).get("properties") or {}
    known = set(props) | set(gold.arguments)
    given, wanted = set(generated.arguments), set(gold.arguments)
    wrong = {k for k in given & wanted if not values_equal(generated.arguments[k], gold.arguments[k], props.get(k))}
    return ArgDiff(given - known, (given & known) - wanted, wanted - given, wrong)


# ---------------------------------------------------------------------------------------------
# matching and single-turn metrics


def _affinity(generated: Call, gold: Call, schemas: dict[str, dict]) -> tuple:
    if generated.name != gold.name:
        return (0,)
    diff = argument_diff(generated, gold, schemas.get(gold.name))
    shared = set(generated.arguments) & set(gold.arguments)
    return (1, len(shared) - len(diff.wrong_values), len(shared),
            -len(diff.hallucinated | diff.redundant | diff.missing))


def match_calls(generated: Sequence[Call], gold: Sequence[Call], schemas: dict[str, dict] | None = None,
                affinity: Callable[[Call, Call, dict], tuple] | None = None
                ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pair generated with gold calls, best pairs first (same name, then most equal arguments).

    Returns (pairs of (generated index, gold index), unmatched generated, unmatched gold).
    Greedy on the affinity, ties by position, so the result is deterministic.
    """
    schemas = schemas or {}
    affinity = affinity or _affinity
    ranked = sorted(((affinity(g, d, schemas), -i, -j, i, j) for i, g in enumerate(generated)
                     for j, d in enumerate(gold)), reverse=True)
    pairs, used_g, used_d = [], set(), set()
    for *_, i, j in ranked:
        if i not in used_g and j not in used_d:
            pairs.append((i, j))
            used_g.add(i)
            used_d.add(j)
    pairs.sort(key=lambda p: p[1])
    return (pairs, [i for i in range(len(generated)) if i not in used_g],
            [j for j in range(len(gold)) if j not in used_d])


def gold_calls(value: Any) -> list[Call]:
    """Gold calls from a completion (messages), an ``actions`` list, a JSON string of either, or calls."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    if isinstance(value, list) and all(isinstance(c, Call) for c in value):
        return list(value)
    try:
        return parse_calls(value)
    except ParseError as exc:
        raise ParseError(f"gold calls cannot be read: {exc}") from None


def single_turn_metrics(generated: Sequence[Call] | None, gold: Sequence[Call], tools: Any = None) -> dict[str, bool]:
    """TS / PI / CF of one turn (TL-Training section 4.3, after RoTBench).

    TS: the calls name exactly the gold tools; PI: and each uses exactly the gold argument
    names; CF: and every value is right. ``generated=None`` (unparseable output) fails all three.
    """
    if generated is None or len(generated) != len(gold):
        return {"ts": False, "pi": False, "cf": False}
    schemas = tool_schemas(tools)
    pairs, _, _ = match_calls(generated, gold, schemas)
    ts = all(generated[i].name == gold[j].name for i, j in pairs)
    diffs = [argument_diff(generated[i], gold[j], schemas.get(gold[j].name)) for i, j in pairs]
    pi = ts and all(d.same_names for d in diffs)
    cf = pi and all(d.exact for d in diffs)
    return {"ts": ts, "pi": pi, "cf": cf}


def aggregate_single_turn(results: Iterable[dict[str, bool]]) -> dict[str, float]:
    """Share of turns passing TS, PI and CF."""
    results = list(results)
    return {"n": len(results), **{k.upper(): mean(float(r[k]) for r in results) for k in ("ts", "pi", "cf")}}


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0
