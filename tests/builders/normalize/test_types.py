"""Python-style type words -> JSON schema, shared by every normaliser."""

from __future__ import annotations

import pytest

from builders.normalize.types import convert_schema, parameters_schema, python_type
from builders.schema import SchemaError


@pytest.mark.parametrize("spec, schema, optional", [
    ("str", {"type": "string"}, False),
    ("int", {"type": "integer"}, False),
    ("float", {"type": "number"}, False),
    ("bool", {"type": "boolean"}, False),
    ("String", {"type": "string"}, False),
    ("long", {"type": "integer"}, False),
    ("double", {"type": "number"}, False),
    ("HashMap", {"type": "object"}, False),
    ("dict", {"type": "object"}, False),
    ("tuple", {"type": "array"}, False),
    ("any", {}, False),
    ("Any", {}, False),
    ("", {}, False),
    (None, {}, False),
    ("str, optional", {"type": "string"}, True),
    ("int, Optional", {"type": "integer"}, True),
    ("str (optional)", {"type": "string"}, True),
    ("List[str]", {"type": "array", "items": {"type": "string"}}, False),
    ("List[List[int]]", {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}, False),
    ("List[int], optional", {"type": "array", "items": {"type": "integer"}}, True),
    ("Dict[str, Any]", {"type": "object"}, False),
    ("Dict[str, int]", {"type": "object", "additionalProperties": {"type": "integer"}}, False),
    ("List[Dict[str, Any]]", {"type": "array", "items": {"type": "object"}}, False),
    ("Tuple[int, int]", {"type": "array", "items": {"type": "integer"}}, False),
    ("Tuple[float, ...]", {"type": "array", "items": {"type": "number"}}, False),
    ("Tuple[int, str]", {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]}}, False),
    ("Set[str]", {"type": "array", "items": {"type": "string"}}, False),
    ("Union[int, float]", {"type": ["integer", "number"]}, False),
    ("int | str", {"type": ["integer", "string"]}, False),
    ("Optional[str]", {"type": "string"}, True),
    ("Optional[List[int]]", {"type": "array", "items": {"type": "integer"}}, True),
    ("int or None", {"type": "integer"}, True),
    ("Union[str, Any]", {}, False),
    ("Literal['asc', 'desc']", {"enum": ["asc", "desc"]}, False),
    ("typing.List[str]", {"type": "array", "items": {"type": "string"}}, False),
    ("datetime.date", {"type": "string", "format": "date"}, False),
    ("datetime", {"type": "string", "format": "date-time"}, False),
])
def test_python_type(spec, schema, optional):
    assert python_type(spec, "t") == (schema, optional)


@pytest.mark.parametrize("spec, problem", [
    ("Callable", "unknown type 'Callable' in 'Callable'"),
    ("List[Widget]", "unknown type 'Widget' in 'List[Widget]'"),
    ("List[str", "type 'List[str' ends early"),
    ("str, int", "cannot read type 'str, int' (unexpected ',')"),
    ("...", "cannot read type '...' ('...' outside Tuple[...])"),
    (3, "type must be a string, got int 3"),
])
def test_python_type_errors_name_the_item(spec, problem):
    with pytest.raises(SchemaError) as info:
        python_type(spec, "xlam row 4 tools[0] parameter 'cb'")
    assert info.value.item == "xlam row 4 tools[0] parameter 'cb'"
    assert info.value.problem == problem
    assert "List[str]" in info.value.fix


def test_convert_schema_is_recursive_and_keeps_other_keys():
    loose = {
        "type": "dict",
        "properties": {
            "sides": {"type": "tuple", "items": {"type": "float"}, "description": "Lengths.", "default": [1, 2]},
            "opts": {"type": "dict", "properties": {"mode": {"type": "string", "enum": ["a", "b"]},
                                                    "deep": {"type": "boolean", "optional": True}},
                     "required": ["mode", "deep"]},
            "anything": {"type": "any", "description": "Any value."},
        },
        "required": ["sides"],
    }
    assert convert_schema(loose, "f") == {
        "type": "object",
        "properties": {
            "sides": {"type": "array", "items": {"type": "number"}, "description": "Lengths.", "default": [1, 2]},
            "opts": {"type": "object", "properties": {"mode": {"type": "string", "enum": ["a", "b"]},
                                                      "deep": {"type": "boolean"}},
                     "required": ["mode"]},
            "anything": {"description": "Any value."},
        },
        "required": ["sides"],
    }


def test_convert_schema_type_lists_and_field_level_required():
    out = convert_schema({"type": "object", "properties": {"a": {"type": ["str", "null"]},
                                                          "b": {"type": "int", "required": True}}}, "f")
    assert out == {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
                   "required": ["b"]}


def test_parameters_schema():
    assert parameters_schema(None, "p") == {"type": "object", "properties": {}, "required": []}
    assert parameters_schema({"properties": {"x": {"type": "int"}}}, "p") == {
        "type": "object", "properties": {"x": {"type": "integer"}}, "required": []}
    with pytest.raises(SchemaError) as info:
        parameters_schema({"type": "string"}, "glaive row 2 system function 0 (f) parameters")
    assert info.value.item == "glaive row 2 system function 0 (f) parameters"
    assert info.value.problem == "parameters must describe an object, got type 'string'"
    with pytest.raises(SchemaError) as info:
        parameters_schema({"type": "object", "properties": {}, "required": "x"}, "p")
    assert info.value.problem == "required must be a list of field names, got 'x'"
    with pytest.raises(SchemaError) as info:
        parameters_schema({"type": "object", "properties": {"x": "int"}}, "p")
    assert (info.value.item, info.value.problem) == ("p.x", "schema must be an object, got str")
