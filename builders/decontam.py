"""Decontamination: rows whose user text overlaps an evaluation set's question are removed.

Evaluation sets: the BFCL v4 questions the installed ``bfcl-eval`` ships (every user turn of
every ``bfcl_eval/data/BFCL_v4_*.json`` line; for every dataset) and an ITC test split's queries
(for ToolMind and for ITC's own train split). See :func:`bfcl_questions` and :func:`eval_set`.

The test: both sides are normalised like dedup (NFKC, lower case, words only) and cut into word
n-grams with :data:`N` = 3. A row is contaminated by a question when at least :data:`THRESHOLD` =
0.5 of the question's informative n-grams occur in the row's user text (containment, so a question
pasted inside a long conversation counts), and at least :data:`MIN_MATCHES` = 5 of them do, or all of
them for a shorter question: a generic short request ("what is the weather like in Paris") does
not match a short BFCL question on four shared n-grams, while a verbatim copy of it still does. A
question that short must also make up at least half of the row's n-grams: BFCL's "Looking for someone"
(one 3-gram) says nothing about a forty-turn conversation that happens to contain those words. An n-gram that occurs in more than :data:`COMMON_SHARE`
(1%) of a set's questions ("what is the", "can you please") says nothing about which question it
is and is left out on both sides. With n = 3 a question reworded in a few places still matches:
each changed word removes at most three of its n-grams, so a 20-word question keeps 10 of 18 after
three edits. Removed rows are counted per evaluation set: the reject reason is
``overlaps <set name>``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from typing import Iterable

from builders.dedup import UNITS, ngrams, texts_digest, unit_of, unit_texts, words
from builders.errors import ConfigError, DependencyError
from builders.preset import PresetError
from builders.runtime import GlobalStep

logger = logging.getLogger(__name__)

N = 3
THRESHOLD = 0.5
MIN_MATCHES = 5
COMMON_SHARE = 0.01
BFCL = "bfcl_v4"
ITC_TEST = "itc_test"
EVAL_SETS = (BFCL, ITC_TEST)


@dataclass(frozen=True)
class EvalSet:
    """Named evaluation texts: question id -> text."""

    name: str
    texts: dict[str, str]

    def digest(self) -> str:
        return texts_digest(f"{k}\0{v}" for k, v in sorted(self.texts.items()))


def eval_set(name: str, rows: Iterable[dict], column: str = "query") -> EvalSet:
    """An evaluation set from rows, e.g. an ITC release's test split: ``eval_set("itc_test", rows)``."""
    return EvalSet(name, {str(r["id"]): str(r[column]) for r in rows})


def eval_set_names(value, item: str, available: dict[str, str | None]) -> list[str]:
    """The evaluation sets a preset's ``decontaminate:`` option asks for: ``false`` none, unset or ``{}``
    every set this release has, ``{sets: [...]}`` those.

    ``available`` maps each of :data:`EVAL_SETS` to ``None`` when the release has it, or to the fix
    for naming it when it does not (e.g. "build itc before toolmind in the same release").
    """
    if value is False:
        return []
    value = {} if value is None else value
    if not isinstance(value, dict) or set(value) - {"sets"}:
        raise PresetError(item, f"must be false or {{sets}}, got {value!r}",
                          f"write decontaminate: {{sets: [{', '.join(EVAL_SETS)}]}} or decontaminate: false")
    names = value.get("sets")
    if names is None:
        return [name for name in EVAL_SETS if available.get(name, "") is None]
    unknown = sorted(set(names if isinstance(names, list) else [names]) - set(EVAL_SETS))
    if not isinstance(names, list) or unknown or not names:
        raise PresetError(f"{item}.sets", f"names {unknown or 'no set'}", f"list some of {', '.join(EVAL_SETS)}")
    for name in names:
        if available.get(name, "") is not None:
            raise PresetError(f"{item}.sets", f"names {name}, but this release has no {name} set",
                              available.get(name) or f"drop {name}")
    return [name for name in EVAL_SETS if name in names]


