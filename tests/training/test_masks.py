"""Masks against hand-computed ones: the expected text is written out from the templates by hand, in
segments that start or end on a special token, and each segment is tokenized on its own."""

import json

import datasets
import pytest

from builders.schema import SchemaError
from tests.training.conftest import TRL_TEMPLATES, trl_chat_template
from training.data import row_conversation
from training.masks import IGNORE_INDEX, ChatEncoder, MaskConfig, locate_end, prompt_overlap

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


def test_truncation_and_rows_without_loss_are_dropped(chat_tokenizers, caplog):
    tok = chat_tokenizers["qwen3"]
    all_ids = ChatEncoder(tok, MaskConfig(pkt=False)).encode_row(TRAJECTORY)["input_ids"]
    first_trained = len(expected(tok, QWEN3_SEGMENTS[:1])[0])
    enc = ChatEncoder(tok, MaskConfig(pkt=False, max_length=first_trained + 3))
    out = enc.encode_row(TRAJECTORY)
    assert len(out["input_ids"]) == len(out["labels"]) == len(out["weights"]) == first_trained + 3 < len(all_ids)
    masked_out = TRAJECTORY | {"id": "t2", "turn_verdicts": [False, False, False]}
    short = ChatEncoder(tok, MaskConfig(pkt=False, max_length=first_trained))
    with caplog.at_level("WARNING", logger="training.masks"):
        ds = short.encode_dataset(datasets.Dataset.from_list([TRAJECTORY, masked_out]))
    assert len(ds) == 0  # one truncated before its first trained token, one fully masked
    assert "dropped 2 of 2 rows with no trained token (all turns masked or truncated away), " \
           "e.g. row 't1', row 't2'" in caplog.text
    kept = enc.encode_dataset(datasets.Dataset.from_list([masked_out, TRAJECTORY]))
    assert kept.column_names == ["input_ids", "labels", "weights"] and kept["input_ids"] == [out["input_ids"]]


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


@pytest.mark.parametrize("name", ["qwen3", "glm4moe"])  # string arguments printed as they are / parsed to dicts
@pytest.mark.parametrize("arguments,problem", [("{a: oops", "arguments are not valid JSON"),
                                               ('["Paris"]', "arguments must be a JSON object, got list")])
def test_invalid_arguments_are_named_for_every_template(chat_tokenizers, name, arguments, problem):
    bad = {**CALL, "function": {"name": "get_weather", "arguments": arguments}}
    messages = [MESSAGES[0], {"role": "assistant", "content": "", "tool_calls": [bad]}]
    enc = ChatEncoder(chat_tokenizers[name])
    with pytest.raises(SchemaError, match=rf"^row 't1' messages\[1\] tool call 0 \(get_weather\): {problem}"):
        enc.encode_row(TRAJECTORY | {"messages": messages, "turn_verdicts": [True]})
    if name == "glm4moe":  # messages handed straight to encode are checked where they become dicts
        with pytest.raises(SchemaError, match=rf"^row 'x' message 1 tool call 0: {problem}"):
            enc.encode(messages, TOOLS, [1], "row 'x'")


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


# ---------------------------------------------------------------------------------------------
# thinking templates whose generation prompt opens a <think> block (DeepSeek-V3, Qwen3.5)

DS_CALL = ("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
           '{"city": "Paris"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>')


DS_SPECIAL = ["<｜User｜>", "<｜Assistant｜>", "<｜end▁of▁sentence｜>", "<｜tool▁sep｜>"] + [
    f"<｜tool▁{what}▁{edge}｜>" for what in ("calls", "call", "outputs", "output") for edge in ("begin", "end")]


