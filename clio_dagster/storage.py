"""The two DuckDB files behind the privacy boundary, and the only code that opens them.

DuckDB allows one writing process per file, so every connection is taken under a file lock and held
only around reads and writes (never across LLM or embedding calls). Partition writes are idempotent:
delete the partition's rows and insert the new ones in one transaction.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import duckdb
from filelock import FileLock, Timeout

Database = Literal["private", "public"]

PRIVATE_TABLES = frozenset(
    {
        "raw_conversations",
        "quarantine",
        "ingest_stats",
        "facets",
        "summary_embeddings",
        "base_cluster_members",
        "base_clusters",
        "cluster_names",
        "hierarchy_nodes",
        "cluster_audit",
        "map_points",
        # safety mode only (clio_dagster/sql/safety_schema.sql)
        "safety_clusters",
        "coordinated_clusters",
        "coordinated_groups",
        "coordinated_campaigns",
        "campaign_days",
    }
)
# A day's rows per shard until the day is assembled from them (assets/shards.py): see `replace_shard`.
SHARD_TABLES = frozenset({"facet_shards", "facet_shard_runs"})
PUBLIC_TABLES = frozenset({"published_clusters", "cluster_facets", "partition_summaries", "cluster_classifier",
                           "classifier_summary", "facet_questions"})
# Rebuilt whole by topic_registry (not per partition): see `replace_table`.
TOPIC_TABLES = frozenset({"topics", "topic_days", "emerging_topics"})
# One block of rows per comparison of two date windows (asset topic_changes): see `replace_comparison`.
COMPARISON_TABLES = frozenset({"topic_comparisons", "topic_changes"})
PUBLIC_VIEWS = frozenset({"topic_trends", "cluster_concern"})


class WarehouseError(RuntimeError):
    """A storage problem with a message the user can act on."""


class WriteConflict(WarehouseError):
    """Another transaction committed a change to the same lake tables first (runs of different days write at
    once): the step's writes were rolled back, and running the step again is safe (delete then insert)."""


def load_sql(name: str) -> str:
    return resources.files("clio_dagster.sql").joinpath(name).read_text(encoding="utf-8")


def _explain_duckdb_error(path: Path, exc: duckdb.Error) -> WarehouseError:
    message = str(exc)
    if "lock" in message.lower():
        holder = re.search(r"PID (\d+)", message)
        who = f" (held by process {holder.group(1)})" if holder else ""
        return WarehouseError(
            f"DuckDB file {path} is locked by another program{who}. Close any DuckDB shell, notebook or "
            "second `dagster dev` that has it open, then re-run; clio's own runs wait for each other."
        )
    if "no space left" in message.lower() or "disk full" in message.lower():
        return WarehouseError(f"Disk full while writing {path}: free space on {path.parent} and re-run the partition.")
    if "permission denied" in message.lower():
        return WarehouseError(f"No permission to open {path}: check the owner and mode of {path.parent}.")
    # Quoted values in DuckDB messages can be row data: keep the message, never the values.
    redacted = re.sub(r"'[^']*'|\"[^\"]*\"", "<value>", message.splitlines()[0] if message else "")
    return WarehouseError(f"DuckDB error on {path}: {type(exc).__name__}: {redacted}")


class Warehouse:
    """The two local DuckDB files (the default storage; `lake.LakeWarehouse` is the scale-out one)."""

    storage = "duckdb"

    def __init__(self, private_path: Path, public_path: Path, lock_timeout_s: float = 600.0):
        self.paths: dict[Database, Path] = {"private": Path(private_path), "public": Path(public_path)}
        self.lock_timeout_s = lock_timeout_s

    @contextmanager
    def connect(self, database: Database) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.paths[database]
        path.parent.mkdir(parents=True, exist_ok=True)
        if database == "private" and path.parent.stat().st_uid == os.getuid():
            path.parent.chmod(0o700)
        lock = FileLock(f"{path}.lock", timeout=self.lock_timeout_s)
        try:
            lock.acquire()
        except Timeout as exc:
            raise WarehouseError(
                f"Waited {self.lock_timeout_s:.0f}s for another clio run to release {path}; "
                "raise CLIO_LOCK_TIMEOUT_S or limit concurrent runs."
            ) from exc
        # DuckDB creates its write-ahead log (`<file>.wal`, which holds rows not yet checkpointed and
        # survives a killed process) and spill files lazily, with the process umask: keep the private
        # DB's owner-only for the whole connection, not only while the file itself is created.
        old_umask = os.umask(0o077) if database == "private" else None
        try:
            created = not path.exists()
            try:
                con = duckdb.connect(str(path))
            except duckdb.Error as exc:
                raise _explain_duckdb_error(path, exc) from None
            if created and database == "private":
                os.chmod(path, 0o600)
            try:
                con.execute(load_sql(f"{database}_schema.sql"))
                if database == "public":
                    con.execute(load_sql("public_views.sql"))
                yield con
            except duckdb.Error as exc:
                raise _explain_duckdb_error(path, exc) from None
            finally:
                con.close()
        finally:
            if old_umask is not None:
                os.umask(old_umask)
            lock.release()


