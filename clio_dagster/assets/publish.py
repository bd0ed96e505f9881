"""published_clusters: the only asset that writes the public DB (the publish step of write-audit-publish)."""

from collections import Counter

import dagster as dg
import polars as pl
import pyarrow as pa

from clio_dagster.assets.daily import EMBEDS, daily_asset
from clio_dagster.core.aggregates import facet_breakdowns, node_clusters, node_statistics
from clio_dagster.core.naming import generic_shares
from clio_dagster.core.privacy import FacetCount, pool_small_values
from clio_dagster.core.substrings import count_substrings
from clio_dagster.resources import EmbedderResource, LLMResource, PipelineConfig, WarehouseResource, partition_date
from clio_dagster.storage import load_sql, query_arrow, replace_partition, transaction

THRESHOLDS_HOLD = "thresholds_hold"
NO_PRIVATE_IDENTIFIERS = "no_private_identifiers"
AUDITED_NAMES_ONLY = "audited_names_only"
PUBLIC_TREE = "public_tree_is_consistent"

_CLUSTER_SCHEMA = pa.schema(
    [
        ("partition_date", pa.date32()), ("cluster_id", pa.string()), ("level", pa.int32()),
        ("parent_id", pa.string()), ("name", pa.string()), ("description", pa.string()),
        ("conversations", pa.int32()), ("unique_users", pa.int32()), ("share", pa.float64()),
        ("mean_turns", pa.float64()), ("concerning_mean", pa.float64()), ("naming_method", pa.string()),
        ("heuristic", pa.bool_()), ("x", pa.float64()), ("y", pa.float64()), ("spread", pa.float64()),
    ]
)


def _preview(rows: list[dict]) -> str:
    lines = ["| level | cluster | name | conversations | users | share |", "|---:|---|---|---:|---:|---:|"]
    for row in sorted(rows, key=lambda r: (-r["level"], -r["conversations"], r["cluster_id"]))[:25]:
        name = row["name"].replace("|", "/")
        lines.append(f"| {row['level']} | {row['cluster_id']} | {name} | {row['conversations']} | "
                     f"{row['unique_users']} | {row['share']:.1%} |")
    return "\n".join(lines)


@daily_asset(
    group_name="publish",
    deps=["privacy_audit", "map_projection"],
    op_tags=EMBEDS,
    check_specs=[
        dg.AssetCheckSpec(THRESHOLDS_HOLD, asset="published_clusters", blocking=True,
                          description="Every published cluster, at every level, has >= min_unique_users distinct "
                                      "users and >= min_conversations conversations, the deployment's floors."),
        dg.AssetCheckSpec(NO_PRIVATE_IDENTIFIERS, asset="published_clusters", blocking=True,
                          description="No conversation id or user hash of the day appears anywhere in the public DB."),
        dg.AssetCheckSpec(AUDITED_NAMES_ONLY, asset="published_clusters", blocking=True,
                          description="Every published name and description is one the privacy auditor passed."),
        dg.AssetCheckSpec(PUBLIC_TREE, asset="published_clusters", blocking=True,
                          description="Every published parent id is a published cluster one level or more up."),
    ],
)
def published_clusters(
    context: dg.AssetExecutionContext,
    pipeline: PipelineConfig,
    llm: LLMResource,
    embedder: EmbedderResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """The audited clusters of every level that meet the thresholds, with counts, share, facet breakdowns
    (rare values pooled; the analyst's published custom facets too, with their questions), concern and
    per-cluster map positions, written in one transaction per partition."""
    day = partition_date(context)
    with warehouse.get().connect("private") as con:
        audit = query_arrow(con, "SELECT * FROM cluster_audit WHERE partition_date = ? ORDER BY level, node_id",
                            [day]).to_pylist()
        tree = dict(con.execute("SELECT node_id, parent_id FROM hierarchy_nodes WHERE partition_date = ? "
                                "ORDER BY node_id", [day]).fetchall())
        methods = dict(con.execute("SELECT DISTINCT level, method FROM hierarchy_nodes WHERE partition_date = ? "
                                   "ORDER BY level", [day]).fetchall())
        conversations = pl.from_arrow(query_arrow(con, load_sql("select_published_members.sql"), [day]))
        total = con.execute("SELECT count(*) FROM facets WHERE partition_date = ?", [day]).fetchone()[0]
        private_ids = [r[0] for r in con.execute(
            "SELECT conversation_id FROM raw_conversations WHERE partition_date = ? "
            "UNION SELECT user_hash FROM raw_conversations WHERE partition_date = ? ORDER BY 1", [day, day]
        ).fetchall()]

    published = {r["node_id"]: r for r in audit if r["decision"] in ("publish", "publish_generic_name")}
    nodes = node_clusters({node_id: row["level"] for node_id, row in published.items()}, tree)
    statistics = node_statistics(conversations, nodes)

    # Which backend wrote each level's names: the namer's for base clusters, the hierarchy's for parents.
    heuristic_at = {0: llm.route("name_cluster").backend == "offline",
                    1: llm.route("rename_parent").backend == "offline"}
    rows = []
    for node_id, row in sorted(published.items(), key=lambda kv: (kv[1]["level"], kv[0])):
        stats = statistics.get(node_id, {})
        rows.append({
            "partition_date": day, "cluster_id": node_id, "level": row["level"], "parent_id": row["public_parent_id"],
            "name": row["final_name"], "description": row["final_description"],
            "conversations": row["conversations"], "unique_users": row["unique_users"],
            "share": row["conversations"] / total if total else 0.0,
            "mean_turns": stats.get("mean_turns") or 0.0, "concerning_mean": stats.get("concerning_mean"),
            "naming_method": methods.get(row["level"], ""), "heuristic": heuristic_at[min(row["level"], 1)],
            "x": stats.get("x"), "y": stats.get("y"), "spread": stats.get("spread"),
        })
    row_of = {row["cluster_id"]: index for index, row in enumerate(rows)}
    facet_counts = [FacetCount(row_of[node_id], facet, value, n, users) for node_id, facet, value, n, users
                    in facet_breakdowns(conversations, nodes, llm.custom_facets).iter_rows()]
    pooled = pool_small_values(facet_counts, pipeline.min_unique_users)
    facet_table = pa.table({
        "partition_date": pa.array([day] * len(pooled), pa.date32()),
        "cluster_id": [rows[f.cluster_id]["cluster_id"] for f in pooled],
        "facet": [f.facet for f in pooled], "value": [f.value for f in pooled],
        "conversations": pa.array([f.conversations for f in pooled], pa.int32()),
    })
    questions = pa.Table.from_pylist(
        [{"partition_date": day, "facet": f.name, "question": f.question, "type": f.type}
         for f in llm.custom_facets if f.published],
        schema=pa.schema([("partition_date", pa.date32()), ("facet", pa.string()), ("question", pa.string()),
                          ("type", pa.string())]))
    base_decisions = Counter(r["decision"] for r in audit if r["level"] == 0)
    generic = generic_shares(rows)
    summary = pa.Table.from_pylist([{
        "partition_date": day, "conversations": total,
        "clusters_total": sum(base_decisions.values()),
        "clusters_published": sum(1 for r in rows if r["level"] == 0),
        "suppressed_min_users": base_decisions["suppress_min_unique_users"],
        "suppressed_min_conversations": base_decisions["suppress_min_conversations"],
        "suppressed_audit": base_decisions["suppress_audit"],
        "published_generic_name": base_decisions["publish_generic_name"],
        "conversations_in_published": sum(r["conversations"] for r in rows if r["level"] == 0),
        "min_unique_users": pipeline.min_unique_users, "min_conversations": pipeline.min_conversations,
        "llm_backend": llm.written_by(), "embedding_model": embedder.model,
        "generic_share_by_level": [generic[level] for level in sorted(generic, key=int)],
    }])
    with warehouse.get().connect("public") as con:
        with transaction(con):
            replace_partition(con, "published_clusters", day, pa.Table.from_pylist(rows, schema=_CLUSTER_SCHEMA))
            replace_partition(con, "cluster_facets", day, facet_table)
            replace_partition(con, "facet_questions", day, questions)
            replace_partition(con, "partition_summaries", day, summary)
        checks = _run_checks(con, day, pipeline, audit, private_ids)

    per_level = Counter(r["level"] for r in rows)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "published_per_level": {str(k): v for k, v in sorted(per_level.items())},
            "decisions_base_level": dict(sorted(base_decisions.items())),
            "conversations": total,
            "heuristic_names": heuristic_at[0] and heuristic_at[1],
            "generic_name_share_by_level": generic,
            "preview": dg.MetadataValue.md(_preview(rows)),
        },
        check_results=checks,
    )


