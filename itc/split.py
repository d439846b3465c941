"""The train / test split by API at the task level (seed 003: 15,790 / 1,750 tasks).

The unit is one catalog tool. Tools that appear in one task must land on the same side, so the
split moves connected components of the tool graph (tools linked by sharing a task). Components
are taken into test in a seeded order when they bring the test side closer to ``test_fraction``
of the tasks in every stratum (category x task type) without passing the overall budget; a
component larger than the budget stays in train. No task is dropped and no tool is on both sides.
A release too small for 10 % to make one task still gets one test task when it has two components.
"""

from __future__ import annotations

from collections import Counter

import networkx as nx

from builders.schema import SchemaError
from itc.catalog import item_rng

STAGE = "split_by_api"


def _stratum(task: dict) -> tuple[str, str]:
    return task.get("category") or "", task["task_type"]


def split_tasks(tasks: list[dict], *, seed: int, test_fraction: float = 0.1, tolerance: float = 0.25) -> dict[str, str]:
    """``{task id: "train" | "test"}``; the test side holds about ``test_fraction`` of the tasks.

    ``tolerance`` is how far past the target (as a share of it) one component may take the test side.
    """
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction {test_fraction} must be in [0, 1); the paper's split is 0.1")
    graph = nx.Graph()
    for task in tasks:
        tools = task["tool_ids"]
        if not tools:
            raise SchemaError(f"task {task['id']}", "uses no tool", "every ITC task calls at least one catalog tool")
        graph.add_nodes_from(tools)
        graph.add_edges_from(zip(tools, tools[1:]))
    component_of = {}
    for members in nx.connected_components(graph):
        name = min(members)
        component_of.update({t: name for t in members})
    strata: dict[str, Counter] = {}
    for task in tasks:
        strata.setdefault(component_of[task["tool_ids"][0]], Counter())[_stratum(task)] += 1
    totals = Counter()
    for counts in strata.values():
        totals.update(counts)
    budget = test_fraction * len(tasks)
    if test_fraction > 0 and len(strata) > 1:
        budget = max(budget, 1.0)  # a small release still gets a test side when a component can go there
    cap = budget * (1 + tolerance)
    deficit = {s: test_fraction * n for s, n in totals.items()}
    order = sorted(strata, key=lambda c: item_rng(seed, STAGE, c).random())
    test_components, in_test = set(), 0
    for fill in (False, True):  # the second pass fills what stratification left short
        for comp in order:
            size = sum(strata[comp].values())
            if comp in test_components or in_test + size > cap or in_test >= budget:
                continue
            gain = sum(deficit[s] ** 2 - (deficit[s] - n) ** 2 for s, n in strata[comp].items())
            if gain > 0 or (fill and in_test + size <= budget):
                test_components.add(comp)
                in_test += size
                for s, n in strata[comp].items():
                    deficit[s] -= n
    return {t["id"]: "test" if component_of[t["tool_ids"][0]] in test_components else "train" for t in tasks}


def tool_sides(tasks: list[dict], assignment: dict[str, str]) -> dict[str, str]:
    """Each tool's side; raises ``SchemaError`` when a tool has tasks on both (a release must refuse it)."""
    sides: dict[str, set[str]] = {}
    for task in tasks:
        for tool in task["tool_ids"]:
            sides.setdefault(tool, set()).add(assignment[task["id"]])
    leaks = sorted(t for t, s in sides.items() if len(s) > 1)
    if leaks:
        raise SchemaError(f"tool {leaks[0]}", f"has tasks in both train and test ({len(leaks)} tools leak)",
                          "split with itc.split.split_tasks, which moves tools sharing a task together")
    return {t: s.pop() for t, s in sorted(sides.items())}


def catalog_sides(tools: list[dict], tasks: list[dict], assignment: dict[str, str]) -> dict[str, str]:
    """The ``apis`` config's split column: a tool goes where its tasks went; a tool with no task, to train."""
    sides = tool_sides(tasks, assignment)
    return {t["tool_id"]: sides.get(t["tool_id"], "train") for t in tools}
