"""Masks against hand-computed ones: the expected text is written out from the templates by hand, in
segments that start or end on a special token, and each segment is tokenized on its own."""

import json

import datasets
import pytest

from builders.schema import SchemaError
from training.masks import IGNORE_INDEX, ChatEncoder, MaskConfig, locate_end

TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather now",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
TOOLS = [TOOL]
CALL = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
MESSAGES = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [CALL]},
    {"role": "tool", "content": "sunny", "tool_call_id": "c1", "name": "get_weather"},
    {"role": "assistant", "content": "It is sunny."},
    {"role": "user", "content": "Thanks"},
    {"role": "assistant", "content": "Bye."},
]
TRAJECTORY = {"id": "t1", "messages": MESSAGES, "tools": json.dumps(TOOLS), "turn_verdicts": [True, False, True]}
TOOL_JSON = json.dumps(TOOL)  # the templates' tojson: ", " and ": " separators

QWEN3_SYSTEM = (
    "<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" + TOOL_JSON +
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
    "</tool_call><|im_end|>\n")
# (text, trained) in order; turn 3 ("It is sunny.") is marked False: in the context, no loss (MAE)
QWEN3_SEGMENTS = [
    (QWEN3_SYSTEM + "<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n", False),
    ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>', True),
    ("\n<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>\n<|im_start|>assistant\n", False),
    ("It is sunny.<|im_end|>", False),
    ("\n<|im_start|>user\nThanks<|im_end|>\n<|im_start|>assistant\n", False),
    ("<think>\n\n</think>\n\nBye.<|im_end|>", True),  # Qwen3 writes the empty think block on the last turn only
    ("\n", False),
]
GLM_SYSTEM = (
    "[gMASK]<sop><|system|>\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" + TOOL_JSON +
    "\n</tools>\n\nFor each function call, output the function name and arguments within the following XML format:\n"
    "<tool_call>{function-name}\n<arg_key>{arg-key-1}</arg_key>\n<arg_value>{arg-value-1}</arg_value>\n"
    "<arg_key>{arg-key-2}</arg_key>\n<arg_value>{arg-value-2}</arg_value>\n...\n</tool_call>")
GLM_SEGMENTS = [
    (GLM_SYSTEM + "<|user|>\nWeather in Paris?<|assistant|>", False),
    ("\n<think></think>\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>",
     True),
    ("<|observation|>\n<tool_response>\nsunny\n</tool_response><|assistant|>", False),
    ("\n<think></think>\nIt is sunny.", False),
    ("<|user|>\nThanks<|assistant|>", False),
    ("\n<think></think>\nBye.", True),  # GLM has no end-of-turn token: the next role marker ends the turn
]


def expected(tokenizer, segments):
    ids, labels = [], []
    for text, trained in segments:
        seg = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += seg
        labels += seg if trained else [IGNORE_INDEX] * len(seg)
    return ids, labels


@pytest.mark.parametrize("name,segments", [("qwen3", QWEN3_SEGMENTS), ("glm4moe", GLM_SEGMENTS)])
def test_trajectory_masks_equal_hand_computed(chat_tokenizers, name, segments):
    tok = chat_tokenizers[name]
    out = ChatEncoder(tok, MaskConfig(pkt=False)).encode_row(TRAJECTORY)
    ids, labels = expected(tok, segments)
    assert out["input_ids"] == ids
    assert out["labels"] == labels
    assert out["weights"] == [1.0 if lab != IGNORE_INDEX else 0.0 for lab in labels]


def test_samples_train_only_the_completion(chat_tokenizers):
    tok = chat_tokenizers["qwen3"]
    row = {"id": "s1", "prompt": MESSAGES[:3], "completion": [MESSAGES[3]], "tools": json.dumps(TOOLS)}
    out = ChatEncoder(tok, MaskConfig(pkt=False)).encode_row(row)
    context = "".join(text for text, _ in QWEN3_SEGMENTS[:3])  # the earlier assistant turn is context only
    ids, labels = expected(tok, [(context, False), ("<think>\n\n</think>\n\nIt is sunny.<|im_end|>", True),
                                 ("\n", False)])
    assert out["input_ids"] == ids
    assert out["labels"] == labels


