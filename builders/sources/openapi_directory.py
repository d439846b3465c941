"""The old import path of the OpenAPI directory reader, kept for callers: see :mod:`builders.sources.openapi`."""

from builders.sources.openapi import (  # noqa: F401  (re-exported)
    NPM_PACKAGE,
    SETUP_HINT,
    OpenAPIFunctionPool,
    ProviderFilter,
    SourceError,
    SpecFile,
    build_function_pool,
    is_npm_package,
    iter_spec_files,
    operation_score,
    source_version,
)
