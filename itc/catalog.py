"""The ITC API catalog (seed 003, Appendix A.1), its importers, and the old function-level split.

A catalog *tool* is one provider API (ITC's ``tool_name``; today's pool ``api``) holding an
``api_list`` of endpoints. Tools come from ITC-format JSON or from the OpenAPI function pool
(``builders.sources.openapi_directory``). Category comes from APIs.guru's categories, country from
the provider's domain ("Global" when it says nothing), and both can be overridden per tool by a
preset mapping. Tools that cannot be used (no endpoints, endpoints without a name or URL,
parameters without a name, a failed live probe) are filtered out with a reason.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from typing import Any, Iterable

from builders.schema import SchemaError
from itc.languages import country_name, language_for

META = ("provider", "service", "category", "country")
DEFAULT_CATEGORY = "Other"
_PARAM_KEYS = ("name", "type", "description", "default")


def item_rng(seed: int, stage: str, item_id: str) -> random.Random:
    """Randomness for one item of one stage: independent of order, sharding and the other items."""
    digest = hashlib.sha256(f"{seed}\x1f{stage}\x1f{item_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def api_key(tool_id: str, name: str) -> str:
    """The id of one endpoint of one tool, unique across the catalog."""
    return f"{tool_id}::{name}"


# --- ITC-format JSON ---------------------------------------------------------------------------

def _parameter(raw: Any, item: str) -> dict:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"].strip():
        raise SchemaError(item, f"parameter {raw!r} has no name", 'give every parameter a "name"')
    param = {"name": raw["name"].strip(), "type": str(raw.get("type") or "string"),
             "description": str(raw.get("description") or ""), "default": raw.get("default", "")}
    if param["default"] is None:
        param["default"] = ""
    return param


def _endpoint(raw: Any, item: str) -> dict:
    if not isinstance(raw, dict):
        raise SchemaError(item, f"api_list entry is a {type(raw).__name__}", "make each api_list entry an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SchemaError(item, "an api_list entry has no name", 'give every endpoint a "name"')
    where = f"{item} api {name!r}"
    url = raw.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise SchemaError(where, f"url {url!r} is not an http(s) URL", "give the endpoint's full URL")
    out = {"name": name.strip(), "url": url, "description": str(raw.get("description") or ""),
           "method": str(raw.get("method") or "GET").upper(),
           "required_parameters": [_parameter(p, where) for p in raw.get("required_parameters") or []],
           "optional_parameters": [_parameter(p, where) for p in raw.get("optional_parameters") or []],
           "statuscode": str(raw.get("statuscode") or "200")}
    names = [p["name"] for p in out["required_parameters"] + out["optional_parameters"]]
    if len(names) != len(set(names)):
        raise SchemaError(where, f"parameter names repeat: {sorted(names)}", "give each parameter one entry")
    for extra in ("category", "schema", "path", "probe"):
        if extra in raw:
            out[extra] = raw[extra]
    return out


def tool_from_itc(raw: Any, item: str = "tool") -> dict:
    """One ITC-format tool, checked and normalised; raises ``SchemaError`` naming what to fix."""
    if not isinstance(raw, dict):
        raise SchemaError(item, f"expected an ITC tool object, got {type(raw).__name__}",
                          "pass objects with tool_name, tool_description, home_url, country, api_list")
    name = raw.get("tool_name")
    if not isinstance(name, str) or not name.strip():
        raise SchemaError(item, "has no tool_name", 'give the tool a "tool_name"')
    item = f"tool {name!r}"
    endpoints = raw.get("api_list")
    if not isinstance(endpoints, list) or not endpoints:
        raise SchemaError(item, "api_list is empty or missing", "list at least one endpoint")
    api_list = [_endpoint(e, item) for e in endpoints]
    names = [a["name"] for a in api_list]
    if len(names) != len(set(names)):
        raise SchemaError(item, f"endpoint names repeat: {sorted(names)}", "name each endpoint once")
    categories = {a.get("category") for a in api_list if a.get("category")}
    category = raw.get("category") or (sorted(categories)[0] if categories else DEFAULT_CATEGORY)
    return {"tool_id": raw.get("tool_id") or name.strip(), "tool_name": name.strip(),
            "tool_description": str(raw.get("tool_description") or ""), "home_url": str(raw.get("home_url") or ""),
            "country": country_name(raw.get("country")), "category": category, "api_list": api_list}


def tools_from_itc_json(data: Any, rejects=None, step: str = "catalog_import") -> list[dict]:
    """Tools from parsed ITC JSON (one tool or a list); a broken tool is a reject when ``rejects`` is given."""
    items = data if isinstance(data, list) else [data]
    tools = []
    for i, raw in enumerate(items):
        try:
            tools.append(tool_from_itc(raw, f"tool #{i}"))
        except SchemaError as exc:
            if rejects is None:
                raise
            rejects.add(step, exc.item, f"{exc.problem}; {exc.fix}", raw)
    return sorted(tools, key=lambda t: t["tool_id"])


# --- OpenAPI function pool ---------------------------------------------------------------------

def _json_column(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _type_text(schema: dict) -> str:
    t = schema.get("type")
    if isinstance(t, list):
        return "|".join(str(x) for x in t)
    return str(t or ("object" if "properties" in schema else "string"))


def _parameters_from_schema(parameters: dict) -> tuple[list[dict], list[dict]]:
    props = parameters.get("properties") or {}
    required = set(parameters.get("required") or [])
    req, opt = [], []
    for name, schema in props.items():
        schema = schema if isinstance(schema, dict) else {}
        param = {"name": name, "type": _type_text(schema), "description": str(schema.get("description") or ""),
                 "default": schema.get("default", "")}
        (req if name in required else opt).append(param)
    return req, opt


def tools_from_pool(pool: Iterable[dict]) -> list[dict]:
    """ITC tools from function-pool rows: one tool per ``api``, one endpoint per function.

    The pool carries the provider's domain and the operation path but not the server URL, so the
    endpoint URL is ``https://<provider><path>`` and ``home_url`` is ``https://<provider>``; a
    probe run checks them. Each endpoint also keeps ``parameters`` (the JSON schema used to check
    generated calls) and ``schema`` (the 2xx output schema, when the spec has one).
    """
    by_api: dict[str, list[dict]] = defaultdict(list)
    for fn in pool:
        by_api[fn["api"]].append(fn)
    tools = []
    for api in sorted(by_api):
        fns = sorted(by_api[api], key=lambda f: f["name"])
        first = fns[0]
        provider = first.get("provider") or api.split(":")[0]
        endpoints = []
        for fn in fns:
            params = _json_column(fn.get("parameters")) or {"type": "object", "properties": {}}
            req, opt = _parameters_from_schema(params)
            endpoints.append({"name": fn["name"], "url": f"https://{provider}{fn.get('path') or '/'}",
                              "description": fn.get("description") or "", "method": (fn.get("method") or "get").upper(),
                              "required_parameters": req, "optional_parameters": opt, "statuscode": "200",
                              "category": fn.get("category") or DEFAULT_CATEGORY, "path": fn.get("path"),
                              "parameters": params, "schema": _json_column(fn.get("outputs")) or {}})
        service = first.get("service")
        tools.append({"tool_id": api, "tool_name": f"{provider} {service}" if service else provider,
                      "tool_description": first.get("description") or "", "home_url": f"https://{provider}",
                      "country": country_name(first.get("country")), "category": first.get("category") or DEFAULT_CATEGORY,
                      "api_list": endpoints})
    return tools


# --- overrides, filtering, rendering -----------------------------------------------------------

_OVERRIDABLE = ("category", "country", "tool_name", "tool_description", "home_url")


def apply_overrides(tools: list[dict], overrides: dict[str, dict] | None, where: str = "overrides") -> list[dict]:
    """Per-tool corrections from a preset: ``{tool_id: {category: ..., country: ...}}``."""
    overrides = overrides or {}
    known = {t["tool_id"] for t in tools}
    for tool_id, fields in overrides.items():
        if tool_id not in known:
            raise SchemaError(f"{where}.{tool_id}", "names no tool of the catalog",
                              f"use a tool_id of the catalog, e.g. {sorted(known)[:3]}")
        bad = sorted(set(fields) - set(_OVERRIDABLE))
        if bad:
            raise SchemaError(f"{where}.{tool_id}", f"cannot override {bad[0]!r}", f"override only {', '.join(_OVERRIDABLE)}")
    out = []
    for tool in tools:
        fields = dict(overrides.get(tool["tool_id"], {}))
        if "country" in fields:
            fields["country"] = country_name(fields["country"])
        out.append({**tool, **fields})
    return out


def tool_problems(tool: dict) -> list[str]:
    """Why a tool cannot be used in tasks; empty when it can."""
    problems = []
    if not tool.get("api_list"):
        problems.append("no endpoints")
    for api in tool.get("api_list", []):
        probe = api.get("probe")
        if probe and not probe.get("ok"):
            problems.append(f"endpoint {api['name']!r} failed its probe ({probe.get('reason')})")
        if not api.get("description") and not tool.get("tool_description"):
            problems.append(f"endpoint {api['name']!r} has no description to write a query from")
    return problems


def filter_broken(tools: list[dict], rejects=None, step: str = "catalog_filter") -> list[dict]:
    """Tools with no problem; the others are rejects with every reason found."""
    kept = []
    for tool in tools:
        problems = tool_problems(tool)
        if problems:
            if rejects is not None:
                rejects.add(step, tool["tool_id"], "; ".join(problems) + "; fix the spec or drop the tool", tool)
        else:
            kept.append(tool)
    return kept


def endpoint_parameters(api: dict) -> dict:
    """The JSON schema of an endpoint's arguments (kept from the pool, else built from the ITC lists)."""
    if isinstance(api.get("parameters"), dict):
        return api["parameters"]
    props, required = {}, []
    for group, is_required in (("required_parameters", True), ("optional_parameters", False)):
        for p in api.get(group, []):
            t = p.get("type", "string").lower()
            json_type = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "list": "array",
                         "dict": "object", "enum": "string"}.get(t, t)
            prop = {"description": p.get("description", "")}
            if json_type in ("string", "integer", "number", "boolean", "array", "object", "null"):
                prop["type"] = json_type
            props[p["name"]] = prop
            if is_required:
                required.append(p["name"])
    schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


