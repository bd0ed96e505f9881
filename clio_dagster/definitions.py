"""The code location: `dagster dev -w workspace.yaml`, `dg check defs` and `clio` all load `defs`."""

import dagster as dg

from clio_dagster.assets import DAILY_ASSETS, safety_job_assets, safety_mode_assets, topic_changes, topic_registry
from clio_dagster.assets.daily import EMBEDS_TAG
from clio_dagster.assets.shards import with_day_shards
from clio_dagster.executors import executor_for, tagged_steps
from clio_dagster.housekeeping import housekeeping_definitions
from clio_dagster.partitions import DAILY_RUN_HOUR_UTC
from clio_dagster.resources import build_resources
from clio_dagster.settings import load_settings

settings = load_settings()
# With CLIO_DAY_SHARDS >= 2, facets and summary_embeddings fan a day out over the workers (same asset keys).
daily_assets = with_day_shards(DAILY_ASSETS, settings.day_shards, "llm" if settings.uses_llm else None)

daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.assets(*DAILY_ASSETS),
    description="Every daily asset of one partition, ingest to publish.",
)
safety_job = dg.define_asset_job(
    "safety_job",
    selection=dg.AssetSelection.assets(*safety_job_assets(settings.campaign_window_days)),
    description="Safety mode (Clio §4): ingest to hierarchy, then every cluster without thresholds or auditor and "
                "the coordinated-use signals and campaigns, private DB only. Refused unless CLIO_SAFETY_MODE and "
                "CLIO_SAFETY_OPERATOR are set.",
)

# Runs shortly after midnight UTC for the day that just ended (yesterday's partition). The daily assets'
# automation conditions do the same through the automation sensor: switch on one of the two.
daily_schedule = dg.build_schedule_from_partitioned_job(daily_job, hour_of_day=DAILY_RUN_HOUR_UTC, minute_of_hour=0)

# Lake storage keeps every replaced partition's old files until housekeeping expires and deletes them.
housekeeping_job, housekeeping_schedule = housekeeping_definitions(settings.lake_retention_days)
lake_mode = settings.storage == "ducklake"
embedding_steps = sorted(step for asset in [*daily_assets, topic_registry] for step in tagged_steps(asset, EMBEDS_TAG))

defs = dg.Definitions(
    # topic_registry is unpartitioned: it runs through its automation condition (once the automation
    # sensor is on) or by hand / `clio topics`, never inside daily_job.
    assets=[*daily_assets, topic_registry, topic_changes, *safety_mode_assets(settings.campaign_window_days)],
    jobs=[daily_job, safety_job, *([housekeeping_job] if lake_mode else [])],
    schedules=[daily_schedule, *([housekeeping_schedule] if lake_mode else [])],
    resources=build_resources(settings),
    executor=executor_for(settings, embedding_steps),
)
