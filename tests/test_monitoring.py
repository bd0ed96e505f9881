"""Monitoring over time: 7 days resampled from the bundled sample, with a planted topic (spring vegetable
gardens) that appears on day 5 and a planted topic (knitting wool sweaters) present every day whose
volume quadruples on days 6-7 (its share more than doubles); stable topic ids whatever the order of
materialisation; `clio compare`; concurrent CLI runs on one CLIO_HOME."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from clio_dagster.assets import DAILY_ASSETS, topic_registry
from clio_dagster.resources import build_resources
from clio_dagster.sample_data import sample_path
from clio_dagster.settings import ClioSettings
from tests.conftest import FAST_TEST_EMBEDDER, ROOT, write_jsonl

START = date(2024, 3, 1)
DAYS = [START + timedelta(days=i) for i in range(7)]
SECRET = "monitoring-test-secret"
BASE = 110
PYTHON = 20
GARDEN = 40
GARDEN_STARTS = DAYS[4]
KNIT = 15
KNIT_GROWS = DAYS[5]

_GARDEN_OPENERS = ["Help me plan", "How should I lay out", "Can you design", "I want to start", "Give me a plan for",
                   "What should I sow in", "Suggest a layout for", "Walk me through planting"]
_GARDEN_OBJECTS = ["a vegetable garden this spring", "raised vegetable beds in spring", "a spring vegetable patch",
                   "my first spring vegetable garden", "a small spring garden of tomatoes and lettuce"]


_KNIT_OPENERS = ["How do I knit", "Teach me to knit", "Give me a pattern to knit", "What yarn should I use to knit",
                 "Explain the stitches to knit", "Help me finish knitting"]
_KNIT_OBJECTS = ["a wool sweater", "a chunky wool jumper", "a cable-knit wool cardigan", "a raglan wool pullover",
                 "a warm wool sweater for winter", "a wool sweater with a ribbed collar", "a fair isle wool sweater"]


def _knit(day: date, i: int) -> dict:
    text = (f"{_KNIT_OPENERS[i % len(_KNIT_OPENERS)]} {_KNIT_OBJECTS[i % len(_KNIT_OBJECTS)]}? "
            f"Needle size, casting on, gauge swatch and sleeves (knitting project {i}).")
    return {"id": f"knit-{day}-{i:03d}", "user_id": f"knitter-{i:03d}", "timestamp": f"{day}T11:{i % 60:02d}:00Z",
            "messages": [{"role": "user", "content": text},
                         {"role": "assistant", "content": "Knit a gauge swatch first."}]}


def _sample() -> list[dict]:
    with gzip.open(sample_path(), "rt", encoding="utf-8") as fh:
        return sorted((json.loads(line) for line in fh), key=lambda r: r["id"])


def _is_python(record: dict) -> bool:
    return record["id"].startswith("arenahard") and "python" in record["messages"][0]["content"].lower()


def _garden(day: date, i: int) -> dict:
    text = (f"{_GARDEN_OPENERS[i % len(_GARDEN_OPENERS)]} {_GARDEN_OBJECTS[i % len(_GARDEN_OBJECTS)]}? "
            f"Which vegetables to plant, spacing of the beds and when to sow seeds (garden plan {i}).")
    return {"id": f"garden-{day}-{i:03d}", "user_id": f"gardener-{i:03d}", "timestamp": f"{day}T10:{i % 60:02d}:00Z",
            "messages": [{"role": "user", "content": text},
                         {"role": "assistant", "content": "Start with a sunny spot and raised beds."}]}


def build_days(per_base: int = BASE, per_python: int = PYTHON, garden: int = GARDEN, knit: int = KNIT,
               plant: bool = True) -> dict[date, list[dict]]:
    """The same background every day (a deterministic stride over the sample, re-dated), so day-to-day
    differences come only from the planted changes."""
    records = _sample()
    python = [r for r in records if _is_python(r)][:per_python]
    rest = [r for r in records if not _is_python(r)]
    base = [rest[i * len(rest) // per_base] for i in range(per_base)]
    out: dict[date, list[dict]] = {}
    for day in DAYS:
        todays = []
        for r in base + python:
            todays.append({**r, "id": f"{r['id']}-{day}", "timestamp": f"{day}T08:00:00Z"})
        todays.extend(_knit(day, i) for i in range(knit * (4 if plant and day >= KNIT_GROWS else 1)))
        if plant and day >= GARDEN_STARTS:
            todays.extend(_garden(day, i) for i in range(garden))
        for r in todays:
            r.pop("metadata", None)
            r.pop("label", None)
        out[day] = todays
    return out


def _settings(home: Path, **kw) -> ClioSettings:
    values = dict(home=home, llm_backend="offline", min_unique_users=3, min_conversations=5, target_cluster_size=20,
                  hierarchy_levels=2, topic_match_threshold=0.8, emerging_min_share=0.05, emerging_growth_factor=2.0)
    values.update(kw)
    return ClioSettings(**values)


def _stage(settings: ClioSettings, data: dict[date, list[dict]]) -> None:
    for day, records in data.items():
        write_jsonl(settings.landing_dir / day.isoformat() / "day.jsonl", records)


def _materialize(settings: ClioSettings, order: list[date]) -> dg.ExecuteInProcessResult:
    resources = build_resources(settings)
    instance = dg.DagsterInstance.ephemeral()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLIO_HMAC_SECRET", SECRET)
        for day in order:
            assert dg.materialize(DAILY_ASSETS, partition_key=day.isoformat(), resources=resources,
                                  instance=instance).success, day
        result = dg.materialize([topic_registry], resources=resources, instance=instance)
    assert result.success
    return result


def _rows(settings: ClioSettings, sql: str) -> list[tuple]:
    with build_resources(settings)["warehouse"].get().connect("public") as con:
        return con.execute(sql).fetchall()


def _topic_of(settings: ClioSettings, day: date, member_prefix: str) -> set[str]:
    """The level-0 topics whose clusters on `day` hold conversations with ids starting with the prefix
    (from the private memberships: what the planted topic really is, whatever its heuristic name)."""
    warehouse = build_resources(settings)["warehouse"].get()
    with warehouse.connect("private") as con:
        clusters = {f"b{r[0]:05d}" for r in con.execute(
            "SELECT DISTINCT cluster_id FROM base_cluster_members WHERE partition_date = ? AND conversation_id LIKE ?",
            [day, member_prefix + "%"]).fetchall()}
    with warehouse.connect("public") as con:
        return {r[0] for r in con.execute(
            "SELECT topic_id FROM topic_days WHERE partition_date = ? AND cluster_id = ANY(?)",
            [day, sorted(clusters)]).fetchall()}


@pytest.fixture(scope="module")
def in_order(tmp_path_factory):
    settings = _settings(tmp_path_factory.mktemp("in_order"))
    _stage(settings, build_days())
    result = _materialize(settings, DAYS)
    return settings, result


def _members(settings: ClioSettings, day: date, topic_id: str) -> set[str]:
    """Conversation ids of the cluster a topic had on `day` (through the private memberships)."""
    from clio_dagster.core.topics import published_base_nodes

    (cluster_id,) = _rows(settings, f"SELECT cluster_id FROM topic_days WHERE topic_id = '{topic_id}' "
                                    f"AND partition_date = '{day}'")[0]
    published = dict(_rows(settings, f"SELECT cluster_id, level FROM published_clusters WHERE partition_date = '{day}' "
                                     "ORDER BY 1"))
    with build_resources(settings)["warehouse"].get().connect("private") as con:
        tree = dict(con.execute("SELECT node_id, parent_id FROM hierarchy_nodes WHERE partition_date = ? ORDER BY 1",
                                [day]).fetchall())
        bases = [int(b[1:]) for b in published_base_nodes(tree, published)[cluster_id]]
        return {r[0] for r in con.execute(
            "SELECT conversation_id FROM base_cluster_members WHERE partition_date = ? AND cluster_id = ANY(?) "
            "ORDER BY 1", [day, bases]).fetchall()}


@pytest.mark.slow
def test_planted_topics_emerge_and_the_check_names_them(in_order):
    settings, result = in_order
    emerging = _rows(settings, "SELECT partition_date, topic_id, reason, name FROM emerging_topics ORDER BY ALL")
    garden = _topic_of(settings, GARDEN_STARTS, "garden-")
    assert len(garden) == 1, garden
    (garden_id,) = garden
    flagged = {(d, t, reason) for d, t, reason, _ in emerging}
    names = {t: n for _, t, _, n in emerging}
    # the planted new theme: exactly the topic holding the planted conversations, new on day 5
    assert (GARDEN_STARTS, garden_id, "new") in flagged, emerging
    assert "garden" in names[garden_id].lower()
    # the planted theme whose volume quadruples: present before, flagged for growth on day 6
    knit = {t for d, t, reason in flagged if d == KNIT_GROWS and reason == "growth"
            and _members(settings, d, t) and all(m.startswith("knit-") for m in _members(settings, d, t))}
    assert knit, emerging
    assert all(_rows(settings, f"SELECT first_seen FROM topics WHERE topic_id = '{t}'")[0][0] < KNIT_GROWS for t in knit)
    # exactly those: every flagged topic is one of the two planted themes (judged by its members, whatever
    # the heuristic name), although k-means cuts the unchanged background differently once they arrive
    for d, t, _ in flagged:
        planted = {m.split("-")[0] for m in _members(settings, d, t)}
        assert planted in ({"garden"}, {"knit"}), (d, t, names[t], planted)
    assert all(d >= GARDEN_STARTS for d, *_ in emerging), emerging

    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "no_emerging_topics" and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    listed = check.metadata["emerging"].value
    assert any(f" {garden_id} {names[garden_id]} (new" in line for line in listed), listed
    assert any(f" {t} {names[t]} (growth" in line for t in knit for line in listed), listed
    materialization = result.asset_materializations_for_node("topic_registry")[0]
    assert materialization.metadata["days"].value == 7

    # history: the garden topic starts on day 5 and lasts to day 7; the trends view agrees with the tables
    first, last = _rows(settings, f"SELECT first_seen, last_seen FROM topics WHERE topic_id = '{garden_id}'")[0]
    assert (first, last) == (GARDEN_STARTS, DAYS[-1])
    assert _rows(settings, "SELECT count(*) FROM topic_trends")[0][0] == _rows(settings, "SELECT count(*) FROM topic_days")[0][0]


@pytest.mark.slow
def test_out_of_order_backfill_gives_the_same_registry(in_order, tmp_path):
    settings, _ = in_order
    other = _settings(tmp_path / "shuffled")
    _stage(other, build_days())
    _materialize(other, [DAYS[i] for i in (4, 0, 6, 2, 1, 5, 3)])
    for table in ("topics", "topic_days", "emerging_topics"):
        assert _rows(other, f"SELECT * FROM {table} ORDER BY ALL") == _rows(settings, f"SELECT * FROM {table} ORDER BY ALL"), table


@pytest.mark.slow
def test_compare_reports_the_planted_changes(in_order, monkeypatch, capsys):
    from clio_dagster.cli import main

    settings, _ = in_order
    monkeypatch.setenv("CLIO_HOME", str(settings.home))
    garden = next(iter(_topic_of(settings, GARDEN_STARTS, "garden-")))
    assert main(["compare", "--before", f"{DAYS[0]}..{DAYS[3]}", "--after", f"{DAYS[4]}..{DAYS[6]}"]) == 0
    out = capsys.readouterr().out
    stem = f"compare_{DAYS[0]}_{DAYS[3]}__{DAYS[4]}_{DAYS[6]}"
    report = (settings.explorer_dir / f"{stem}.md").read_text()
    assert report.strip() in out
    appear = report.split("## Appear")[1].split("## Vanish")[0]
    assert f"| {garden} |" in appear
    # stored in the public DB, once per comparison (a re-run replaces it), and linked from the explorer index
    assert main(["compare", "--before", f"{DAYS[0]}..{DAYS[3]}", "--after", f"{DAYS[4]}..{DAYS[6]}"]) == 0
    key = f"{DAYS[0]}..{DAYS[3]} vs {DAYS[4]}..{DAYS[6]}"
    assert _rows(settings, "SELECT comparison, days_before, days_after FROM topic_comparisons ORDER BY 1") == [(key, 4, 3)]
    changes = _rows(settings, f"SELECT topic_id, kind FROM topic_changes WHERE comparison = '{key}' ORDER BY ALL")
    assert (garden, "appears") in changes and len(changes) == len(set(changes))
    index = (settings.explorer_dir / "index.html").read_text()
    assert f'href="{stem}.html"' in index
    # the index's topic table follows the registry's stable ids and marks the days a topic emerged
    assert "the same stable topic" in index and 'title="emerging: new"' in index
    page = (settings.explorer_dir / f"{stem}.html").read_text()
    assert garden in page.split("Vanish")[0]
    with pytest.raises(SystemExit):
        main(["compare", "--before", "2024-03-04..2024-03-01", "--after", f"{DAYS[4]}..{DAYS[6]}"])


@pytest.mark.slow
def test_concurrent_cli_runs_on_one_home_serialise_on_the_lock(tmp_path):
    settings = _settings(tmp_path / "clio")
    # Three days, each run by its own `clio run` process at the same time: they meet on the file lock.
    data = {d: records for d, records in build_days(per_base=34, per_python=6, plant=False).items() if d in DAYS[:3]}
    _stage(settings, data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIO_") and k != "DAGSTER_HOME"}
    env.update(FAST_TEST_EMBEDDER)  # what is tested here is not the embedder
    env.update({"CLIO_HOME": str(settings.home), "CLIO_HMAC_SECRET": SECRET, "CLIO_LLM_BACKEND": "offline",
                "CLIO_MIN_UNIQUE_USERS": "3", "CLIO_MIN_CONVERSATIONS": "5", "CLIO_TARGET_CLUSTER_SIZE": "20",
                "CLIO_HIERARCHY_LEVELS": "2"})
    outputs = {}
    procs = {d: subprocess.Popen([sys.executable, "-m", "clio_dagster.cli", "run", "--start", str(d), "--end", str(d)],
                                 cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for d in sorted(data)}
    for d, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        outputs[d] = (proc.returncode, out)
    for d, (rc, out) in outputs.items():
        assert rc == 0, (d, out)
        assert "lock" not in out.lower(), (d, out)
        assert f"{d}: ok" in out, (d, out)
    with build_resources(settings)["warehouse"].get().connect("private") as con:
        raw = dict(con.execute("SELECT partition_date, count(*) FROM raw_conversations GROUP BY 1 ORDER BY 1").fetchall())
    assert raw == {d: len(records) for d, records in data.items()}
    summaries = dict(_rows(settings, "SELECT partition_date, conversations FROM partition_summaries ORDER BY 1"))
    assert summaries == {d: len(records) for d, records in data.items()}


@pytest.mark.slow
def test_topic_tables_and_metadata_hold_no_private_text_or_ids(in_order):
    from tests.test_pipeline import _leaks

    settings, result = in_order
    warehouse = build_resources(settings)["warehouse"].get()
    with warehouse.connect("private") as con:
        identifiers = {r[0] for r in con.execute(
            "SELECT conversation_id FROM raw_conversations UNION SELECT user_hash FROM raw_conversations ORDER BY 1"
        ).fetchall()}
        texts = [r[0] for r in con.execute(
            "SELECT m.text FROM (SELECT unnest(messages) AS m FROM raw_conversations) ORDER BY 1").fetchall()]
    with open(sample_path(), "rb") as fh:
        identifiers |= {json.loads(line)["user_id"] for line in gzip.decompress(fh.read()).decode().splitlines()}
    dump = "\n".join(" ".join(str(v) for v in row) for table in ("topics", "topic_days", "emerging_topics")
                     for row in _rows(settings, f"SELECT * FROM {table} ORDER BY ALL"))
    for materialization in result.get_asset_materialization_events():
        meta = materialization.step_materialization_data.materialization.metadata
        dump += "\n" + "\n".join(f"{k} {v.value}" for k, v in meta.items())
    for check in result.get_asset_check_evaluations():
        dump += "\n" + "\n".join(f"{k} {v.value}" for k, v in check.metadata.items())
    assert dump.strip()
    assert _leaks(dump, identifiers, []) == []
    import re

    assert _leaks(" ".join(re.findall(r"\w+", dump)), set(), texts) == []


def test_topic_changes_rejects_a_bad_window_with_a_clear_message(tmp_path):
    from clio_dagster.assets import topic_changes

    result = dg.materialize([topic_changes], resources=build_resources(_settings(tmp_path)), raise_on_error=False,
                            run_config={"ops": {"topic_changes": {"config": {"before": "2024-03-04..2024-03-01",
                                                                             "after": "2024-03-05..2024-03-07"}}}})
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "'2024-03-04..2024-03-01' ends before it starts" in failure.step_failure_data.error.message
