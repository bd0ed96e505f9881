"""map_projection: UMAP of the summary embeddings (Clio §G.6); per-conversation points stay private."""


import dagster as dg
import numpy as np
import pyarrow as pa

from clio_dagster.assets.daily import daily_asset
from clio_dagster.core.vectors import arrow_to_vectors
from clio_dagster.assets.reuse import input_fingerprint, record_outputs, stored_result
from clio_dagster.core.projection import project, projection_method
from clio_dagster.resources import PipelineConfig, WarehouseResource, partition_date
from clio_dagster.storage import load_sql, query_arrow, replace_partition, transaction


@daily_asset(
    group_name="clustering",
    deps=["summary_embeddings"],
)
def map_projection(
    context: dg.AssetExecutionContext, pipeline: PipelineConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """2-D UMAP (n_neighbors=15, min_dist=0, cosine, seeded) of every summary embedding, in [0, 1]².
    The points are private (map_points); published_clusters publishes only per-cluster centroids and spreads."""
    day = partition_date(context)
    with warehouse.get().connect("private") as con:
        fingerprint = input_fingerprint(con, "map_projection", day,
                                        {"summary_embeddings": ("conversation_id", "embedding")}, [pipeline])
        stored = stored_result(con, fingerprint)
        if stored is None:
            rows = query_arrow(con, load_sql("select_map_inputs.sql"), [day])
    if stored is not None:
        return stored
    ids = rows.column("conversation_id")
    n = len(ids)
    points = np.zeros((0, 2), np.float32)
    if n:
        embedding = rows.column("embedding").combine_chunks()
        points = project(arrow_to_vectors(embedding), seed=pipeline.seed)
    table = pa.table(
        {
            "partition_date": pa.array([day] * n, pa.date32()),
            "conversation_id": ids,
            "x": pa.array(points[:, 0], pa.float32()),
            "y": pa.array(points[:, 1], pa.float32()),
        }
    )
    with warehouse.get().connect("private") as con, transaction(con):
        written = replace_partition(con, "map_points", day, table)
        record_outputs(con, fingerprint, ["map_points"])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "method": projection_method(n),
            "seed": pipeline.seed,
            "reused": False,
        }
    )
