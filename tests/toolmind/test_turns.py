"""The ``trajectories`` and ``samples`` rows: the exact prompt / completion split and what training reads."""

from __future__ import annotations

import datasets
import pytest

from builders.schema import Message, ToolCall, dumps
from toolmind.turns import SAMPLE_COLUMNS, TRAJECTORY_COLUMNS, split_samples, trajectory_row
from training.data import row_conversation

TOOLS = dumps([{"type": "function", "function": {"name": "f", "description": "", "parameters": {
    "type": "object", "properties": {"x": {"type": "integer"}}}}}])
USER1 = Message("user", "do f")
A1 = Message("assistant", None, reasoning_content="r1", tool_calls=[ToolCall("f", '{"x":1}', "c1")])
TOOL1 = Message("tool", '{"y":2}', tool_call_id="c1", name="f")
A2 = Message("assistant", "y is 2", reasoning_content="r2")
USER2 = Message("user", "again")
A3 = Message("assistant", "sure", reasoning_content="r3")


def verdict(keep: bool, error: bool = False) -> dict:
    return {"keep": keep, "error": error, "rule": "feedback" if error else None, "judge": None if error else int(keep),
            "reason": None if keep else "turn judge scored 0"}


def filtered(tid: str = "t1", keeps=(True, False, True)) -> dict:
    return {"id": tid, "chain_id": "c", "messages": [m.to_dict() for m in (USER1, A1, TOOL1, A2, USER2, A3)],
            "tools": TOOLS, "intent": {"task_instruction": "x", "tool_usage": "f", "domains": ["others"]},
            "function_chain": ["f"], "completed": True, "end_reason": "user stop", "ignored_first_turn_stops": 0,
            "output_problems": [], "chain_seed": 3, "edge_scores": [7, 9], "models": {"assistant": "gen-model"},
            "prompt_versions": {"assistant": "v"}, "trajectory_verdict": {"keep": True, "passed": True,
                                                                            "completed": True, "judge": 1, "reason": None},
            "turn_verdicts": [verdict(k) for k in keeps]}


def test_trajectory_row_columns_and_provenance():
    row = trajectory_row(filtered())
    assert tuple(row) == TRAJECTORY_COLUMNS
    assert row["provenance"]["edge_scores"] == [7, 9] and row["provenance"]["chain_seed"] == 3
    messages, _, trained = row_conversation(row)
    assert trained == [1, 5]  # the judge-dropped turn stays in context, with no loss


def test_exact_prompt_completion_split():
    samples = split_samples(trajectory_row(filtered()))
    assert [s["turn_index"] for s in samples] == [0, 2]
    first, last = samples
    assert tuple(first) == SAMPLE_COLUMNS
    assert first["prompt"] == [USER1.to_dict()] and first["completion"] == [A1.to_dict()]
    stripped = lambda m: {**m.to_dict(), "reasoning_content": None}  # noqa: E731
    assert last["prompt"] == [USER1.to_dict(), stripped(A1), TOOL1.to_dict(), stripped(A2), USER2.to_dict()]
    assert last["completion"] == [A3.to_dict()] and last["completion"][0]["reasoning_content"] == "r3"
    assert last["trajectory_id"] == "t1" and last["source"] == "toolmind" and last["generator"] == "gen-model"
    assert last["turn_verdict"] == verdict(True) and last["tools"] == TOOLS
    messages, _, trained = row_conversation(last)
    assert trained == [5] and len(messages) == 6
    # ids are content hashes: the same turn gives the same id, another turn another
    assert first["id"] == split_samples(trajectory_row(filtered(keeps=(True, True, True))))[0]["id"] != last["id"]


def test_mae_turns_are_not_anchors_and_rows_fit_arrow():
    trajectories = [trajectory_row(filtered("t1")), trajectory_row(filtered("t2", keeps=(True, True, True)))]
    trajectories[0]["turn_verdicts"][0] = verdict(False, error=True)
    samples = [s for t in trajectories for s in split_samples(t)]
    assert [(s["trajectory_id"], s["turn_index"]) for s in samples] == [("t1", 2), ("t2", 0), ("t2", 1), ("t2", 2)]
    for rows in (trajectories, samples):  # one Arrow type for every row, as the Parquet writer needs
        ds = datasets.Dataset.from_list(rows)
        assert ds.num_rows == len(rows)
    assert datasets.Dataset.from_list(samples)[0]["completion"][0]["tool_calls"] is None


# the offline tiny model and tokenizer of the training tests (imported fixtures are module fixtures here)
from tests.training.conftest import smollm2_tokenizer_dir, tiny_model_dir  # noqa: E402,F401


@pytest.mark.slow
def test_sft_trainer_takes_samples_as_published_with_loss_on_the_anchor_only(tiny_model_dir, tmp_path):  # noqa: F811
    import math

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    datasets.Dataset.from_list(split_samples(trajectory_row(filtered()))).to_parquet(str(tmp_path / "samples.parquet"))
    data = datasets.load_dataset("parquet", data_files=str(tmp_path / "samples.parquet"), split="train")
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model_dir), processing_class=tok,
                         train_dataset=data, args=SFTConfig(output_dir=str(tmp_path / "out"), max_steps=1, bf16=False,
                                                            per_device_train_batch_size=2, report_to="none",
                                                            save_strategy="no", logging_steps=1))
    trained = []
    for row in trainer.train_dataset:
        ids = [label for label in row["labels"] if label != -100]
        trained.append(tok.decode(ids))
    assert trained[0].startswith("<think>\nr1\n</think>") and '{"name": "f", "arguments": {"x":1}}' in trained[0]
    assert "do f" not in trained[0]
    assert trained[1] == "<think>\nr3\n</think>\n\nsure<|im_end|>\n"  # not the user turn, not the earlier answer
    assert math.isfinite(trainer.train().training_loss)


def test_a_row_the_release_would_refuse_is_a_reject_with_the_contracts_reason():
    from builders.runtime import Reject
    from toolmind.steps import TrajectoryRows

    step = TrajectoryRows()
    assert step.process(filtered())["id"] == "t1"
    # the same call id in two turns (a model that repeats a turn word for word): refused by the contract
    again = Message("assistant", None, tool_calls=[ToolCall("f", '{"x":1}', "c1")])
    bad = filtered(keeps=(True, True, True))
    bad["messages"] = [m.to_dict() for m in (USER1, A1, TOOL1, again, Message("tool", "{}", tool_call_id="c1",
                                                                                  name="f"), USER2, A3)]
    with pytest.raises(Reject, match="call id 'c1' is already used in this conversation"):
        step.process(bad)
