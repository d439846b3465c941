"""Arguments against the tool's schema: one named category per problem, on hand-made and on BFCL's own data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders.errors import DataError
from builders.schema import Function, SchemaError
from builders.toolcalls import (
    ArgumentError,
    argument_issues,
    check_arguments,
    check_json,
    drop_bad_defaults,
)
from builders.toolcalls.types import parameters_schema

PARAMS = {"type": "object", "required": ["city"], "properties": {
    "city": {"type": "string"},
    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    "days": {"type": "integer", "minimum": 1},
    "filters": {"type": "object", "properties": {"stars": {"type": "integer"}}, "required": ["stars"]},
    "rooms": {"type": "array", "items": {"type": "object", "properties": {"beds": {"type": "integer"}}}},
}}


def _issues(args):
    return [(i.category, i.path) for i in argument_issues(args, PARAMS)]


def test_a_valid_call_has_no_issue():
    assert _issues({"city": "Paris", "unit": "celsius", "days": 3, "filters": {"stars": 4}, "rooms": [{"beds": 2}]}) == []


@pytest.mark.parametrize("args,expected", [
    ({}, [("missing_required", "city")]),
    ({"city": "Paris", "filters": {}}, [("missing_required", "filters.stars")]),
    ({"city": "Paris", "country": "FR"}, [("unknown_parameter", "country")]),
    ({"city": "Paris", "rooms": [{"beds": 1, "view": "sea"}]}, [("unknown_parameter", "rooms[0].view")]),
    ({"city": 75}, [("wrong_type", "city")]),
    ({"city": "Paris", "days": "3"}, [("wrong_type", "days")]),
    ({"city": "Paris", "rooms": [{"beds": "two"}]}, [("wrong_type", "rooms[0].beds")]),
    ({"city": "Paris", "unit": "kelvin"}, [("not_in_enum", "unit")]),
    ({"city": "Paris", "days": 0}, [("constraint", "days")]),
    ({"unit": "kelvin", "x": 1}, [("missing_required", "city"), ("not_in_enum", "unit"), ("unknown_parameter", "x")]),
    ("Paris", [("wrong_type", "")]),
])
def test_each_category_names_the_parameter_path(args, expected):
    assert _issues(args) == expected


def test_check_arguments_raises_one_line_data_error():
    with pytest.raises(ArgumentError) as info:
        check_arguments("get_weather", {"city": "Paris\nFAKE LOG LINE", "unit": "kelvin"}, PARAMS, "row 7 call 0")
    err = info.value
    assert isinstance(err, DataError) and (err.category, err.path) == ("not_in_enum", "unit")
    assert err.item == "row 7 call 0 to 'get_weather' argument 'unit'" and err.fix == "use one of the allowed values"
    assert "\n" not in str(err)
    check_arguments("get_weather", {"city": "Paris"}, PARAMS)  # valid: returns


def test_additional_properties_declared_by_the_schema_are_allowed():
    open_schema = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": True}
    assert argument_issues({"a": "x", "b": 1}, open_schema) == []


def test_a_broken_schema_is_reported_not_raised():
    [issue] = argument_issues({"a": 1}, {"type": "object", "properties": {"a": {"type": "float"}}})
    assert issue.category == "bad_schema" and issue.path == "a" and "unknown JSON type 'float'" in issue.message


def test_check_json_gives_one_line_or_none():
    schema = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}}
    assert check_json({"answer": "yes"}, schema) is None
    assert check_json({"answer": 3}, schema) == "answer: 3 is not of type 'string'"
    assert check_json({}, schema) == "$: 'answer' is a required property"
    assert check_json([1], {"type": "objekt"}).startswith("the schema unknown JSON type 'objekt'")
    deep = current = []
    for _ in range(5000):
        current.append([])
        current = current[0]
    assert check_json(deep, {"type": "array", "items": {"$ref": "#"}}) is not None


def test_defaults_that_contradict_their_type_are_dropped_and_counted():
    # xLAM declares integer parameters defaulting to 0.7, "" or "250"
    schema = {"type": "object", "properties": {
        "a": {"type": "integer", "default": 0.7}, "b": {"type": "integer", "default": ""},
        "c": {"type": "integer", "default": "250"}, "d": {"type": "integer", "default": 5},
        "e": {"type": "object", "properties": {"f": {"type": "boolean", "default": "yes"}}},
        "g": {"type": ["string", "null"], "default": None}}}
    cleaned, dropped = drop_bad_defaults(schema)
    assert dropped == 4
    assert [k for k, v in cleaned["properties"].items() if "default" in v] == ["d", "g"]
    assert "default" not in cleaned["properties"]["e"]["properties"]["f"]
    assert schema["properties"]["a"]["default"] == 0.7  # the input is left as it was


def test_published_schemas_pass_the_metaschema():
    with pytest.raises(SchemaError) as info:
        Function(name="f", description="", parameters={"type": "object", "properties": {"a": {"type": "string",
                                                                                                "minLength": "3"}}})
    assert info.value.item == "function 'f' parameter 'a'" and "is not valid JSON Schema" in info.value.problem
    with pytest.raises(SchemaError, match=r"is not valid JSON Schema at \['required'\]\[0\]"):
        Function(name="f", description="", parameters={"type": "object", "properties": {}, "required": [["a"]]})


# ---- BFCL's own data: every ground-truth call validates against the function docs shipped with it

BFCL = ["simple_python", "multiple", "parallel", "parallel_multiple",
        "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple"]
# ground-truth calls that contradict BFCL's own function docs (bfcl-eval as installed); first issue each
BFCL_CONTRADICTIONS = {
    'parallel_multiple_21': 'wrong_type at x: "data[\'sales\']" is not of type \'array\'',
    'parallel_multiple_94': "wrong_type at elements[0]: 'apple' is not of type 'integer'",
    'live_simple_106-63-0': "missing_required at auto_loan_payment_start: required argument 'auto_loan_payment_start' is missing",
    'live_simple_112-68-0': "missing_required at acc_routing_start: required argument 'acc_routing_start' is missing",
    'live_multiple_87-38-4': "not_in_enum at type: 'openai' is not one of ['all', 'postgres', 'openapi', 'graphql']",
    'live_multiple_189-83-0': "unknown_parameter at data.email: 'email' is not a parameter",
    'live_multiple_507-149-4': "missing_required at origin_airport: required argument 'origin_airport' is missing",
    'live_multiple_552-153-1': "not_in_enum at is_unisex: True is not one of ['True', 'False', 'dontcare']",
    'live_multiple_595-158-1': "not_in_enum at number_of_rooms: 2 is not one of ['1', '2', '3', 'dontcare']",
    'live_multiple_596-158-2': "not_in_enum at number_of_rooms: 1 is not one of ['1', '2', '3', 'dontcare']",
    'live_multiple_731-167-2': "not_in_enum at in_unit_laundry: True is not one of ['True', 'False', 'dontcare']",
    'live_multiple_733-167-4': "not_in_enum at in_unit_laundry: True is not one of ['True', 'False', 'dontcare']",
    'live_multiple_735-167-6': "not_in_enum at in_unit_laundry: True is not one of ['True', 'False', 'dontcare']",
    'live_multiple_750-169-5': "not_in_enum at genre: 'Any' is not one of ['World', 'Fantasy', 'Offbeat', 'Mystery', 'Musical', 'Thriller', 'Comedy', 'Comedy-drama', 'Horror', 'Animation', 'Cult', 'Sci-fi', 'War', 'Drama', 'Anime', 'Family', 'Action']",
    'live_multiple_756-169-11': "not_in_enum at genre: 'horror' is not one of ['World', 'Fantasy', 'Offbeat', 'Mystery', 'Musical', 'Thriller', 'Comedy', 'Comedy-drama', 'Horror', 'Animation', 'Cult', 'Sci-fi', 'War', 'Drama', 'Anime', 'Family', 'Action']",
    'live_multiple_835-178-10': "not_in_enum at genre: 'Reggaeton' is not one of ['Reggae', 'Holiday', 'Electropop', 'Pop', 'Asia', 'House', 'Electronica', 'Funk', 'Rock', 'Metal', 'Dubstep', 'Country', 'dontcare']",
    'live_multiple_862-181-3': "unknown_parameter at journey_start_time: 'journey_start_time' is not a parameter",
    'live_multiple_871-182-8': "not_in_enum at genre: 'Play' is not one of ['World', 'Offbeat', 'Mystery', 'Supernatural', 'Horror', 'Animation', 'Sci-fi', 'Documentary', 'Drama', 'War', 'Family', 'Action', 'dontcare']",
    'live_multiple_947-197-0': "not_in_enum at duration: '5 minutes' is not one of ['1 hour', '30 minutes', '1 hour 30 minutes', '45 minutes', '2 hours']",
    'live_multiple_964-207-0': "unknown_parameter at question: 'question' is not a parameter",
    'live_multiple_1038-265-0': "wrong_type at start_date: None is not of type 'string'",
    'live_parallel_multiple_2-2-0': "not_in_enum at command: '침실, 공기청정기, 중지' is not one of ['거실, 에어컨, 실행', ', 에어컨, 냉방 실행', '다용도실, 통돌이, 중지']",
}


def _concrete(value):
    """A ground-truth value without BFCL's lists of accepted options (nested dicts list them too)."""
    if isinstance(value, dict):
        return {k: _concrete(next(x for x in o if x != "")) for k, o in value.items()
                if isinstance(o, list) and any(x != "" for x in o)}
    if isinstance(value, list):
        return [_concrete(x) for x in value]
    return value


