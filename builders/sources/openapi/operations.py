"""Operations -> functions: names, parameters and bodies as arguments, the success response as outputs."""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

from builders.schema import Function, SchemaError
from builders.sources.openapi.metadata import clean_text, describe_operation
from builders.sources.openapi.model import (
    HTTP_METHODS,
    MAX_NAME_LENGTH,
    ApiInfo,
    OpenAPIConfig,
    OpenAPIError,
    OpenAPIOperation,
    check_utf8,
    shown,
)
from builders.sources.openapi.schemas import Resolver

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


# --- operations ----------------------------------------------------------------------------------

AUTH_HEADERS = frozenset(h.lower() for h in (
    "Authorization", "Proxy-Authorization", "X-Amz-Date", "X-Amz-Algorithm", "X-Amz-Content-Sha256",
    "X-Amz-Credential", "X-Amz-Security-Token", "X-Amz-Signature", "X-Amz-SignedHeaders"))
_JSON_MEDIA = re.compile(r"^application/(?:[\w.\-]+\+)?json\b|^\*/\*$|^application/\*$|json", re.I)
_FORM_MEDIA = ("application/x-www-form-urlencoded", "multipart/form-data")
_STRING: dict = {"type": "string"}  # the schema of a parameter or body that declares none (never mutated)


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
        if (isinstance(scheme, dict) and scheme.get("type") == "apiKey" and isinstance(scheme.get("name"), str)
                and isinstance(scheme.get("in"), str)):
            creds.add((scheme["in"], scheme["name"].lower()))
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
        op = path_item.get(method) if isinstance(path_item, dict) else None
        if not isinstance(op, dict):
            raise OpenAPIError(item, f"the path item is a JSON {type(path_item).__name__} without this operation",
                               "point the path item's $ref at an object that declares the operation")
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
        check_utf8(item, (fn.to_openai(), fn.outputs, path, locations))
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
                    raise OpenAPIError(item, f"parameter {shown(param['name'])} has location {shown(where)}",
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
