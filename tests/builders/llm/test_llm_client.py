"""The client against a loopback OpenAI-compatible server through the real ``openai`` client path."""

import asyncio
import json
import time

import pytest

from builders.errors import AuthError
from builders.llm import ChatRequest, LLMClient
from builders.llm.config import LLMConfigError
from builders.llm.testing import Reply, echo_reply, loopback_config
from builders.schema import Message, SchemaError, ToolCall


def msgs(i):
    return [{"role": "user", "content": f"question {i}"}]


def test_429_is_retried_honouring_retry_after(server, make_client):
    client = make_client(cache=False)
    server.script(Reply(status=429, headers={"Retry-After": "0.2"}), Reply(status=429, headers={"Retry-After": "0.2"}))
    start = time.monotonic()
    [result] = client.chat_many_sync("turn_judge", [msgs(0)])
    assert time.monotonic() - start >= 0.4  # backoff_base is 0.01: only Retry-After explains the wait
    assert result.ok and result.content == "echo: question 0" and result.attempts == 3
    assert client.stats["turn_judge"]["retries"] == 2 and server.count == 3


@pytest.mark.parametrize("fault", [
    Reply(status=500), Reply(status=503), Reply(status=502), Reply(drop=True), Reply(body="{not json"),
    Reply(body='{"object": "chat.completion", "choices": []}'), Reply(delay=1.0),
], ids=["500", "503", "502", "dropped", "broken-body", "no-choices", "timeout"])
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_transient_faults_are_retried(server, make_client, fault, transport):
    client = make_client(cache=False, timeout=0.3, transport=transport)
    server.script(fault, fault)
    [result] = client.chat_many_sync("turn_judge", [msgs(0)])
    assert result.ok and result.attempts == 3 and result.content == "echo: question 0"
    assert client.stats["turn_judge"]["retries"] == 2 and not client.rejects.items


def test_requests_that_keep_failing_become_rejects_and_the_run_goes_on(server, make_client):
    client = make_client(cache=False, max_concurrency=1, max_attempts=3, timeout=0.3)
    server.script(*[Reply(status=500)] * 3, match="question 0")
    server.script(Reply(status=400), match="question 1")  # not retried
    server.script(*[Reply(delay=1.0)] * 3, match="question 2")
    results = client.chat_many_sync("turn_judge", [msgs(i) for i in range(4)])
    assert [r.ok for r in results] == [False, False, False, True]
    assert results[0].error.startswith("HTTP 500") and "after 3 attempts" in results[0].error
    assert results[1].error.startswith("HTTP 400") and results[1].attempts == 1
    assert results[2].error == "timeout (after 3 attempts)"
    assert results[3].content == "echo: question 3"
    rejects = client.rejects.items
    assert [(r["step"], r["item"]) for r in rejects] == [("llm:turn_judge", f"turn_judge[{i}]") for i in range(3)]
    assert client.stats["turn_judge"]["failures"] == 3


@pytest.mark.parametrize("status, error, name", [(401, AuthError, "AuthenticationError"),
                                                 (403, AuthError, "PermissionDeniedError"),
                                                 (404, LLMConfigError, "NotFoundError")])
def test_refused_keys_and_unknown_models_stop_the_run_with_a_typed_error(server, make_client, status, error, name):
    client = make_client(cache=False)
    server.script(Reply(status=status))
    with pytest.raises(error, match=f"llm endpoint 'fake'.*{name}") as info:
        client.chat_many_sync("turn_judge", [msgs(0)])
    assert not isinstance(info.value, SchemaError) and server.count == 1  # never retried, never a data reject


def test_cache_hits_repeat_no_request_and_failures_are_not_cached(server, make_client):
    first = make_client(max_attempts=1)
    server.script(Reply(status=500), match="question 0")
    results = first.chat_many_sync("turn_judge", [msgs(i) for i in range(4)])
    assert [r.ok for r in results] == [False, True, True, True] and server.count == 4
    second = make_client()
    again = second.chat_many_sync("turn_judge", [msgs(i) for i in range(4)])
    assert server.count == 5  # only the failed request went out again
    assert [r.response for r in again[1:]] == [r.response for r in results[1:]]
    assert [r.cached for r in again] == [False, True, True, True]
    stats = second.stats["turn_judge"]
    assert (stats["hits"], stats["misses"], stats["requests"]) == (3, 1, 4)
    assert stats["prompt_tokens"] == 2 and stats["completion_tokens"] == 3  # counted for the fresh answer only
    assert second.report()["turn_judge"]["hits"] == 3


