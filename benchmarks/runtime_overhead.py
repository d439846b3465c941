"""What the pipeline runtime costs on top of the work itself, measured in one run.

1. A no-op step over 1M items: items per second through ``Pipeline.run`` (source ids, sort,
   chunked checkpoints, merge); target >= 200k/s. A bare Python loop calling the same step on
   the same items is the baseline, so a busy machine can be told from a slow runtime.
2. An LLM step whose items are 4-call rollouts, at concurrency C = 64, against the loopback
   server (its own process, fixed latency L): achieved / ideal, where ideal = items / C x 4 x L;
   target >= 0.9. The LLM client spends CPU on every request, so one round of C requests takes
   about L + C x cpu: real chat models answer in seconds, hence L = 1 s by default (see
   benchmarks/llm_throughput.py for the client alone).
3. Checkpointing on vs off: on that LLM step (target <= 2 % slower) and on a CPU-bound step over
   1M small items (target <= 20 % slower).

    python benchmarks/runtime_overhead.py [--items 1000000] [--llm-items 256] [--latency 1.0]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from builders.llm.testing import loopback_config  # noqa: E402
from builders.runtime import MapStep, Pipeline, Reject  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class NoOp(MapStep):
    name = "noop"

    def process(self, item):
        return item


class Digest(MapStep):
    """CPU-bound: a few hashes and string work per small item."""

    name, inputs, outputs = "digest", ("text",), ("digest",)

    def process(self, item):
        h = item["text"].encode()
        for _ in range(8):
            h = hashlib.sha256(h).digest()
        return {**item, "digest": h.hex()[:16]}


class Rollout(MapStep):
    name, outputs, roles = "rollout", ("turns",), ("assistant",)

    def __init__(self, concurrency: int):
        self.concurrency = concurrency

    def calls_per_item(self):
        return {"assistant": 4}

    async def aprocess(self, item, ctx):
        messages = [{"role": "user", "content": item["text"]}]
        for _ in range(4):
            reply = await ctx.chat("assistant", messages)
            if not reply.ok:
                raise Reject(reply.error)
            messages += [{"role": "assistant", "content": reply.content}, {"role": "user", "content": "go on"}]
        return {**item, "turns": len(messages)}


def timed(pipeline: Pipeline) -> float:
    start = time.perf_counter()
    pipeline.run()
    return time.perf_counter() - start


def small_items(n: int) -> list[dict]:
    return [{"id": f"{i:012x}", "text": f"item {i}"} for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--llm-items", type=int, default=256)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2, help="on/off runs alternate this many times; best of each")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="runtime-bench-"))
    items = small_items(args.items)

    def run(name, steps, source, **kw) -> float:
        return timed(Pipeline(name, source=source, steps=steps, work_dir=tmp / name, progress=False,
                              chunk_size=10_000, **kw))

    def on_off(name, steps, source, **kw) -> tuple[float, float]:
        """Best of ``repeat`` alternating runs each (a fresh work folder every time: nothing resumes)."""
        off, on = [], []
        for i in range(args.repeat):
            off.append(run(f"{name}-off-{i}", steps, source, checkpoint=False, **kw))
            on.append(run(f"{name}-on-{i}", steps, source, **kw))
        return min(off), min(on)

    start = time.perf_counter()
    step = NoOp()
    bare = [step.process(item) for item in items]
    bare_s = time.perf_counter() - start
    del bare
    noop = run("noop", [NoOp()], items)
    print(f"no-op step, {args.items:,} items: {args.items / noop:,.0f} items/s "
          f"({args.items / noop / 200_000:.2f} x the 200k/s target); a bare loop: {args.items / bare_s:,.0f} "
          f"items/s, runtime/bare time = {noop / bare_s:.1f}")

    cpu_off, cpu_on = on_off("cpu", [Digest()], items)
    print(f"CPU-bound step, {args.items:,} items: checkpoints off {cpu_off:.2f}s, on {cpu_on:.2f}s, "
          f"on/off = {cpu_on / cpu_off:.3f} (target <= 1.20)")

    server = subprocess.Popen([sys.executable, "-m", "builders.llm.testing", "--latency", str(args.latency)],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        base_url = server.stdout.readline().strip()
        llm = loopback_config(base_url, max_concurrency=args.concurrency, timeout=60.0)
        ideal = args.llm_items / args.concurrency * 4 * args.latency
        source = small_items(args.llm_items)
        # a fresh work folder has an empty request cache: the server answers every request of every run
        llm_off, llm_on = on_off("llm", [Rollout(args.concurrency)], source, llm=llm, flush_seconds=1.0)
    finally:
        server.terminate()
        server.wait()
    print(f"LLM step, {args.llm_items} items x 4-call rollouts, C={args.concurrency}, L={args.latency}s: "
          f"ideal {ideal:.2f}s, achieved {llm_on:.2f}s, achieved/ideal = {ideal / llm_on:.3f} (target >= 0.9)")
    print(f"LLM step checkpoints off {llm_off:.2f}s, on {llm_on:.2f}s, on/off = {llm_on / llm_off:.3f} "
          "(target <= 1.02)")


if __name__ == "__main__":
    main()
