import pytest

from builders.dedup import EXACT, NEAR, THRESHOLD, Dedup, dedup, find_duplicates
from builders.errors import ConfigError
from builders.runtime import GlobalContext

BASE = ("I need to plan a trip from Lisbon to Oslo next month, book a window seat on the earliest flight, "
        "reserve a quiet hotel room close to the central station for three nights and tell me the forecast")
OTHER = ("Please list every open pull request in the payments repository, assign the oldest one to Maria, "
         "add the label needs-review and post a short summary of the changes to the team channel")


def traj(id_, user, answer="Sure, working on it."):
    return {"id": id_, "messages": [{"role": "system", "content": "You are helpful."},
                                    {"role": "user", "content": user},
                                    {"role": "assistant", "content": answer,
                                     "tool_calls": [{"id": "c", "type": "function",
                                                     "function": {"name": "search", "arguments": '{"q": "x"}'}}]},
                                    {"role": "tool", "content": "ok", "tool_call_id": "c", "name": "search"}]}


def test_exact_and_near_duplicates_keep_the_smallest_id():
    rows = [traj("d", BASE.upper() + "!!"),                      # exact: case and punctuation only
            traj("b", BASE),
            traj("c", BASE.replace("Oslo", "Bergen")),            # near: one word changed
            traj("a", OTHER),
            traj("e", OTHER.replace("Maria", "Jonas").replace("three", "two"))]
    kept, gone = dedup(rows, "trajectories")
    assert [r["id"] for r in kept] == ["b", "a"]
    why = {r["id"]: d for r, d in gone}
    assert (why["d"].duplicate_of, why["d"].kind) == ("b", EXACT)
    assert (why["c"].duplicate_of, why["c"].kind) == ("b", NEAR) and why["c"].similarity >= THRESHOLD
    assert why["e"].duplicate_of == "a" and why["e"].kind == NEAR


def test_different_requests_over_the_same_template_stay():
    texts = {"a": "What is the weather in Paris today", "b": "What is the weather in London today",
             "c": BASE, "d": OTHER}
    assert find_duplicates(texts) == {}


def test_result_does_not_depend_on_input_order():
    rows = [traj(str(i), BASE.replace("three", str(i))) for i in range(6)] + [traj("x", OTHER)]
    first, _ = dedup(rows, "trajectories")
    second, _ = dedup(list(reversed(rows)), "trajectories")
    assert sorted(r["id"] for r in first) == sorted(r["id"] for r in second) == ["0", "x"]


def sample(id_, tid, turn, user):
    prompt = [{"role": "user", "content": user}]
    if turn > 1:
        prompt += [{"role": "assistant", "content": "Found it."}, {"role": "user", "content": "And the next step?"}]
    return {"id": id_, "trajectory_id": tid, "turn_index": turn, "prompt": prompt,
            "completion": [{"role": "assistant", "content": "Done."}]}


def test_samples_go_with_their_trajectory_and_are_not_compared_within_it():
    rows = [sample("s1", "t1", 1, BASE), sample("s2", "t1", 3, BASE),        # one trajectory, near-identical turns
            sample("s3", "t2", 1, BASE), sample("s4", "t2", 3, BASE),        # duplicates trajectory t1
            sample("s5", "t3", 1, OTHER)]
    kept, gone = dedup(rows, "samples")
    assert [r["id"] for r in kept] == ["s1", "s2", "s5"]
    assert {r["id"]: d.duplicate_of for r, d in gone} == {"s3": "t1", "s4": "t1"}


def test_itc_queries_and_the_runtime_step_record_rejects():
    rows = [{"id": "q2", "query": BASE}, {"id": "q1", "query": BASE + " please"}, {"id": "q3", "query": OTHER}]
    step = Dedup("queries")
    step.check()
    ctx = GlobalContext(step, seed=0)
    kept = step.run(rows, ctx)
    assert [r["id"] for r in kept] == ["q1", "q3"]
    [(item, reason, record)] = ctx.rejected
    assert item == "q2" and reason == NEAR and record["duplicate_of"] == "q1" and record["row"]["query"] == BASE


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="unit"):
        Dedup("paragraphs").check()
    with pytest.raises(ConfigError, match="threshold"):
        Dedup(threshold=1.5).check()


def test_the_dedup_option_of_a_preset():
    from builders.dedup import dedup_settings

    assert dedup_settings(None, "x") == {} and dedup_settings({"threshold": 0.8}, "x") == {"threshold": 0.8}
    assert dedup_settings(False, "x") is None
    with pytest.raises(ConfigError, match=r"x: must be false or \{threshold\}"):
        dedup_settings({"thresh": 0.8}, "x")
