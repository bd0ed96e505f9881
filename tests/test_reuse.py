"""Reusing an unchanged partition's stored output (clio_dagster/assets/reuse.py): digests see every change and
nothing else, and the pipeline recomputes exactly what a change in the data, the settings or an output affects."""

from __future__ import annotations

import gzip
import json
from datetime import date

import dagster as dg
import pyarrow as pa
import pytest

from clio_dagster.assets import DAILY_ASSETS
from clio_dagster.assets.reuse import (
    Fingerprint,
    input_fingerprint,
    partition_digest,
    record_outputs,
    reusable_outputs,
)
from clio_dagster.cli import QUIET_RUN_CONFIG
from clio_dagster.resources import build_resources
from clio_dagster.sample_data import sample_path
from clio_dagster.settings import ClioSettings
from clio_dagster.storage import Warehouse, replace_partition, transaction
from tests.conftest import write_jsonl

D1, D2 = date(2024, 1, 1), date(2024, 1, 2)


def _stats(day: date, values: list[int]) -> pa.Table:
    n = len(values)
    return pa.table({"partition_date": pa.array([day] * n, pa.date32()), "records_in": values, "accepted": values,
                     "quarantined": [0] * n, "files_read": [1] * n})


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    return Warehouse(tmp_path / "private.duckdb", tmp_path / "public.duckdb", lock_timeout_s=5)


def _write(warehouse: Warehouse, day: date, values: list[int]) -> None:
    with warehouse.connect("private") as con, transaction(con):
        replace_partition(con, "ingest_stats", day, _stats(day, values))


def _digest(warehouse: Warehouse, day: date, columns=()) -> list:
    with warehouse.connect("private") as con:
        return partition_digest(con, "ingest_stats", day, columns)


def test_digest_ignores_row_order_and_other_days_but_sees_any_change(warehouse):
    _write(warehouse, D1, [1, 2, 3])
    _write(warehouse, D2, [7])
    first = _digest(warehouse, D1)
    _write(warehouse, D1, [3, 1, 2])
    assert _digest(warehouse, D1) == first
    _write(warehouse, D2, [8])
    assert _digest(warehouse, D1) == first
    for changed in ([1, 2, 4], [1, 2, 3, 3], [1, 2]):
        _write(warehouse, D1, changed)
        assert _digest(warehouse, D1) != first, changed
    # Only the named columns count.
    _write(warehouse, D1, [1, 2, 3])
    with warehouse.connect("private") as con:
        con.execute("UPDATE ingest_stats SET files_read = 9 WHERE partition_date = ?", [D1])
    assert _digest(warehouse, D1, ["records_in"]) == _digest(warehouse, D1, ["accepted"])
    assert _digest(warehouse, D1) != first


def test_stored_output_is_reused_only_for_the_same_inputs_and_untouched_rows(warehouse):
    _write(warehouse, D1, [1, 2, 3])
    fingerprint = Fingerprint("an_asset", D1, "abc")
    with warehouse.connect("private") as con:
        assert reusable_outputs(con, fingerprint) is None
        record_outputs(con, fingerprint, ["ingest_stats"])
        assert reusable_outputs(con, fingerprint) == {"ingest_stats": 3}
        assert reusable_outputs(con, Fingerprint("an_asset", D1, "abd")) is None
        assert reusable_outputs(con, Fingerprint("an_asset", D2, "abc")) is None
        con.execute("UPDATE ingest_stats SET accepted = 0 WHERE records_in = 2")
        assert reusable_outputs(con, fingerprint) is None


def test_fingerprint_follows_reads_and_settings(warehouse, settings):
    _write(warehouse, D1, [1, 2, 3])
    pipeline = build_resources(settings)["pipeline"]
    reads = {"ingest_stats": ("records_in",)}
    with warehouse.connect("private") as con:
        base = input_fingerprint(con, "a", D1, reads, [pipeline]).value
        assert input_fingerprint(con, "a", D1, reads, [pipeline]).value == base
        assert input_fingerprint(con, "b", D1, reads, [pipeline]).value != base
        stricter = build_resources(settings.model_copy(update={"min_unique_users": 11}))["pipeline"]
        assert input_fingerprint(con, "a", D1, reads, [stricter]).value != base
        con.execute("UPDATE ingest_stats SET records_in = 5 WHERE records_in = 3")
        assert input_fingerprint(con, "a", D1, reads, [pipeline]).value != base


