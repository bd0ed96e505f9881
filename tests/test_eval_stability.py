"""`clio eval stability`: seed and subsample agreement of real offline pipeline runs."""

from __future__ import annotations

import json
import random
from datetime import date

import numpy as np
import pytest

from clio_dagster.cli import main
from clio_dagster.evaluation.metrics import ari
from clio_dagster.evaluation.stability import assignment_agreement, subsample, topic_agreement
from clio_dagster.evaluation.staging import DayLines, conversation_lines_by_day
from clio_dagster.sample_data import sample_path
from clio_dagster.settings import SettingsError

PER_DAY = 60


def _lines(n_days: int, per_day: int) -> DayLines:
    return DayLines({f"2023-02-0{d + 1}": [f'{{"n": {d * 1000 + i}}}\n'.encode() for i in range(per_day)]
                     for d in range(n_days)})


def test_subsample_keeps_a_seeded_share_of_every_day_in_order():
    lines = _lines(3, 41)
    picked = subsample(lines, 0.9, seed=5)

    for day in lines.days:
        kept = picked.by_day[day]
        assert len(kept) == round(0.9 * 41)
        positions = [lines.by_day[day].index(line) for line in kept]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert subsample(lines, 0.9, seed=5) == picked
    assert subsample(lines, 0.9, seed=6) != picked
    assert subsample(lines, 1.0, seed=5).by_day == lines.by_day
    with pytest.raises(SettingsError):
        subsample(lines, 0.0, seed=5)


def test_assignment_agreement_is_per_day_over_common_conversations_and_weighted():
    run_a = {"2023-02-04": {"c1": 0, "c2": 0, "c3": 1, "c4": 1, "only-a": 1},
             "2023-02-05": {"d1": 0, "d2": 0, "d3": 1, "d4": 1, "d5": 2, "d6": 2}}
    # Day 1: the same partition under other ids; day 2: one conversation moved.
    run_b = {"2023-02-04": {"c1": 7, "c2": 7, "c3": 3, "c4": 3, "only-b": 3},
             "2023-02-05": {"d1": 0, "d2": 1, "d3": 1, "d4": 1, "d5": 2, "d6": 2}}

    result = assignment_agreement(run_a, run_b)

    day2 = ari([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 2])
    assert result["ari_by_day"]["2023-02-04"] == {"ari": 1.0, "common_conversations": 4}
    assert result["ari_by_day"]["2023-02-05"]["ari"] == round(day2, 4) < 1.0
    assert result["common_conversations"] == 10
    assert result["ari"] == round((4 * 1.0 + 6 * day2) / 10, 4)


def _bag_of_words(texts: list[str]) -> np.ndarray:
    """A deterministic unit vector per text: hashed word counts."""
    vectors = np.zeros((len(texts), 64))
    for row, text in enumerate(texts):
        for word in text.lower().replace(":", " ").split():
            vectors[row, random.Random(word).randrange(64)] += 1.0
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _published(day: date, level: int, cluster_id: str, name: str) -> tuple:
    return (day, level, cluster_id, name, f"Requests about {name.lower()}", 30, 20, 0.1, None)


def test_topic_agreement_pairs_clusters_one_to_one_within_a_level():
    day = date(2023, 2, 4)
    run_a = [_published(day, 0, "b00000", "Python file errors"), _published(day, 0, "b00001", "Bread baking recipes"),
             _published(day, 0, "b00002", "Knitting patterns for scarves"), _published(day, 1, "l1-0000", "Cooking")]
    run_b = [_published(day, 0, "b00003", "Bread baking recipes"), _published(day, 0, "b00000", "Python file errors"),
             _published(day, 0, "b00001", "Python file errors"),  # a duplicate may take only one partner
             _published(day, 1, "l1-0000", "Knitting patterns for scarves")]  # same text, other level: no match

    result = topic_agreement(run_a, run_b, _bag_of_words, threshold=0.8)

    assert result["by_level"] == {"0": {"published": 3, "published_other": 3, "matched": 2},
                                  "1": {"published": 1, "published_other": 1, "matched": 0}}
    assert result["topics_matched"] == 2
    assert result["topics_matched_fraction"] == 0.5 and result["topics_matched_fraction_other"] == 0.5
    assert topic_agreement(run_a, run_a, _bag_of_words, threshold=0.8)["topics_matched_fraction"] == 1.0


def test_missing_data_file_is_a_clear_error(tmp_path, capsys):
    assert main(["eval", "stability", "--data", str(tmp_path / "absent.jsonl")]) == 2
    assert "absent.jsonl is not a file" in capsys.readouterr().err


@pytest.mark.slow
def test_identical_seeds_agree_fully_and_the_subsample_is_compared_on_common_conversations(
    tmp_path, monkeypatch, capsys
):
    lines = conversation_lines_by_day(sample_path(), n_per_day=PER_DAY)
    data = tmp_path / "one_day.jsonl"
    data.write_bytes(b"".join(lines.by_day[lines.days[0]]))
    for key, value in {"MIN_UNIQUE_USERS": "3", "MIN_CONVERSATIONS": "5", "TARGET_CLUSTER_SIZE": "6",
                       "HIERARCHY_TOP": "2"}.items():
        monkeypatch.setenv(f"CLIO_{key}", value)

    assert main(["eval", "stability", "--data", str(data), "--seeds", "3", "3", "--subsample-seed", "1"]) == 0
    result = json.loads(capsys.readouterr().out)

    assert result["days"] == [lines.days[0]] and result["conversations"] == PER_DAY
    assert result["seeds"] == [3, 3] and result["subsample_fraction"] == 0.9
    same = result["seed_a_vs_seed_b"]
    assert same["ari"] == 1.0 and same["common_conversations"] == PER_DAY
    assert same["published"] > 1 and same["topics_matched"] == same["published"] == same["published_other"]
    assert same["topics_matched_fraction"] == 1.0
    assert len(same["by_level"]) >= 2  # base clusters and at least one parent level were compared

    kept = round(0.9 * PER_DAY)
    assert result["runs"]["subsample"]["conversations"] == kept
    part = result["seed_a_vs_subsample"]
    assert part["common_conversations"] == kept
    assert -1.0 <= part["ari"] <= 1.0
    assert 0.0 <= part["topics_matched_fraction"] <= 1.0
    assert part["topics_matched"] <= min(part["published"], part["published_other"])
