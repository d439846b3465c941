"""What one chat request is, and what comes back: a chat reply or a checked JSON value.

Results never raise: a failed request carries ``error`` (the reason that lands in the rejects
file) instead of a response, so one bad item cannot stop a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

from builders.schema import Message, ToolCall


@dataclass
class ChatRequest:
    """One chat completion. ``sampling`` overrides the role's settings; ``item`` names it in rejects."""

    messages: Sequence[dict | Message]
    tools: list[dict] | None = None
    tool_choice: Any = None
    response_format: dict | None = None
    sampling: dict | None = None
    prompt_version: str = ""
    item: str | None = None


@dataclass
class ChatResult:
    item: str
    response: dict | None = None
    error: str | None = None
    cached: bool = False
    attempts: int = 0
    key: str = ""

    @property
    def ok(self) -> bool:
        return self.response is not None

    @property
    def message(self) -> dict:
        return self.response["choices"][0]["message"] if self.ok else {}

    @property
    def content(self) -> str | None:
        return self.message.get("content")

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [ToolCall.from_dict(c) for c in self.message.get("tool_calls") or []]

    @property
    def finish_reason(self) -> str | None:
        return self.response["choices"][0].get("finish_reason") if self.ok else None

    def to_message(self) -> Message:
        """The reply as a data-model message (``reasoning_content`` kept apart, as the contract wants)."""
        m = self.message
        return Message(role="assistant", content=m.get("content"), reasoning_content=m.get("reasoning_content"),
                       tool_calls=self.tool_calls or None)


@dataclass
class JSONResult:
    item: str
    value: Any = None
    error: str | None = None
    chat: ChatResult | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def as_request(request: ChatRequest | Sequence[dict | Message], **fields) -> ChatRequest:
    if isinstance(request, ChatRequest):
        return replace(request, **fields) if fields else request
    return ChatRequest(messages=request, **fields)


def numbered(role: str, requests: Iterable[ChatRequest | Sequence[dict | Message]]) -> list[ChatRequest]:
    """Requests with an item name (``role[i]``) for the rejects file where the caller gave none."""
    out = [as_request(r) for r in requests]
    return [r if r.item else replace(r, item=f"{role}[{i}]") for i, r in enumerate(out)]
