"""API-set selection for each task type, by the three principles of seed 003, section 3.2.

* Geographic diversity: anchors are drawn country by country, the rarest countries of the
  catalog (and the least used so far) first, so a few regions cannot dominate the tasks.
* Functional variety: parallel sets add endpoints whose descriptions are close to the anchor's
  (similar or complementary jobs); nested sets add endpoints that can take the anchor's output
  (an output field that is an input parameter), else the closest descriptions.
* Disambiguation: endpoints with near-identical names, or near-identical descriptions, are put
  side by side with the anchor, so the model has to pick the right one.

``embed(texts) -> np.ndarray`` returns one L2-normalised row per text (the shared embedding
layer); the selection is deterministic for a seed.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from typing import Callable

import numpy as np

from builders.schema import content_hash
from itc.catalog import api_key, item_rng
from itc.languages import language_for

TASK_TYPES = ("single", "repeated", "parallel", "nested")
STAGE = "select_api_sets"
Embed = Callable[[list[str]], np.ndarray]
_WORD = re.compile(r"[A-Za-z0-9]+|[^\x00-\x7f]")


def _name_tokens(name: str) -> str:
    """``getWeatherForecast`` / ``get_weather_forecast`` / ``Get Weather Forecast`` -> ``get weather forecast``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return " ".join(w.lower() for w in _WORD.findall(spaced))


def name_similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, _name_tokens(a), _name_tokens(b)).ratio()


def _output_fields(schema: dict) -> set[str]:
    fields: set[str] = set()
    stack = [schema] if isinstance(schema, dict) else []
    while stack:
        node = stack.pop()
        for key, sub in (node.get("properties") or {}).items():
            fields.add(key.lower())
            if isinstance(sub, dict):
                stack.append(sub)
        if isinstance(node.get("items"), dict):
            stack.append(node["items"])
    return fields


def endpoints(tools: list[dict]) -> list[dict]:
    """Every endpoint of the catalog with what selection needs, ordered by key."""
    rows = []
    for tool in tools:
        for api in tool["api_list"]:
            inputs = {p["name"].lower() for p in api.get("required_parameters", []) + api.get("optional_parameters", [])}
            rows.append({"key": api_key(tool["tool_id"], api["name"]), "tool_id": tool["tool_id"], "name": api["name"],
                         "text": f"{api['name']}: {api.get('description') or tool['tool_description']}",
                         "country": tool["country"], "category": api.get("category") or tool["category"],
                         "inputs": inputs, "outputs": _output_fields(api.get("schema") or {})})
    return sorted(rows, key=lambda r: r["key"])


class Selector:
    """Builds API sets over one catalog; holds the endpoint embeddings and what has been used."""

    def __init__(self, tools: list[dict], embed: Embed, *, seed: int, namesake_min: float = 0.8,
                 similar_min: float = 0.35, max_apis: int = 4):
        self.rows = endpoints(tools)
        if not self.rows:
            raise ValueError("the catalog has no endpoints to select from; import or un-filter some tools first")
        vectors = np.asarray(embed([r["text"] for r in self.rows]), dtype=np.float32)
        self.sim = vectors @ vectors.T
        self.seed, self.namesake_min, self.similar_min, self.max_apis = seed, namesake_min, similar_min, max_apis
        self.catalog_countries = Counter(r["country"] for r in self.rows)
        self.used_countries: Counter = Counter()
        self.used: Counter = Counter()

    # -- principle 1: geographic diversity
    def _anchor(self, rng, task_type: str) -> int:
        """The least used endpoint of the least used, rarest country (ties broken by the seeded rng)."""
        countries = sorted(self.catalog_countries,
                           key=lambda c: (self.used_countries[c], self.catalog_countries[c], rng.random()))
        country = countries[0]
        candidates = [i for i, r in enumerate(self.rows) if r["country"] == country]
        if task_type == "nested":  # an anchor that feeds something is better
            feeders = [i for i in candidates if self._chained(i)]
            candidates = feeders or candidates
        return min(candidates, key=lambda i: (self.used[i], rng.random()))

    # -- principle 3: disambiguation
    def namesakes(self, i: int) -> list[int]:
        """Endpoints of other tools (or the same) whose names or descriptions nearly match endpoint ``i``."""
        out = []
        for j, r in enumerate(self.rows):
            if j != i and (name_similarity(r["name"], self.rows[i]["name"]) >= self.namesake_min
                           or self.sim[i, j] >= 0.9):
                out.append(j)
        return sorted(out, key=lambda j: -max(name_similarity(self.rows[j]["name"], self.rows[i]["name"]), self.sim[i, j]))

    # -- principle 2: functional variety
    def similar(self, i: int, exclude: set[int]) -> list[int]:
        order = np.argsort(-self.sim[i], kind="stable")
        return [int(j) for j in order if j not in exclude and j != i and self.sim[i, j] >= self.similar_min]

    def _chained(self, i: int) -> list[int]:
        outs = self.rows[i]["outputs"]
        return [j for j, r in enumerate(self.rows) if j != i and outs & r["inputs"]]

    def select(self, task_type: str, item: str) -> dict:
        """One API set for ``task_type``; ``item`` names it for the seeded rng."""
        if task_type not in TASK_TYPES:
            raise ValueError(f"task type {task_type!r} is not one of {', '.join(TASK_TYPES)}")
        rng = item_rng(self.seed, STAGE, item)
        anchor = self._anchor(rng, task_type)
        roles = {anchor: "anchor"}
        if task_type == "parallel":
            for j in self.similar(anchor, set(roles))[:2]:
                roles[j] = "complement"
        elif task_type == "nested":
            chain = self._chained(anchor) or self.similar(anchor, set(roles))
            for j in sorted(chain, key=lambda j: -self.sim[anchor, j])[:2]:
                roles[j] = "next"
        for j in self.namesakes(anchor):
            if len(roles) >= self.max_apis:
                break
            roles.setdefault(j, "namesake")
        members = list(roles)
        self.used.update(members)
        self.used_countries[self.rows[anchor]["country"]] += 1
        a = self.rows[anchor]
        keys = [self.rows[j]["key"] for j in members]
        return {"id": content_hash([task_type, keys]), "task_type": task_type, "apis": keys,
                "roles": {self.rows[j]["key"]: roles[j] for j in members},
                "tool_ids": sorted({self.rows[j]["tool_id"] for j in members}),
                "country": a["country"], "language": language_for(a["country"]), "category": a["category"]}


def select_api_sets(tools: list[dict], embed: Embed, *, counts: dict[str, int], seed: int, **options) -> list[dict]:
    """``counts[task_type]`` distinct API sets per task type, ordered by id (duplicates are drawn again, a few times)."""
    selector = Selector(tools, embed, seed=seed, **options)
    sets: dict[str, dict] = {}
    for task_type in TASK_TYPES:
        made, attempt = 0, 0
        while made < counts.get(task_type, 0) and attempt < 3 * counts[task_type] + 3:
            chosen = selector.select(task_type, f"{task_type}#{attempt}")
            attempt += 1
            if chosen["id"] not in sets:
                sets[chosen["id"]] = chosen
                made += 1
    return sorted(sets.values(), key=lambda s: s["id"])
