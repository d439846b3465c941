"""The OpenAPI reader: OpenAPI 3.x specs -> standardised :class:`~builders.schema.Function` records.

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

Modules, one concept each: ``model`` (settings, error, operation record), ``metadata`` (text
cleaning, country proxy, categories), ``refs`` ($ref pointers), ``schemas`` (schema cleaning,
``allOf`` merge), ``operations`` (naming, operations -> Function), ``directory`` (the npm
tarball reader) and ``pool`` (sampling under the caps, worker processes).
"""

from builders.sources.openapi.directory import (
    NPM_PACKAGE,
    SETUP_HINT,
    SourceError,
    SpecFile,
    is_npm_package,
    iter_spec_files,
    source_version,
)
from builders.sources.openapi.metadata import (
    clean_text,
    country_from_provider,
    describe_operation,
    spec_info,
)
from builders.sources.openapi.model import (HTTP_METHODS, MAX_NAME_LENGTH, ApiInfo, OpenAPIConfig, OpenAPIError,
                                            OpenAPIOperation, ReaderError)
from builders.sources.openapi.operations import (
    AUTH_HEADERS,
    OperationNormalizer,
    list_operations,
    normalize_spec,
    operation_name,
    sanitize_name,
    unique_names,
)
from builders.sources.openapi.pool import (
    OpenAPIFunctionPool,
    ProviderFilter,
    build_function_pool,
    operation_score,
)
from builders.sources.openapi.refs import Pointers
from builders.sources.openapi.schemas import Resolver

__all__ = [
    "AUTH_HEADERS", "HTTP_METHODS", "MAX_NAME_LENGTH", "NPM_PACKAGE", "SETUP_HINT", "ApiInfo", "OpenAPIConfig",
    "OpenAPIError", "OpenAPIFunctionPool", "OpenAPIOperation", "OperationNormalizer", "Pointers", "ProviderFilter",
    "ReaderError", "Resolver", "SourceError", "SpecFile", "build_function_pool", "clean_text",
    "country_from_provider", "describe_operation", "is_npm_package", "iter_spec_files", "list_operations",
    "normalize_spec", "operation_name", "operation_score", "sanitize_name", "source_version", "spec_info",
    "unique_names",
]
