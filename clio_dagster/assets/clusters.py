"""base_clusters (seeded k-means) and cluster_names (the private staging of candidate names)."""


import time

import dagster as dg
import numpy as np
import pyarrow as pa

from clio_dagster.assets.daily import EMBEDS, daily_asset
from clio_dagster.core.embedding_cache import embed_with_cache
from clio_dagster.core.vectors import arrow_to_vectors, vectors_to_arrow
from clio_dagster.assets.reuse import input_fingerprint, record_outputs, stored_result
from clio_dagster.core.clustering import choose_k, kmeans, merge_undersized
from clio_dagster.core.naming import is_generic_name
from clio_dagster.core.sampling import contrastive_samples
from clio_dagster.core.taxonomy import taxonomy_digest
from clio_dagster.llm import NamingInput
from clio_dagster.resources import (
    EmbedderResource,
    LLMResource,
    PipelineConfig,
    ProgressResource,
    WarehouseResource,
    llm_store,
    partition_date,
)
from clio_dagster.resources.safety import SafetyConfig
from clio_dagster.storage import load_sql, query_arrow, replace_partition, transaction

# What base_clusters reads (its input fingerprint): the vectors, and the facets its per-cluster statistics use.
BASE_CLUSTERS_READS = {
    "summary_embeddings": ("conversation_id", "embedding"),
    "facets": ("conversation_id", "user_hash", "n_turns", "concerning"),
}

# What the heuristic namer reads: members (with distances, for the representatives), their summaries, users
# and languages, and the centroids it matches to the taxonomy.
CLUSTER_NAMES_READS = {
    "base_cluster_members": ("conversation_id", "cluster_id", "distance"),
    "facets": ("conversation_id", "request", "user_hash", "language_code"),
    "base_clusters": ("cluster_id", "centroid"),
}


@daily_asset(
    group_name="clustering",
    kinds={"duckdb", "scikitlearn"},
    deps=["summary_embeddings"],
)
def base_clusters(
    context: dg.AssetExecutionContext,
    pipeline: PipelineConfig,
    embedder: EmbedderResource,
    safety: SafetyConfig,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """k-means on the summary embeddings with k = clamp(n / target_cluster_size, k_min, k_max) and a fixed
    seed, then clusters under `min_conversations` merged into their nearest (`merge_undersized_clusters`); not in
    safety mode, which shows every cluster, nor when a custom facet's answers are clustered (`cluster_facet`),
    where each cluster is one answer and the nearest answer is another one. Memberships and per-cluster
    statistics stay in the private DB."""
    day = partition_date(context)
    merge = pipeline.merge_undersized_clusters and not safety.safety_mode and embedder.cluster_facet is None
    with warehouse.get().connect("private") as con:
        fingerprint = input_fingerprint(con, "base_clusters", day, BASE_CLUSTERS_READS, [pipeline, merge])
        stored = stored_result(con, fingerprint)
        if stored is None:
            rows = query_arrow(con, load_sql("select_embeddings_for_clustering.sql"), [day])
    if stored is not None:
        return stored
    ids = rows.column("conversation_id")
    n = len(ids)
    k = choose_k(n, pipeline.target_cluster_size, pipeline.k_min, pipeline.k_max)

    members = pa.table({"partition_date": pa.array([], pa.date32()), "conversation_id": pa.array([], pa.string()),
                        "cluster_id": pa.array([], pa.int32()), "distance": pa.array([], pa.float32())})
    centroids = pa.table({"cluster_id": pa.array([], pa.int32()), "centroid": pa.array([], pa.list_(pa.float32()))})
    fit_seconds = 0.0
    merged = 0
    if n:
        embedding = rows.column("embedding").combine_chunks()
        matrix = arrow_to_vectors(embedding)
        fit_started = time.perf_counter()
        result = kmeans(matrix, k, pipeline.seed, pipeline.minibatch_threshold)
        fit_seconds = time.perf_counter() - fit_started  # k-means alone, as bench/bench_kmeans_scale.py times it
        if merge:
            result, merged = merge_undersized(matrix, result, pipeline.min_conversations)
        members = pa.table(
            {
                "partition_date": pa.array([day] * n, pa.date32()),
                "conversation_id": ids,
                "cluster_id": pa.array(result.labels, pa.int32()),
                "distance": pa.array(result.distances, pa.float32()),
            }
        )
        centroids = pa.table(
            {
                "cluster_id": pa.array(np.arange(len(result.centroids)), pa.int32()),
                "centroid": vectors_to_arrow(result.centroids).cast(pa.list_(pa.float32())),
            }
        )

    with warehouse.get().connect("private") as con, transaction(con):
        replace_partition(con, "base_cluster_members", day, members)
        con.execute("DELETE FROM base_clusters WHERE partition_date = ?", [day])
        con.register("staged_centroids", centroids)
        con.execute(load_sql("insert_base_clusters.sql"), {"day": day, "k": k})
        con.unregister("staged_centroids")
        sizes = [r[0] for r in con.execute(
            "SELECT conversations FROM base_clusters WHERE partition_date = ? ORDER BY cluster_id", [day]
        ).fetchall()]
        record_outputs(con, fingerprint, ["base_clusters", "base_cluster_members"])

    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(sizes),
            "conversations": n,
            "k": k,
            "undersized_clusters_merged": merged,
            "seed": pipeline.seed,
            "largest_cluster": max(sizes, default=0),
            "smallest_cluster": min(sizes, default=0),
            "fit_seconds": round(fit_seconds, 3),
            "reused": False,
        }
    )


