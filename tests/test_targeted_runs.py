"""Targeted runs (Clio §4.2): a screened run over a date range around an event writes to its own namespace and
leaves the general daily results byte for byte untouched."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import duckdb
import pytest

from clio_dagster.core.ingest import Accepted, IngestLimits, iter_landing_file
from clio_dagster.core.screening import regex_screen
from clio_dagster.settings import SettingsError, load_settings
from tests.conftest import write_jsonl
from tests.test_pipeline import _sample_records

DAY = date(2023, 2, 6)
NAMESPACE = "election-2024"
SCREEN = r"\b(elect\w*|vote\w*|ballots?|polling)\b"
_QUESTIONS = ["Who is running in the {} mayoral election this year?", "Where is my polling station for the {} vote?",
              "How do I request a mail-in ballot in {}?", "When do polls close on election day in {}?"]
_PLACES = ["Springfield", "Riverside", "Fairview", "Georgetown", "Madison", "Clinton"]


def _election_records() -> list[dict]:
    texts = [q.format(p) for q in _QUESTIONS for p in _PLACES]
    return [{"id": f"election-{i:02d}", "user_id": f"voter-{i:02d}", "timestamp": f"{DAY}T15:{i:02d}:00Z",
             "messages": [{"role": "user", "content": t}, {"role": "assistant", "content": "Here is how."}]}
            for i, t in enumerate(texts)]


def _digest(home: Path) -> dict[str, str]:
    """Every file under CLIO_HOME except the namespaces folder."""
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(home.rglob("*")) if p.is_file() and "namespaces" not in p.relative_to(home).parts}


def _count(db: Path, sql: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


@pytest.fixture
def env(tmp_path, monkeypatch):
    home = tmp_path / "clio"
    for key, value in {"CLIO_HOME": str(home), "CLIO_LLM_BACKEND": "offline", "CLIO_MIN_UNIQUE_USERS": "3",
                       "CLIO_MIN_CONVERSATIONS": "5", "CLIO_TARGET_CLUSTER_SIZE": "20"}.items():
        monkeypatch.setenv(key, value)
    path = write_jsonl(home / "landing" / DAY.isoformat() / "day.jsonl", _sample_records(DAY)[:120] + _election_records())
    return home, path


def test_a_screened_run_needs_its_own_namespace(env, capsys):
    from clio_dagster.cli import main

    assert main(["run", "--start", DAY.isoformat(), "--end", DAY.isoformat(), "--screen-regex", SCREEN]) == 2
    assert "needs --namespace" in capsys.readouterr().err
    with pytest.raises(SettingsError):
        load_settings(namespace="../escape")


def test_targeted_run_leaves_the_daily_results_untouched(env, capsys):
    from clio_dagster.cli import main

    home, landing_file = env
    day = DAY.isoformat()
    assert main(["run", "--start", day, "--end", day]) == 0
    daily = _digest(home)
    assert {"private.duckdb", "public.duckdb", f"explorer/{day}.html", "explorer/index.html"} <= set(daily)

    assert main(["run", "--start", day, "--end", day, "--namespace", NAMESPACE, "--screen-regex", SCREEN]) == 0
    assert _digest(home) == daily

    target = load_settings(namespace=NAMESPACE)
    assert target.output_dir == home / "namespaces" / NAMESPACE and target.public_db.is_file()
    accepted = [item.conversation for item in iter_landing_file(landing_file, IngestLimits(10**6, 10**7))
                if isinstance(item, Accepted)]
    expected = sum(regex_screen(accepted, SCREEN))
    assert expected >= 24  # the planted election questions (and any sample conversation that matches)
    assert _count(target.private_db, "SELECT count(*) FROM facets") == expected
    assert _count(target.public_db, "SELECT conversations FROM partition_summaries") == expected
    assert _count(home / "public.duckdb", "SELECT conversations FROM partition_summaries") == len(accepted)
    assert _count(target.public_db, "SELECT count(*) FROM published_clusters") > 0
    assert (target.explorer_dir / f"{day}.html").is_file()

    capsys.readouterr()
    assert main(["show", "--namespace", NAMESPACE]) == 0
    assert f"{day}: {expected} conversations" in capsys.readouterr().out