@contextmanager
def writers_paused(path: Path, timeout_s: float) -> Iterator[None]:
    """Hold the file lock the pipeline's writers take on a local DB: a reader never sees a day half-written.
    (A lake needs none: each connection reads one committed snapshot.)"""
    lock = FileLock(f"{path}.lock", timeout=timeout_s)
    try:
        lock.acquire()
    except Timeout:
        raise WarehouseError(f"{path} stayed locked by a running pipeline for {timeout_s:.0f}s; "
                             "try again when it has finished.") from None
    try:
        yield
    finally:
        lock.release()


def ensure_embedding_table(con: duckdb.DuckDBPyConnection, dim: int, model: str) -> None:
    """Create summary_embeddings for `dim`-d vectors, or explain why an existing one can't take them."""
    if not isinstance(dim, int) or not 1 <= dim <= 65_536:
        raise WarehouseError(f"Embedding dimension {dim!r} is not a positive integer.")
    con.execute(load_sql("summary_embeddings_schema.sql").replace("{dim}", str(dim)))
    existing = con.execute(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'summary_embeddings' AND column_name = 'embedding'"
    ).fetchone()
    if existing and existing[0] == "FLOAT[]":
        # A lake's vectors (fixed-size arrays are not a DuckLake type): the stored rows say the dimension.
        stored = con.execute("SELECT len(embedding) FROM summary_embeddings LIMIT 1").fetchone()
        existing = (f"FLOAT[{stored[0]}]",) if stored else None
    if existing and existing[0] != f"FLOAT[{dim}]":
        raise WarehouseError(
            f"summary_embeddings holds {existing[0]} vectors but model {model} gives {dim}-d ones. "
            "Use a new CLIO_HOME for a different embedding model, or drop the table to re-embed every partition."
        )


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: Any) -> int:
    if len(rows) == 0:
        return 0
    con.register("staged_rows", rows)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM staged_rows")
    finally:
        con.unregister("staged_rows")
    return len(rows)


def replace_partition(
    con: duckdb.DuckDBPyConnection, table: str, partition_date: date, rows: Any
) -> int:
    """Delete `table`'s rows for `partition_date` and insert `rows` (an Arrow table or polars frame)."""
    if table not in PRIVATE_TABLES | PUBLIC_TABLES:
        raise WarehouseError(f"Unknown table {table!r}.")
    con.execute(f"DELETE FROM {table} WHERE partition_date = ?", [partition_date])
    return _insert(con, table, rows)


def replace_shard(con: duckdb.DuckDBPyConnection, table: str, partition_date: date, shard: int, rows: Any) -> int:
    """Delete one shard's rows of `partition_date` from a shard staging table and insert `rows` (with `shard`)."""
    if table not in SHARD_TABLES:
        raise WarehouseError(f"Unknown table {table!r}.")
    con.execute(f"DELETE FROM {table} WHERE partition_date = ? AND shard = ?", [partition_date, shard])
    return _insert(con, table, rows)


def replace_table(con: duckdb.DuckDBPyConnection, table: str, rows: Any) -> int:
    """Replace every row of a whole-table public asset (the topic tables) with `rows`."""
    if table not in TOPIC_TABLES:
        raise WarehouseError(f"Unknown table {table!r}.")
    con.execute(f"DELETE FROM {table}")
    return _insert(con, table, rows)


def replace_comparison(con: duckdb.DuckDBPyConnection, table: str, comparison: str, rows: Any) -> int:
    """Replace the rows of one comparison (`comparison` column) in a comparison table with `rows`."""
    if table not in COMPARISON_TABLES:
        raise WarehouseError(f"Unknown table {table!r}.")
    con.execute(f"DELETE FROM {table} WHERE comparison = ?", [comparison])
    return _insert(con, table, rows)


def query_arrow(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None):
    """A query's result as an Arrow table, without the copy a DB-API cursor makes."""
    return con.sql(sql, params=params).to_arrow_table()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
