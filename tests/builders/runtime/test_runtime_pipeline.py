"""The runtime's contract, on small pipelines: assembly checks, filters, global steps, ids and
randomness, LLM tasks, rejects, stats, checkpoints, shards, dry-run and caps."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from builders.errors import ConfigError
from builders.llm.testing import FakeOpenAIServer, Reply, loopback_config
from builders.pipeline import BaseFilter, PipelineStep, Rejects
from builders.runtime import Filter, GlobalStep, LLMTask, MapStep, Pipeline, Reject, RejectLog, item_rng
from builders.runtime.task import schema_validator

sys.path.insert(0, str(Path(__file__).parent))
import toy  # noqa: E402

FILES = ("output.jsonl", "rejects.jsonl", "stats.json")


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer(latency=0.005) as s:
        yield s


class Double(MapStep):
    name, inputs, outputs = "double", ("n",), ("twice",)

    def process(self, item):
        return {**item, "twice": 2 * item["n"]}


class Even(Filter):
    name, inputs = "even", ("n",)

    def filter(self, item):
        return item["n"] % 2 == 0 or "odd"


class Explode(MapStep):
    name, inputs, outputs = "explode", ("n",), ("part",)

    def process(self, item):
        return [{"n": item["n"], "part": p} for p in range(item["n"] % 3)]


class Draw(MapStep):
    name, inputs, outputs = "draw", ("n",), ("draw",)

    def process(self, item):
        return {**item, "draw": item_rng(3, self.name, item["id"]).random()}


class Rank(GlobalStep):
    name, inputs, outputs = "rank", ("n",), ("rank",)

    def run(self, items, ctx):
        ordered = sorted(items, key=lambda it: it["n"])
        for it in ordered[:2]:
            ctx.reject(it, "among the two smallest")
        return [{**it, "rank": i} for i, it in enumerate(ordered[2:])]


def numbers(n=50):
    return [{"n": i} for i in range(n)]


def built(tmp_path, steps, name="p", **kw) -> dict[str, bytes]:
    pipeline = Pipeline("t", source=kw.pop("source", numbers()), steps=steps, work_dir=tmp_path / f"work-{name}",
                        progress=False, **kw)
    pipeline.run().write(tmp_path / name)
    return {f: (tmp_path / name / f).read_bytes() for f in FILES}


def rows(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines()]


def test_map_filter_and_global_step_with_rejects_and_stats(tmp_path):
    out = built(tmp_path, [Even(), Double(), Rank()], chunk_size=7)
    items = rows(out["output.jsonl"])
    assert [it["n"] for it in sorted(items, key=lambda it: it["rank"])] == list(range(4, 50, 2))
    assert [it["id"] for it in items] == sorted(it["id"] for it in items)
    assert all(it["twice"] == 2 * it["n"] for it in items)
    rejects = rows(out["rejects.jsonl"])
    assert [(r["step"], r["item"]) for r in rejects] == sorted((r["step"], r["item"]) for r in rejects)
    assert {r["reason"] for r in rejects} == {"odd", "among the two smallest"}
    stats = json.loads(out["stats.json"])["steps"]
    assert stats["even"] == {"in": 50, "out": 25, "rejected": {"odd": 25}, "llm": {}}
    assert stats["rank"] == {"in": 25, "out": 23, "rejected": {"among the two smallest": 2}, "llm": {}}


def test_same_bytes_for_any_shard_count_and_chunk_size(tmp_path):
    steps = lambda: [Even(), Explode(), Draw(), Rank()]  # noqa: E731
    one = built(tmp_path, steps(), "one")
    assert built(tmp_path, steps(), "three", shards=3, chunk_size=3) == one
    assert built(tmp_path, steps(), "nockpt", shards=2, checkpoint=False) == one
    items = rows(one["output.jsonl"])
    assert len({it["id"] for it in items}) == len(items)  # several outputs of one item get their own ids


def test_checkpoints_are_reused_and_a_changed_setting_recomputes(tmp_path):
    calls = []

    class Counting(Double):
        def __init__(self, k=1):
            self.k = k

        def settings(self):
            return {"k": self.k}

        def process(self, item):
            calls.append(item["id"])
            return super().process(item)

    built(tmp_path, [Counting()], "a")
    assert len(calls) == 50
    built(tmp_path, [Counting()], "a")
    assert len(calls) == 50  # all from the checkpoint
    built(tmp_path, [Counting(k=2)], "a")
    assert len(calls) == 100


def test_a_named_source_item_whose_content_changed_is_recomputed(tmp_path):
    """Sources may name their items (a function's name): the checkpoint key covers their content."""
    seen = []

    class Recording(Double):
        def process(self, item):
            seen.append(item["n"])
            return super().process(item)

    named = [{"id": f"item-{i}", "n": i} for i in range(5)]
    first = built(tmp_path, [Recording()], "named", source=named)
    assert len(seen) == 5
    built(tmp_path, [Recording()], "named", source=named)
    assert len(seen) == 5  # same content: all from the checkpoint
    changed = [{**it, "n": it["n"] + 100} if it["id"] == "item-3" else it for it in named]
    again = built(tmp_path, [Recording()], "named", source=changed)
    assert 103 in seen and again != first


def test_a_crash_resumes_from_the_last_complete_chunk(tmp_path):
    seen = []

    class Flaky(Double):
        fail = True

        def process(self, item):
            seen.append(item["id"])
            if self.fail and len(seen) == 23:
                raise RuntimeError("boom")
            return super().process(item)

    step = Flaky()
    with pytest.raises(RuntimeError):
        built(tmp_path, [step], "crash", chunk_size=5)
    step.fail = False
    first = len(seen)
    out = built(tmp_path, [step], "crash", chunk_size=5)
    assert len(seen) - first == 50 - 20  # four complete chunks of five were kept
    assert out == built(tmp_path, [Double()], "clean")


def test_assembly_errors_are_one_line_before_any_request(tmp_path, server):
    class NeedsX(MapStep):
        name, inputs = "needs_x", ("x",)

    class UsesRole(MapStep):
        name, inputs, roles = "uses", ("n",), ("assistant",)

    class Unknown(MapStep):
        name, inputs, roles = "unknown", ("n",), ("no_such_role",)

    llm = loopback_config(server.base_url)
    before = server.count
    cases = [
        ([Double(), NeedsX()], {}, "needs column 'x'"),
        ([UsesRole()], {}, "has no llm config"),
        ([Unknown()], {"llm": llm}, "'no_such_role'"),
        ([Double(), Double()], {}, "appears twice"),
        ([UsesRole()], {"llm": llm, "caps": {"judge": {"requests": 3}}}, "caps a role no step calls"),
        ([UsesRole()], {"llm": llm, "caps": {"assistant": {"requests": -1}}}, "whole numbers"),
        ([Double()], {"shards": 0}, "shards"),
        ([Double()], {"executor": "slurm"}, "not an executor"),
    ]
    for steps, kw, needle in cases:
        pipeline = Pipeline("t", source=numbers(), steps=steps, work_dir=tmp_path / "w", progress=False, **kw)
        with pytest.raises(ConfigError) as err:
            pipeline.run()
        assert needle in str(err.value) and "\n" not in str(err.value)
    assert server.count == before
    assert not (tmp_path / "w").exists()


class Judge(LLMTask):
    name, role = "judge", "turn_judge"
    inputs, outputs = ("text",), ("score",)
    prompts_dir = Path(__file__).parent / "prompts"
    prompt = "score.jinja"
    schema = {"type": "object", "required": ["score"], "properties": {"score": {"type": "integer", "maximum": 9}}}

    def messages(self, item):
        return [{"role": "user", "content": self.template.render(text=item["text"])}]

    def parse(self, item, reply):
        return {"score": reply["score"]}


def test_llm_task_counts_invalid_replies_as_rejects(tmp_path):
    def responder(request):
        text = request["messages"][-1]["content"]
        if "broken" in text:
            return Reply(content="no json here")
        return Reply(content=json.dumps({"score": 12 if "big" in text else 4}))

    with FakeOpenAIServer(responder=responder) as server:
        source = [{"text": t} for t in ("fine", "big", "broken", "also fine")]
        pipeline = Pipeline("t", source=source, steps=[Judge()], work_dir=tmp_path / "w", progress=False,
                            llm=loopback_config(server.base_url))
        result = pipeline.run()
    assert sorted(it["score"] for it in result.items) == [4, 4]
    reasons = {json.dumps(r["record"]["item"]["text"]): r["reason"] for r in result.rejects}
    assert "$.score: 12 is greater than the maximum of 9" in reasons['"big"']
    assert "no JSON" in reasons['"broken"']
    stats = result.stats["steps"]["judge"]
    assert stats["in"] == 4 and stats["out"] == 2 and sum(stats["rejected"].values()) == 2
    assert result.stats["llm"]["turn_judge"]["requests"] == 4


def test_a_changed_model_sampling_or_reply_schema_recomputes_an_llm_step(tmp_path):
    """Checkpoints answer only for the same replies: another model or temperature asks again, another reply
    schema re-checks the (cached) reply; an address or a timeout changes nothing."""
    with FakeOpenAIServer(responder=lambda request: Reply(content=json.dumps({"score": 3}))) as server:
        def run(schema=None, **config):
            llm = loopback_config(server.base_url, **{k: v for k, v in config.items() if k != "temperature"})
            llm.roles["default"].temperature = config.get("temperature", 0.0)
            step = Judge()
            if schema is not None:
                step.schema, step.validate = schema, schema_validator(schema)
            before = server.count
            result = Pipeline("t", source=[{"text": "fine"}], steps=[step], work_dir=tmp_path / "w", progress=False,
                              llm=llm).run()
            return server.count - before, len(result.items)

        assert run() == (1, 1) and run() == (0, 1)  # the same settings: from the checkpoint
        assert run(model="other-model") == (1, 1)
        assert run(temperature=0.7) == (1, 1)
        strict = {**Judge.schema, "properties": {"score": {"type": "integer", "maximum": 2}}}
        assert run(schema=strict) == (0, 0)  # recomputed: the cached reply no longer fits
        assert run() == (0, 1)
        assert run(timeout=9.0, max_concurrency=3) == (0, 1)


def test_dry_run_plans_without_sending(tmp_path, server):
    before = server.count
    plan = toy.pipeline(server.base_url, tmp_path / "w").dry_run()
    assert server.count == before
    rows_ = {(r["step"], r["role"]): r for r in plan.rows}
    assert rows_[("rollout", "assistant")]["requests"] == 120 and rows_[("rollout", "user_simulator")]["requests"] == 60
    assert rows_[("judge", "turn_judge")]["prompt_tokens"] > 0
    assert plan.totals()["assistant"]["requests"] == 120
    assert toy.pipeline(server.base_url, tmp_path / "w").roles() == {
        "assistant": ["rollout"], "turn_judge": ["judge"], "user_simulator": ["rollout"]}
    assert "rollout" in plan.table()


def test_caps_stop_cleanly_and_resume_when_raised(tmp_path, server):
    toy.pipeline(server.base_url, tmp_path / "full").run().write(tmp_path / "out-full")
    with pytest.raises(ConfigError) as err:
        toy.pipeline(server.base_url, tmp_path / "capped", caps={"assistant": {"requests": 30}}).run()
    assert "cap of 30 requests" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError):  # the finished work counts: still over the cap
        toy.pipeline(server.base_url, tmp_path / "capped", caps={"assistant": {"requests": 50}}).run()
    toy.pipeline(server.base_url, tmp_path / "capped", caps={"assistant": {"requests": 80}}).run() \
        .write(tmp_path / "out-capped")
    for f in FILES:
        assert (tmp_path / "out-capped" / f).read_bytes() == (tmp_path / "out-full" / f).read_bytes()


