"""A step whose lake commit lost to another run's (two days written at once) runs again instead of failing the
run: its writes were rolled back and every step writes by delete-then-insert."""

import dagster as dg
import duckdb

from clio_dagster.assets.daily import WRITE_CONFLICT_RETRIES, daily_asset
from clio_dagster.storage import WarehouseError, WriteConflict


def _flaky_asset(conflicts: int, attempts: list) -> dg.AssetsDefinition:
    @daily_asset(group_name="test")
    def flaky(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        attempts.append(context.retry_number)
        if len(attempts) <= conflicts:
            raise WriteConflict("Another writer changed the private lake at the same time.")
        return dg.MaterializeResult(metadata={"attempts": len(attempts)})

    return flaky


def test_a_step_that_lost_a_write_conflict_runs_again(monkeypatch):
    monkeypatch.setattr("clio_dagster.assets.daily.random.uniform", lambda low, high: 0.0)
    attempts: list[int] = []
    result = dg.materialize([_flaky_asset(2, attempts)], partition_key="2023-02-05")
    assert result.success and attempts == [0, 1, 2]


def test_a_conflict_that_persists_fails_the_step_after_the_retries(monkeypatch):
    monkeypatch.setattr("clio_dagster.assets.daily.random.uniform", lambda low, high: 0.0)
    attempts: list[int] = []
    result = dg.materialize([_flaky_asset(99, attempts)], partition_key="2023-02-05", raise_on_error=False)
    assert not result.success and len(attempts) == WRITE_CONFLICT_RETRIES + 1


def test_other_errors_are_not_retried():
    attempts: list[int] = []

    @daily_asset(group_name="test")
    def broken(context: dg.AssetExecutionContext) -> None:
        attempts.append(context.retry_number)
        raise WarehouseError("Disk full while writing the private DB.")

    assert not dg.materialize([broken], partition_key="2023-02-05", raise_on_error=False).success
    assert attempts == [0]


def test_a_ducklake_commit_conflict_is_a_write_conflict():
    from clio_dagster.lake import LakeLocation, _explain

    location = LakeLocation(catalog="dbname=clio_private host=/tmp/pg", data_path="/tmp/lake/")
    error = _explain("private", location, duckdb.TransactionException(
        "TransactionContext Error: Failed to commit: Failed to commit DuckLake transaction: conflict"))
    assert isinstance(error, WriteConflict) and "at the same time" in str(error)