@functools.lru_cache(maxsize=1)
def bfcl_questions() -> EvalSet:
    """Every user turn of every BFCL v4 question shipped by ``bfcl-eval`` (id ``<entry>#<turn>.<msg>``).

    Read once per process: the files do not change while it runs, and both pipelines read them."""
    try:
        data = resources.files("bfcl_eval") / "data"
    except ModuleNotFoundError:
        raise DependencyError("package bfcl-eval", "is not installed, so BFCL questions cannot be read",
                              "pip install --no-deps bfcl-eval") from None
    texts: dict[str, str] = {}
    for path in sorted((p for p in data.iterdir() if p.name.startswith("BFCL_v4_") and p.name.endswith(".json")),
                       key=lambda p: p.name):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # format_sensitivity.json is one JSON object of id lists, not questions
                continue
            if not isinstance(row, dict) or not isinstance(row.get("question"), list):
                continue
            for t, turn in enumerate(row["question"]):
                for m, msg in enumerate(turn if isinstance(turn, list) else [turn]):
                    if isinstance(msg, dict) and msg.get("role") == "user" and msg.get("content"):
                        texts[f"{row['id']}#{t}.{m}"] = msg["content"]
    if not texts:
        raise DependencyError(f"bfcl-eval data at {data}", "holds no BFCL_v4 questions",
                              "reinstall bfcl-eval (pip install --no-deps bfcl-eval)")
    return EvalSet(BFCL, texts)


@dataclass(frozen=True)
class Hit:
    """Why a row is contaminated: the set, the question and the share of its n-grams found."""

    eval_set: str
    question: str
    overlap: float


@dataclass
class NgramIndex:
    """Informative n-gram -> questions holding it, for every evaluation set."""

    sets: list[EvalSet]
    n: int = N
    threshold: float = THRESHOLD
    min_matches: int = MIN_MATCHES
    postings: dict[str, list[int]] = field(default_factory=dict, repr=False)
    questions: list[tuple[str, str, int]] = field(default_factory=list, repr=False)  # (set, id, informative n-grams)

    def __post_init__(self):
        for s in self.sets:
            grams = {qid: ngrams(words(text), self.n) for qid, text in sorted(s.texts.items())}
            df = Counter(g for gs in grams.values() for g in gs)
            common = max(1, int(COMMON_SHARE * len(grams)))
            for qid, gs in grams.items():
                informative = [g for g in gs if df[g] <= common]
                if not informative:
                    continue
                q = len(self.questions)
                self.questions.append((s.name, qid, len(informative)))
                for g in informative:
                    self.postings.setdefault(g, []).append(q)
        logger.info("decontamination index: %d questions, %d n-grams", len(self.questions), len(self.postings))

    def match(self, text: str) -> Hit | None:
        """The question the text overlaps most (ties: set, then id order), or None when clean."""
        counts: Counter = Counter()
        postings = self.postings
        grams = ngrams(words(text), self.n)
        for g in grams:
            qs = postings.get(g)
            if qs:
                counts.update(qs)
        best = None
        for q, hits in counts.items():
            name, qid, total = self.questions[q]
            if hits < min(self.min_matches, total) or hits < self.threshold * total:
                continue
            if total < self.min_matches and hits < self.threshold * len(grams):
                continue  # a short question matches a short text only: "looking for someone" is no contamination of a long chat
            key = (-hits / total, name, qid)
            if best is None or key < best[0]:
                best = (key, Hit(name, qid, round(hits / total, 4)))
        return best[1] if best else None


def decontaminate(items: list[dict], index: NgramIndex, unit: str,
                  roles: tuple[str, ...] = ("user",)) -> tuple[list[dict], list[tuple[dict, Hit]]]:
    """Plain-function form: (kept, [(removed, hit)]) in input order; samples go with their trajectory."""
    hits = {uid: index.match(text) for uid, text in unit_texts(items, unit, roles).items()}
    kept, gone = [], []
    for it in items:
        hit = hits[unit_of(it, unit)]
        if hit is None:
            kept.append(it)
        else:
            gone.append((it, hit))
    return kept, gone


def counts_by_set(gone: Iterable[tuple[dict, Hit]]) -> dict[str, int]:
    return dict(sorted(Counter(h.eval_set for _, h in gone).items()))