def test_reject_log_streams_and_skips_repeats_after_a_cut_line(tmp_path):
    log = RejectLog(tmp_path / "r.jsonl")
    log.add("s", "a", "bad", {"x": 1})
    log.close()
    with open(tmp_path / "r.jsonl", "a") as fh:
        fh.write('{"step": "s", "item": "b"')  # cut by a kill
    log = RejectLog(tmp_path / "r.jsonl")
    log.add("s", "a", "bad", {"x": 1})
    log.add("s", "b", "worse")
    log.close()
    lines = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [(r["item"], r["reason"]) for r in lines] == [("a", "bad"), ("b", "worse")]


def test_item_randomness_depends_only_on_seed_step_and_id():
    assert item_rng(1, "s", "x").random() == item_rng(1, "s", "x").random()
    assert len({item_rng(*key).random() for key in ((1, "s", "x"), (2, "s", "x"), (1, "t", "x"), (1, "s", "y"))}) == 4


def test_old_blocks_still_import_from_builders_pipeline():
    class Odd(BaseFilter):
        name = "odd"

        def filter(self, record):
            return record["n"] % 2 == 1 or "even"

    rejects = Rejects()
    kept = list(Odd(rejects)([{"id": "a", "n": 1}, {"id": "b", "n": 2}]))
    assert kept == [{"id": "a", "n": 1}] and rejects.counts() == {"odd": 1}
    assert issubclass(Odd, PipelineStep)


def test_items_holding_other_objects_checkpoint_too(tmp_path):
    import datetime

    calls = []

    class Dated(MapStep):
        name, outputs = "dated", ("day",)

        def process(self, item):
            calls.append(1)
            return {**item, "day": datetime.date(2020, 1, 1 + item["n"] % 28)}

    def run():
        return Pipeline("t", source=numbers(5), steps=[Dated()], work_dir=tmp_path / "w", progress=False).run().items

    first = run()
    assert run() == first and len(calls) == 5
    assert list((tmp_path / "w" / "shards" / "0000-of-0001").glob("dated-*/chunk-*.bin"))
