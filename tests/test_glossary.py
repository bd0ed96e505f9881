"""English glosses of phrases in other scripts: the taxonomy's nearest English word, in descriptions only."""

from __future__ import annotations

import numpy as np

from clio_dagster.core.audit import OfflineAuditor
from clio_dagster.core.glossary import GLOSS_NOTE, gloss_phrases, glossary_words
from clio_dagster.core.keyphrases import Phrase
from clio_dagster.core.naming import NAMING_METHOD, compose_name, name_clusters
from clio_dagster.core.taxonomy import load_taxonomy


def test_glossary_words_are_the_taxonomys_content_words():
    words = glossary_words(frozenset({"python", "the", "of", "to", "debug", "ci", "tl;dr", "naïve", "code"}))
    assert words == ["code", "debug", "python"]


def test_a_phrase_takes_its_nearest_word_above_the_floor():
    words = ["paraphrase", "code"]
    word_vectors = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    phrases = ["перефразируй", "код", "шум", "code"]
    vectors = np.array([[0.95, 0.31], [0.1, 0.99], [0.7, 0.71], [0.0, 1.0]], dtype=np.float32)
    glosses = gloss_phrases(phrases, vectors, words, word_vectors, min_similarity=0.85)
    assert glosses == {"перефразируй": "paraphrase", "код": "code"}  # below the floor, or itself: none


def test_glosses_stand_beside_their_phrase_in_the_description_never_in_the_name():
    phrases = [Phrase("перефразируй", 1.0, 12, latin=False), Phrase("текст", 0.5, 11, latin=False)]
    named = compose_name(3, None, phrases, 10, {"перефразируй": "paraphrase"})
    assert "перефразируй (≈ paraphrase), текст." in named.description
    assert GLOSS_NOTE in NAMING_METHOD  # what ≈ means, beside every offline name
    assert "paraphrase" not in named.name
    plain = compose_name(3, None, phrases, 10)
    assert "≈" not in plain.description


def test_name_clusters_asks_once_for_the_foreign_phrases_shown():
    asked = []

    def gloss(phrases):
        asked.append(phrases)
        return {p: "story" for p in phrases}

    summaries = ([f"напиши историю про кота номер {i}" for i in range(12)]
                 + [f"write a poem about rain {i}" for i in range(12)])
    names = name_clusters([0] * 12 + [1] * 12, summaries, [f"u{i}" for i in range(24)], 5,
                          languages=["ru"] * 12 + ["en"] * 12, gloss=gloss)
    assert len(asked) == 1 and asked[0] and all(not p.isascii() for p in asked[0])
    by_id = {n.cluster_id: n for n in names}
    assert "(≈ story)" in by_id[0].description and "≈" not in by_id[1].description


def test_the_auditor_reads_glosses_and_their_note_as_public_words():
    """A gloss is a taxonomy word: never a rare user term."""
    taxonomy = load_taxonomy()
    auditor = OfflineAuditor(rare_terms=frozenset({"paraphrase", "nearest", "approximate"}),
                             safe_words=taxonomy.vocabulary)
    description = "Distinctive phrases, each written by at least 10 users: перефразируй (≈ paraphrase)."
    assert "paraphrase" in taxonomy.vocabulary
    assert auditor.flagged_terms("Rewrite and paraphrase text", description) == set()
    unaware = OfflineAuditor(rare_terms=frozenset({"paraphrase", "nearest", "approximate"}))
    assert "paraphrase" in unaware.flagged_terms("Rewrite and paraphrase text", description)


def test_a_cluster_named_by_its_leaf_asks_no_gloss():
    """The leaf's English description already says what its phrases are about: only phrase-named clusters gloss."""
    from clio_dagster.core.naming import LeafMatch

    asked = []

    def gloss(phrases):
        asked.append(phrases)
        return {p: "story" for p in phrases}

    leaf = load_taxonomy().leaves[0]
    summaries = ([f"напиши историю про кота номер {i}" for i in range(12)]
                 + [f"write a poem about rain {i}" for i in range(12)])
    names = name_clusters([0] * 12 + [1] * 12, summaries, [f"u{i}" for i in range(24)], 5,
                          languages=["ru"] * 12 + ["en"] * 12, matches={0: LeafMatch(leaf, 0.9, True),
                                                                        1: LeafMatch(leaf, 0.9, True)}, gloss=gloss)
    by_id = {n.cluster_id: n for n in names}
    assert asked == [] and by_id[0].name.startswith(leaf.name) and "≈" not in by_id[0].description
    assert "Users wrote:" in by_id[0].description and "историю" in by_id[0].description
