"""The one partitioning of the product: UTC days of the conversation timestamp."""

import dagster as dg

from clio_dagster.settings import load_settings

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=load_settings().partitions_start.isoformat(), timezone="UTC"
)
