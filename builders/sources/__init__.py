"""Readers for the raw sources a release is built from (e.g. APIs.guru's OpenAPI directory)."""

from builders.sources.openapi import (
    SourceError,
    SpecFile,
    build_function_pool,
    iter_spec_files,
    source_version,
)

__all__ = ["SourceError", "SpecFile", "build_function_pool", "iter_spec_files", "source_version"]
