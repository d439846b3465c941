"""What comes back from a chat server, checked and repaired into the one shape callers read.

Servers differ in small ways (content as a list of parts, tool-call arguments as an object,
``content: null`` refused on the way in); this module evens them out in both directions. A body
nothing can read is a ``MalformedResponse``: worth a retry, never a crash or a cache entry.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from builders.schema import Message, dumps
from builders.toolcalls import clean_message


class MalformedResponse(Exception):
    """HTTP 200 whose body is not a chat completion (proxies, overloaded servers): worth a retry."""


def api_messages(messages: Iterable[dict | Message]) -> list[dict]:
    """Messages as servers accept them: cleaned by ``toolcalls.clean_message`` (no null fields,
    tool-call arguments checked JSON strings), no ``reasoning_content``, ``content`` never null.

    llama.cpp answers HTTP 500 to ``content: null`` and OpenAI rejects ``name: null``; every server
    accepts ``""``. Normalising before hashing keeps the cache key stable too. A message that is
    not one (no role, a call without a name, arguments that are not a JSON object) raises
    ``SchemaError`` naming it, which the client turns into a reject of that request.
    """
    out = []
    for i, m in enumerate(messages):
        d = clean_message(m.to_dict() if isinstance(m, Message) else m, f"request message {i}")
        d.pop("reasoning_content", None)
        d.setdefault("content", "")
        out.append(d)
    return out


def parse_completion(body: bytes) -> dict:
    """The server's response, checked (and normalised) by ``check_completion``."""
    try:
        response = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise MalformedResponse(f"not JSON: {body[:80]!r}") from None
    return check_completion(response, body)


def check_completion(response: Any, body: bytes | None = None) -> dict:
    """The completion with ``choices[0].message`` in the shape every caller reads, else ``MalformedResponse``.

    Servers differ: content as a list of text parts (joined here), tool-call ``arguments`` as an
    object (dumped to the JSON string the data contract wants). Shapes nothing can read (int
    content, a dict of tool calls, a call without a function name) are malformed, so they are
    retried and end as rejects instead of crashing the batch or entering the cache.
    """
    choices = response.get("choices") if isinstance(response, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict) \
            or not isinstance(choices[0].get("message"), dict):
        raise MalformedResponse(f"no choices[0].message in {(body or json.dumps(response))[:80]!r}")
    message = choices[0]["message"]
    fixed = _check_message(message)
    if fixed == message:
        return response
    return {**response, "choices": [{**choices[0], "message": fixed}, *choices[1:]]}


def _check_message(message: dict) -> dict:
    where = "choices[0].message"
    out = dict(message)
    content = message.get("content")
    if isinstance(content, list):
        if not all(isinstance(p, dict) and p.get("type", "text") == "text" and isinstance(p.get("text"), str)
                   for p in content):
            raise MalformedResponse(f"{where}.content is a list with non-text parts")
        out["content"] = "".join(p["text"] for p in content)
    elif content is not None and not isinstance(content, str):
        raise MalformedResponse(f"{where}.content is {type(content).__name__}, not text")
    if not isinstance(message.get("reasoning_content"), (str, type(None))):
        raise MalformedResponse(f"{where}.reasoning_content is {type(message['reasoning_content']).__name__}, not text")
    calls = message.get("tool_calls")
    if calls is None:
        return out
    if not isinstance(calls, list):
        raise MalformedResponse(f"{where}.tool_calls is {type(calls).__name__}, not a list")
    out["tool_calls"] = [_check_call(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(calls)]
    return out


def _check_call(call: Any, where: str) -> dict:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict):
        raise MalformedResponse(f"{where} has no function")
    if not isinstance(fn.get("name"), str) or not fn["name"]:
        raise MalformedResponse(f"{where}.function has no name")
    if not isinstance(call.get("id"), (str, type(None))):
        raise MalformedResponse(f"{where}.id is {type(call['id']).__name__}, not text")
    args = fn.get("arguments")
    if isinstance(args, str):
        return call
    if args is None:
        args = "{}"
    elif isinstance(args, dict):
        args = dumps(args)
    else:
        raise MalformedResponse(f"{where}.function.arguments is {type(args).__name__}, not a JSON string or object")
    return {**call, "function": {**fn, "arguments": args}}


def token_count(usage: Any, key: str) -> int:
    """Token counts for the report; servers that send odd usage fields just count nothing."""
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
