"""What parallel slots buy on the embedded server: requests/s and tokens/s with 1 slot vs N slots.

The same prompts (short chat turns, no cache, fixed seed and ``max_tokens``) go through the real
client to the embedded xllamacpp server started once with ``parallel=1`` and once with
``parallel=N`` (client concurrency = slots). llama.cpp batches the slots' tokens into one forward
pass, so on CPU N slots should finish the same work faster than one; the ratio row is the answer.
Both runs happen in this process, on this machine, one after the other, so the ratio holds even
when the absolute numbers move with the machine's load.

    python benchmarks/embedded_throughput.py [--requests 16] [--slots 4] [--max-tokens 32]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from builders.llm import ChatRequest, LLMClient, LLMConfig  # noqa: E402

TOPICS = ["the weather in Paris", "a good book", "how tides work", "the history of tea", "why the sky is blue",
          "a healthy breakfast", "learning to swim", "the planet Mars", "a rainy day", "bicycles in cities",
          "a quiet library", "coffee brewing", "mountain hiking", "the moon landing", "a birthday party",
          "ocean waves"]


def prompts(n: int) -> list[ChatRequest]:
    return [ChatRequest(messages=[{"role": "user", "content": f"Write two sentences about {TOPICS[i % len(TOPICS)]}."
                                   + " Request %d." % i}]) for i in range(n)]


def run(slots: int, requests: list[ChatRequest], max_tokens: int) -> dict:
    config = LLMConfig.from_mapping({"cache": None, "endpoints": {"local": {"base_url": None, "parallel": slots,
                                                                            "ctx_per_slot": 1024}},
                                     "roles": {"default": {"temperature": 0.0, "max_tokens": max_tokens, "seed": 0}}})
    with LLMClient(config, cache=None, progress=False) as client:
        client.chat_many_sync("default", requests[:1])  # start-up and warm-up, not measured
        client.stats.clear()
        start = time.perf_counter()
        results = client.chat_many_sync("default", requests)
        seconds = time.perf_counter() - start
        totals = client.totals()
    failed = sum(not r.ok for r in results)
    return {"slots": slots, "seconds": seconds, "failed": failed, "req_s": len(requests) / seconds,
            "gen_tok_s": totals["completion_tokens"] / seconds,
            "all_tok_s": (totals["prompt_tokens"] + totals["completion_tokens"]) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    requests = prompts(args.requests)
    base, many = run(1, requests, args.max_tokens), run(args.slots, requests, args.max_tokens)
    print(f"{args.requests} requests, max_tokens={args.max_tokens}, same prompts, no cache")
    print(f"{'slots':>6} {'seconds':>8} {'req/s':>7} {'gen tok/s':>10} {'all tok/s':>10} {'failed':>6}")
    for r in (base, many):
        print(f"{r['slots']:>6} {r['seconds']:>8.1f} {r['req_s']:>7.2f} {r['gen_tok_s']:>10.1f} {r['all_tok_s']:>10.1f} "
              f"{r['failed']:>6}")
    print(f"ratio {args.slots} slots / 1 slot: requests/s x{many['req_s'] / base['req_s']:.2f}, "
          f"generated tokens/s x{many['gen_tok_s'] / base['gen_tok_s']:.2f}")


if __name__ == "__main__":
    main()
