"""Read tool calls out of any model output or data record, the same way for every caller.

What an output may look like (``parse_output`` reads all of these):

* an OpenAI / transformers assistant message ``{"role": "assistant", "content": ...,
  "reasoning_content": ..., "tool_calls": [{"function": {"name", "arguments"}}]}``, or a
  list of such messages (TRL's conversational completions), or a bare list of calls;
* text with ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks, as the
  Qwen / Hermes templates emit (Qwen3-Coder's ``<function=NAME><parameter=KEY>VALUE
  </parameter></function>`` inside the tags is read too);
* a JSON object or list of objects ``{"name", "arguments" | "parameters"}`` (optionally in a
  Markdown code fence or under a ``"tool_calls"`` key);
* ITC's answer shape ``{"Thought": "...", "Action": [...] | "[f(a='x'), g()]"}``;
* Python-style call lists ``[f(a=1), mod.g(b='x')]`` (see ``pycalls``).

Text with no call at all is a plain answer: no calls. Text that tries to be a call and fails
raises ``ParseError`` (a ``DataError``: item, problem, fix).
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from builders.schema import MAX_DEPTH, Function, parse_tools_column, too_deep

from .calls import Call, ParsedOutput, ParseError
from .extract import json_values, loads, split_thought, strip_fence
from .pycalls import parse_python_calls

_TOOL_CALL_RE = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_XML_FUNCTION_RE = re.compile(r"<function=([^>\s]+)>(.*?)(?:</function>|$)", re.DOTALL)
_XML_PARAM_RE = re.compile(r"<parameter=([^>\s]+)>(.*?)(?:</parameter>|$)", re.DOTALL)
_CALL_START_RE = re.compile(r"^(\[\s*[\w.\- ]+|[A-Za-z_][\w.\-]*)\(")
_ITEM = "model output"
_CALL_FIX = 'write each call as {"name": ..., "arguments": {...}} or as [func(arg=value)]'


def param_order(tools: Any) -> dict[str, list[str]]:
    """``{tool name: parameter names in order}`` from functions, OpenAI tools (list or JSON) or schemas."""
    if not tools:
        return {}
    if isinstance(tools, Mapping):
        return {n: v.input_names if isinstance(v, Function) else _names(v.get("properties"))
                for n, v in tools.items() if isinstance(v, (Function, Mapping))}
    if not isinstance(tools, (str, list, tuple)):
        return {}
    if all(isinstance(t, Function) for t in tools):
        return {f.name: f.input_names for f in tools}
    return {f.name: f.input_names for f in parse_tools_column(tools if isinstance(tools, str) else list(tools))}


def _names(props: Any) -> list[str]:
    return list(props) if isinstance(props, Mapping) else []


def parse_output(output: Any, tools: Any = None) -> ParsedOutput:
    """Read the tool calls, the thought and the plain text out of one model output.

    ``tools`` (optional) gives the parameter order that positional arguments are mapped through.
    """
    return _Parser(param_order(tools)).output(output)


def parse_calls(output: Any, tools: Any = None) -> list[Call]:
    return parse_output(output, tools).calls


def calls_from_text(text: str | None, tools: Any) -> list[dict]:
    """OpenAI-shaped calls recovered from reply text (bare or fenced JSON, ``<tool_call>`` tags).

    Only calls to declared tools count: a JSON answer that merely looks like a call is not one.
    Returns ``[]`` when the text holds no call, raises ``ParseError`` when it holds a broken one.
    """
    if not isinstance(text, str) or not text.strip():
        return []
    declared = param_order(tools)
    parsed = _Parser(declared).text(text)
    if parsed.format not in ("json", "tool_call_tags", "python") or \
            not all(c.name in declared for c in parsed.calls):
        return []
    return [{"id": f"call_{i}", **c.to_openai()} for i, c in enumerate(parsed.calls)]


class _Parser:
    def __init__(self, params: dict[str, list[str]]):
        self.params = params

    def output(self, output: Any) -> ParsedOutput:
        if output is None:
            raise ParseError(_ITEM, "is empty (None)", "pass the model's reply text or message")
        if too_deep(output):
            raise ParseError(_ITEM, f"is nested more than {MAX_DEPTH} levels deep", "pass one message or list of calls")
        if isinstance(output, str):
            return self.text(output)
        if isinstance(output, dict):
            if "role" in output or "tool_calls" in output or "content" in output:
                return self.message(output)
            if _is_itc_answer(output):
                return self.itc(output)
            return ParsedOutput([self.call_obj(output, "output")], format="openai")
        if isinstance(output, (list, tuple)):
            if not output:
                return ParsedOutput([], format="openai")
            if all(isinstance(m, dict) and "role" in m for m in output):
                parts = [self.message(m) for m in output if m.get("role") == "assistant"]
                if not parts:
                    raise ParseError(_ITEM, "holds no assistant message", "pass the assistant turn(s)")
                return ParsedOutput([c for p in parts for c in p.calls],
                                    "\n".join(p.thought for p in parts if p.thought),
                                    "\n".join(p.text for p in parts if p.text), parts[-1].format)
            if all(isinstance(c, dict) for c in output):
                return ParsedOutput([self.call_obj(c, f"call {i}") for i, c in enumerate(output)], format="openai")
        raise ParseError(_ITEM, f"cannot hold tool calls as a {type(output).__name__}",
                         "pass text, a message or a list of calls")

    def message(self, message: dict) -> ParsedOutput:
        thought = _text(message.get("reasoning_content") or message.get("reasoning"), "reasoning_content").strip()
        content = _text(message.get("content"), "content")
        calls = message.get("tool_calls")
        if calls:
            if not isinstance(calls, list):
                raise ParseError(_ITEM, f"tool_calls must be a list, got {type(calls).__name__}", _CALL_FIX)
            return ParsedOutput([self.call_obj(c, f"tool_calls[{i}]") for i, c in enumerate(calls)], thought,
                                content.strip(), "openai")
        parsed = self.text(content)
        if thought:
            parsed.thought = f"{thought}\n{parsed.thought}".strip()
        return parsed

    def text(self, text: str) -> ParsedOutput:
        thought, text = split_thought(text)
        if "<tool_call>" in text:
            calls = [self.tool_call_block(b, i) for i, b in enumerate(_TOOL_CALL_RE.findall(text))]
            rest = _TOOL_CALL_RE.sub("", text).replace("</tool_call>", "").strip()
            return ParsedOutput(calls, thought, rest, "tool_call_tags")
        body = strip_fence(text)
        if body.startswith(("{", "[")):
            try:
                objs, end = json_values(body)
            except json.JSONDecodeError as exc:
                if body.startswith("[") and _CALL_START_RE.match(body):
                    return ParsedOutput(self.python(body), thought, "", "python")
                raise ParseError(_ITEM, f"looks like JSON but does not parse ({exc})", _CALL_FIX) from None
            parsed = self.json_value(objs[0] if len(objs) == 1 else objs)
            parsed.thought = "\n".join(t for t in (thought, parsed.thought) if t)
            parsed.text = body[end:].strip()
            return parsed
        if _CALL_START_RE.match(body):
            return ParsedOutput(self.python(body), thought, "", "python")
        return ParsedOutput([], thought, text, "text")

    def python(self, text: str) -> list[Call]:
        return parse_python_calls(text, self.params, _ITEM)

    def tool_call_block(self, block: str, index: int) -> Call:
        block = block.strip()
        where = f"<tool_call> block {index}"
        if block.startswith("<function="):
            match = _XML_FUNCTION_RE.match(block)
            if not match:
                raise ParseError(_ITEM, f"{where}: malformed <function=...> element",
                                 "write <function=NAME><parameter=KEY>VALUE</parameter></function>")
            return Call(match.group(1), {k: _xml_value(v) for k, v in _XML_PARAM_RE.findall(match.group(2))})
        return self.call_obj(_json_object(block, where), where)

    def json_value(self, obj: Any) -> ParsedOutput:
        if isinstance(obj, dict):
            if _is_itc_answer(obj):
                return self.itc(obj)
            if "tool_calls" in obj:
                return self.message(obj)
            return ParsedOutput([self.call_obj(obj, "JSON call")], format="json")
        if isinstance(obj, list):
            if not all(isinstance(c, dict) for c in obj):
                raise ParseError(_ITEM, "a JSON list of calls must hold only objects", _CALL_FIX)
            return ParsedOutput([self.call_obj(c, f"JSON call {i}") for i, c in enumerate(obj)], format="json")
        raise ParseError(_ITEM, f"JSON {type(obj).__name__} is not a tool call", _CALL_FIX)

    def itc(self, obj: dict) -> ParsedOutput:
        lower = {k.lower(): v for k, v in obj.items() if isinstance(k, str)}
        thought = lower.get("thought")
        if thought is not None and not isinstance(thought, str):
            raise ParseError(_ITEM, f'"Thought" must be a string, got {type(thought).__name__}', "write the thought as text")
        action = lower.get("action", lower.get("actions"))
        if action is None:
            raise ParseError(_ITEM, 'the answer has no "Action"', 'give "Action": [calls] or "[f(a=1)]"')
        if isinstance(action, str):
            calls = self.python(action) if action.strip() else []
        elif isinstance(action, list) and all(isinstance(c, dict) for c in action):
            calls = [self.call_obj(c, f"Action {i}") for i, c in enumerate(action)]
        elif isinstance(action, dict):
            calls = [self.call_obj(action, "Action")]
        else:
            raise ParseError(_ITEM, f'"Action" must be a call list or a string of calls, got {type(action).__name__}',
                             'give "Action": [calls] or "[f(a=1)]"')
        return ParsedOutput(calls, (thought or "").strip(), "", "itc")

    def call_obj(self, obj: Any, where: str) -> Call:
        if not isinstance(obj, dict):
            raise ParseError(_ITEM, f"{where} must be an object, got {type(obj).__name__}", _CALL_FIX)
        if isinstance(obj.get("function"), dict):
            obj = obj["function"]
        name = obj.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ParseError(_ITEM, f"{where} has no function name", _CALL_FIX)
        args = obj.get("arguments", obj.get("parameters", {}))
        if args is None or args == "":
            args = {}
        return Call(name.strip(), _json_object(args, f"{where} to {name.strip()!r}, arguments"))


def _text(value: Any, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParseError(_ITEM, f"{key} must be text, got {type(value).__name__}", "store the message text as a string")
    return value


def _json_object(value: Any, where: str) -> dict:
    """``value``, or the JSON text it holds, as an object: a call and its arguments must be one."""
    if isinstance(value, str):
        try:
            value = loads(value)
        except json.JSONDecodeError as exc:
            raise ParseError(_ITEM, f"{where}: not valid JSON ({exc})", _CALL_FIX) from None
    if not isinstance(value, dict):
        raise ParseError(_ITEM, f"{where}: must be a JSON object, got {type(value).__name__}", _CALL_FIX)
    return value


def _xml_value(raw: str) -> Any:
    raw = raw.strip("\n")
    try:
        return loads(raw)
    except json.JSONDecodeError:
        return raw


def _is_itc_answer(obj: dict) -> bool:
    keys = {k.lower() for k in obj if isinstance(k, str)}
    return "action" in keys or "actions" in keys or ("thought" in keys and "name" not in keys)
