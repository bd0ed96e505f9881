"""The decorator every daily asset shares: partitioned by day, written through DuckDB, owned by the clio team."""

from collections.abc import Callable

import dagster as dg

from clio_dagster.assets.reuse import code_version
from clio_dagster.partitions import daily_partitions

OWNERS = ["team:clio"]
# Op tag of the steps that load the embedding model: a deployment routes them to GPU nodes (executors.py, and
# deploy/k8s/values.yaml).
EMBEDS_TAG = "clio/embeds"
EMBEDS = {EMBEDS_TAG: "true"}


def daily_asset(*, group_name: str, kinds: set[str] | None = None, **kwargs) -> Callable[..., dg.AssetsDefinition]:
    """`dg.asset` for one day's partition; `kinds` defaults to DuckDB, the other arguments pass through. The
    code version is the code part of the reuse fingerprint, so the UI marks an asset whose code changed."""
    return dg.asset(partitions_def=daily_partitions, group_name=group_name, kinds=kinds or {"duckdb"},
                    owners=OWNERS, code_version=code_version(), **kwargs)


def daily_graph_asset(*, group_name: str, kinds: set[str] | None = None,
                      **kwargs) -> Callable[..., dg.AssetsDefinition]:
    """`dg.graph_asset` for one day's partition, with the same defaults as `daily_asset`."""
    return dg.graph_asset(partitions_def=daily_partitions, group_name=group_name, kinds=kinds or {"duckdb"},
                          owners=OWNERS, code_version=code_version(), **kwargs)
