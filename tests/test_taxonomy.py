"""The shipped taxonomy, user replacements (CLIO_TAXONOMY) and their validation."""

import json
from collections import Counter

import pytest

from clio_dagster.core.taxonomy import TaxonomyError, leaf_texts, load_taxonomy, parse_taxonomy
from clio_dagster.settings import SettingsError, load_settings


def _doc(**changes):
    leaf = {"id": "a.t.l", "name": "Do a thing", "description": "Requests to do one kind of thing.", "examples": ["do it"]}
    topic = {"id": "a.t", "name": "Things", "description": "Requests about things of one kind.", "children": [leaf]}
    area = {"id": "a", "name": "Area", "description": "Requests about a whole area of things.", "children": [topic]}
    doc = {"name": "mine", "version": "1", "sources": [], "areas": [area]}
    doc.update(changes)
    return doc


def test_shipped_taxonomy_has_the_promised_shape_and_sources():
    taxonomy = load_taxonomy()
    levels = Counter(node.level for node in taxonomy.nodes.values())
    assert 12 <= levels[2] <= 20 and 80 <= levels[1] <= 150 and levels[0] >= 300
    assert len(taxonomy.sources) >= 4 and any("Clio" in s for s in taxonomy.sources)
    areas = {n.id for n in taxonomy.nodes.values() if n.level == 2}
    # The breadth the issue asks for, including what trust-and-safety teams track.
    assert {"software", "writing", "language", "education", "math", "health", "legal", "harmful", "assistant"} <= areas
    for leaf in taxonomy.leaves:
        assert taxonomy.ancestor(leaf.id, 2).id == leaf.id.split(".")[0]
        assert leaf.description.endswith(".") and len(leaf.name.split()) <= 10
    # The trust-and-safety branch is marked, and only it: its leaves need the concern facet's support.
    assert {leaf.id.split(".")[0] for leaf in taxonomy.leaves if leaf.concerning} == {"harmful"}
    texts, owners = leaf_texts(taxonomy)
    assert len(texts) == len(owners) and set(owners) == set(range(len(taxonomy.leaves)))


def test_user_taxonomy_replaces_the_shipped_one(tmp_path, monkeypatch):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(_doc()), encoding="utf-8")
    taxonomy = load_taxonomy(path)
    assert [leaf.name for leaf in taxonomy.leaves] == ["Do a thing"] and not taxonomy.leaves[0].concerning
    flagged = _doc()
    flagged["areas"][0]["concerning"] = True  # marks the area and everything below it
    (tmp_path / "flagged.json").write_text(json.dumps(flagged), encoding="utf-8")
    marked = load_taxonomy(tmp_path / "flagged.json")
    assert all(node.concerning for node in marked.nodes.values()) and marked.digest != taxonomy.digest
    monkeypatch.setenv("CLIO_TAXONOMY", str(path))
    assert load_settings().taxonomy == path


@pytest.mark.parametrize(
    "change, message",
    [
        ({"areas": []}, "areas"),
        ({"version": None}, "version"),
    ],
)
def test_schema_errors_name_the_field(change, message):
    with pytest.raises(TaxonomyError, match=message):
        parse_taxonomy(_doc(**change), "mine.json")


def test_structure_errors_name_the_node_and_the_reason():
    doc = _doc()
    doc["areas"][0]["children"][0]["children"][0]["id"] = "b.t.l"
    with pytest.raises(TaxonomyError, match=r"'b\.t\.l'.*starts with its parent's id"):
        parse_taxonomy(doc, "mine.json")
    doc = _doc()
    doc["areas"][0]["children"][0]["children"] = []
    with pytest.raises(TaxonomyError, match=r"'a\.t'.*needs children"):
        parse_taxonomy(doc, "mine.json")
    doc = _doc()
    doc["areas"][0]["children"][0]["children"].append(dict(doc["areas"][0]["children"][0]["children"][0], id="a.t.m"))
    with pytest.raises(TaxonomyError, match="same name"):
        parse_taxonomy(doc, "mine.json")
    doc = _doc()
    doc["areas"][0]["id"] = "Bad Id"
    with pytest.raises(TaxonomyError, match="lower-case"):
        parse_taxonomy(doc, "mine.json")


