"""Intents from chains (A.2.1) through the real client path."""

from __future__ import annotations

import asyncio
import json

import pytest

from builders.llm import LLMClient
from builders.llm.testing import FakeOpenAIServer, Reply, loopback_config
from builders.schema import SchemaError
from toolmind.agents import Reject
from toolmind.intents import intent_request, normalize_domains, parse_intent, synthesize_intent

CHAIN = {"id": "c1", "seed": 4, "functions": [
    {"name": "getStockLocations", "description": "List stock locations.",
     "parameters": json.dumps({"type": "object", "properties": {"limit": {"type": "number"}}}), "outputs": None},
    {"type": "function", "function": {"name": "checkInventory", "description": "Check a product's inventory.",
                                      "parameters": {"type": "object", "properties": {"code": {"type": "string"}}}}}]}


def run(*replies: Reply):
    with FakeOpenAIServer() as server:
        server.script(*replies)

        async def go():
            async with LLMClient(loopback_config(server.base_url, max_attempts=1), progress=False, cache=None) as client:
                return await synthesize_intent(CHAIN, client)
        return asyncio.run(go()), server


def test_intent_from_a_chain():
    reply = {"Task Instruction": "I manage a warehouse and need stock locations, then XYZ789's stock.",
             "Tool Usage": "getStockLocations then checkInventory", "Domains": ["E-commerce", "Data Analysis"]}
    row, server = run(Reply(content=f"```json\n{json.dumps(reply)}\n```"))
    assert row["intent"] == {"task_instruction": reply["Task Instruction"], "tool_usage": reply["Tool Usage"],
                             "domains": ["e-commerce", "data analysis"]}
    assert row["id"] == "c1" and row["functions"] == CHAIN["functions"]
    assert row["prompt_versions"]["intent_synthesizer"] == "intent_synthesizer@2"
    prompt = server.requests[0]["messages"][0]["content"]
    assert '"name": "checkInventory"' in prompt and '"Task Instruction"' in prompt and "data analysis" in prompt


def test_failed_or_empty_intent_is_a_reject():
    result, _ = run(Reply(content='{"Task Instruction": "  ", "Tool Usage": "x"}'))
    assert isinstance(result, Reject) and "empty 'Task Instruction'" in result.reason
    result, _ = run(Reply(status=503))
    assert isinstance(result, Reject) and result.item == "c1" and "HTTP 503" in result.reason


def test_lenient_keys_and_domains():
    intent = parse_intent({"task_instruction": "Plan a trip", "tool_usage": ["a", "b"], "domains": "Travel"})
    assert intent == {"task_instruction": "Plan a trip", "tool_usage": '["a","b"]', "domains": ["travel"]}
    assert normalize_domains(["Knitting", "travel", "quilting"]) == ["others", "travel"]
    assert normalize_domains(None) == ["others"]
    with pytest.raises(SchemaError):
        parse_intent(["not", "an", "object"])
    assert intent_request(CHAIN).item == "intents:c1"
