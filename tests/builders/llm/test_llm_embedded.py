"""Integration: the embedded llama.cpp server with SmolLM2, through the same client every step uses."""

import importlib.util
import json

import pytest

from builders.llm import ChatRequest, LLMClient, LLMConfig
from builders.schema import Message, ToolCall

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                       reason="llama-cpp-python is not installed (bash scripts/setup.sh installs it)"),
]

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
                   "required": ["city"]}}}


def test_forced_tool_call_and_json_through_the_embedded_server(tmp_path):
    config = LLMConfig.from_mapping({"cache": str(tmp_path / "llm.sqlite"),
                                     "roles": {"default": {"model": "smollm2", "temperature": 0.0, "max_tokens": 64,
                                                           "seed": 0}}})
    with LLMClient(config, progress=False) as client:
        history = [Message("user", "What is the weather in Paris?"),
                   # llama.cpp answers HTTP 500 to content: null; the client must send ""
                   Message("assistant", None, tool_calls=[ToolCall("get_weather", '{"city": "Paris"}', "call_1")]),
                   Message("tool", '{"temperature": "18C"}', tool_call_id="call_1", name="get_weather"),
                   Message("user", "And in Rome?")]
        request = ChatRequest(messages=history, tools=[WEATHER],
                              tool_choice={"type": "function", "function": {"name": "get_weather"}})
        [result] = client.chat_many_sync("assistant", [request])
        assert result.ok, result.error
        [call] = result.tool_calls
        assert call.name == "get_weather"
        assert isinstance(call.parsed_arguments().get("city"), str)  # grammar-constrained: valid JSON, required key

        verdict = client.run_sync(client.chat_json(
            "turn_judge", [{"role": "user", "content": "Rate this answer from 0 to 9: 'Paris is in France.'"}],
            schema={"type": "object", "required": ["score"], "properties": {"score": {"type": "integer"}}}))
        assert verdict.ok, verdict.error
        assert isinstance(verdict.value["score"], int)

        # the same requests again come from the cache, byte for byte
        [again] = client.chat_many_sync("assistant", [request])
        assert again.cached and json.dumps(again.response) == json.dumps(result.response)
        server = client._servers["local"]
        assert server.running
    assert not server.running
