"""Spec metadata: the API's identity and categories, the country proxy, and text cleaning.

APIs.guru records no country, so the provider's top-level domain is the proxy; descriptions
come with HTML and unbounded length, so they are cleaned and cut at a sentence.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

from builders.sources.openapi.model import ApiInfo, OpenAPIError, check_utf8, shown

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


# --- the spec's identity -----------------------------------------------------------------------

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
        swagger = spec.get("swagger")
        found = (f"swagger {swagger if isinstance(swagger, str) else shown(swagger)}" if "swagger" in spec
                 else f"openapi {shown(version)}")
        raise OpenAPIError(item, f"not OpenAPI 3.x ({found})",
                           "convert it to OpenAPI 3 first (e.g. with swagger2openapi)")
    paths = spec.get("paths")
    if not isinstance(paths, dict) or not any(not str(k).startswith("x-") for k in paths):
        raise OpenAPIError(item, "has no paths", "use a spec that declares at least one operation under 'paths'")
    components = spec.get("components")
    if components is not None and not isinstance(components, dict):
        raise OpenAPIError(item, f"'components' is a JSON {type(components).__name__}, not an object",
                           "make 'components' a mapping (schemas, parameters, securitySchemes ...) or remove it")
    info = spec.get("info") if isinstance(spec.get("info"), dict) else {}
    for key in ("x-providerName", "x-serviceName", "title", "version"):
        if isinstance(info.get(key), (dict, list)):
            raise OpenAPIError(item, f"info.{key} is a JSON {type(info[key]).__name__}, not a string",
                               f"write info.{key} as a string")
    provider = str(info.get("x-providerName") or provider or "").strip()
    if not provider:
        raise OpenAPIError(item, "names no provider", "set info.x-providerName (e.g. 'example.com')")
    service = info.get("x-serviceName") or service or None
    cats = info.get("x-apisguru-categories")
    cats = tuple(c for c in cats if isinstance(c, str)) if isinstance(cats, list) else ()
    api_info = ApiInfo(api=f"{provider}:{service}" if service else provider, provider=provider,
                       service=str(service) if service else None, title=str(info.get("title") or ""),
                       categories=cats, country=country_from_provider(provider),
                       spec_version=str(info.get("version", "")), openapi_version=version)
    check_utf8(item, [api_info.api, api_info.title, api_info.categories, api_info.spec_version, version])
    return api_info

