"""The shapes every tool-call reader returns: a call, a parsed model output, and the parse error."""

from __future__ import annotations

import json
from dataclasses import dataclass

from builders.errors import DataError


class ParseError(DataError):
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
