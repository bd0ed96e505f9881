"""summary_embeddings: sentence-transformers vectors of the request summaries (or of a custom facet's answers, with
CLIO_CLUSTER_FACET), cached by text hash."""

import dagster as dg
import pyarrow as pa

from clio_dagster.assets.daily import EMBEDS, daily_asset
from clio_dagster.assets.reuse import input_fingerprint, record_outputs, stored_result
from clio_dagster.core.embedding_cache import embed_with_cache
from clio_dagster.core.language_centering import centre_languages
from clio_dagster.core.progress import Progress
from clio_dagster.core.vectors import vectors_to_arrow
from clio_dagster.resources import EmbedderResource, ProgressResource, WarehouseResource, partition_date
from clio_dagster.storage import ensure_embedding_table, load_sql, query_arrow, replace_partition, transaction


def embeddings_fingerprint(con, embedder: EmbedderResource, day):
    read = ("conversation_id", "request", "language_code") + (("custom_facets",) if embedder.cluster_facet else ())
    return input_fingerprint(con, "summary_embeddings", day, {"facets": read}, [embedder])


def clustered_texts(con, embedder: EmbedderResource, day):
    """(conversation_id, request, language_code) of the day, `request` being the text that is embedded and
    clustered: the request summary, or the answer to the custom facet named by `embedder.cluster_facet`."""
    return query_arrow(con, load_sql("select_facet_summaries.sql"), {"day": day, "facet": embedder.cluster_facet})


def write_summary_embeddings(day, embedder: EmbedderResource, warehouse: WarehouseResource,
                             report: Progress | None = None) -> dict:
    """Embed the day's summaries through the cache and replace the day's vectors, unless an unchanged day is
    reused; the materialisation's metadata. `report` follows the distinct summaries (cache hits, encoded)."""
    with warehouse.get().connect("private") as con:
        fingerprint = embeddings_fingerprint(con, embedder, day)
        stored = stored_result(con, fingerprint)
        if stored is None:
            rows = clustered_texts(con, embedder, day)
    if stored is not None:
        return dict(stored.metadata)
    result = embed_with_cache(rows.column("request").to_pylist(), embedder.get(), warehouse.get(), report=report)
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
    return {
        "dagster/row_count": written,
        "model": embedder.model,
        "dim": result.dim,
        "language_neutral": embedder.language_neutral,
        **encoding_metadata(result),
        "reused": False,
    }


def encoding_metadata(result) -> dict:
    return {
        "cache_hits": result.cache_hits,
        "encoded": result.encoded,
        "encode_seconds": round(result.encode_seconds, 3),
        "texts_per_second": round(result.encoded / result.encode_seconds, 1)
        if result.encoded and result.encode_seconds else None,
    }


@daily_asset(
    group_name="clustering",
    kinds={"duckdb", "pytorch"},
    deps=["facets"],
    op_tags=EMBEDS,
)
def summary_embeddings(
    context: dg.AssetExecutionContext, embedder: EmbedderResource, warehouse: WarehouseResource,
    progress: ProgressResource,
) -> dg.MaterializeResult:
    """One vector per request summary (FLOAT[dim]); a summary already embedded by this model is not encoded again,
    and an unchanged day is reused. With `language_neutral` each language's vectors are shifted onto the day's
    overall mean (the cache keeps the model's own vectors). With CLIO_DAY_SHARDS >= 2 shards of the day's
    summaries are encoded first, on as many workers (assets/shards.py)."""
    with progress.start(context, "summary_embeddings", unit="texts") as report:
        metadata = write_summary_embeddings(partition_date(context), embedder, warehouse, report)
    return dg.MaterializeResult(metadata=metadata)
