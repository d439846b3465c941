"""Dedup and decontamination at the size of the ToolMind paper's release, against naive pairwise baselines.

Synthetic rows (seeded): 112k trajectories (three user and three assistant turns of 15-30 words from a
5,000-word vocabulary, with a tool call per assistant turn) split into 368k samples, and 17.5k ITC
queries; 3% are planted exact copies, 3% near copies (one or two words changed) and 200 trajectories
carry a BFCL question (half of them lightly reworded). Each phase runs in its own process, so its
peak memory (ru_maxrss, data included) is its own:

- ``dedup``: trajectories (then their samples follow them) and ITC queries (``builders.dedup``);
- ``decontam``: trajectories and queries against every BFCL v4 question (``builders.decontam``);
- ``naive``: the same decisions by brute force on a subsample (every pair's exact Jaccard for
  dedup; every row against every question for decontamination), timed, then extrapolated to the full
  size (pairs grow as n^2 for dedup, n x questions for decontamination) to give the ratio.

Targets on 2 cores: dedup and decontamination each under 5 minutes and 4 GiB.

    python benchmarks/dedup_decontam.py [--trajectories 112000] [--queries 17500] [--subsample 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from builders.decontam import NgramIndex, bfcl_questions, decontaminate  # noqa: E402
from builders.dedup import SHINGLE, THRESHOLD, dedup, ngrams, words  # noqa: E402

SAMPLES_PER_TRAJECTORY = 368 / 112


def vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(size)]


def sentence(rng: random.Random, vocab: list[str]) -> str:
    return " ".join(rng.choice(vocab) for _ in range(rng.randint(15, 30)))


def reword(rng: random.Random, text: str, vocab: list[str], edits: int) -> str:
    ws = text.split()
    for _ in range(edits):
        ws[rng.randrange(len(ws))] = rng.choice(vocab)
    return " ".join(ws)


def make_data(n_traj: int, n_queries: int, seed: int = 0) -> tuple[list[dict], list[dict], list[dict]]:
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    bfcl = list(bfcl_questions().texts.values())
    trajs = []
    for i in range(n_traj):
        kind = rng.random()
        if trajs and kind < 0.03:
            messages = trajs[rng.randrange(len(trajs))]["messages"]
        elif trajs and kind < 0.06:
            src = trajs[rng.randrange(len(trajs))]["messages"]
            messages = [{**m, "content": reword(rng, m["content"], vocab, 1)} if m["role"] == "user" else m for m in src]
        else:
            messages = []
            for _ in range(3):
                messages.append({"role": "user", "content": sentence(rng, vocab)})
                messages.append({"role": "assistant", "content": sentence(rng, vocab), "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": rng.choice(vocab),
                                                                 "arguments": json.dumps({"q": rng.choice(vocab)})}}]})
                messages.append({"role": "tool", "content": "ok", "tool_call_id": "c", "name": "f"})
        if i < 200:
            q = bfcl[rng.randrange(len(bfcl))]
            messages = [{"role": "user", "content": q if i % 2 else "Please " + q.replace(" the ", " this ", 1)}] \
                + messages[1:]
        trajs.append({"id": f"t{rng.getrandbits(64):016x}", "messages": messages})
    samples = []
    for t in trajs:
        for turn in range(4 if rng.random() < SAMPLES_PER_TRAJECTORY - 3 else 3):
            samples.append({"id": f"{t['id']}-{turn}", "trajectory_id": t["id"]})
    queries = []
    for _ in range(n_queries):
        if queries and rng.random() < 0.06:
            text = reword(rng, queries[rng.randrange(len(queries))]["query"], vocab, rng.randint(0, 1))
        else:
            text = sentence(rng, vocab)
        queries.append({"id": f"q{rng.getrandbits(64):016x}", "query": text})
    return trajs, samples, queries


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_dedup(args) -> dict:
    trajs, samples, queries = make_data(args.trajectories, args.queries)
    data_mib = peak_mib()
    t0 = time.perf_counter()
    kept, gone = dedup(trajs, "trajectories")
    removed = {t["id"] for t, _ in gone}
    kept_samples = [s for s in samples if s["trajectory_id"] not in removed]
    kept_q, gone_q = dedup(queries, "queries")
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 1), "peak_mib": round(peak_mib()), "data_mib": round(data_mib),
            "trajectories_removed": len(gone), "samples_removed": len(samples) - len(kept_samples),
            "samples": len(samples), "queries_removed": len(gone_q)}


def phase_decontam(args) -> dict:
    trajs, _, queries = make_data(args.trajectories, args.queries)
    data_mib = peak_mib()
    t0 = time.perf_counter()
    index = NgramIndex([bfcl_questions()])
    _, gone = decontaminate(trajs, index, "trajectories")
    _, gone_q = decontaminate(queries, index, "queries")
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 1), "peak_mib": round(peak_mib()), "data_mib": round(data_mib),
            "trajectories_removed": len(gone), "queries_removed": len(gone_q), "questions": len(index.questions)}


def phase_naive(args) -> dict:
    """Brute force on a subsample, and our code on the same subsample, for the ratio."""
    trajs, _, _ = make_data(args.subsample, 0)
    texts = [" ".join(words(" ".join(m["content"] for m in t["messages"] if m["role"] in ("user", "assistant"))))
             for t in trajs]
    t0 = time.perf_counter()
    sets = [ngrams(t.split(), SHINGLE) for t in texts]
    dups = 0
    for i in range(len(sets)):
        for j in range(i):
            a, b = sets[i], sets[j]
            if len(a & b) >= THRESHOLD * len(a | b):
                dups += 1
                break
    naive_dedup = time.perf_counter() - t0
    t0 = time.perf_counter()
    dedup(trajs, "trajectories")
    ours_dedup = time.perf_counter() - t0

    questions = [ngrams(words(q), 3) for q in bfcl_questions().texts.values()]
    rows = trajs[: max(1, args.subsample // 4)]
    user = [ngrams(words(" ".join(m["content"] for m in t["messages"] if m["role"] == "user")), 3) for t in rows]
    t0 = time.perf_counter()
    hits = sum(any(q and len(q & u) >= 0.5 * len(q) for q in questions) for u in user)
    naive_decontam = time.perf_counter() - t0
    t0 = time.perf_counter()
    decontaminate(rows, NgramIndex([bfcl_questions()]), "trajectories")
    ours_decontam = time.perf_counter() - t0
    return {"subsample": len(trajs), "naive_dedup_s": round(naive_dedup, 2), "ours_dedup_s": round(ours_dedup, 2),
            "naive_dedup_found": dups, "decontam_rows": len(rows), "naive_decontam_s": round(naive_decontam, 2),
            "ours_decontam_s_with_index": round(ours_decontam, 2), "naive_decontam_found": hits}


PHASES = {"dedup": phase_dedup, "decontam": phase_decontam, "naive": phase_naive}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trajectories", type=int, default=112_000)
    p.add_argument("--queries", type=int, default=17_500)
    p.add_argument("--subsample", type=int, default=2000)
    p.add_argument("--phase", choices=sorted(PHASES))
    args = p.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args)))
        return
    out = {}
    for phase in ("naive", "dedup", "decontam"):
        cmd = [sys.executable, __file__, "--phase", phase, "--trajectories", str(args.trajectories),
               "--queries", str(args.queries), "--subsample", str(args.subsample)]
        out[phase] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        print(phase, out[phase], flush=True)
    n, s = args.trajectories, out["naive"]["subsample"]
    naive_full_dedup = out["naive"]["naive_dedup_s"] * (n / s) ** 2
    naive_full_decontam = out["naive"]["naive_decontam_s"] * (n + args.queries) / out["naive"]["decontam_rows"]
    print(f"dedup: {out['dedup']['wall_s']} s, peak {out['dedup']['peak_mib']} MiB "
          f"(data alone {out['dedup']['data_mib']} MiB); naive pairwise extrapolated to {n} rows: "
          f"{naive_full_dedup:.0f} s -> ratio {naive_full_dedup / out['dedup']['wall_s']:.0f}x")
    print(f"decontamination: {out['decontam']['wall_s']} s, peak {out['decontam']['peak_mib']} MiB "
          f"(data alone {out['decontam']['data_mib']} MiB); naive row x question extrapolated: "
          f"{naive_full_decontam:.0f} s -> ratio {naive_full_decontam / out['decontam']['wall_s']:.0f}x")


if __name__ == "__main__":
    main()
