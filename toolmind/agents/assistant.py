"""The assistant agent: answers, asks for clarification, or calls the offered tools (several at once if it likes)."""

from __future__ import annotations

from builders.llm import ChatRequest, LLMClient
from builders.schema import Function, Message, ToolCall
from toolmind.agents.common import split_think

ROLE = "assistant"


def assistant_request(messages: list[Message], tools: list[Function], item: str) -> ChatRequest:
    return ChatRequest(messages=list(messages), tools=[f.to_openai() for f in tools], item=item)


def assistant_message(reply: dict, turn: int) -> Message:
    """The reply as a contract message: reasoning apart from content, every call with its own id."""
    content, reasoning = split_think(reply.get("content"), reply.get("reasoning_content"))
    calls, seen = [], set()
    for j, raw in enumerate(reply.get("tool_calls") or []):
        call = ToolCall.from_dict(raw)
        if not call.id or call.id in seen:  # servers that send no ids, or the same id for every call
            call.id = f"call_{turn}_{j}"
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
    message = assistant_message(result.message, turn)
    if not message.tool_calls and not (message.content or "").strip():
        return "assistant: empty reply (no content and no tool calls)"
    return message
