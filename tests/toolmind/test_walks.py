"""Random walks on hand-made graphs: lengths, visit cap, too-short walks, determinism, no repeats."""

from __future__ import annotations

import pytest

from builders.errors import ConfigError
from toolmind.walks import WalkConfig, length_histogram, random_walks

NAMES = list("abcdefg")


def path_edges(names):
    return [{"source": a, "target": b} for a, b in zip(names, names[1:])]


def test_a_path_gives_exactly_its_suffixes_of_the_wanted_length():
    walks = random_walks(NAMES, path_edges(NAMES), WalkConfig(n_walks=10, min_length=5, max_length=5, visit_cap=None))
    chains = sorted(tuple(c["functions"]) for c in walks.chains)
    assert chains == [tuple("abcde"), tuple("bcdef"), tuple("cdefg")]
    assert walks.stats["duplicate"] > 0 and walks.stats["too_short"] > 0  # starts d, e, f cannot reach 5
    assert length_histogram(walks.chains) == {5: 3}


def test_visit_cap_bounds_every_function():
    # a hub every node points to: without a cap it is in nearly every chain
    names = [f"n{i}" for i in range(12)] + ["hub"]
    edges = [{"source": n, "target": "hub"} for n in names[:-1]]
    edges += [{"source": "hub", "target": n} for n in names[:-1]]
    edges += [{"source": a, "target": b} for a, b in zip(names[:-1], names[1:-1])]
    free = random_walks(names, edges, WalkConfig(n_walks=30, min_length=3, max_length=4, visit_cap=None, seed=4))
    capped = random_walks(names, edges, WalkConfig(n_walks=30, min_length=3, max_length=4, visit_cap=2, seed=4))
    assert free.visits["hub"] > 2
    assert max(capped.visits.values()) <= 2
    assert all(sum(c["functions"].count(n) for c in capped.chains) <= 2 for n in names)


def test_walks_never_revisit_and_follow_kept_edges_only():
    edges = path_edges(NAMES) + [{"source": "e", "target": "a"}, {"source": "a", "target": "g", "kept": False}]
    walks = random_walks(NAMES, edges, WalkConfig(n_walks=20, min_length=2, max_length=7, visit_cap=None))
    allowed = {(e["source"], e["target"]) for e in edges if e.get("kept", True)}
    for c in walks.chains:
        f = c["functions"]
        assert len(set(f)) == len(f) and 2 <= len(f) <= c["target_length"]
        assert all((a, b) in allowed for a, b in zip(f, f[1:]))


def test_same_seed_same_chains_other_seed_other_chains():
    names = [f"n{i}" for i in range(30)]
    edges = [{"source": a, "target": b} for i, a in enumerate(names) for b in names[i + 1:i + 6]]
    cfg = dict(n_walks=15, min_length=3, max_length=6, visit_cap=4)
    one = random_walks(names, edges, WalkConfig(seed=7, **cfg)).chains
    again = random_walks(list(reversed(names)), list(reversed(edges)), WalkConfig(seed=7, **cfg)).chains
    other = random_walks(names, edges, WalkConfig(seed=8, **cfg)).chains
    assert one == again and len(one) == 15
    assert [c["functions"] for c in one] != [c["functions"] for c in other]
    assert all(c["seed"] == 7 for c in one)


def test_bad_lengths_are_config_errors():
    with pytest.raises(ConfigError, match="min_length"):
        WalkConfig(min_length=6, max_length=5)
