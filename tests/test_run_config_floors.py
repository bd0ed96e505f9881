"""A run's config can make the privacy settings stricter, never weaker than the deployment's (issue 14, part 1).

The Dagster UI's launchpad and `dg.materialize` both accept run config for the resources. Privacy thresholds
there may be raised for one run; lowering one, switching on demo or safety mode, or breaking a setting's
constraint refuses the run when its resources start, before any asset computes. The webserver's GraphQL
launch is tested in test_definitions.py (the same check, reached through `dagster dev`)."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb
import pytest

from clio_dagster.assets import DAILY_ASSETS
from clio_dagster.core.privacy import PrivacyFloors, floor_refusals
from clio_dagster.resources import build_resources
from clio_dagster.settings import ClioSettings
from tests.conftest import write_jsonl
from tests.test_pipeline import _sample_records

DAY = date(2023, 2, 4)
FLOORS = PrivacyFloors(min_unique_users=10, min_conversations=20, min_audit_rating=3, demo_mode=False,
                       safety_mode=False)


def test_floor_refusals_name_each_weakened_setting():
    assert floor_refusals(FLOORS, {"min_unique_users": 10, "min_conversations": 25, "min_audit_rating": 5}) == []
    reasons = floor_refusals(FLOORS, {"min_unique_users": 0, "min_conversations": -5, "min_audit_rating": 2,
                                      "demo_mode": True, "safety_mode": True})
    assert [r.split("=")[0] for r in reasons] == ["min_unique_users", "min_conversations", "min_audit_rating",
                                                  "demo_mode", "safety_mode"]
    assert "below this deployment's floor of 10" in reasons[0] and "floor of 20" in reasons[1]
    # A deployment that runs in demo mode may run a day without it.
    assert floor_refusals(PrivacyFloors(10, 20, 3, True, False), {"demo_mode": False}) == []


def _settings(tmp_path, records: int = 0) -> ClioSettings:
    settings = ClioSettings(home=tmp_path / "clio", llm_backend="offline", embedding_model="all-MiniLM-L6-v2",
                            language_neutral=False, min_unique_users=3, min_conversations=5, target_cluster_size=20)
    if records:
        write_jsonl(settings.landing_dir / DAY.isoformat() / "day.jsonl", _sample_records(DAY)[:records])
    return settings


def _materialize(settings, resource: str, config: dict, assets=DAILY_ASSETS):
    return dg.materialize(assets, partition_key=DAY.isoformat(), resources=build_resources(settings),
                          run_config={"resources": {resource: {"config": config}}},
                          instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def _refusal(result) -> str:
    """The message of the run's failure, with its causes."""
    texts = []
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        while error is not None:
            texts.append(error.message)
            error = error.cause
    return "\n".join(texts)


@pytest.mark.parametrize(
    "resource, config, says",
    [
        ("pipeline", {"min_unique_users": 1}, "min_unique_users=1 is below this deployment's floor of 3"),
        ("pipeline", {"min_conversations": 2}, "min_conversations=2 is below this deployment's floor of 5"),
        ("pipeline", {"min_audit_rating": 1}, "min_audit_rating=1 is below this deployment's floor of 3"),
        ("safety", {"safety_mode": True}, "safety_mode=true is off in this deployment"),
        ("pipeline", {"target_cluster_size": 1}, "target_cluster_size=1: Input should be greater than or equal to 2"),
    ],
)
def test_a_run_config_that_weakens_a_setting_is_refused_before_any_asset_computes(tmp_path, resource, config, says):
    settings = _settings(tmp_path, records=60)
    result = _materialize(settings, resource, config)
    assert not result.success
    assert says in _refusal(result)
    assert result.get_asset_materialization_events() == []
    assert not settings.public_db.exists()


def test_a_negative_threshold_is_refused_by_its_constraint_and_its_floor(tmp_path):
    result = _materialize(_settings(tmp_path), "pipeline", {"min_conversations": -5}, assets=DAILY_ASSETS[:1])
    refusal = _refusal(result)
    assert "min_conversations=-5: Input should be greater than or equal to 1" in refusal
    assert "min_conversations=-5 is below this deployment's floor of 5" in refusal


def test_demo_mode_is_not_run_config(tmp_path):
    """Demo mode (a fixed HMAC secret) comes from the deployment's settings only: Dagster rejects the key."""
    with pytest.raises(dg.DagsterInvalidConfigError, match='unexpected config entry "demo_mode"'):
        _materialize(_settings(tmp_path), "pipeline", {"demo_mode": True}, assets=DAILY_ASSETS[:1])


def test_a_run_may_raise_a_threshold_and_publishes_by_it(tmp_path):
    settings = _settings(tmp_path, records=240)
    # Dagster fills the fields a run's config leaves out with the resource's defaults (the settings'), not
    # with the deployment's values: the run names each value it relies on.
    result = _materialize(settings, "pipeline", {"min_unique_users": 4, "min_conversations": 5,
                                                 "target_cluster_size": 20})
    assert result.success
    with duckdb.connect(str(settings.public_db), read_only=True) as con:
        (stored,) = con.execute("SELECT min_unique_users FROM partition_summaries WHERE partition_date = ?",
                                [DAY]).fetchone()
        users = [n for (n,) in con.execute("SELECT unique_users FROM published_clusters ORDER BY cluster_id").fetchall()]
    assert stored == 4 and users and min(users) >= 4
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks["thresholds_hold"] is True
