"""The decorator every daily asset shares: partitioned by day, written through DuckDB, owned by the clio team."""

import functools
import random
from collections.abc import Callable

import dagster as dg

from clio_dagster.assets.reuse import code_version
from clio_dagster.partitions import daily_partitions
from clio_dagster.storage import WriteConflict

OWNERS = ["team:clio"]
# Op tag of the steps that load the embedding model: a deployment routes them to GPU nodes (executors.py, and
# deploy/k8s/values.yaml).
EMBEDS_TAG = "clio/embeds"
EMBEDS = {EMBEDS_TAG: "true"}


# A step whose lake commit lost to another run's (a write conflict) is run again this many times, after a
# random wait, before it fails.
WRITE_CONFLICT_RETRIES = 3


def retry_write_conflicts(compute: Callable) -> Callable:
    """`compute` that asks Dagster to run the step again when its commit lost a write conflict: its writes
    were rolled back, and every step writes by delete-then-insert, so running it again is safe."""

    @functools.wraps(compute)
    def step(*args, **kwargs):
        try:
            return compute(*args, **kwargs)
        except WriteConflict as exc:
            raise dg.RetryRequested(max_retries=WRITE_CONFLICT_RETRIES,
                                    seconds_to_wait=random.uniform(1.0, 5.0)) from exc

    return step


def daily_asset(*, group_name: str, kinds: set[str] | None = None, **kwargs) -> Callable[..., dg.AssetsDefinition]:
    """`dg.asset` for one day's partition; `kinds` defaults to DuckDB, the other arguments pass through. The
    code version is the code part of the reuse fingerprint, so the UI marks an asset whose code changed."""
    decorate = dg.asset(partitions_def=daily_partitions, group_name=group_name, kinds=kinds or {"duckdb"},
                        owners=OWNERS, code_version=code_version(), **kwargs)
    return lambda compute: decorate(retry_write_conflicts(compute))


def daily_graph_asset(*, group_name: str, kinds: set[str] | None = None,
                      **kwargs) -> Callable[..., dg.AssetsDefinition]:
    """`dg.graph_asset` for one day's partition, with the same defaults as `daily_asset`."""
    return dg.graph_asset(partitions_def=daily_partitions, group_name=group_name, kinds=kinds or {"duckdb"},
                          owners=OWNERS, code_version=code_version(), **kwargs)
