"""Sentence vectors through the private embedding cache (table `embedding_cache`, keyed by model and text hash):
each distinct text is encoded once per model, ever, and an interrupted encode resumes where it stopped."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from clio_dagster.core.embedding import SentenceEmbedder
from clio_dagster.core.hashing import text_hash
from clio_dagster.core.vectors import arrow_to_vectors, vectors_to_arrow
from clio_dagster.storage import Warehouse, load_sql, query_arrow, transaction

# Texts encoded (and cached) per step: bounds the work lost to an interruption and the vectors in flight.
ENCODE_PAGE_SIZE = 4096


@dataclass(frozen=True)
class CachedEmbedding:
    matrix: np.ndarray  # one row per input text, in input order
    hashes: list[str]
    dim: int
    encoded: int  # distinct texts encoded now
    cache_hits: int  # distinct texts found in the cache
    encode_seconds: float


def embed_with_cache(texts: list[str], model: SentenceEmbedder, warehouse: Warehouse) -> CachedEmbedding:
    """Vectors of `texts` from the private embedding cache, encoding only what this model has not embedded
    before (with no DuckDB connection open) and caching it. The model is not even loaded when all is cached.
    Texts are encoded ENCODE_PAGE_SIZE at a time, shortest first (little padding per batch), and each page is
    cached as soon as it is encoded, so an interrupted run resumes where it stopped."""
    hashes = [text_hash(t) for t in texts]
    with warehouse.connect("private") as con:
        con.register("needed_hashes", pa.table({"text_hash": sorted(set(hashes))}))
        cached = query_arrow(con, load_sql("select_cached_embeddings.sql"), [model.model_name])
        con.unregister("needed_hashes")
    cached_hashes = cached.column("text_hash").to_pylist()
    missing = set(hashes) - set(cached_hashes)
    dim = len(cached.column("embedding")[0]) if cached_hashes and not missing else model.dim
    by_hash = dict(zip(cached_hashes, arrow_to_vectors(cached.column("embedding"), dim)))
    del cached
    first_text = dict(zip(hashes, texts))
    todo = sorted(missing, key=lambda h: (len(first_text[h]), h))
    encode_started = time.perf_counter()
    for start in range(0, len(todo), ENCODE_PAGE_SIZE):
        page = todo[start : start + ENCODE_PAGE_SIZE]
        new_vectors = model.encode([first_text[h] for h in page])
        by_hash.update(zip(page, new_vectors))
        new_cache = pa.table({"model": [model.model_name] * len(page), "text_hash": page,
                              "embedding": vectors_to_arrow(new_vectors)})
        with warehouse.connect("private") as con, transaction(con):
            con.register("new_cache", new_cache)
            con.execute(load_sql("insert_embedding_cache.sql"))
            con.unregister("new_cache")
    encode_seconds = time.perf_counter() - encode_started
    matrix = np.stack([by_hash[h] for h in hashes]) if hashes else np.zeros((0, dim), np.float32)
    return CachedEmbedding(matrix, hashes, dim, len(todo), len(cached_hashes), encode_seconds)
