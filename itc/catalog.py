"""The ITC API catalog and its split by API: no API has tasks on both sides."""

from __future__ import annotations

import json
import random
from collections import defaultdict

META = ("provider", "service", "category", "country")


def split_apis(function_counts: dict[str, int], *, seed: int, test_fraction: float) -> dict[str, str]:
    """Assign whole APIs to test, in a seeded order, until they hold ``test_fraction`` of the functions."""
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction {test_fraction} must be in [0, 1); the paper's split is 0.1")
    apis = sorted(function_counts)
    random.Random(seed).shuffle(apis)
    target = test_fraction * sum(function_counts.values())
    split, in_test = {}, 0
    for api in apis:
        take = in_test < target and in_test + function_counts[api] <= target * 1.5 + 1
        split[api] = "test" if take else "train"
        in_test += function_counts[api] if take else 0
    return split


def api_catalog(pool: list[dict], *, seed: int, test_fraction: float) -> list[dict]:
    by_api: dict[str, list[dict]] = defaultdict(list)
    for fn in pool:
        by_api[fn["api"]].append(fn)
    split = split_apis({a: len(fns) for a, fns in by_api.items()}, seed=seed, test_fraction=test_fraction)
    rows = []
    for api in sorted(by_api):
        fns = by_api[api]
        first = fns[0]
        rows.append({"api": api, **{k: first.get(k) for k in META},
                     "split": split[api], "num_functions": len(fns),
                     "functions": json.dumps(sorted(f["name"] for f in fns), ensure_ascii=False)})
    return rows
