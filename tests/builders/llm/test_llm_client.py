"""The client against a loopback OpenAI-compatible server through the real ``openai`` client path."""

import asyncio
import json
import time

import pytest

from builders.llm import ChatRequest, LLMClient
from builders.llm.testing import Reply, echo_reply, loopback_config
from builders.schema import Message, SchemaError, ToolCall


def msgs(i):
    return [{"role": "user", "content": f"question {i}"}]


def test_429_is_retried_honouring_retry_after(server, make_client):
    client = make_client(cache=False)
    server.script(Reply(status=429, headers={"Retry-After": "0.2"}), Reply(status=429, headers={"Retry-After": "0.2"}))
    start = time.monotonic()
    [result] = client.chat_many_sync("judge", [msgs(0)])
    assert time.monotonic() - start >= 0.4  # backoff_base is 0.01: only Retry-After explains the wait
    assert result.ok and result.content == "echo: question 0" and result.attempts == 3
    assert client.stats["judge"]["retries"] == 2 and server.count == 3


@pytest.mark.parametrize("fault", [
    Reply(status=500), Reply(status=503), Reply(status=502), Reply(drop=True), Reply(body="{not json"),
    Reply(body='{"object": "chat.completion", "choices": []}'), Reply(delay=1.0),
], ids=["500", "503", "502", "dropped", "broken-body", "no-choices", "timeout"])
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_transient_faults_are_retried(server, make_client, fault, transport):
    client = make_client(cache=False, timeout=0.3, transport=transport)
    server.script(fault, fault)
    [result] = client.chat_many_sync("judge", [msgs(0)])
    assert result.ok and result.attempts == 3 and result.content == "echo: question 0"
    assert client.stats["judge"]["retries"] == 2 and not client.rejects.items


def test_requests_that_keep_failing_become_rejects_and_the_run_goes_on(server, make_client):
    client = make_client(cache=False, max_concurrency=1, max_attempts=3, timeout=0.3)
    server.script(*[Reply(status=500)] * 3, match="question 0")
    server.script(Reply(status=400), match="question 1")  # not retried
    server.script(*[Reply(delay=1.0)] * 3, match="question 2")
    results = client.chat_many_sync("judge", [msgs(i) for i in range(4)])
    assert [r.ok for r in results] == [False, False, False, True]
    assert results[0].error.startswith("HTTP 500") and "after 3 attempts" in results[0].error
    assert results[1].error.startswith("HTTP 400") and results[1].attempts == 1
    assert results[2].error == "timeout (after 3 attempts)"
    assert results[3].content == "echo: question 3"
    rejects = client.rejects.items
    assert [(r["step"], r["item"]) for r in rejects] == [("llm:judge", "judge[0]"), ("llm:judge", "judge[1]"),
                                                         ("llm:judge", "judge[2]")]
    assert client.stats["judge"]["failures"] == 3


def test_authentication_errors_stop_the_run_with_a_clear_error(server, make_client):
    client = make_client(cache=False)
    server.script(Reply(status=401))
    with pytest.raises(SchemaError, match="llm endpoint 'fake'.*AuthenticationError"):
        client.chat_many_sync("judge", [msgs(0)])


def test_cache_hits_repeat_no_request_and_failures_are_not_cached(server, make_client):
    first = make_client(max_attempts=1)
    server.script(Reply(status=500), match="question 0")
    results = first.chat_many_sync("judge", [msgs(i) for i in range(4)])
    assert [r.ok for r in results] == [False, True, True, True] and server.count == 4
    second = make_client()
    again = second.chat_many_sync("judge", [msgs(i) for i in range(4)])
    assert server.count == 5  # only the failed request went out again
    assert [r.response for r in again[1:]] == [r.response for r in results[1:]]
    assert [r.cached for r in again] == [False, True, True, True]
    stats = second.stats["judge"]
    assert (stats["hits"], stats["misses"], stats["requests"]) == (3, 1, 4)
    assert stats["prompt_tokens"] == 2 and stats["completion_tokens"] == 3  # counted for the fresh answer only
    assert second.report()["judge"]["hits"] == 3


def test_concurrency_is_bounded_per_endpoint_and_order_is_kept(server, make_client):
    server.latency = 0.02
    server.responder = lambda req: Reply(content=echo_reply(req).content, delay=0.05 * (hash(str(req)) % 3))
    client = make_client(cache=False, max_concurrency=3)
    results = client.chat_many_sync("judge", [msgs(i) for i in range(15)])
    assert [r.content for r in results] == [f"echo: question {i}" for i in range(15)]
    assert server.max_in_flight == 3


def test_identical_requests_in_flight_share_one_call(server, make_client):
    server.latency = 0.05
    client = make_client(cache=False)
    results = client.chat_many_sync("judge", [msgs(0)] * 5 + [msgs(1)])
    assert server.count == 2 and len({json.dumps(r.response) for r in results[:5]}) == 1
    assert client.stats["judge"]["shared"] == 4


def test_messages_are_sent_the_way_servers_accept_them(server, make_client):
    client = make_client(cache=False)
    history = [Message("user", "book it"),
               Message("assistant", None, reasoning_content="thinking", tool_calls=[ToolCall("book", '{"a": 1}', "c1")]),
               Message("tool", '{"ok": true}', tool_call_id="c1", name="book")]
    request = ChatRequest(messages=history, sampling={"seed": 7, "extra_body": {"top_k": 5}}, prompt_version="p@1")
    [result] = client.chat_many_sync("judge", [request])
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
    results = client.chat_json_many_sync("judge", [msgs(i) for i in range(4)], schema=schema)
    assert results[0].ok and results[0].value == {"score": 8}
    assert results[1].error.startswith("unusable JSON: no JSON found")
    assert results[2].error == "unusable JSON: schema: $.score should be integer, got str"
    assert results[3].error.startswith("HTTP 400")
    assert client.stats["judge"]["json_failures"] == 2 and len(client.rejects) == 3
    # response_format mode asks for JSON and tells a model that the prompt never mentioned JSON
    assert server.requests[0]["response_format"] == {"type": "json_object"}
    assert "JSON" in server.requests[0]["messages"][-1]["content"]


@pytest.mark.parametrize("mode", ["tool", "json_schema", "prompt"])
def test_chat_json_modes(server, make_client, mode):
    client = make_client(cache=False, json_mode=mode)
    result = client.run_sync(client.chat_json("judge", msgs(0), schema={"type": "object", "required": ["echo"]},
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
    fresh = make_client().chat_many_sync("judge", [msgs(i) for i in range(6)])
    replay = make_client().chat_many_sync("judge", [msgs(i) for i in range(6)])
    assert server.count == 6
    assert [json.dumps(r.response) for r in fresh] == [json.dumps(r.response) for r in replay]


def test_api_keys_never_reach_the_cache(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TM_FAKE_KEY", "sk-very-secret-123")
    cache = tmp_path / "k.sqlite"
    with LLMClient(loopback_config(server.base_url, str(cache), api_key_env="TM_FAKE_KEY"), progress=False) as client:
        assert client.chat_many_sync("judge", [msgs(0)])[0].ok
    for f in tmp_path.iterdir():
        assert b"sk-very-secret" not in f.read_bytes()


def test_sync_wrapper_works_inside_a_running_loop(server, make_client):
    client = make_client(cache=False)

    async def notebook_cell():
        return client.chat_many_sync("judge", [msgs(0), msgs(1)])

    results = asyncio.run(notebook_cell())
    assert [r.content for r in results] == ["echo: question 0", "echo: question 1"]
