"""Another process holding a warehouse file: clio waits (bounded by lock_timeout_s) for another clio run,
fails at once with a clear message for any other program, and the file is never corrupted, even when the
holder dies in the middle of a write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from clio_dagster.storage import Warehouse, WarehouseError, replace_partition, transaction

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2024, 1, 1)


def _stats(day: date, n: int) -> pa.Table:
    return pa.table({"partition_date": pa.array([day], pa.date32()), "records_in": [n], "accepted": [n],
                     "quarantined": [0], "files_read": [1]})


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    warehouse = Warehouse(tmp_path / "home" / "private.duckdb", tmp_path / "home" / "public.duckdb", lock_timeout_s=1)
    with warehouse.connect("private") as con, transaction(con):
        replace_partition(con, "ingest_stats", DAY, _stats(DAY, 5))
    return warehouse


def _holder(code: str) -> subprocess.Popen:
    """A second Python process running `code`; it prints 'ready' once it holds what it holds."""
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=ROOT)
    line = holder.stdout.readline().strip()
    if line != "ready":
        holder.kill()
        raise AssertionError(f"holder did not start: {line!r} {holder.stderr.read()}")
    return holder


def _stop(holder: subprocess.Popen) -> None:
    if holder.poll() is None:
        holder.kill()
    holder.wait()
    holder.stdout.close()
    holder.stderr.close()


def _intact(warehouse: Warehouse) -> list:
    """Every private table readable and a checkpoint possible; returns ingest_stats."""
    with warehouse.connect("private") as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY 1").fetchall()]
        for table in tables:
            con.execute(f"SELECT * FROM {table}").fetchall()
        con.execute("CHECKPOINT")
        return con.execute("SELECT partition_date, records_in FROM ingest_stats ORDER BY ALL").fetchall()


@pytest.mark.parametrize("read_only", [False, True], ids=["read-write", "read-only"])
def test_file_open_in_another_program_fails_clearly_and_stays_intact(warehouse, read_only):
    path = warehouse.paths["private"]
    holder = _holder(
        f"import duckdb, time; con = duckdb.connect({str(path)!r}, read_only={read_only}); "
        "con.execute('SELECT count(*) FROM ingest_stats').fetchall(); print('ready', flush=True); time.sleep(60)"
    )
    try:
        with pytest.raises(WarehouseError) as raised:
            with warehouse.connect("private"):
                pass
        message = str(raised.value)
        assert str(path) in message
        assert f"held by process {holder.pid}" in message
        assert "Close any DuckDB shell" in message
    finally:
        _stop(holder)
    assert _intact(warehouse) == [(DAY, 5)]


def test_another_clio_run_is_waited_for_up_to_the_timeout_then_named(warehouse):
    path = warehouse.paths["private"]
    holder = _holder(
        "import time; from clio_dagster.storage import Warehouse; "
        f"w = Warehouse({str(path)!r}, {str(warehouse.paths['public'])!r}); "
        "cm = w.connect('private'); cm.__enter__(); print('ready', flush=True); time.sleep(60)"
    )
    try:
        started = time.monotonic()
        with pytest.raises(WarehouseError) as raised:
            with warehouse.connect("private"):
                pass
        waited = time.monotonic() - started
    finally:
        _stop(holder)
    message = str(raised.value)
    assert str(path) in message and "CLIO_LOCK_TIMEOUT_S" in message
    assert waited >= warehouse.lock_timeout_s  # it waited the configured time before giving up
    assert _intact(warehouse) == [(DAY, 5)]


def test_a_run_that_releases_in_time_is_waited_for(warehouse):
    path = warehouse.paths["private"]
    patient = Warehouse(path, warehouse.paths["public"], lock_timeout_s=60)
    holder = _holder(
        "import time; from datetime import date; import pyarrow as pa; "
        "from clio_dagster.storage import Warehouse, replace_partition, transaction; "
        f"w = Warehouse({str(path)!r}, {str(warehouse.paths['public'])!r}); "
        "d = date(2024, 1, 2); "
        "t = pa.table({'partition_date': pa.array([d], pa.date32()), 'records_in': [7], 'accepted': [7], "
        "'quarantined': [0], 'files_read': [1]}); "
        "cm = w.connect('private'); con = cm.__enter__(); print('ready', flush=True); time.sleep(1.5); "
        "con.execute('BEGIN TRANSACTION'); replace_partition(con, 'ingest_stats', d, t); con.execute('COMMIT'); "
        "released = time.time(); cm.__exit__(None, None, None); print(released, flush=True)"
    )
    try:
        with patient.connect("private") as con:
            entered = time.time()
            rows = con.execute("SELECT partition_date, records_in FROM ingest_stats ORDER BY ALL").fetchall()
        released = float(holder.stdout.readline())
    finally:
        _stop(holder)
    assert entered >= released  # it got in only after the other run let go ...
    assert rows == [(DAY, 5), (date(2024, 1, 2), 7)]  # ... and sees everything that run committed


def test_a_writer_killed_mid_transaction_leaves_only_committed_rows(warehouse):
    path = warehouse.paths["private"]
    holder = _holder(
        "import time; from datetime import date; import pyarrow as pa; "
        "from clio_dagster.storage import Warehouse, replace_partition; "
        f"w = Warehouse({str(path)!r}, {str(warehouse.paths['public'])!r}); "
        "cm = w.connect('private'); con = cm.__enter__(); con.execute('BEGIN TRANSACTION'); "
        "con.execute('DELETE FROM ingest_stats'); "
        "d = date(2024, 1, 3); "
        "rows = pa.table({'partition_date': pa.array([d] * 200000, pa.date32()), 'records_in': list(range(200000)), "
        "'accepted': [1] * 200000, 'quarantined': [0] * 200000, 'files_read': [1] * 200000}); "
        "replace_partition(con, 'ingest_stats', d, rows); print('ready', flush=True); time.sleep(60)"
    )
    os.kill(holder.pid, signal.SIGKILL)
    _stop(holder)
    # The dead process's locks are gone with it: the next run gets in (well within its timeout) and finds
    # the file as it was before the uncommitted transaction.
    assert _intact(warehouse) == [(DAY, 5)]
