import pytest

from builders.decontam import BFCL, Decontaminate, NgramIndex, bfcl_questions, counts_by_set, decontaminate, eval_set
from builders.errors import ConfigError
from builders.runtime import GlobalContext

CLEAN = [
    "Book a table for two at an Italian restaurant near the harbour tonight at eight",
    "Send an email to my landlord saying the heating in the flat has been broken since Monday",
    "What is the weather like in Paris today and tomorrow morning?",
    "Get the current stock price of Apple",
]


@pytest.fixture(scope="module")
def bfcl():
    return bfcl_questions()


@pytest.fixture(scope="module")
def index(bfcl):
    return NgramIndex([bfcl, eval_set("itc_test", [{"id": "t1", "query": ITC_TEST}])])


ITC_TEST = "Show me the five most popular open source repositories about graph databases written in Rust this year"


def traj(id_, user):
    return {"id": id_, "messages": [{"role": "user", "content": user},
                                    {"role": "assistant", "content": "Let me check."}]}


def test_bfcl_questions_are_read_from_the_installed_package(bfcl):
    assert bfcl.name == BFCL and len(bfcl.texts) > 4000
    assert any(k.startswith("simple_python_0#") for k in bfcl.texts)
    assert any(k.startswith("multi_turn_base_0#1.") for k in bfcl.texts)  # later user turns too


def test_verbatim_and_lightly_reworded_bfcl_questions_are_caught(bfcl, index):
    question = bfcl.texts["simple_python_0#0.0"]  # "Find the area of a triangle with a base of 10 units and ..."
    reworded = ("Hi! Could you " + question.replace("Find", "compute").replace("triangle", "triangular shape")
                .replace("units", "cm", 1) + " Thanks a lot.")
    assert reworded.lower() != question.lower()
    rows = [traj("a", question), traj("b", reworded)] + [traj(f"c{i}", t) for i, t in enumerate(CLEAN)]
    kept, gone = decontaminate(rows, index, "trajectories")
    assert [r["id"] for r in kept] == ["c0", "c1", "c2", "c3"]
    assert {r["id"]: h.question for r, h in gone} == {"a": "simple_python_0#0.0", "b": "simple_python_0#0.0"}
    assert counts_by_set(gone) == {BFCL: 2}


def test_a_question_inside_a_long_conversation_counts(bfcl, index):
    question = bfcl.texts["multi_turn_base_0#0.0"]
    long_text = " ".join(CLEAN) + " By the way: " + question + " " + " ".join(CLEAN)
    assert index.match(long_text).question == "multi_turn_base_0#0.0"


def test_itc_test_queries_contaminate_itc_train_and_counts_are_per_set(index):
    train = [{"id": "q1", "query": ITC_TEST.replace("five", "ten")}, {"id": "q2", "query": CLEAN[0]}]
    step = Decontaminate(index.sets, unit="queries")
    step.check()
    ctx = GlobalContext(step, seed=0)
    assert [r["id"] for r in step.run(train, ctx)] == ["q2"]
    [(item, reason, record)] = ctx.rejected
    assert (item, reason, record["eval_set"], record["question"]) == ("q1", "overlaps itc_test", "itc_test", "t1")


def test_samples_of_a_contaminated_trajectory_all_go(bfcl, index):
    q = bfcl.texts["simple_python_0#0.0"]
    rows = [{"id": "s1", "trajectory_id": "t", "turn_index": 1, "prompt": [{"role": "user", "content": q}],
             "completion": [{"role": "assistant", "content": "ok"}]},
            {"id": "s2", "trajectory_id": "t", "turn_index": 3,
             "prompt": [{"role": "user", "content": q}, {"role": "assistant", "content": "ok"},
                        {"role": "user", "content": "thanks"}],
             "completion": [{"role": "assistant", "content": "bye"}]}]
    kept, gone = decontaminate(rows, index, "samples")
    assert kept == [] and len(gone) == 2


