"""How requests reach a server: the HTTP transport and, per event loop, the clients and limits.

An ``openai.AsyncOpenAI`` client and its connection pool belong to the event loop that made
them, and ``run_sync`` may run batches on several loops over a build; ``LoopState`` keeps one set
per loop so nothing is shared across loops.
"""

from __future__ import annotations

import asyncio
import importlib.util

import openai

try:  # openai >= 3 speaks httpx2; older releases httpx
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx

from builders.errors import DependencyError


def http_client(max_connections: int, transport: str = "auto"):
    """The transport: aiohttp when installed (``openai[aiohttp]``) unless told otherwise, else httpx.

    httpx's pool rescans every idle connection on each request, so past ~64 connections the
    client, not the server, sets the pace; aiohttp's connector keeps up at 256. The pool is as
    large as the endpoint's concurrency, so that concurrency is really reached.
    """
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    has_aiohttp = getattr(openai, "DefaultAioHttpClient", None) is not None and importlib.util.find_spec("aiohttp")
    if transport == "aiohttp" and not has_aiohttp:
        raise DependencyError("llm endpoint transport 'aiohttp'", "aiohttp is not installed", "pip install 'openai[aiohttp]'")
    if transport != "httpx" and has_aiohttp:
        return openai.DefaultAioHttpClient(limits=limits)
    return openai.DefaultAsyncHttpxClient(limits=limits)


class LoopState:
    """Per event loop: the openai clients, the concurrency limits and the in-flight calls."""

    def __init__(self):
        self.clients: dict[str, openai.AsyncOpenAI] = {}
        self.semaphores: dict[str, asyncio.Semaphore] = {}
        self.inflight: dict[str, asyncio.Future] = {}
        self.closer = None  # async generator the loop finalises at shutdown (see LLMClient._closer)

    async def close(self) -> None:
        clients, self.clients = list(self.clients.values()), {}
        for client in clients:
            await client.close()

    async def shutdown(self) -> None:
        await (self.closer.aclose() if self.closer is not None else self.close())
