"""The code location: `dagster dev -w workspace.yaml`, `dg check defs` and `clio` all load `defs`."""

import dagster as dg

from clio_dagster.assets import DAILY_ASSETS, SAFETY_JOB_ASSETS, SAFETY_MODE_ASSETS, topic_changes, topic_registry
from clio_dagster.partitions import DAILY_RUN_HOUR_UTC
from clio_dagster.resources import build_resources

daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.assets(*DAILY_ASSETS),
    description="Every daily asset of one partition, ingest to publish.",
)
safety_job = dg.define_asset_job(
    "safety_job",
    selection=dg.AssetSelection.assets(*SAFETY_JOB_ASSETS),
    description="Safety mode (Clio §4): ingest to hierarchy, then every cluster without thresholds or auditor and "
                "the coordinated-use signals, private DB only. Refused unless CLIO_SAFETY_MODE and "
                "CLIO_SAFETY_OPERATOR are set.",
)

# Runs shortly after midnight UTC for the day that just ended (yesterday's partition). The daily assets'
# automation conditions do the same through the automation sensor: switch on one of the two.
daily_schedule = dg.build_schedule_from_partitioned_job(daily_job, hour_of_day=DAILY_RUN_HOUR_UTC, minute_of_hour=0)

defs = dg.Definitions(
    # topic_registry is unpartitioned: it runs through its automation condition (once the automation
    # sensor is on) or by hand / `clio topics`, never inside daily_job.
    assets=[*DAILY_ASSETS, topic_registry, topic_changes, *SAFETY_MODE_ASSETS],
    jobs=[daily_job, safety_job],
    schedules=[daily_schedule],
    resources=build_resources(),
    # One process: DuckDB takes one writer per file, and the embedding model loads once.
    executor=dg.in_process_executor,
)
