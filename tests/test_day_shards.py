"""Shards of a day (CLIO_DAY_SHARDS, clio_dagster/assets/shards.py): facets and summary embeddings fanned out into
steps, then assembled, give exactly what one step gives; an unchanged day is reused; a day whose shard did not
finish is never assembled from the others."""

from __future__ import annotations

import gzip
import json
from datetime import date

import dagster as dg
import pytest

from clio_dagster.assets import DAILY_ASSETS
from clio_dagster.assets.shards import _assemble_facets, with_day_shards
from clio_dagster.cli import QUIET_RUN_CONFIG
from clio_dagster.resources import build_resources
from clio_dagster.sample_data import sample_path
from clio_dagster.settings import ClioSettings
from clio_dagster.storage import WarehouseError
from tests.conftest import write_jsonl

DAY = date(2023, 2, 4)
SHARDS = 3


def _settings(home) -> ClioSettings:
    # The screener leaves some conversations out, so that shards also have to agree on what was screened out.
    return ClioSettings(home=home, llm_backend="offline", min_unique_users=3, min_conversations=5,
                        target_cluster_size=15, screen_regex="(?i)the|a")


def _stage(settings: ClioSettings) -> None:
    with gzip.open(sample_path(), "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    day = sorted((r for r in records if r["timestamp"].startswith(DAY.isoformat())), key=lambda r: r["id"])
    write_jsonl(settings.landing_dir / DAY.isoformat() / "conversations.jsonl", day[::4])


def _run(settings: ClioSettings, shards: int, instance) -> dg.ExecuteInProcessResult:
    result = dg.materialize(with_day_shards(DAILY_ASSETS, shards, None), partition_key=DAY.isoformat(),
                            resources=build_resources(settings), instance=instance, run_config=QUIET_RUN_CONFIG)
    assert result.success
    return result


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()}


def _step_metadata(result: dg.ExecuteInProcessResult, step_prefix: str) -> list[dict]:
    outputs = sorted((e for e in result.all_events
                      if e.event_type_value == "STEP_OUTPUT" and e.step_key.startswith(step_prefix)),
                     key=lambda e: e.step_key)
    return [{k: v.value for k, v in e.event_specific_data.metadata.items()} for e in outputs]


def _tables(settings: ClioSettings) -> dict[str, list]:
    warehouse = build_resources(settings)["warehouse"].get()
    with warehouse.connect("private") as con:
        out = {table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
               for table in ("facets", "summary_embeddings", "llm_failures", "base_clusters", "cluster_names")}
        out["facets in written order"] = con.execute("SELECT conversation_id FROM facets").fetchall()
        out["staging"] = [con.execute(f"SELECT count(*) FROM {t}").fetchone()
                          for t in ("facet_shards", "facet_shard_runs")]
    with warehouse.connect("public") as con:
        out["published_clusters"] = con.execute("SELECT * FROM published_clusters ORDER BY ALL").fetchall()
    return out


@pytest.mark.slow
def test_a_day_in_shards_equals_the_day_in_one_step_and_is_reused_unchanged(tmp_path):
    one, sharded = _settings(tmp_path / "one"), _settings(tmp_path / "sharded")
    for settings in (one, sharded):
        _stage(settings)
    instance = dg.DagsterInstance.ephemeral()
    single = _run(one, 1, instance)
    fanned = _run(sharded, SHARDS, instance)

    # Each shard was a step of its own, and together they read every conversation once.
    facet_shards = _step_metadata(fanned, "facets.facets_shard_")
    embedding_shards = _step_metadata(fanned, "summary_embeddings.summary_embeddings_shard_")
    assert len(facet_shards) == len(embedding_shards) == SHARDS
    raw = _metadata(single, "raw_conversations")["dagster/row_count"]
    assert sum(s["conversations"] for s in facet_shards) == raw
    assert max(s["conversations"] for s in facet_shards) - min(s["conversations"] for s in facet_shards) <= 1

    facets_one, facets_sharded = _metadata(single, "facets"), _metadata(fanned, "facets")
    assert facets_one["screened_out"] > 0
    assert facets_sharded.pop("shards") == SHARDS
    assert facets_sharded == facets_one
    # The shards encoded the day's summaries between them; assembling found every vector cached.
    embedded = _metadata(fanned, "summary_embeddings")
    assert embedded["encoded"] == 0 and embedded["cache_hits"] == sum(s["texts"] for s in embedding_shards) > 0
    tables = _tables(sharded)
    assert tables["staging"] == [(0,), (0,)]
    assert tables == _tables(one) and tables["published_clusters"]

    again = _run(sharded, SHARDS, instance)
    assert all(s["reused"] for s in _step_metadata(again, "facets.facets_shard_"))
    assert all(s["reused"] for s in _step_metadata(again, "summary_embeddings.summary_embeddings_shard_"))
    assert _metadata(again, "facets")["reused"] and _metadata(again, "summary_embeddings")["reused"]
    assert _tables(sharded) == tables


def test_a_day_whose_shard_did_not_finish_is_not_assembled(tmp_path):
    settings = _settings(tmp_path / "clio")
    warehouse = build_resources(settings)["warehouse"].get()
    with warehouse.connect("private") as con:
        con.execute("INSERT INTO facet_shard_runs VALUES (?, 0, 3, 10, 1), (?, 2, 3, 10, 0), (?, 1, 2, 15, 0)",
                    [DAY, DAY, DAY])
        # Shard 1 of this split of 3 never finished (the row for shard 1 belongs to an earlier split in 2).
        with pytest.raises(WarehouseError, match=r"shard\(s\) \[1\] of 3 did not finish"):
            _assemble_facets(con, DAY, 3)
        con.execute("INSERT INTO facet_shard_runs VALUES (?, 1, 3, 10, 2)", [DAY])
        # Rows and failures of a shard beyond this split (shard 3 of an earlier split in 4) are left out.
        for shard in (0, 3):
            con.execute("INSERT INTO facet_shards (partition_date, conversation_id, user_hash, request, language, "
                        "language_code, n_turns, n_user_turns, user_chars, assistant_chars, redactions, "
                        "summary_truncated, input_truncated, backend, method, shard) "
                        "VALUES (?, ?, 'u', 'r', 'English', 'en', 2, 1, 5, 5, 0, false, false, 'offline', 'm', ?)",
                        [DAY, f"c{shard}", shard])
            con.execute("INSERT INTO llm_failures VALUES (?, ?, ?, 'too long', '')", [DAY, f"extract_facets#{shard}",
                                                                                     f"f{shard}"])
        table, reasons, screened_out = _assemble_facets(con, DAY, 3)
    assert (table.column("conversation_id").to_pylist(), reasons, screened_out) == (["c0"], ["too long"], 3)
