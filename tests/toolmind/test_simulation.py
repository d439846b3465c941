"""The multi-agent simulation through the real client path, with every agent scripted on a loopback server."""

from __future__ import annotations

import asyncio
import json
from typing import Callable

import pytest

from builders.llm import LLMClient
from builders.llm.testing import FakeOpenAIServer, Reply, loopback_config
from builders.schema import Conversation, Message, parse_tools_column
from toolmind.agents import Reject, SimulationSettings, simulate
from toolmind.agents.assistant import assistant_message
from toolmind.agents.common import split_think
from toolmind.agents.simulation import END_STEP_LIMIT, END_STOP, END_TURN_LIMIT, offered_tools
from toolmind.agents.tool import parse_func_return
from toolmind.agents.user import user_view
from toolmind.rules import check_turns

STOP = "###STOP###"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "outputs": {"type": "object", "properties": {"temperature": {"type": "number"}}, "required": ["temperature"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Local time in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
INTENT = {"task_instruction": "Find the weather and the time in Paris.", "tool_usage": "get_weather, get_time",
          "domains": ["weather"]}


def call(name: str, id_: str | None = None, **args) -> dict:
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def chain(id_: str = "chain-1", functions=(WEATHER, TIME)) -> dict:
    return {"id": id_, "functions": list(functions), "intent": INTENT, "seed": 7, "edge_scores": [8]}


class ScriptedAgents:
    """A responder playing every role: replies picked by role and by how far the dialogue has got.

    ``user[k]`` answers when the user has spoken k times; ``assistant[k]`` is the k-th assistant
    message (a string, or a dict with ``content`` / ``tool_calls``); ``tool(name, args)`` is the
    raw text inside ``<func_return>``; judges answer ``trajectory_judge`` / ``turn_judge``.
    """

    def __init__(self, user: list[str], assistant: list, tool: Callable[[str, dict], str] | None = None,
                 trajectory_judge: str = "1", turn_judge: str | Callable[[str], str] = "1"):
        self.user, self.assistant = user, assistant
        self.tool = tool or (lambda name, args: json.dumps({"temperature": 21} if name == "get_weather" else {"time": "12:00"}))
        self.trajectory_judge, self.turn_judge = trajectory_judge, turn_judge

    def __call__(self, request: dict) -> Reply:
        messages = request["messages"]
        first = messages[0].get("content") or ""
        said = sum(m["role"] == "assistant" for m in messages)
        if "You are a human user" in first:
            return Reply(content=self.user[said])
        if request.get("tools"):
            step = self.assistant[said]
            step = {"content": step} if isinstance(step, str) else step
            return Reply(content=step.get("content"), tool_calls=step.get("tool_calls"))
        if "simulating a high-performance" in first:
            called = json.loads(first.split("Function call\n", 1)[1].split("\n", 1)[0])
            text = self.tool(called["name"], json.loads(called["arguments"]))
            return Reply(content=f"<func_return>{text}</func_return>")
        if "binary judgment" in first:
            return Reply(content=self.trajectory_judge)
        if "quality of the last response" in first:
            judge = self.turn_judge
            return Reply(content=judge(first.rsplit("### Last response", 1)[1]) if callable(judge) else judge)
        raise AssertionError(f"no scripted agent for {first[:80]!r}")


def run(agents: ScriptedAgents, row: dict | None = None, **settings):
    with FakeOpenAIServer(responder=agents) as server:
        async def go():
            async with LLMClient(loopback_config(server.base_url, max_attempts=1), progress=False, cache=None) as client:
                return await simulate(row or chain(), client, SimulationSettings(**settings))
        return asyncio.run(go()), server


def roles(row: dict) -> list[str]:
    return [m["role"] for m in row["messages"]]


def test_dialogue_ends_on_stop_and_is_a_valid_conversation():
    agents = ScriptedAgents(
        user=["What's the weather in Paris?", "And the time there?", f"Thanks! {STOP}"],
        assistant=[{"tool_calls": [call("get_weather", "c1", city="Paris")]}, "It is 21 degrees.",
                   {"content": "<think>need the time</think>", "tool_calls": [call("get_time", "c2", city="Paris")]},
                   "It is noon."])
    row, server = run(agents)
    assert roles(row) == ["user", "assistant", "tool", "assistant", "user", "assistant", "tool", "assistant"]
    assert row["completed"] and row["end_reason"] == END_STOP
    assert row["function_chain"] == ["get_weather", "get_time"]
    assert row["messages"][5]["reasoning_content"] == "need the time" and row["messages"][5]["content"] is None
    assert row["messages"][2] == {"role": "tool", "content": '{"temperature":21}', "reasoning_content": None,
                                  "tool_calls": None, "tool_call_id": "c1", "name": "get_weather"}
    Conversation.from_row(row).validate()
    # the user saw its own side only: roles flipped, no tool traffic
    last_user = [r for r in server.requests if "You are a human user" in r["messages"][0]["content"]][-1]
    assert [m["role"] for m in last_user["messages"]] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert all("temperature" not in m["content"] for m in last_user["messages"][1:])
    assert row["models"]["assistant"] == "fake-model" and "user_simulator" in row["prompt_versions"]


def test_stop_on_the_first_turn_is_ignored_and_counted():
    agents = ScriptedAgents(user=[f"{STOP} Hi, I need the weather in Paris.", STOP],
                            assistant=["Sure, it is sunny."])
    row, _ = run(agents)
    assert row["ignored_first_turn_stops"] == 1
    assert row["messages"][0]["content"] == "Hi, I need the weather in Paris."
    assert row["completed"] and roles(row) == ["user", "assistant"]


def test_a_bare_stop_on_the_first_turn_is_a_reject():
    result, _ = run(ScriptedAgents(user=[STOP], assistant=[]))
    assert isinstance(result, Reject) and "first turn" in result.reason


def test_turn_limit_ends_the_dialogue_unfinished():
    agents = ScriptedAgents(user=["Weather?", "Which city? Paris.", "Hmm, and tomorrow?", "still there?"],
                            assistant=["Which city?", "Sunny.", "Also sunny."])
    row, server = run(agents, max_turns=2)
    assert roles(row) == ["user", "assistant", "user", "assistant"]
    assert not row["completed"] and row["end_reason"] == END_TURN_LIMIT
    assert server.count == 5  # 3 user turns (the last only asks whether it is done), 2 assistant turns


def test_tool_step_limit():
    endless = {"tool_calls": [call("get_time", None, city="Paris")]}
    row, _ = run(ScriptedAgents(user=["Time?"], assistant=[endless] * 5), max_tool_steps=1)
    assert roles(row) == ["user", "assistant", "tool", "assistant", "tool"] and row["end_reason"] == END_STEP_LIMIT
    # servers that send no call ids get unique ones
    assert [m["tool_call_id"] for m in row["messages"] if m["role"] == "tool"] == ["call_0_0", "call_1_0"]


def test_parallel_calls_get_one_tool_message_each_in_call_order():
    both = {"tool_calls": [call("get_weather", "a", city="Paris"), call("get_time", "b", city="Paris")]}
    row, server = run(ScriptedAgents(user=["Weather and time in Paris?", STOP], assistant=[both, "21 degrees, noon."]))
    assert roles(row) == ["user", "assistant", "tool", "tool", "assistant"]
    assert [(m["tool_call_id"], m["name"]) for m in row["messages"][2:4]] == [("a", "get_weather"), ("b", "get_time")]
    Conversation.from_row(row).validate()


def test_invalid_call_gets_the_tool_agents_error_and_fails_the_schema_rule():
    bad = {"tool_calls": [call("get_weather", "c1", town="Paris")]}
    agents = ScriptedAgents(user=["Weather in Paris?", STOP], assistant=[bad, "Sorry, that failed."],
                            tool=lambda name, args: json.dumps({"error": "missing required argument 'city'"}))
    row, _ = run(agents)
    assert json.loads(row["messages"][2]["content"]) == {"error": "missing required argument 'city'"}
    messages = [Message.from_dict(m) for m in row["messages"]]
    verdicts = check_turns(messages, parse_tools_column(row["tools"]))
    assert [v.error for v in verdicts] == [True, False]
    assert verdicts[0].rule == "arguments" and "missing_required at city" in verdicts[0].reason


def test_unknown_function_is_answered_without_a_request():
    ghost = {"tool_calls": [call("get_moon", "c1")]}
    row, server = run(ScriptedAgents(user=["Moon?", STOP], assistant=[ghost, "No moon tool."]))
    assert json.loads(row["messages"][2]["content"]) == {"error": "function 'get_moon' does not exist"}
    assert not any("simulating a high-performance" in r["messages"][0]["content"] for r in server.requests)


def test_result_outside_the_output_schema_is_retried_once_then_marked():
    answers = iter(['{"temp": "warm"}', '{"temperature": 20}'])
    agents = ScriptedAgents(user=["Weather in Paris?", STOP],
                            assistant=[{"tool_calls": [call("get_weather", "c1", city="Paris")]}, "20 degrees."],
                            tool=lambda name, args: next(answers))
    row, server = run(agents)
    assert row["messages"][2]["content"] == '{"temperature":20}' and row["output_problems"] == []
    retry = [r for r in server.requests if "simulating a high-performance" in r["messages"][0]["content"]][-1]
    assert "'temperature' is a required property" in retry["messages"][-1]["content"]

    agents.tool = lambda name, args: '{"temp": "warm"}'
    row, _ = run(agents)
    assert row["messages"][2]["content"] == '{"temp":"warm"}'
    assert row["output_problems"][0]["tool_call_id"] == "c1"
    assert "'temperature' is a required property" in row["output_problems"][0]["problem"]


@pytest.mark.parametrize("fault", ["server", "unparseable", "empty"])
def test_failure_mid_way_is_a_reject_not_a_truncated_row(fault):
    first = {"tool_calls": [call("get_weather", "c1", city="Paris")]}
    agents = ScriptedAgents(user=["Weather?", STOP], assistant=[first, "Done."],
                            tool=lambda name, args: "no json here at all")
    if fault == "server":
        agents.tool = lambda name, args: '{"temperature": 1}'
        agents.assistant = [first, {"content": None}]
        with FakeOpenAIServer(responder=agents) as server:
            server.script(Reply(status=500), match='"tool_call_id"')
            async def go():
                async with LLMClient(loopback_config(server.base_url, max_attempts=1), progress=False, cache=None) as c:
                    return await simulate(chain(), c, SimulationSettings())
            result = asyncio.run(go())
        assert isinstance(result, Reject) and "HTTP 500" in result.reason
        return
    if fault == "empty":
        agents.assistant = [{"content": ""}]
    result, _ = run(agents)
    assert isinstance(result, Reject) and result.step == "simulation"
    assert ("unparseable result" if fault == "unparseable" else "empty reply") in result.reason


def test_distractors_are_seeded_and_never_duplicate_the_chain():
    pool = [{"name": f"noise_{i}", "description": "", "parameters": json.dumps({"type": "object", "properties": {}})}
            for i in range(10)] + [WEATHER]
    from toolmind.agents.simulation import distractor_pool
    from toolmind.agents.common import chain_functions
    settings = SimulationSettings(distractors=3, distractor_pool=distractor_pool(pool))
    tools = offered_tools(chain_functions(chain()), settings, "chain-1")
    names = [t.name for t in tools]
    assert len(names) == 5 == len(set(names)) and {"get_weather", "get_time"} <= set(names)
    assert names == [t.name for t in offered_tools(chain_functions(chain()), settings, "chain-1")]
    assert names != [t.name for t in offered_tools(chain_functions(chain()), settings, "chain-2")]


def test_think_split_and_user_view():
    assert split_think("<think> plan </think>Answer", None) == ("Answer", "plan")
    assert split_think("<think>x</think>Answer", "server reasoning") == ("<think>x</think>Answer", "server reasoning")
    message = assistant_message({"content": "", "tool_calls": [call("f", "x"), call("f", "x")]}, turn=3)
    assert message.content is None and [c.id for c in message.tool_calls] == ["x", "call_3_1"]
    # ids made from the reply text repeat when a model repeats a turn: unique across the conversation
    again = assistant_message({"content": "", "tool_calls": [call("f", "x"), call("f", "call_3_1")]}, turn=5,
                              used={"x", "call_3_1"})
    assert [c.id for c in again.tool_calls] == ["call_5_0", "call_5_1"]
    view = user_view([Message("user", "hi"), Message("assistant", None, tool_calls=message.tool_calls)], "Hello?")
    assert view == [{"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "hi"},
                    {"role": "user", "content": "Hello?"}]
    assert parse_func_return('<func_return> {"a": 1} <func_return>') == {"a": 1}


def test_settings_from_mapping_names_the_bad_key():
    assert SimulationSettings.from_mapping({"max_turns": 3}).max_turns == 3
    with pytest.raises(ValueError, match=r"simulation\.max_turn: unknown key"):
        SimulationSettings.from_mapping({"max_turn": 3})
    with pytest.raises(ValueError, match=r"simulation\.distractors: must be a non-negative int"):
        SimulationSettings.from_mapping({"distractors": -1})