@daily_asset(
    group_name="naming",
    deps=["base_clusters"],
    pool="llm",
    op_tags=EMBEDS,
)
def cluster_names(
    context: dg.AssetExecutionContext,
    pipeline: PipelineConfig,
    llm: LLMResource,
    embedder: EmbedderResource,
    warehouse: WarehouseResource,
    progress: ProgressResource,
) -> dg.MaterializeResult:
    """Candidate name and description per base cluster (private staging: nothing here is public until
    published_clusters applies the thresholds)."""
    day = partition_date(context)
    backend = llm.get(llm_store(context, warehouse), stage="names")
    if backend.deterministic:
        with warehouse.get().connect("private") as con:
            fingerprint = input_fingerprint(con, "cluster_names", day, CLUSTER_NAMES_READS,
                                            [pipeline, llm, embedder, taxonomy_digest(llm.taxonomy)])
            stored = stored_result(con, fingerprint)
        if stored is not None:
            return stored
    with warehouse.get().connect("private") as con:
        rows = query_arrow(con, load_sql("select_naming_input.sql"), [day])
        centroids = query_arrow(
            con, "SELECT centroid FROM base_clusters WHERE partition_date = ? ORDER BY cluster_id", [day]
        )
        if backend.contrastive:
            vectors = query_arrow(con, load_sql("select_naming_embeddings.sql"), [day])
    centroid_column = centroids.column("centroid").combine_chunks()
    centroid_matrix = arrow_to_vectors(centroid_column) if len(centroid_column) else None
    samples = None
    sample_ids: dict[int, list[str]] = {}
    if backend.contrastive and len(rows):
        embedding = vectors.column("embedding").combine_chunks()
        summaries = vectors.column("request").to_pylist()
        conversation_ids = vectors.column("conversation_id").to_pylist()
        picks = contrastive_samples(
            labels=np.asarray(vectors.column("cluster_id").to_pylist()),
            embeddings=arrow_to_vectors(embedding),
            centroids=centroid_matrix,
            n=pipeline.naming_sample_size,
            seed=pipeline.seed,
        )
        samples = {c: ([summaries[i] for i in inside], [summaries[i] for i in outside])
                   for c, (inside, outside) in picks.items()}
        sample_ids = {c: [conversation_ids[i] for i in inside] for c, (inside, _) in picks.items()}
    else:
        # The offline namer reads every member; the audit table shows the members nearest the centroid.
        with warehouse.get().connect("private") as con:
            for cid, ids in con.execute(load_sql("select_representatives.sql"), {"day": day, "n": pipeline.naming_sample_size}).fetchall():
                sample_ids[cid] = list(ids)

    def embed(texts: list[str]) -> np.ndarray:  # leaf texts; no DuckDB connection is open here
        return embed_with_cache(texts, embedder.get(), warehouse.get()).matrix

    # An LLM names each cluster in one call and reports as they come back (the heuristic namer reports nothing).
    with progress.start(context, "cluster_names", total=len(samples) if samples else None, unit="clusters",
                        live=backend.progress_counters) as report, backend.reporting(report):
        names = backend.name_clusters(NamingInput(
            labels=rows.column("cluster_id").to_pylist(),
            summaries=rows.column("request").to_pylist(),
            user_keys=rows.column("user_hash").to_pylist(),
            min_unique_users=pipeline.min_unique_users,
            seed=pipeline.seed,
            samples=samples,
            languages=rows.column("language_code").to_pylist(),
            concern=rows.column("concerning").to_pylist(),
            centroids=centroid_matrix,
            embed=embed,
            embedder_name=embedder.model,
        ))
    table = pa.table(
        {
            "partition_date": pa.array([day] * len(names), pa.date32()),
            "cluster_id": pa.array([n.cluster_id for n in names], pa.int32()),
            "name": [n.name for n in names],
            "description": [n.description for n in names],
            "terms": pa.array([list(n.terms) for n in names], pa.list_(pa.string())),
            "sample_ids": pa.array([sample_ids.get(n.cluster_id, []) for n in names], pa.list_(pa.string())),
            "method": [backend.naming_method for _ in names],
            "backend": [backend.name] * len(names),
            "taxonomy_id": pa.array([n.taxonomy_id for n in names], pa.string()),
            "taxonomy_similarity": pa.array([n.taxonomy_similarity for n in names], pa.float64()),
            "taxonomy_margin": pa.array([n.taxonomy_margin for n in names], pa.float64()),
            "taxonomy_matched": pa.array([n.taxonomy_matched for n in names], pa.bool_()),
        }
    )
    with warehouse.get().connect("private") as con, transaction(con):
        written = replace_partition(con, "cluster_names", day, table)
        if backend.deterministic:
            record_outputs(con, fingerprint, ["cluster_names"])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "llm_backend": backend.name,
            "heuristic": backend.heuristic,
            "method": backend.naming_method,
            "clusters_without_shared_terms": sum(1 for n in names if not n.terms) if backend.heuristic else None,
            "clusters_named_by_taxonomy": sum(1 for n in names if n.taxonomy_matched) if backend.heuristic else None,
            "clusters_with_generic_name": sum(1 for n in names if is_generic_name(n.name)),
            **backend.usage_metadata(),
            "reused": False,
        }
    )
