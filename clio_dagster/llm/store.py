"""Where the LLM layer keeps what must survive a crash: the result cache, usage, submitted batches.

Every answer is appended to a journal file the moment it arrives (`ResultJournal`), then committed to the
private DB in groups; a journal left behind by a killed process is replayed into the DB by the next run,
so an answer that was paid for is never asked for again. Each method opens a short connection of its own,
so no DuckDB connection is ever held across an API call.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa

from clio_dagster.storage import Warehouse, load_sql, query_arrow, transaction

JOURNAL_DIR_SUFFIX = ".llm-journal"
_USAGE_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("asset", pa.string()), ("partition_date", pa.date32()), ("task", pa.string()),
    ("model", pa.string()), ("batch", pa.bool_()), ("input_tokens", pa.int64()), ("output_tokens", pa.int64()),
    ("cache_write_tokens", pa.int64()), ("cache_read_tokens", pa.int64()), ("latency_ms", pa.float64()),
    ("cost_usd", pa.float64()), ("outcome", pa.string()), ("created_at", pa.timestamp("us")),
])


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class CacheKey:
    task: str
    prompt_version: str
    model: str
    input_hash: str


@dataclass(frozen=True)
class UsageRow:
    task: str
    model: str
    batch: bool
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    latency_ms: float | None
    cost_usd: float
    outcome: str
    created_at: datetime = field(default_factory=utc_now)


@dataclass
class _Pending:
    """What one journal holds that the DB may not: cache entries and usage rows (with their context)."""

    cache: list[tuple[CacheKey, dict]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)


class ResultJournal:
    """An append-only file of one process's LLM results not yet committed to the private DB.

    One JSON line per result, numbered; written with a single `write` before the result is used, so a
    process killed at any moment leaves every answer it received on disk (the OS keeps what was written even
    when the process dies; a power cut may lose the last lines). The file is owner-only and locked (flock)
    while its process lives: a journal whose lock can be taken belongs to a dead process and is replayed.
    """

    def __init__(self, directory: Path):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.journal_id = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.path = directory / f"{self.journal_id}.jsonl"
        self._fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_APPEND, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.seq = 0

    def append(self, kind: str, payload: dict[str, Any]) -> None:
        self.seq += 1
        line = json.dumps({"seq": self.seq, "kind": kind, **payload}, sort_keys=True, default=str) + "\n"
        os.write(self._fd, line.encode("utf-8"))

    def committed(self) -> None:
        """Everything appended so far is in the DB: start the file afresh (sequence numbers go on)."""
        os.ftruncate(self._fd, 0)

    def close(self, delete: bool) -> None:
        if delete:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)  # releases the lock: a journal kept here is replayed by the next run


def _read_journal(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as fh:
        for raw in fh:
            try:
                yield json.loads(raw)
            except ValueError:  # a line cut short by the kill: that answer is asked for again
                continue


def _cache_entry(line: dict[str, Any]) -> tuple[CacheKey, dict]:
    return CacheKey(line["task"], line["prompt_version"], line["model"], line["input_hash"]), line["output"]


@dataclass
class LLMStore:
    warehouse: Warehouse
    run_id: str | None = None
    asset: str | None = None
    partition_date: date | None = None
    # A shard of the partition (assets/shards.py), so that shards running at once keep their batches apart.
    part: str | None = None
    _journal: ResultJournal | None = field(default=None, repr=False)

    @property
    def journal_dir(self) -> Path:
        private = self.warehouse.paths["private"]
        return private.with_name(private.name + JOURNAL_DIR_SUFFIX)

    # ---- cache ---------------------------------------------------------------------------------
    def cached(self, task: str, prompt_version: str, model: str, input_hashes: list[str]) -> dict[str, dict]:
        if not input_hashes:
            return {}
        self.recover_journals()
        with self.warehouse.connect("private") as con:
            con.register("wanted_keys", pa.table({"input_hash": sorted(set(input_hashes))}))
            rows = query_arrow(con, load_sql("select_llm_cache.sql"), [task, prompt_version, model]).to_pylist()
            con.unregister("wanted_keys")
        return {r["input_hash"]: json.loads(r["output"]) for r in rows}

    def journal(self, cache: Sequence[tuple[CacheKey, dict]] = (), usage: Sequence[UsageRow] = ()) -> None:
        """Make results durable at once, before they are used; `save_results` later commits them."""
        if self._journal is None:
            self._journal = ResultJournal(self.journal_dir)
        for key, output in cache:
            self._journal.append("cache", {**asdict(key), "output": output})
        for row in usage:
            self._journal.append("usage", self._usage_record(row))

    def save_results(self, cache: Sequence[tuple[CacheKey, dict]], usage: Sequence[UsageRow]) -> None:
        """Commit cache entries and usage rows in one transaction, with how far this process's journal got."""
        if not cache and not usage:
            return
        journal = self._journal
        applied = (journal.journal_id, journal.seq) if journal is not None else None
        self._commit(_Pending(list(cache), [self._usage_record(r) for r in usage]), applied)
        if journal is not None:
            journal.committed()

    def close_journal(self, committed: bool = True) -> None:
        """End this store's journal: deleted when all it held is committed, else kept for replay."""
        journal, self._journal = self._journal, None
        if journal is None:
            return
        journal.close(delete=committed)
        if committed:
            self._forget(journal.journal_id)

    def _forget(self, journal_id: str) -> None:
        # Only once the file is gone: its sequence numbers can no longer be replayed twice.
        with self.warehouse.connect("private") as con:
            con.execute("DELETE FROM llm_journal_applied WHERE journal_id = ?", [journal_id])

    def recover_journals(self) -> int:
        """Replay the journals of processes that died before committing; returns the entries recovered."""
        directory = self.journal_dir
        if not directory.is_dir():
            return 0
        recovered = 0
        for path in sorted(directory.glob("*.jsonl")):
            if self._journal is not None and path == self._journal.path:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # another run recovered it first
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # its process is alive and will commit it
                    continue
                recovered += self._replay(path)
            finally:
                os.close(fd)
        return recovered

    def _replay(self, path: Path) -> int:
        journal_id = path.stem
        with self.warehouse.connect("private") as con:
            row = con.execute("SELECT max(last_seq) FROM llm_journal_applied WHERE journal_id = ?",
                              [journal_id]).fetchone()
        done = row[0] if row and row[0] is not None else 0
        pending = _Pending()
        last = done
        for line in _read_journal(path):
            seq = line.get("seq", 0)
            if not isinstance(seq, int) or seq <= done:
                continue
            last = max(last, seq)
            if line.get("kind") == "cache":
                pending.cache.append(_cache_entry(line))
            elif line.get("kind") == "usage":
                pending.usage.append({k: line.get(k) for k in _USAGE_SCHEMA.names})
        if pending.cache or pending.usage:
            self._commit(pending, (journal_id, last))
        path.unlink(missing_ok=True)
        self._forget(journal_id)
        return len(pending.cache) + len(pending.usage)

    def _usage_record(self, row: UsageRow) -> dict[str, Any]:
        return {"run_id": self.run_id, "asset": self.asset, "partition_date": self.partition_date, **asdict(row)}

    def _commit(self, pending: _Pending, applied: tuple[str, int] | None) -> None:
        cache = pa.table(
            {
                "task": [k.task for k, _ in pending.cache],
                "prompt_version": [k.prompt_version for k, _ in pending.cache],
                "model": [k.model for k, _ in pending.cache],
                "input_hash": [k.input_hash for k, _ in pending.cache],
                "output": [json.dumps(v, sort_keys=True) for _, v in pending.cache],
            },
            schema=pa.schema([(name, pa.string()) for name in ("task", "prompt_version", "model", "input_hash",
                                                                "output")]),
        )
        usage = pa.Table.from_pylist([_usage_values(u) for u in pending.usage], schema=_USAGE_SCHEMA)
        with self.warehouse.connect("private") as con, transaction(con):
            if len(cache):
                con.register("new_entries", cache)
                con.execute(load_sql("insert_llm_cache.sql"))
                con.unregister("new_entries")
            if len(usage):
                con.register("new_usage", usage)
                con.execute("INSERT INTO llm_usage BY NAME SELECT * FROM new_usage")
                con.unregister("new_usage")
            if applied is not None:
                con.execute("DELETE FROM llm_journal_applied WHERE journal_id = ?", [applied[0]])
                con.execute("INSERT INTO llm_journal_applied VALUES (?, ?)", list(applied))

    # ---- batches and failures ------------------------------------------------------------------
    def open_batch(self, task: str, scope: str) -> tuple[str, list[str]] | None:
        """The newest submitted-but-not-collected batch of this task and scope, if any."""
        with self.warehouse.connect("private") as con:
            row = con.execute(
                "SELECT batch_id, custom_ids FROM llm_batches WHERE task = ? AND scope = ? AND status = 'submitted' "
                "ORDER BY submitted_at DESC LIMIT 1",
                [task, scope],
            ).fetchone()
        return (row[0], list(row[1])) if row else None

    def save_batch(self, batch_id: str, task: str, scope: str, custom_ids: list[str]) -> None:
        with self.warehouse.connect("private") as con:
            con.execute(
                "INSERT INTO llm_batches VALUES (?, ?, ?, ?, 'submitted', ?, NULL)",
                [batch_id, task, scope, custom_ids, utc_now()],
            )

    def close_batch(self, batch_id: str, status: str = "collected") -> None:
        with self.warehouse.connect("private") as con:
            con.execute(
                "UPDATE llm_batches SET status = ?, collected_at = ? WHERE batch_id = ?", [status, utc_now(), batch_id]
            )

    def replace_failures(self, task: str, failures: list[tuple[str, str, str]]) -> None:
        """The partition's failures of one task: (item id, reason, detail) rows."""
        if self.partition_date is None:
            return
        table = pa.table(
            {
                "partition_date": pa.array([self.partition_date] * len(failures), pa.date32()),
                "task": [task] * len(failures),
                "item_id": [f[0] for f in failures],
                "reason": [f[1] for f in failures],
                "detail": [f[2] for f in failures],
            }
        )
        with self.warehouse.connect("private") as con, transaction(con):
            con.execute("DELETE FROM llm_failures WHERE partition_date = ? AND task = ?", [self.partition_date, task])
            if failures:
                con.register("new_failures", table)
                con.execute("INSERT INTO llm_failures BY NAME SELECT * FROM new_failures")
                con.unregister("new_failures")


def _usage_values(record: dict[str, Any]) -> dict[str, Any]:
    """A usage record (live, or read back from a journal as JSON) in llm_usage's column types."""
    values = dict(record)
    for name, parse in (("partition_date", date.fromisoformat), ("created_at", datetime.fromisoformat)):
        if isinstance(values.get(name), str):
            values[name] = parse(values[name])
    return values
