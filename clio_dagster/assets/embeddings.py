"""summary_embeddings: sentence-transformers vectors of the request summaries, cached by text hash."""


import time
from dataclasses import dataclass

import dagster as dg
import numpy as np
import pyarrow as pa

from clio_dagster.assets.daily import daily_asset
from clio_dagster.assets.reuse import input_fingerprint, record_outputs, stored_result
from clio_dagster.core.hashing import text_hash
from clio_dagster.core.language_centering import centre_languages
from clio_dagster.resources import EmbedderResource, WarehouseResource, partition_date
from clio_dagster.storage import ensure_embedding_table, load_sql, query_arrow, replace_partition, transaction


def vectors_to_arrow(vectors: np.ndarray) -> pa.FixedSizeListArray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])


def arrow_to_vectors(column: pa.ChunkedArray | pa.Array, dim: int) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if len(column) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(len(column), dim)


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


def embed_with_cache(texts: list[str], embedder: EmbedderResource, warehouse: WarehouseResource) -> CachedEmbedding:
    """Vectors of `texts` from the private embedding cache, encoding only what this model has not embedded
    before (with no DuckDB connection open) and caching it. The model is not even loaded when all is cached.
    Texts are encoded ENCODE_PAGE_SIZE at a time, shortest first (little padding per batch), and each page is
    cached as soon as it is encoded, so an interrupted run resumes where it stopped."""
    model = embedder.get()
    hashes = [text_hash(t) for t in texts]
    with warehouse.get().connect("private") as con:
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
        with warehouse.get().connect("private") as con, transaction(con):
            con.register("new_cache", new_cache)
            con.execute(load_sql("insert_embedding_cache.sql"))
            con.unregister("new_cache")
    encode_seconds = time.perf_counter() - encode_started
    matrix = np.stack([by_hash[h] for h in hashes]) if hashes else np.zeros((0, dim), np.float32)
    return CachedEmbedding(matrix, hashes, dim, len(todo), len(cached_hashes), encode_seconds)


@daily_asset(
    group_name="clustering",
    kinds={"duckdb", "pytorch"},
    deps=["facets"],
)
def summary_embeddings(
    context: dg.AssetExecutionContext, embedder: EmbedderResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """One vector per request summary (FLOAT[dim]); a summary already embedded by this model is not encoded again,
    and an unchanged day is reused. With `language_neutral` each language's vectors are shifted onto the day's
    overall mean (the cache keeps the model's own vectors)."""
    day = partition_date(context)
    with warehouse.get().connect("private") as con:
        fingerprint = input_fingerprint(con, "summary_embeddings", day,
                                        {"facets": ("conversation_id", "request", "language_code")}, [embedder])
        stored = stored_result(con, fingerprint)
        if stored is None:
            rows = query_arrow(con, load_sql("select_facet_summaries.sql"), [day])
    if stored is not None:
        return stored
    result = embed_with_cache(rows.column("request").to_pylist(), embedder, warehouse)
    matrix = result.matrix
    if embedder.language_neutral:
        matrix = centre_languages(matrix, rows.column("language_code").to_pylist())
    table = pa.table(
        {
            "partition_date": pa.array([day] * len(result.hashes), pa.date32()),
            "conversation_id": rows.column("conversation_id"),
            "model": [embedder.model] * len(result.hashes),
            "text_hash": result.hashes,
            "embedding": vectors_to_arrow(matrix),
        }
    )
    with warehouse.get().connect("private") as con, transaction(con):
        ensure_embedding_table(con, result.dim, embedder.model)
        written = replace_partition(con, "summary_embeddings", day, table)
        record_outputs(con, fingerprint, ["summary_embeddings"])

    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "model": embedder.model,
            "dim": result.dim,
            "language_neutral": embedder.language_neutral,
            "cache_hits": result.cache_hits,
            "encoded": result.encoded,
            "encode_seconds": round(result.encode_seconds, 3),
            "texts_per_second": round(result.encoded / result.encode_seconds, 1)
            if result.encoded and result.encode_seconds else None,
            "reused": False,
        }
    )
