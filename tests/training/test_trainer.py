import json

import datasets
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

from builders.schema import SchemaError
from training.masks import ChatEncoder
from training.trainer import WeightedDataCollator, WeightedSFTTrainer

NAMES = ["get_weather", "get_weather_forecast", "get_time"]
TOOLS = [{"type": "function", "function": {"name": n, "description": "",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
         for n in NAMES]


def row(i):
    call = {"id": "c", "type": "function", "function": {"name": NAMES[i % 3], "arguments": json.dumps({"city": f"C{i}"})}}
    return {"id": f"s{i}", "prompt": [{"role": "user", "content": f"Question {i}?"}],
            "completion": [{"role": "assistant", "content": "" if i % 2 else "Checking.", "tool_calls": [call]}],
            "tools": json.dumps(TOOLS)}


@pytest.fixture(scope="module")
def encoded(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    return tok, ChatEncoder(tok).encode_dataset(datasets.Dataset.from_list([row(i) for i in range(4)]))


def make(cls, model_dir, tok, data, tmp_path, **kw):
    kw = {"max_steps": 1, "bf16": False, "per_device_train_batch_size": 2, "report_to": "none", "logging_steps": 1,
          "save_strategy": "no", "gradient_checkpointing": False, **kw}
    args = SFTConfig(output_dir=str(tmp_path), **kw)
    torch.manual_seed(0)
    return cls(model=AutoModelForCausalLM.from_pretrained(model_dir), args=args, train_dataset=data,
               processing_class=tok)


def batch_of(trainer, n=2):
    return trainer.data_collator([trainer.train_dataset[i] for i in range(n)])


def test_weights_one_equal_trl_loss(tiny_model_dir, encoded, tmp_path):
    tok, data = encoded
    weighted = make(WeightedSFTTrainer, tiny_model_dir, tok, data, tmp_path)
    plain = make(SFTTrainer, tiny_model_dir, tok, data.remove_columns("weights"), tmp_path)
    batch = batch_of(weighted)
    ones = torch.where(batch["labels"] != -100, 1.0, 0.0)
    trl_batch = {k: v for k, v in batch.items() if k != "weights"}
    ours = weighted.compute_loss(weighted.model, dict(batch, weights=ones))
    theirs = plain.compute_loss(plain.model, dict(trl_batch))
    assert abs(ours.item() - theirs.item()) < 1e-6
    # the same under gradient accumulation, where the denominator is the accumulated count
    num = weighted._get_num_items_in_batch([dict(batch, weights=ones)], torch.device("cpu"))
    assert num == plain._get_num_items_in_batch([trl_batch], torch.device("cpu"))
    ours = weighted.compute_loss(weighted.model, dict(batch, weights=ones), num_items_in_batch=num)
    theirs = plain.compute_loss(plain.model, dict(trl_batch), num_items_in_batch=num)
    assert abs(ours.item() - theirs.item()) < 1e-6


def test_weighted_loss_is_the_weighted_mean(tiny_model_dir, encoded, tmp_path):
    tok, data = encoded
    trainer = make(WeightedSFTTrainer, tiny_model_dir, tok, data, tmp_path)
    batch = batch_of(trainer)
    assert batch["weights"].max() > 1.0  # PKT weights are in the data
    with torch.no_grad():
        logits = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    labels, weights = batch["labels"][:, 1:], batch["weights"][:, 1:]
    mask = labels != -100
    logp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, labels.clamp(min=0)[..., None])[..., 0]
    manual = (-(logp * weights)[mask]).sum() / weights[mask].sum()
    unweighted = (-logp[mask]).mean()
    with torch.no_grad():
        ours = trainer.compute_loss(trainer.model, dict(batch))
    assert abs(ours.item() - manual.item()) < 1e-5
    assert abs(ours.item() - unweighted.item()) > 1e-4
    # accumulation: the denominator is the weight mass of every micro-batch
    num = trainer._get_num_items_in_batch([batch, batch], torch.device("cpu"))
    assert abs(float(num) - 2 * weights[mask].sum().item()) < 1e-3


def test_collator_pads_and_truncates_weights():
    collator = WeightedDataCollator(pad_token_id=0)
    out = collator([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7], "weights": [0.0, 2.0, 1.0]},
                    {"input_ids": [8, 9], "labels": [-100, 9], "weights": [0.0, 3.0, 4.0]}])  # TRL-truncated row
    assert out["weights"].tolist() == [[0.0, 2.0, 1.0], [0.0, 3.0, 0.0]]
    packed = WeightedDataCollator(pad_token_id=0, padding_free=True)([
        {"input_ids": [5, 6], "labels": [-100, 6], "weights": [0.0, 2.0]},
        {"input_ids": [8, 9], "labels": [-100, 9], "weights": [0.0, 3.0]}])
    assert packed["weights"].tolist() == [[0.0, 2.0, 0.0, 3.0]]


def test_train_steps_full_and_lora_and_unsupported_packing(tiny_model_dir, encoded, tmp_path):
    from peft import LoraConfig

    tok, data = encoded
    trainer = make(WeightedSFTTrainer, tiny_model_dir, tok, data, tmp_path / "full", max_steps=2)
    before = next(trainer.model.parameters()).detach().clone()
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 2 and all(h["mean_token_weight"] > 1.0 for h in logs)
    assert not torch.equal(before, next(trainer.model.parameters()))
    args = SFTConfig(output_dir=str(tmp_path / "lora"), bf16=False, per_device_train_batch_size=2, report_to="none",
                     max_steps=1, save_strategy="no")
    lora = WeightedSFTTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model_dir), args=args,
                              train_dataset=data, processing_class=tok,
                              peft_config=LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    assert lora.train().training_loss > 0
    with pytest.raises(SchemaError, match="packing"):
        make(WeightedSFTTrainer, tiny_model_dir, tok, data, tmp_path / "packed", packing=True, max_length=64)


def test_shifted_or_misaligned_batches_are_refused(tiny_model_dir, encoded, tmp_path):
    """The weights line up with unshifted labels; context parallelism hands the model pre-shifted ones."""
    tok, data = encoded
    trainer = make(WeightedSFTTrainer, tiny_model_dir, tok, data, tmp_path)
    batch = batch_of(trainer)
    shifted = torch.nn.functional.pad(batch["labels"], (0, 1), value=-100)[:, 1:]
    with pytest.raises(SchemaError, match="shift_labels"):
        trainer.compute_loss(trainer.model, dict(batch, shift_labels=shifted))
    with pytest.raises(SchemaError, match="do not line up with the weights"):
        trainer.compute_loss(trainer.model, dict(batch, weights=batch["weights"][:, :-1]))
