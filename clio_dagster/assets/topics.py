"""topic_registry: stable topics across every published partition, their trends and emerging topics.

Unpartitioned: it reads ALL partitions of published_clusters from the public DB and rebuilds the three
public topic tables from scratch (core/topics.py processes days in date order), so the result does not
depend on the order in which partitions were materialised or backfilled. Topics are matched on public
data (embeddings of public names, cached in the private DB by model and text hash). Growth is measured on
private summary embeddings (a fixed sample per day) against each published cluster's centroid; only the
resulting shares, aggregates over clusters that passed the thresholds, reach the public DB.
"""


from collections import OrderedDict
from datetime import date, timedelta

import dagster as dg
import numpy as np
import polars as pl
import pyarrow as pa

from clio_dagster.assets.daily import EMBEDS, OWNERS
from clio_dagster.core.embedding_cache import embed_with_cache
from clio_dagster.core.vectors import arrow_to_vectors
from clio_dagster.assets.reuse import code_version
from clio_dagster.core.hashing import text_hash
from clio_dagster.core.topics import (
    DayCluster,
    DayClusters,
    Registry,
    match_topics,
    nearest_centroid_shares,
    published_base_nodes,
)
from clio_dagster.explorer.compare import (
    compare_windows,
    comparison_tables,
    parse_period,
    to_markdown,
    write_comparison,
)
from clio_dagster.explorer.render import index_data, write_index
from clio_dagster.resources import EmbedderResource, PipelineConfig, WarehouseResource
from clio_dagster.storage import load_sql, query_arrow, replace_comparison, replace_table, transaction

NO_EMERGING_TOPICS = "no_emerging_topics"
# Conversations per day whose nearest cluster is counted for growth: a share's standard error at this
# size is <= 0.7 percentage points, and the cost stays flat however large a day is.
GROWTH_SAMPLE = 5000

