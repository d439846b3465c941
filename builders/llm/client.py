"""The one chat-model client every agent and judge uses.

It wraps the official async ``openai`` client and adds what a dataset build needs: a bounded
number of requests in flight per endpoint, retries with exponential backoff and jitter on 429,
5xx, timeouts and dropped connections (honouring ``Retry-After``), a persistent request cache
so restarts repeat nothing finished, per-role counters, and batches returned in input order.
A request that still fails becomes a reject with its reason; the run goes on. Replies are
checked and repaired in ``reply``, retries decided in ``retry``; endpoints in ``tool_mode:
structured`` get their tool calls through ``toolmode``, and calls a model wrote as text are read
back by ``recovery``, so every caller sees ordinary ``content`` + ``tool_calls``.

Identical requests get identical answers: within a run they share one call, across runs the
cache. To draw several samples for one prompt, vary ``seed`` in the request's ``sampling``.

    client = LLMClient(LLMConfig.from_yaml("preset.yaml"))
    results = client.chat_many_sync("user_simulator", [ChatRequest(messages=[...]), ...])
    verdicts = client.chat_json_many_sync("turn_judge", requests, schema={"required": ["score"]})
    client.report()

From async code, use ``async with LLMClient(...) as client: await client.chat_many(...)``.
Without ``async with``, each event loop's connection pools close when ``asyncio.run`` shuts the
loop down, and ``client.close()`` closes those of loops that are still open; only a loop closed
by hand without ``shutdown_asyncgens`` needs ``await client.aclose()`` before it closes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Awaitable, Callable, Iterable, Sequence, TypeVar

import openai
from tqdm.auto import tqdm

try:  # openai >= 3 speaks httpx2; older releases httpx
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx

from builders.errors import DataError
from builders.llm.cache import RequestCache, request_key
from builders.llm.config import EndpointConfig, LLMConfig
from builders.llm.recovery import recover_tool_calls
from builders.llm.chat import ChatRequest, ChatResult, JSONResult, as_request, numbered
from builders.llm.reply import MalformedResponse, api_messages, check_completion, parse_completion, token_count
from builders.llm.retry import FATAL_ERRORS, backoff, describe, fatal_error
from builders.llm.server import EmbeddedServer, install_sigterm_handler
from builders.llm.transport import LoopState, http_client
from builders.llm.structured import JSONReplyError, Validator, json_request, parse_json_reply, prompt_suffix
from builders.llm.toolmode import structured_reply, structured_request
from builders.pipeline import Rejects
from builders.schema import Message

logger = logging.getLogger(__name__)
for _name in ("httpx2", "httpx"):  # one INFO line per request drowns a 100k-request build
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)
T = TypeVar("T")
R = TypeVar("R", "ChatResult", "JSONResult")
_DEFAULT_CACHE = object()


class LLMClient:
    """Async chat access for every role in a preset; see the module docstring."""

    def __init__(self, config: LLMConfig | None = None, *, cache: RequestCache | str | None = _DEFAULT_CACHE,
                 rejects: Rejects | None = None, progress: bool = True, seed: int | None = None,
                 server_factory: Callable[..., EmbeddedServer] = EmbeddedServer):
        self.config = config or LLMConfig()
        if cache is _DEFAULT_CACHE:
            cache = self.config.cache
        self.cache = RequestCache(cache) if isinstance(cache, str) else cache
        self.rejects = rejects if rejects is not None else Rejects()
        self.progress = progress
        self.stats: dict[str, Counter] = {}
        self._rng = random.Random(seed)
        self._sleep: Callable[[float], Awaitable] = asyncio.sleep  # a seam for backoff tests
        self._server_factory = server_factory
        self._servers: dict[str, EmbeddedServer] = {}
        self._identities: dict[str, str] = {}
        self._loops: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    # ---------------------------------------------------------------- plumbing
    def _state(self) -> LoopState:
        loop = asyncio.get_running_loop()
        if loop not in self._loops:
            self._loops[loop] = LoopState()
        return self._loops[loop]

    def _server(self, ep: EndpointConfig) -> EmbeddedServer:
        if ep.name not in self._servers:
            # the factory gets the endpoint's server settings as keywords (EmbeddedServer's own)
            self._servers[ep.name] = self._server_factory(
                model_path=ep.model_path, chat_template=ep.chat_template, parallel=ep.parallel,
                ctx_per_slot=ep.ctx_per_slot, threads=ep.threads)
        return self._servers[ep.name]

    def _identity(self, ep: EndpointConfig) -> str:
        """The server part of the cache key; the embedded server's names its model file and chat template."""
        if ep.name not in self._identities:
            self._identities[ep.name] = self._server(ep).identity if ep.embedded else ep.identity
        return self._identities[ep.name]

    async def _base_url(self, ep: EndpointConfig) -> str:
        if not ep.embedded:
            return ep.base_url
        server = self._server(ep)
        # the server starts in a worker thread, where Python cannot set signal handlers: set the
        # SIGTERM cleanup here, on the loop's thread (the main one under asyncio.run / run_sync)
        install_sigterm_handler()
        return await asyncio.to_thread(server.start)

    async def _endpoint(self, ep: EndpointConfig) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        state = self._state()
        if ep.name not in state.clients:
            base_url = await self._base_url(ep)
            if ep.name not in state.clients:
                state.clients[ep.name] = openai.AsyncOpenAI(
                    base_url=base_url, api_key=ep.api_key(), max_retries=0, timeout=ep.timeout,
                    default_headers=ep.request_headers() or None,
                    http_client=http_client(ep.max_concurrency, ep.transport))
                state.semaphores[ep.name] = asyncio.Semaphore(ep.max_concurrency)
                if state.closer is None:
                    state.closer = self._closer(state)
                    await state.closer.__anext__()
        return state.clients[ep.name], state.semaphores[ep.name]

    async def _closer(self, state: LoopState):
        """Parked at ``yield`` for the loop's life: ``asyncio.run`` (and every loop that calls
        ``shutdown_asyncgens``) finalises it before closing, which closes the connection pools of a
        client used without ``async with`` and lets go of the loop."""
        try:
            yield
        finally:
            self._loops.pop(asyncio.get_running_loop(), None)
            await state.close()

    def _count(self, role: str, key: str, n: int = 1) -> None:
        self.stats.setdefault(role, Counter())[key] += n

    # ---------------------------------------------------------------- requests
    def build(self, role: str, request: ChatRequest | Sequence[dict | Message]) -> tuple[dict, str]:
        """The parameters sent for ``request`` under ``role`` and the cache key they hash to."""
        request = as_request(request)
        cfg, ep = self.config.role(role), self.config.endpoint(role)
        sampling = {**cfg.sampling(), **(request.sampling or {})}
        params: dict[str, Any] = {"model": cfg.model, "messages": api_messages(request.messages)}
        if self._structured(role, request):
            params.update(structured_request(params["messages"], request.tools, request.tool_choice))
        else:
            for name in ("tools", "tool_choice", "response_format"):
                if getattr(request, name) is not None:
                    params[name] = getattr(request, name)
        key = request_key(endpoint=self._identity(ep), model=cfg.model, messages=params["messages"],
                          tools=request.tools, tool_choice=request.tool_choice, response_format=params.get("response_format"),
                          sampling=sampling, prompt_version=request.prompt_version)
        extra_body = sampling.pop("extra_body", None) or {}
        params.update(sampling)
        params.update(extra_body)  # server-specific fields (vLLM top_k, ...) travel at the top level
        return params, key

    def _structured(self, role: str, request: ChatRequest) -> bool:
        """Whether tool calls travel as a schema-constrained reply (``tool_mode: structured``)."""
        return bool(request.tools) and request.response_format is None \
            and self.config.endpoint(role).tool_mode == "structured"

    def _as_turn(self, role: str, request: ChatRequest, response: dict | None) -> dict | None:
        """The reply as every caller reads it: a structured reply turned into ``content`` + ``tool_calls``,
        and calls to declared tools that the model wrote as text read as calls (counted apart)."""
        if response is None or not request.tools:
            return response
        message = original = response["choices"][0]["message"]
        if self._structured(role, request):
            message = structured_reply(message) or message
        if not message.get("tool_calls") and self.config.role(role).recover_tool_calls:
            calls = recover_tool_calls(message.get("content") or "", request.tools)
            if calls:
                self._count(role, "recovered_from_text")
                message = {**message, "content": None, "tool_calls": calls}
        if message is original:
            return response
        return {**response, "choices": [{**response["choices"][0], "message": message}, *response["choices"][1:]]}

    async def chat(self, role: str, request: ChatRequest | Sequence[dict | Message], **fields) -> ChatResult:
        """One completion; never raises for a failed request (see ``ChatResult.error``)."""
        request = as_request(request, **fields)
        return self._record(role, [await self._chat(role, request)])[0]

    async def _chat(self, role: str, request: ChatRequest) -> ChatResult:
        item = request.item or f"{role} request"
        self._count(role, "requests")
        try:
            params, key = self.build(role, request)
        except DataError as exc:  # a malformed message in this request: its reject, not the batch's crash
            self._count(role, "failures")
            return ChatResult(item=item, error=f"bad request: {exc}")
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            self._count(role, "hits")
            try:  # entries written by older versions were not checked before caching
                response = self._as_turn(role, request, check_completion(cached))
                return ChatResult(item=item, response=response, cached=True, key=key)
            except MalformedResponse as exc:
                self._count(role, "failures")
                return ChatResult(item=item, error=f"cached response is unusable ({exc}); delete key {key} from "
                                  f"{self.cache.path} to ask again", cached=True, key=key)
        state = self._state()
        shared = state.inflight.get(key)
        if shared is not None:  # the same request is already on its way: share its answer
            self._count(role, "shared")
            response, attempts, error = await asyncio.shield(shared)
        else:
            future = asyncio.get_running_loop().create_future()
            state.inflight[key] = future
            try:
                response, attempts, error = await self._fetch(role, params, key)
                future.set_result((response, attempts, error))
            except BaseException as exc:
                future.set_exception(exc)
                future.exception()  # mark retrieved: waiters re-raise it themselves
                raise
            finally:
                state.inflight.pop(key, None)
        if error is not None:
            self._count(role, "failures")
            logger.warning("llm %s: %s failed: %s", role, item, error)
        return ChatResult(item=item, response=self._as_turn(role, request, response), error=error, attempts=attempts,
                          key=key)

    async def _fetch(self, role: str, params: dict, key: str) -> tuple[dict | None, int, str | None]:
        ep = self.config.endpoint(role)
        client, semaphore = await self._endpoint(ep)
        self._count(role, "misses")
        for attempt in range(1, ep.max_attempts + 1):
            try:
                async with semaphore:
                    # the SDK's own request path (auth, headers, timeouts, error classes) minus
                    # chat.completions.create's typed re-walk of the body and model parsing, which
                    # cost ~2 ms of CPU per request and capped throughput; the raw body is also
                    # exactly what the cache should keep
                    raw = await client.post("/chat/completions", body=params, cast_to=httpx.Response)
                response = parse_completion(raw.content)
            except FATAL_ERRORS as exc:
                raise fatal_error(exc, f"llm endpoint {ep.name!r} (role {role!r}, model {params['model']!r})") from None
            except Exception as exc:  # noqa: BLE001 - every failure becomes a retry or a reject
                reason, retryable = describe(exc)
                if not retryable or attempt == ep.max_attempts:
                    return None, attempt, f"{reason} (after {attempt} attempt{'s' * (attempt > 1)})"
                delay = backoff(attempt, exc, ep.backoff_base, ep.backoff_max, self._rng)
                self._count(role, "retries")
                logger.debug("llm %s: attempt %d failed (%s); retrying in %.2fs", role, attempt, reason, delay)
                await self._sleep(delay)
                continue
            self._count(role, "prompt_tokens", token_count(response.get("usage"), "prompt_tokens"))
            self._count(role, "completion_tokens", token_count(response.get("usage"), "completion_tokens"))
            if self.cache is not None:
                self.cache.put(key, response, role=role, model=params["model"])
            return response, attempt, None
        raise AssertionError("unreachable")

    async def chat_many(self, role: str, requests: Iterable[ChatRequest | Sequence[dict | Message]],
                        desc: str | None = None) -> list[ChatResult]:
        """All requests at the endpoint's concurrency; results and rejects in input order."""
        coros = [self._chat(role, r) for r in numbered(role, requests)]
        return self._record(role, await self._gather(coros, desc or f"llm:{role}"))

    def _record(self, role: str, results: list[R]) -> list[R]:
        """Failed results into the rejects, in input order so the rejects file is reproducible too."""
        for r in results:
            if r.error is not None:
                key = r.key if isinstance(r, ChatResult) else (r.chat.key if r.chat else "")
                self.rejects.add(f"llm:{role}", r.item, r.error, {"key": key})
        return results

    async def _gather(self, coros: list[Awaitable[T]], desc: str) -> list[T]:
        # disable=None: tqdm stays quiet when stderr is not a terminal (CI logs, redirected runs)
        bar = tqdm(total=len(coros), desc=desc, disable=True if not self.progress or len(coros) < 2 else None, leave=False)

        async def tick(coro):
            try:
                return await coro
            finally:
                bar.update()

        try:
            return await asyncio.gather(*(tick(c) for c in coros))
        finally:
            bar.close()

    # ---------------------------------------------------------------- structured output
    def json_fields(self, role: str, request: ChatRequest, schema: dict | None, name: str) -> ChatRequest:
        """The request asking for JSON the way the role's endpoint supports (``json_mode``)."""
        mode = self.config.endpoint(role).json_mode
        extra = json_request(mode, schema, name)
        messages = api_messages(request.messages)
        if mode in ("prompt", "response_format") and not any("json" in str(m.get("content", "")).lower() for m in messages):
            # OpenAI refuses json_object unless the prompt says JSON; weak models need telling anyway
            last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] in ("user", "system")), None)
            if last is None:
                messages.append({"role": "user", "content": prompt_suffix(schema)})
            else:
                messages[last] = {**messages[last], "content": f"{messages[last]['content']}\n\n{prompt_suffix(schema)}".strip()}
        return replace(request, messages=messages, **extra)

    async def chat_json(self, role: str, request: ChatRequest | Sequence[dict | Message], schema: dict | None = None,
                        validator: Validator | None = None, name: str = "answer") -> JSONResult:
        """A JSON answer checked against ``schema`` / ``validator``; unusable output is a counted reject."""
        return self._record(role, [await self._chat_json(role, as_request(request), schema, validator, name)])[0]

    async def _chat_json(self, role: str, request: ChatRequest, schema: dict | None, validator: Validator | None,
                         name: str) -> JSONResult:
        try:
            request = self.json_fields(role, request, schema, name)
        except DataError as exc:
            self._count(role, "requests")
            self._count(role, "failures")
            return JSONResult(item=request.item or f"{role} request", error=f"bad request: {exc}")
        result = await self._chat(role, request)
        if not result.ok:
            return JSONResult(item=result.item, error=result.error, chat=result)
        try:
            value = parse_json_reply(result.message, schema, validator)
        except Exception as exc:  # noqa: BLE001 - a reply (or a validator) must never crash the batch
            self._count(role, "json_failures")
            reason = exc.reason if isinstance(exc, JSONReplyError) else f"{type(exc).__name__}: {exc}"
            return JSONResult(item=result.item, error=f"unusable JSON: {reason}", chat=result)
        return JSONResult(item=result.item, value=value, chat=result)

    async def chat_json_many(self, role: str, requests: Iterable[ChatRequest | Sequence[dict | Message]],
                             schema: dict | None = None, validator: Validator | None = None, name: str = "answer",
                             desc: str | None = None) -> list[JSONResult]:
        coros = [self._chat_json(role, r, schema, validator, name) for r in numbered(role, requests)]
        return self._record(role, await self._gather(coros, desc or f"llm:{role}"))

    # ---------------------------------------------------------------- sync wrappers
    def run_sync(self, coro: Awaitable[T]) -> T:
        """Run a coroutine from synchronous code (also from inside a running loop, via a thread)."""

        async def scoped():
            try:
                return await coro
            finally:
                await self._close_loop()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(scoped())
        if any(ep.embedded for ep in self.config.endpoints.values()):
            install_sigterm_handler()  # the loop below runs off the main thread, where Python cannot set it
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, scoped()).result()

    def chat_many_sync(self, role: str, requests, desc: str | None = None) -> list[ChatResult]:
        return self.run_sync(self.chat_many(role, requests, desc))

    def chat_json_many_sync(self, role: str, requests, schema: dict | None = None, validator: Validator | None = None,
                            name: str = "answer", desc: str | None = None) -> list[JSONResult]:
        return self.run_sync(self.chat_json_many(role, requests, schema, validator, name, desc))

    # ---------------------------------------------------------------- reporting and shutdown
    def totals(self) -> Counter:
        total = Counter()
        for counts in self.stats.values():
            total.update(counts)
        return total

    def report(self) -> dict[str, dict[str, int]]:
        """Log one summary line per role and return the counters (for the release card)."""
        for role, c in sorted(self.stats.items()):
            logger.info("llm %s: %d requests, %d cache hits, %d misses, %d shared, %d retries, %d failures, "
                        "%d unusable JSON, %d tool calls recovered from text, %d prompt + %d completion tokens",
                        role, c["requests"], c["hits"], c["misses"], c["shared"], c["retries"], c["failures"],
                        c["json_failures"], c["recovered_from_text"], c["prompt_tokens"], c["completion_tokens"])
        return {role: dict(c) for role, c in self.stats.items()}

    async def _close_loop(self) -> None:
        state = self._loops.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.shutdown()

    async def aclose(self) -> None:
        await self._close_loop()
        self.close()

    def _close_other_loops(self) -> None:
        """Connection pools of loops still open: one driven by hand (``run_until_complete``) or running
        in another thread. The running loop of the caller closes its own at shutdown (``_closer``)."""
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, state in list(self._loops.items()):
            if loop is current or loop.is_closed():
                continue
            self._loops.pop(loop, None)
            if loop.is_running():
                asyncio.run_coroutine_threadsafe(state.shutdown(), loop).result(30)
            elif current is None:  # a thread with a running loop cannot drive another one
                loop.run_until_complete(state.shutdown())

    def close(self) -> None:
        """Close connection pools, stop embedded servers and close the cache; safe to call twice."""
        self._close_other_loops()
        for server in self._servers.values():
            server.stop()
        self._servers.clear()
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> "LLMClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    async def __aenter__(self) -> "LLMClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()
