import random
from collections import Counter

import pytest

from builders.schema import SchemaError
from itc.split import catalog_sides, split_tasks, tool_sides

CATEGORIES = ("Weather", "Finance", "Travel", "News")
TYPES = ("single", "repeated", "parallel", "nested")


def _tasks(n_tools: int = 400, n_tasks: int = 1200, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    tasks = []
    for i in range(n_tasks):
        task_type = rng.choice(TYPES)
        base = rng.randrange(n_tools)
        # multi-tool tasks pair tool i with tool i+4 (same category): components of two tools
        pair = task_type in ("parallel", "nested") and base % 8 < 4 and base + 4 < n_tools
        tools = sorted({f"tool{base}", f"tool{base + 4}"} if pair else {f"tool{base}"})
        tasks.append({"id": f"t{i:04d}", "task_type": task_type, "tool_ids": tools,
                      "category": CATEGORIES[int(tools[0][4:]) % 4]})
    # one hub tool shared by many tasks: its component is too big for the test budget
    tasks += [{"id": f"hub{i}", "task_type": "single", "tool_ids": ["hub"], "category": "News"} for i in range(150)]
    return tasks


def test_split_properties():
    tasks = _tasks()
    split = split_tasks(tasks, seed=7, test_fraction=0.1)
    assert set(split) == {t["id"] for t in tasks}  # nothing dropped
    test = [t for t in tasks if split[t["id"]] == "test"]
    assert abs(len(test) / len(tasks) - 0.1) <= 0.02
    sides = tool_sides(tasks, split)  # raises if a tool is on both sides
    train_tools = {t for t, s in sides.items() if s == "train"}
    assert train_tools.isdisjoint({t for t, s in sides.items() if s == "test"})
    assert sides["hub"] == "train"  # a component too big for the budget stays in train
    # tools sharing a task move together
    for t in tasks:
        assert len({sides[x] for x in t["tool_ids"]}) == 1
    # stratified: every category and every task type has about its share in test
    for key in ("category", "task_type"):
        total, in_test = Counter(t[key] for t in tasks), Counter(t[key] for t in test)
        for value, n in total.items():
            assert abs(in_test[value] / n - 0.1) <= 0.05, (key, value, in_test[value], n)
    assert split_tasks(list(reversed(tasks)), seed=7, test_fraction=0.1) == split  # order does not matter
    assert split_tasks(tasks, seed=8, test_fraction=0.1) != split
    tools = [{"tool_id": t} for t in sides] + [{"tool_id": "unused"}]
    assert catalog_sides(tools, tasks, split)["unused"] == "train"


def test_a_leaking_tool_is_refused():
    tasks = [{"id": "a", "task_type": "single", "tool_ids": ["x"]}, {"id": "b", "task_type": "single", "tool_ids": ["x"]}]
    with pytest.raises(SchemaError, match="both train and test"):
        tool_sides(tasks, {"a": "train", "b": "test"})
    with pytest.raises(ValueError, match="test_fraction"):
        split_tasks(tasks, seed=0, test_fraction=1.0)


def test_a_tiny_release_still_gets_one_test_task():
    tasks = [{"id": f"t{i}", "tool_ids": [f"tool{i}"], "task_type": "single", "category": "c"} for i in range(3)]
    assignment = split_tasks(tasks, seed=0, test_fraction=0.1)
    assert sorted(assignment.values()) == ["test", "train", "train"]
    shared = [{**t, "tool_ids": ["tool0"]} for t in tasks]  # one component: it cannot be split, all train
    assert set(split_tasks(shared, seed=0, test_fraction=0.1).values()) == {"train"}
