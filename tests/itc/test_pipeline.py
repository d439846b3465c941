"""The whole ITC pipeline on the runtime against a scripted loopback LLM: tasks, split, rejects, resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from builders.errors import ConfigError
from builders.llm.testing import FakeOpenAIServer, Reply, loopback_config
from builders.pipeline import Rejects
from itc.pipeline import build_itc, build_itc_result, checker_setup, openai_name
from tests.itc.conftest import make_tool
from training.data import row_conversation, row_tools

ROOT = Path(__file__).resolve().parents[2]
QUERIES = {
    "en": ["Please find the {what} for Chicago next Saturday, I need it for my cycling club.",
           "Could you show me the {what} for Boston on the fifteenth of June, because we are planning a picnic?"],
    "de": ["Bitte zeige mir die {what} für München am nächsten Samstag, ich plane eine Radtour mit Freunden.",
           "Kannst du mir die {what} für Hamburg am Wochenende heraussuchen, weil wir einen Ausflug machen wollen?"],
}
THOUGHT = {"en": "I will call the tools that answer the request with the values the user gave.",
           "de": "Ich rufe die passenden Werkzeuge mit den Angaben des Nutzers auf, um die Anfrage zu beantworten."}


def catalog() -> list[dict]:
    weather = [("getWeatherForecast", "Weather forecast for a city and a date", ["city", "date"], ["temperature"])]
    tools = [make_tool("wetter.de", "de", "Weather", [("wetterVorhersage", "Wettervorhersage für eine Stadt", ["stadt"],
                                                          ["temperatur"])]),
             make_tool("bahn.de", "de", "Travel", [("verbindungSuchen", "Zugverbindungen zwischen zwei Städten",
                                                    ["von", "nach"], ["abfahrt"]),
                                                   ("preisAbfragen", "Fahrpreis einer Verbindung", ["abfahrt"], ["preis"])]),
             make_tool("weather.gov", "us", "Weather", weather),
             make_tool("openweather", "Global", "Weather", [("getWeatherForecasts", "Forecast of the weather for a city",
                                                             ["city"], ["temperature"])]),
             make_tool("tfl.gov.uk", "gb", "Travel", [("journeyPlanner", "Journeys between two London stations",
                                                       ["from", "to"], ["departure"]),
                                                      ("fareFinder", "Fare for a journey", ["departure"], ["fare"])]),
             make_tool("nba.com", "us", "Sports", [("teamSchedule", "Games of a basketball team", ["team"], ["game_id"]),
                                                   ("boxScore", "Box score of one game", ["game_id"], ["points"])]),
             make_tool("kicker.de", "de", "Sports", [("spielplan", "Spielplan einer Fußballmannschaft", ["verein"],
                                                      ["spiel_id"])]),
             make_tool("recipes.com", "Global", "Food", [("searchRecipes", "Recipes with an ingredient", ["ingredient"],
                                                          ["recipe_id"]),
                                                         ("recipeDetails", "Steps of one recipe", ["recipe_id"], ["steps"])])]
    broken = make_tool("down.example", "us", "Weather", [("getRain", "Rain radar", ["city"], [])])
    broken["api_list"][0]["probe"] = {"ok": False, "reason": "HTTP 503"}
    return tools + [broken]


def _between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def make_responder():
    """Answers each prompt kind of the pipeline with valid JSON; a few queries are made to fail on purpose."""
    tasks: dict[str, tuple[str, list[dict]]] = {}

    def respond(request: dict) -> Reply:
        text = request["messages"][-1]["content"]
        if "Quality Checker" in text:
            fail = "Radtour" in text and "Ausflug" not in text and "seed" not in request
            return Reply(content=json.dumps({"decision": "Fail" if fail and "München" in text and "Bahn" in text
                                             else "Pass", "reasoning": "checked every criterion"}))
        if "Please evaluate the following query" in text:
            query = _between(text, "Please evaluate the following query:", "Your response:")
            # judge 2 (sampling seed 2) dislikes picnic queries; judge 1 likes everything
            low = request.get("seed") == 2 and "picnic" in query
            return Reply(content=json.dumps({d: {"score": 2 if low else 5} for d in
                                             ("relevance", "clarity", "specificity", "practicality",
                                              "language_appropriateness")}))
        if "The task is as follows:" in text:
            query = _between(text, "The task is as follows:", "Your response:")
            task_type, apis = tasks[query]
            language = "de" if any(ch in query for ch in "äöüß") or "Bitte" in query or "Kannst" in query else "en"
            first = apis[0]
            picks = {"single": [first], "repeated": [first, first]}.get(task_type, apis[:2] if len(apis) > 1 else [first, first])
            calls = [{"name": a["name"], "arguments": {p["name"]: f"{p['name']} {i}" for p in a["required_parameters"]}}
                     for i, a in enumerate(picks)]
            if "Chicago" in query and task_type == "single":  # an Action naming an API outside the set
                calls = [{"name": "inventedApi", "arguments": {"city": "Boston"}}]
            return Reply(content=json.dumps({"Thought": THOUGHT[language], "Action": calls}))
        if "Here is the API information:" in text:
            specs = json.loads(_between(text, "Here is the API information:", "Here is the Output format:"))
            task_type = ("nested" if "nested call" in text else "parallel" if "at the same time" in text
                         else "repeated" if "multiple calls to the same tool" in text else "single")
            apis = [a for s in specs for a in s["api_list"]]
            language = "de" if specs[0]["country"] == "Germany" else "en"
            what = " und ".join(a["name"] for a in apis) if language == "de" else " and ".join(a["name"] for a in apis)
            number = ("single", "repeated", "parallel", "nested").index(task_type)  # one text per set
            texts = [q.format(what=what) + f" #{number}" for q in QUERIES[language]]
            if language == "de":  # a German set that gets an English query: a language reject
                texts.append(f"Tell me the {what} for Berlin right now, in plain words please.")
            out = []
            for q in texts:
                tasks[q] = (task_type, apis)
                out.append({"query": q, "apis": [a["name"] for a in apis[:1 if task_type in ("single", "repeated") else 2]]})
            return Reply(content=json.dumps({"queries": out}))
        return Reply(status=400, content="unknown prompt")

    return respond


# the scripted writer fills one template per language, so its queries are near duplicates by design: dedup is
# off here and has its own test (test_duplicate_and_benchmark_queries_go_before_any_judge...)
OPTIONS = {"counts": {"single": 5, "repeated": 3, "parallel": 3, "nested": 3}, "embedder": "hashed",
           "test_fraction": 0.2, "split_tolerance": 0.5, "dedup": False}


def make_ctx(url: str, root: Path, **endpoint) -> SimpleNamespace:
    return SimpleNamespace(seed=0, llm_config=loopback_config(url, **endpoint), root=root, rejects=Rejects())


def build(url: str, work: Path, root: Path, **endpoint):
    ctx = make_ctx(url, root, **endpoint)
    result, rows = build_itc_result(ctx, {**OPTIONS, "tools": catalog(), "work_dir": str(work)})
    return result, rows, ctx


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer(responder=make_responder()) as srv:
        yield srv


@pytest.fixture(scope="module")
def clean(server, tmp_path_factory):
    root = tmp_path_factory.mktemp("itc-clean")
    before = server.count
    result, rows, ctx = build(server.base_url, root / "work", root)
    return SimpleNamespace(result=result, rows=rows, ctx=ctx, requests=server.count - before, root=root)


def test_train_and_test_are_non_empty_and_share_no_api(clean):
    default = clean.rows["default"]
    assert default["train"] and default["test"]
    train_tools = {t for r in default["train"] for t in r["tool_ids"]}
    test_tools = {t for r in default["test"] for t in r["tool_ids"]}
    assert not train_tools & test_tools
    apis = clean.rows["apis"]
    assert {r["api"] for r in apis["test"]} == test_tools
    assert {r["api"] for r in apis["train"]} >= train_tools
    assert "down.example" not in {r["api"] for side in apis.values() for r in side}  # dropped by the catalog step
    assert {r["task_type"] for side in default.values() for r in side} == {"single", "repeated", "parallel", "nested"}


def test_rows_validate_as_training_conversations(clean):
    for split, rows in clean.rows["default"].items():
        for i, row in enumerate(rows):
            messages, tools, trained = row_conversation(row, i)
            assert [m["role"] for m in messages] == ["system", "user", "assistant"] and trained == [2]
            names = {t["function"]["name"] for t in row_tools(row)}
            completion = row["completion"][0]
            assert completion["content"].startswith("Thought: ") and completion["tool_calls"]
            for call in completion["tool_calls"]:
                assert call["function"]["name"] in names
                assert isinstance(json.loads(call["function"]["arguments"]), dict)
            assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", n) for n in names)
            assert row["prompt"][1]["content"] == row["query"] and json.loads(row["apis"])
            scores = json.loads(row["judge_scores"])
            assert sorted(scores) == ["judge_1", "judge_2"] and all(s["total"] >= 4 for s in scores.values())


def test_rejects_carry_their_reasons(clean):
    by_step: dict[str, list[str]] = {}
    for r in clean.result.rejects:
        by_step.setdefault(r["step"], []).append(r["reason"])
    assert any("HTTP 503" in reason for reason in by_step["catalog"])
    assert by_step["check_language"] and all("the task asks for 'de'" in r for r in by_step["check_language"])
    assert by_step["keep_scored_queries"] and all("judge 2 gave total 2 < 4" in r for r in by_step["keep_scored_queries"])
    # an Action naming an API outside the query's set breaks the per-query reply schema: rejected before any checker
    invented = [r for r in clean.result.rejects if r["step"] == "generate_answers"]
    assert invented and all("inventedApi" in r["record"]["reply"] and "$.Action[0]" in r["reason"] for r in invented)
    assert "check_answers" not in by_step
    stats = clean.result.stats["steps"]
    assert stats["check_language"]["rejected"] and stats["score_judge_1"]["out"] == stats["check_language"]["out"]
    assert set(clean.result.stats["llm"]) == {"query_generator", "scorer", "qa_generator", "checker"}
    assert all(r["step"].startswith("itc:") for r in clean.ctx.rejects.items) if hasattr(clean.ctx.rejects, "items") else True


def test_record_mode_keeps_what_enforce_drops(server, tmp_path, clean):
    ctx = make_ctx(server.base_url, tmp_path)
    rows = build_itc(ctx, {**OPTIONS, "tools": catalog(), "work_dir": str(tmp_path / "work"),
                           "score_filter": "record", "language_filter": "record"})
    tasks = [r for side in rows["default"].values() for r in side]
    enforced = sum(len(side) for side in clean.rows["default"].values())
    assert len(tasks) > enforced
    assert any(any(s["total"] < 4 for s in json.loads(r["judge_scores"]).values()) for r in tasks)
    assert any(not r["score_pass"] for r in tasks) and any(not r["language_ok"] for r in tasks)
    assert all(r["score_pass"] and r["language_ok"] for side in clean.rows["default"].values() for r in side)


def test_two_generators_check_each_other_and_are_cross_ranked(server, tmp_path):
    ctx = make_ctx(server.base_url, tmp_path)
    result, _ = build_itc_result(ctx, {**OPTIONS, "tools": catalog(), "work_dir": str(tmp_path / "work"),
                                       "generators": ["qa_generator", "assistant"]})
    assert result.items and "checker" not in result.stats["llm"]
    for task in result.items:
        assert sorted(task["ranking"]) == ["assistant", "qa_generator"]  # both passed; ranked by the seeded order
        other = "assistant" if task["generator"] == "qa_generator" else "qa_generator"
        assert list(task["verdicts"]) == [other]


def test_a_rerun_sends_nothing_and_gives_the_same_rows(server, clean):
    before = server.count
    _, rows, _ = build(server.base_url, clean.root / "work", clean.root)
    assert server.count == before
    assert rows == clean.rows


def test_killed_build_resumes_to_the_same_rows(clean, tmp_path):
    """SIGKILL in the middle of query generation (4 requests in flight at a time), then a rerun."""
    work = tmp_path / "work"
    code = ("import sys; from tests.itc.test_pipeline import build; from pathlib import Path; "
            "build(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), max_concurrency=4)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with FakeOpenAIServer(latency=0.1, responder=make_responder()) as slow:
        child = subprocess.Popen([sys.executable, "-c", code, slow.base_url, str(work), str(tmp_path)], env=env, cwd=ROOT)
        deadline = time.monotonic() + 40
        while slow.count < 9 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)
        child.wait()
        sent_before_kill = slow.count
        assert 9 <= sent_before_kill < clean.requests
        _, rows, _ = build(slow.base_url, work, tmp_path, max_concurrency=4)
        resumed = slow.count - sent_before_kill
    assert rows == clean.rows
    assert resumed < clean.requests  # the answers that reached the killed build were kept
    assert sent_before_kill + resumed <= clean.requests + 4  # at most the requests in flight were asked again


def test_assembly_errors_are_one_line_before_any_request(server, tmp_path):
    before = server.count
    ctx = make_ctx(server.base_url, tmp_path)
    with pytest.raises(ConfigError, match="mode 'strict'"):
        build_itc(ctx, {**OPTIONS, "tools": catalog(), "work_dir": str(tmp_path), "score_filter": "strict"})
    with pytest.raises(ConfigError, match="not a known|unknown LLM role"):
        build_itc(ctx, {**OPTIONS, "tools": catalog(), "work_dir": str(tmp_path), "judges": ["scorer", "scorer_x"]})
    with pytest.raises(ConfigError, match="not an ITC option"):
        build_itc(ctx, {**OPTIONS, "tools": catalog(), "work_dir": str(tmp_path), "countz": {}})
    assert server.count == before


def test_the_card_line_says_when_one_model_checks_itself(clean):
    config = clean.ctx.llm_config
    assert "checked them itself at temperature 0" in checker_setup(config, {})
    assert "other generators (qa_generator, assistant)" in checker_setup(config, {"generators": ["qa_generator", "assistant"]})


def test_openai_names_are_valid_and_distinct():
    names = ["get.weather", "get_weather", "a" * 80, "Google Translate"]
    mapped = [openai_name(n) for n in names]
    assert mapped[1] == "get_weather" and len(set(mapped)) == len(mapped)
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", m) for m in mapped)


def _bfcl_english_question() -> str:
    from builders.decontam import bfcl_questions
    from itc.languages import identify_language

    for _, text in sorted(bfcl_questions().texts.items()):
        if 15 <= len(text.split()) <= 40 and identify_language(text)[0] == "en":
            return text
    raise AssertionError("no English BFCL question of 15-40 words")


def test_duplicate_and_benchmark_queries_go_before_any_judge_and_train_is_clean_of_test(tmp_path):
    """Planted per English set: the same query in capitals (exact), with a word added (near) and a BFCL question."""
    question = _bfcl_english_question()
    base = make_responder()

    def planting(request: dict) -> Reply:
        reply = base(request)
        if reply.content and reply.content.startswith('{"queries"'):
            value = json.loads(reply.content)
            first = value["queries"][0]
            english = not first["query"].startswith(("Bitte", "Kannst"))
            # at most queries_per_set (3) per reply: duplicates in single sets, the BFCL question in the others
            if english and first["query"].endswith("#0"):
                value["queries"] = [first, {**first, "query": first["query"].upper()},
                                    {**first, "query": first["query"] + " Thank you so much"}]
            elif english:
                value["queries"] = [first, {**first, "query": question}]
            reply = Reply(content=json.dumps(value))
        return reply

    with FakeOpenAIServer(responder=planting) as srv:
        ctx = make_ctx(srv.base_url, tmp_path)
        result, rows = build_itc_result(ctx, {**OPTIONS, "tools": catalog(), "work_dir": str(tmp_path / "work"),
                                              "dedup": {}})
    steps = result.stats["steps"]
    names = list(steps)
    assert names.index("check_language") < names.index("dedup_queries") < names.index("decontaminate_queries") \
        < names.index("score_judge_1")
    assert names[-2:] == ["split_by_api", "decontaminate_train"]
    dedup = steps["dedup_queries"]["rejected"]
    assert dedup.get("exact duplicate", 0) >= 1 and dedup.get("near duplicate", 0) >= 1
    assert steps["decontaminate_queries"]["rejected"].get("overlaps bfcl_v4", 0) >= 1
    assert steps["score_judge_1"]["in"] == steps["decontaminate_queries"]["out"]  # no judge saw a removed query
    removed = [r for r in result.rejects if r["step"] == "dedup_queries"]
    assert all(r["record"]["duplicate_of"] and r["record"]["row"]["query"] for r in removed)
    published = [r["query"] for side in rows["default"].values() for r in side]
    assert question not in published and len(published) == len({q.lower() for q in published})
    assert steps["decontaminate_train"]["in"] == steps["split_by_api"]["out"]


def test_cleaning_can_be_switched_off_and_bad_options_are_one_line(server, tmp_path):
    ctx = make_ctx(server.base_url, tmp_path)
    result, _ = build_itc_result(ctx, {**OPTIONS, "tools": catalog(), "work_dir": str(tmp_path / "work"),
                                       "dedup": False, "decontaminate": False})
    assert not {"dedup_queries", "decontaminate_queries", "decontaminate_train"} & set(result.stats["steps"])
    result, _ = build_itc_result(ctx, {**OPTIONS, "tools": catalog(), "work_dir": str(tmp_path / "work"),
                                       "dedup": {"threshold": 0.9}, "decontaminate": {"sets": ["bfcl_v4"]}})
    steps = result.stats["steps"]
    assert "decontaminate_queries" in steps and "decontaminate_train" not in steps and "dedup_queries" in steps
    with pytest.raises(ConfigError, match="itc decontaminate.sets: names itc_test, but this release has no itc_test"):
        build_itc(ctx, {**OPTIONS, "tools": catalog(), "work_dir": str(tmp_path), "test_fraction": 0,
                        "decontaminate": {"sets": ["itc_test"]}})
    with pytest.raises(ConfigError, match="itc dedup: must be false or"):
        build_itc(ctx, {**OPTIONS, "tools": catalog(), "work_dir": str(tmp_path), "dedup": 0.7})
