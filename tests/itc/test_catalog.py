import json

import pytest

from builders.pipeline import Rejects
from builders.schema import SchemaError
from builders.sources.openapi_directory import build_function_pool
from itc.catalog import (api_catalog, apply_overrides, endpoint_parameters, filter_broken, openai_tools,
                         tools_from_itc_json, tools_from_pool)

GOOGLE_TRANSLATE = {  # seed 003, Appendix I, Figure 16
    "tool_name": "Google Translate",
    "tool_description": "A tool for translating text between different languages using Googles translation services.",
    "home_url": "https://rapidapi.com/nickrapidapi/api/google_translate/", "country": "Global",
    "api_list": [{"name": "translate1", "url": "https://google_translate.p.rapidapi.com/",
                  "description": "This API endpoint allows users to perform translations of text from one language to another.",
                  "method": "GET", "category": "Utilities",
                  "required_parameters": [{"name": "text", "type": "string", "description": "The text content to be translated"},
                                          {"name": "target_lang", "type": "string", "description": "The target language code"}],
                  "optional_parameters": [], "statuscode": "200", "schema": {}}]}


def test_itc_json_import_keeps_the_appendix_format():
    [tool] = tools_from_itc_json(json.loads(json.dumps(GOOGLE_TRANSLATE)))
    assert tool["tool_id"] == "Google Translate" and tool["country"] == "Global" and tool["category"] == "Utilities"
    api = tool["api_list"][0]
    assert [p["name"] for p in api["required_parameters"]] == ["text", "target_lang"]
    assert api["required_parameters"][0]["default"] == ""
    assert endpoint_parameters(api)["required"] == ["text", "target_lang"]
    assert openai_tools([(tool, api)])[0]["function"]["name"] == "translate1"


def test_itc_json_import_rejects_broken_tools_with_reasons():
    broken = [{"tool_name": "NoApis", "api_list": []},
              {"tool_name": "BadUrl", "api_list": [{"name": "x", "url": "ftp://nope"}]},
              GOOGLE_TRANSLATE]
    rejects = Rejects()
    tools = tools_from_itc_json(broken, rejects)
    assert [t["tool_name"] for t in tools] == ["Google Translate"]
    reasons = " | ".join(r["reason"] for r in rejects.items)
    assert "api_list is empty" in reasons and "not an http(s) URL" in reasons
    with pytest.raises(SchemaError, match="api_list is empty"):
        tools_from_itc_json(broken[0])


def test_pool_import_derives_country_category_and_parameters(openapi_tarball):
    pool = build_function_pool(openapi_tarball, seed=0, rejects=Rejects())
    tools = {t["tool_id"]: t for t in tools_from_pool(pool)}
    assert set(tools) == {f["api"] for f in pool}
    zoo = next(t for t in tools.values() if t["tool_id"].startswith("zoo.example.de"))
    assert zoo["country"] == "Germany" and zoo["category"] == "open_data"
    shop = next(t for t in tools.values() if t["tool_id"].startswith("shop.example.io"))
    assert shop["country"] == "Global"  # .io says nothing about a country
    fn = next(f for f in pool if f["api"] == shop["tool_id"])
    api = next(a for a in shop["api_list"] if a["name"] == fn["name"])
    schema = json.loads(fn["parameters"])
    assert {p["name"] for p in api["required_parameters"]} == set(schema.get("required", []))
    assert {p["name"] for p in api["required_parameters"] + api["optional_parameters"]} == set(schema["properties"])
    assert api["url"].startswith("https://shop.example.io/") and api["method"] == fn["method"].upper()
    # the old function-level catalog keeps working for release.py
    assert {r["api"] for r in api_catalog(pool, seed=0, test_fraction=0.1)} == set(tools)


def test_overrides_and_broken_filter():
    [tool] = tools_from_itc_json(GOOGLE_TRANSLATE)
    [fixed] = apply_overrides([tool], {"Google Translate": {"country": "jp", "category": "Translation"}})
    assert fixed["country"] == "Japan" and fixed["category"] == "Translation"
    with pytest.raises(SchemaError, match="names no tool"):
        apply_overrides([tool], {"Nope": {"country": "jp"}})
    with pytest.raises(SchemaError, match="cannot override"):
        apply_overrides([tool], {"Google Translate": {"api_list": []}})
    failing = {**tool, "tool_id": "down", "api_list": [{**tool["api_list"][0], "probe": {"ok": False, "reason": "HTTP 500"}}]}
    rejects = Rejects()
    assert filter_broken([tool, failing], rejects) == [tool]
    assert rejects.items[0]["item"] == "down" and "HTTP 500" in rejects.items[0]["reason"]
