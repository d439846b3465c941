"""Exact and near-duplicate removal over trajectories, turn-split samples and ITC queries.

Two rows are the same when their normalised text (NFKC, lower case, words only) hashes the same
(sha256): *exact*. They are near duplicates when the Jaccard similarity of their word 3-gram sets,
estimated by MinHash (128 permutations, ``datasketch``) is at least :data:`THRESHOLD` = 0.7:
candidates come from MinHash-LSH and each is confirmed on the estimate, so the LSH's
false positives never remove a row. 0.7 catches a 40-word conversation with one or two words
changed (a name, a number; Jaccard 0.85 / 0.75) while two requests that share a template but differ in
their arguments ("weather in Paris today" / "weather in London today": 0.43) stay apart.

What a unit is:

- ``trajectories``: one row; text = the user and assistant messages (content and tool calls).
- ``samples``: every sample of one ``trajectory_id`` is one unit (its text is the longest
  sample's prompt + completion, which holds the others), so samples of one trajectory are never
  compared with each other, and a sample goes (or stays) with its trajectory.
- ``queries``: an ITC task row; text = its ``query``.

Deterministic: units are visited in id order and a unit is compared only with the units kept
before it, so of every group of duplicates the smallest id is kept. A removed row goes to the
rejects with the id of the kept row it duplicates (``duplicate_of``), the match kind and the
similarity; reasons are ``exact duplicate`` / ``near duplicate`` so the counts stay per kind.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import zlib
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from builders.errors import ConfigError, DataError
from builders.preset import PresetError
from builders.runtime import GlobalStep

THRESHOLD = 0.7
NUM_PERM = 128
SHINGLE = 3
# LSH bands tuned for recall (a missed pair weighs 0.9, a false candidate 0.1; candidates are checked
# anyway): at 128 permutations, 20 bands of 6 find a pair at Jaccard 0.8 with p = 0.998, at 0.7 p = 0.92
LSH_WEIGHTS = (0.1, 0.9)
UNITS = ("trajectories", "samples", "queries")
EXACT, NEAR = "exact duplicate", "near duplicate"

_WORDS = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-cased words after NFKC: punctuation, spacing and letter case never make rows differ."""
    return _WORDS.findall(unicodedata.normalize("NFKC", text).lower())


def ngrams(tokens: list[str], n: int) -> set[str]:
    """Word n-grams as strings; a text shorter than ``n`` words is its own single gram."""
    if len(tokens) < n:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def message_text(messages: Iterable[dict], roles: tuple[str, ...] = ("user", "assistant")) -> str:
    """The text of the messages in ``roles``: content, and for assistant turns the calls made."""
    parts = []
    for m in messages or []:
        if m.get("role") not in roles:
            continue
        if m.get("content"):
            parts.append(m["content"])
        for call in m.get("tool_calls") or []:
            fn = call.get("function") or {}
            parts.append(f"{fn.get('name', '')} {fn.get('arguments', '')}")
    return "\n".join(parts)


def unit_texts(items: list[dict], unit: str, roles: tuple[str, ...] = ("user", "assistant")) -> dict[str, str]:
    """Unit id -> text. For ``samples`` the unit id is the trajectory id (see the module doc)."""
    if unit == "trajectories":
        return {it["id"]: message_text(_field(it, "messages", unit), roles) for it in items}
    if unit == "queries":
        return {it["id"]: str(_field(it, "query", unit)) for it in items}
    if unit == "samples":
        longest: dict[str, dict] = {}
        for it in items:
            tid = _field(it, "trajectory_id", unit)
            best = longest.get(tid)
            if best is None or (it["turn_index"], it["id"]) > (best["turn_index"], best["id"]):
                longest[tid] = it
        return {tid: message_text(list(it["prompt"] or []) + list(it["completion"] or []), roles)
                for tid, it in longest.items()}
    raise ConfigError(f"unit {unit!r}", "is not a unit dedup knows", f"use one of {', '.join(UNITS)}")


def unit_of(item: dict, unit: str) -> str:
    return item["trajectory_id"] if unit == "samples" else item["id"]


def _field(item: dict, name: str, unit: str):
    if name not in item:
        raise DataError(f"item {item.get('id')!r}", f"has no {name!r}, which {unit} dedup reads",
                        f"run dedup on {unit} rows (columns of builders.contract)")
    return item[name]


@dataclass(frozen=True)
class Duplicate:
    """A removed unit: which kept unit it repeats, how (exact / near) and how similar."""

    unit: str
    duplicate_of: str
    kind: str
    similarity: float


def _signatures(texts: list[str], shingle: int, num_perm: int, seed: int) -> np.ndarray:
    from datasketch import MinHash

    grams = ([g.encode("utf-8") for g in ngrams(words(t), shingle)] for t in texts)
    # crc32 (C, stable across runs) in place of datasketch's SHA-1: the affine32 scheme mixes every input
    # hash with the MurmurHash3 finalizer before permuting, and SHA-1 in Python was half the signing time
    return np.stack([m.hashvalues for m in MinHash.generator(grams, num_perm=num_perm, seed=seed,
                                                              hashfunc=zlib.crc32)]) \
        if texts else np.zeros((0, num_perm), dtype=np.uint32)


