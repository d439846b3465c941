"""BFCL v4 rows copied unchanged from the PyPI package ``bfcl-eval`` (bfcl_eval/data, Apache-2.0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders.normalize import PossibleCall, normalize_bfcl, read_bfcl_function_docs, read_bfcl_ground_truth
from builders.schema import SchemaError

DATA = Path(__file__).parent / "data"


def _lines(name: str) -> dict[str, dict] | list[dict]:
    rows = [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]
    return {r["id"]: r for r in rows} if "id" in rows[0] else rows


QUESTIONS = _lines("bfcl_v4_questions.jsonl")
ANSWERS = _lines("bfcl_v4_possible_answer.jsonl")
FILE_SYSTEM = _lines("bfcl_v4_gorilla_file_system.jsonl")


def test_simple_python_dotted_name():
    conv = normalize_bfcl(QUESTIONS["simple_python_1"])
    assert conv.id == "bfcl:simple_python_1"
    assert [(m.role, m.content) for m in conv.messages] == [
        ("user", "Calculate the factorial of 5 using math functions.")]
    assert [t.to_openai() for t in conv.tools] == [{"type": "function", "function": {
        "name": "math.factorial", "description": "Calculate the factorial of a given number.",
        "parameters": {"type": "object", "properties": {"number": {
            "type": "integer", "description": "The number for which factorial needs to be calculated."}},
            "required": ["number"]}}}]


def test_parallel_multiple_float_types():
    conv = normalize_bfcl(QUESTIONS["parallel_multiple_1"])
    assert [f.name for f in conv.tools] == ["volume_cylinder.calculate", "area_rectangle.calculate",
                                            "area_circle.calculate"]
    assert conv.tools[1].parameters == {"type": "object", "properties": {
        "length": {"type": "number", "description": "The length of the rectangle."},
        "breadth": {"type": "number", "description": "The breadth of the rectangle."}},
        "required": ["length", "breadth"]}


def test_java_types():
    [fn] = normalize_bfcl(QUESTIONS["simple_java_22"]).tools
    assert fn.parameters["properties"]["ids"] == {
        "type": "array", "description": "A list of product IDs to update the new status for. Product ID is Long type",
        "items": {"type": "integer"}}
    assert fn.parameters["properties"]["newStatus"]["type"] == "integer"


def test_optional_flag_and_empty_type():
    [fn] = normalize_bfcl(QUESTIONS["irrelevance_30"]).tools
    assert fn.parameters["required"] == ["cell_shape", "cell_size"]
    assert "optional" not in fn.parameters["properties"]["cell_function"]
    [fn] = normalize_bfcl(QUESTIONS["simple_javascript_23"]).tools
    options = fn.parameters["properties"]["options"]
    assert options["type"] == "object" and options["required"] == []
    assert options["properties"]["issuer"] == {"description": "The entity that issued the token."}  # type "" = any


def test_enum_default_and_non_english_question():
    conv = normalize_bfcl(QUESTIONS["live_parallel_0-0-0"])
    assert conv.messages[0].content == "请问北京的当前天气状况如何？还有，上海的天气情况是怎样的？"
    assert conv.tools[0].parameters["properties"]["unit"] == {
        "type": "string", "description": "The unit of temperature for the weather report.",
        "enum": ["celsius", "fahrenheit"], "default": "fahrenheit"}


def test_system_and_assistant_history():
    conv = normalize_bfcl(QUESTIONS["live_irrelevance_125-11-0"])
    assert [m.role for m in conv.messages] == ["system", "user", "assistant", "user"]
    assert conv.messages[0].content.startswith("Don't make assumptions")


def test_multi_turn_entry_is_refused_with_a_reason():
    with pytest.raises(SchemaError) as info:
        normalize_bfcl(QUESTIONS["multi_turn_base_0"])
    assert info.value.item == "bfcl row multi_turn_base_0"
    assert info.value.problem.startswith("has 4 user turns")
    assert "read_bfcl_ground_truth" in info.value.fix


def test_entry_without_functions_needs_docs():
    with pytest.raises(SchemaError) as info:
        normalize_bfcl(QUESTIONS["memory_0-customer-0"])
    assert info.value.item == "bfcl row memory_0-customer-0"
    assert info.value.problem == "lists no 'function' (its classes: ['MemoryAPI'])"
    assert "read_bfcl_function_docs" in info.value.fix
    docs = read_bfcl_function_docs(FILE_SYSTEM)
    conv = normalize_bfcl(QUESTIONS["memory_0-customer-0"], functions=docs)
    assert [f.name for f in conv.tools] == ["cd", "diff", "grep", "mkdir", "mv", "sort"]


def test_function_docs_keep_responses_as_outputs():
    sort = {f.name: f for f in read_bfcl_function_docs(FILE_SYSTEM)}["sort"]
    assert sort.parameters["required"] == ["file_name"]
    assert sort.outputs == {"type": "object", "properties": {"sorted_content": {
        "type": "string", "description": "The sorted content of the file."}}, "required": []}
    with pytest.raises(SchemaError) as info:
        read_bfcl_function_docs([FILE_SYSTEM[0], {"description": "nameless"}], "gorilla_file_system.json")
    assert info.value.item == "gorilla_file_system.json" and info.value.problem == "line 1 has no name"


@pytest.mark.parametrize("change, item, problem", [
    ({"question": "What is 5!?"}, "bfcl row simple_python_1", "field 'question' must be list, got str"),
    ({"question": [[]]}, "bfcl row simple_python_1", "question[0] must be a non-empty list of messages"),
    ({"question": [[{"role": "user", "content": ["5!"]}]]}, "bfcl row simple_python_1 question[0][0]",
     "message must be an object with a role and text content"),
    ({"question": [[{"role": "customer", "content": "5!"}]]}, "bfcl row simple_python_1, conversation message 0 "
     "(customer)", "unknown role 'customer'"),
    ({"function": [{"name": "math.factorial", "parameters": {"type": "dict", "properties": {"n": {"type": "bigdec"}}}}]},
     "bfcl row simple_python_1, function[0] (math.factorial) parameters.n", "unknown type 'bigdec' in 'bigdec'"),
])
def test_malformed_rows(change, item, problem):
    with pytest.raises(SchemaError) as info:
        normalize_bfcl({**QUESTIONS["simple_python_1"], **change})
    assert (info.value.item, info.value.problem) == (item, problem)
    assert info.value.fix


def test_single_turn_ground_truth():
    gt = read_bfcl_ground_truth(ANSWERS["live_parallel_0-0-0"])
    assert gt.id == "live_parallel_0-0-0" and gt.turns is None and gt.answers is None
    assert gt.calls == [PossibleCall("get_current_weather", {"location": ["Beijing, China"], "unit": ["", "fahrenheit"]}),
                        PossibleCall("get_current_weather", {"location": ["Shanghai, China"],
                                                             "unit": ["", "fahrenheit"]})]
    assert gt.calls[0].optional("unit") and not gt.calls[0].optional("location")
    nested = read_bfcl_ground_truth(ANSWERS["simple_javascript_23"]).calls[0]
    assert nested.arguments["options"] == [{"issuer": ["myapp.net"], "role": ["admin"], "algorithm": ["HS256"]}]
    assert read_bfcl_ground_truth(ANSWERS["simple_java_22"]).calls[0].arguments["ids"] == [[101, 202, 303]]


def test_multi_turn_ground_truth_with_positional_arguments():
    gt = read_bfcl_ground_truth(ANSWERS["multi_turn_base_0"], functions=read_bfcl_function_docs(FILE_SYSTEM))
    assert gt.calls is None
    assert gt.turns == [
        [("cd", {"folder": "document"}), ("mkdir", {"dir_name": "temp"}),
         ("mv", {"source": "final_report.pdf", "destination": "temp"})],
        [("cd", {"folder": "temp"}), ("grep", {"file_name": "final_report.pdf", "pattern": "budget analysis"})],
        [("sort", {"file_name": "final_report.pdf"})],
        [("cd", {"folder": ".."}), ("mv", {"source": "previous_report.pdf", "destination": "temp"}),
         ("cd", {"folder": "temp"}), ("diff", {"file_name1": "final_report.pdf", "file_name2": "previous_report.pdf"})],
    ]
    with pytest.raises(SchemaError) as info:
        read_bfcl_ground_truth(ANSWERS["multi_turn_base_0"])
    assert info.value.item == "bfcl ground truth row multi_turn_base_0 turn 2 call 0"
    assert info.value.problem == "call to 'sort' passes 1 positional argument(s) that cannot be matched to parameter names"


def test_answer_ground_truth():
    gt = read_bfcl_ground_truth(ANSWERS["memory_0-customer-0"])
    assert gt.answers == ["Michael"] and gt.extra["source"].startswith("My name is Michael")


@pytest.mark.parametrize("row, problem", [
    ({"id": "x", "ground_truth": "f(a=1)"}, "field 'ground_truth' must be list, got str"),
    ({"id": "x", "ground_truth": [{"f": {"a": 1}}]}, "ground_truth[0] argument 'a' of 'f' must list its accepted "
                                                      "values, got 1"),
    ({"id": "x", "ground_truth": [{"f": {}, "g": {}}]}, "ground_truth[0] must be an object with exactly one "
                                                         "function name"),
    ({"id": "x", "ground_truth": [["f(a=b)"]]}, "argument value 'b' is not a literal"),
    ({"id": "x", "ground_truth": [[3]]}, "call must be a string, got int"),
])
def test_malformed_ground_truth(row, problem):
    with pytest.raises(SchemaError) as info:
        read_bfcl_ground_truth(row)
    assert info.value.item.startswith("bfcl ground truth row x")
    assert info.value.problem == problem
