"""Per-token weighted SFT on TRL: ``SFTTrainer`` with the loss reweighted, nothing else changed.

The loss is ``sum_t w_t * -log p(x_t) / sum_t w_t`` over the trained tokens. With every weight 1
it is TRL's own loss, term for term: the same fused LM head forward (``fused_lm_head=True``
returns per-token ``log_probs`` and ``label_mask``), and under gradient accumulation the weight
mass of the accumulated micro-batches plays the part of TRL's ``num_items_in_batch`` token count.
Rows carry a ``weights`` column aligned with ``labels`` (see ``training.masks``); the collator
pads it with 0 and the column survives ``remove_unused_columns``. Rows without it train as plain
``SFTTrainer``.
"""

from __future__ import annotations

import logging

import torch
from trl import SFTTrainer
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling
from trl.trainer.utils import pad

from builders.schema import SchemaError

logger = logging.getLogger(__name__)

WEIGHTS = "weights"


class WeightedDataCollator(DataCollatorForLanguageModeling):
    """TRL's collator plus a ``weights`` tensor padded (or packed, padding-free) like ``labels``."""

    def torch_call(self, examples):
        out = super().torch_call(examples)
        if WEIGHTS not in examples[0]:
            return out
        # TRL truncates input_ids and labels to max_length (keep_start) but leaves extra columns whole
        weights = [torch.tensor(e[WEIGHTS][: len(e["input_ids"])], dtype=torch.float32) for e in examples]
        if self.padding_free:
            weights = [torch.cat(weights)]
        out[WEIGHTS] = pad(weights, padding_value=0.0, padding_side="right", pad_to_multiple_of=self.pad_to_multiple_of)
        return out


class WeightedSFTTrainer(SFTTrainer):
    """``SFTTrainer`` whose loss weighs each trained token by the row's ``weights`` column."""

    _tag_names = ["trl", "sft", "weighted-sft"]

    def __init__(self, model, args=None, data_collator=None, train_dataset=None, *rest, **kwargs):
        if args is not None and self._has_weights(train_dataset):
            unsupported = {
                "packing=True (packing keeps only input_ids and labels)": args.packing,
                "truncation_mode='keep_end'": args.max_length is not None and args.truncation_mode != "keep_start",
                "compute_loss_func": kwargs.get("compute_loss_func") is not None,
                "label_smoothing_factor > 0": args.label_smoothing_factor > 0,
            }
            for what, on in unsupported.items():
                if on:
                    raise SchemaError(type(self).__name__, f"per-token weights do not work with {what}",
                                      "turn it off, or drop the weights column to train as plain SFTTrainer")
        super().__init__(model, args, data_collator, train_dataset, *rest, **kwargs)
        parallel = getattr(self.accelerator, "parallelism_config", None)
        if self._has_weights(train_dataset) and parallel is not None and (
                parallel.cp_enabled or getattr(parallel, "sp_enabled", False)):
            raise SchemaError(type(self).__name__, "per-token weights do not work with context or sequence "
                              "parallelism (the batch is split and its labels come pre-shifted)",
                              "turn parallelism off (cp_size / sp_size 1), or drop the weights column")
        dc = self.data_collator
        if type(dc) is DataCollatorForLanguageModeling:
            self.data_collator = WeightedDataCollator(
                pad_token_id=dc.pad_token_id, padding_free=dc.padding_free, return_position_ids=dc.return_position_ids,
                pad_to_multiple_of=dc.pad_to_multiple_of, return_tensors=dc.return_tensors)

    @staticmethod
    def _has_weights(dataset) -> bool:
        names = getattr(dataset, "column_names", None) or []
        return WEIGHTS in names

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if WEIGHTS not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, WEIGHTS]

    def _get_num_items_in_batch(self, batch_samples, device):
        """Weight mass instead of token count, so accumulated micro-batches share one denominator."""
        num = super()._get_num_items_in_batch(batch_samples, device)
        if num is None or not batch_samples or WEIGHTS not in batch_samples[0]:
            return num
        tokens = sum(b["labels"][..., 1:].ne(-100).sum() for b in batch_samples)
        mass = sum((b[WEIGHTS][..., 1:] * b["labels"][..., 1:].ne(-100)).sum() for b in batch_samples)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            tokens = self.accelerator.gather(tokens.to(device)).sum()
            mass = self.accelerator.gather(mass.to(device)).sum()
        return num * (mass.to(device) / tokens.to(device).clamp(min=1))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weights = inputs.pop(WEIGHTS, None)
        if weights is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        mode = "train" if self.model.training else "eval"
        inputs["use_cache"] = False
        if self.aux_loss_enabled:
            inputs["output_router_logits"] = True

        if "shift_labels" in inputs:
            raise SchemaError(type(self).__name__, "the batch holds shift_labels (context or sequence parallelism), "
                              "but the weights are aligned with unshifted labels",
                              "turn parallelism off, or drop the weights column to train as plain SFTTrainer")
        outputs = model(**inputs, fused_lm_head=True)
        if outputs.log_probs.shape != weights[:, 1:].shape:
            raise SchemaError(type(self).__name__, f"log-probs of shape {tuple(outputs.log_probs.shape)} do not line "
                              f"up with the weights {tuple(weights.shape)} shifted by one token",
                              "use the WeightedDataCollator and no sequence splitting")
        w = weights[:, 1:].to(outputs.log_probs.dtype) * outputs.label_mask
        per_token_loss = -outputs.log_probs
        if self.args.loss_type == "dft":
            per_token_loss = per_token_loss * outputs.log_probs.exp().detach()
        denominator = w.sum() if num_items_in_batch is None else num_items_in_batch
        loss = (per_token_loss * w).sum() / torch.as_tensor(denominator).clamp(min=torch.finfo(w.dtype).tiny)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())
        if self.aux_loss_enabled:
            steps = self.current_gradient_accumulation_steps if num_items_in_batch is not None else 1
            loss = loss + self.router_aux_loss_coef * outputs.aux_loss / steps

        self._log_token_metrics(mode, inputs, outputs, w)
        if return_outputs:
            with torch.no_grad():
                logits_inputs = {k: v for k, v in inputs.items() if k != "labels"}
                outputs = model(**logits_inputs)
            return loss, outputs
        return loss

    def _log_token_metrics(self, mode, inputs, outputs, w):
        """TRL's entropy / accuracy / token-count metrics, plus the mean weight of the trained tokens."""
        gather = self.accelerator.gather_for_metrics
        num_valid = gather(outputs.label_mask.sum()).sum()
        entropy_sum = gather(outputs.entropy.detach().sum()).sum()
        num_correct = gather(outputs.is_top1.sum()).sum()
        mass = gather(w.detach().sum()).sum()
        metrics = self._metrics[mode]
        metrics["entropy"].append((entropy_sum / num_valid).item() if num_valid > 0 else 0.0)
        metrics["mean_token_accuracy"].append((num_correct / num_valid).item() if num_valid > 0 else 0.0)
        metrics["mean_token_weight"].append((mass / num_valid).item() if num_valid > 0 else 0.0)
        if mode == "train":
            if "attention_mask" in inputs:
                n = gather(inputs["attention_mask"].sum()).sum().item()
            else:
                n = gather(torch.tensor(inputs["position_ids"].size(1), device=inputs["position_ids"].device)).sum().item()
            self._total_train_tokens += n // self._tp_size
        metrics["num_tokens"] = [self._total_train_tokens]
        if self.aux_loss_enabled:
            metrics["aux_loss"].append(gather(outputs.aux_loss).mean().item())
