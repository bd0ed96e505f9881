"""Where the LLM layer keeps what must survive a crash: the result cache, usage, submitted batches.

Each method opens a short connection of its own, so no DuckDB connection is ever held across an API call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pyarrow as pa

from clio_dagster.storage import Warehouse, load_sql, query_arrow, transaction


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


@dataclass
class LLMStore:
    warehouse: Warehouse
    run_id: str | None = None
    asset: str | None = None
    partition_date: date | None = None
    _now: object = field(default=lambda: datetime.now(timezone.utc).replace(tzinfo=None), repr=False)

    def cached(self, task: str, prompt_version: str, model: str, input_hashes: list[str]) -> dict[str, dict]:
        if not input_hashes:
            return {}
        with self.warehouse.connect("private") as con:
            con.register("wanted_keys", pa.table({"input_hash": sorted(set(input_hashes))}))
            rows = query_arrow(con, load_sql("select_llm_cache.sql"), [task, prompt_version, model]).to_pylist()
            con.unregister("wanted_keys")
        return {r["input_hash"]: json.loads(r["output"]) for r in rows}

    def save(self, entries: list[tuple[CacheKey, dict]]) -> None:
        if not entries:
            return
        table = pa.table(
            {
                "task": [k.task for k, _ in entries],
                "prompt_version": [k.prompt_version for k, _ in entries],
                "model": [k.model for k, _ in entries],
                "input_hash": [k.input_hash for k, _ in entries],
                "output": [json.dumps(v, sort_keys=True) for _, v in entries],
            }
        )
        with self.warehouse.connect("private") as con, transaction(con):
            con.register("new_entries", table)
            con.execute(load_sql("insert_llm_cache.sql"))
            con.unregister("new_entries")

    def record_usage(self, rows: list[UsageRow]) -> None:
        if not rows:
            return
        now = self._now()
        table = pa.Table.from_pylist(
            [
                {
                    "run_id": self.run_id,
                    "asset": self.asset,
                    "partition_date": self.partition_date,
                    **row.__dict__,
                    "created_at": now,
                }
                for row in rows
            ]
        )
        with self.warehouse.connect("private") as con:
            con.register("new_usage", table)
            con.execute("INSERT INTO llm_usage BY NAME SELECT * FROM new_usage")
            con.unregister("new_usage")

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
                [batch_id, task, scope, custom_ids, self._now()],
            )

    def close_batch(self, batch_id: str, status: str = "collected") -> None:
        with self.warehouse.connect("private") as con:
            con.execute(
                "UPDATE llm_batches SET status = ?, collected_at = ? WHERE batch_id = ?", [status, self._now(), batch_id]
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
