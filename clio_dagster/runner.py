"""Materialise daily partitions in this process: what `clio run`, `clio demo`, the evaluations and the safety
commands share (no CLI parsing here, so evaluations need not import the CLI)."""

from __future__ import annotations

import os
import sys
from datetime import date, timedelta

from clio_dagster.settings import ClioSettings, SettingsError


# Step-by-step DEBUG events belong in the Dagster UI; the terminal gets one line per partition.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _dates(start: date, end: date) -> list[date]:
    if end < start:
        raise SettingsError(f"--end {end} is before --start {start}.")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _instance():
    import dagster as dg

    # With DAGSTER_HOME set, runs are recorded there and show up in `dagster dev`.
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def _published_line(result) -> str:
    published = result.asset_materializations_for_node("published_clusters")
    rows = published[0].metadata["dagster/row_count"].value if published else 0
    return f"{rows} clusters published"


def run_partitions(settings: ClioSettings, days: list[date], out=None, assets=None, describe=_published_line) -> bool:
    """Materialise every daily asset (or `assets`) for each day, in order, in this process; `describe` turns a
    successful run into the rest of its line."""
    out = out or sys.stdout
    import dagster as dg

    from clio_dagster.assets import DAILY_ASSETS
    from clio_dagster.resources import build_resources

    resources = build_resources(settings)
    instance = _instance()
    ok = True
    for day in days:
        result = dg.materialize(
            DAILY_ASSETS if assets is None else assets,
            partition_key=day.isoformat(),
            resources=resources,
            instance=instance,
            raise_on_error=False,
            run_config=QUIET_RUN_CONFIG,
        )
        if result.success:
            print(f"{day}: ok, {describe(result)}", file=out)
        else:
            ok = False
            for event in result.all_events:
                if event.is_step_failure:
                    error = event.step_failure_data.error
                    message = error.cause.message if error and error.cause else (error.message if error else "")
                    print(f"{day}: FAILED in {event.step_key}: {message.strip()}", file=out)
    return ok
