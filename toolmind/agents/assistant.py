"""The assistant agent: answers, asks for clarification, or calls the offered tools (several at once if it likes)."""

from __future__ import annotations

from builders.llm import ChatRequest, LLMClient
from builders.schema import Function, Message, ToolCall
from toolmind.agents.common import split_think

ROLE = "assistant"


def assistant_request(messages: list[Message], tools: list[Function], item: str) -> ChatRequest:
    return ChatRequest(messages=list(messages), tools=[f.to_openai() for f in tools], item=item)


def assistant_message(reply: dict, turn: int, used: set[str] | frozenset[str] = frozenset()) -> Message:
    """The reply as a contract message: reasoning apart from content, every call with an id of its own in
    the conversation (``used``: the ids of earlier turns)."""
    content, reasoning = split_think(reply.get("content"), reply.get("reasoning_content"))
    calls, seen = [], set(used)
    for j, raw in enumerate(reply.get("tool_calls") or []):
        call = ToolCall.from_dict(raw)
        # servers that send no ids or the same id for every call, and ids made from the reply text (a model
        # that repeats an earlier turn word for word repeats its ids): renamed by turn and position
        if not call.id or call.id in seen:
            call.id = f"call_{turn}_{j}"
            while call.id in seen:
                call.id += "_"
        seen.add(call.id)
        calls.append(call)
    if content is not None and not content.strip() and calls:
        content = None
    return Message(role="assistant", content=content, reasoning_content=reasoning, tool_calls=calls or None)


async def assistant_turn(client: LLMClient, messages: list[Message], tools: list[Function], item: str,
                         turn: int) -> Message | str:
    """The next assistant message, or the reason there is none."""
    result = await client.chat(ROLE, assistant_request(messages, tools, item))
    if not result.ok:
        return f"assistant: {result.error}"
    used = {c.id for m in messages for c in (m.tool_calls or ())}
    message = assistant_message(result.message, turn, used)
    if not message.tool_calls and not (message.content or "").strip():
        return "assistant: empty reply (no content and no tool calls)"
    return message
