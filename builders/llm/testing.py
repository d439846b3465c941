"""A scripted OpenAI-compatible chat server on loopback, for tests and benchmarks of every LLM step.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length) for the official ``openai`` client,
so tests run the real client path: connection pool, status handling, timeouts. Replies are
deterministic functions of the request unless a test scripts faults (429 with ``Retry-After``,
5xx, slow replies, dropped connections, broken bodies) for the next requests. Built on asyncio
streams so it serves hundreds of concurrent requests without becoming the bottleneck.

Step tests get a client on it with ``LLMClient(loopback_config(server.base_url), progress=False)``.
Run it standalone (the benchmark does, to keep its CPU apart from the client's)::

    python -m builders.llm.testing --latency 0.1     # prints the base URL, serves until killed
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Callable

from builders.schema import canonical_json


@dataclass
class Reply:
    """One scripted answer. ``content``/``tool_calls`` replace the default echo; ``body`` sends raw text."""

    status: int = 200
    content: str | None = None
    tool_calls: list[dict] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: str | None = None
    drop: bool = False  # close the connection without answering


def echo_reply(request: dict) -> Reply:
    """The default answer: derived only from the request, so reruns see identical replies."""
    last = request["messages"][-1].get("content") if request.get("messages") else ""
    if isinstance(last, list):
        last = " ".join(p.get("text", "") for p in last if isinstance(p, dict))
    choice = request.get("tool_choice")
    if isinstance(choice, dict):
        name = choice["function"]["name"]
        return Reply(tool_calls=[{"id": "call_0", "type": "function",
                                  "function": {"name": name, "arguments": json.dumps({"echo": last})}}])
    if request.get("response_format") or "JSON" in str(last):
        return Reply(content=json.dumps({"echo": last}))
    return Reply(content=f"echo: {last}")


def completion_body(request: dict, reply: Reply) -> dict:
    digest = hashlib.sha256(canonical_json(request).encode()).hexdigest()
    message = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    words = sum(len(str(m.get("content") or "").split()) for m in request.get("messages", []))
    completion_words = len((reply.content or "").split()) + (len(json.dumps(reply.tool_calls).split()) if reply.tool_calls else 0)
    return {"id": f"chatcmpl-{digest[:16]}", "object": "chat.completion", "created": 0,
            "model": request.get("model", "fake"),
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
            "usage": {"prompt_tokens": words, "completion_tokens": completion_words,
                      "total_tokens": words + completion_words}}


class FakeOpenAIServer:
    """Serves ``/v1/chat/completions`` and ``/v1/models`` from a background thread.

    ``latency`` delays every answer; ``script(...)`` queues replies for the next requests in
    arrival order, or for the next requests whose body contains ``match``; ``responder``
    computes the rest (default: ``echo_reply``). Every received request body is kept in
    ``requests``.
    """

    def __init__(self, latency: float = 0.0, responder: Callable[[dict], Reply] = echo_reply,
                 host: str = "127.0.0.1", port: int = 0):
        self.latency, self.responder, self.host, self.port = latency, responder, host, port
        self.requests: list[dict] = []
        self._scripts: list[tuple[str | None, collections.deque[Reply]]] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self.in_flight = self.max_in_flight = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def script(self, *replies: Reply, match: str | None = None) -> None:
        with self._lock:
            self._scripts.append((match, collections.deque(replies)))

    def _scripted(self, body: str) -> Reply | None:
        for match, queue in self._scripts:
            if queue and (match is None or match in body):
                return queue.popleft()
        return None

    def start(self) -> "FakeOpenAIServer":
        ready = threading.Event()

        def serve():
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, self.host, self.port, backlog=4096))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown():
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()
        self._loop = None

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def serve_forever(self) -> None:
        """Serve in the current event loop (the standalone mode)."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]
        print(self.base_url, flush=True)
        await self._server.serve_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                if not await self._respond(method, path, body, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()

    async def _respond(self, method: str, path: str, body: bytes, writer: asyncio.StreamWriter) -> bool:
        path = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and path.endswith("/models"):
            await self._write(writer, 200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
            return True
        if method != "POST" or not path.endswith("/chat/completions"):
            await self._write(writer, 404, {"error": {"message": f"no route {method} {path}"}})
            return True
        request = json.loads(body)
        with self._lock:
            self.requests.append(request)
            reply = self._scripted(body.decode())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = reply or self.responder(request)
            if reply.content is None and reply.tool_calls is None and reply.status == 200 and reply.body is None:
                reply = _merge(self.responder(request), reply)
            await asyncio.sleep(self.latency + reply.delay)
        finally:
            with self._lock:
                self.in_flight -= 1
        if reply.drop:
            return False
        if reply.body is not None:
            await self._write(writer, reply.status, reply.body, reply.headers)
        elif reply.status != 200:
            await self._write(writer, reply.status, {"error": {"message": f"scripted {reply.status}",
                                                               "type": "scripted"}}, reply.headers)
        else:
            await self._write(writer, 200, completion_body(request, reply), reply.headers)
        return True

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, status: int, payload, headers: dict | None = None) -> None:
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        head = [f"HTTP/1.1 {status} X", "Content-Type: application/json", f"Content-Length: {len(data)}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        await writer.drain()


def loopback_config(base_url: str, cache: str | None = None, model: str = "fake-model", **endpoint):
    """An ``LLMConfig`` whose every role talks to ``base_url``, with test-sized retry delays."""
    from builders.llm.config import LLMConfig

    ep = {"base_url": base_url, "backoff_base": 0.01, "backoff_max": 0.05, "timeout": 5.0, **endpoint}
    return LLMConfig.from_mapping({"cache": cache, "endpoints": {"fake": ep},
                                   "roles": {"default": {"endpoint": "fake", "model": model, "temperature": 0.0}}})


def _merge(default: Reply, scripted: Reply) -> Reply:
    """A scripted reply that only sets delay/headers keeps the default content."""
    return Reply(status=200, content=default.content, tool_calls=default.tool_calls,
                 headers=scripted.headers or default.headers, delay=scripted.delay, drop=scripted.drop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    args = parser.parse_args()
    asyncio.run(FakeOpenAIServer(args.latency, host=args.host, port=args.port).serve_forever())


if __name__ == "__main__":
    main()
