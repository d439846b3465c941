"""Edge search on hand-made functions: threshold boundary, no self-loops, caps, seeded keeping, blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from builders.errors import ConfigError, DataError
from toolmind.graph import (EdgeAcceptance, EdgeSearchConfig, ParameterIndex, apply_validation, build_edges,
                            graph_stats, parse_validation, parameter_text, select_for_validation,
                            validation_messages)

from .helpers import TableEmbedder, fn

# cos(city, town) = 0.5 exactly in float32: (1, 0) . (0.5, sqrt(0.75))
VECTORS = {"city name": [1.0, 0.0, 0.0], "town name": [0.5, math.sqrt(0.75), 0.0], "a number": [0.0, 0.0, 1.0]}


def pool():
    return [
        fn("geocode", inputs={"q": "town name"}, outputs={"city": "city name"}),
        fn("weather", inputs={"city": "city name"}, outputs={"temp": "a number"}),
        fn("hotels", inputs={"where": "town name", "max": "a number"}),
        fn("blank", inputs={"x": ""}, outputs={"y": ""}),
    ]


def edges_of(rows, **cfg):
    edges, index = build_edges(rows, TableEmbedder(VECTORS), EdgeSearchConfig(**cfg))
    return {(r["source"], r["target"]): r["similarity"] for r in edges.rows([r["name"] for r in rows])}, edges


def test_parameter_text_and_excluded_descriptions():
    index = ParameterIndex.build(pool())
    assert parameter_text("city name", "string") == "DESC city name TYPE string"
    assert "DESC city name TYPE string" in index.texts
    assert index.counts["input_no_description"] == 1 and index.counts["output_no_description"] == 1
    assert all("DESC  TYPE" not in t for t in index.texts)


def test_threshold_is_strict_and_no_self_loops():
    above, _ = edges_of(pool(), threshold=0.49)
    # geocode -> weather (1.0), geocode -> hotels (0.5 > 0.49), weather -> hotels ("a number"), never x -> x
    assert set(above) == {("geocode", "weather"), ("geocode", "hotels"), ("weather", "hotels")}
    assert above[("geocode", "weather")] == pytest.approx(1.0)
    assert above[("geocode", "hotels")] == pytest.approx(0.5, abs=1e-6)
    at, _ = edges_of(pool(), threshold=0.5)  # exactly 0.5 does not exceed 0.5
    assert set(at) == {("geocode", "weather"), ("weather", "hotels")}


def test_self_loop_removed_even_when_output_matches_own_input():
    rows = [fn("echo", inputs={"c": "city name"}, outputs={"c": "city name"}),
            fn("other", inputs={"c": "city name"})]
    got, edges = edges_of(rows, threshold=0.9)
    assert set(got) == {("echo", "other")}
    assert edges.stats["function_pairs"] == 2  # echo->echo was found and dropped


def test_out_degree_cap_keeps_the_best():
    rows = [fn("src", outputs={"c": "city name"}), fn("best", inputs={"c": "city name"}),
            fn("worse", inputs={"t": "town name"}), fn("worst", inputs={"t": "town name", "n": "a number"})]
    got, edges = edges_of(rows, threshold=0.1, max_out_degree=1)
    assert set(got) == {("src", "best")}
    assert edges.stats["capped"] == 2


def random_problem(n_funcs=60, seed=3, dim=8):
    rng = np.random.default_rng(seed)
    descs = [f"d{i}" for i in range(25)]
    vectors = {d: rng.normal(size=dim).tolist() for d in descs}
    rows = []
    for f in range(n_funcs):
        ins = {f"i{k}": descs[rng.integers(len(descs))] for k in range(rng.integers(0, 4))}
        outs = {f"o{k}": descs[rng.integers(len(descs))] for k in range(rng.integers(0, 3))}
        rows.append(fn(f"f{f:03d}", inputs=ins, outputs=outs))
    return rows, vectors


def brute_force(rows, vectors, threshold):
    """The definition, one pair at a time."""
    import json

    def vecs(schema):
        props = (json.loads(schema) or {}).get("properties", {}) if schema else {}
        return [np.asarray(vectors[p["description"]]) / np.linalg.norm(vectors[p["description"]]) for p in props.values()]

    out = {}
    for a in rows:
        for b in rows:
            if a is b:
                continue
            sims = [float(u @ v) for u in vecs(a["outputs"]) for v in vecs(b["parameters"])]
            if sims and max(sims) > threshold:
                out[(a["name"], b["name"])] = max(sims)
    return out


@pytest.mark.parametrize("block_bytes, max_pairs", [(64, 1), (64, 7), (1 << 20, 1 << 20)])
def test_matches_brute_force_whatever_the_block_size(block_bytes, max_pairs):
    rows, vectors = random_problem()
    config = EdgeSearchConfig(threshold=0.6, block_bytes=block_bytes, max_pairs=max_pairs)
    edges, _ = build_edges(rows, TableEmbedder(vectors), config)
    got = {(r["source"], r["target"]): r["similarity"] for r in edges.rows([r["name"] for r in rows])}
    want = brute_force(rows, vectors, 0.6)
    assert set(got) == set(want) and len(want) > 50
    assert all(got[k] == pytest.approx(want[k], abs=1e-5) for k in want)


def test_seeded_keeping_is_deterministic_and_order_free():
    rows, vectors = random_problem()
    cfg = dict(threshold=0.3, keep_probability=0.5, max_out_degree=3)
    a, _ = build_edges(rows, TableEmbedder(vectors), EdgeSearchConfig(seed=1, **cfg))
    b, _ = build_edges(rows[::-1], TableEmbedder(vectors), EdgeSearchConfig(seed=1, block_bytes=64, **cfg))
    c, _ = build_edges(rows, TableEmbedder(vectors), EdgeSearchConfig(seed=2, **cfg))
    rows_a = a.rows([r["name"] for r in rows])
    key = lambda rs: sorted((r["source"], r["target"]) for r in rs)  # noqa: E731
    assert key(rows_a) == key(b.rows([r["name"] for r in rows[::-1]]))
    assert key(rows_a) != key(c.rows([r["name"] for r in rows]))
    full = brute_force(rows, vectors, 0.3)
    assert 0 < len(rows_a) < len(full)
    assert max(np.bincount(a.source)) <= 3


def test_config_errors():
    with pytest.raises(ConfigError, match="threshold"):
        EdgeSearchConfig(threshold=1.5)
    with pytest.raises(ConfigError, match="keep_probability"):
        EdgeSearchConfig(keep_probability=0)


def test_validation_budget_parse_and_acceptance():
    edges = [{"source": "a", "target": t, "similarity": s} for t, s in (("b", 0.9), ("c", 0.95), ("d", 0.85))]
    edges.append({"source": "b", "target": "c", "similarity": 0.99})
    assert [(e["source"], e["target"]) for e in select_for_validation(edges, top_k=2)] == [
        ("a", "b"), ("a", "c"), ("b", "c")]
    assert [(e["source"], e["target"]) for e in select_for_validation(edges, top_k=2, budget=2)] == [
        ("a", "c"), ("b", "c")]
    good = parse_validation('```json\n{"Field transitivity": 8, "Potential user intent path coherence": "6"}\n```', "a", "b")
    assert good == {"field_transitivity": 8, "intent_coherence": 6}
    with pytest.raises(DataError, match="10 is greater than the maximum of 9"):
        parse_validation({"Field transitivity": 10, "Potential user intent path coherence": 1}, "a", "b")
    with pytest.raises(DataError, match="Potential user intent path coherence"):
        parse_validation({"Field transitivity": 3}, "a", "b")
    with pytest.raises(DataError, match="no JSON"):
        parse_validation("I think they are related", "a", "b")
    scores = {("a", "b"): good, ("a", "c"): {"field_transitivity": 9, "intent_coherence": 2}, ("b", "c"): None}
    out = {(e["source"], e["target"]): e for e in apply_validation(edges, scores, EdgeAcceptance())}
    assert out[("a", "b")]["kept"] and not out[("a", "c")]["kept"] and not out[("b", "c")]["kept"]
    assert out[("a", "d")]["validated"] is False and out[("a", "d")]["kept"] is False
    either = apply_validation(edges, scores, EdgeAcceptance(require="either", keep_unvalidated=True))
    assert [e["kept"] for e in either] == [True, True, True, False]


def test_validation_prompt_names_both_functions():
    rows = pool()
    text = validation_messages(rows[0], rows[1])[0]["content"]
    assert '"name":"geocode"' in text and '"name":"weather"' in text and "Field transitivity" in text


def test_graph_stats():
    s = graph_stats(5, np.array([0, 1, 3]), np.array([1, 2, 4]))
    assert s["components"] == 2 + 0 and s["components_with_edges"] == 2 and s["largest_component"] == 3
    assert s["out_degree"] == {0: 2, 1: 3}


def test_real_model_end_to_end(tmp_path):
    """MiniLM on a handful of functions: the geocoder's coordinates feed the forecast, not the translator."""
    from builders.embeddings import Embedder

    rows = [
        fn("geocode", inputs={"address": "Street address to locate"},
           outputs={"lat": "Latitude of the location", "lon": "Longitude of the location"}, types={"lat": "number", "lon": "number"}),
        fn("forecast", inputs={"latitude": "Latitude of the place", "longitude": "Longitude of the place"},
           outputs={"summary": "Weather summary text"}, types={"latitude": "number", "longitude": "number"}),
        fn("translate", inputs={"text": "Text to translate", "target": "Target language code"},
           outputs={"translation": "The translated text"}),
    ]
    emb = Embedder(cache_dir=tmp_path)
    edges, index = build_edges(rows, emb, EdgeSearchConfig(threshold=0.75))
    pairs = {(r["source"], r["target"]) for r in edges.rows([r["name"] for r in rows])}
    assert ("geocode", "forecast") in pairs and ("geocode", "translate") not in pairs
    assert emb.stats["computed"] == len(index.texts)
