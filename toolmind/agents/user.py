"""The user agent (seed 002, A.2.2): pursues the intent a bit at a time and says when it is done.

It sees the conversation from the user's side: its own messages are the ``assistant`` turns of
its request, the assistant's replies are ``user`` turns, and tool traffic is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

from builders.llm import ChatRequest, LLMClient, load_prompt
from builders.schema import Message

ROLE = "user_simulator"
PROMPT = load_prompt(__file__, "../prompts/user_simulator.jinja")


@dataclass(frozen=True)
class UserTurn:
    """The user's next message; ``stop`` when it ended the dialogue, ``ignored_stop`` when a first-turn stop was dropped."""

    content: str | None = None
    stop: bool = False
    ignored_stop: bool = False
    error: str | None = None


def user_view(messages: list[Message], opening: str) -> list[dict]:
    """The conversation with roles flipped and tool traffic left out."""
    view = [{"role": "user", "content": opening}]
    for m in messages:
        if m.role == "user":
            view.append({"role": "assistant", "content": m.content or ""})
        elif m.role == "assistant" and m.content:
            view.append({"role": "user", "content": m.content})
    if view[-1]["role"] != "user":  # the assistant called tools only: nothing new to answer
        view.append({"role": "user", "content": opening})
    return view


def user_request(intent: str, messages: list[Message], item: str, opening: str, stop_token: str) -> ChatRequest:
    system = PROMPT.render(intent=intent, stop_token=stop_token)
    return ChatRequest(messages=[{"role": "system", "content": system}, *user_view(messages, opening)],
                       prompt_version=PROMPT.version, item=item)


async def user_turn(client: LLMClient, intent: str, messages: list[Message], item: str, *,
                    opening: str, stop_token: str) -> UserTurn:
    """The next user message; a stop on the first turn is ignored (the paper forbids it) and reported."""
    result = await client.chat(ROLE, user_request(intent, messages, item, opening, stop_token))
    if not result.ok:
        return UserTurn(error=f"user agent: {result.error}")
    text = (result.content or "").strip()
    first = not any(m.role == "user" for m in messages)
    if stop_token in text:
        if not first:
            return UserTurn(stop=True)
        text = text.replace(stop_token, "").strip()
        if not text:
            return UserTurn(ignored_stop=True, error="user agent: only a stop token on the first turn")
        return UserTurn(content=text, ignored_stop=True)
    if not text:
        return UserTurn(error="user agent: empty reply")
    return UserTurn(content=text)
