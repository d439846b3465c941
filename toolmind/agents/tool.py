"""The tool agent (seed 002, A.2.3): simulates one call's result as JSON inside ``<func_return>`` tags.

Where the function has an output schema, a result that does not fit it is asked for once more
with the problem named; a second miss is kept and marked, so the card can count ungrounded results.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from builders.llm import ChatRequest, LLMClient, extract_json, load_prompt
from builders.llm.structured import JSONReplyError
from builders.schema import Function, Message, ToolCall, dumps
from toolmind.agents.common import function_info
from toolmind.rules import output_problem

ROLE = "tool_simulator"
PROMPT = load_prompt(__file__, "../prompts/tool_simulator.jinja")
# the paper's own example closes with <func_return> again; accept both
_RETURN_RE = re.compile(r"<func_return>(.*?)(?:</func_return>|<func_return>|$)", re.S)


@dataclass(frozen=True)
class ToolResult:
    message: Message | None = None
    output_problem: str | None = None  # set when the result still missed the output schema after the retry
    error: str | None = None


def parse_func_return(text: str | None):
    """The JSON value inside ``<func_return>`` tags (or the bare JSON a model wrote instead)."""
    m = _RETURN_RE.search(text or "")
    return extract_json(m.group(1) if m else text)


def _is_error(value) -> bool:
    return isinstance(value, dict) and value.get("error") not in (None, "", False)


def tool_request(fn: Function, call: ToolCall, item: str) -> ChatRequest:
    text = PROMPT.render(function_info=json.dumps(function_info(fn), ensure_ascii=False),
                         tool_call=json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False),
                         has_outputs=fn.outputs is not None)
    return ChatRequest(messages=[{"role": "user", "content": text}], prompt_version=PROMPT.version, item=item)


async def tool_result(client: LLMClient, call: ToolCall, functions: dict[str, Function], item: str,
                      retries: int = 1) -> ToolResult:
    """The tool message answering ``call``; an unknown function gets an error object without a request."""
    fn = functions.get(call.name)
    if fn is None:
        body = {"error": f"function {call.name!r} does not exist"}
        return ToolResult(Message(role="tool", content=dumps(body), tool_call_id=call.id, name=call.name))
    request = tool_request(fn, call, item)
    problem = None
    for attempt in range(retries + 1):
        result = await client.chat(ROLE, request)
        if not result.ok:
            return ToolResult(error=f"tool agent ({call.name}): {result.error}")
        try:
            value = parse_func_return(result.content)
        except JSONReplyError as exc:
            return ToolResult(error=f"tool agent ({call.name}): unparseable result, {exc.reason}")
        problem = None if _is_error(value) else output_problem(value, fn.outputs)
        if problem is None or attempt == retries:
            break
        request = ChatRequest(messages=[*request.messages, {"role": "assistant", "content": result.content or ""},
                                        {"role": "user", "content": f"The {problem}. Return the result again, "
                                         "fitting the function's outputs schema, inside <func_return> tags."}],
                              prompt_version=request.prompt_version, item=request.item)
    return ToolResult(Message(role="tool", content=dumps(value), tool_call_id=call.id, name=call.name),
                      output_problem=problem)
