"""Score a model, or a file of its predictions, on a contract dataset or on BFCL.

    python -m training.evaluate org/itc --split test --model ./ckpt --metrics itc
    python -m training.evaluate ./releases/toolmind --config samples --predictions preds.jsonl --metrics tl
    python -m training.evaluate bfcl:simple_python,parallel --model ./ckpt

Metrics: ``tl`` = single-turn TS / PI / CF (TL-Training section 4.3) plus the mean IRM reward,
on rows whose gold completion holds tool calls; ``itc`` = ITC's LM / FM / tool selection and
invocation P / R / F1 and error analysis; ``bfcl`` = BFCL's official AST checker on the data
``bfcl-eval`` ships (BFCL is evaluation data only: never train on it).

``--model`` generates locally with transformers, greedily, with each row's tools passed to
the chat template. ``--predictions`` reads JSON lines ``{"id": ..., "output": ...}`` where
``output`` is the raw text, an assistant message, or a list of calls (``completion`` is
accepted for ``output``). The report is JSON (``--output``), with one entry per item, and a
table is printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from tqdm.auto import tqdm

from builders.schema import SchemaError
from builders.toolcalls import ParseError, parse_calls
from training.cli import (
    SAMPLES_CONFIG_HELP,
    add_dataset_arguments,
    load_rows,
    make_parser,
    parse_args,
    run_main,
)
from training.metrics.tool_calls import (
    aggregate_single_turn,
    gold_calls,
    mean,
    single_turn_metrics,
)

logger = logging.getLogger(__name__)


def _quiet() -> bool:
    """Progress bars only for a person watching: CI logs and pipes get none."""
    return not sys.stderr.isatty()

METRICS = ("tl", "itc", "bfcl")
BFCL_PREFIX = "bfcl:"


@dataclass
class EvalItem:
    id: str
    messages: list[dict]
    tools: list[dict]
    gold: Any  # list[Call] for tl / itc, the BFCL row for bfcl
    query: str = ""
    language: str | None = None
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# items


def _last_user_text(messages: list[dict]) -> str:
    return next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")


def contract_items(rows: Iterable[dict], metrics: str) -> list[EvalItem]:
    """Evaluation items from ``samples``-shaped rows (prompt / completion / tools) or ITC rows."""
    from training.data import row_messages, row_name, row_tools
    from training.reward import check_gold_tools

    items, skipped = [], 0
    for index, row in enumerate(rows):
        name = row_name(row, index)
        gold_source = row.get("actions") if metrics == "itc" and row.get("actions") is not None else row.get("completion")
        if gold_source is None:
            raise SchemaError(name, "has no completion (or ITC actions) to score against",
                              "evaluate the `samples` config, or an ITC split")
        try:
            gold = gold_calls(gold_source)
        except (ParseError, json.JSONDecodeError) as exc:
            raise SchemaError(f"{name} gold", f"cannot be read ({exc})",
                              "store calls as {name, arguments} or as OpenAI tool_calls") from None
        if metrics == "tl" and not gold:
            skipped += 1
            continue
        messages, tools = row_messages(row, "prompt", name), row_tools(row, name)
        check_gold_tools(gold, {t["function"]["name"] for t in tools}, f"{name} gold")
        items.append(EvalItem(str(row.get("id") or index), messages, tools, gold,
                              query=row.get("query") or _last_user_text(messages), language=row.get("language")))
    if skipped:
        logger.info("skipped %d rows whose gold turn makes no tool call (TS/PI/CF score calls only)", skipped)
    return items


def bfcl_items(spec: str) -> list[EvalItem]:
    from training.metrics import bfcl

    items = []
    for category in [c.strip() for c in spec.removeprefix(BFCL_PREFIX).split(",") if c.strip()]:
        for row in bfcl.load_bfcl(category):
            items.append(EvalItem(row["id"], row["messages"], bfcl.openai_tools(row["function"], category), row))
    return items


def load_items(dataset: str, metrics: str, config: str | None, split: str, revision: str | None,
               limit: int | None) -> list[EvalItem]:
    if dataset.startswith(BFCL_PREFIX):
        if metrics != "bfcl":
            raise SchemaError(f"dataset {dataset!r}", f"is BFCL data but --metrics is {metrics!r}", "use --metrics bfcl")
        items = bfcl_items(dataset)
    else:
        if metrics == "bfcl":
            raise SchemaError(f"dataset {dataset!r}", "--metrics bfcl scores only the bfcl-eval data",
                              "pass the dataset as bfcl:<category>[,<category>...]")
        ds = load_rows(dataset, config=config, split=split, revision=revision, limit=limit)
        items = contract_items(ds, metrics)
    return items[:limit] if limit else items


# ---------------------------------------------------------------------------------------------
# predictions


def read_predictions(path: str | Path) -> dict[str, Any]:
    out = {}
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SchemaError(f"{path} line {n}", f"is not JSON ({exc})", "write one JSON object per line") from None
            if not isinstance(record, dict) or "id" not in record or not ({"output", "completion"} & set(record)):
                raise SchemaError(f"{path} line {n}", "needs an 'id' and an 'output'",
                                  'write lines like {"id": "...", "output": "<model text or message>"}')
            out[str(record["id"])] = record.get("output", record.get("completion"))
    return out


def write_predictions(path: str | Path, predictions: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for item_id, output in predictions.items():
            fh.write(json.dumps({"id": item_id, "output": output}, ensure_ascii=False) + "\n")


def generate_predictions(model_path: str, items: list[EvalItem], max_new_tokens: int = 512, batch_size: int = 8,
                         chat_template_kwargs: dict | None = None) -> dict[str, str]:
    """Greedy generation with transformers, each prompt rendered with its own tools."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype).to(device).eval()
    if any(it.tools for it in items) and "tools" not in str(tokenizer.chat_template or ""):
        logger.warning("the chat template of %s does not mention tools: the model will not see them", model_path)
    eos = model.generation_config.eos_token_id
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    stop = {t for t in (tokenizer.pad_token_id, tokenizer.eos_token_id, *eos) if t is not None}
    out: dict[str, str] = {}
    for start in tqdm(range(0, len(items), batch_size), desc="generating", unit="batch", disable=_quiet()):
        batch = items[start:start + batch_size]
        texts = [tokenizer.apply_chat_template(it.messages, tools=it.tools or None, add_generation_prompt=True,
                                               tokenize=False, **(chat_template_kwargs or {})) for it in batch]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        with torch.inference_mode():
            generated = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                       pad_token_id=tokenizer.pad_token_id)
        for it, ids in zip(batch, generated[:, enc["input_ids"].shape[1]:].tolist()):
            cut = next((k for k, t in enumerate(ids) if t in stop), len(ids))
            out[it.id] = tokenizer.decode(ids[:cut], skip_special_tokens=False)
    return out


