"""Internal ``$ref`` resolution: JSON pointers into one spec, and chains of refs to the object."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from builders.sources.openapi.model import OpenAPIError


class Pointers:
    """Resolves one spec's internal JSON pointers (``#/components/...``), each once."""

    def __init__(self, spec: dict):
        self.spec = spec
        self._targets: dict[str, Any] = {}

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