def test_settings_name_the_sets_and_a_step_without_sets_is_refused(index):
    assert set(Decontaminate(index.sets).settings()["sets"]) == {BFCL, "itc_test"}
    with pytest.raises(ConfigError, match="no evaluation set"):
        Decontaminate([]).check()


def test_dedup_and_decontamination_run_as_pipeline_steps_with_counts_per_reason(tmp_path, index):
    from builders.dedup import Dedup
    from builders.runtime import Pipeline

    rows = [{"id": "q2", "query": CLEAN[0]}, {"id": "q1", "query": CLEAN[0] + "!"},
            {"id": "q3", "query": ITC_TEST}, {"id": "q4", "query": CLEAN[1]}]
    result = Pipeline("p", source=rows, steps=[Dedup("queries"), Decontaminate(index.sets, unit="queries")],
                      work_dir=tmp_path / "work", seed=0).run()
    assert [r["id"] for r in result.items] == ["q1", "q4"]
    steps = result.stats["steps"]
    assert steps["dedup_queries"]["rejected"] == {"exact duplicate": 1}
    assert steps["decontaminate_queries"]["rejected"] == {"overlaps itc_test": 1}


def test_train_rows_overlapping_the_test_split_go_and_test_rows_stay(tmp_path):
    from builders.decontam import DecontaminateSplit
    from builders.runtime import Pipeline

    rows = [{"id": "t1", "split": "test", "query": ITC_TEST},
            {"id": "t2", "split": "test", "query": CLEAN[0]},
            {"id": "r1", "split": "train", "query": "Please " + ITC_TEST.replace("five", "ten") + ", thanks"},
            {"id": "r2", "split": "train", "query": CLEAN[1]},
            {"id": "r3", "split": "train", "query": CLEAN[3]}]
    step = DecontaminateSplit("queries", "train", "test", "itc_test")
    step.check()
    result = Pipeline("p", source=rows, steps=[step], work_dir=tmp_path / "work", seed=0).run()
    assert sorted(r["id"] for r in result.items) == ["r2", "r3", "t1", "t2"]
    assert result.stats["steps"]["decontaminate_train"]["rejected"] == {"overlaps itc_test": 1}
    (reject,) = result.rejects
    assert reject["item"] == "r1" and reject["record"]["question"] == "t1"
    # no test split: nothing to compare with, every row stays
    only_train = [r for r in rows if r["split"] == "train"]
    again = Pipeline("q", source=only_train, steps=[step], work_dir=tmp_path / "work2", seed=0).run()
    assert len(again.items) == 3 and not again.rejects


def test_the_decontaminate_option_names_sets_the_release_has():
    from builders.decontam import ITC_TEST as TEST_SET, eval_set_names

    both = {BFCL: None, TEST_SET: None}
    no_itc = {BFCL: None, TEST_SET: "build itc before toolmind in the same release, or drop itc_test"}
    assert eval_set_names(None, "x", both) == [BFCL, TEST_SET]
    assert eval_set_names({}, "x", no_itc) == [BFCL]  # the default is every set the release has
    assert eval_set_names(False, "x", both) == []
    assert eval_set_names({"sets": [TEST_SET]}, "x", both) == [TEST_SET]
    with pytest.raises(ConfigError, match=r"x.sets: names itc_test, but this release has no itc_test set.*build itc"):
        eval_set_names({"sets": [TEST_SET]}, "x", no_itc)
    with pytest.raises(ConfigError, match=r"names \['mmlu'\].*list some of bfcl_v4, itc_test"):
        eval_set_names({"sets": ["mmlu"]}, "x", both)
    with pytest.raises(ConfigError, match="must be false or"):
        eval_set_names("yes", "x", both)


def test_a_very_short_question_matches_only_a_text_of_its_size(bfcl, index):
    short = bfcl.texts["live_irrelevance_577-180-0#0.1"]  # "Looking for someone": one informative 3-gram
    assert index.match(short).question == "live_irrelevance_577-180-0#0.1"
    chat = ("I'm all smiles, thanks for asking! I am looking for someone who can fix my bike this weekend, "
            "ideally near the station, and who does not charge too much for a simple repair")
    assert index.match(chat) is None