# ---------------------------------------------------------------------------------------------
# scoring


def score(items: list[EvalItem], predictions: dict[str, Any], metrics: str, strict_format: bool = False) -> dict:
    """The report: aggregate scores and one entry per item."""
    missing = [it.id for it in items if it.id not in predictions]
    if items and len(missing) == len(items):
        raise SchemaError("predictions", f"match none of the {len(items)} item ids (e.g. {items[0].id!r})",
                          "write one line per dataset row with the row's id")
    if missing:
        logger.warning("%d items have no prediction and count as wrong (e.g. %s)", len(missing), missing[:3])
    if metrics == "tl":
        from training.reward import irm_reward

        details = []
        for it in tqdm(items, desc="scoring", unit="item", disable=_quiet()):
            output = predictions.get(it.id)
            try:
                calls = parse_calls(output, it.tools)
            except ParseError:
                calls = None
            details.append({"id": it.id, **single_turn_metrics(calls, it.gold, it.tools),
                            "irm": irm_reward(output, it.gold, it.tools)})
        scores = aggregate_single_turn(details) | {"IRM": mean(d["irm"] for d in details)}
    elif metrics == "itc":
        from training.metrics.itc import aggregate_itc, score_itc_item

        results = [score_itc_item(predictions.get(it.id), it.gold, it.tools, it.query, it.language, it.id,
                                  strict_format) for it in tqdm(items, desc="scoring", unit="item", disable=_quiet())]
        scores = aggregate_itc(results)
        details = [asdict(r) | {"errors": dict(r.errors)} for r in results]
    elif metrics == "bfcl":
        from training.metrics.bfcl import aggregate_bfcl, score_bfcl_item

        details = [score_bfcl_item(predictions[it.id], it.gold) if it.id in predictions else
                   {"id": it.id, "category": it.gold["category"], "valid": False, "error_type": "missing_prediction",
                    "error": ["no prediction"]}  # else a missing answer would pass an irrelevance item
                   for it in tqdm(items, desc="scoring", unit="item", disable=_quiet())]
        scores = aggregate_bfcl(details)
    else:
        raise SchemaError("--metrics", f"unknown metrics {metrics!r}", f"use one of {', '.join(METRICS)}")
    return {"metrics": metrics, "scores": scores, "items": details}


