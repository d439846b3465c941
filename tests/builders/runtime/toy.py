"""A three-step toy pipeline on the scripted loopback LLM: a CPU step, a three-call rollout, a judge.

Run as a script it builds into a work folder and writes the result folder; the resume tests
kill it at random moments::

    python toy.py BASE_URL WORK_DIR OUT_DIR [--shards N] [--executor local|ray] [--cap-assistant N]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from builders.llm.testing import loopback_config  # noqa: E402
from builders.runtime import Filter, GlobalStep, LLMTask, MapStep, Pipeline, Reject  # noqa: E402


class Tag(MapStep):
    name, inputs, outputs = "tag", ("text",), ("words",)

    def process(self, item):
        words = len(item["text"].split())
        if words > 9:
            raise Reject("more than 9 words")
        return {**item, "words": words}


class Rollout(MapStep):
    """Three sequential calls for one item, each seeing the replies before it."""

    name, inputs, outputs = "rollout", ("text", "words"), ("messages",)
    roles = ("user_simulator", "assistant")

    def calls_per_item(self):
        return {"user_simulator": 1, "assistant": 2}

    async def aprocess(self, item, ctx):
        messages = [{"role": "user", "content": f"{item['text']} #{ctx.rng.randint(0, 999)}"}]
        for role in ("assistant", "user_simulator", "assistant"):
            reply = await ctx.chat(role, messages)
            if not reply.ok:
                raise Reject(f"{role}: {reply.error}")
            messages.append({"role": "assistant" if role == "assistant" else "user", "content": reply.content})
        return {**item, "messages": messages}


class Judge(LLMTask):
    name, role = "judge", "turn_judge"
    inputs, outputs = ("messages",), ("verdict",)
    schema = {"type": "object", "required": ["echo"], "properties": {"echo": {"type": "string", "maxLength": 100}}}

    def parse(self, item, reply):
        return {"verdict": len(reply["echo"])}


class Short(Filter):
    name, inputs = "short", ("verdict",)

    def filter(self, item):
        return item["verdict"] < 85 or "verdict of 85 or more"


class Split(GlobalStep):
    name, inputs, outputs = "split", ("id",), ("split",)

    def run(self, items, ctx):
        return [{**it, "split": "test" if i % 5 == 0 else "train"} for i, it in enumerate(items)]


def source(n: int = 60) -> list[dict]:
    return [{"text": " ".join(["word"] * (1 + i % 12)) + f" n{i}"} for i in range(n)]


def pipeline(base_url: str, work: str | Path, *, shards: int = 1, executor: str = "local", caps=None,
             global_step: bool = False, chunk_size: int = 4, concurrency: int = 8, n: int = 60) -> Pipeline:
    steps = [Tag(), Rollout(), Judge()] + ([Short(), Split()] if global_step else [])
    llm = loopback_config(base_url, max_concurrency=concurrency)
    return Pipeline("toy", source=source(n), steps=steps, work_dir=work, seed=7, llm=llm, shards=shards,
                    executor=executor, caps=caps or {}, chunk_size=chunk_size, flush_seconds=0.05, progress=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("work")
    parser.add_argument("out")
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--executor", default="local")
    parser.add_argument("--cap-assistant", type=int)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    caps = {"assistant": {"requests": args.cap_assistant}} if args.cap_assistant is not None else None
    pipeline(args.base_url, args.work, shards=args.shards, executor=args.executor, caps=caps,
             global_step=True).run().write(args.out)


if __name__ == "__main__":
    main()