def test_concurrency_is_bounded_per_endpoint_and_order_is_kept(server, make_client):
    server.latency = 0.02
    server.responder = lambda req: Reply(content=echo_reply(req).content, delay=0.05 * (hash(str(req)) % 3))
    client = make_client(cache=False, max_concurrency=3)
    results = client.chat_many_sync("turn_judge", [msgs(i) for i in range(15)])
    assert [r.content for r in results] == [f"echo: question {i}" for i in range(15)]
    assert server.max_in_flight == 3


def test_a_malformed_message_rejects_its_request_only(server, make_client):
    client = make_client(cache=False)
    broken = [{"role": "user", "content": "book it"},
              {"role": "assistant", "content": None,
               "tool_calls": [{"id": "c1", "function": {"name": "book", "arguments": "{a: 1"}}]}]
    dict_args = [{"role": "user", "content": "book it"},
                 {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "book", "arguments": {"a": 1}}}]}]
    results = client.chat_many_sync("turn_judge", [msgs(0), broken, [{"content": "no role"}], dict_args])
    assert [r.ok for r in results] == [True, False, False, True] and server.count == 2
    assert results[1].error.startswith("bad request: request message 1 tool call 0 (book): arguments are not valid JSON")
    assert "request message 0" in results[2].error and "\n" not in results[2].error
    assert [r["item"] for r in client.rejects.items] == ["turn_judge[1]", "turn_judge[2]"]
    # object arguments travel as the JSON string the servers and templates expect; content is never null
    sent = server.requests[-1]["messages"][1]
    assert sent["content"] == "" and json.loads(sent["tool_calls"][0]["function"]["arguments"]) == {"a": 1}
    [bad_json] = client.chat_json_many_sync("turn_judge", [broken], schema={"type": "object"})
    assert bad_json.error.startswith("bad request:") and client.stats["turn_judge"]["failures"] == 3


def test_identical_requests_in_flight_share_one_call(server, make_client):
    server.latency = 0.05
    client = make_client(cache=False)
    results = client.chat_many_sync("turn_judge", [msgs(0)] * 5 + [msgs(1)])
    assert server.count == 2 and len({json.dumps(r.response) for r in results[:5]}) == 1
    assert client.stats["turn_judge"]["shared"] == 4


def test_messages_are_sent_the_way_servers_accept_them(server, make_client):
    client = make_client(cache=False)
    history = [Message("user", "book it"),
               Message("assistant", None, reasoning_content="thinking", tool_calls=[ToolCall("book", '{"a": 1}', "c1")]),
               Message("tool", '{"ok": true}', tool_call_id="c1", name="book")]
    request = ChatRequest(messages=history, sampling={"seed": 7, "extra_body": {"top_k": 5}}, prompt_version="p@1")
    [result] = client.chat_many_sync("turn_judge", [request])
    sent = server.requests[0]
    assert sent["messages"][1] == {"role": "assistant", "content": "",
                                   "tool_calls": [{"id": "c1", "type": "function",
                                                   "function": {"name": "book", "arguments": '{"a": 1}'}}]}
    assert "reasoning_content" not in sent["messages"][1] and "name" not in sent["messages"][0]
    assert (sent["temperature"], sent["seed"], sent["top_k"], sent["model"]) == (0.0, 7, 5, "fake-model")
    assert result.to_message().content == 'echo: {"ok": true}'


