"""Classifier comparison (Clio §4.3): an external classifier's flag rate against the mean concern per published
cluster, the correlation over clusters, and the planted disagreements found."""

from __future__ import annotations

import shutil

import duckdb
import numpy as np
import polars as pl
import pytest

from clio_dagster.core.classifier import (
    AGREE,
    LIKELY_FALSE_NEGATIVE,
    LIKELY_FALSE_POSITIVE,
    SCORED_SCHEMA,
    classifier_score,
    compare_clusters,
    json_path,
    pearson,
)
from tests import safety_data
from tests.safety_data import DAY, clusters_made_of, planted_ids


@pytest.mark.parametrize("value, expected", [
    (True, 1.0), (False, 0.0), ("flagged", 1.0), ("no", 0.0), ("0.8", 0.8), (0.25, 0.25), (1, 1.0),
    (7, None), (-0.1, None), ("maybe", None), (None, None), ([1], None), (float("nan"), None),
])
def test_classifier_values_are_flags_or_unit_scores(value, expected):
    assert classifier_score(value) == expected


def test_json_path_quotes_each_part():
    assert json_path("moderation.flagged") == '$."moderation"."flagged"'


def test_pearson_matches_numpy_and_refuses_degenerate_input():
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = 0.7 * x + rng.normal(size=40)
    assert pearson(list(x), list(y)) == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert pearson([1, 2], [3, 4]) is None and pearson([1, 1, 1], [1, 2, 3]) is None


def test_compare_clusters_labels_disagreements_and_respects_thresholds():
    def cluster(cid, n, flagged, concern, users=None):
        return [(cid, f"{cid}-u{i % (users or n)}", 1.0 if i < flagged else 0.0, concern) for i in range(n)]

    items = (cluster("fp", 20, 18, 1) + cluster("fn", 20, 1, 5) + cluster("ok", 20, 15, 4)
             + cluster("small", 4, 4, 1) + cluster("few_users", 20, 20, 1, users=2)
             + [("fp", "unscored-1", None, 1), ("fp", "unscored-2", 1.0, None)])  # counted only with both values
    items = pl.DataFrame(items, schema=SCORED_SCHEMA, orient="row")
    found = {c.cluster_id: c for c in compare_clusters(items, 0.5, min_conversations=10, min_accounts=5)}
    assert set(found) == {"fp", "fn", "ok"}  # below the privacy thresholds: not reported
    assert found["fp"].verdict == LIKELY_FALSE_POSITIVE and found["fp"].disagreement == pytest.approx(0.9)
    assert found["fn"].verdict == LIKELY_FALSE_NEGATIVE and found["fn"].disagreement == pytest.approx(0.05 - 1.0)
    assert found["ok"].verdict == AGREE
    assert found["fp"].conversations_scored == 20 and found["fp"].accounts_scored == 20
    assert [c.cluster_id for c in compare_clusters(items, 0.5, 10, 5)] == ["fn", "fp", "ok"]


# ------------------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def planted():
    settings, result = safety_data.planted_offline_run()
    assert result.success
    with duckdb.connect(str(settings.private_db), read_only=True) as con:
        made_of = {g: clusters_made_of(con, planted_ids(g)) for g in ("resume", "harm")}
    with duckdb.connect(str(settings.public_db), read_only=True) as con:
        rows = con.execute("SELECT cluster_id, level, conversations_scored, flag_rate, concerning_mean, disagreement, "
                           "verdict FROM cluster_classifier WHERE partition_date = ? ORDER BY cluster_id",
                           [DAY]).fetchall()
        summary = con.execute("SELECT level, classifier_field, clusters, pearson_r FROM classifier_summary "
                              "WHERE partition_date = ? ORDER BY level", [DAY]).fetchall()
        published = {r[0] for r in con.execute("SELECT cluster_id FROM published_clusters WHERE partition_date = ? "
                                               "ORDER BY 1", [DAY]).fetchall()}
    return settings, result, made_of, rows, summary, published


def test_planted_disagreements_are_found(planted):
    _, _, made_of, rows, _, _ = planted
    base = [r for r in rows if r[1] == 0]
    false_positives = {r[0] for r in base if r[6] == LIKELY_FALSE_POSITIVE}
    false_negatives = {r[0] for r in base if r[6] == LIKELY_FALSE_NEGATIVE}
    # Flagged resume requests (concern 1): false positives; unflagged poisoning requests: false negatives;
    # and nothing else, since the planted classifier agrees with the concern score elsewhere.
    assert false_positives and false_positives == {c for c in made_of["resume"] if c in {r[0] for r in base}}
    assert false_negatives and false_negatives <= set(made_of["harm"])
    strongest = sorted(base, key=lambda r: r[5])
    assert strongest[0][0] in made_of["harm"] and strongest[-1][0] in made_of["resume"]


def test_correlation_is_pearson_over_the_reported_clusters(planted):
    _, _, made_of, rows, summary, _ = planted
    assert [s[0] for s in summary] == sorted({r[1] for r in rows})
    for level, field, n, r in summary:
        at_level = [row for row in rows if row[1] == level]
        assert field == safety_data.CLASSIFIER_FIELD and n == len(at_level)
        expected = np.corrcoef([row[4] for row in at_level], [row[3] for row in at_level])[0, 1]
        assert r == pytest.approx(expected)
    # Without the planted disagreements, the classifier tracks the concern score closely.
    planted_clusters = set(made_of["resume"]) | set(made_of["harm"])
    rest = [row for row in rows if row[1] == 0 and row[0] not in planted_clusters]
    assert pearson([row[4] for row in rest], [row[3] for row in rest]) > 0.5


def test_only_published_clusters_with_enough_scored_conversations_are_reported(planted):
    settings, _, _, rows, _, published = planted
    assert rows and {r[0] for r in rows} <= published
    assert all(r[2] >= settings.min_conversations for r in rows)


def test_markdown_report_lists_the_disagreements(planted):
    settings, result, made_of, rows, _, _ = planted
    report = (settings.explorer_dir / f"classifier_{DAY.isoformat()}.md").read_text(encoding="utf-8")
    level0 = report.split("## Level 0")[1]
    fp_part, fn_part = level0.split("### Likely false negatives")
    assert all(c in fp_part for c in made_of["resume"] if c in {r[0] for r in rows})
    assert any(c in fn_part for c in made_of["harm"])
    meta = result.asset_materializations_for_node("classifier_comparison")[0].metadata
    assert meta["likely_false_positives"].value >= 1 and meta["likely_false_negatives"].value >= 1
    assert meta["conversations_with_field"].value == len(safety_data.planted_records())


def test_without_a_classifier_field_the_day_is_cleared(planted, tmp_path):
    from clio_dagster.assets import classifier_comparison

    settings = planted[0]
    home = tmp_path / "copy"
    shutil.copytree(settings.home, home)
    unconfigured = safety_data.settings_for(home, classifier_field=None)
    result = safety_data.materialize(unconfigured, [classifier_comparison])
    assert result.success
    with duckdb.connect(str(unconfigured.public_db), read_only=True) as con:
        counts = [con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("cluster_classifier",
                                                                                 "classifier_summary")]
    assert counts == [0, 0]
    assert not (unconfigured.explorer_dir / f"classifier_{DAY.isoformat()}.md").exists()


def test_explorer_index_links_the_days_classifier_report(planted):
    settings, *_ = planted
    index = (settings.explorer_dir / "index.html").read_text(encoding="utf-8")
    report = settings.explorer_dir / f"classifier_{DAY.isoformat()}.md"
    assert report.exists() and f'href="{report.name}"' in index