def _run_checks(con, day, pipeline: PipelineConfig, audit: list[dict], private_ids: list[str]) -> list[dg.AssetCheckResult]:
    """Re-read the public DB after the write and verify every rule independently of how it was written; the
    thresholds checked are the deployment's floors, whatever the run's config said."""
    violations = con.execute(
        load_sql("check_published_thresholds.sql"),
        {"day": day, "min_users": pipeline.floors.min_unique_users,
         "min_conversations": pipeline.floors.min_conversations},
    ).fetchall()
    public = con.execute("SELECT cluster_id, level, parent_id, name, description FROM published_clusters "
                         "WHERE partition_date = ? ORDER BY cluster_id", [day]).fetchall()
    passed = {(r["node_id"], r["final_name"], r["final_description"]) for r in audit
              if r["decision"] in ("publish", "publish_generic_name")}
    unaudited = [cid for cid, _, _, name, description in public if (cid, name, description) not in passed]
    levels = {cid: level for cid, level, *_ in public}
    broken = [cid for cid, level, parent, *_ in public if parent is not None and levels.get(parent, -1) <= level]
    public_text = "\n".join(
        " ".join(str(v) for v in row)
        for table in ("published_clusters", "cluster_facets", "partition_summaries", "facet_questions")
        for row in con.execute(f"SELECT * FROM {table} WHERE partition_date = ? ORDER BY ALL", [day]).fetchall()
    )
    leaked = count_substrings(public_text, private_ids)
    return [
        dg.AssetCheckResult(check_name=THRESHOLDS_HOLD, passed=not violations,
                            metadata={"violating_clusters": [v[0] for v in violations]}),
        dg.AssetCheckResult(check_name=NO_PRIVATE_IDENTIFIERS, passed=leaked == 0,
                            metadata={"identifiers_checked": len(private_ids), "identifiers_found": leaked}),
        dg.AssetCheckResult(check_name=AUDITED_NAMES_ONLY, passed=not unaudited,
                            metadata={"published": len(public), "not_passed_by_auditor": unaudited}),
        dg.AssetCheckResult(check_name=PUBLIC_TREE, passed=not broken, metadata={"broken_parent_links": broken}),
    ]
