"""`clio eval reconstruct`: loading labelled sets, matching clusters to categories, and whole runs on small real
subsets of ../shared/data (offline, and claude through the loopback fake API)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from clio_dagster.cli import main
from clio_dagster.evaluation.categories import category_anchors, readable
from clio_dagster.evaluation.reconstruct import assign_by_similarity, load_labelled_set, reconstruct
from clio_dagster.settings import ClioSettings
from tests.conftest import write_jsonl
from tests.fake_anthropic import FakeAnthropic

RESULT_FIELDS = {"accuracy", "macro_f1", "nmi", "ari", "purity", "per_language", "n", "categories"}


def _records() -> list[dict]:
    return [
        {"id": "1", "text": "move money to savings", "label": "transfer", "domain": "banking", "language": "en"},
        {"id": "2", "text": "what's my balance", "label": "balance", "domain": "banking", "language": "en"},
        {"id": "3", "text": "book a flight", "label": "book_flight", "domain": "travel", "language": "fr"},
        {"id": "4", "text": "random chatter", "label": "oos", "domain": "oos", "language": "fr"},
        {"id": "5", "text": "hotel near the beach", "label": "book_hotel", "domain": "travel", "language": "de"},
    ]


def test_load_labelled_set_reads_a_folder_and_builds_the_taxonomy(tmp_path):
    write_jsonl(tmp_path / "set" / "labeled.jsonl", _records())
    data = load_labelled_set(tmp_path / "set", top="domain", exclude=["oos"])
    assert data.categories == ["banking", "banking", "travel", "travel"]
    assert data.labels == ["transfer", "balance", "book_flight", "book_hotel"]
    assert data.taxonomy == {"banking": ["balance", "transfer"], "travel": ["book_flight", "book_hotel"]}
    assert data.languages == ["en", "en", "fr", "de"] and data.language_field == "language"
    flat = load_labelled_set(tmp_path / "set" / "labeled.jsonl")
    assert flat.categories == flat.labels and flat.taxonomy == {}


def test_load_labelled_set_samples_with_a_seed_and_keeps_file_order(tmp_path):
    path = write_jsonl(tmp_path / "many.jsonl", [{"text": f"t{i}", "label": str(i % 3)} for i in range(50)])
    first = load_labelled_set(path, limit=10, seed=3)
    assert first.texts == load_labelled_set(path, limit=10, seed=3).texts
    assert first.texts != load_labelled_set(path, limit=10, seed=4).texts
    assert len(first.texts) == 10
    assert first.texts == sorted(first.texts, key=lambda t: int(t[1:]))
    assert first.languages is None


def test_load_labelled_set_names_a_missing_field(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"text": "a", "label": "x"}])
    with pytest.raises(ValueError, match="domain"):
        load_labelled_set(path, top="domain")
    with pytest.raises(ValueError, match="locale"):
        load_labelled_set(path, language="locale")
    with pytest.raises(FileNotFoundError):
        load_labelled_set(tmp_path / "nowhere")


def test_readable_turns_labels_into_words():
    assert readable("credit_cards") == "credit cards"
    assert readable("BookRestaurant") == "book restaurant"
    assert readable("alarm/set_alarm") == "alarm / set alarm"
    assert readable("visual-studio") == "visual studio"
    assert readable("science/technology") == "science / technology"


def test_category_anchors_add_sub_category_names():
    texts, owners = category_anchors(["banking", "meta"], {"banking": ["balance", "pin_change"], "meta": ["meta"]})
    assert texts == ["banking", "balance", "pin change", "meta"]
    assert owners == [0, 0, 0, 1]


def test_assign_by_similarity_picks_the_category_of_the_nearest_anchor():
    anchors = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    owners = [0, 1, 1]  # category 1 has two anchors
    centroids = np.array([[2.0, 0.1, 0.0], [0.1, 0.0, 0.9], [0.2, 0.5, 0.0]])  # unnormalised on purpose
    assert assign_by_similarity(centroids, anchors, owners).tolist() == [0, 1, 1]


def _run_cli(capsys, *args: str) -> dict:
    assert main(["eval", "reconstruct", *args]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    return json.loads(out[0])


@pytest.mark.shared_data
def test_cli_reconstructs_clinc_domains_well_above_chance(shared_data, capsys, monkeypatch):
    monkeypatch.setenv("CLIO_TARGET_CLUSTER_SIZE", "10")
    result = _run_cli(capsys, "--data", str(shared_data / "clinc150"), "--top", "domain", "--exclude", "oos",
                      "--limit", "400", "--backend", "offline", "--assign", "centroid")
    assert RESULT_FIELDS <= set(result)
    assert result["n"] == 400 and result["categories"] == 10 and result["k"] == 40
    assert result["per_language"] == {} and result["heuristic"] is True
    assert result["chance_accuracy"] == 0.1
    assert result["accuracy"] >= 0.5, result["accuracy"]
    assert 0 < result["macro_f1"] <= 1 and 0 < result["purity"] <= 1 and 0 < result["nmi"] <= 1


@pytest.mark.shared_data
def test_per_language_accuracy_covers_every_language_and_averages_to_the_total(shared_data, capsys, monkeypatch):
    monkeypatch.setenv("CLIO_TARGET_CLUSTER_SIZE", "10")
    data = load_labelled_set(shared_data / "sib200", limit=300, seed=1)
    result = _run_cli(capsys, "--data", str(shared_data / "sib200" / "labeled.jsonl"), "--limit", "300",
                      "--seed", "1", "--backend", "offline", "--embedding-model", "multilingual-e5-small",
                      "--language-neutral", "--assign", "centroid")
    assert result["embedding_model"] == "multilingual-e5-small" and result["language_neutral"] is True
    assert result["language_field"] == "language" and result["categories"] == 7
    counts = Counter(data.languages)
    assert set(result["per_language"]) == set(counts)
    weighted = sum(result["per_language"][lang] * n for lang, n in counts.items()) / result["n"]
    assert weighted == pytest.approx(result["accuracy"], abs=1e-3)
    assert result["worst_language"]["accuracy"] == min(result["per_language"].values())


@pytest.mark.shared_data
def test_claude_path_names_clusters_and_assigns_them_to_the_known_categories(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    data = load_labelled_set(shared_data / "xsid", top="domain", limit=700, seed=0)
    english = [i for i, lang in enumerate(data.languages) if lang == "en"]
    subset = type(data)(texts=[data.texts[i] for i in english], categories=[data.categories[i] for i in english],
                        labels=[data.labels[i] for i in english], languages=[data.languages[i] for i in english],
                        taxonomy=data.taxonomy, source=data.source, category_field="domain", label_field="label",
                        language_field="language")
    with FakeAnthropic() as fake:
        settings = ClioSettings(home=tmp_path / "clio", llm_backend="claude", claude_base_url=fake.base_url,
                                target_cluster_size=5)
        result = reconstruct(subset, settings)
        bodies = [r["json"] for r in fake.requests if r["path"] == "/v1/messages"]
        tasks = Counter(body["tools"][0]["name"] for body in bodies)
        assign_bodies = [body for body in bodies if body["tools"][0]["name"] == "record_assign_parent"]
        rerun_calls_before = fake.message_calls
        again = reconstruct(subset, settings)
        assert fake.message_calls == rerun_calls_before  # every answer came from the eval's LLM cache
    assert tasks["record_extract_facets"] == len(subset.texts)
    assert tasks["record_name_cluster"] == tasks["record_assign_parent"] == result["k"]
    sent = assign_bodies[0]["messages"][0]["content"][0]["text"]
    assert all(f"<name>{readable(c)}</name>" in sent for c in subset.category_names)
    assert result["backend"] == "claude" and result["heuristic"] is False
    assert result["llm"]["llm_calls"] > 0 and result["summary_failures"] == 0
    assert result["accuracy"] > 2 * result["chance_accuracy"]
    assert again["accuracy"] == result["accuracy"]


@pytest.mark.shared_data
def test_names_mode_judges_the_published_names_and_counts_unpublished_items_as_wrong(shared_data, capsys, monkeypatch,
                                                                                       tmp_path):
    monkeypatch.setenv("CLIO_HOME", str(tmp_path / "clio"))
    result = _run_cli(capsys, "--data", str(shared_data / "clinc150"), "--top", "domain", "--exclude", "oos",
                      "--limit", "600", "--backend", "offline", "--embedding-model", "all-MiniLM-L6-v2")
    assert result["assignment"].startswith("names") and result["judge_model"] == "all-MiniLM-L6-v2"
    assert result["n"] == 600 and result["published_base_clusters"] > 0
    assert 0 < result["coverage"] <= 1
    # An item outside every published cluster can't be right.
    assert result["accuracy"] <= result["clustering_ceiling"] <= result["coverage"]
    assert result["accuracy"] > 2 * result["chance_accuracy"], result
    assert set(result["generic_share"]) >= {"0"} and all(0 <= v <= 1 for v in result["generic_share"].values())
    # The names judged are the published ones: the offline namer's taxonomy names, not the category names.
    assert result["examples"] and not set(result["examples"]) & {readable(c) for c in ("banking", "travel")}
    # Nothing of the throw-away run is left in the user's home.
    assert not (tmp_path / "clio" / "public.duckdb").exists()


def test_clustering_ceiling_names_each_published_cluster_by_its_most_common_category():
    from clio_dagster.evaluation.names import clustering_ceiling

    import polars as pl

    def items(published):
        categories = ["a", "a", "b", "b", "b", "a", "c"]
        clusters = [0, 0, 0, 1, 1, 1, None]  # cluster 0: 2 of 3 are "a"; cluster 1: 2 of 3 are "b"; one unclustered
        return pl.DataFrame({"category": categories, "cluster_id": clusters,
                             "published": [c in published for c in clusters]})

    assert clustering_ceiling(items({0, 1})) == pytest.approx(4 / 7)
    assert clustering_ceiling(items({1})) == pytest.approx(2 / 7)  # cluster 0 unpublished


def test_judge_takes_the_category_of_the_nearest_anchor():
    from clio_dagster.evaluation.names import judge_clusters

    class Axes:  # "cooking" and "money" words point along different axes
        def encode(self, texts):
            return np.array([[1.0, 0.1] if "bread" in t or "cooking" in t else [0.1, 1.0] for t in texts])

    assert judge_clusters(["Bake bread. Recipes.", "Check balance. Money."], ["cooking", "banking money"], [0, 1],
                          Axes()) == [0, 1]


def test_an_evaluation_hashes_its_synthetic_users_with_a_secret_fixed_by_the_seed(monkeypatch):
    """An evaluation runs without the caller's secret (none needed: its users are synthetic) and restores it."""
    import os

    from clio_dagster.evaluation.names import _evaluation_secret

    seen = []
    for caller in ("one-secret-of-the-caller", None):
        if caller is None:
            monkeypatch.delenv("CLIO_HMAC_SECRET", raising=False)
        else:
            monkeypatch.setenv("CLIO_HMAC_SECRET", caller)
        with _evaluation_secret(seed=0):
            seen.append(os.environ["CLIO_HMAC_SECRET"])
        assert os.environ.get("CLIO_HMAC_SECRET") == caller  # restored (or absent again)
    with _evaluation_secret(seed=1):
        other_seed = os.environ["CLIO_HMAC_SECRET"]
    assert seen[0] == seen[1] and len(seen[0]) >= 32 and other_seed != seen[0]