def public_spec(tool: dict, names: Iterable[str] | None = None) -> dict:
    """The tool as Appendix A.1 shows it (the ``apis`` column and prompts), limited to ``names``."""
    wanted = set(names) if names is not None else None
    keys = ("name", "url", "description", "method", "required_parameters", "optional_parameters", "statuscode")
    return {"tool_name": tool["tool_name"], "tool_description": tool["tool_description"], "home_url": tool["home_url"],
            "country": tool["country"], "category": tool["category"],
            "api_list": [{k: a[k] for k in keys} for a in tool["api_list"] if wanted is None or a["name"] in wanted]}


def openai_tools(tools: Iterable[tuple[dict, dict]]) -> list[dict]:
    """OpenAI tool schemas for (tool, endpoint) pairs: the ``tools`` column of a task."""
    return [{"type": "function", "function": {"name": api["name"], "description": api["description"] or tool["tool_description"],
                                              "parameters": endpoint_parameters(api)}} for tool, api in tools]


def catalog_language(tool: dict) -> str:
    return language_for(tool["country"])


# --- the function-level split that release.py still uses -------------------------------------

def split_apis(function_counts: dict[str, int], *, seed: int, test_fraction: float) -> dict[str, str]:
    """Assign whole APIs to test, in a seeded order, until they hold ``test_fraction`` of the functions."""
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction {test_fraction} must be in [0, 1); the paper's split is 0.1")
    apis = sorted(function_counts)
    random.Random(seed).shuffle(apis)
    target = test_fraction * sum(function_counts.values())
    split, in_test = {}, 0
    for api in apis:
        take = in_test < target and in_test + function_counts[api] <= target * 1.5 + 1
        split[api] = "test" if take else "train"
        in_test += function_counts[api] if take else 0
    return split


def api_catalog(pool: list[dict], *, seed: int, test_fraction: float) -> list[dict]:
    """One row per API of the pool with its side of a function-level split (the ``apis`` config today)."""
    by_api: dict[str, list[dict]] = defaultdict(list)
    for fn in pool:
        by_api[fn["api"]].append(fn)
    split = split_apis({a: len(fns) for a, fns in by_api.items()}, seed=seed, test_fraction=test_fraction)
    rows = []
    for api in sorted(by_api):
        fns = by_api[api]
        first = fns[0]
        rows.append({"api": api, **{k: first.get(k) for k in META},
                     "split": split[api], "num_functions": len(fns),
                     "functions": json.dumps(sorted(f["name"] for f in fns), ensure_ascii=False)})
    return rows