def _pick(args: dict, params: dict) -> dict:
    """One concrete call: per argument the first accepted value that fits, left out when BFCL allows that."""
    props, out = params.get("properties", {}), {}
    for name, options in args.items():
        values = [_concrete(o) for o in options if o != ""]
        if not values:
            continue
        fits = [v for v in values if name in props and
                not argument_issues({name: v}, {"type": "object", "properties": {name: props[name]}})]
        if fits or "" not in options:
            out[name] = (fits or values)[0]
    return out


def test_bfcl_ground_truth_validates_against_its_function_docs():
    bfcl_eval = pytest.importorskip("bfcl_eval")
    root = Path(next(iter(bfcl_eval.__path__))) / "data"
    failures, total = {}, 0
    for category in BFCL:
        docs = {}
        for line in open(root / f"BFCL_v4_{category}.json", encoding="utf-8"):
            row = json.loads(line)
            docs[row["id"]] = {f["name"]: f for f in row["function"]}
        for line in open(root / "possible_answer" / f"BFCL_v4_{category}.json", encoding="utf-8"):
            answer = json.loads(line)
            for expected in answer["ground_truth"]:
                (name, args), = expected.items()
                total += 1
                params = parameters_schema(docs[answer["id"]][name].get("parameters"), name)
                Function(name=name, description="", parameters=params)  # the converted docs are valid JSON Schema
                issues = argument_issues(_pick(args, params), params)
                if issues:
                    failures[answer["id"]] = str(issues[0])
    assert total > 3000
    assert failures == BFCL_CONTRADICTIONS
