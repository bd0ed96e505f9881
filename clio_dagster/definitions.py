"""The code location: `dagster dev -w workspace.yaml`, `dg check defs` and `clio` all load `defs`."""

import dagster as dg

from clio_dagster.assets import DAILY_ASSETS, topic_registry
from clio_dagster.resources import build_resources

daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.assets(*DAILY_ASSETS),
    description="Every daily asset of one partition, ingest to publish.",
)

# Runs shortly after midnight UTC for the day that just ended (yesterday's partition).
daily_schedule = dg.build_schedule_from_partitioned_job(daily_job, hour_of_day=1, minute_of_hour=0)

defs = dg.Definitions(
    # topic_registry is unpartitioned: it runs through its automation condition (once the automation
    # sensor is on) or by hand / `clio topics`, never inside daily_job.
    assets=[*DAILY_ASSETS, topic_registry],
    jobs=[daily_job],
    schedules=[daily_schedule],
    resources=build_resources(),
    # One process: DuckDB takes one writer per file, and the embedding model loads once.
    executor=dg.in_process_executor,
)