def find_duplicates(texts: dict[str, str], threshold: float = THRESHOLD, shingle: int = SHINGLE,
                    num_perm: int = NUM_PERM, seed: int = 1) -> dict[str, Duplicate]:
    """Unit id -> :class:`Duplicate` for every unit to remove; the others are kept.

    Exact duplicates first (hash of the normalised text), then MinHash-LSH over what is left.
    """
    from datasketch import MinHash, MinHashLSH

    removed: dict[str, Duplicate] = {}
    first: dict[str, str] = {}
    normal = {}
    for uid in sorted(texts):
        norm = " ".join(words(texts[uid]))
        digest = hashlib.sha256(norm.encode("utf-8")).hexdigest()
        if digest in first:
            removed[uid] = Duplicate(uid, first[digest], EXACT, 1.0)
        else:
            first[digest] = uid
            normal[uid] = norm
    ids = list(normal)  # sorted, exact duplicates gone
    sigs = _signatures([normal[u] for u in ids], shingle, num_perm, seed)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=LSH_WEIGHTS)
    perms = MinHash(num_perm=num_perm, seed=seed).permutations
    kept_rows: dict[str, int] = {}
    for row, uid in enumerate(ids):
        mh = MinHash(seed=seed, hashvalues=sigs[row], permutations=perms, scheme="affine32")
        best = None
        for other in lsh.query(mh):
            sim = float(np.mean(sigs[kept_rows[other]] == sigs[row]))
            if sim >= threshold and (best is None or other < best[0]):
                best = (other, sim)
        if best is not None:
            removed[uid] = Duplicate(uid, best[0], NEAR, round(best[1], 4))
        else:
            lsh.insert(uid, mh, check_duplication=False)
            kept_rows[uid] = row
    return removed


def dedup_settings(value, item: str) -> dict | None:
    """A preset's ``dedup:`` option: ``false`` is off (None); unset or ``{threshold}`` the step's settings."""
    if value is False:
        return None
    value = {} if value is None else value
    if not isinstance(value, dict) or set(value) - {"threshold"}:
        raise PresetError(item, f"must be false or {{threshold}}, got {value!r}",
                          f"write dedup: {{threshold: {THRESHOLD}}} (Jaccard of word 3-grams) or dedup: false")
    return dict(value)


def dedup(items: list[dict], unit: str, threshold: float = THRESHOLD, shingle: int = SHINGLE,
          num_perm: int = NUM_PERM) -> tuple[list[dict], list[tuple[dict, Duplicate]]]:
    """Plain-function form: (kept items, [(removed item, why)]), both in input order."""
    removed = find_duplicates(unit_texts(items, unit), threshold, shingle, num_perm)
    kept, gone = [], []
    for it in items:
        dup = removed.get(unit_of(it, unit))
        if dup is None:
            kept.append(it)
        else:
            gone.append((it, dup))
    return kept, gone


def reject_record(item: dict, dup: Duplicate, unit: str) -> dict:
    record = {"duplicate_of": dup.duplicate_of, "match": dup.kind, "similarity": dup.similarity, "row": item}
    if unit == "samples":
        record["trajectory_id"] = dup.unit
    return record


def texts_digest(texts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(json.dumps(t).encode("utf-8"))
    return h.hexdigest()


class Dedup(GlobalStep):
    """Runtime step: removes exact and near duplicates of ``unit`` rows (see the module doc)."""

    name = "dedup"
    version = "1"

    def __init__(self, unit: str = "trajectories", threshold: float = THRESHOLD, shingle: int = SHINGLE,
                 num_perm: int = NUM_PERM, name: str | None = None):
        self.unit, self.threshold, self.shingle, self.num_perm = unit, threshold, shingle, num_perm
        self.name = name or f"dedup_{unit}"
        self.inputs = {"trajectories": ("id", "messages"), "queries": ("id", "query"),
                       "samples": ("id", "trajectory_id", "turn_index", "prompt", "completion")}.get(unit, ("id",))

    def settings(self) -> dict:
        return {"unit": self.unit, "threshold": self.threshold, "shingle": self.shingle, "num_perm": self.num_perm}

    def check(self) -> None:
        if self.unit not in UNITS:
            raise ConfigError(f"step {self.name!r}", f"unit {self.unit!r} is unknown", f"use one of {', '.join(UNITS)}")
        if not 0 < self.threshold <= 1:
            raise ConfigError(f"step {self.name!r}", f"threshold {self.threshold} is not in (0, 1]",
                              f"use a Jaccard similarity such as {THRESHOLD}")

    def run(self, items, ctx):
        kept, gone = dedup(items, self.unit, self.threshold, self.shingle, self.num_perm)
        for it, dup in gone:
            ctx.reject(it, dup.kind, reject_record(it, dup, self.unit))
        return kept
