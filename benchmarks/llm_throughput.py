"""How close the LLM client gets to ideal concurrency, and how fast a finished run replays from cache.

A loopback OpenAI-compatible server (``builders.llm.testing``, in its own process so its CPU is
not the client's) answers every request after a fixed latency L and has no limit of its own, so
at concurrency C the ideal rate is C/L requests per second. The table shows the achieved rate
and its ratio to the ideal for each C; the target is >= 0.9 at C = 64. Then 10,000 requests are
answered once (by a zero-latency server) and replayed from the persistent cache with the server
stopped.

The client spends CPU on every request (the openai SDK's request path, JSON, hashing); with a
fixed latency all C requests come back together, so one round takes about L + C x cpu and the
ratio is about L / (L + C x cpu). The table prints the measured CPU per request so the ratio can
be read for other latencies; real chat models answer in seconds, so L = 1 s is the default.

    python benchmarks/llm_throughput.py [--latency 1.0] [--concurrency 1 8 64 256] [--replay 10000]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from builders.llm import ChatRequest, LLMClient, LLMConfig  # noqa: E402


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "builders.llm.testing", "--latency", str(latency)],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    return proc, proc.stdout.readline().strip()


def client_for(base_url: str, concurrency: int, cache: str | None) -> LLMClient:
    config = LLMConfig.from_mapping({
        "cache": cache,
        "endpoints": {"bench": {"base_url": base_url, "max_concurrency": concurrency, "timeout": 60}},
        "roles": {"default": {"endpoint": "bench", "model": "bench", "temperature": 0.0}},
    })
    return LLMClient(config, progress=False)


def requests(n: int, tag: str) -> list[ChatRequest]:
    return [ChatRequest(messages=[{"role": "user", "content": f"{tag} request {i}"}]) for i in range(n)]


def measure_rate(base_url: str, concurrency: int, latency: float, rounds: int) -> dict:
    n = concurrency * rounds
    with client_for(base_url, concurrency, None) as client:

        async def run():
            await client.chat_many("default", requests(concurrency, f"warm-{concurrency}"))  # open the connections
            start, cpu = time.perf_counter(), time.process_time()
            results = await client.chat_many("default", requests(n, f"c{concurrency}"))
            return time.perf_counter() - start, time.process_time() - cpu, results

        elapsed, cpu, results = client.run_sync(run())
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    achieved, ideal = n / elapsed, concurrency / latency
    return {"concurrency": concurrency, "requests": n, "seconds": round(elapsed, 3), "achieved_rps": round(achieved, 1),
            "ideal_rps": round(ideal, 1), "ratio": round(achieved / ideal, 3),
            "client_cpu_ms_per_request": round(cpu / n * 1000, 3)}


def measure_replay(n: int) -> dict:
    server, base_url = start_server(0.0)
    with tempfile.TemporaryDirectory() as tmp:
        cache = str(Path(tmp) / "llm.sqlite")
        with client_for(base_url, 256, cache) as client:
            start = time.perf_counter()
            client.chat_many_sync("default", requests(n, "replay"))
            fill = time.perf_counter() - start
        server.terminate()  # every answer must now come from the cache
        server.wait()
        with client_for(base_url, 256, cache) as client:
            start = time.perf_counter()
            results = client.chat_many_sync("default", requests(n, "replay"))
            replay = time.perf_counter() - start
            hits = client.stats["default"]["hits"]
    assert hits == n and all(r.ok for r in results), f"{hits} of {n} requests came from the cache"
    return {"requests": n, "first_run_seconds": round(fill, 2), "replay_seconds": round(replay, 3),
            "replay_us_per_request": round(replay / n * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0, help="server latency L per request, seconds")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--rounds", type=int, default=6, help="requests per measurement = rounds x C")
    parser.add_argument("--replay", type=int, default=10_000, help="requests to replay from the cache")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    server, base_url = start_server(args.latency)
    try:
        rows = [measure_rate(base_url, c, args.latency, args.rounds) for c in args.concurrency]
    finally:
        server.terminate()
        server.wait()
    print(f"latency L = {args.latency * 1000:.0f} ms, {args.rounds} rounds per concurrency")
    print(f"{'C':>5} {'requests':>9} {'achieved/s':>11} {'ideal C/L':>10} {'ratio':>6} {'cpu ms/req':>11}")
    for r in rows:
        print(f"{r['concurrency']:>5} {r['requests']:>9} {r['achieved_rps']:>11.1f} {r['ideal_rps']:>10.1f} "
              f"{r['ratio']:>6.3f} {r['client_cpu_ms_per_request']:>11.3f}")
    replay = measure_replay(args.replay)
    print(f"cache: {replay['requests']} requests answered in {replay['first_run_seconds']} s, "
          f"replayed in {replay['replay_seconds']} s ({replay['replay_us_per_request']} us/request)")
    if args.json:
        args.json.write_text(json.dumps({"latency": args.latency, "rates": rows, "replay": replay}, indent=2))


if __name__ == "__main__":
    main()
