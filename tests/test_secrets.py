"""Secrets and access: the API key and the HMAC secret are never written to the DBs, logs, Dagster metadata or
event log, files, or exception messages; the public DB holds only allow-listed columns; the private DB, its
write-ahead log and the LLM result journal are owner-only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from clio_dagster.llm.claude import ClaudeSettings
from clio_dagster.storage import Warehouse
from tests.conftest import FAST_TEST_EMBEDDER, ROOT, write_jsonl
from tests.fake_anthropic import FakeAnthropic
from tests.fake_openai import LOCAL_MODEL, FakeOpenAI
from tests.test_pipeline import PUBLIC_COLUMNS, _sample_records

DAY = date(2023, 2, 7)
API_KEY = "sk-ant-api03-" + "Zk9w" * 12 + "-KEYEND"
WRONG_KEY = "sk-ant-api03-" + "Wr0n" * 12 + "-WRONGEND"
HMAC_SECRET = "hmac-" + "Qx7v" * 12 + "-SECRETEND"
# Whole values and distinctive pieces of them (a secret cut, or wrapped in other text, still counts).
NEEDLES = [API_KEY, "Zk9wZk9wZk9w", "KEYEND", WRONG_KEY, "Wr0nWr0nWr0n", "WRONGEND", HMAC_SECRET,
           "Qx7vQx7vQx7v", "SECRETEND"]
# Column names that would carry private data; none may exist in the public DB, whatever the allow-list says.
PRIVATE_COLUMN_NAMES = {"conversation_id", "user_id", "user_hash", "messages", "text", "request", "summary",
                        "source_file", "source_line", "record_id", "metadata", "embedding", "sample_ids",
                        "input_hash", "output", "detail"}


def _found(haystack: str | bytes) -> list[str]:
    if isinstance(haystack, bytes):
        return [n for n in NEEDLES if n.encode() in haystack]
    return [n for n in NEEDLES if n in haystack]


# Per backend: its fake of the API (which takes only API_KEY), the settings that point a run at it with a key,
# and what the failed step says of a rejected key.
BACKENDS = {
    "claude": (FakeAnthropic, lambda fake, key: {"CLIO_LLM_BACKEND": "claude", "CLIO_CLAUDE_BASE_URL": fake.base_url,
                                                 "ANTHROPIC_API_KEY": key}, "rejected ANTHROPIC_API_KEY"),
    "local": (FakeOpenAI, lambda fake, key: {"CLIO_LLM_PRESET": "local", "CLIO_OPENAI_BASE_URL": fake.base_url,
                                             "CLIO_OPENAI_MODEL": LOCAL_MODEL, "OPENAI_API_KEY": key},
              "rejected the API key"),
}


def _env(home: Path, dagster_home: Path, backend: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIO_") and k != "DAGSTER_HOME"}
    env.update(FAST_TEST_EMBEDDER)  # what is tested here is not the embedder
    env.update({"CLIO_HOME": str(home), "DAGSTER_HOME": str(dagster_home), "CLIO_HMAC_SECRET": HMAC_SECRET,
                "CLIO_MIN_UNIQUE_USERS": "3", "CLIO_MIN_CONVERSATIONS": "5", "CLIO_TARGET_CLUSTER_SIZE": "15",
                **backend})
    return env


def _clio_run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clio_dagster.cli", "run", "--start", str(DAY), "--end", str(DAY)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _dump_duckdb(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        return "\n".join(str(row) for t in tables for row in con.execute(f"SELECT * FROM {t}").fetchall())
    finally:
        con.close()


def _event_log_text(dagster_home: Path) -> str:
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        chunks = []
        for run in instance.get_runs():
            chunks.append(repr(run.run_config))
            for entry in instance.all_logs(run.run_id):
                chunks.append(entry.message or "")
                event = entry.dagster_event
                if event is None:
                    continue
                chunks.append(repr(event.event_specific_data))  # metadata, check results, errors with stacks
        return "\n".join(chunks)
    finally:
        instance.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_secrets_never_leave_the_process(tmp_path, backend):
    home, dagster_home = tmp_path / "clio", tmp_path / "dagster"
    dagster_home.mkdir()
    for root in (home, tmp_path / "other"):
        write_jsonl(root / "landing" / DAY.isoformat() / "day.jsonl", _sample_records(DAY)[:120])
    fake_api, settings_for, rejection = BACKENDS[backend]
    with fake_api(api_key=API_KEY) as fake:
        ok = _clio_run(_env(home, dagster_home, settings_for(fake, API_KEY)))
        # A rejected key: the step fails with an exception that must not quote the key either.
        rejected = _clio_run(_env(tmp_path / "other", dagster_home, settings_for(fake, WRONG_KEY)))
    assert ok.returncode == 0 and f"{DAY}: ok" in ok.stdout, ok.stdout + ok.stderr
    assert rejected.returncode == 1 and rejection in rejected.stdout, rejected.stdout

    assert _found(ok.stdout + ok.stderr + rejected.stdout + rejected.stderr) == []
    event_log = _event_log_text(dagster_home)
    assert rejection in event_log  # the failure's message and stack are in there
    assert _found(event_log) == []
    for database in ("private", "public"):
        assert _found(_dump_duckdb(home / f"{database}.duckdb")) == []
    files = [p for root in (home, tmp_path / "other", dagster_home) for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files) and any(p.name == "private.duckdb" for p in files)
    for path in files:
        assert _found(path.read_bytes()) == [], path


def test_a_secret_under_a_misspelled_key_is_not_echoed(tmp_path, monkeypatch, capsys):
    from clio_dagster.cli import main

    (tmp_path / "clio.toml").write_text(f'hmac_secert = "{HMAC_SECRET}"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--start", str(DAY), "--end", str(DAY)]) == 2
    err = capsys.readouterr().err
    assert "hmac_secert" in err and "Extra inputs are not permitted" in err
    assert _found(err) == []


@pytest.mark.parametrize("kind", ["claude", "openai_compatible"])
def test_backend_settings_never_show_the_key(kind):
    from clio_dagster.llm.openai_compatible import OpenAICompatibleSettings

    settings_type = {"claude": ClaudeSettings, "openai_compatible": OpenAICompatibleSettings}[kind]
    settings = settings_type(api_key=API_KEY, base_url=None, models={}, temperatures={}, max_tokens={}, prices={})
    assert settings.api_key == API_KEY
    assert _found(repr(settings)) == [] and _found(str(settings)) == []


def test_public_schema_is_the_allow_list(tmp_path):
    """Every table and view the public schema creates, column by column (tests/test_pipeline.py keeps the list),
    and no column named like private data."""
    with Warehouse(tmp_path / "private.duckdb", tmp_path / "public.duckdb").connect("public") as con:
        columns = con.execute("SELECT table_name, column_name FROM information_schema.columns ORDER BY 1, 2").fetchall()
    found: dict[str, set[str]] = {}
    for table, column in columns:
        found.setdefault(table, set()).add(column)
    assert found == PUBLIC_COLUMNS
    assert {c for _, c in columns} & PRIVATE_COLUMN_NAMES == set()


def test_private_db_its_log_and_folder_are_owner_only(tmp_path):
    warehouse = Warehouse(tmp_path / "home" / "private.duckdb", tmp_path / "home" / "public.duckdb")
    old = os.umask(0o022)  # a typical umask: group and others may read new files
    try:
        with warehouse.connect("private") as con:
            con.execute("INSERT INTO llm_failures VALUES ('2023-02-07', 'task', 'item', 'reason', 'detail')")
            wal = Path(f"{warehouse.paths['private']}.wal")
            # The write-ahead log holds the row until a checkpoint, and outlives a killed process.
            assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) & 0o077 == 0, oct(wal.stat().st_mode)
        with warehouse.connect("public") as con:
            con.execute("SELECT 1")
    finally:
        os.umask(old)
    assert stat.S_IMODE(warehouse.paths["private"].stat().st_mode) == 0o600
    assert stat.S_IMODE(warehouse.paths["private"].parent.stat().st_mode) == 0o700
    # The umask is the process's own again, outside a private connection.
    assert stat.S_IMODE(warehouse.paths["public"].stat().st_mode) == 0o644
