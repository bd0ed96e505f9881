"""published_clusters: the only asset that writes the public DB, after the privacy thresholds."""


import time
from collections import Counter

import dagster as dg
import pyarrow as pa

from clio_dagster.core.privacy import FacetCount, Thresholds, pool_small_values
from clio_dagster.partitions import daily_partitions
from clio_dagster.resources import EmbedderResource, LLMResource, PipelineConfig, WarehouseResource, partition_date
from clio_dagster.storage import query_arrow, load_sql, replace_partition, transaction

THRESHOLDS_HOLD = "thresholds_hold"
NO_PRIVATE_IDENTIFIERS = "no_private_identifiers"


def public_cluster_id(cluster_id: int) -> str:
    return f"b{cluster_id:05d}"


def _preview(rows: list[dict]) -> str:
    lines = ["| cluster | name | conversations | users | share |", "|---|---|---:|---:|---:|"]
    for row in sorted(rows, key=lambda r: (-r["conversations"], r["cluster_id"]))[:15]:
        name = row["name"].replace("|", "/")
        lines.append(
            f"| {row['cluster_id']} | {name} | {row['conversations']} | {row['unique_users']} | {row['share']:.1%} |"
        )
    return "\n".join(lines)


@dg.asset(
    partitions_def=daily_partitions,
    group_name="publish",
    kinds={"duckdb"},
    owners=["team:clio"],
    deps=["cluster_names"],
    check_specs=[
        dg.AssetCheckSpec(
            THRESHOLDS_HOLD,
            asset="published_clusters",
            blocking=True,
            description="Every published cluster has >= min_unique_users distinct users and >= min_conversations conversations.",
        ),
        dg.AssetCheckSpec(
            NO_PRIVATE_IDENTIFIERS,
            asset="published_clusters",
            blocking=True,
            description="No conversation id or user hash of the day appears anywhere in the public DB's text.",
        ),
    ],
)
def published_clusters(
    context: dg.AssetExecutionContext,
    pipeline: PipelineConfig,
    llm: LLMResource,
    embedder: EmbedderResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Clusters that meet min_unique_users AND min_conversations, with facet breakdowns whose rare values are
    pooled, written to the public DB in one transaction per partition."""
    started = time.perf_counter()
    day = partition_date(context)
    thresholds = Thresholds(pipeline.min_unique_users, pipeline.min_conversations)
    with warehouse.get().connect("private") as con:
        candidates = query_arrow(con, load_sql("select_publish_candidates.sql"), [day]).to_pylist()
        facet_rows = con.execute(load_sql("select_cluster_facet_counts.sql"), {"day": day}).fetchall()
        total = con.execute("SELECT count(*) FROM facets WHERE partition_date = ?", [day]).fetchone()[0]
        private_ids = [
            r[0]
            for r in con.execute(
                "SELECT conversation_id FROM raw_conversations WHERE partition_date = ? "
                "UNION SELECT user_hash FROM raw_conversations WHERE partition_date = ?",
                [day, day],
            ).fetchall()
        ]

    suppressed: Counter[str] = Counter()
    published: list[dict] = []
    for c in candidates:
        failed = thresholds.violations(c["conversations"], c["unique_users"])
        suppressed.update(str(f) for f in failed)
        if failed:
            continue
        published.append(
            {
                "partition_date": day,
                "cluster_id": public_cluster_id(c["cluster_id"]),
                "level": 0,
                "parent_id": None,
                "name": c["name"],
                "description": c["description"],
                "conversations": c["conversations"],
                "unique_users": c["unique_users"],
                "share": c["conversations"] / total if total else 0.0,
                "mean_turns": c["mean_turns"],
                "concerning_mean": c["concerning_mean"],
                "naming_method": c["method"],
                "heuristic": c["backend"] == "offline",
            }
        )
    published_ids = {row["cluster_id"] for row in published}
    facets = pool_small_values(
        (FacetCount(*row) for row in facet_rows if public_cluster_id(row[0]) in published_ids),
        pipeline.min_unique_users,
    )
    facet_table = pa.table(
        {
            "partition_date": pa.array([day] * len(facets), pa.date32()),
            "cluster_id": [public_cluster_id(f.cluster_id) for f in facets],
            "facet": [f.facet for f in facets],
            "value": [f.value for f in facets],
            "conversations": pa.array([f.conversations for f in facets], pa.int32()),
        }
    )
    cluster_table = pa.Table.from_pylist(
        published,
        schema=pa.schema(
            [
                ("partition_date", pa.date32()),
                ("cluster_id", pa.string()),
                ("level", pa.int32()),
                ("parent_id", pa.string()),
                ("name", pa.string()),
                ("description", pa.string()),
                ("conversations", pa.int32()),
                ("unique_users", pa.int32()),
                ("share", pa.float64()),
                ("mean_turns", pa.float64()),
                ("concerning_mean", pa.float64()),
                ("naming_method", pa.string()),
                ("heuristic", pa.bool_()),
            ]
        ),
    )
    summary = pa.table(
        {
            "partition_date": pa.array([day], pa.date32()),
            "conversations": pa.array([total], pa.int32()),
            "clusters_total": pa.array([len(candidates)], pa.int32()),
            "clusters_published": pa.array([len(published)], pa.int32()),
            "suppressed_min_users": pa.array([suppressed["min_unique_users"]], pa.int32()),
            "suppressed_min_conversations": pa.array([suppressed["min_conversations"]], pa.int32()),
            "conversations_in_published": pa.array([sum(r["conversations"] for r in published)], pa.int32()),
            "min_unique_users": pa.array([pipeline.min_unique_users], pa.int32()),
            "min_conversations": pa.array([pipeline.min_conversations], pa.int32()),
            "llm_backend": [llm.backend],
            "embedding_model": [embedder.model],
        }
    )
    with warehouse.get().connect("public") as con:
        with transaction(con):
            replace_partition(con, "published_clusters", day, cluster_table)
            replace_partition(con, "cluster_facets", day, facet_table)
            replace_partition(con, "partition_summaries", day, summary)
        violations = con.execute(
            load_sql("check_published_thresholds.sql"),
            {"day": day, "min_users": pipeline.min_unique_users, "min_conversations": pipeline.min_conversations},
        ).fetchall()
        public_text = "\n".join(
            " ".join(str(v) for v in row)
            for table in ("published_clusters", "cluster_facets", "partition_summaries")
            for row in con.execute(f"SELECT * FROM {table} WHERE partition_date = ?", [day]).fetchall()
        )
    leaked = sum(1 for identifier in private_ids if identifier and identifier in public_text)

    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(published),
            "clusters_total": len(candidates),
            "suppressed_min_unique_users": suppressed["min_unique_users"],
            "suppressed_min_conversations": suppressed["min_conversations"],
            "conversations_in_published": sum(r["conversations"] for r in published),
            "conversations": total,
            "heuristic_names": llm.backend == "offline",
            "preview": dg.MetadataValue.md(_preview(published)),
            "seconds": round(time.perf_counter() - started, 3),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=THRESHOLDS_HOLD,
                passed=not violations,
                metadata={"violating_clusters": [v[0] for v in violations]},
            ),
            dg.AssetCheckResult(
                check_name=NO_PRIVATE_IDENTIFIERS,
                passed=leaked == 0,
                metadata={"identifiers_checked": len(private_ids), "identifiers_found": leaked},
            ),
        ],
    )