def test_chat_json_turns_unusable_output_into_counted_rejects(server, make_client):
    schema = {"type": "object", "required": ["score"], "properties": {"score": {"type": "integer"}}}
    client = make_client(cache=False, max_concurrency=1)
    for i, reply in enumerate([Reply(content='Here you go: ```json\n{"score": 8}\n```'), Reply(content="I think it is good"),
                               Reply(content='{"score": "high"}'), Reply(status=400)]):
        server.script(reply, match=f"question {i}")
    results = client.chat_json_many_sync("turn_judge", [msgs(i) for i in range(4)], schema=schema)
    assert results[0].ok and results[0].value == {"score": 8}
    assert results[1].error.startswith("unusable JSON: reply holds no JSON value")
    assert results[2].error == "unusable JSON: schema: $.score: 'high' is not of type 'integer'"
    assert results[3].error.startswith("HTTP 400")
    assert client.stats["turn_judge"]["json_failures"] == 2 and len(client.rejects) == 3
    # response_format mode asks for JSON and tells a model that the prompt never mentioned JSON
    assert server.requests[0]["response_format"] == {"type": "json_object"}
    assert "JSON" in server.requests[0]["messages"][-1]["content"]


@pytest.mark.parametrize("mode", ["tool", "json_schema", "prompt"])
def test_chat_json_modes(server, make_client, mode):
    client = make_client(cache=False, json_mode=mode)
    result = client.run_sync(client.chat_json("turn_judge", msgs(0), schema={"type": "object", "required": ["echo"]},
                                              name="verdict"))
    assert result.ok and result.value["echo"].startswith("question 0")
    sent = server.requests[0]
    if mode == "tool":
        assert sent["tool_choice"] == {"type": "function", "function": {"name": "verdict"}}
    elif mode == "json_schema":
        assert sent["response_format"]["type"] == "json_schema"
    else:
        assert "response_format" not in sent and "tool_choice" not in sent


def test_output_is_identical_from_cache_and_from_the_server(server, make_client):
    fresh = make_client().chat_many_sync("turn_judge", [msgs(i) for i in range(6)])
    replay = make_client().chat_many_sync("turn_judge", [msgs(i) for i in range(6)])
    assert server.count == 6
    assert [json.dumps(r.response) for r in fresh] == [json.dumps(r.response) for r in replay]


def test_api_keys_never_reach_the_cache(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TM_FAKE_KEY", "sk-very-secret-123")
    cache = tmp_path / "k.sqlite"
    with LLMClient(loopback_config(server.base_url, str(cache), api_key_env="TM_FAKE_KEY"), progress=False) as client:
        assert client.chat_many_sync("turn_judge", [msgs(0)])[0].ok
    for f in tmp_path.iterdir():
        assert b"sk-very-secret" not in f.read_bytes()


def test_sync_wrapper_works_inside_a_running_loop(server, make_client):
    client = make_client(cache=False)

    async def notebook_cell():
        return client.chat_many_sync("turn_judge", [msgs(0), msgs(1)])

    results = asyncio.run(notebook_cell())
    assert [r.content for r in results] == ["echo: question 0", "echo: question 1"]


def completion(message: dict, usage=None) -> str:
    return json.dumps({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": message,
                                                                              "finish_reason": "stop"}],
                       "usage": usage if usage is not None else {"prompt_tokens": 1, "completion_tokens": 2}})


ASSISTANT = {"role": "assistant", "content": None}
UNREADABLE = {
    "int-content": {**ASSISTANT, "content": 5},
    "image-part": {**ASSISTANT, "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
    "tool-calls-dict": {**ASSISTANT, "tool_calls": {"function": {"name": "f", "arguments": "{}"}}},
    "call-without-function": {**ASSISTANT, "tool_calls": [{"id": "c1", "type": "function"}]},
    "call-without-name": {**ASSISTANT, "tool_calls": [{"id": "c1", "function": {"arguments": "{}"}}]},
    "int-arguments": {**ASSISTANT, "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": 5}}]},
    "list-reasoning": {**ASSISTANT, "content": "ok", "reasoning_content": ["a"]},
}


