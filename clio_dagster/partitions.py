"""The one partitioning of the product: UTC days of the conversation timestamp."""

import dagster as dg

from clio_dagster.settings import load_settings

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=load_settings().partitions_start.isoformat(), timezone="UTC"
)

# Daily runs start at 01:00 UTC for the day that just ended (the schedule and the automation condition).
DAILY_RUN_HOUR_UTC = 1
DAILY_RUN_CRON = f"0 {DAILY_RUN_HOUR_UTC} * * *"
