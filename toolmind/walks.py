"""Function chains: seeded random walks along the kept edges of the function graph (seed 002, 3.1.2).

A walk aims for a length L ~ Uniform{min_length..max_length} (counted in functions) and never
visits a function twice. It steps to a uniformly drawn out-neighbour that is still under the
per-node visit cap, the guard against hubs appearing in every chain. A walk that gets stuck keeps
what it has when that reaches ``min_length``; shorter walks and repeats of a chain already kept
are counted, not kept, and use up no visits.

Each attempt draws from its own generator seeded by (seed, "walks", attempt number), so the chains
depend on the seed and the graph only.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from builders.errors import ConfigError
from builders.schema import content_hash


@dataclass
class WalkConfig:
    n_walks: int = 1000
    min_length: int = 5
    max_length: int = 20
    visit_cap: int | None = 10  # how many kept chains a function may appear in; None: no cap
    seed: int = 0
    max_attempts: int | None = None  # default: 10 x n_walks

    def __post_init__(self):
        if not 1 <= self.min_length <= self.max_length:
            raise ConfigError("walks lengths", f"min_length {self.min_length} and max_length {self.max_length} "
                              "do not make a range", "use 1 <= min_length <= max_length, e.g. 5 and 20")
        if self.visit_cap is not None and self.visit_cap < 1:
            raise ConfigError("walks visit_cap", f"{self.visit_cap} is below 1", "use null for no cap")
        if self.n_walks < 0:
            raise ConfigError("walks n_walks", f"{self.n_walks} is negative", "ask for 0 or more walks")


@dataclass
class Walks:
    chains: list[dict]
    stats: Counter = field(default_factory=Counter)
    visits: Counter = field(default_factory=Counter)


def adjacency(names: Sequence[str], edges: Sequence[dict]) -> dict[str, list[str]]:
    """Out-neighbours of each function over the kept edges, sorted so that order never depends on input order."""
    known = set(names)
    out: dict[str, set[str]] = {n: set() for n in names}
    for e in edges:
        if e.get("kept", True) and e["source"] in known and e["target"] in known and e["source"] != e["target"]:
            out[e["source"]].add(e["target"])
    return {n: sorted(v) for n, v in out.items()}


def random_walks(names: Sequence[str], edges: Sequence[dict], config: WalkConfig) -> Walks:
    """Up to ``config.n_walks`` distinct chains; ``stats`` counts kept, too_short, duplicate and attempts."""
    graph = adjacency(names, edges)
    starts = _OpenSet(sorted(n for n, nbrs in graph.items() if nbrs))
    visits: Counter = Counter()
    seen: set[tuple[str, ...]] = set()
    result = Walks(chains=[], visits=visits)
    stats = result.stats
    cap = config.visit_cap
    attempts = config.max_attempts if config.max_attempts is not None else 10 * config.n_walks

    def open_(n: str) -> bool:
        return cap is None or visits[n] < cap

    for attempt in range(attempts):
        if len(result.chains) >= config.n_walks:
            break
        if not starts.items:
            stats["stopped_no_start"] += 1
            break
        stats["attempts"] += 1
        rng = random.Random(f"{config.seed}:walks:{attempt}")
        target = rng.randint(config.min_length, config.max_length)
        chain = [rng.choice(starts.items)]
        on_chain = {chain[0]}
        while len(chain) < target:
            steps = [n for n in graph[chain[-1]] if n not in on_chain and open_(n)]
            if not steps:
                break
            chain.append(rng.choice(steps))
            on_chain.add(chain[-1])
        if len(chain) < config.min_length:
            stats["too_short"] += 1
            continue
        key = tuple(chain)
        if key in seen:
            stats["duplicate"] += 1
            continue
        seen.add(key)
        visits.update(chain)
        for n in chain:
            if not open_(n):
                starts.discard(n)
        stats["kept"] += 1
        stats["stuck_before_target"] += len(chain) < target
        result.chains.append({"id": content_hash(list(chain)), "functions": list(chain), "length": len(chain),
                              "target_length": target, "seed": config.seed, "attempt": attempt})
    return result


class _OpenSet:
    """Start functions still under the visit cap: O(1) removal with a deterministic order."""

    def __init__(self, items: list[str]):
        self.items = items
        self.pos = {n: i for i, n in enumerate(items)}

    def discard(self, n: str) -> None:
        i = self.pos.pop(n, None)
        if i is None:
            return
        last = self.items.pop()
        if last != n:
            self.items[i] = last
            self.pos[last] = i


def length_histogram(chains: Sequence[dict]) -> dict[int, int]:
    return dict(sorted(Counter(c["length"] for c in chains).items()))
