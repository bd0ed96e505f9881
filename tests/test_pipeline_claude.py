"""The daily assets with the claude backend, the real SDK talking to the loopback fake API."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from clio_dagster.assets import DAILY_ASSETS
from clio_dagster.resources import build_resources
from clio_dagster.settings import ClioSettings
from tests.conftest import write_jsonl
from tests.fake_anthropic import FakeAnthropic, FaultPlan
from tests.test_pipeline import _sample_records
from tests.test_progress import llm_totals, usage_totals

DAY = date(2023, 2, 6)
SECRET = "claude-pipeline-secret"


def _settings(home, fake, **extra) -> ClioSettings:
    return ClioSettings(
        home=home, llm_backend="claude", claude_base_url=fake.base_url, claude_max_retries=4,
        min_unique_users=3, min_conversations=5, target_cluster_size=15, **extra,
    )


def _materialize(settings, instance=None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        DAILY_ASSETS, partition_key=DAY.isoformat(), resources=build_resources(settings),
        instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False,
    )


@pytest.fixture
def landing(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIO_HMAC_SECRET", SECRET)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    home = tmp_path / "clio"
    write_jsonl(home / "landing" / DAY.isoformat() / "day.jsonl", _sample_records(DAY)[:240])
    return home


def _meta(result, asset):
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()}


def test_claude_pipeline_publishes_llm_names_and_a_rerun_makes_no_calls(landing):
    with FakeAnthropic() as fake:
        settings = _settings(landing, fake)
        instance = dg.DagsterInstance.ephemeral()
        first = _materialize(settings, instance)
        assert first.success
        calls = fake.message_calls
        facets = _meta(first, "facets")
        assert facets["llm_backend"] == "claude" and facets["heuristic"] is False
        assert facets["llm_calls"] == facets["dagster/row_count"] == 240
        assert facets["llm_cost_usd"] > 0 and facets["llm_cache_read_tokens"] > 0
        names = _meta(first, "cluster_names")
        assert names["llm_calls"] == names["dagster/row_count"] > 0
        llm_assets = ["facets", "cluster_names", "hierarchy", "privacy_audit"]
        assert _meta(first, "privacy_audit")["llm_calls"] > 0
        assert calls == sum(_meta(first, a)["llm_calls"] for a in llm_assets)

        second = _materialize(settings)
        assert second.success
        assert fake.message_calls == calls  # everything came from the cache
        assert _meta(second, "facets")["llm_cache_hits"] == 240

    import duckdb

    # Every LLM stage's progress ends in the step log with what llm_usage recorded for it.
    log = [entry.user_message for entry in instance.all_logs(first.run_id) if not entry.is_dagster_event]
    with duckdb.connect(str(settings.private_db), read_only=True) as con:
        for asset in llm_assets:
            last = [line for line in log if line.startswith(f"{asset} {DAY}: ")][-1]
            assert last.startswith(f"{asset} {DAY}: done, "), last
            recorded = usage_totals(con, run_id=first.run_id, asset=asset)
            assert recorded["calls"] == _meta(first, asset)["llm_calls"] > 0
            assert {key: llm_totals(last)[key] for key in recorded} == recorded, asset

    con = duckdb.connect(str(settings.public_db), read_only=True)
    rows = con.execute("SELECT level, name, heuristic, naming_method FROM published_clusters ORDER BY cluster_id").fetchall()
    concern = con.execute("SELECT value, sum(conversations) FROM cluster_facets WHERE facet = 'concerning' "
                          "GROUP BY 1 ORDER BY 1").fetchall()
    con.close()
    # The fake scores harmful requests 4 and the rest 1: both show up in the published concern histograms.
    assert {value for value, _ in concern} >= {"1"} and sum(n for _, n in concern) > 0
    base = [r for r in rows if r[0] == 0]
    # LLM names, or (where the auditor rejected one twice) the generic name under an audited parent.
    assert base and all(name.startswith(("Help with", "Other requests within: ")) and not heuristic
                        for _, name, heuristic, _ in base)
    assert any(name.startswith("Help with") for _, name, _, _ in base)
    # Which backend and model wrote each name.
    assert {method for *_, method in base} == {"llm: Clio contrastive cluster naming (claude: claude-sonnet-5-5)"}
    parents = [r for r in rows if r[0] > 0]
    assert parents and {m for *_, m in parents} == {
        "llm: Clio hierarchizer (propose, dedupe, assign, rename) (claude: claude-sonnet-5-5)"}


def test_faults_across_the_pipeline_give_the_same_public_db(landing, tmp_path):
    import duckdb

    def public_rows(settings):
        con = duckdb.connect(str(settings.public_db), read_only=True)
        try:
            return con.execute("SELECT * EXCLUDE (partition_date) FROM published_clusters ORDER BY ALL").fetchall()
        finally:
            con.close()

    with FakeAnthropic() as clean:
        clean_settings = _settings(landing, clean)
        assert _materialize(clean_settings).success
        expected = public_rows(clean_settings)
    faulty_home = tmp_path / "faulty"
    (faulty_home / "landing").mkdir(parents=True)
    (faulty_home / "landing" / DAY.isoformat()).symlink_to(landing / "landing" / DAY.isoformat())
    plan = FaultPlan(rate=0.3, kinds=("429", "529", "500"), seed=3)
    with FakeAnthropic(faults=plan) as faulty:
        settings = _settings(faulty_home, faulty)
        assert _materialize(settings).success
        assert faulty.fault_log
    assert public_rows(settings) == expected


def test_missing_api_key_fails_the_step_with_a_clear_message(landing, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with FakeAnthropic() as fake:
        result = _materialize(_settings(landing, fake))
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "facets"
    assert "needs ANTHROPIC_API_KEY" in failure.step_failure_data.error.cause.message


def test_budget_cap_stops_the_run_before_it_overspends(landing):
    with FakeAnthropic() as fake:
        result = _materialize(_settings(landing, fake, llm_budget_usd=0.05))
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        assert "LLM budget reached" in failure.step_failure_data.error.cause.message
        assert 0 < fake.message_calls < 240
