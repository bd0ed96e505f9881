"""Crash safety: `clio run` killed with SIGKILL in the middle of `facets` and of `summary_embeddings`, then
re-run. Both DBs end identical to an uninterrupted run's, with no duplicate rows, and every LLM item is
answered exactly once over the killed run and the re-run together (counted on the loopback fake API): an
answer that arrived before the kill is never paid for again. Plus the result journal that makes this so."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from hashlib import sha256
from pathlib import Path

import duckdb
import pytest

from clio_dagster.llm.store import JOURNAL_DIR_SUFFIX, CacheKey, LLMStore, UsageRow
from clio_dagster.storage import Warehouse
from tests.conftest import FAST_TEST_EMBEDDER, ROOT, write_jsonl
from tests.fake_anthropic import FakeAnthropic
from tests.test_pipeline import _sample_records

DAY = date(2023, 2, 6)
CONVERSATIONS = 120
# The fake answers this many facet calls, then holds every later one: the kill lands mid-facets with
# answers already committed to the cache, answers only in the journal, and calls in flight.
ANSWERED_BEFORE_KILL = 60
SECRET = "crash-safety-secret-0123456789"


def request_item(body: dict) -> tuple[str, str]:
    """(task, sha256 of the first user message): one LLM work item, the same in every run."""
    task = str((body.get("tool_choice") or {}).get("name", "")).removeprefix("record_")
    first = (body.get("messages") or [{}])[0].get("content")
    text = first if isinstance(first, str) else "".join(b.get("text", "") for b in first or [] if isinstance(b, dict))
    return task, sha256(text.encode()).hexdigest()


class CountingFake(FakeAnthropic):
    """The loopback fake counting the answers it delivers per work item. With `hold_facets_after`, every
    extract_facets call after that many is held unanswered until `release()` (then answered into the closed
    socket of the killed client, and not counted)."""

    def __init__(self, hold_facets_after: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.hold_facets_after = hold_facets_after
        self.answered: Counter[tuple[str, str]] = Counter()
        self.held = 0
        self._facets_seen = 0
        self._released = threading.Event()
        self._count_lock = threading.Lock()

    def release(self) -> None:
        self.hold_facets_after = None
        self._released.set()

    def handle(self, method, path, headers, raw):
        body = json.loads(raw) if raw and path == "/v1/messages" else None
        item = request_item(body) if isinstance(body, dict) else None
        held = False
        if item is not None and item[0] == "extract_facets" and self.hold_facets_after is not None:
            with self._count_lock:
                self._facets_seen += 1
                held = self._facets_seen > self.hold_facets_after
                self.held += held
        if held:
            self._released.wait()
        reply = super().handle(method, path, headers, raw)
        if item is not None and reply.status == 200 and not held:
            with self._count_lock:
                self.answered[item] += 1
        return reply

    def answered_task(self, task: str) -> int:
        with self._count_lock:
            return sum(n for (t, _), n in self.answered.items() if t == task)


def _env(home: Path, fake: FakeAnthropic, dagster_home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIO_") and k != "DAGSTER_HOME"}
    env.update(FAST_TEST_EMBEDDER)  # what is tested here is not the embedder
    env.update({
        "CLIO_HOME": str(home), "CLIO_HMAC_SECRET": SECRET, "CLIO_LLM_BACKEND": "claude",
        "CLIO_CLAUDE_BASE_URL": fake.base_url, "ANTHROPIC_API_KEY": "test-key", "CLIO_CLAUDE_MAX_RETRIES": "4",
        "CLIO_MIN_UNIQUE_USERS": "3", "CLIO_MIN_CONVERSATIONS": "5", "CLIO_TARGET_CLUSTER_SIZE": "15",
        # A lock left behind by the killed run would make the re-run fail here instead of waiting 10 minutes.
        "CLIO_LOCK_TIMEOUT_S": "60",
    })
    if dagster_home is not None:
        env["DAGSTER_HOME"] = str(dagster_home)
    return env


def _start_run(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "clio_dagster.cli", "run", "--start", str(DAY), "--end", str(DAY)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=500)
    assert proc.returncode == 0 and f"{DAY}: ok" in out, out[-3000:]
    return out


def _wait_for(condition: Callable[[], bool], what: str, proc: subprocess.Popen, timeout_s: float = 180,
              poll_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll_s)


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _stage(home: Path) -> None:
    write_jsonl(home / "landing" / DAY.isoformat() / "day.jsonl", _sample_records(DAY)[:CONVERSATIONS])


def _journal_entries(home: Path, kind: str = "cache") -> list[dict]:
    found = []
    for path in sorted((home / f"private.duckdb{JOURNAL_DIR_SUFFIX}").glob("*.jsonl")):
        for raw in path.read_bytes().splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if line.get("kind") == kind:
                found.append(line)
    return found


def _warehouse(home: Path) -> Warehouse:
    return Warehouse(home / "private.duckdb", home / "public.duckdb", lock_timeout_s=60)


def _durable_facet_answers(home: Path) -> int:
    """Facet answers on disk: in a journal or committed to llm_cache (journal first: an entry only moves on)."""
    hashes = {e["input_hash"] for e in _journal_entries(home) if e["task"] == "extract_facets"}
    if (home / "private.duckdb").exists():
        with _warehouse(home).connect("private") as con:
            hashes |= {r[0] for r in con.execute(
                "SELECT input_hash FROM llm_cache WHERE task = 'extract_facets' ORDER BY 1").fetchall()}
    return len(hashes)


def _table_rows(home: Path, database: str, sql: str) -> list[tuple]:
    with _warehouse(home).connect(database) as con:
        return con.execute(sql).fetchall()


# Columns that record when, or in which run or folder, a row was written rather than what it holds.
RUN_SPECIFIC = {"created_at", "recorded_at", "submitted_at", "collected_at"}
RUN_SPECIFIC_BY_TABLE = {
    # What was paid for stays comparable; timings, run ids and prompt-cache hits do not.
    "llm_usage": {"run_id", "latency_ms", "cost_usd", "cache_write_tokens", "cache_read_tokens"},
    # A digest that covers the resources' configuration, so the home folder's path.
    "asset_inputs": {"fingerprint"},
}


def _dump(home: Path) -> dict[str, list]:
    """Every table of both DBs, ordered, without run-specific columns."""
    snapshot = {}
    for database in ("private", "public"):
        con = duckdb.connect(str(home / f"{database}.duckdb"), read_only=True)
        try:
            columns: dict[str, list[str]] = {}
            for table, column in con.execute(
                "SELECT c.table_name, c.column_name FROM information_schema.columns AS c JOIN information_schema.tables "
                "AS t USING (table_name) WHERE t.table_type = 'BASE TABLE' ORDER BY c.table_name, c.ordinal_position"
            ).fetchall():
                if column not in RUN_SPECIFIC | RUN_SPECIFIC_BY_TABLE.get(table, set()):
                    columns.setdefault(table, []).append(column)
            for table, kept in columns.items():
                rows = con.execute(f"SELECT {', '.join(kept)} FROM {table} ORDER BY ALL").fetchall()
                # Landing paths name the home folder; everything else must match exactly.
                snapshot[f"{database}.{table}"] = [
                    tuple(v.replace(str(home), "<home>") if isinstance(v, str) else v for v in row) for row in rows
                ]
        finally:
            con.close()
    return snapshot


def _assert_owner_only(home: Path) -> None:
    private = [p for p in home.rglob("*") if p.name.startswith("private.duckdb") and not p.name.endswith(".lock")]
    private += list((home / f"private.duckdb{JOURNAL_DIR_SUFFIX}").rglob("*"))
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path, oct(path.stat().st_mode))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    home = tmp_path_factory.mktemp("clean") / "clio"
    _stage(home)
    with CountingFake() as fake:
        _finish(_start_run(_env(home, fake)))
    assert set(Counter(fake.answered.values())) == {1}  # no faults: one answer per item
    return _dump(home), fake.answered


def _assert_same_as_uninterrupted(home: Path, answered: Counter, uninterrupted) -> None:
    expected, expected_answers = uninterrupted
    got = _dump(home)
    assert sorted(got) == sorted(expected)
    for table, rows in expected.items():
        assert got[table] == rows, table
        if table != "private.llm_usage":  # two calls may cost the same tokens
            assert len(rows) == len({repr(r) for r in rows}), f"duplicate rows in {table}"
    assert got["private.facets"] and got["public.published_clusters"]
    assert got["private.llm_journal_applied"] == []
    # Every item answered exactly once over the killed run and the re-run: nothing finished was paid twice.
    assert answered == expected_answers


@pytest.mark.slow
def test_kill_during_facets_then_rerun(tmp_path, uninterrupted):
    home = tmp_path / "clio"
    _stage(home)
    with CountingFake(hold_facets_after=ANSWERED_BEFORE_KILL) as fake:
        env = _env(home, fake)
        proc = _start_run(env)
        _wait_for(lambda: fake.answered_task("extract_facets") == ANSWERED_BEFORE_KILL and fake.held > 0,
                  "the fake to answer the first facet calls", proc)
        # Killed once every answer it received is durable (the journal is written before an answer is used).
        _wait_for(lambda: _durable_facet_answers(home) == ANSWERED_BEFORE_KILL, "the answers to be journaled", proc)
        _kill(proc)
        fake.release()

        # The kill really was mid-stage, with answers not yet committed to the cache.
        assert _table_rows(home, "private", f"SELECT count(*) FROM facets WHERE partition_date = '{DAY}'") == [(0,)]
        assert _journal_entries(home), "no uncommitted answers at the kill: the test would prove nothing"
        _assert_owner_only(home)

        _finish(_start_run(env))
    assert not _journal_entries(home, "cache") and not _journal_entries(home, "usage")
    _assert_same_as_uninterrupted(home, fake.answered, uninterrupted)


def _step_started(dagster_home: Path, step: str) -> bool:
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        return any(entry.step_key == step
                   for run in instance.get_runs()
                   for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START))
    finally:
        instance.dispose()


@pytest.mark.slow
def test_kill_during_summary_embeddings_then_rerun(tmp_path, uninterrupted):
    home = tmp_path / "clio"
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    _stage(home)
    with CountingFake() as fake:
        env = _env(home, fake, dagster_home)
        proc = _start_run(env)
        # The run's own Dagster event log says when the step starts.
        _wait_for(lambda: _step_started(dagster_home, "summary_embeddings"), "summary_embeddings to start", proc,
                  timeout_s=300, poll_s=0.2)
        _kill(proc)
        facets_calls = fake.answered_task("extract_facets")

        assert _table_rows(home, "private", f"SELECT count(*) FROM facets WHERE partition_date = '{DAY}'") == [
            (CONVERSATIONS,)]
        assert _table_rows(home, "private", "SELECT count(*) FROM information_schema.tables "
                                            "WHERE table_name = 'summary_embeddings'") == [(0,)] or _table_rows(
            home, "private", f"SELECT count(*) FROM summary_embeddings WHERE partition_date = '{DAY}'") == [(0,)]
        _assert_owner_only(home)

        _finish(_start_run(env))
        assert fake.answered_task("extract_facets") == facets_calls == CONVERSATIONS
    _assert_same_as_uninterrupted(home, fake.answered, uninterrupted)


# ------------------------------------------------------------------------------------ the result journal

_JOURNAL_THEN_DIE = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from clio_dagster.llm.store import CacheKey, LLMStore, ResultJournal, UsageRow
    from clio_dagster.storage import Warehouse

    home = Path(sys.argv[1])
    if sys.argv[2] == "die_before_truncate":
        ResultJournal.committed = lambda self: None
    store = LLMStore(Warehouse(home / "private.duckdb", home / "public.duckdb"), run_id="dead-run")
    def entry(i):
        return (CacheKey("extract_facets", "v1", "m", f"hash-{i}"), {"answer": i})
    def usage(i):
        return UsageRow("extract_facets", "m", False, 100 + i, 10, 0, 0, 5.0, 0.001, "ok")
    for i in range(3):
        store.journal(cache=[entry(i)], usage=[usage(i)])
    store.save_results([entry(i) for i in range(3)], [usage(i) for i in range(3)])
    for i in range(3, 5):
        store.journal(cache=[entry(i)], usage=[usage(i)])
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.parametrize("moment", ["die_after_commit", "die_before_truncate"])
def test_journal_of_a_killed_process_is_replayed_exactly_once(tmp_path, moment):
    home = tmp_path / "clio"
    proc = subprocess.run([sys.executable, "-c", _JOURNAL_THEN_DIE, str(home), moment], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    journals = list((home / f"private.duckdb{JOURNAL_DIR_SUFFIX}").glob("*.jsonl"))
    assert len(journals) == 1
    assert stat.S_IMODE(journals[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(journals[0].parent.stat().st_mode) == 0o700

    store = LLMStore(_warehouse(home))
    cached = store.cached("extract_facets", "v1", "m", [f"hash-{i}" for i in range(6)])
    assert cached == {f"hash-{i}": {"answer": i} for i in range(5)}
    assert store.recover_journals() == 0  # nothing left to replay
    assert not list(journals[0].parent.glob("*.jsonl"))
    usage = _table_rows(home, "private", "SELECT run_id, input_tokens FROM llm_usage ORDER BY 2")
    assert usage == [("dead-run", 100 + i) for i in range(5)]  # each paid call recorded once
    assert _table_rows(home, "private", "SELECT count(*) FROM llm_journal_applied") == [(0,)]


def test_a_live_journal_is_left_to_its_process(tmp_path):
    warehouse = _warehouse(tmp_path / "clio")
    live = LLMStore(warehouse)
    live.journal(cache=[(CacheKey("t", "v", "m", "h"), {"a": 1})],
                 usage=[UsageRow("t", "m", False, 1, 1, 0, 0, None, 0.0, "ok")])
    other = LLMStore(warehouse)
    assert other.recover_journals() == 0  # still locked by `live`
    assert other.cached("t", "v", "m", ["h"]) == {}
    live.save_results([(CacheKey("t", "v", "m", "h"), {"a": 1})], [UsageRow("t", "m", False, 1, 1, 0, 0, None, 0.0, "ok")])
    live.close_journal()
    assert other.cached("t", "v", "m", ["h"]) == {"h": {"a": 1}}
    assert not list(live.journal_dir.glob("*.jsonl"))
