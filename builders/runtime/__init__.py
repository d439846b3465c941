"""The pipeline runtime: steps over items with stable ids, LLM tasks, filters, global steps,
checkpoints that resume after a kill, shards on a local or Ray executor, stats and caps.

A pipeline author declares steps; the runtime does the rest (order, concurrency, resume)::

    from builders.runtime import Filter, GlobalStep, LLMTask, MapStep, Pipeline, Reject

    class Clean(MapStep):                      # CPU: process(item) -> item | [items] | raise Reject
        name, inputs, outputs = "clean", ("text",), ("text",)

        def process(self, item):
            text = item["text"].strip()
            if not text:
                raise Reject("empty text")
            return {**item, "text": text}

    class LongEnough(Filter):                  # filter(item) -> True | reason
        name, inputs = "long_enough", ("text",)

        def __init__(self, min_words: int = 3):
            self.min_words = min_words

        def settings(self):                    # goes into the checkpoint key
            return {"min_words": self.min_words}

        def filter(self, item):
            return len(item["text"].split()) >= self.min_words or f"fewer than {self.min_words} words"

    class Intent(LLMTask):                     # prompts/intent.jinja (``{# version: 2 #}`` on line 1)
        name, role = "intent", "intent_synthesizer"
        inputs, outputs = ("text",), ("intent",)
        schema = {"type": "object", "required": ["intent"], "properties": {"intent": {"type": "string"}}}

        def parse(self, item, reply):          # a reply that breaks the schema is already a reject
            return {"intent": reply["intent"]}

    class Rollout(MapStep):                    # async: several sequential LLM calls for one item
        name, inputs, outputs, roles = "rollout", ("intent",), ("messages",), ("user_simulator", "assistant")

        async def aprocess(self, item, ctx):   # ctx.rng: random stream of (seed, step, item id)
            messages = [{"role": "user", "content": item["intent"]}]
            for role in ctx.rng.sample(self.roles, 2):
                reply = await ctx.chat(role, messages)
                if not reply.ok:
                    raise Reject(f"{role}: {reply.error}")
                messages.append({"role": "assistant", "content": reply.content})
            return {**item, "messages": messages}

    class Split(GlobalStep):                   # sees all items of all shards at once
        name, inputs, outputs = "split", ("id",), ("split",)

        def run(self, items, ctx):
            return [{**it, "split": "test" if ctx.rng(it["id"]).random() < 0.1 else "train"} for it in items]

    pipeline = Pipeline("demo", source=rows, steps=[Clean(), LongEnough(), Intent(), Rollout(), Split()],
                        work_dir="build/work", llm=LLMConfig.from_yaml("preset.yaml"), seed=0,
                        shards=4, executor="local", caps={"assistant": {"requests": 100_000}})
    print(pipeline.dry_run().table())          # planned items, requests and tokens; sends nothing
    result = pipeline.run()                    # resumes from the checkpoints under work_dir
    result.write("build/out")                  # output.jsonl by id, rejects.jsonl by (step, id), stats.json, run.json

Items are dicts; an item without ``id`` gets its content hash. A step returning a dict without
``id`` keeps its input's id; several outputs without ids get their content hashes.
"""

from builders.runtime.rejects import RejectLog, Rejects, write_rejects  # first: builders.llm imports it
from builders.runtime.checkpoint import Checkpoint
from builders.runtime.executors import LocalExecutor, RayExecutor
from builders.runtime.items import item_id, item_rng, shard_of
from builders.runtime.step import (Budget, CapReached, Filter, GlobalContext, GlobalStep, ItemContext, MapStep,
                                   Reject, Step)
from builders.runtime.pipeline import BuildResult, Pipeline, Plan


def __getattr__(name: str):
    """``LLMTask`` loads on first use: builders.llm imports this package's rejects, so the LLM side
    must not load while this package does."""
    if name in ("LLMTask", "schema_validator"):
        from builders.runtime import task

        return getattr(task, name)
    raise AttributeError(f"module 'builders.runtime' has no attribute {name!r}")


__all__ = [
    "Budget", "BuildResult", "CapReached", "Checkpoint", "Filter", "GlobalContext", "GlobalStep", "ItemContext",
    "LLMTask", "LocalExecutor", "MapStep", "Pipeline", "Plan", "RayExecutor", "Reject", "RejectLog", "Rejects", "Step",
    "item_id", "item_rng", "schema_validator", "shard_of", "write_rejects",
]
