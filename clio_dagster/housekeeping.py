"""Lake housekeeping as a scheduled Dagster job (lake storage only): every partition replace leaves its old
Parquet files in the lake until snapshots expire and the files no snapshot needs are deleted."""

import dagster as dg

from clio_dagster.lake import LakeWarehouse, housekeep
from clio_dagster.resources import WarehouseResource

HOUSEKEEPING_HOUR_UTC = 4  # after the daily run (DAILY_RUN_HOUR_UTC) has written yesterday's partition


class HousekeepingConfig(dg.Config):
    # ClioSettings.lake_retention_days: how far back time travel reaches; older snapshots are expired.
    retention_days: int = 7


@dg.op(pool="lake_housekeeping")
def lake_housekeeping_op(context: dg.OpExecutionContext, config: HousekeepingConfig,
                         warehouse: WarehouseResource) -> dg.Output[None]:
    """Merge adjacent files, expire snapshots older than the retention, delete unreferenced files: both lakes."""
    store = warehouse.get()
    if not isinstance(store, LakeWarehouse):
        raise dg.Failure("Lake housekeeping needs CLIO_STORAGE=ducklake; local DuckDB files need none.")
    metadata: dict[str, int] = {"retention_days": config.retention_days}
    for database in ("private", "public"):
        done = housekeep(store, database, config.retention_days)
        metadata.update({f"{database}_files_before": done.before.files, f"{database}_files_after": done.after.files,
                         f"{database}_bytes_before": done.before.bytes, f"{database}_bytes_after": done.after.bytes})
        context.log.info(done.summary())
    return dg.Output(None, metadata=metadata)


def housekeeping_definitions(retention_days: int) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    job = dg.GraphDefinition(name="lake_housekeeping", node_defs=[lake_housekeeping_op]).to_job(
        description="Lake housekeeping: merge small files, expire old snapshots, delete unreferenced files.",
        config={"ops": {"lake_housekeeping_op": {"config": {"retention_days": retention_days}}}},
    )
    schedule = dg.ScheduleDefinition(job=job, cron_schedule=f"0 {HOUSEKEEPING_HOUR_UTC} * * *",
                                      execution_timezone="UTC")
    return job, schedule