class Decontaminate(GlobalStep):
    """Runtime step: removes rows overlapping an evaluation set; reasons ``overlaps <set>``.

    Only user text is compared by default (the questions are user requests); pass
    ``message_roles=("user", "assistant")`` to include the assistant side.
    """

    name = "decontaminate"
    version = "2"  # 2: a question shorter than MIN_MATCHES n-grams must make up half of the row's

    def __init__(self, sets: list[EvalSet], unit: str = "trajectories", n: int = N, threshold: float = THRESHOLD,
                 min_matches: int = MIN_MATCHES, message_roles: tuple[str, ...] = ("user",), name: str | None = None):
        self.sets, self.unit, self.n, self.threshold = list(sets), unit, n, threshold
        self.min_matches, self.message_roles = min_matches, tuple(message_roles)
        self.name = name or f"decontaminate_{unit}"
        self.inputs = {"trajectories": ("id", "messages"), "queries": ("id", "query"),
                       "samples": ("id", "trajectory_id", "turn_index", "prompt", "completion")}.get(unit, ("id",))
        self._index: NgramIndex | None = None

    def settings(self) -> dict:
        return {"unit": self.unit, "n": self.n, "threshold": self.threshold, "min_matches": self.min_matches,
                "message_roles": list(self.message_roles), "sets": {s.name: s.digest() for s in self.sets}}

    def check(self) -> None:
        if self.unit not in UNITS:
            raise ConfigError(f"step {self.name!r}", f"unit {self.unit!r} is unknown", f"use one of {', '.join(UNITS)}")
        if not self.sets:
            raise ConfigError(f"step {self.name!r}", "has no evaluation set", "pass bfcl_questions() and/or eval_set(...)")
        if not 0 < self.threshold <= 1:
            raise ConfigError(f"step {self.name!r}", f"threshold {self.threshold} is not in (0, 1]",
                              f"use a share of the question's n-grams such as {THRESHOLD}")

    @property
    def index(self) -> NgramIndex:
        if self._index is None:
            self._index = NgramIndex(self.sets, self.n, self.threshold, self.min_matches)
        return self._index

    def run(self, items, ctx):
        kept, gone = decontaminate(items, self.index, self.unit, self.message_roles)
        for it, hit in gone:
            ctx.reject(it, f"overlaps {hit.eval_set}",
                       {"eval_set": hit.eval_set, "question": hit.question, "overlap": hit.overlap, "row": it})
        return kept


class DecontaminateSplit(GlobalStep):
    """Runtime step: removes rows of one split that overlap the rows of another split of the same build
    (ITC's train tasks against its own test queries); reasons ``overlaps <set name>``.

    Rows of other splits pass untouched; the removed rows are counted like any decontamination.
    """

    version = "1"

    def __init__(self, unit: str = "queries", clean: str = "train", against: str = "test", set_name: str = ITC_TEST,
                 column: str = "split", n: int = N, threshold: float = THRESHOLD, min_matches: int = MIN_MATCHES,
                 name: str | None = None):
        self.unit, self.clean, self.against, self.set_name, self.column = unit, clean, against, set_name, column
        self.n, self.threshold, self.min_matches = n, threshold, min_matches
        self.name = name or f"decontaminate_{clean}"
        self.inputs = {"queries": ("id", "query"), "trajectories": ("id", "messages")}.get(unit, ("id",)) + (column,)

    def settings(self) -> dict:
        return {"unit": self.unit, "clean": self.clean, "against": self.against, "set_name": self.set_name,
                "column": self.column, "n": self.n, "threshold": self.threshold, "min_matches": self.min_matches}

    def check(self) -> None:
        if self.unit not in ("queries", "trajectories"):
            raise ConfigError(f"step {self.name!r}", f"unit {self.unit!r} cannot be split-decontaminated",
                              "use queries or trajectories")
        if not 0 < self.threshold <= 1:
            raise ConfigError(f"step {self.name!r}", f"threshold {self.threshold} is not in (0, 1]",
                              f"use a share of the question's n-grams such as {THRESHOLD}")

    def run(self, items, ctx):
        reference = [it for it in items if it[self.column] == self.against]
        if not reference:
            return list(items)
        texts = unit_texts(reference, self.unit)
        index = NgramIndex([EvalSet(self.set_name, texts)], self.n, self.threshold, self.min_matches)
        _, gone = decontaminate([it for it in items if it[self.column] == self.clean], index, self.unit)
        removed = {it["id"] for it, _ in gone}
        for it, hit in gone:
            ctx.reject(it, f"overlaps {hit.eval_set}",
                       {"eval_set": hit.eval_set, "question": hit.question, "overlap": hit.overlap, "row": it})
        return [it for it in items if it["id"] not in removed]
