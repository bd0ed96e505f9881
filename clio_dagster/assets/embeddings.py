"""summary_embeddings: sentence-transformers vectors of the request summaries, cached by text hash."""


import time

import dagster as dg
import numpy as np
import pyarrow as pa

from clio_dagster.core.hashing import text_hash
from clio_dagster.partitions import daily_partitions
from clio_dagster.resources import EmbedderResource, WarehouseResource, partition_date
from clio_dagster.storage import query_arrow, ensure_embedding_table, load_sql, replace_partition, transaction


def vectors_to_arrow(vectors: np.ndarray) -> pa.FixedSizeListArray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])


def arrow_to_vectors(column: pa.ChunkedArray | pa.Array, dim: int) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if len(column) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(len(column), dim)


@dg.asset(
    partitions_def=daily_partitions,
    group_name="clustering",
    kinds={"duckdb", "pytorch"},
    owners=["team:clio"],
    deps=["facets"],
)
def summary_embeddings(
    context: dg.AssetExecutionContext, embedder: EmbedderResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """One vector per request summary (FLOAT[dim]); a summary already embedded by this model is not encoded again."""
    started = time.perf_counter()
    day = partition_date(context)
    model = embedder.get()
    with warehouse.get().connect("private") as con:
        rows = query_arrow(con, load_sql("select_facet_summaries.sql"), [day])
        conversation_ids = rows.column("conversation_id").to_pylist()
        texts = rows.column("request").to_pylist()
        hashes = [text_hash(t) for t in texts]
        needed = pa.table({"text_hash": sorted(set(hashes))})
        con.register("needed_hashes", needed)
        cached = query_arrow(con, load_sql("select_cached_embeddings.sql"), [model.model_name])
        con.unregister("needed_hashes")

    # Encoding happens with no DuckDB connection open (other runs may write meanwhile).
    encode_started = time.perf_counter()
    cached_hashes = cached.column("text_hash").to_pylist()
    missing_hashes = sorted(set(hashes) - set(cached_hashes))
    # Loading the model costs seconds: skip it when every summary is cached.
    dim = len(cached.column("embedding")[0]) if cached_hashes and not missing_hashes else model.dim
    by_hash = dict(zip(cached_hashes, arrow_to_vectors(cached.column("embedding"), dim)))
    first_text = dict(zip(hashes, texts))
    new_vectors = model.encode([first_text[h] for h in missing_hashes])
    by_hash.update(zip(missing_hashes, new_vectors))
    encode_seconds = time.perf_counter() - encode_started

    matrix = np.stack([by_hash[h] for h in hashes]) if hashes else np.zeros((0, dim), np.float32)
    table = pa.table(
        {
            "partition_date": pa.array([day] * len(hashes), pa.date32()),
            "conversation_id": conversation_ids,
            "model": [model.model_name] * len(hashes),
            "text_hash": hashes,
            "embedding": vectors_to_arrow(matrix),
        }
    )
    new_cache = pa.table(
        {
            "model": [model.model_name] * len(missing_hashes),
            "text_hash": missing_hashes,
            "embedding": vectors_to_arrow(new_vectors if len(missing_hashes) else np.zeros((0, dim), np.float32)),
        }
    )
    with warehouse.get().connect("private") as con, transaction(con):
        ensure_embedding_table(con, dim, model.model_name)
        written = replace_partition(con, "summary_embeddings", day, table)
        if len(missing_hashes):
            con.register("new_cache", new_cache)
            con.execute(load_sql("insert_embedding_cache.sql"))
            con.unregister("new_cache")

    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "model": model.model_name,
            "dim": dim,
            "cache_hits": len(by_hash) - len(missing_hashes),
            "encoded": len(missing_hashes),
            "encode_seconds": round(encode_seconds, 3),
            "texts_per_second": round(len(missing_hashes) / encode_seconds, 1) if missing_hashes and encode_seconds else None,
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