def test_reasoning_dropped_from_earlier_turns_is_located(chat_tokenizers):
    """Qwen3 renders a turn's reasoning only after the last user query: prefixes are not prefixes."""
    tok = chat_tokenizers["qwen3"]
    messages = [dict(m) for m in MESSAGES]
    messages[3]["reasoning_content"] = "The tool said sunny."
    messages[5]["reasoning_content"] = "Say goodbye."
    enc = ChatEncoder(tok, MaskConfig(pkt=False))
    text, spans = enc.spans(messages, TOOLS, [1, 3, 5])
    assert "The tool said sunny." not in text
    assert [text[a:b] for a, b in spans.values()] == [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>',
        "It is sunny.<|im_end|>",
        "<think>\nSay goodbye.\n</think>\n\nBye.<|im_end|>",
    ]


def test_locate_end():
    assert locate_end("ab\ncd", "ab\ncdef") == 5
    # the prefix rendering holds a line the full one dropped; its end maps past the kept line
    prefix = "head\n<a>\n<think>\nx\n</think>\nbody<e>\n"
    full = "head\n<a>\nbody<e>\n<u>\nq\n<a>\n<think>\ny\n</think>\nbody<e>\n"
    assert full[: locate_end(prefix, full)] == "head\n<a>\nbody<e>\n"
    assert locate_end("zzz\nnot there\n", "head\nbody\n") is None


def test_truncation_and_rows_without_loss_are_dropped(chat_tokenizers):
    tok = chat_tokenizers["qwen3"]
    all_ids = ChatEncoder(tok, MaskConfig(pkt=False)).encode_row(TRAJECTORY)["input_ids"]
    first_trained = len(expected(tok, QWEN3_SEGMENTS[:1])[0])
    enc = ChatEncoder(tok, MaskConfig(pkt=False, max_length=first_trained + 3))
    out = enc.encode_row(TRAJECTORY)
    assert len(out["input_ids"]) == len(out["labels"]) == len(out["weights"]) == first_trained + 3 < len(all_ids)
    masked_out = TRAJECTORY | {"id": "t2", "turn_verdicts": [False, False, False]}
    short = ChatEncoder(tok, MaskConfig(pkt=False, max_length=first_trained))
    ds = short.encode_dataset(datasets.Dataset.from_list([TRAJECTORY, masked_out]))
    assert len(ds) == 0  # one truncated before its first trained token, one fully masked
    assert len(enc.encode_dataset(datasets.Dataset.from_list([TRAJECTORY, masked_out]))) == 1


def test_bad_inputs_are_named(chat_tokenizers):
    tok = chat_tokenizers["qwen3"]
    enc = ChatEncoder(tok)
    with pytest.raises(SchemaError, match="row 't1' turn_verdicts"):
        enc.encode_row(TRAJECTORY | {"turn_verdicts": [True]})
    plain = type(tok).from_pretrained(tok.name_or_path)
    plain.chat_template = None
    with pytest.raises(SchemaError, match="has no chat template"):
        ChatEncoder(plain)
    no_tools = type(tok).from_pretrained(tok.name_or_path)
    no_tools.chat_template = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
    with pytest.raises(SchemaError, match="does not render assistant tool calls"):
        ChatEncoder(no_tools).encode_row(TRAJECTORY)


def test_invalid_arguments_for_a_dict_template_are_named(chat_tokenizers):
    bad = {**CALL, "function": {"name": "get_weather", "arguments": "{city: Paris"}}
    row = TRAJECTORY | {"messages": [MESSAGES[0], {"role": "assistant", "content": "", "tool_calls": [bad]}],
                        "turn_verdicts": [True]}
    with pytest.raises(SchemaError, match="row 't1' message 1 tool call 0: arguments are not valid JSON"):
        ChatEncoder(chat_tokenizers["glm4moe"]).encode_row(row)


def test_samples_agree_with_trl_tokenization(chat_tokenizers, tmp_path):
    """Same ids as SFTTrainer's own prompt-completion preparation; same loss tokens but the separator."""
    from trl import SFTConfig, SFTTrainer
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tok = chat_tokenizers["qwen3"]
    row = {"prompt": MESSAGES[:3], "completion": [MESSAGES[3]], "tools": json.dumps(TOOLS)}
    model = Qwen3ForCausalLM(Qwen3Config(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, head_dim=8))
    trl = SFTTrainer(model=model, processing_class=tok, train_dataset=datasets.Dataset.from_list([row]),
                     args=SFTConfig(output_dir=str(tmp_path), bf16=False, report_to="none", max_length=None))
    theirs = trl.train_dataset[0]
    ours = ChatEncoder(tok).encode_row(row)
    assert ours["input_ids"] == theirs["input_ids"]
    assert ours["labels"] == theirs["labels"][:-1] + [IGNORE_INDEX]  # TRL also trains the "\n" after <|im_end|>
    assert tok.convert_ids_to_tokens(theirs["labels"][-1]) == "Ċ"
