"""classifier_comparison: an external safety classifier's flag rate against Clio's concern, per published cluster."""

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow as pa

from clio_dagster.assets.daily import daily_asset
from clio_dagster.core.classifier import (
    LIKELY_FALSE_NEGATIVE,
    LIKELY_FALSE_POSITIVE,
    classifier_score,
    compare_clusters,
    correlation,
    json_path,
    render_report,
)
from clio_dagster.core.aggregates import node_clusters
from clio_dagster.resources import PipelineConfig, WarehouseResource, partition_date
from clio_dagster.resources.safety import SafetyConfig
from clio_dagster.storage import load_sql, query_arrow, replace_partition, transaction

_CLUSTER_SCHEMA = pa.schema([
    ("partition_date", pa.date32()), ("cluster_id", pa.string()), ("level", pa.int32()),
    ("conversations_scored", pa.int32()), ("flag_rate", pa.float64()), ("score_mean", pa.float64()),
    ("concerning_mean", pa.float64()), ("disagreement", pa.float64()), ("verdict", pa.string()),
])
_SUMMARY_SCHEMA = pa.schema([
    ("partition_date", pa.date32()), ("level", pa.int32()), ("classifier_field", pa.string()),
    ("flag_threshold", pa.float64()), ("clusters", pa.int32()), ("conversations_scored", pa.int32()),
    ("pearson_r", pa.float64()),
])


def report_path(explorer_dir: Path, day) -> Path:
    """The Markdown report sits with the explorer pages: public aggregates only."""
    return Path(explorer_dir) / f"classifier_{day.isoformat()}.md"


@daily_asset(
    group_name="safety",
    deps=["published_clusters"],
)
def classifier_comparison(
    context: dg.AssetExecutionContext, pipeline: PipelineConfig, safety: SafetyConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Where input records carry an external safety classifier's flag or score (metadata field
    CLIO_CLASSIFIER_FIELD), its flag rate per published cluster against the mean concern, the Pearson r over
    clusters per level, and the clusters where they disagree most (likely false positives / negatives), as
    public tables and a Markdown report. Without the field configured it writes nothing for the day."""
    day = partition_date(context)
    store = warehouse.get()
    field = safety.classifier_field
    with store.connect("public") as con:
        published = pl.from_arrow(query_arrow(
            con, "SELECT cluster_id, level, parent_id, name, heuristic FROM published_clusters "
            "WHERE partition_date = ? ORDER BY level, cluster_id", [day]))
    inputs = pl.DataFrame(schema={"cluster_id": pl.Int64, "user_hash": pl.String, "concerning": pl.Int64,
                                  "classifier_value": pl.String})
    if field and not published.is_empty():
        with store.connect("private") as con:
            inputs = pl.from_arrow(query_arrow(con, load_sql("select_classifier_inputs.sql"), [json_path(field), day]))
            inputs = inputs.with_columns(pl.col("cluster_id").cast(pl.Int64))

    level_of = dict(zip(published["cluster_id"], published["level"]))
    # Public tree only: a published node covers the conversations of its published descendants.
    nodes = node_clusters(level_of, dict(zip(published["cluster_id"], published["parent_id"])))
    scores = [None if raw is None else classifier_score(json.loads(raw)) for raw in inputs["classifier_value"]]
    scored = (inputs.with_columns(score=pl.Series(scores, dtype=pl.Float64))
              .join(nodes, on="cluster_id", how="inner")
              .select(cluster_id="node_id", account="user_hash", score="score",
                      concerning=pl.col("concerning").cast(pl.Int64)))
    comparisons = compare_clusters(scored, safety.classifier_flag_threshold, pipeline.min_conversations,
                                   pipeline.min_unique_users)
    by_level: dict[int, list] = {level: [] for level in sorted(set(level_of.values()))} if field else {}
    for comparison in comparisons:
        by_level[level_of[comparison.cluster_id]].append(comparison)

    cluster_rows = [{
        "partition_date": day, "cluster_id": c.cluster_id, "level": level_of[c.cluster_id],
        "conversations_scored": c.conversations_scored, "flag_rate": c.flag_rate, "score_mean": c.score_mean,
        "concerning_mean": c.concerning_mean, "disagreement": c.disagreement, "verdict": c.verdict,
    } for c in comparisons]
    summary_rows = [{
        "partition_date": day, "level": level, "classifier_field": field,
        "flag_threshold": safety.classifier_flag_threshold, "clusters": len(found),
        "conversations_scored": sum(c.conversations_scored for c in found),
        "pearson_r": correlation(found),
    } for level, found in by_level.items()]
    with store.connect("public") as con, transaction(con):
        replace_partition(con, "cluster_classifier", day, pa.Table.from_pylist(cluster_rows, schema=_CLUSTER_SCHEMA))
        replace_partition(con, "classifier_summary", day, pa.Table.from_pylist(summary_rows, schema=_SUMMARY_SCHEMA))

    path = report_path(warehouse.explorer_dir, day)
    metadata: dict = {"classifier_field": field or "(not configured: set CLIO_CLASSIFIER_FIELD)"}
    if field:
        names = dict(zip(published["cluster_id"], published["name"]))
        heuristic = bool(published["heuristic"].any())
        report = render_report(day.isoformat(), field, safety.classifier_flag_threshold, by_level, names, heuristic)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report + "\n", encoding="utf-8")
        metadata.update({
            "report": dg.MetadataValue.path(str(path)),
            "preview": dg.MetadataValue.md(report),
            "conversations_with_field": sum(score is not None for score in scores),
            "pearson_r_per_level": {str(r["level"]): r["pearson_r"] for r in summary_rows},
            "likely_false_positives": sum(c.verdict == LIKELY_FALSE_POSITIVE for c in comparisons),
            "likely_false_negatives": sum(c.verdict == LIKELY_FALSE_NEGATIVE for c in comparisons),
        })
    elif path.exists():
        path.unlink()  # a report from an earlier configuration would no longer match the tables
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(cluster_rows), **metadata,
    })
