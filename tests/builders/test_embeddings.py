"""The shared embedding layer with the real offline MiniLM model: normalised vectors, a disk cache
keyed by (model, text) so a second run, or a bigger set of texts, embeds nothing twice."""

from __future__ import annotations

import numpy as np
import pytest

from builders.embeddings import DEFAULT_MODEL, Embedder, EmbeddingStore, resolve_model
from builders.errors import ConfigError

TEXTS = ["DESC The city to look up TYPE string", "DESC Name of a town TYPE string",
         "DESC Number of hotel rooms TYPE integer", "DESC The city to look up TYPE string"]


@pytest.fixture(scope="module")
def model_path():
    return resolve_model(DEFAULT_MODEL)[0]


def test_vectors_are_normalised_float32_and_meaningful(tmp_path):
    emb = Embedder(cache_dir=tmp_path)
    v = emb.embed(TEXTS)
    assert v.shape == (4, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(v[0], v[3])
    assert v[0] @ v[1] > v[0] @ v[2]  # city ~ town, not ~ room count
    assert emb.stats == {"texts": 4, "distinct": 3, "cached": 0, "computed": 3}


def test_second_run_embeds_nothing_and_a_bigger_set_only_the_new_texts(tmp_path):
    first = Embedder(cache_dir=tmp_path).embed(TEXTS)
    again = Embedder(cache_dir=tmp_path)
    assert np.array_equal(again.embed(TEXTS), first)
    assert again.stats["computed"] == 0 and again._model is None  # the model was never even loaded
    more = TEXTS + ["DESC Check-in date TYPE string"]
    bigger = Embedder(cache_dir=tmp_path)
    v = bigger.embed(more)
    assert bigger.stats["computed"] == 1 and np.array_equal(v[:4], first)
    assert len(EmbeddingStore(tmp_path, bigger.identity)) == 4


def test_model_identity_names_the_cache(tmp_path, model_path):
    by_path = Embedder(model=model_path, cache_dir=tmp_path)
    assert by_path.identity != Embedder(cache_dir=tmp_path).identity  # a folder is named by its files
    by_path.embed(TEXTS[:1])
    assert by_path.stats["computed"] == 1
    with pytest.raises(ConfigError, match="neither the shipped default"):
        resolve_model("no-such-model")


def test_vectors_are_saved_shard_by_shard(tmp_path):
    emb = Embedder(cache_dir=tmp_path, shard_size=2)
    emb.embed(TEXTS)
    assert len(list(emb._store.dir.glob("shard-*.npz"))) == 2  # 3 distinct texts in shards of 2
    assert not list(emb._store.dir.glob("*.tmp.npz"))


def test_bfloat16_vectors_agree_with_float32_and_have_their_own_cache(tmp_path):
    exact = Embedder(cache_dir=tmp_path).embed(TEXTS)
    fast = Embedder(cache_dir=tmp_path, precision="bfloat16")
    v = fast.embed(TEXTS)
    assert fast.stats["computed"] == 3  # float32 vectors are never served for bfloat16
    assert fast.identity != Embedder(cache_dir=tmp_path).identity and "bfloat16" in fast.identity
    assert v.dtype == np.float32 and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(v * exact, axis=1))) > 0.999
    with pytest.raises(ConfigError, match="use one of float32, bfloat16"):
        Embedder(precision="float16")
