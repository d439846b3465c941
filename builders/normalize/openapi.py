"""OpenAPI 3.x operations -> standardised :class:`~builders.schema.Function` records.

Real APIs are the function pool of both pipelines (ToolMind's graph, ITC's catalog), so every
operation becomes one tool with input *and* output schemas. The choices, in one place:

* **Inputs** are the operation's path, query and header parameters (path-item parameters merged,
  the operation's override) plus the request body. Cookie parameters and credentials (header or
  query API keys named by the spec's ``securitySchemes``, ``Authorization`` and AWS SigV4 headers)
  are dropped: the runtime supplies them, not the model.
* **Request body**: the JSON media type is used (``application/json``, ``application/*+json``),
  else form data, else any other type as one string argument. An object body with properties is
  *flattened*: each property becomes a top-level argument, because that is how callers (and
  ToolMind's parameter matching) see them. A body property whose name a parameter already holds
  is renamed ``body_<name>``. Any other body (array, scalar, free-form map, ``oneOf``) is one
  argument named ``body``. Flattened body properties are required
  only when the body is (``requestBody.required``). :attr:`OpenAPIOperation.locations` maps every
  argument back to where it goes, so an executor can rebuild the HTTP request.
* **Outputs** are the schema of the first success response that has one: 200, 201, the other
  2xx codes in order, ``2XX``, then ``default`` (only when no 2xx is declared); JSON media types
  first, then any media type with a schema (e.g. AWS's XML responses). None when there is none.
* **$refs**: internal JSON pointers (``#/components/...``, ``#/paths/...``) are inlined. A ref that
  is already being expanded (a cycle) or nested deeper than ``max_ref_depth``, or a node past the
  schema's size budget (see :class:`Resolver`), is cut to a marker ``{"type": ..., "x-cut":
  "cycle"|"depth"|"size", "x-ref": <ref>}``. An external or dangling ref is an
  :class:`OpenAPIError` for that operation.
* **Schemas are kept small**: only validation keywords survive (no examples, xml, titles, x-*),
  ``nullable`` becomes a ``"null"`` type, object ``allOf`` s are merged, long enums are summarised
  in the description, ``readOnly`` properties leave inputs and ``writeOnly`` ones leave outputs.
* **Names** come from ``operationId``, else ``<method>_<path>``, sanitised to ``[A-Za-z0-9_.-]``
  and at most 64 characters; :func:`unique_names` makes them unique within a pool.
* **Country** is a proxy from the provider's top-level domain (:func:`country_from_provider`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Iterator
from urllib.parse import unquote

from builders.schema import JSON_TYPES, Function, SchemaError, dumps

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
MAX_NAME_LENGTH = 64  # the OpenAI tools API limit


class OpenAPIError(SchemaError):
    """A spec or one operation cannot be normalised; ``problem`` is the short reject reason."""


@dataclass
class OpenAPIConfig:
    """Knobs for how much of a spec survives; defaults keep schemas small enough for a prompt."""

    max_ref_depth: int = 3  # nested $ref expansions before a schema is cut
    max_nodes: int = 150  # schema nodes per inputs / outputs schema; nested ones past it are cut
    max_depth: int = 12  # inline nesting levels (counted from the last $ref) before a schema is cut
    max_properties: int = 64  # properties kept per object (required ones first, then spec order)
    max_description: int = 1024  # characters of a function description
    max_param_description: int = 200  # characters of a parameter / property description
    max_enum: int = 50  # longer enums are summarised in the description instead
    max_alternatives: int = 8  # oneOf / anyOf branches kept
    drop_credentials: bool = True


@dataclass(frozen=True)
class ApiInfo:
    """Metadata shared by every operation of one spec."""

    api: str  # provider[:service]
    provider: str
    service: str | None
    title: str
    categories: tuple[str, ...]
    country: str | None
    spec_version: str
    openapi_version: str

    @property
    def category(self) -> str | None:
        return self.categories[0] if self.categories else None


@dataclass(frozen=True)
class OpenAPIOperation:
    function: Function
    info: ApiInfo
    method: str
    path: str
    # argument name -> "path:<name>" | "query:<name>" | "header:<name>" | "body:<property>" | "body"
    locations: dict = field(default_factory=dict)

    def to_row(self, source: str) -> dict:
        fn, info = self.function, self.info
        return {
            "name": fn.name, "description": fn.description, "parameters": dumps(fn.parameters),
            "outputs": dumps(fn.outputs) if fn.outputs is not None else None,
            "api": info.api, "provider": info.provider, "service": info.service, "category": info.category,
            "country": info.country, "method": self.method, "path": self.path, "spec_version": info.spec_version,
            "openapi_version": info.openapi_version, "source": source,
        }


# --- country proxy -----------------------------------------------------------------------------

# two-letter TLDs sold as generic names (".io", ".ai", ".fm" ...): they say nothing about a country
GENERIC_CCTLDS = frozenset(
    "ac ai cc co fm gg gl im io la ly md me ms nu sh so tk to tv vc ws".split())
# ISO 3166-1 differs from the TLD; US-only generic TLDs
TLD_COUNTRY = {"uk": "gb", "gov": "us", "mil": "us"}


def country_from_provider(provider: str) -> str | None:
    """The provider's country code by TLD: ``foo.de`` -> ``de``; generic TLDs (``.com``, ``.io``) -> None.

    APIs.guru records no country, so the top-level domain is the proxy: a two-letter ccTLD gives its
    ISO 3166-1 code (``uk`` -> ``gb``; ``eu`` is kept as the region code), ``.gov``/``.mil`` give
    ``us``, and generic TLDs and ccTLDs marketed as generic names give None (global).
    """
    tld = provider.lower().rstrip(".").rsplit(".", 1)[-1] if "." in provider else ""
    if tld in TLD_COUNTRY:
        return TLD_COUNTRY[tld]
    if len(tld) == 2 and tld.isalpha() and tld not in GENERIC_CCTLDS:
        return tld
    return None


# --- text --------------------------------------------------------------------------------------

_BLOCK_TAG = re.compile(r"</?(?:p|br|pre|ul|ol|li|div|h[1-6]|table|tr|td|th|tbody|thead|blockquote|dl|dt|dd|hr|img|"
                        r"note|para)\b[^>]*>", re.I)
_INLINE_TAG = re.compile(r"</?(?:b|i|u|a|em|strong|code|span|sup|sub)\b[^>]*>", re.I)
_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"[.!?](?=\s)")


def clean_text(text: Any, limit: int) -> str:
    """Collapse whitespace, drop HTML tags and cut at a sentence (else word) boundary within ``limit``."""
    return _clean_text(text, limit) if isinstance(text, str) and text else ""


@lru_cache(maxsize=1 << 16)  # API descriptions repeat a lot
def _clean_text(text: str, limit: int) -> str:
    text = _SPACE.sub(" ", html.unescape(_INLINE_TAG.sub("", _BLOCK_TAG.sub(" ", text)))).strip()
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= limit // 2:
        return head[: ends[-1]]
    cut = head.rsplit(" ", 1)[0] if " " in head[limit // 2:] else head
    return cut.rstrip(" ,;:") + "…"


def describe_operation(op: dict, limit: int) -> str:
    summary = clean_text(op.get("summary"), limit)
    description = clean_text(op.get("description"), limit)
    if not summary:
        return description
    if not description or description.lower().startswith(summary.rstrip(".").lower()):
        return description or summary
    joiner = " " if summary.endswith((".", "!", "?", ":")) else ". "
    return clean_text(summary + joiner + description, limit)


# --- names -------------------------------------------------------------------------------------

_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")


def sanitize_name(text: str) -> str:
    name = _BAD_NAME_CHARS.sub("_", text).strip("_.-")
    return re.sub(r"_{2,}", "_", name)[:MAX_NAME_LENGTH].rstrip("_.-")


def operation_name(op: dict, method: str, path: str) -> str:
    name = sanitize_name(op["operationId"]) if isinstance(op.get("operationId"), str) else ""
    return name or sanitize_name(f"{method}_{path.replace('{', '').replace('}', '')}") or method


def unique_names(names: Iterable[str]) -> list[str]:
    """Suffix repeated names with ``_2``, ``_3`` ... in the given order (callers pass a sorted pool)."""
    taken: set[str] = set()
    out = []
    for base in names:
        name, n = base, 1
        while name in taken:
            n += 1
            suffix = f"_{n}"
            name = base[: MAX_NAME_LENGTH - len(suffix)] + suffix
        taken.add(name)
        out.append(name)
    return out


# --- $ref resolution and schema cleaning ---------------------------------------------------------

_KEEP_SCALARS = ("format", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
                 "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties")
_MAX_PATTERN = 120
_NOISY_MAX_LENGTH = 1000  # e.g. Stripe puts maxLength 5000 on every string
_INF = float("inf")


class Resolver:
    """Inlines one spec's internal $refs into small JSON schemas, memoising what can be reused.

    Size: each schema has a node budget that halves with every level of object nesting (level 1,
    the top-level properties, may use ``max_nodes``; level 2 half of it ...), so breadth wins over
    depth and one deep property cannot starve its siblings. A node past its level's budget becomes a
    ``"x-cut": "size"`` marker.

    Speed: the cleaned expansion of a ref is cached per (ref, mode, stack depth) when it was not cut
    for size and did not cycle back to an outer ref; it is reused only where a fresh expansion would
    give the same result (it fits the budget and meets no ref of the current stack). This makes the
    big specs (Microsoft Graph: 20k operations over one components tree) cheap.
    """

    def __init__(self, spec: dict, config: OpenAPIConfig | None = None):
        self.spec = spec
        self.config = config or OpenAPIConfig()
        self._targets: dict[str, Any] = {}
        self._memo: dict[tuple, tuple[dict, int, frozenset, int]] = {}
        self._roots: dict[tuple, tuple[Any, dict]] = {}
        self._walk = _Walk()
        self.cuts: dict[str, int] = {"cycle": 0, "depth": 0, "size": 0}  # markers made (memo hits not counted)

    # -- JSON pointers --
    def lookup(self, ref: str, item: str) -> Any:
        if ref in self._targets:
            return self._targets[ref]
        if not ref.startswith("#"):
            raise OpenAPIError(item, f"external $ref {ref[:120]!r}",
                               "bundle the spec first (e.g. `swagger-cli bundle`) so every $ref is internal")
        node: Any = self.spec
        for raw in ref[1:].split("/")[1:] if ref not in ("#", "#/") else []:
            token = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise OpenAPIError(item, f"$ref {ref[:120]!r} points to nothing",
                                   "fix the reference or add the missing component to the spec")
        self._targets[ref] = node
        return node

    def deref(self, node: Any, item: str) -> Any:
        """Follow a chain of refs to a non-ref object (parameters, bodies, responses, path items)."""
        seen = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen:
                raise OpenAPIError(item, f"$ref {ref!r} refers to itself", "point the reference at a real object")
            seen.add(ref)
            node = self.lookup(ref, item)
        return node

    # -- schemas --
    def schema(self, node: Any, item: str, mode: str = "in") -> dict:
        """A small JSON schema for ``node``; ``mode`` 'in' drops readOnly properties, 'out' writeOnly.

        Whole results are cached by the node's identity: specs reuse one response or body schema
        for many operations, and a walk from the top always starts from the same state.
        """
        key = (id(node), mode)
        hit = self._roots.get(key)
        if hit is not None and hit[0] is node:  # holding the node keeps its id from being reused
            return hit[1]
        self._walk = _Walk()
        out = self._clean(node, item, mode, (), 0, 0)
        self._roots[key] = (node, out)
        return out

    def _budget(self, level: int) -> float:
        return _INF if level == 0 else self.config.max_nodes >> (level - 1)

    def _marker(self, node: Any, reason: str, ref: str | None = None) -> dict:
        self.cuts[reason] += 1
        out: dict = {}
        if isinstance(node, dict):
            t = _types(node) or ("object" if "properties" in node or "allOf" in node else None)
            if t is not None:
                out["type"] = t
            if ref and node.get("description"):
                out["description"] = clean_text(node["description"], self.config.max_param_description)
        out["x-cut"] = reason
        if ref:
            out["x-ref"] = ref
        return out

    def _clean(self, node: Any, item: str, mode: str, stack: tuple, depth: int, level: int) -> dict:
        cfg, walk = self.config, self._walk
        if not isinstance(node, dict):
            return {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            out = self._expand(ref, item, mode, stack, level)
            extra = node.get("description")
            if extra:
                out = {**out, "description": clean_text(extra, cfg.max_param_description)}
            return out
        walk.max_level = max(walk.max_level, level)
        if depth > cfg.max_depth:
            return self._marker(node, "depth")
        if walk.nodes >= self._budget(level):
            walk.size_cut = True
            return self._marker(node, "size")
        walk.nodes += 1
        out: dict = {}
        t = _types(node, item)
        if t is None and isinstance(node.get("properties"), dict):
            t = "object"
        elif t is None and isinstance(node.get("items"), dict):
            t = "array"
        if t is not None:
            out["type"] = t
        desc = clean_text(node.get("description"), cfg.max_param_description)
        enum = node.get("enum")
        if isinstance(enum, list) and enum:
            if len(enum) <= cfg.max_enum:
                out["enum"] = enum
            else:
                shown = ", ".join(str(v) for v in enum[:5])
                desc = clean_text(f"{desc} One of {len(enum)} values, e.g. {shown}.".strip(), cfg.max_param_description)
        if desc:
            out["description"] = desc
        for key in _KEEP_SCALARS:
            value = node.get(key)
            if value is not None and not isinstance(value, (dict, list)):
                out[key] = value
        if isinstance(out.get("maxLength"), int) and out["maxLength"] >= _NOISY_MAX_LENGTH:
            del out["maxLength"]
        pattern = node.get("pattern")
        if isinstance(pattern, str) and len(pattern) <= _MAX_PATTERN:
            out["pattern"] = pattern
        default = node.get("default")
        if default is not None and not isinstance(default, (dict, list)):
            out["default"] = default
        items = node.get("items")
        if isinstance(items, dict):
            out["items"] = self._clean(items, item, mode, stack, depth + 1, level)
        props = node.get("properties")
        if isinstance(props, dict) and props:
            self._properties(out, props, node.get("required"), item, mode, stack, depth, level + 1)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra and "properties" not in out:
            out["additionalProperties"] = self._clean(extra, item, mode, stack, depth + 1, level + 1)
        for key in ("oneOf", "anyOf"):
            alts = node.get(key)
            if isinstance(alts, list) and alts:
                cleaned = [self._clean(a, item, mode, stack, depth + 1, level) for a in alts[: cfg.max_alternatives]]
                if len(cleaned) == 1:
                    out = _merge([out, cleaned[0]])
                else:
                    out[key] = cleaned
        all_of = node.get("allOf")
        if isinstance(all_of, list) and all_of:
            parts = [self._clean(p, item, mode, stack, depth + 1, level) for p in all_of]
            out = _merge(parts + [out]) if _mergeable(parts + [out]) else {**out, "allOf": parts}
        return out

    def _properties(self, out: dict, props: dict, required: Any, item: str, mode: str, stack: tuple,
                    depth: int, level: int) -> None:
        self._walk.max_level = max(self._walk.max_level, level)  # the budget check below depends on it
        skip = "readOnly" if mode == "in" else "writeOnly"
        required = [r for r in required if isinstance(r, str) and r in props] if isinstance(required, list) else []
        names = list(dict.fromkeys(required + list(props)))
        if len(names) > self.config.max_properties:
            names = set(names[: self.config.max_properties])
        kept = {}
        for name, sub in props.items():
            if name not in names or not isinstance(sub, dict):
                continue
            if self._walk.nodes >= self._budget(level):  # the rest would only be markers: say so once
                self._walk.size_cut = True
                self.cuts["size"] += 1
                out["x-cut"] = "size"
                break
            target = sub
            if isinstance(sub.get("$ref"), str):
                target = self.lookup(sub["$ref"], item)
            if isinstance(target, dict) and target.get(skip) is True or sub.get(skip) is True:
                continue
            kept[name] = self._clean(sub, item, mode, stack, depth + 1, level)
        out["type"] = out.get("type") or "object"
        if kept or "x-cut" not in out:
            out["properties"] = kept
        req = [r for r in dict.fromkeys(required) if r in kept]
        if req:
            out["required"] = req

    def _expand(self, ref: str, item: str, mode: str, stack: tuple, level: int) -> dict:
        cfg, walk = self.config, self._walk
        walk.reached.add(ref)
        walk.max_level = max(walk.max_level, level)
        if ref in stack:
            walk.cycle_floor = min(walk.cycle_floor, stack.index(ref))
            return self._marker(self.lookup(ref, item), "cycle", ref)
        if len(stack) >= cfg.max_ref_depth:
            return self._marker(self.lookup(ref, item), "depth", ref)
        target = self.lookup(ref, item)
        if isinstance(target, dict) and isinstance(target.get("properties"), dict):
            walk.max_level = max(walk.max_level, level + 1)  # the check below depends on the next level
            full = walk.nodes >= self._budget(level + 1)  # an object whose properties would all be cut
        else:
            full = walk.nodes >= self._budget(level)
        if full:
            walk.size_cut = True
            return self._marker(target, "size", ref)
        key, exact = (ref, mode, len(stack)), (ref, mode, len(stack), level, walk.nodes)
        for hit, same_start in ((self._memo.get(key), False), (self._memo.get(exact), True)):
            if hit is None:
                continue
            out, nodes, reached, rel_level = hit
            fits = same_start or walk.nodes + nodes < self._budget(level + rel_level)
            if fits and reached.isdisjoint(stack):
                walk.nodes += nodes
                walk.reached |= reached
                walk.max_level = max(walk.max_level, level + rel_level)
                return out
        outer = self._walk
        self._walk = walk = _Walk(nodes=outer.nodes, max_level=level, reached={ref})
        # inline depth restarts at each ref, so an expansion depends only on (ref, mode, stack)
        out = self._clean(target, item, mode, stack + (ref,), 0, level)
        if walk.cycle_floor >= len(stack):
            # uncut: valid wherever it fits the budget; cut for size: valid from the same start only
            self._memo[exact if walk.size_cut else key] = (
                out, walk.nodes - outer.nodes, frozenset(walk.reached), walk.max_level - level)
        outer.nodes = walk.nodes
        outer.cycle_floor = min(outer.cycle_floor, walk.cycle_floor)
        outer.size_cut = outer.size_cut or walk.size_cut
        outer.reached |= walk.reached
        outer.max_level = max(outer.max_level, walk.max_level)
        self._walk = outer
        return out


@dataclass
class _Walk:
    """State of one schema walk (or of one ref expansion inside it)."""

    nodes: int = 0
    max_level: int = 0
    cycle_floor: float = _INF
    size_cut: bool = False
    reached: set = field(default_factory=set)


def _types(node: dict, item: str | None = None) -> str | list | None:
    """JSON types of an OpenAPI schema: Swagger's ``file`` is a string, ``nullable`` adds ``null``.

    With ``item``, a type that is no JSON type fails that operation (a reject with its reason)
    rather than silently becoming "any value".
    """
    raw = node.get("type")
    types = raw if isinstance(raw, list) else [raw] if raw is not None else []
    found = []
    for t in types:
        t = "string" if t == "file" else t
        if t not in JSON_TYPES and item is not None:
            raise OpenAPIError(item, f"schema type {repr(t)[:80]} is not a JSON type", f"use one of {', '.join(JSON_TYPES)}")
        if t in JSON_TYPES and t not in found:
            found.append(t)
    if node.get("nullable") is True and found and "null" not in found:
        found.append("null")
    return found[0] if len(found) == 1 else (found or None)


def _mergeable(parts: list[dict]) -> bool:
    typed = [p for p in parts if p.get("type") is not None]
    return len(parts) <= 2 and len(typed) <= 1 or all(p.get("type") in (None, "object") for p in parts)


def _merge(parts: list[dict]) -> dict:
    """Fold ``allOf`` parts into one schema: later parts (the schema's own keywords last) win on
    scalars such as the description; properties and required lists add up."""
    out: dict = {}
    props: dict = {}
    required: list = []
    for part in parts:
        for key, value in part.items():
            if key == "properties":
                props.update(value)
            elif key == "required":
                required.extend(value)
            elif key in ("x-cut", "x-ref") and len(parts) > 1:
                continue
            elif value is not None:
                out[key] = value
    if props:
        out["type"] = out.get("type") or "object"
        out["properties"] = props
        req = list(dict.fromkeys(r for r in required if r in props))
        if req:
            out["required"] = req
    return out


# --- operations ----------------------------------------------------------------------------------

AUTH_HEADERS = frozenset(h.lower() for h in (
    "Authorization", "Proxy-Authorization", "X-Amz-Date", "X-Amz-Algorithm", "X-Amz-Content-Sha256",
    "X-Amz-Credential", "X-Amz-Security-Token", "X-Amz-Signature", "X-Amz-SignedHeaders"))
_JSON_MEDIA = re.compile(r"^application/(?:[\w.\-]+\+)?json\b|^\*/\*$|^application/\*$|json", re.I)
_FORM_MEDIA = ("application/x-www-form-urlencoded", "multipart/form-data")
_STRING: dict = {"type": "string"}  # the schema of a parameter or body that declares none (never mutated)


def spec_info(spec: Any, item: str, provider: str | None = None, service: str | None = None) -> ApiInfo:
    """Check that ``spec`` is an OpenAPI 3.x document with paths and read its metadata.

    ``provider``/``service`` are fallbacks (e.g. from the file path) for specs without APIs.guru's
    ``info.x-providerName`` / ``x-serviceName``.
    """
    if not isinstance(spec, dict):
        raise OpenAPIError(item, f"top level is a JSON {type(spec).__name__}, not an object",
                           "pass an OpenAPI 3.x document")
    version = spec.get("openapi")
    if not isinstance(version, str) or not version.startswith("3."):
        found = f"swagger {spec['swagger']}" if "swagger" in spec else f"openapi {version!r}"
        raise OpenAPIError(item, f"not OpenAPI 3.x ({found})",
                           "convert it to OpenAPI 3 first (e.g. with swagger2openapi)")
    paths = spec.get("paths")
    if not isinstance(paths, dict) or not any(not str(k).startswith("x-") for k in paths):
        raise OpenAPIError(item, "has no paths", "use a spec that declares at least one operation under 'paths'")
    info = spec.get("info") if isinstance(spec.get("info"), dict) else {}
    provider = str(info.get("x-providerName") or provider or "").strip()
    if not provider:
        raise OpenAPIError(item, "names no provider", "set info.x-providerName (e.g. 'example.com')")
    service = info.get("x-serviceName") or service or None
    cats = info.get("x-apisguru-categories")
    cats = tuple(c for c in cats if isinstance(c, str)) if isinstance(cats, list) else ()
    return ApiInfo(api=f"{provider}:{service}" if service else provider, provider=provider,
                   service=str(service) if service else None, title=str(info.get("title") or ""),
                   categories=cats, country=country_from_provider(provider),
                   spec_version=str(info.get("version", "")), openapi_version=version)


def list_operations(spec: dict) -> list[tuple[str, str]]:
    """(path, method) pairs in spec order; ``x-`` extension keys and non-object items are skipped."""
    out = []
    for path, item in spec["paths"].items():
        if str(path).startswith("x-") or not isinstance(item, dict):
            continue
        for method in item:
            if method in HTTP_METHODS and isinstance(item[method], dict):
                out.append((path, method))
    return out


def _credentials(spec: dict) -> set[tuple[str, str]]:
    schemes = (spec.get("components") or {}).get("securitySchemes") or {}
    creds = set()
    for scheme in schemes.values() if isinstance(schemes, dict) else ():
        if isinstance(scheme, dict) and scheme.get("type") == "apiKey" and isinstance(scheme.get("name"), str):
            creds.add((str(scheme.get("in")), scheme["name"].lower()))
    return creds


class OperationNormalizer:
    """Normalises the operations of one spec; build one per spec so $ref expansions are shared."""

    def __init__(self, spec: dict, info: ApiInfo, config: OpenAPIConfig | None = None):
        self.spec, self.info = spec, info
        self.config = config or OpenAPIConfig()
        self.resolver = Resolver(spec, self.config)
        self.credentials = _credentials(spec) if self.config.drop_credentials else set()

    def __call__(self, path: str, method: str) -> OpenAPIOperation:
        item = f"{self.info.api} {method.upper()} {path}"
        path_item = self.resolver.deref(self.spec["paths"][path], item)
        op = path_item[method]
        props: dict = {}
        required: list = []
        locations: dict = {}
        for param in self._parameters(path_item, op, item):
            name, where = param["name"], param["in"]
            key = name if name not in props else _free_name(f"{where}_{name}", props)
            schema = self._param_schema(param, item)
            props[key] = schema
            locations[key] = f"{where}:{name}"
            if param.get("required") is True or where == "path":
                required.append(key)
        self._body(op, item, props, required, locations)
        parameters: dict = {"type": "object", "properties": props}
        if required:
            parameters["required"] = required
        try:
            fn = Function(name=operation_name(op, method, path),
                          description=describe_operation(op, self.config.max_description) or self.info.title,
                          parameters=parameters, outputs=self._outputs(op, item))
        except SchemaError as exc:
            raise OpenAPIError(item, exc.problem, exc.fix) from None
        return OpenAPIOperation(function=fn, info=self.info, method=method, path=path, locations=locations)

    def _parameters(self, path_item: dict, op: dict, item: str) -> list[dict]:
        merged: dict = {}
        for source in (path_item.get("parameters"), op.get("parameters")):
            for raw in source if isinstance(source, list) else ():
                param = self.resolver.deref(raw, item)
                if not isinstance(param, dict) or not isinstance(param.get("name"), str):
                    raise OpenAPIError(item, "a parameter has no name", "give every parameter a 'name' and 'in'")
                where = param.get("in")
                if where not in ("path", "query", "header", "cookie"):
                    raise OpenAPIError(item, f"parameter {param['name']!r} has location {where!r}",
                                       "use in: path, query, header or cookie")
                merged[(where, param["name"])] = param
        return [p for (where, name), p in merged.items() if where != "cookie" and not self._is_credential(where, name)]

    def _is_credential(self, where: str, name: str) -> bool:
        if not self.config.drop_credentials:
            return False
        lname = name.lower()
        return (where, lname) in self.credentials or (where == "header" and lname in AUTH_HEADERS)

    def _param_schema(self, param: dict, item: str) -> dict:
        schema = param.get("schema")
        if schema is None and isinstance(param.get("content"), dict) and param["content"]:
            media = next(iter(param["content"].values()))
            schema = media.get("schema") if isinstance(media, dict) else None
        out = self.resolver.schema(schema or _STRING, item, "in")
        desc = clean_text(param.get("description"), self.config.max_param_description)
        if desc:
            out = {**out, "description": desc}
        return out

    def _body(self, op: dict, item: str, props: dict, required: list, locations: dict) -> None:
        body = self.resolver.deref(op.get("requestBody"), item)
        if not isinstance(body, dict) or not isinstance(body.get("content"), dict):
            return
        media, schema = _pick_media(body["content"], prefer_form=True)
        if media is None:
            return
        body_required = body.get("required") is True
        root = self.resolver.deref(schema, item)
        if isinstance(root, dict) and root.get("properties") == {} and not root.get("additionalProperties"):
            return  # an empty form, as Stripe declares on every GET
        cleaned = self.resolver.schema(schema if schema is not None else _STRING, item, "in")
        if media not in _FORM_MEDIA and not _JSON_MEDIA.search(media) and cleaned.get("type") in (None, "string"):
            cleaned = {"type": "string", "description": clean_text(
                f"Request body ({media}). {cleaned.get('description', '')}", self.config.max_param_description)}
        flat = cleaned.get("properties")
        if cleaned.get("type") == "object" and flat and not any(k in cleaned for k in ("oneOf", "anyOf")):
            body_req = set(cleaned.get("required", ())) if body_required else set()
            for name, sub in flat.items():
                key = name if name not in props else _free_name(f"body_{name}", props)
                props[key] = sub
                locations[key] = f"body:{name}"
                if name in body_req:
                    required.append(key)
            return
        key = _free_name("body", props)
        desc = clean_text(body.get("description"), self.config.max_param_description)
        props[key] = {**cleaned, "description": desc} if desc and not cleaned.get("description") else cleaned
        locations[key] = "body"
        if body_required:
            required.append(key)

    def _outputs(self, op: dict, item: str) -> dict | None:
        responses = op.get("responses")
        if not isinstance(responses, dict):
            return None
        for code in _success_codes(responses):
            response = self.resolver.deref(responses[code], item)
            content = response.get("content") if isinstance(response, dict) else None
            if not isinstance(content, dict):
                continue
            media, schema = _pick_media(content, prefer_form=False)
            if isinstance(schema, dict) and schema:
                out = self.resolver.schema(schema, item, "out")
                if out:
                    return out
        return None


def _free_name(name: str, taken: dict) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def _success_codes(responses: dict) -> list[str]:
    codes = [str(c) for c in responses]
    explicit = sorted(c for c in codes if len(c) == 3 and c.startswith("2") and c.isdigit())
    ordered = [c for c in ("200", "201") if c in explicit] + [c for c in explicit if c not in ("200", "201")]
    ordered += [c for c in codes if c.upper() == "2XX"]
    if not ordered and "default" in codes:
        ordered.append("default")
    return [next(k for k in responses if str(k) == c) for c in ordered]


def _pick_media(content: dict, prefer_form: bool) -> tuple[str | None, Any]:
    """The media type to read: JSON first, then (for bodies) form data, then anything with a schema."""
    medias = [m for m in content if isinstance(content[m], dict)]
    if not medias:
        return None, None
    ranked = sorted(medias, key=lambda m: (0 if _JSON_MEDIA.search(m) else
                                           1 if prefer_form and m.split(";")[0].strip() in _FORM_MEDIA else
                                           2 if content[m].get("schema") else 3))
    media = ranked[0]
    return media.split(";")[0].strip(), content[media].get("schema")


def normalize_spec(spec: dict, info: ApiInfo, config: OpenAPIConfig | None = None,
                   operations: Iterable[tuple[str, str]] | None = None) -> Iterator[OpenAPIOperation | OpenAPIError]:
    """Every operation of a checked spec (see :func:`spec_info`), or the error that stopped it."""
    normalizer = OperationNormalizer(spec, info, config)
    for path, method in operations if operations is not None else list_operations(spec):
        try:
            yield normalizer(path, method)
        except OpenAPIError as exc:
            yield exc
        except RecursionError:
            yield OpenAPIError(f"{info.api} {method.upper()} {path}", "schema nests too deeply to inline",
                               "lower max_depth or simplify the schema")
