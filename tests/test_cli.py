"""The `clio` command as a person uses it: demo on the bundled sample, then show, ingest and run."""

from __future__ import annotations

import json

import duckdb
import pytest

from clio_dagster.cli import main
from clio_dagster.sample_data import stage_sample
from tests.conftest import FAST_TEST_EMBEDDER


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CLIO_HMAC_SECRET", raising=False)  # demo mode must work without a secret
        for key in FAST_TEST_EMBEDDER:  # the demo as a user runs it: the default (multilingual) embedder
            mp.delenv(key, raising=False)
        assert main(["demo", "--home", str(home)]) == 0
    return home


def test_demo_publishes_named_clusters_for_every_sample_day(demo_home, capsys):
    staged = stage_sample(demo_home / "check-landing")
    con = duckdb.connect(str(demo_home / "public.duckdb"), read_only=True)
    per_day = dict(con.execute(
        "SELECT strftime(partition_date, '%Y-%m-%d'), count(*) FROM published_clusters GROUP BY 1 ORDER BY 1"
    ).fetchall())
    thresholds = con.execute("SELECT DISTINCT min_unique_users, min_conversations FROM partition_summaries").fetchall()
    violations = con.execute(
        "SELECT count(*) FROM published_clusters p JOIN partition_summaries s USING (partition_date) "
        "WHERE p.unique_users < s.min_unique_users OR p.conversations < s.min_conversations"
    ).fetchone()[0]
    con.close()
    assert set(per_day) == set(staged) and all(n >= 5 for n in per_day.values()), per_day
    assert thresholds == [(10, 20)]  # the documented defaults
    assert violations == 0


def test_demo_names_are_readable_at_every_level(demo_home):
    """The default demo (multilingual-e5-small, taxonomy names): at most 5% of the published conversations of
    any level sit under a generic name, and parents carry the taxonomy's names with ids stable across days."""
    from clio_dagster.core.naming import generic_shares
    from clio_dagster.core.taxonomy import load_taxonomy

    con = duckdb.connect(str(demo_home / "public.duckdb"), read_only=True)
    rows = con.execute("SELECT partition_date, cluster_id, level, name, conversations FROM published_clusters "
                       "ORDER BY partition_date, level, cluster_id").fetchall()
    stored = con.execute("SELECT partition_date, generic_share_by_level, embedding_model FROM partition_summaries "
                         "ORDER BY partition_date").fetchall()
    con.close()
    assert {model for _, _, model in stored} == {"multilingual-e5-small"}
    taxonomy_names = {node.name for node in load_taxonomy().nodes.values()}
    for day, shares, _ in stored:
        nodes = [{"level": level, "name": name, "conversations": n} for d, _, level, name, n in rows if d == day]
        computed = generic_shares(nodes)
        assert shares == [computed[str(level)] for level in range(len(computed))]
        assert max(shares) <= 0.05, (day, shares)
        parents = [(cid, name) for d, cid, level, name, _ in rows if d == day and level > 0]
        assert parents and all(name in taxonomy_names for _, name in parents)
    parent_ids = {}
    for _, cid, level, name, _ in rows:
        if level > 0:
            parent_ids.setdefault(name, set()).add(cid)
    assert all(len(ids) == 1 for ids in parent_ids.values()), parent_ids  # one id per taxonomy node, every day


def test_show_prints_public_clusters_with_heuristic_label(demo_home, monkeypatch, capsys):
    monkeypatch.setenv("CLIO_HOME", str(demo_home))
    assert main(["show", "--date", "2023-02-05"]) == 0
    out = capsys.readouterr().out
    assert "2023-02-05:" in out and "(heuristic offline names)" in out and "b00000" in out
    assert "2023-02-04" not in out
    assert "conversations under a generic name: level 0 " in out


def test_show_without_public_db_explains(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLIO_HOME", str(tmp_path / "empty"))
    assert main(["show"]) == 1
    assert "run `clio demo` or `clio run` first" in capsys.readouterr().out


def test_show_reads_under_the_lock_the_writers_take(tmp_path):
    """`clio show`, like `clio explore`, waits for a run writing the public DB, then says it stayed locked."""
    from filelock import FileLock

    from clio_dagster.cli import show
    from clio_dagster.settings import ClioSettings
    from clio_dagster.storage import WarehouseError

    settings = ClioSettings(home=tmp_path / "home", lock_timeout_s=0.2)
    settings.home.mkdir()
    duckdb.connect(str(settings.public_db)).close()
    with FileLock(f"{settings.public_db}.lock"):
        with pytest.raises(WarehouseError, match="stayed locked by a running pipeline"):
            show(settings, None)


def test_ingest_then_run_a_range(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLIO_MIN_UNIQUE_USERS", "2")
    monkeypatch.setenv("CLIO_MIN_CONVERSATIONS", "2")
    source = tmp_path / "batch.jsonl"
    source.write_text("\n".join(json.dumps({
        "id": f"c{i}", "user_id": f"u{i % 5}",
        "messages": [{"role": "user", "content": f"How do I make sourdough bread rise better, attempt {i}?"}],
    }) for i in range(12)) + "\n")
    assert main(["ingest", str(source), "--date", "2024-05-01"]) == 0
    assert (tmp_path / "home" / "landing" / "2024-05-01" / "batch.jsonl").is_file()
    assert main(["run", "--start", "2024-05-01", "--end", "2024-05-02"]) == 0
    out = capsys.readouterr().out
    assert "2024-05-01: ok" in out and "2024-05-02: ok, 0 clusters published" in out
    # The run refreshes the topic registry itself (trends and emerging topics need no `clio topics`).
    assert "topic_registry: ok" in out
    with duckdb.connect(str(tmp_path / "home" / "public.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM topics").fetchone()[0] > 0


def test_run_reports_a_missing_secret_clearly(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CLIO_HMAC_SECRET")
    assert main(["run", "--start", "2024-05-01", "--end", "2024-05-01"]) == 1
    assert "CLIO_HMAC_SECRET is not set" in capsys.readouterr().out


def test_bad_date_range_is_a_usage_error(capsys):
    assert main(["run", "--start", "2024-05-02", "--end", "2024-05-01"]) == 2
    assert "is before --start" in capsys.readouterr().err


def test_estimate_on_the_bundled_sample_prints_tokens_and_dollars_per_stage(capsys):
    assert main(["estimate", "--sample"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "facets" in lines and "total" in lines and "privacy" in lines
    facets = lines["facets"].split()
    assert facets[1] == "claude-haiku-5-5" and int(facets[2]) >= 2800  # one facets call per conversation
    assert float(lines["total"].split()[-2]) > float(lines["total"].split()[-1]) > 0  # batch is cheaper
    assert "per 1,000 conversations" in out