def format_table(report: dict) -> str:
    """The headline numbers as a two-column text table."""
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, float):
            rows.append((prefix, f"{value:.4f}"))
        else:
            rows.append((prefix, str(value)))

    walk("", report["scores"])
    width = max(len(k) for k, _ in rows) if rows else 0
    return "\n".join([f"{'metric'.ljust(width)}  value", f"{'-' * width}  -----"]
                     + [f"{k.ljust(width)}  {v}" for k, v in rows])


# ---------------------------------------------------------------------------------------------
# CLI


def build_parser() -> argparse.ArgumentParser:
    p = make_parser("python -m training.evaluate", __doc__,
                    epilog="Predictions file: JSON lines {\"id\": ..., \"output\": ...}.")
    p.add_argument("dataset", help="release folder, data file or Hub id of a contract dataset, "
                                   "or bfcl:<category>[,<category>...] for the bfcl-eval data")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="local model folder to generate with (transformers, greedy)")
    source.add_argument("--predictions", help="JSONL file of {id, output} to score instead of generating")
    p.add_argument("--metrics", choices=METRICS, help="default: bfcl for bfcl: data, itc for rows with "
                                                       "`actions`, else tl")
    add_dataset_arguments(p, config_help=SAMPLES_CONFIG_HELP, split="test",
                          limit_help="score only the first N items")
    p.add_argument("--output", default="eval_report.json", help="where to write the JSON report")
    p.add_argument("--save-predictions", help="where to write generated predictions (default: next to the report)")
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--chat-template-kwargs", type=json.loads, default=None,
                   help='JSON passed to apply_chat_template, e.g. \'{"enable_thinking": false}\'')
    p.add_argument("--strict-format", action="store_true",
                   help="ITC FM counts only ITC's {\"Thought\", \"Action\"} JSON answers")
    return p


def _infer_metrics(dataset: str, config: str | None, split: str, revision: str | None) -> str:
    if dataset.startswith(BFCL_PREFIX):
        return "bfcl"
    columns = load_rows(dataset, config=config, split=split, revision=revision).column_names
    return "itc" if "actions" in columns else "tl"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(build_parser(), argv)
    metrics = args.metrics or _infer_metrics(args.dataset, args.config, args.split, args.revision)
    items = load_items(args.dataset, metrics, args.config, args.split, args.revision, args.limit)
    logger.info("%d items to score with %s metrics", len(items), metrics)
    output = Path(args.output)
    if args.model:
        predictions = generate_predictions(args.model, items, args.max_new_tokens, args.batch_size,
                                           args.chat_template_kwargs)
        saved = Path(args.save_predictions or output.with_suffix(".predictions.jsonl"))
        write_predictions(saved, predictions)
        logger.info("predictions written to %s", saved)
    else:
        predictions = read_predictions(args.predictions)
    report = {"dataset": args.dataset, "config": args.config, "split": args.split,
              "model": args.model, "predictions": args.predictions} | score(items, predictions, metrics,
                                                                              args.strict_format)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(format_table(report))
    print(f"report: {output}")
    return report


if __name__ == "__main__":
    run_main(main)
