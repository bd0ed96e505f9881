"""`clio eval peers`: our base clustering, MiniLM + k-means and BERTopic on the same texts and embeddings."""

from __future__ import annotations

import json
import sys

import pytest

from clio_dagster.cli import main
from clio_dagster.core.clustering import choose_k
from clio_dagster.evaluation.peers import BERTOPIC_MISSING, LabelledSet, bertopic_version, compare_methods

TOPICS = {
    "baking": ["How long should I bake sourdough bread?", "My cake sinks in the middle after baking",
               "Best oven temperature for baking cookies", "Why is my bread dough not rising?",
               "Can I bake muffins without eggs?", "How do I keep a pie crust from burning in the oven?"],
    "python": ["Python raises KeyError when I read a dictionary", "How do I install numpy with pip in Python?",
               "Python list comprehension with an if condition", "Fix IndentationError in my Python script",
               "How to read a CSV file in Python with pandas", "Python function returns None instead of a value"],
    "travel": ["Cheapest way to fly from Paris to Tokyo", "Do I need a visa to travel to Canada?",
               "Things to pack for a two-week trip to Peru", "How early should I arrive at the airport?",
               "Best time of year to visit Iceland", "Can I bring a power bank in my carry-on luggage?"],
}


def _tiny_set() -> LabelledSet:
    rows = [(label, text) for label, texts in TOPICS.items() for text in texts]
    return LabelledSet("tiny", [f"t{i}" for i in range(len(rows))], [t for _, t in rows], [lab for lab, _ in rows])


@pytest.fixture(scope="module")
def embedder():
    from clio_dagster.core.embedding import SentenceEmbedder

    return SentenceEmbedder()


@pytest.mark.slow
def test_methods_recover_clearly_separated_topics_and_bertopic_absent_is_reported(settings, embedder, monkeypatch):
    monkeypatch.setitem(sys.modules, "bertopic", None)  # `import bertopic` now raises ImportError
    data = _tiny_set()

    result = compare_methods(data, settings, embedder, ("clio_base_k_labels", "minilm_kmeans", "bertopic"))

    assert result["texts"] == 18 and result["labels"] == 3
    for method in ("clio_base_k_labels", "minilm_kmeans"):
        scores = result["methods"][method]
        assert scores["clusters"] == 3
        # Chance level for 3 clusters of 18 texts is NMI ~0.1 and purity ~0.45.
        assert scores["nmi"] > 0.5 and scores["purity"] >= 0.75 and scores["ari"] > 0.4, (method, scores)
        assert scores["seconds"] >= 0 and scores["cpu_seconds"] >= 0
    assert result["methods"]["bertopic"] == {"absent": BERTOPIC_MISSING}


@pytest.mark.slow
@pytest.mark.shared_data
def test_cli_compares_every_method_on_a_labelled_subset(capsys):
    assert main(["eval", "peers", "--sets", "banking77", "--limit", "400", "--shared-data", _shared()]) == 0
    result = json.loads(capsys.readouterr().out)

    banking = result["sets"]["banking77"]
    assert result["evaluation"] == "peers" and result["limit"] == 400 and banking["texts"] == 400
    methods = banking["methods"]
    assert methods["clio_base"]["clusters"] == choose_k(400, result["target_cluster_size"], 2, 5000)
    assert methods["clio_base_k_labels"]["clusters"] == methods["minilm_kmeans"]["clusters"] == banking["labels"]
    # Intents are separable in MiniLM space: far above chance (NMI of a random partition at this k is ~0.5).
    assert methods["minilm_kmeans"]["nmi"] > 0.7 and methods["minilm_kmeans"]["ari"] > 0.2
    assert methods["clio_base_k_labels"]["nmi"] > 0.7
    if bertopic_version() is None:
        assert methods["bertopic"] == {"absent": BERTOPIC_MISSING} and result["bertopic"] == BERTOPIC_MISSING
    else:
        assert result["bertopic"] == bertopic_version()
        assert 0.0 < methods["bertopic"]["nmi"] <= 1.0 and 0.0 <= methods["bertopic"]["outlier_share"] < 1.0
        assert methods["bertopic"]["clusters"] >= 2


def test_missing_shared_data_is_a_clear_error(tmp_path, capsys):
    assert main(["eval", "peers", "--shared-data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere is not a folder" in err and "--shared-data" in err


def _shared() -> str:
    from tests.conftest import SHARED_DATA

    return str(SHARED_DATA)