def test_deepseekv3_hand_computed(smollm2_tokenizer_dir):
    """Its generation prompt is '<｜Assistant｜><think>\\n'; the rendered turn has no think block."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    tok.add_special_tokens({"additional_special_tokens": DS_SPECIAL})  # as in DeepSeek's own vocabulary
    tok.chat_template = trl_chat_template("deepseekv3")
    enc = ChatEncoder(tok, MaskConfig(pkt=False))
    sample = {"id": "s1", "prompt": MESSAGES[:1], "completion": [MESSAGES[1]], "tools": json.dumps(TOOLS)}
    ids, labels = expected(tok, [("<|im_start|><｜User｜>Weather in Paris?<｜Assistant｜>", False), (DS_CALL, True)])
    out = enc.encode_row(sample)
    assert (out["input_ids"], out["labels"]) == (ids, labels)
    ids, labels = expected(tok, [  # DeepSeek-V3 renders no tools; after tool outputs its prompt is empty
        ("<|im_start|><｜User｜>Weather in Paris?<｜Assistant｜>", False), (DS_CALL, True),
        ("<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>sunny<｜tool▁output▁end｜><｜tool▁outputs▁end｜>", False),
        ("It is sunny.<｜end▁of▁sentence｜>", False),  # marked False
        ("<｜User｜>Thanks<｜Assistant｜>", False), ("Bye.<｜end▁of▁sentence｜>", True)])
    out = enc.encode_row(TRAJECTORY)
    assert (out["input_ids"], out["labels"]) == (ids, labels)


QWEN35_CALL = ("<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n"
               "</tool_call><|im_end|>")


@pytest.mark.parametrize("name", ["qwen3_5_think", "qwen3_6"])
def test_qwen3_5_hand_computed(template_tokenizer, name):
    """The prompt ends in '<think>\\n': earlier turns have no think block, the last one an empty one."""
    tok = template_tokenizer(name)
    enc = ChatEncoder(tok, MaskConfig(pkt=False))
    system = enc.render([MESSAGES[0]], TOOLS).removesuffix("<|im_start|>user\nWeather in Paris?<|im_end|>\n")
    assert system.startswith("<|im_start|>system\n# Tools\n") and system.endswith("</IMPORTANT><|im_end|>\n")
    head = system + "<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n"
    ids, labels = expected(tok, [
        (head, False), (QWEN35_CALL, True),
        ("\n<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>\n<|im_start|>assistant\n", False),
        ("It is sunny.<|im_end|>", False),  # marked False
        ("\n<|im_start|>user\nThanks<|im_end|>\n<|im_start|>assistant\n<think>\n", False),
        ("\n</think>\n\nBye.<|im_end|>", True),  # what follows the prompt's "<think>\n"
        ("\n", False)])
    out = enc.encode_row(TRAJECTORY)
    assert (out["input_ids"], out["labels"]) == (ids, labels)
    sample = {"id": "s1", "prompt": MESSAGES[:1], "completion": [MESSAGES[1]], "tools": json.dumps(TOOLS)}
    ids, labels = expected(tok, [(head + "<think>\n", False), ("\n</think>\n\n" + QWEN35_CALL, True), ("\n", False)])
    out = enc.encode_row(sample)
    assert (out["input_ids"], out["labels"]) == (ids, labels)


def test_prompt_overlap_stops_at_a_tag_or_line_end():
    assert prompt_overlap("<a>\n<think>\n", "x<a>\n<think>\nhi", 1) == len("<a>\n<think>\n")  # all of it
    assert prompt_overlap("<a>\n<think>\n", "x<a>\n<tool_call>", 1) == len("<a>\n")  # not into <tool_call>
    assert prompt_overlap("<a><think>\n", "x<a><think></think>", 1) == len("<a><think>")
    assert prompt_overlap("<a>", "x<b>", 1) == 0


# ---------------------------------------------------------------------------------------------
# every template TRL ships

# TRL's chat_templates/README.md: no tool calling (or, for the VLM ones, text-only content fails)
NO_TOOL_TEMPLATES = {
    "cohere", "cohere2", "cohere2_training", "cohere_training", "deepseek_r1_distill", "deepseek_r1_distill_training",
    "gemma", "gemma3", "gemma3_training", "gemma_training", "idefics3", "idefics3_training", "lfm2", "lfm2_training",
    "llama3", "llama3_training", "llava_next", "llava_next_training", "phi3", "phi3_5", "phi3_5_training",
    "phi3_training", "qwen2_5_vl", "qwen2_5_vl_training", "smolvlm", "smolvlm_training"}
# context the model never writes; none of it may be trained
CONTEXT = ["Be brief.", "Weather in Paris?", "Rain, 12C", "Thanks"]
RICH = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "reasoning_content": "Need the tool.", "tool_calls": [CALL]},
    {"role": "tool", "content": "Rain, 12C", "tool_call_id": "c1", "name": "get_weather"},
    {"role": "assistant", "content": "It rains.", "reasoning_content": "Tool said rain."},
    {"role": "user", "content": "Thanks"},
    {"role": "assistant", "content": "Bye.", "reasoning_content": "Say goodbye."},
]
SINGLE_CALL = {"gptoss", "gptoss_training", "llama3_1", "llama3_2"}  # "only supports single tool-calls"


@pytest.mark.parametrize("name", TRL_TEMPLATES)
def test_every_trl_template(template_tokenizer, name):
    tok = template_tokenizer(name)
    enc = ChatEncoder(tok)
    rows = [{"id": "t1", "messages": RICH, "tools": json.dumps(TOOLS)},
            {"id": "s1", "prompt": RICH[:2], "completion": [RICH[2]], "tools": json.dumps(TOOLS)},
            {"id": "s2", "prompt": RICH[:6], "completion": [RICH[6]], "tools": json.dumps(TOOLS)}]
    if name in NO_TOOL_TEMPLATES:
        with pytest.raises(SchemaError, match=r"^row 't1': chat template: (does not render assistant tool calls|"
                                              r"fails on a plain tool-call conversation)"):
            enc.encode_row(rows[0])
        return
    for row in rows:
        messages, tools, turns = row_conversation(row)
        messages = enc.template_messages(messages)
        text, spans = enc.spans(messages, tools, turns)
        assert list(spans) == turns
        for i, (a, b) in spans.items():
            turn = text[a:b]
            wanted = ["get_weather", "Paris"] if messages[i].get("tool_calls") else [messages[i]["content"]]
            assert all(w in turn for w in wanted), (i, turn)
            assert not any(c in turn for c in CONTEXT), (i, turn)
            assert all(m["content"] in text[:a] for m in messages[:i] if m["role"] != "assistant"), (i, turn)
        out = enc.encode_row(row)
        keys = [w for w in out["weights"] if w > 1.0]
        assert len(keys) >= 2 if "tool_calls" in messages[turns[0]] else not keys  # the call's name and argument
    if name.endswith("_training") and name != "diffusion_gemma_training":
        # TRL's {% generation %} markers: every token we train is one TRL's assistant mask holds too
        # (diffusion_gemma ends a call with <|tool_response>, the template's stop, which the markers leave out)
        messages = enc.template_messages(row_conversation(rows[0])[0])
        ours = enc.encode(messages, TOOLS, [2, 4, 6])
        theirs = tok.apply_chat_template(messages, tools=TOOLS, return_dict=True, return_assistant_tokens_mask=True)
        assert ours["input_ids"] == theirs["input_ids"]
        assert all(m for lab, m in zip(ours["labels"], theirs["assistant_masks"]) if lab != IGNORE_INDEX)


def test_parallel_calls_in_every_tool_template(template_tokenizer):
    """Two calls in one turn: both names and arguments are key tokens wherever the template renders both."""
    for name in sorted(set(TRL_TEMPLATES) - NO_TOOL_TEMPLATES - SINGLE_CALL):
        tok = template_tokenizer(name)
        second = {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}
        row = {"id": "p", "prompt": RICH[:2], "tools": json.dumps(TOOLS),
               "completion": [{"role": "assistant", "content": "", "tool_calls": [CALL, second]}]}
        out = ChatEncoder(tok).encode_row(row)
        assert sum(w > 1.0 for w in out["weights"]) == 4, name