def test_a_bad_taxonomy_file_stops_the_settings_with_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    monkeypatch.setenv("CLIO_TAXONOMY", str(path))
    with pytest.raises(SettingsError, match=r"Invalid CLIO_TAXONOMY: .*broken\.json: not valid JSON \(line 1"):
        load_settings()
    monkeypatch.setenv("CLIO_TAXONOMY", str(tmp_path / "missing.json"))
    with pytest.raises(SettingsError, match="not a file"):
        load_settings()


def test_every_shipped_node_passes_the_offline_auditor_as_the_pipeline_shows_it():
    from clio_dagster.core.audit import OfflineAuditor

    taxonomy = load_taxonomy()
    auditor = OfflineAuditor(safe_words=taxonomy.vocabulary)
    failing = {node.id: auditor.audit(node.name, f"{node.description} {taxonomy.context_of(node.id)}").reason
               for node in taxonomy.nodes.values()
               if auditor.audit(node.name, f"{node.description} {taxonomy.context_of(node.id)}").rating < 5}
    assert failing == {}


@pytest.mark.parametrize("model", ["all-MiniLM-L6-v2", "multilingual-e5-small"])
def test_shipped_leaf_vectors_match_a_fresh_embedding(model):
    """The package-data vectors are what embedding the default taxonomy gives now (checked on a sample of
    leaves), and are refused for any other taxonomy."""
    import numpy as np

    from clio_dagster.core.embedding import SentenceEmbedder
    from clio_dagster.core.taxonomy_vectors import leaf_vectors_of, shipped_vectors

    taxonomy = load_taxonomy()
    shipped = shipped_vectors("leaves", model, taxonomy)
    assert shipped is not None and shipped.shape == (len(taxonomy.leaves), 384)
    texts, owners = leaf_texts(taxonomy)
    sample = sorted(set(range(0, len(taxonomy.leaves), 47)))
    chosen = [(text, sample.index(owner)) for text, owner in zip(texts, owners) if owner in sample]
    fresh = leaf_vectors_of(SentenceEmbedder(model).encode([t for t, _ in chosen]), [o for _, o in chosen], len(sample))
    assert np.allclose(fresh, shipped[sample], atol=1e-4)
    assert shipped_vectors("leaves", model, parse_taxonomy(_doc(), "mine.json")) is None
    assert shipped_vectors("leaves", "/some/local/model", taxonomy) is None


def test_shipped_vocabulary_vectors_match_a_fresh_embedding():
    """The glossary's word vectors ship for the multilingual embedder only (the one that glosses)."""
    import numpy as np

    from clio_dagster.core.embedding import SentenceEmbedder
    from clio_dagster.core.glossary import glossary_words
    from clio_dagster.core.taxonomy_vectors import shipped_vectors

    taxonomy = load_taxonomy()
    words = glossary_words(taxonomy.vocabulary)
    shipped = shipped_vectors("vocabulary", "multilingual-e5-small", taxonomy)
    assert shipped is not None and shipped.shape == (len(words), 384) and len(words) > 2000
    sample = list(range(0, len(words), 97))
    fresh = SentenceEmbedder("multilingual-e5-small").encode([words[i] for i in sample])
    assert np.allclose(fresh, shipped[sample], atol=2e-3)  # stored in half precision
    assert shipped_vectors("vocabulary", "all-MiniLM-L6-v2", taxonomy) is None


def test_every_leaf_description_passes_the_auditor_however_rare_its_words_are_among_users():
    """Offline base descriptions quote their leaf's description: the auditor reads those words as the taxonomy's,
    also as its term splitter folds them ("Newton's laws" -> "newton"), even where no user wrote them."""
    from clio_dagster.core.audit import OfflineAuditor
    from clio_dagster.core.taxonomy import public_words
    from clio_dagster.core.terms import terms_of

    taxonomy = load_taxonomy()
    every_term = frozenset(t for leaf in taxonomy.leaves for t in terms_of(leaf.description))
    auditor = OfflineAuditor(rare_terms=every_term, safe_words=public_words(taxonomy))
    failing = [leaf.id for leaf in taxonomy.leaves if auditor.flagged_terms(leaf.name, leaf.description)]
    assert failing == []
    assert "newton" in every_term and "newton" not in taxonomy.vocabulary  # the case it guards
