import os
import stat
import subprocess
import sys
from datetime import date

import pyarrow as pa
import pytest

from clio_dagster.storage import Warehouse, WarehouseError, ensure_embedding_table, replace_partition, transaction


@pytest.fixture
def warehouse(tmp_path):
    return Warehouse(tmp_path / "home" / "private.duckdb", tmp_path / "home" / "public.duckdb", lock_timeout_s=5)


def _stats(day, n):
    return pa.table({"partition_date": pa.array([day], pa.date32()), "records_in": [n], "accepted": [n],
                     "quarantined": [0], "files_read": [1]})


def test_schema_created_idempotently_and_private_file_owner_only(warehouse):
    for _ in range(2):
        with warehouse.connect("private") as con:
            tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"raw_conversations", "quarantine", "facets", "base_clusters", "cluster_names"} <= tables
    mode = stat.S_IMODE(os.stat(warehouse.paths["private"]).st_mode)
    assert mode & 0o077 == 0, oct(mode)
    with warehouse.connect("public") as con:
        public = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    # exactly the tables the storage module writes, plus its views: nothing else can appear in the public DB
    from clio_dagster.storage import COMPARISON_TABLES, PUBLIC_TABLES, PUBLIC_VIEWS, TOPIC_TABLES

    assert public == PUBLIC_TABLES | TOPIC_TABLES | COMPARISON_TABLES | PUBLIC_VIEWS
    assert {"published_clusters", "cluster_facets", "partition_summaries", "topics", "topic_days",
            "emerging_topics", "topic_trends"} <= public
    with warehouse.connect("public") as con:
        views = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'VIEW'").fetchall()}
    assert views == PUBLIC_VIEWS


def test_replace_partition_deletes_then_inserts_only_that_day(warehouse):
    d1, d2 = date(2024, 1, 1), date(2024, 1, 2)
    with warehouse.connect("private") as con, transaction(con):
        replace_partition(con, "ingest_stats", d1, _stats(d1, 5))
        replace_partition(con, "ingest_stats", d2, _stats(d2, 7))
    for _ in range(3):
        with warehouse.connect("private") as con, transaction(con):
            replace_partition(con, "ingest_stats", d2, _stats(d2, 9))
    with warehouse.connect("private") as con:
        rows = con.execute("SELECT partition_date, records_in FROM ingest_stats ORDER BY 1").fetchall()
    assert rows == [(d1, 5), (d2, 9)]


def test_failed_transaction_leaves_partition_untouched(warehouse):
    d1 = date(2024, 1, 1)
    with warehouse.connect("private") as con, transaction(con):
        replace_partition(con, "ingest_stats", d1, _stats(d1, 5))
    with pytest.raises(RuntimeError):
        with warehouse.connect("private") as con, transaction(con):
            replace_partition(con, "ingest_stats", d1, _stats(d1, 6))
            raise RuntimeError("crash between delete and commit")
    with warehouse.connect("private") as con:
        assert con.execute("SELECT records_in FROM ingest_stats").fetchall() == [(5,)]


def test_unknown_table_refused(warehouse):
    with warehouse.connect("private") as con, pytest.raises(WarehouseError, match="Unknown table"):
        replace_partition(con, "facets; DROP TABLE facets", date(2024, 1, 1), _stats(date(2024, 1, 1), 1))


def test_embedding_dimension_mismatch_is_explained(warehouse):
    with warehouse.connect("private") as con:
        ensure_embedding_table(con, 384, "model-a")
        ensure_embedding_table(con, 384, "model-a")
        with pytest.raises(WarehouseError, match="FLOAT\\[384\\] vectors but model model-b gives 768-d"):
            ensure_embedding_table(con, 768, "model-b")


def test_file_locked_by_another_program_gives_clear_error(warehouse):
    path = warehouse.paths["public"]
    with warehouse.connect("public"):
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,sys,time; c=duckdb.connect({str(path)!r}); print('ready', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseError, match="is locked by another program"):
            with warehouse.connect("public"):
                pass
    finally:
        holder.kill()
        holder.wait()