def test_fingerprint_follows_plain_values_such_as_a_taxonomys_digest(warehouse, settings):
    # A taxonomy edited in place keeps its path (the resource's config) and changes only its digest.
    _write(warehouse, D1, [1, 2, 3])
    pipeline = build_resources(settings)["pipeline"]
    reads = {"ingest_stats": ("records_in",)}
    with warehouse.connect("private") as con:
        before = input_fingerprint(con, "a", D1, reads, [pipeline, "digest-1"]).value
        assert input_fingerprint(con, "a", D1, reads, [pipeline, "digest-1"]).value == before
        assert input_fingerprint(con, "a", D1, reads, [pipeline, "digest-2"]).value != before
        assert input_fingerprint(con, "a", D1, reads, [pipeline, True]).value != input_fingerprint(
            con, "a", D1, reads, [pipeline, False]).value


# ------------------------------------------------------------------------------------- whole pipeline
DAY = date(2023, 2, 4)
REUSABLE = {"facets", "summary_embeddings", "base_clusters", "cluster_names", "hierarchy", "privacy_audit",
            "map_projection"}


def _records() -> list[dict]:
    with gzip.open(sample_path(), "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    same_day = sorted((r for r in records if r["timestamp"].startswith(DAY.isoformat())), key=lambda r: r["id"])
    return same_day[::5]


def _materialize(settings: ClioSettings, instance) -> dict[str, dict]:
    """Each asset's metadata, by asset name."""
    result = dg.materialize(DAILY_ASSETS, partition_key=DAY.isoformat(), resources=build_resources(settings),
                            instance=instance, run_config=QUIET_RUN_CONFIG)
    assert result.success
    return {name: {k: v.value for k, v in result.asset_materializations_for_node(name)[0].metadata.items()}
            for name in (a.key.path[-1] for a in DAILY_ASSETS)}


def _reused(metadata: dict[str, dict]) -> set[str]:
    return {name for name, meta in metadata.items() if meta.get("reused")}


def _tables(settings: ClioSettings) -> dict[str, list]:
    warehouse = build_resources(settings)["warehouse"].get()
    out = {}
    with warehouse.connect("private") as con:
        for table in ("facets", "summary_embeddings", "base_cluster_members", "base_clusters", "cluster_names",
                      "hierarchy_nodes", "cluster_audit", "map_points"):
            out[table] = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
    with warehouse.connect("public") as con:
        out["published_clusters"] = con.execute("SELECT * FROM published_clusters ORDER BY ALL").fetchall()
    return out


@pytest.mark.slow
def test_pipeline_reuses_an_unchanged_partition_and_recomputes_what_a_change_affects(tmp_path):
    settings = ClioSettings(home=tmp_path / "clio", llm_backend="offline", min_unique_users=3, min_conversations=5,
                            target_cluster_size=15)
    records = _records()
    landing = settings.landing_dir / DAY.isoformat() / "conversations.jsonl"
    write_jsonl(landing, records)
    instance = dg.DagsterInstance.ephemeral()

    assert _reused(_materialize(settings, instance)) == set()
    computed = _tables(settings)
    assert _reused(_materialize(settings, instance)) == REUSABLE
    assert _tables(settings) == computed  # reuse keeps exactly what computing wrote

    # A conversation edited in the landing file: its summary changes, so facets, the vectors, the clusters,
    # the names, the audit and the map recompute (the hierarchy only if a cluster name changed), and only
    # the one new summary is encoded.
    records[0]["messages"][0]["content"] = "How do I keep sourdough starter alive while travelling for a month?"
    write_jsonl(landing, records)
    metadata = _materialize(settings, instance)
    assert _reused(metadata) <= {"hierarchy"}
    assert metadata["summary_embeddings"]["encoded"] == 1
    changed = _tables(settings)
    assert changed["facets"] != computed["facets"]

    # An output changed behind the pipeline's back is recomputed, to the same rows as before.
    with build_resources(settings)["warehouse"].get().connect("private") as con:
        con.execute("UPDATE map_points SET x = 0.5 WHERE partition_date = ?", [DAY])
    assert _reused(_materialize(settings, instance)) == REUSABLE - {"map_projection"}
    assert _tables(settings) == changed

    # A threshold change recomputes what depends on the pipeline settings, not the summaries or vectors.
    stricter = settings.model_copy(update={"min_unique_users": 4})
    assert _reused(_materialize(stricter, instance)) == {"facets", "summary_embeddings"}
