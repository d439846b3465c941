"""PKT key tokens and weights against hand-computed ones, for tool names that share prefixes."""

import json

import pytest

from training.masks import IGNORE_INDEX, ChatEncoder, MaskConfig
from training.pkt import KeyChars, key_chars, key_weight, turn_weights

NAMES = ["get_weather", "get_weather_forecast", "get_time"]
TOOLS = [{"type": "function", "function": {"name": n, "description": "",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                                                           "days": {"type": "integer"}}}}}
         for n in NAMES]


def sample(name, arguments, content=""):
    call = {"id": "c1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
    return {"id": "s1", "prompt": [{"role": "user", "content": "Weather in Paris?"}],
            "completion": [{"role": "assistant", "content": content, "tool_calls": [call]}], "tools": json.dumps(TOOLS)}


def trained_tokens(tok, out):
    return [(tok.convert_ids_to_tokens(i), w) for i, lab, w in zip(out["input_ids"], out["labels"], out["weights"])
            if lab != IGNORE_INDEX]


# SmolLM2's tokens of the trained Qwen3 turn; the key ones are marked by hand:
#   (a) 'get' starts the name; (b) vs get_time the names part at 'w' of 'weather'; vs get_weather_forecast
#   the called name ends first, so the token after it ('",') is where they part; (c) 'city' starts the argument.
WEATHER_TURN = ["<", "think", ">", "Ċ", "Ċ", "</", "think", ">", "Ċ", "Ċ", "<", "tool", "_", "call", ">", "Ċ",
                '{"', "name", '":', 'Ġ"', "get", "_", "weather", '",', 'Ġ"', "arguments", '":', 'Ġ{"', "city", '":',
                'Ġ"', "Paris", '"', "}}", "Ċ", "</", "tool", "_", "call", ">", "<|im_end|>"]
WEATHER_KEYS = {20, 22, 23, 28}


@pytest.mark.parametrize("w_max,weight", [(100.0, (41 - 4) / 4), (9.0, 9.0), (5.0, 5.0)])
def test_weights_for_shared_prefix_names(chat_tokenizers, w_max, weight):
    tok = chat_tokenizers["qwen3"]
    out = ChatEncoder(tok, MaskConfig(w_max=w_max)).encode_row(sample("get_weather", {"city": "Paris"}))
    got = trained_tokens(tok, out)
    assert [t for t, _ in got] == WEATHER_TURN
    assert [w for _, w in got] == [weight if i in WEATHER_KEYS else 1.0 for i in range(len(WEATHER_TURN))]


def test_forecast_and_time_divergence_points(chat_tokenizers):
    tok = chat_tokenizers["qwen3"]
    enc = ChatEncoder(tok, MaskConfig(w_max=100.0))
    # get_weather_forecast: vs get_weather they part at the second '_', vs get_time at 'weather'
    got = trained_tokens(tok, enc.encode_row(sample("get_weather_forecast", {"city": "Paris", "days": 2})))
    keys = [(i, t) for i, (t, w) in enumerate(got) if w != 1.0]
    assert keys == [(20, "get"), (22, "weather"), (23, "_"), (31, "city"), (37, "days")]
    assert {w for _, w in got if w != 1.0} == {(len(got) - 5) / 5}
    # get_time: both other names part from it at 't' of 'time'
    got = trained_tokens(tok, enc.encode_row(sample("get_time", {"city": "Paris"})))
    assert [t for t, w in got if w != 1.0] == ["get", "time", "city"]


def test_name_in_content_is_not_taken_for_the_call(chat_tokenizers):
    tok = chat_tokenizers["qwen3"]
    enc = ChatEncoder(tok, MaskConfig(w_max=100.0))
    row = sample("get_time", {"city": "Paris"}, content="I could call get_weather but get_time fits.")
    got = trained_tokens(tok, enc.encode_row(row))
    tokens = [t for t, _ in got]
    call_start = next(i for i in range(len(tokens)) if tokens[i:i + 2] == ["<", "tool"])
    keyed = [i for i, (_, w) in enumerate(got) if w != 1.0]
    assert [tokens[i] for i in keyed] == ["get", "time", "city"] and min(keyed) > call_start


def test_glm_template_argument_keys(chat_tokenizers):
    tok = chat_tokenizers["glm4moe"]
    got = trained_tokens(tok, ChatEncoder(tok, MaskConfig(w_max=100.0)).encode_row(
        sample("get_weather", {"city": "Paris", "days": 2})))
    # '<tool_call>get_weather\n<arg_key>city</arg_key>...': the name ends at a newline, the divergence token
    assert [t for t, w in got if w != 1.0] == ["get", "weather", "Ċ", "city", "days"]


def test_no_tool_call_no_pkt_and_pkt_off(chat_tokenizers):
    tok = chat_tokenizers["qwen3"]
    plain = {"id": "p", "prompt": [{"role": "user", "content": "hi"}],
             "completion": [{"role": "assistant", "content": "get_weather is a tool."}], "tools": json.dumps(TOOLS)}
    assert {w for _, w in trained_tokens(tok, ChatEncoder(tok).encode_row(plain))} == {1.0}
    off = ChatEncoder(tok, MaskConfig(pkt=False)).encode_row(sample("get_weather", {"city": "Paris"}))
    assert {w for _, w in trained_tokens(tok, off)} == {1.0}


def test_key_weight_clip():
    assert key_weight(4, 37, 9) == 9.0
    assert key_weight(4, 20, 9) == 5.0
    assert key_weight(4, 2, 9) == 1.0  # never below 1
    assert key_weight(0, 10, 9) == 1.0


def test_key_chars_and_turn_weights_on_offsets():
    text = 'X{"name": "get_weather", "arguments": {"city": "Paris"}}Y'
    chars = key_chars(text, (1, len(text) - 1), {"tool_calls": [
        {"function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}, NAMES)
    assert [text[p] for p in chars.positions] == ["g", '"', "w", "c"]
    assert chars.kinds == ("name", "divergence", "divergence", "argument")
    # one token per character; only characters 1..10 are trained
    offsets = [(i, i + 1) for i in range(len(text))]
    weights = turn_weights(offsets, list(range(1, 11)), KeyChars((2, 3, 40), ("name",) * 3), w_max=9)
    assert weights == {2: 4.0, 3: 4.0}  # 40 is not trained; |NK| / |K| = 8 / 2


def calls_row(*calls):
    tool_calls = [{"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                  for i, (n, a) in enumerate(calls)]
    return {"id": "s1", "prompt": [{"role": "user", "content": "hi"}], "tools": json.dumps(TOOLS),
            "completion": [{"role": "assistant", "content": "", "tool_calls": tool_calls}]}


PARALLEL = calls_row(("get_weather", {"city": "get_time"}), ("get_time", {"city": "Paris"}))
NESTED = calls_row(("get_weather", {"q": {"city": "x"}, "city": "Paris"}))
# (row, template, trained tokens, key tokens (index, token)); the traps are marked by hand:
#   PARALLEL: the first call's value 'get_time' is not the second call's name;
#   NESTED: the 'city' inside q's value is not the top-level argument 'city'.
PKT_CASES = [
    (PARALLEL, "qwen3", 74, [(20, "get"), (22, "weather"), (23, '",'), (28, "city"),  # value get_time at 31..33
                             (53, "get"), (55, "time"), (61, "city")]),
    (NESTED, "qwen3", 50, [(20, "get"), (22, "weather"), (23, '",'), (28, "q"), (37, "city")]),  # nested city: 31
    (PARALLEL, "glm4moe", 86, [(12, "get"), (14, "weather"), (15, "Ċ"), (21, "city"),  # value get_time at 33..35
                               (53, "get"), (55, "time"), (62, "city")]),
    (NESTED, "glm4moe", 74, [(12, "get"), (14, "weather"), (15, "Ċ"), (21, "q"), (50, "city")]),  # nested city: 34
]


@pytest.mark.parametrize("row,name,n_trained,keys", PKT_CASES,
                         ids=["parallel-qwen3", "nested-qwen3", "parallel-glm4moe", "nested-glm4moe"])
def test_keys_skip_argument_values(chat_tokenizers, row, name, n_trained, keys):
    tok = chat_tokenizers[name]
    got = trained_tokens(tok, ChatEncoder(tok, MaskConfig(w_max=100.0)).encode_row(row))
    assert len(got) == n_trained
    assert [(i, t) for i, (t, w) in enumerate(got) if w != 1.0] == keys
    assert {w for _, w in got if w != 1.0} == {(n_trained - len(keys)) / len(keys)}


def test_key_chars_on_text():
    """Character positions for JSON arguments (decoded) and for markup arguments (searched in order)."""
    text = ('{"name": "get_weather", "arguments": {"city": "get_time", "q": {"city": 1}}}'
            '{"name": "get_time", "arguments": {"city": "Paris"}}')
    message = {"tool_calls": [
        {"function": {"name": "get_weather", "arguments": {"city": "get_time", "q": {"city": 1}}}},
        {"function": {"name": "get_time", "arguments": '{"city": "Paris"}'}}]}
    chars = key_chars(text, (0, len(text)), message, ["get_weather", "get_time"])
    assert list(zip(chars.positions, chars.kinds)) == [(10, "name"), (14, "divergence"), (39, "argument"),
                                                       (59, "argument"), (86, "name"), (90, "divergence"),
                                                       (112, "argument")]
    assert [text[p:p + 4] for p in chars.positions] == ["get_", "weat", "city", "q\": ", "get_", "time", "city"]
    gemma = "call:get_weather{city:<|\"|>Paris<|\"|>,q:{city:<|\"|>x<|\"|>}}"  # dictsort: not the arguments' order
    arguments = {"q": {"city": "x"}, "city": "Paris"}
    message = {"tool_calls": [{"function": {"name": "get_weather", "arguments": arguments}}]}
    chars = key_chars(gemma, (0, len(gemma)), message, ["get_weather"])
    assert [gemma[p:p + 5] for p in chars.positions] == ["get_w", "city:", "q:{ci"]


def test_weights_follow_truncation(chat_tokenizers):
    """max_length cuts the turn after 25 of its 41 tokens: 3 key tokens kept, weighed against the 22 others."""
    tok = chat_tokenizers["qwen3"]
    row = sample("get_weather", {"city": "Paris"})
    full = ChatEncoder(tok, MaskConfig(w_max=100.0)).encode_row(row)
    first = next(i for i, lab in enumerate(full["labels"]) if lab != IGNORE_INDEX)
    cut = ChatEncoder(tok, MaskConfig(w_max=100.0, max_length=first + 25)).encode_row(row)
    got = trained_tokens(tok, cut)
    assert [t for t, _ in got] == WEATHER_TURN[:25]
    assert [w for _, w in got] == [22 / 3 if i in WEATHER_KEYS else 1.0 for i in range(25)]
