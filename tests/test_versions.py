"""Dagster knows what changed: each asset carries the code version of the reuse fingerprint, and
raw_conversations reports a data version of its landing files (the UI's unsynced badges follow from both)."""

from __future__ import annotations

import os
from datetime import date

import dagster as dg

from clio_dagster.assets import DAILY_ASSETS
from clio_dagster.assets.reuse import code_version
from clio_dagster.core.landing import landing_data_version
from clio_dagster.resources import build_resources
from tests.conftest import write_jsonl

DAY = date(2024, 1, 1)


def test_every_asset_carries_the_code_version():
    from clio_dagster.definitions import defs

    graph = defs.resolve_asset_graph()
    versions = {key.to_user_string(): graph.get(key).code_version for key in graph.get_all_asset_keys()}
    assert set(versions.values()) == {code_version()}, versions


def _record(i: int) -> dict:
    return {"id": f"c{i}", "user_id": f"u{i}", "timestamp": f"{DAY}T10:00:00Z",
            "messages": [{"role": "user", "content": f"how do I bake bread, question {i}"}]}


def _data_version(settings) -> str:
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(DAILY_ASSETS[:1], partition_key=DAY.isoformat(), resources=build_resources(settings),
                            instance=instance)
    (event,) = result.asset_materializations_for_node("raw_conversations")
    return event.tags["dagster/data_version"]


def test_raw_conversations_reports_the_landing_files_version(settings):
    path = write_jsonl(settings.landing_dir / DAY.isoformat() / "day.jsonl", [_record(i) for i in range(3)])
    first = _data_version(settings)
    assert first == landing_data_version(settings.landing_dir, DAY, settings.landing_lookaround_days)
    assert _data_version(settings) == first  # unchanged files, same version
    write_jsonl(path, [_record(i) for i in range(4)])
    os.utime(path, ns=(1, 1))
    assert _data_version(settings) != first
