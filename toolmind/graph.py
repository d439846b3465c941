"""The function graph (seed 002, section 3.1): an edge i -> j when an output of i can feed an input of j.

Every input and output parameter becomes the text ``DESC <description> TYPE <type>``; its embedding
is compared by cosine similarity, and ``s_ij`` is the maximum over the outputs of i and the inputs
of j. An edge exists when ``s_ij > threshold``. Parameters with no description take no part (their
identical texts would join every function to every other) and are counted.

The edge search is a blocked matrix product on torch over *distinct* texts: a block of output
texts times every input text, the threshold applied inside the block, the surviving text pairs
expanded to the functions that own them and max-reduced to function pairs. The full similarity
matrix never exists and no Python loop runs over pairs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import jsonschema
import numpy as np
import torch

from builders.errors import ConfigError
from builders.llm.prompts import load_prompt
from toolmind.completion import check_reply, function_text

logger = logging.getLogger(__name__)

TEXT_TEMPLATE = "DESC {description} TYPE {type}"


# --- parameters -----------------------------------------------------------------------------------

def type_label(schema: dict) -> str:
    """A short type word for a parameter schema: ``string``, ``array of integer``, ``string|null``, ``any``."""
    t = schema.get("type")
    if isinstance(t, list):
        return "|".join(str(x) for x in t) or "any"
    if t == "array" and isinstance(schema.get("items"), dict) and schema["items"].get("type"):
        return f"array of {type_label(schema['items'])}"
    return str(t) if t else "any"


def parameter_text(description: str, type_: str) -> str:
    return TEXT_TEMPLATE.format(description=description, type=type_)


def _schema(value: Any) -> dict | None:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else None


def input_parameters(row: dict) -> list[tuple[str, dict]]:
    """``(name, schema)`` of each top-level argument of a function row."""
    params = _schema(row.get("parameters")) or {}
    return [(k, v) for k, v in (params.get("properties") or {}).items() if isinstance(v, dict)]


def output_parameters(row: dict) -> list[tuple[str, dict]]:
    """``(name, schema)`` of each field a function returns: the properties of an object (or of an
    array's items); a bare value with a description counts as one output named ``result``."""
    out = _schema(row.get("outputs"))
    if not out:
        return []
    body = out.get("items") if out.get("type") == "array" and isinstance(out.get("items"), dict) else out
    props = body.get("properties")
    if isinstance(props, dict) and props:
        return [(k, v) for k, v in props.items() if isinstance(v, dict)]
    return [("result", out)]


@dataclass
class ParameterIndex:
    """The parameters of a pool as distinct texts and, per distinct text, the functions that own it.

    ``texts`` holds every distinct parameter text once (the embedding input); ``outputs`` and
    ``inputs`` are :class:`TextOwners` over indices into ``texts``.
    """

    texts: list[str]
    outputs: "TextOwners"
    inputs: "TextOwners"
    counts: Counter = field(default_factory=Counter)

    @classmethod
    def build(cls, rows: Sequence[dict]) -> "ParameterIndex":
        text_ids: dict[str, int] = {}
        sides: dict[str, list[tuple[int, int]]] = {"input": [], "output": []}
        counts: Counter = Counter()
        for f, row in enumerate(rows):
            for side, params in (("input", input_parameters(row)), ("output", output_parameters(row))):
                seen: set[int] = set()
                for _, schema in params:
                    desc = " ".join(str(schema.get("description") or "").split())
                    counts[f"{side}_parameters"] += 1
                    if not desc:
                        counts[f"{side}_no_description"] += 1
                        continue
                    t = text_ids.setdefault(parameter_text(desc, type_label(schema)), len(text_ids))
                    if t not in seen:  # the same text twice in one function adds nothing to a max
                        seen.add(t)
                        sides[side].append((t, f))
        texts = list(text_ids)
        return cls(texts=texts, outputs=TextOwners.build(sides["output"]), inputs=TextOwners.build(sides["input"]),
                   counts=counts)


@dataclass
class TextOwners:
    """Distinct texts of one side and their owning functions, in CSR form (``indptr``, ``functions``)."""

    text_ids: np.ndarray  # (T,) indices into ParameterIndex.texts
    indptr: np.ndarray  # (T + 1,)
    functions: np.ndarray  # (P,) owner of each (text, function) pair, grouped by text

    @classmethod
    def build(cls, pairs: list[tuple[int, int]]) -> "TextOwners":
        arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        arr = arr[np.lexsort((arr[:, 1], arr[:, 0]))]
        text_ids, counts = np.unique(arr[:, 0], return_counts=True)
        indptr = np.zeros(len(text_ids) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(text_ids=text_ids, indptr=indptr, functions=arr[:, 1].copy())

    def __len__(self) -> int:
        return len(self.text_ids)

    @property
    def occurrences(self) -> int:
        return len(self.functions)


# --- seeded per-pair randomness ---------------------------------------------------------------------

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def function_keys(names: Iterable[str]) -> np.ndarray:
    """A stable 64-bit key per function name: pair randomness then ignores pool order and sharding."""
    return np.array([int.from_bytes(hashlib.blake2b(n.encode(), digest_size=8).digest(), "little") for n in names],
                    dtype=np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, vectorised (uint64 arithmetic wraps)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def pair_uniform(keys: np.ndarray, source: np.ndarray, target: np.ndarray, seed: int, stage: str) -> np.ndarray:
    """A uniform [0, 1) draw per (seed, stage, source, target), the same whichever block or shard finds it."""
    salt = np.uint64(int.from_bytes(hashlib.blake2b(f"{seed}:{stage}".encode(), digest_size=8).digest(), "little"))
    with np.errstate(over="ignore"):
        h = _mix(_mix(keys[source] ^ salt) + keys[target] * np.uint64(0x9E3779B97F4A7C15))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


# --- edge search ------------------------------------------------------------------------------------

@dataclass
class EdgeSearchConfig:
    """``threshold``: an edge needs a similarity strictly above it. ``keep_probability``: each candidate
    survives a seeded coin flip (the paper's randomness in edge construction). ``max_out_degree``:
    keep each source's best candidates only (ties broken by the seeded draw). ``block_bytes``: size
    of one block of the similarity matrix."""

    threshold: float = 0.8
    keep_probability: float = 1.0
    max_out_degree: int | None = None
    seed: int = 0
    block_bytes: int = 256 << 20
    max_pairs: int = 8 << 20  # function pairs expanded at once
    device: str | None = None  # default: CUDA when present

    def __post_init__(self):
        if not -1.0 <= self.threshold < 1.0:
            raise ConfigError("graph threshold", f"{self.threshold} is not a cosine in [-1, 1)", "use e.g. 0.8")
        if not 0.0 < self.keep_probability <= 1.0:
            raise ConfigError("graph keep_probability", f"{self.keep_probability} is not in (0, 1]",
                              "use 1.0 to keep every candidate")
        if self.max_out_degree is not None and self.max_out_degree < 1:
            raise ConfigError("graph max_out_degree", f"{self.max_out_degree} is below 1", "use null for no cap")


@dataclass
class Edges:
    """Candidate edges as parallel arrays, sorted by (source, target); ``stats`` says what was done."""

    source: np.ndarray
    target: np.ndarray
    similarity: np.ndarray
    stats: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.source)

    def rows(self, names: Sequence[str]) -> list[dict]:
        return [{"source": names[s], "target": names[t], "similarity": round(float(v), 6)}
                for s, t, v in zip(self.source.tolist(), self.target.tolist(), self.similarity.tolist())]


def _device(name: str | None) -> torch.device:
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


def _expand(lo: int, hi: int, ends: torch.Tensor, hit_out: torch.Tensor, hit_in: torch.Tensor,
            out_ptr: torch.Tensor, out_fn: torch.Tensor, in_ptr: torch.Tensor, in_fn: torch.Tensor):
    """Function pairs ``lo .. hi - 1`` of a block's expansion, vectorised: text pair by text pair, every
    owner of the output text with every owner of the input text.

    ``ends`` is the running total of pairs per text pair. Slicing the flat range (not whole text pairs)
    bounds memory even where one text pair alone expands to tens of millions of function pairs (a
    generic "the id" text owned by thousands of functions on both sides, as in the full 125k pool)."""
    flat = torch.arange(lo, hi, device=ends.device)
    hit = torch.searchsorted(ends, flat, right=True)
    b = in_ptr[hit_in + 1] - in_ptr[hit_in]
    first = ends - (out_ptr[hit_out + 1] - out_ptr[hit_out]) * b  # where each text pair's pairs start
    offset = flat - first[hit]
    bh = b[hit]
    src = out_fn[out_ptr[hit_out[hit]] + offset // bh]
    dst = in_fn[in_ptr[hit_in[hit]] + offset % bh]
    return src, dst, hit


def _max_by_pair(key: torch.Tensor, sim: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    uniq, inverse = torch.unique(key, return_inverse=True)
    best = torch.full((len(uniq),), -2.0, dtype=sim.dtype, device=sim.device)
    return uniq, best.scatter_reduce_(0, inverse, sim, reduce="amax")


def _cap(key: np.ndarray, sim: np.ndarray, n: int, draw: np.ndarray, cap: int) -> np.ndarray:
    """Indices of each source's ``cap`` best candidates (higher similarity first, then the seeded draw, then
    the target), in ascending order."""
    src = key // n
    # similarities rounded first: a block of another shape can differ in the last bit, and a tie must
    # still be broken by the seeded draw, not by how the matrix product was blocked
    rounded = np.rint(sim.astype(np.float64) * 1e5).astype(np.int64)  # in [-1e5, 1e5]: 18 bits after the shift
    spare = 63 - max(int(n - 1).bit_length(), 1) - 18
    if spare >= 16:
        # one int64 per candidate (source, similarity, draw's top bits) and one stable sort: a three-key
        # lexsort over the 50 M candidates of a 125k-function pool took 10 s per call
        packed = (src << (18 + spare)) | ((100_000 - rounded) << spare) | (draw * float(1 << spare)).astype(np.int64)
        order = np.argsort(packed, kind="stable")
    else:
        order = np.lexsort((draw, -rounded, src))
    s = src[order]
    position = np.arange(len(s))
    group_start = np.maximum.accumulate(np.where(np.r_[True, s[1:] != s[:-1]], position, 0))
    return np.sort(order[position - group_start < cap])


def search_edges(vectors: np.ndarray | torch.Tensor, index: ParameterIndex, names: Sequence[str],
                 config: EdgeSearchConfig) -> Edges:
    """Function pairs whose best output->input similarity exceeds the threshold (see the module doc).

    ``vectors`` are the normalised embeddings of ``index.texts``; ``names`` the function names (their
    order is the pool order used by ``index``). Self-loops are never edges.
    """
    dev = _device(config.device)
    n = len(names)
    emb = torch.as_tensor(vectors, dtype=torch.float32)
    out_vec = emb[torch.as_tensor(index.outputs.text_ids)].to(dev).contiguous()
    in_vec_t = emb[torch.as_tensor(index.inputs.text_ids)].to(dev).T.contiguous()
    out, inp = index.outputs, index.inputs
    out_ptr, out_fn = (torch.as_tensor(a, device=dev) for a in (out.indptr, out.functions))
    in_ptr, in_fn = (torch.as_tensor(a, device=dev) for a in (inp.indptr, inp.functions))
    keys = function_keys(names)
    n_in = max(len(inp), 1)
    rows = max(1, min(len(out), config.block_bytes // (4 * n_in)))
    run = _Candidates(n, keys, config)
    stats = Counter(output_texts=len(out), input_texts=len(inp), dimension=int(emb.shape[1]) if emb.ndim == 2 else 0,
                    block_rows=rows)
    stats["flops"] = 2 * len(out) * len(inp) * stats["dimension"]
    # one buffer for every block: a fresh 256 MB tensor per block costs page faults comparable to the product
    buffer = torch.empty((rows, len(inp)), dtype=torch.float32, device=dev)
    mask = torch.empty((rows, len(inp)), dtype=torch.bool, device=dev)
    for start in range(0, len(out) if len(inp) else 0, rows):
        stop = min(start + rows, len(out))
        block = torch.mm(out_vec[start:stop], in_vec_t, out=buffer[:stop - start])
        hits = torch.nonzero(torch.gt(block, config.threshold, out=mask[:stop - start]))
        if not len(hits):
            continue
        sim = block[hits[:, 0], hits[:, 1]]
        hit_out, hit_in = hits[:, 0] + start, hits[:, 1]
        ends = torch.cumsum((out_ptr[hit_out + 1] - out_ptr[hit_out]) * (in_ptr[hit_in + 1] - in_ptr[hit_in]), 0)
        total = int(ends[-1])
        stats["text_pairs"] += len(hits)
        stats["function_pairs"] += total
        for lo in range(0, total, config.max_pairs):
            src, dst, hit = _expand(lo, min(lo + config.max_pairs, total), ends, hit_out, hit_in, out_ptr, out_fn,
                                    in_ptr, in_fn)
            no_loop = src != dst
            key, best = _max_by_pair(src[no_loop] * n + dst[no_loop], sim[hit[no_loop]])
            key, best = key.cpu().numpy(), best.cpu().numpy()
            if config.keep_probability < 1.0:
                draw = pair_uniform(keys, key // n, key % n, config.seed, "edges/keep")
                kept = draw < config.keep_probability
                key, best = key[kept], best[kept]
            run.add(key, best)
    key, sim = run.result()
    stats["capped"] = run.capped
    stats["edges"] = len(key)
    return Edges(source=key // n, target=key % n, similarity=sim, stats=dict(stats))


class _Candidates:
    """The best similarity per function pair found so far, merged lazily.

    Chunks wait until they hold as many pairs as the merged run (and at least ``max_pairs``), then
    everything is merged in one sort: each pair is sorted O(log) times in all, where merging every
    chunk into the run at once sorted the whole run per chunk (150 M pairs at 125k functions). The
    out-degree cap is applied at every merge: dropping a pair early is exact, because the pairs that
    outranked it keep a similarity at least as high, so it can never re-enter the top ``cap``.
    """

    def __init__(self, n: int, keys: np.ndarray, config: EdgeSearchConfig):
        self.n, self.keys, self.config = n, keys, config
        self.key = np.zeros(0, dtype=np.int64)
        self.sim = np.zeros(0, dtype=np.float32)
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []
        self.waiting = 0
        self.capped = 0

    def add(self, key: np.ndarray, sim: np.ndarray) -> None:
        self.pending.append((key, sim))
        self.waiting += len(key)
        if self.waiting >= max(len(self.key), self.config.max_pairs):
            self._merge()

    def _merge(self) -> None:
        parts = [(self.key, self.sim), *self.pending] if len(self.key) else self.pending
        self.pending, self.waiting = [], 0
        if not parts:
            return
        key = np.concatenate([k for k, _ in parts])
        sim = np.concatenate([v for _, v in parts])
        if len(parts) > 1:
            merged_key, merged_sim = _max_by_pair(torch.from_numpy(key), torch.from_numpy(sim))
            key, sim = merged_key.numpy(), merged_sim.numpy()
        if self.config.max_out_degree is not None and len(key):
            draw = pair_uniform(self.keys, key // self.n, key % self.n, self.config.seed, "edges/rank")
            keep = _cap(key, sim, self.n, draw, self.config.max_out_degree)
            self.capped += len(key) - len(keep)
            key, sim = key[keep], sim[keep]
        self.key, self.sim = key, sim

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Keys (source * n + target) in ascending order and their best similarities."""
        self._merge()
        order = np.argsort(self.key, kind="stable")
        return self.key[order], self.sim[order]


def build_edges(rows: Sequence[dict], embedder, config: EdgeSearchConfig) -> tuple[Edges, ParameterIndex]:
    """Pool rows -> candidate edges: index the parameters, embed the distinct texts, search."""
    index = ParameterIndex.build(rows)
    vectors = embedder.embed(index.texts) if index.texts else np.zeros((0, 1), dtype=np.float32)
    edges = search_edges(vectors, index, [r["name"] for r in rows], config)
    edges.stats.update(index.counts)
    logger.info("graph: %d functions, %d distinct parameter texts, %d candidate edges (%s)", len(rows),
                len(index.texts), len(edges), dict(index.counts))
    return edges, index


# --- LLM edge validation (Appendix A.1 correlation prompt) -------------------------------------------

VALIDATION_PROMPT = load_prompt(__file__, "prompts/edge_validation.txt")
FIELD_KEY, INTENT_KEY = "Field transitivity", "Potential user intent path coherence"
VALIDATION_SCHEMA = {"type": "object", "required": [FIELD_KEY, INTENT_KEY],
                     "properties": {k: {"type": "integer", "minimum": 0, "maximum": 9} for k in (FIELD_KEY, INTENT_KEY)}}
_VALIDATION_CHECK = jsonschema.Draft202012Validator(VALIDATION_SCHEMA)


def select_for_validation(edges: Sequence[dict], top_k: int | None, budget: int | None = None) -> list[dict]:
    """The candidates worth a validator request: each source's ``top_k`` most similar targets, then, under
    a total ``budget``, the most similar of those. Validating every candidate of a 20k pool would cost
    millions of requests."""
    ranked = sorted(edges, key=lambda e: (e["source"], -e["similarity"], e["target"]))
    chosen, taken = [], Counter()
    for e in ranked:
        if top_k is None or taken[e["source"]] < top_k:
            taken[e["source"]] += 1
            chosen.append(e)
    if budget is not None:
        chosen = sorted(chosen, key=lambda e: (-e["similarity"], e["source"], e["target"]))[:budget]
    return sorted(chosen, key=lambda e: (e["source"], e["target"]))


def validation_messages(source_row: dict, target_row: dict) -> list[dict]:
    text = VALIDATION_PROMPT.render(source_function=function_text(source_row), target_function=function_text(target_row))
    return [{"role": "user", "content": text}]


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: int(v) if isinstance(v, str) and v.strip().isdigit() else v for k, v in value.items()}
    return value


def parse_validation(reply: str | dict, source: str, target: str) -> dict:
    """``{"field_transitivity": int, "intent_coherence": int}`` from a validator reply; DataError when it does not fit.

    Whole-number strings ("7") are read as numbers: small models quote them often.
    """
    value = check_reply(reply, _VALIDATION_CHECK, f"edge {source!r} -> {target!r} validation",
                        f'reply with {{"{FIELD_KEY}": 0-9, "{INTENT_KEY}": 0-9}}', prepare=_whole_numbers)
    return {"field_transitivity": value[FIELD_KEY], "intent_coherence": value[INTENT_KEY]}


@dataclass
class EdgeAcceptance:
    """Which validated edges are kept: both scores at their minimum (``require="both"``), either one, or their
    sum at ``min_sum``. Candidates outside the validation budget are kept only with ``keep_unvalidated``."""

    min_field_transitivity: int = 6
    min_intent_coherence: int = 6
    require: str = "both"
    min_sum: int = 12
    keep_unvalidated: bool = False

    def __post_init__(self):
        if self.require not in ("both", "either", "sum"):
            raise ConfigError("graph validation require", f"{self.require!r} is not a rule",
                              "use 'both', 'either' or 'sum'")

    def accepts(self, scores: dict) -> bool:
        f, i = scores["field_transitivity"], scores["intent_coherence"]
        if self.require == "sum":
            return f + i >= self.min_sum
        ok = (f >= self.min_field_transitivity, i >= self.min_intent_coherence)
        return all(ok) if self.require == "both" else any(ok)


def apply_validation(edges: Sequence[dict], scores: dict[tuple[str, str], dict | None],
                     acceptance: EdgeAcceptance) -> list[dict]:
    """Edge rows with the validator's scores and the ``kept`` decision. ``scores`` maps (source, target)
    to parsed scores, or to None when the reply was rejected (the edge is then dropped)."""
    out = []
    for e in edges:
        pair = (e["source"], e["target"])
        s = scores.get(pair)
        validated = pair in scores
        kept = (s is not None and acceptance.accepts(s)) if validated else acceptance.keep_unvalidated
        out.append({**e, "field_transitivity": s["field_transitivity"] if s else None,
                    "intent_coherence": s["intent_coherence"] if s else None, "validated": validated, "kept": kept})
    return out


# --- graph statistics (for the card) ----------------------------------------------------------------

def graph_stats(n_nodes: int, source: np.ndarray, target: np.ndarray) -> dict:
    """Node, edge and weakly-connected component counts and the out-degree distribution."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    adjacency = coo_matrix((np.ones(len(source)), (source, target)), shape=(n_nodes, n_nodes))
    n_components, labels = connected_components(adjacency, directed=True, connection="weak")
    touched = np.zeros(n_nodes, dtype=bool)
    touched[source] = True
    touched[target] = True
    out_degree = np.bincount(source, minlength=n_nodes)
    return {"nodes": n_nodes, "edges": int(len(source)), "nodes_with_edges": int(touched.sum()),
            "components": int(n_components), "components_with_edges": int(len(np.unique(labels[touched]))),
            "largest_component": int(np.bincount(labels).max()) if n_nodes else 0,
            "out_degree": {int(k): int(v) for k, v in sorted(Counter(out_degree.tolist()).items())}}
