"""Safety mode (Clio §4): thresholds and auditor off, for authorised trust-and-safety review, written to the
private DB only, refused unless the setting AND the operator's environment variable are both present, and
every attempt logged with who and when."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from clio_dagster.core.safety_mode import SAFETY_OPERATOR_ENV, check_safety_mode
from clio_dagster.settings import SettingsError, load_settings
from tests import safety_data
from tests.safety_data import DAY


def test_both_switches_are_needed():
    off = check_safety_mode(False, {SAFETY_OPERATOR_ENV: "alice"})
    no_operator = check_safety_mode(True, {SAFETY_OPERATOR_ENV: "  "})
    on = check_safety_mode(True, {SAFETY_OPERATOR_ENV: "alice"})
    assert not off.authorised and "safety mode is off" in off.reason
    assert not no_operator.authorised and SAFETY_OPERATOR_ENV in no_operator.reason
    assert on.authorised and on.operator == "alice" and on.os_user
    assert abs(on.at - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_the_operator_cannot_come_from_a_config_file(tmp_path, monkeypatch):
    config = tmp_path / "clio.toml"
    config.write_text('safety_mode = true\nsafety_operator = "everyone"\n', encoding="utf-8")
    monkeypatch.setenv("CLIO_CONFIG", str(config))
    with pytest.raises(SettingsError):
        load_settings()
    config.write_text("safety_mode = true\n", encoding="utf-8")
    assert load_settings().safety_mode is True
    assert not check_safety_mode(load_settings().safety_mode, {}).authorised


def _small_day(home, **extra):
    settings = safety_data.settings_for(home, **extra)
    records = [r for r in safety_data.planted_records() if r["id"].startswith(("planted-harm", "planted-bread",
                                                                                "planted-review"))]
    safety_data.write_landing(settings.landing_dir, records)
    return settings


def _safety_runs(settings):
    with duckdb.connect(str(settings.private_db), read_only=True) as con:
        return con.execute("SELECT asset, operator, authorised, reason FROM safety_runs ORDER BY asset").fetchall()


@pytest.mark.parametrize("enabled, operator, reason", [
    (False, "alice", "safety mode is off"), (True, None, f"{SAFETY_OPERATOR_ENV} is not set"),
])
def test_safety_assets_refuse_and_log_the_attempt(tmp_path, monkeypatch, enabled, operator, reason):
    from clio_dagster.assets import SAFETY_MODE_ASSETS

    if operator:
        monkeypatch.setenv(SAFETY_OPERATOR_ENV, operator)
    settings = _small_day(tmp_path / "clio", safety_mode=enabled)
    result = safety_data.materialize(settings, SAFETY_MODE_ASSETS)
    failures = [e for e in result.all_events if e.is_step_failure]
    assert not result.success and len(failures) == 2
    messages = [e.step_failure_data.error.cause.message for e in failures]
    assert all("SafetyModeRefused: Refused: " in m and reason in m for m in messages)
    assert [(a, auth) for a, _, auth, _ in _safety_runs(settings)] == [("coordinated_use", False), ("safety_clusters", False)]
    with duckdb.connect(str(settings.private_db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM safety_clusters").fetchone() == (0,)
    assert not settings.public_db.exists()


def test_cli_refuses_without_both_switches(tmp_path, monkeypatch, capsys):
    from clio_dagster.cli import main

    monkeypatch.setenv("CLIO_HOME", str(tmp_path / "clio"))
    monkeypatch.setenv("CLIO_SAFETY_MODE", "1")
    assert main(["safety", "run", "--start", DAY.isoformat(), "--end", DAY.isoformat()]) == 2
    assert f"{SAFETY_OPERATOR_ENV} is not set" in capsys.readouterr().out
    assert main(["safety", "report", "--date", DAY.isoformat()]) == 2
    assert not (tmp_path / "clio").exists()  # refused before anything was opened


def test_authorised_safety_job_writes_only_the_private_db(tmp_path, monkeypatch):
    """Thresholds far above the day's size: nothing could be published, and safety mode still lists every
    cluster with its (unaudited) name, in the private DB; no public DB or explorer page is ever created."""
    from clio_dagster.assets import SAFETY_JOB_ASSETS
    from clio_dagster.definitions import defs

    monkeypatch.setenv(SAFETY_OPERATOR_ENV, "bob")
    settings = _small_day(tmp_path / "clio", safety_mode=True, min_unique_users=1000, min_conversations=1000)
    result = safety_data.materialize(settings, SAFETY_JOB_ASSETS)
    assert result.success
    assert sorted(p.name for p in settings.home.iterdir()) == ["landing", "private.duckdb", "private.duckdb.lock"]
    with duckdb.connect(str(settings.private_db), read_only=True) as con:
        rows = con.execute("SELECT level, name, conversations, meets_thresholds FROM safety_clusters "
                           "ORDER BY level, node_id").fetchall()
        audited = con.execute("SELECT count(*) FROM cluster_audit").fetchone()[0]
    assert rows and not any(meets for *_, meets in rows) and all(name for _, name, _, _ in rows)
    assert sum(n for level, _, n, _ in rows if level == 0) == 90
    # Undersized clusters are not merged in safety mode (here all would become one): every k-means cluster stays.
    assert len([row for row in rows if row[0] == 0]) > 1
    assert audited == 0  # the privacy auditor never ran
    assert [(a, o, auth) for a, o, auth, _ in _safety_runs(settings)] == [
        ("coordinated_campaigns", "bob", True), ("coordinated_use", "bob", True), ("safety_clusters", "bob", True)]
    # The Dagster job of the same name selects exactly these assets: no audit, publishing or explorer.
    job = defs.resolve_job_def("safety_job")
    assert {k.path[-1] for k in job.asset_layer.executable_asset_keys} == {a.key.path[-1] for a in SAFETY_JOB_ASSETS}
