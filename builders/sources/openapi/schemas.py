"""Schema cleaning: inline refs under a size budget, keep only validation keywords, merge ``allOf``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builders.schema import JSON_TYPES
from builders.sources.openapi.metadata import clean_text
from builders.sources.openapi.model import OpenAPIConfig, OpenAPIError, shown
from builders.sources.openapi.refs import Pointers

_KEEP_SCALARS = ("format", "const", "multipleOf", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems",
                 "minProperties", "maxProperties")
_BOUNDS = (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum"))
_MAX_PATTERN = 120
_NOISY_MAX_LENGTH = 1000  # e.g. Stripe puts maxLength 5000 on every string
_INF = float("inf")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bounds(node: dict, out: dict) -> None:
    """OpenAPI 3.0 writes ``exclusiveMinimum: true`` beside ``minimum: x``; the JSON Schema we publish
    (draft 7) writes ``exclusiveMinimum: x``. Non-numeric bounds are dropped: no validator can use them."""
    for inclusive, exclusive in _BOUNDS:
        bound, flag = node.get(inclusive), node.get(exclusive)
        if _is_number(flag):
            out[exclusive] = flag
        elif flag is True and _is_number(bound):
            out[exclusive] = bound
        elif _is_number(bound):
            out[inclusive] = bound


class Resolver(Pointers):
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
        super().__init__(spec)
        self.config = config or OpenAPIConfig()
        self._memo: dict[tuple, tuple[dict, int, frozenset, int]] = {}
        self._roots: dict[tuple, tuple[Any, dict]] = {}
        self._walk = _Walk()
        self.cuts: dict[str, int] = {"cycle": 0, "depth": 0, "size": 0}  # markers made (memo hits not counted)

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
        _bounds(node, out)
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
            raise OpenAPIError(item, f"schema type {shown(t)} is not a JSON type", f"use one of {', '.join(JSON_TYPES)}")
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