# Re-run whenever any day of published_clusters was (re)materialised since topic_registry's last
# request, once nothing upstream is still running. Unlike AutomationCondition.eager(), it does not wait
# for every daily partition since the partitions' start date to exist. Needs the default automation
# condition sensor switched on (Automation tab of the UI).
TOPIC_AUTOMATION = (
    dg.AutomationCondition.any_deps_updated().since(
        dg.AutomationCondition.newly_requested() | dg.AutomationCondition.newly_updated()
    )
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after_any_published_day")


def topic_text(name: str, description: str) -> str:
    return f"{name}: {description}"


def _embed_topics(texts: list[str], embedder: EmbedderResource, warehouse: WarehouseResource) -> tuple[np.ndarray, int]:
    result = embed_with_cache(texts, embedder.get(), warehouse.get())
    return result.matrix, result.encoded


def _conversation_shares(
    warehouse: WarehouseResource, published: list[tuple], window_days: int
) -> dict[tuple[date, str], tuple[float, tuple[tuple[date, float], ...]]]:
    """(day, cluster id) -> (share of the day's sampled conversations whose nearest base centroid is one of
    the cluster's published base clusters, the same share on each published day of the trailing window).
    Every base centroid of the day competes, suppressed ones included, so the regions stay tight.
    Empty when the private DB has no embeddings (core/topics.py then falls back to topic-level growth)."""
    levels_by_day: dict[date, dict[str, int]] = {}
    for row in published:
        levels_by_day.setdefault(row[0], {})[row[2]] = row[1]
    days = sorted(levels_by_day)
    samples: OrderedDict[date, np.ndarray] = OrderedDict()
    out: dict[tuple[date, str], tuple[float, tuple[tuple[date, float], ...]]] = {}
    with warehouse.get().connect("private") as con:
        if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'summary_embeddings'").fetchone()[0]:
            return {}

        def sample(day: date) -> np.ndarray:
            if day not in samples:
                column = query_arrow(con, load_sql("select_embedding_sample.sql"), [day, GROWTH_SAMPLE]).column(0)
                column = column.combine_chunks()
                samples[day] = arrow_to_vectors(column) if len(column) else np.zeros((0, 0))
                while len(samples) > window_days + 1:  # days are visited in order: older ones are not needed again
                    samples.popitem(last=False)
            return samples[day]

        for day in days:
            base = con.execute("SELECT cluster_id, centroid FROM base_clusters WHERE partition_date = ? ORDER BY 1",
                               [day]).fetchall()
            today = sample(day)
            if not base or not len(today):
                continue
            index = {f"b{cluster_id:05d}": i for i, (cluster_id, _) in enumerate(base)}
            centroids = np.array([centroid for _, centroid in base], dtype=np.float32)
            trailing = [(d, sample(d)) for d in days if day - timedelta(days=window_days) <= d < day]
            trailing = [(d, nearest_centroid_shares(centroids, s)) for d, s in trailing
                        if len(s) and s.shape[1] == centroids.shape[1]]
            nearest = nearest_centroid_shares(centroids, today)
            tree = dict(con.execute("SELECT node_id, parent_id FROM hierarchy_nodes WHERE partition_date = ? "
                                    "ORDER BY node_id", [day]).fetchall())
            for cluster_id, bases in published_base_nodes(tree, levels_by_day[day]).items():
                rows = [index[b] for b in bases if b in index]
                out[(day, cluster_id)] = (float(nearest[rows].sum()),
                                          tuple((d, float(shares[rows].sum())) for d, shares in trailing))
    return out


# The public tables of the registry: column → (the record's attribute, type); rows follow the records' order.
TOPICS_COLUMNS = {"topic_id": ("topic_id", pl.String), "level": ("level", pl.Int32),
                  "first_seen": ("first_seen", pl.Date), "last_seen": ("last_seen", pl.Date),
                  "days_seen": ("days_seen", pl.Int32), "latest_name": ("latest_name", pl.String),
                  "latest_description": ("latest_description", pl.String), "names": ("names", pl.List(pl.String))}
TOPIC_DAYS_COLUMNS = {"topic_id": ("topic_id", pl.String), "partition_date": ("day", pl.Date),
                      "cluster_id": ("cluster_id", pl.String), "name": ("name", pl.String),
                      "conversations": ("conversations", pl.Int32), "unique_users": ("users", pl.Int32),
                      "share": ("share", pl.Float64), "concerning_mean": ("concerning_mean", pl.Float64),
                      "similarity": ("similarity", pl.Float64), "growth": ("growth", pl.Float64),
                      "baseline_share": ("baseline_share", pl.Float64)}
EMERGING_COLUMNS = {"partition_date": ("day", pl.Date), "topic_id": ("topic_id", pl.String),
                    "level": ("level", pl.Int32), "name": ("name", pl.String), "reason": ("reason", pl.String),
                    "share": ("share", pl.Float64), "growth": ("growth", pl.Float64)}


def _frame(records: list, columns: dict[str, tuple[str, pl.DataType]]) -> pa.Table:
    data = {column: [getattr(r, attribute) for r in records] for column, (attribute, _) in columns.items()}
    return pl.DataFrame(data, schema={column: dtype for column, (_, dtype) in columns.items()}).to_arrow()


def _tables(registry: Registry) -> dict[str, pa.Table]:
    return {
        "topics": _frame(sorted(registry.topics.values(), key=lambda t: t.topic_id), TOPICS_COLUMNS),
        "topic_days": _frame(registry.topic_days, TOPIC_DAYS_COLUMNS),
        "emerging_topics": _frame(registry.emerging, EMERGING_COLUMNS),
    }


def _md(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def _preview(registry: Registry) -> str:
    if not registry.days:
        return "No published partitions yet."
    latest = registry.days[-1]
    rows = sorted((r for r in registry.topic_days if r.day == latest),
                  key=lambda r: (-(r.growth or 0.0), -r.share, r.topic_id))[:20]
    lines = [f"Topics on {latest} by growth (share / trailing mean share):", "",
             "| topic | level | name | share | growth |", "|---|---:|---|---:|---:|"]
    levels = {t.topic_id: t.level for t in registry.topics.values()}
    for r in rows:
        growth = "new" if r.growth is None else f"{r.growth:.2f}x"
        lines.append(f"| {r.topic_id} | {levels[r.topic_id]} | {_md(r.name)} | {r.share:.1%} | {growth} |")
    return "\n".join(lines)


@dg.asset(
    group_name="trends",
    kinds={"duckdb"},
    owners=OWNERS,
    code_version=code_version(),
    deps=["published_clusters"],
    op_tags=EMBEDS,
    automation_condition=TOPIC_AUTOMATION,
    check_specs=[
        dg.AssetCheckSpec(
            NO_EMERGING_TOPICS, asset="topic_registry",
            description="Warns when a topic emerged (new with share >= emerging_min_share, or growth > "
                        "emerging_growth_factor) in the partitions of the trailing window ending at the latest "
                        "published partition (topic_window_days). Metadata names the topics by public name.",
        ),
    ],
)
def topic_registry(
    context: dg.AssetExecutionContext,
    pipeline: PipelineConfig,
    embedder: EmbedderResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Stable topic ids across every published partition (one-to-one matching of each day's clusters to the
    topics so far, per level, on embeddings of their public names), shares and growth per day, and emerging
    topics. Rebuilt from all partitions each time: the same whatever order days were backfilled in."""
    with warehouse.get().connect("public") as con:
        published = con.execute(
            "SELECT partition_date, level, cluster_id, name, description, conversations, unique_users, share, "
            "concerning_mean FROM published_clusters ORDER BY partition_date, level, cluster_id"
        ).fetchall()
    vectors, encoded = _embed_topics([topic_text(r[3], r[4]) for r in published], embedder, warehouse)
    shares = _conversation_shares(warehouse, published, pipeline.topic_window_days)
    by_day: dict = {}
    for row, vector in zip(published, vectors):
        nearest, trailing = shares.get((row[0], row[2]), (None, None))
        by_day.setdefault(row[0], []).append(DayCluster(row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                                                        row[8], vector, nearest, trailing))
    registry = match_topics(
        [DayClusters(d, cs) for d, cs in sorted(by_day.items())],
        threshold=pipeline.topic_match_threshold, window_days=pipeline.topic_window_days,
        min_share=pipeline.emerging_min_share, growth_factor=pipeline.emerging_growth_factor,
    )
    tables = _tables(registry)
    with warehouse.get().connect("public") as con:
        with transaction(con):
            for name, table in tables.items():
                replace_table(con, name, table)
        index = write_index(index_data(con), warehouse.explorer_dir)  # its topics table follows stable ids

    latest = registry.days[-1] if registry.days else None
    recent = [e for e in registry.emerging
              if latest is not None and e.day > latest - timedelta(days=pipeline.topic_window_days)]
    check = dg.AssetCheckResult(
        check_name=NO_EMERGING_TOPICS,
        passed=not recent,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "latest_partition": str(latest) if latest else None,
            "window_days": pipeline.topic_window_days,
            "emerging": [f"{e.day} {e.topic_id} {e.name} ({e.reason}, share {e.share:.1%}"
                         + (f", growth {e.growth:.2f}x)" if e.growth is not None else ")") for e in recent],
            "emerging_in_latest_partition": sum(1 for e in recent if e.day == latest),
        },
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(registry.topics),
            "topics": len(registry.topics),
            "days": len(registry.days),
            "topic_days": len(registry.topic_days),
            "emerging": len(registry.emerging),
            "emerging_recent": len(recent),
            "names_encoded": encoded,
            "names_cached": len({text_hash(topic_text(r[3], r[4])) for r in published}) - encoded,
            "preview": dg.MetadataValue.md(_preview(registry)),
            "explorer_index": dg.MetadataValue.path(str(index)),
        },
        check_results=[check],
    )


class TopicWindows(dg.Config):
    """Two date windows around an event, each `YYYY-MM-DD..YYYY-MM-DD` (both days included)."""

    before: str
    after: str
    factor: float = 1.5  # mean-share ratio that counts as growing or shrinking


@dg.asset(
    group_name="trends",
    kinds={"duckdb", "html"},
    owners=OWNERS,
    code_version=code_version(),
    deps=["topic_registry"],
)
def topic_changes(context: dg.AssetExecutionContext, config: TopicWindows, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Topics that appear, vanish, grow or shrink between two windows (launch it with the windows as run config,
    or `clio compare`). Stored per comparison in the public DB (topic_comparisons, topic_changes), written as
    Markdown and as an explorer page, and listed in the explorer index. Public topic tables only."""
    try:
        before, after = parse_period(config.before), parse_period(config.after)
    except ValueError as exc:
        raise dg.Failure(f"topic_changes: {exc}") from None
    with warehouse.get().connect("public") as con:
        comparison = compare_windows(con, before, after, config.factor)
        with transaction(con):
            for name, table in comparison_tables(comparison).items():
                replace_comparison(con, name, comparison.key, table)
        markdown, page = write_comparison(comparison, warehouse.explorer_dir)
        index = write_index(index_data(con), warehouse.explorer_dir)
    kinds = {kind: sum(1 for c in comparison.changes if c.kind == kind) for kind in ("appears", "vanishes", "grows", "shrinks")}
    return dg.MaterializeResult(metadata={
        "comparison": comparison.key,
        "days_before": comparison.days_before,
        "days_after": comparison.days_after,
        **kinds,
        "dagster/row_count": len(comparison.changes),
        "report": dg.MetadataValue.md(to_markdown(comparison)),
        "markdown": dg.MetadataValue.path(str(markdown)),
        "page": dg.MetadataValue.path(str(page)),
        "explorer_index": dg.MetadataValue.path(str(index)),
    })
