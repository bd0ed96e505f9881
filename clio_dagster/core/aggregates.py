"""What the public DB says about each published node, computed with polars over the clustered conversations:
counts, mean turns, mean concern, the node's position and spread on the map, and its facet breakdowns (the
value counts and distinct users, which `core.privacy.pool_small_values` then pools).

A base node holds its own cluster's conversations; a parent holds those of its published children, so a
parent never counts a conversation whose own cluster was suppressed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from clio_dagster.core.custom_facets import CustomFacet
from clio_dagster.core.membership import members_by_node

# The facets broken down per published node, in the order they are written.
BREAKDOWN_FACETS = ("language", "turns", "concerning")
# Columns of the clustered conversations (select_published_members.sql).
MEMBER_COLUMNS = ("cluster_id", "user_hash", "language", "n_turns", "concerning", "x", "y", "custom_facets")


def node_clusters(levels: Mapping[str, int], parent_of: Mapping[str, str | None]) -> pl.DataFrame:
    """(node_id, cluster_id) for every published node (`levels`: node id → level; base ids are "b00042"),
    through published nodes only: a published node's clusters climb to its parent, an unpublished one's don't."""
    clusters = members_by_node({node_id: [int(node_id[1:])] for node_id, level in levels.items() if level == 0},
                               {node_id: parent_of.get(node_id) for node_id in levels})
    pairs = [(node_id, cluster_id) for node_id, ids in sorted(clusters.items()) if node_id in levels
             for cluster_id in ids]
    return pl.DataFrame(pairs, schema={"node_id": pl.String, "cluster_id": pl.Int64}, orient="row")


def _turns_bucket(turns: pl.Expr) -> pl.Expr:
    return (pl.when(turns <= 2).then(pl.lit("1-2")).when(turns <= 4).then(pl.lit("3-4"))
            .when(turns <= 8).then(pl.lit("5-8")).otherwise(pl.lit("9+")))


def _numbered(conversations: pl.DataFrame) -> pl.LazyFrame:
    return conversations.lazy().with_columns(pl.col("cluster_id").cast(pl.Int64)).with_row_index("row")


def _members(conversations: pl.DataFrame, nodes: pl.DataFrame) -> pl.LazyFrame:
    return nodes.lazy().join(_numbered(conversations), on="cluster_id", how="inner")


def node_statistics(conversations: pl.DataFrame, nodes: pl.DataFrame) -> dict[str, dict]:
    """node id → mean_turns, concerning_mean (None where nothing was scored), x, y and spread (None unless
    every member has a map point). Members are taken in input order and the floats averaged by numpy, node by
    node: polars' grouped float sums are split across threads and differ in their last digits between runs,
    and the public DB must be the same bytes every time."""
    joined = (nodes.lazy().join(_numbered(conversations), on="cluster_id", how="inner")
              .sort("node_id", "row").collect())
    counts = joined.group_by("node_id", maintain_order=True).agg(
        mean_turns=pl.col("n_turns").cast(pl.Float64).mean(),  # integers: exact sums, whatever the order
        concerning_mean=pl.col("concerning").cast(pl.Float64).mean(),
        members=pl.len(),
    )
    points = joined.select(pl.col("x").cast(pl.Float64), pl.col("y").cast(pl.Float64)).to_numpy()
    statistics: dict[str, dict] = {}
    start = 0
    for node_id, mean_turns, concerning_mean, members in counts.iter_rows():
        xy = points[start:start + members]
        start += members
        complete = not np.isnan(xy).any()
        centre = xy.mean(axis=0) if complete else None
        statistics[node_id] = {
            "mean_turns": mean_turns, "concerning_mean": concerning_mean,
            "x": float(centre[0]) if complete else None, "y": float(centre[1]) if complete else None,
            "spread": float(np.sqrt(((xy - centre) ** 2).sum(axis=1).mean())) if complete else None,
        }
    return statistics


def facet_breakdowns(conversations: pl.DataFrame, nodes: pl.DataFrame,
                     custom: Sequence[CustomFacet] = ()) -> pl.DataFrame:
    """(node_id, facet, value, conversations, users) per published node and facet value; conversations
    without a value (no concern score offline, no answer to a custom facet) are left out. Custom facets count
    under their own name, published ones only (never an open one). Sorted by node, facet (BREAKDOWN_FACETS
    order, then the custom facets in definition order) and value."""
    published = [f.name for f in custom if f.published]
    answers = {name: pl.col("custom_facets").str.json_path_match(f"$.{name}") for name in published}
    values = _members(conversations, nodes).select(
        "node_id", "user_hash",
        language=pl.col("language").cast(pl.String),
        turns=_turns_bucket(pl.col("n_turns")),
        concerning=pl.col("concerning").cast(pl.String),
        **answers,
    )
    names = list(BREAKDOWN_FACETS) + published
    long = values.unpivot(index=["node_id", "user_hash"], on=names, variable_name="facet")
    order = pl.col("facet").replace_strict(names, list(range(len(names))))
    return (long.drop_nulls("value").group_by("node_id", "facet", "value")
            .agg(conversations=pl.len(), users=pl.col("user_hash").n_unique())
            .sort("node_id", order, "value").collect())


__all__ = ["BREAKDOWN_FACETS", "MEMBER_COLUMNS", "facet_breakdowns", "node_clusters", "node_statistics"]
