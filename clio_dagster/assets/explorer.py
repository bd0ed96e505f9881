"""explorer: the day's static explorer page and the index, from the public DB only."""

from contextlib import nullcontext

import dagster as dg

from clio_dagster.assets.daily import daily_asset
from clio_dagster.explorer.render import build_index, connect_public, partition_data, write_partition_page
from clio_dagster.resources import WarehouseResource, partition_date
from clio_dagster.resources.safety import SafetyConfig
from clio_dagster.storage import writers_paused


@daily_asset(
    group_name="explore",
    kinds={"html"},
    # after classifier_comparison, so the index links that day's report
    deps=["published_clusters", "classifier_comparison"],
)
def explorer(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, safety: SafetyConfig
) -> dg.MaterializeResult:
    """A self-contained HTML page for the partition (tree, map, facet and time breakdowns) and the index of
    all partitions, in CLIO_HOME/explorer. Reads only the public DB (or lake), read-only."""
    day = partition_date(context)
    out_dir = warehouse.explorer_dir
    source = warehouse.public_source()
    local = warehouse.storage != "ducklake"
    with writers_paused(warehouse.public_db, warehouse.lock_timeout_s) if local else nullcontext():
        con = connect_public(source)
        try:
            data = partition_data(con, day, safety.concern_floor)
        finally:
            con.close()
        page = write_partition_page(data, out_dir)
        index = build_index(source, out_dir)
    n = len(data["clusters"])
    return dg.MaterializeResult(
        metadata={
            "page": dg.MetadataValue.path(str(page)),
            "index": dg.MetadataValue.path(str(index)),
            "clusters": n,
            "dagster/row_count": n,
            "page_bytes": page.stat().st_size,
        }
    )
