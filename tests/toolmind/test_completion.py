"""Function completion: which gaps are asked for, how replies fill them, and which replies are rejected."""

from __future__ import annotations

import json

import pytest

from builders.errors import DataError
from toolmind.completion import Gaps, apply_completion, completion_messages, reply_schema

ROW = {"name": "get_weather", "description": "Current weather for a city.", "source": "xlam:test",
       "parameters": json.dumps({"type": "object", "properties": {
           "city": {"type": "string"}, "units": {"description": "metric or imperial"},
           "days": {"type": "integer", "description": "How many days."}}}),
       "outputs": None}

INPUT_REPLY = {"input description": "Where and how to report the weather.", "input structure": [
    {"name": "city", "description": "The city to report on.", "type": "str"},
    {"name": "units", "description": "ignored: it has one", "type": "string"}]}
OUTPUT_REPLY = {"output description": "The weather now.", "output structure": [
    {"name": "temperature", "description": "Temperature in the requested units.", "type": "float"},
    {"name": "conditions", "description": "Sky conditions.", "type": "List[str]"}]}


def test_gaps_and_requests():
    gaps = Gaps.of(ROW)
    assert gaps.inputs == ("city", "units") and gaps.no_outputs and gaps.parts() == ["input", "output"]
    text = completion_messages(ROW, "input")[0]["content"]
    assert text.startswith("Please help me predict the input of the function.")
    assert "city, units" in text and '"name":"get_weather"' in text
    assert "predict the output" in completion_messages(ROW, "output")[0]["content"]
    assert reply_schema("output")["required"] == ["output description", "output structure"]


def test_completion_fills_only_the_gaps_and_marks_them_inferred():
    row = apply_completion(ROW, "input", json.dumps(INPUT_REPLY))
    props = json.loads(row["parameters"])["properties"]
    assert props["city"] == {"type": "string", "description": "The city to report on."}
    assert props["units"] == {"description": "metric or imperial", "type": "string"}
    assert props["days"]["description"] == "How many days."
    row = apply_completion(row, "output", "Sure! ```json\n" + json.dumps(OUTPUT_REPLY) + "\n```")
    outputs = json.loads(row["outputs"])
    assert outputs["properties"]["conditions"] == {"type": "array", "items": {"type": "string"},
                                                   "description": "Sky conditions."}
    assert row["inferred"] == ["outputs", "parameters.city.description", "parameters.units.type"]
    assert Gaps.of(row).parts() == []


@pytest.mark.parametrize("reply, match", [
    ("no json here", "no JSON"),
    ({"input description": "x"}, "'input structure' is a required property"),
    ({"input description": "x", "input structure": [{"name": "city", "type": "str"}]}, "'description' is a required"),
    ({"input description": "x", "input structure": [{"name": "city", "description": "c", "type": "str"}]},
     "does not describe input field 'units'"),
    ({"input description": "x", "input structure": [{"name": "city", "description": "c", "type": "Strung[int"},
                                                    {"name": "units", "description": "u", "type": "str"}]},
     "field 'city': type 'Strung\\[int' ends early"),
])
def test_bad_replies_are_rejected_with_a_reason(reply, match):
    with pytest.raises(DataError, match=match) as info:
        apply_completion(ROW, "input", reply)
    assert info.value.item == "function 'get_weather' input completion"


def test_output_reply_without_fields_is_rejected():
    with pytest.raises(DataError, match="lists no output fields"):
        apply_completion(ROW, "output", {"output description": "nothing", "output structure": []})


def test_generation_schema_names_exactly_the_missing_fields_and_reading_stays_lenient():
    import jsonschema

    from toolmind.completion import MAX_NEW_FIELDS, missing_names, reply_problem

    schema = reply_schema("input", missing_names(ROW, "input"))
    jsonschema.Draft202012Validator.check_schema(schema)
    check = jsonschema.Draft202012Validator(schema)
    entry = {"description": "The city.", "type": "string"}
    assert check.is_valid({"input description": "x", "input structure": [{"name": "city", **entry},
                                                                           {"name": "units", **entry}]})
    assert not check.is_valid({"input description": "x", "input structure": [{"name": "units", **entry},
                                                                               {"name": "city", **entry}]})
    assert not check.is_valid({"input description": "x", "input structure": [{"name": "city", **entry}]})
    assert not check.is_valid({"input description": "x", "input structure": [
        {"name": "city", **entry}, {"name": "units", "description": "u", "type": "List[str]"}]})
    # no output schema at all: up to MAX_NEW_FIELDS fields of any name
    free = reply_schema("output")["properties"]["output structure"]
    assert free["maxItems"] == MAX_NEW_FIELDS and "prefixItems" not in free
    # what the parser reads stays the paper's shape: a served model without constrained decoding may write
    # Python annotations, which apply_completion turns into schemas
    assert reply_problem("output")(OUTPUT_REPLY) is None
    assert "required property" in reply_problem("output")({"output structure": []})
