"""The two-stage filter: every verdict stored, drops only in ``enforce`` mode."""

from __future__ import annotations

import asyncio
import json

import pytest

from builders.llm import LLMClient
from builders.llm.testing import FakeOpenAIServer, Reply, loopback_config
from builders.schema import Message, ToolCall, dumps
from toolmind.agents import Reject
from toolmind.judges import FilterSettings, filter_trajectory, parse_binary

TOOLS = dumps([{"type": "function", "function": {"name": "lookup", "description": "Look a word up.", "parameters": {
    "type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}}}])


def row(completed: bool = True) -> dict:
    messages = [
        Message("user", "What does 'ephemeral' mean?"),
        Message("assistant", tool_calls=[ToolCall("lookup", json.dumps({"term": "ephemeral"}), "a")]),
        Message("tool", '{"error": "missing word"}', tool_call_id="a", name="lookup"),
        Message("assistant", tool_calls=[ToolCall("lookup", json.dumps({"word": "ephemeral"}), "b")]),
        Message("tool", '{"meaning": "short-lived"}', tool_call_id="b", name="lookup"),
        Message("assistant", "It means BANANA."),
    ]
    return {"id": "t1", "messages": [m.to_dict() for m in messages], "tools": TOOLS, "completed": completed,
            "models": {"assistant": "m"}, "prompt_versions": {}}


class Judges:
    """Trajectory judge says ``trajectory``; the turn judge says 0 for a response containing BANANA."""

    def __init__(self, trajectory: str = "1", turn_bad: str = "0"):
        self.trajectory, self.turn_bad = trajectory, turn_bad

    def __call__(self, request: dict) -> Reply:
        text = request["messages"][0]["content"]
        if "binary judgment" in text:
            return Reply(content=self.trajectory)
        response = text.rsplit("### Last response", 1)[1]
        return Reply(content=self.turn_bad if "BANANA" in response else "The answer is 1.")


def run(judges: Judges, settings: FilterSettings, completed: bool = True):
    with FakeOpenAIServer(responder=judges) as server:
        async def go():
            async with LLMClient(loopback_config(server.base_url, max_attempts=1), progress=False, cache=None) as client:
                return await filter_trajectory(row(completed), client, settings)
        return asyncio.run(go()), server


def test_rules_then_turn_judge_enforced():
    out, server = run(Judges(), FilterSettings())
    verdicts = out["turn_verdicts"]
    assert [(v["keep"], v["error"], v["rule"], v["judge"]) for v in verdicts] == [
        (False, True, "arguments", None), (True, False, None, 1), (False, False, None, 0)]
    assert verdicts[2]["reason"] == "turn judge scored 0"
    assert out["trajectory_verdict"] == {"keep": True, "passed": True, "completed": True, "judge": 1, "reason": None}
    # the rule-failed turn was not sent to the turn judge: 1 trajectory + 2 turn requests
    assert server.count == 3
    assert set(out["prompt_versions"]) == {"trajectory_judge", "turn_judge"}
    assert out["models"]["turn_judge"] == "fake-model"


def test_turn_judge_recorded_keeps_the_turn_but_stores_the_verdict():
    out, _ = run(Judges(), FilterSettings(turn="record"))
    assert [(v["keep"], v["judge"]) for v in out["turn_verdicts"]] == [(False, None), (True, 1), (True, 0)]
    assert out["turn_verdicts"][2]["reason"] == "turn judge scored 0"


@pytest.mark.parametrize("mode", ["enforce", "record"])
def test_trajectory_judge_zero(mode):
    out, server = run(Judges(trajectory="0"), FilterSettings(trajectory=mode))
    if mode == "enforce":
        assert isinstance(out, Reject) and out.reason == "trajectory filter: trajectory judge scored 0"
        assert server.count == 1  # no turn judging for a dropped trajectory
    else:
        assert out["trajectory_verdict"] == {"keep": True, "passed": False, "completed": True, "judge": 0,
                                             "reason": "trajectory judge scored 0"}


@pytest.mark.parametrize("mode", ["enforce", "record"])
def test_user_never_stopped(mode):
    out, _ = run(Judges(), FilterSettings(trajectory=mode), completed=False)
    reason = "the user agent did not say the intent was fulfilled"
    if mode == "enforce":
        assert isinstance(out, Reject) and reason in out.reason
    else:
        assert out["trajectory_verdict"]["reason"] == reason and not out["trajectory_verdict"]["passed"]
    out, _ = run(Judges(), FilterSettings(require_stop=False), completed=False)
    assert out["trajectory_verdict"]["passed"]


def test_unreadable_verdicts():
    out, _ = run(Judges(trajectory="good quality"), FilterSettings())
    assert isinstance(out, Reject) and "trajectory_judge reply has no 0/1 verdict" in out.reason
    out, _ = run(Judges(turn_bad="maybe"), FilterSettings(turn="record"))
    last = out["turn_verdicts"][2]
    assert last["keep"] and last["judge"] is None and "turn_judge reply has no 0/1 verdict" in last["reason"]
    out, _ = run(Judges(turn_bad="maybe"), FilterSettings())
    assert not out["turn_verdicts"][2]["keep"]


def test_parse_binary_and_settings():
    assert [parse_binary(t) for t in ("1", " 0\n", "Score: 1.", "10", "0.5", "", None)] == [1, 0, 1, None, None, None, None]
    assert FilterSettings.from_mapping({"turn": "record"}).turn == "record"
    with pytest.raises(ValueError, match=r"filters\.turn: mode 'drop' is unknown"):
        FilterSettings.from_mapping({"turn": "drop"})
    with pytest.raises(ValueError, match="unknown keys"):
        FilterSettings.from_mapping({"turns": "record"})