@pytest.mark.parametrize("message", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_unreadable_reply_shapes_are_retried_then_rejected_and_never_cached(server, make_client, message):
    client = make_client(max_attempts=2)
    server.script(Reply(body=completion(message)), Reply(body=completion(message)), match="question 0")
    results = client.chat_many_sync("assistant", [msgs(0), msgs(1)])
    assert [r.ok for r in results] == [False, True] and results[0].attempts == 2
    assert results[0].error.startswith("malformed response body (choices[0].message")
    assert [r["item"] for r in client.rejects.items] == ["assistant[0]"]
    assert results[0].key not in client.cache and results[1].key in client.cache
    # the next run asks again instead of replaying (or crashing on) the bad answer
    [again] = make_client().chat_many_sync("assistant", [msgs(0)])
    assert again.ok and not again.cached and again.content == "echo: question 0"


def test_readable_variants_are_normalised_before_caching(server, make_client):
    weather = {**ASSISTANT, "tool_calls": [{"id": "c1", "type": "function",
                                             "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}
    parts = {**ASSISTANT, "content": [{"type": "text", "text": "Hello "}, {"text": "world"}]}
    server.script(Reply(body=completion(weather, usage={"prompt_tokens": "12", "completion_tokens": 3})),
                  match="question 0")
    server.script(Reply(body=completion(parts, usage=["odd"])), match="question 1")
    client = make_client(max_concurrency=1)
    fresh = client.chat_many_sync("assistant", [msgs(0), msgs(1)])
    assert all(r.ok for r in fresh) and not client.rejects.items
    assert fresh[0].tool_calls[0].arguments == '{"city":"Paris"}'
    assert fresh[0].message["tool_calls"][0]["function"]["arguments"] == '{"city":"Paris"}'
    assert fresh[1].content == "Hello world" and fresh[1].to_message().content == "Hello world"
    stats = client.stats["assistant"]
    assert (stats["prompt_tokens"], stats["completion_tokens"]) == (0, 3)  # non-int usage counts nothing
    replay = make_client().chat_many_sync("assistant", [msgs(0), msgs(1)])
    assert all(r.cached for r in replay) and [r.response for r in replay] == [r.response for r in fresh]


@pytest.mark.parametrize("message", [UNREADABLE["tool-calls-dict"], UNREADABLE["int-content"], "not a message"],
                         ids=["tool-calls-dict", "int-content", "no-message"])
def test_bad_answers_already_in_the_cache_become_rejects(server, make_client, message):
    client = make_client()
    json_request = client.json_fields("assistant", ChatRequest(messages=msgs(0)), None, "answer")
    keys = [client.build("assistant", msgs(0))[1], client.build("assistant", json_request)[1]]
    for key in keys:  # as an older version, which cached before checking, could have left them
        client.cache.put(key, {"choices": [{"message": message}]})
    results = client.chat_many_sync("assistant", [msgs(0), msgs(1)])
    assert [r.ok for r in results] == [False, True] and server.count == 1
    assert results[0].error.startswith("cached response is unusable") and keys[0] in results[0].error
    [verdict] = client.chat_json_many_sync("assistant", [msgs(0)])
    assert verdict.error.startswith("cached response is unusable") and server.count == 1
    assert [r["item"] for r in client.rejects.items] == ["assistant[0]", "assistant[0]"]


def test_chat_json_turns_every_parse_or_validator_exception_into_a_reject(server, make_client):
    client = make_client(cache=False, json_mode="tool")
    server.script(Reply(body=completion({**ASSISTANT, "tool_calls": [
        {"id": "c", "function": {"name": "answer", "arguments": {"score": 3}}}]})), match="question 0")
    results = client.chat_json_many_sync("turn_judge", [msgs(0), msgs(1)],
                                         validator=lambda v: v.get("score", "x").bit_length() > 0)
    assert results[0].ok and results[0].value == {"score": 3}
    assert results[1].error.startswith("unusable JSON: AttributeError")
    assert client.stats["turn_judge"]["json_failures"] == 1 and len(client.rejects) == 1


def test_each_role_gets_its_own_server_model_and_sampling(tmp_path):
    from builders.llm import LLMConfig
    from builders.llm.testing import FakeOpenAIServer

    with FakeOpenAIServer() as sim, FakeOpenAIServer() as judge:
        config = LLMConfig.from_mapping({"cache": None, "endpoints": {
            "sim": {"base_url": sim.base_url}, "judge": {"base_url": judge.base_url, "max_attempts": 1}},
            "roles": {"default": {"endpoint": "sim", "model": "sim-model", "temperature": 0.9},
                      "user_simulator": {"endpoint": "sim", "model": "sim-model", "temperature": 0.8, "seed": 1,
                                         "stop": ["</s>"]},
                      "trajectory_judge": {"endpoint": "judge", "model": "judge-model", "temperature": 0.0,
                                           "top_p": 0.5, "max_tokens": 32, "extra_body": {"top_k": 2}}}})
        with LLMClient(config, progress=False) as client:
            client.chat_many_sync("user_simulator", [msgs(0), msgs(1)])
            client.chat_many_sync("trajectory_judge", [msgs(2)])
            client.chat_many_sync("turn_judge", [msgs(3)])  # not in the preset: the default role
        assert [(r["messages"][0]["content"], r["model"], r["temperature"], r.get("seed"), r.get("stop"))
                for r in sim.requests] == [("question 0", "sim-model", 0.8, 1, ["</s>"]),
                                           ("question 1", "sim-model", 0.8, 1, ["</s>"]),
                                           ("question 3", "sim-model", 0.9, None, None)]
        [sent] = judge.requests
        assert (sent["messages"][0]["content"], sent["model"], sent["temperature"], sent["top_p"], sent["max_tokens"],
                sent["top_k"]) == ("question 2", "judge-model", 0.0, 0.5, 32, 2)
        assert "seed" not in sent and "stop" not in sent


def backoff_delays(server, make_client, seed: int, retries: int = 5) -> list[float]:
    client = make_client(cache=False, max_attempts=retries + 1, backoff_base=0.01, backoff_max=10.0)
    client._rng.seed(seed)
    delays = []

    async def record(delay):
        delays.append(delay)
        await asyncio.sleep(0)

    client._sleep = record
    server.script(*[Reply(status=429)] * retries)
    [result] = client.chat_many_sync("turn_judge", [msgs(seed)])
    assert result.ok and result.attempts == retries + 1
    return delays


def test_429_without_retry_after_backs_off_exponentially_with_jitter(server, make_client):
    delays = backoff_delays(server, make_client, seed=1)
    # attempt k waits between half and all of base * 2^(k-1): the windows do not overlap, so a
    # constant (or linear) backoff cannot pass
    for k, delay in enumerate(delays, start=1):
        cap = 0.01 * 2 ** (k - 1)
        assert cap / 2 <= delay <= cap, (k, delays)
    assert delays[-1] > 8 * delays[0]
    again, other = backoff_delays(server, make_client, seed=1), backoff_delays(server, make_client, seed=2)
    assert again == delays and other != delays  # seeded jitter: reproducible, and it does vary


def test_backoff_never_exceeds_backoff_max(server, make_client):
    client = make_client(cache=False, max_attempts=6, backoff_base=0.01, backoff_max=0.02)
    delays = []

    async def record(delay):
        delays.append(delay)

    client._sleep = record
    server.script(*[Reply(status=429)] * 5)
    assert client.chat_many_sync("turn_judge", [msgs(0)])[0].ok
    assert len(delays) == 5 and all(0.01 <= d <= 0.02 for d in delays[1:])


@pytest.mark.parametrize("driver", ["asyncio.run", "own-loop"])
def test_the_async_api_without_async_with_leaks_no_sessions(server, driver, caplog):
    import gc
    import warnings

    config = loopback_config(server.base_url, transport="aiohttp")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = LLMClient(config, progress=False)
        if driver == "asyncio.run":
            for _ in range(2):
                results = asyncio.run(client.chat_many("assistant", [msgs(0), msgs(1)]))
        else:
            loop = asyncio.new_event_loop()
            results = loop.run_until_complete(client.chat_many("assistant", [msgs(0), msgs(1)]))
        client.close()
        if driver == "own-loop":
            loop.close()
            del loop
        assert [r.ok for r in results] == [True, True] and not client._loops
        del client, results
        gc.collect()
    assert not [str(w.message) for w in caught if "nclosed" in str(w.message)]
    assert "Unclosed" not in caplog.text
